using System.Security.Cryptography;
using System.Text;
using Kvasir.Tests.Infrastructure;
using Kvasir.Types;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Types;

/// <summary>
/// HyperLogLog encodings and commands. The values are Valkey's bytes: a value captured from a real
/// Valkey 8 counts the same here, and the same commands produce the same bytes here as there.
/// </summary>
public sealed class HyperLogLogTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public HyperLogLogTests(SharedServerFixture fixture) => _server = fixture.Server;

    /// <summary>
    /// GET of a key on valkey-server 8 after
    /// PFADD cap user:0 ... user:149, PFADD cap alpha beta gamma, PFCOUNT cap (154, cached in the header).
    /// </summary>
    private const string ValkeySparseHex =
        "48594c4c010000009a0000000000000007800080028005840684308840e28840b9803c80329024801a800d844105800888404684404a8040ae88028841228040418003844093842580404e8439843a8040588c407190088805800484404b8c40dd8440508c40448041018018843280278040588409800f94409b80405f800d803d840b801480404680404a801b8040c98440ae9c40fe8c416c8040f6884146841880404d880a84404a80028840b88040f18440b9884070802a84188840818001941380405d8040c5801e8040afa4419184398037883d9024843980405d844086840080410484148040838c4159803980108440aa8041288440598440ad8040a68480406580410788409484268c1e80058c41738040ee9032843184416780405e84407398028c4058883e804190882b8440d884413b841d80407c8400801480404580158040528841668040e8802b84198417840a80028c238040428c0c8041358841a3800680338041a3881b88407e8008842b84108440b0800e8019888040dd80407580405784405c9040ed804059";

    /// <summary>SHA-256 of the dense value Valkey 8 holds after PFADD capd e0 ... e19999 (PFCOUNT 19901).</summary>
    private const string ValkeyDenseSha256 = "e0b65a9f0a68fd6067a893468cad7c12075492b4a9ebafeece2765c5d950fac3";

    private static object[] Args(string command, string key, IEnumerable<string> elements) =>
        new object[] { command, key }.Concat(elements).ToArray();

    // ----- encoding -----

    [Fact]
    public void EmptyValueIsSparseXZeros()
    {
        Assert.Equal("48594c4c0100000000000000000000007fff", Convert.ToHexStringLower(HyperLogLog.CreateEmpty()));
    }

    [Fact]
    public void RegistersRoundTripWithoutTouchingNeighbours()
    {
        var regs = new byte[(HyperLogLog.DenseSize - HyperLogLog.HeaderSize)];
        var expected = new int[HyperLogLog.Registers];
        var rnd = new Random(3);
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < HyperLogLog.Registers; i++)
            {
                expected[i] = rnd.Next(64);
                HyperLogLog.SetRegister(regs, i, expected[i]);
            }
            for (int i = 0; i < HyperLogLog.Registers; i++) Assert.Equal(expected[i], HyperLogLog.GetRegister(regs, i));
        }
    }

    [Fact]
    public void SparseAndDenseAgree()
    {
        var sparse = new HllBuffer(HyperLogLog.CreateEmpty());
        var dense = new HllBuffer(HyperLogLog.CreateEmpty());
        Assert.True(HyperLogLog.SparseToDense(dense));
        for (int i = 0; i < 5000; i++)
        {
            var e = Encoding.ASCII.GetBytes("x" + i);
            HyperLogLog.Add(sparse, e, 100_000);
            HyperLogLog.Add(dense, e, 100_000);
            if (i % 500 == 0) Assert.Equal(HyperLogLog.Count(dense.Span, out _), HyperLogLog.Count(sparse.Span, out bool invalid));
        }
        Assert.Equal(HyperLogLog.Sparse, sparse.Encoding);
        Assert.True(HyperLogLog.SparseToDense(sparse));
        Assert.True(sparse.Span.Slice(16).SequenceEqual(dense.Span.Slice(16)));
    }

    [Fact]
    public void CorruptedSparseValuesAreDetectedNotCrashed()
    {
        var rnd = new Random(11);
        for (int round = 0; round < 300; round++)
        {
            var hll = new HllBuffer(HyperLogLog.CreateEmpty());
            int n = rnd.Next(300);
            for (int i = 0; i < n; i++) HyperLogLog.Add(hll, BitConverter.GetBytes(rnd.NextDouble()), 3000);
            var bytes = hll.Span.ToArray();
            for (int k = 0; k < 3; k++) bytes[16 + rnd.Next(bytes.Length - 16)] = (byte)rnd.Next(256);
            if (!HyperLogLog.IsValid(bytes)) continue;
            HyperLogLog.Count(bytes, out _);
            HyperLogLog.Merge(new byte[HyperLogLog.Registers], bytes);
            var edited = new HllBuffer(bytes);
            HyperLogLog.Add(edited, "a"u8, 3000);
            HyperLogLog.DecodeSparse(bytes);
        }
    }

    // ----- commands -----

    [Fact]
    public async Task ValueFromValkeyCountsTheSameAndRoundTrips()
    {
        await using var c = await _server.ConnectAsync();
        var captured = Convert.FromHexString(ValkeySparseHex);
        await c.CallAsync("SET", "hll:valkey", captured);
        Assert.Equal(154, (await c.CallAsync("PFCOUNT", "hll:valkey")).Integer);
        Assert.Equal("sparse", (await c.CallAsync("PFDEBUG", "ENCODING", "hll:valkey")).Text);
        Assert.Equal(captured, (await c.CallAsync("GET", "hll:valkey")).Bytes);
        // The cache being valid, count it again from the registers.
        await c.CallAsync("SETRANGE", "hll:valkey", "15", new byte[] { 0x80 });
        Assert.Equal(154, (await c.CallAsync("PFCOUNT", "hll:valkey")).Integer);
        Assert.Equal(0, (await c.CallAsync("PFADD", "hll:valkey", "alpha", "user:7")).Integer);

        // The same commands build the same bytes here.
        await c.CallAsync("DEL", "hll:mine");
        await c.CallAsync(Args("PFADD", "hll:mine", Enumerable.Range(0, 150).Select(i => "user:" + i)));
        await c.CallAsync("PFADD", "hll:mine", "alpha", "beta", "gamma");
        Assert.Equal(154, (await c.CallAsync("PFCOUNT", "hll:mine")).Integer);
        Assert.Equal(ValkeySparseHex, Convert.ToHexStringLower((await c.CallAsync("GET", "hll:mine")).Bytes!));
    }

    [Fact]
    public async Task DenseValueIsByteIdenticalToValkeys()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "hll:dense");
        for (int start = 0; start < 20000; start += 1000)
            await c.CallAsync(Args("PFADD", "hll:dense", Enumerable.Range(start, 1000).Select(i => "e" + i)));
        Assert.Equal(19901, (await c.CallAsync("PFCOUNT", "hll:dense")).Integer);
        Assert.Equal("dense", (await c.CallAsync("PFDEBUG", "ENCODING", "hll:dense")).Text);
        var bytes = (await c.CallAsync("GET", "hll:dense")).Bytes!;
        Assert.Equal(HyperLogLog.DenseSize, bytes.Length);
        Assert.Equal(ValkeyDenseSha256, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    [Fact]
    public async Task AddCountAndCacheInvalidation()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "hll:a");
        Assert.Equal(1, (await c.CallAsync("PFADD", "hll:a")).Integer);
        Assert.Equal("raw", (await c.CallAsync("OBJECT", "ENCODING", "hll:a")).Text);
        Assert.Equal(0, (await c.CallAsync("PFCOUNT", "hll:a")).Integer);
        Assert.Equal(1, (await c.CallAsync("PFADD", "hll:a", "a", "b", "c")).Integer);
        Assert.Equal(0, (await c.CallAsync("PFADD", "hll:a", "a", "b", "c")).Integer);
        Assert.Equal(new byte[] { 0x80 }, (await c.CallAsync("GETRANGE", "hll:a", "15", "15")).Bytes);
        Assert.Equal(3, (await c.CallAsync("PFCOUNT", "hll:a")).Integer);
        Assert.Equal(new byte[] { 0x00 }, (await c.CallAsync("GETRANGE", "hll:a", "15", "15")).Bytes);
        Assert.Equal(0, (await c.CallAsync("PFADD", "hll:a", "a")).Integer);
        Assert.Equal(new byte[] { 0x00 }, (await c.CallAsync("GETRANGE", "hll:a", "15", "15")).Bytes);
        Assert.Equal("Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603", (await c.CallAsync("PFDEBUG", "DECODE", "hll:a")).Text);
        Assert.Equal(0, (await c.CallAsync("PFCOUNT", "hll:nokey")).Integer);
    }

    [Fact]
    public async Task SparsePromotesPastTheConfiguredSize()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "hll:p");
        try
        {
            await c.CallAsync("CONFIG", "SET", "hll-sparse-max-bytes", "3000");
            await c.CallAsync("PFADD", "hll:p", "a", "b", "c", "d", "e", "f", "g");
            Assert.Equal("sparse", (await c.CallAsync("PFDEBUG", "ENCODING", "hll:p")).Text);
            await c.CallAsync("CONFIG", "SET", "hll-sparse-max-bytes", "30");
            await c.CallAsync("PFADD", "hll:p", "new_element");
            Assert.Equal("dense", (await c.CallAsync("PFDEBUG", "ENCODING", "hll:p")).Text);
            Assert.Equal(HyperLogLog.DenseSize, (await c.CallAsync("STRLEN", "hll:p")).Integer);
            Assert.Equal(8, (await c.CallAsync("PFCOUNT", "hll:p")).Integer);
        }
        finally
        {
            await c.CallAsync("CONFIG", "SET", "hll-sparse-max-bytes", "3000");
        }
    }

    [Fact]
    public async Task MergeAndMultiKeyCount()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "hll:m", "hll:m1", "hll:m2", "hll:m3");
        await c.CallAsync("PFADD", "hll:m1", "a", "b", "c");
        await c.CallAsync("PFADD", "hll:m2", "b", "c", "d");
        await c.CallAsync("PFADD", "hll:m3", "c", "d", "e");
        Assert.Equal(5, (await c.CallAsync("PFCOUNT", "hll:m1", "hll:m2", "hll:m3", "hll:missing")).Integer);
        Assert.Equal("OK", (await c.CallAsync("PFMERGE", "hll:m", "hll:m1", "hll:m2", "hll:m3")).Text);
        Assert.Equal(5, (await c.CallAsync("PFCOUNT", "hll:m")).Integer);
        Assert.Equal("sparse", (await c.CallAsync("PFDEBUG", "ENCODING", "hll:m")).Text);
        Assert.Equal(1, (await c.CallAsync("PFDEBUG", "TODENSE", "hll:m3")).Integer);
        Assert.Equal(0, (await c.CallAsync("PFDEBUG", "TODENSE", "hll:m3")).Integer);
        Assert.Equal("OK", (await c.CallAsync("PFMERGE", "hll:m", "hll:m3")).Text);
        Assert.Equal("dense", (await c.CallAsync("PFDEBUG", "ENCODING", "hll:m")).Text);
        Assert.Equal(5, (await c.CallAsync("PFCOUNT", "hll:m")).Integer);
        await c.CallAsync("DEL", "hll:empty");
        Assert.Equal("OK", (await c.CallAsync("PFMERGE", "hll:empty", "hll:missing")).Text);
        Assert.Equal(1, (await c.CallAsync("EXISTS", "hll:empty")).Integer);
        Assert.Equal(0, (await c.CallAsync("PFCOUNT", "hll:empty")).Integer);
        Assert.Equal(16384, (await c.CallAsync("PFDEBUG", "GETREG", "hll:m1")).Items!.Count);
        Assert.Equal("dense", (await c.CallAsync("PFDEBUG", "ENCODING", "hll:m1")).Text);
    }

    [Fact]
    public async Task InvalidValuesAndErrors()
    {
        await using var c = await _server.ConnectAsync();
        const string notHll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
        await c.CallAsync("SET", "hll:str", "bar");
        await AssertError(c, notHll, "PFADD", "hll:str", "1");
        await AssertError(c, notHll, "PFCOUNT", "hll:str");
        await AssertError(c, notHll, "PFMERGE", "hll:x", "hll:str");
        await AssertError(c, notHll, "PFMERGE", "hll:str", "hll:x");
        await c.CallAsync("DEL", "hll:list");
        await c.CallAsync("LPUSH", "hll:list", "a");
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "PFADD", "hll:list", "a");

        await c.CallAsync("DEL", "hll:bad");
        await c.CallAsync("PFADD", "hll:bad", "a", "b", "c");
        await c.CallAsync("APPEND", "hll:bad", "hello");
        await AssertError(c, "INVALIDOBJ Corrupted HLL object detected", "PFCOUNT", "hll:bad");
        await c.CallAsync("DEL", "hll:bad");
        await c.CallAsync("PFADD", "hll:bad", "a", "b", "c");
        await c.CallAsync("SETRANGE", "hll:bad", "4", "x");
        await AssertError(c, notHll, "PFCOUNT", "hll:bad");
        await c.CallAsync("SETRANGE", "hll:bad", "4", new byte[] { 0 });
        await AssertError(c, notHll, "PFCOUNT", "hll:bad");

        await AssertError(c, "ERR The specified key does not exist", "PFDEBUG", "GETREG", "hll:nokey");
        await c.CallAsync("PFADD", "hll:dbg", "a");
        await AssertError(c, "ERR Unknown PFDEBUG subcommand 'foo'", "PFDEBUG", "foo", "hll:dbg");
        await c.CallAsync("PFDEBUG", "TODENSE", "hll:dbg");
        await AssertError(c, "ERR HLL encoding is not sparse", "PFDEBUG", "DECODE", "hll:dbg");
    }

    [Fact]
    public async Task SelfTestPasses()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", (await c.CallAsync("PFSELFTEST")).Text);
    }
}
