using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Commands;

/// <summary>Bitmap commands over TCP (RESP2). Every expectation was checked against a real Valkey 8.</summary>
public sealed class BitmapCommandTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public BitmapCommandTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static async Task<long> Int(RespClient c, params object[] args)
    {
        var r = await c.CallAsync(args);
        Assert.True(r.Kind == ':', $"expected integer, got {r}");
        return r.Integer;
    }

    private static async Task<byte[]?> Bytes(RespClient c, string key) => (await c.CallAsync("GET", key)).Bytes;

    [Fact]
    public async Task SetBitAndGetBit()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(0, await Int(c, "SETBIT", "b:sb", "1", "1"));
        Assert.Equal(new byte[] { 0x40 }, await Bytes(c, "b:sb"));
        Assert.Equal(1, await Int(c, "SETBIT", "b:sb", "1", "0"));
        Assert.Equal(0, await Int(c, "SETBIT", "b:sb", "20", "1"));
        Assert.Equal(new byte[] { 0, 0, 0x08 }, await Bytes(c, "b:sb"));
        Assert.Equal(1, await Int(c, "GETBIT", "b:sb", "20"));
        Assert.Equal(0, await Int(c, "GETBIT", "b:sb", "21"));
        Assert.Equal(0, await Int(c, "GETBIT", "b:sb", "100000"));
        Assert.Equal(0, await Int(c, "GETBIT", "b:missing", "3"));

        // An integer-encoded value is read and edited as its decimal text ("1" = 0x31).
        await c.CallAsync("SET", "b:int", "1");
        Assert.Equal(1, await Int(c, "GETBIT", "b:int", "2"));
        Assert.Equal(0, await Int(c, "SETBIT", "b:int", "6", "1"));
        Assert.Equal("3", await c.CallTextAsync("GET", "b:int"));
    }

    [Fact]
    public async Task SetBitValidatesArguments()
    {
        await using var c = await _server.ConnectAsync();
        await AssertError(c, "ERR bit offset is not an integer or out of range", "SETBIT", "b:v", "4294967296", "1");
        await AssertError(c, "ERR bit offset is not an integer or out of range", "SETBIT", "b:v", "-1", "1");
        await AssertError(c, "ERR bit offset is not an integer or out of range", "SETBIT", "b:v", "#1", "1");
        await AssertError(c, "ERR bit offset is not an integer or out of range", "GETBIT", "b:v", "abc");
        foreach (var bad in new[] { "-1", "2", "10", "x" })
            await AssertError(c, "ERR bit is not an integer or out of range", "SETBIT", "b:v", "0", bad);
        Assert.Null(await c.CallTextAsync("GET", "b:v"));
    }

    [Fact]
    public async Task BitCountByteAndBitRanges()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "b:bc", "foobar");
        Assert.Equal(26, await Int(c, "BITCOUNT", "b:bc"));
        Assert.Equal(4, await Int(c, "BITCOUNT", "b:bc", "0", "0"));
        Assert.Equal(6, await Int(c, "BITCOUNT", "b:bc", "1", "1", "BYTE"));
        Assert.Equal(17, await Int(c, "BITCOUNT", "b:bc", "5", "30", "BIT"));
        Assert.Equal(2, await Int(c, "BITCOUNT", "b:bc", "-5", "-1", "bit"));
        Assert.Equal(22, await Int(c, "BITCOUNT", "b:bc", "1"));
        Assert.Equal(0, await Int(c, "BITCOUNT", "b:bc", "-1", "-5"));
        Assert.Equal(0, await Int(c, "BITCOUNT", "b:missing", "0", "-1"));
        await AssertError(c, "ERR syntax error", "BITCOUNT", "b:bc", "1", "2", "WORD");
        await AssertError(c, "ERR syntax error", "BITCOUNT", "b:bc", "1", "2", "BIT", "x");
        await AssertError(c, "ERR value is not an integer or out of range", "BITCOUNT", "b:bc", "a", "2");
    }

    [Fact]
    public async Task BitPosFindsFirstBit()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "b:bp", new byte[] { 0xff, 0xf0, 0x00 });
        Assert.Equal(12, await Int(c, "BITPOS", "b:bp", "0"));
        Assert.Equal(0, await Int(c, "BITPOS", "b:bp", "1"));
        Assert.Equal(-1, await Int(c, "BITPOS", "b:bp", "1", "2"));
        Assert.Equal(16, await Int(c, "BITPOS", "b:bp", "0", "2", "-1"));
        Assert.Equal(-1, await Int(c, "BITPOS", "b:bp", "0", "0", "0"));
        Assert.Equal(7, await Int(c, "BITPOS", "b:bp", "1", "7", "15", "BIT"));
        Assert.Equal(12, await Int(c, "BITPOS", "b:bp", "0", "7", "15", "BIT"));
        Assert.Equal(-1, await Int(c, "BITPOS", "b:bp", "1", "17", "23", "BIT"));

        // All ones: without an end the string counts as zero-padded, with one there is no zero.
        await c.CallAsync("SET", "b:ones", new byte[] { 0xff, 0xff });
        Assert.Equal(16, await Int(c, "BITPOS", "b:ones", "0"));
        Assert.Equal(16, await Int(c, "BITPOS", "b:ones", "0", "0"));
        Assert.Equal(-1, await Int(c, "BITPOS", "b:ones", "0", "0", "-1"));

        Assert.Equal(-1, await Int(c, "BITPOS", "b:missing", "1"));
        Assert.Equal(0, await Int(c, "BITPOS", "b:missing", "0"));
        await AssertError(c, "ERR The bit argument must be 1 or 0.", "BITPOS", "b:bp", "2");
        await AssertError(c, "ERR syntax error", "BITPOS", "b:bp", "0", "1", "2", "WORD");
    }

    [Fact]
    public async Task BitOpCombinesPaddedSources()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "b:o1", new byte[] { 0x0f, 0xff });
        await c.CallAsync("SET", "b:o2", new byte[] { 0xf0 });
        Assert.Equal(2, await Int(c, "BITOP", "AND", "b:dest", "b:o1", "b:o2"));
        Assert.Equal(new byte[] { 0x00, 0x00 }, await Bytes(c, "b:dest"));
        Assert.Equal(2, await Int(c, "BITOP", "OR", "b:dest", "b:o1", "b:o2"));
        Assert.Equal(new byte[] { 0xff, 0xff }, await Bytes(c, "b:dest"));
        Assert.Equal(2, await Int(c, "BITOP", "XOR", "b:dest", "b:o1", "b:o2"));
        Assert.Equal(new byte[] { 0xff, 0xff }, await Bytes(c, "b:dest"));
        Assert.Equal(2, await Int(c, "BITOP", "NOT", "b:dest", "b:o1"));
        Assert.Equal(new byte[] { 0xf0, 0x00 }, await Bytes(c, "b:dest"));

        // Longer than a machine word, to cover the wide path.
        var x = Enumerable.Range(0, 37).Select(i => (byte)(i * 7)).ToArray();
        var y = Enumerable.Range(0, 29).Select(i => (byte)(i * 13 + 1)).ToArray();
        await c.CallAsync("SET", "b:x", x);
        await c.CallAsync("SET", "b:y", y);
        Assert.Equal(37, await Int(c, "BITOP", "XOR", "b:dest", "b:x", "b:y"));
        var expected = x.Select((b, i) => (byte)(b ^ (i < y.Length ? y[i] : 0))).ToArray();
        Assert.Equal(expected, await Bytes(c, "b:dest"));
        Assert.Equal(37, await Int(c, "BITOP", "AND", "b:x", "b:x", "b:y"));
        Assert.Equal(x.Select((b, i) => (byte)(b & (i < y.Length ? y[i] : 0))).ToArray(), await Bytes(c, "b:x"));

        // Only empty sources: the destination is deleted.
        Assert.Equal(0, await Int(c, "BITOP", "OR", "b:dest", "b:none1", "b:none2"));
        Assert.Null(await c.CallTextAsync("GET", "b:dest"));

        await AssertError(c, "ERR BITOP NOT must be called with a single source key.", "BITOP", "NOT", "b:dest", "b:o1", "b:o2");
        await AssertError(c, "ERR syntax error", "BITOP", "NAND", "b:dest", "b:o1");
    }

    [Fact]
    public async Task BitFieldSignedAndUnsigned()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("[0, 100]", (await c.CallAsync("BITFIELD", "b:bf", "SET", "i8", "0", "100", "GET", "i8", "0")).ToString());
        Assert.Equal("[-56]", (await c.CallAsync("BITFIELD", "b:bf", "INCRBY", "i8", "0", "100")).ToString());
        Assert.Equal("[127]", (await c.CallAsync("BITFIELD", "b:bf", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "1000")).ToString());
        Assert.Equal("[(nil)]", (await c.CallAsync("BITFIELD", "b:bf", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "1")).ToString());
        Assert.Equal("[0, 255, 9]", (await c.CallAsync("BITFIELD", "b:bf", "SET", "u8", "8", "255", "GET", "u8", "8", "INCRBY", "u8", "8", "10")).ToString());
        Assert.Equal("[255, 0]", (await c.CallAsync("BITFIELD", "b:bf", "OVERFLOW", "SAT", "INCRBY", "u8", "8", "300", "INCRBY", "u8", "8", "-500")).ToString());
        Assert.Equal("[0, -1]", (await c.CallAsync("BITFIELD", "b:bf2", "SET", "i64", "0", "-1", "GET", "i64", "0")).ToString());
        Assert.Equal("[9223372036854775807]", (await c.CallAsync("BITFIELD", "b:bf2", "GET", "u63", "1")).ToString());
    }

    [Fact]
    public async Task BitFieldHashOffsetsAndReadOnly()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("[0, 5]", (await c.CallAsync("BITFIELD", "b:bh", "SET", "u4", "#3", "5", "GET", "u4", "#3")).ToString());
        Assert.Equal(new byte[] { 0x00, 0x05 }, await Bytes(c, "b:bh"));
        Assert.Equal("[5]", (await c.CallAsync("BITFIELD_RO", "b:bh", "GET", "u4", "12")).ToString());
        Assert.Equal("[0, 0]", (await c.CallAsync("BITFIELD", "b:bh-missing", "GET", "i8", "0", "GET", "u16", "100")).ToString());
        Assert.Equal("[]", (await c.CallAsync("BITFIELD", "b:bh")).ToString());
        await AssertError(c, "ERR BITFIELD_RO only supports the GET subcommand", "BITFIELD_RO", "b:bh", "SET", "i8", "0", "1");

        // A failed write still creates the (zeroed) key, as in Valkey.
        Assert.Equal("[(nil)]", (await c.CallAsync("BITFIELD", "b:bh-new", "OVERFLOW", "FAIL", "INCRBY", "u2", "0", "10")).ToString());
        Assert.Equal(new byte[] { 0 }, await Bytes(c, "b:bh-new"));
    }

    [Fact]
    public async Task BitFieldErrors()
    {
        await using var c = await _server.ConnectAsync();
        const string typeError = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
        await AssertError(c, typeError, "BITFIELD", "b:be", "GET", "u64", "0");
        await AssertError(c, typeError, "BITFIELD", "b:be", "GET", "i65", "0");
        await AssertError(c, typeError, "BITFIELD", "b:be", "GET", "I8", "0");
        await AssertError(c, typeError, "BITFIELD", "b:be", "GET", "i0", "0");
        await AssertError(c, "ERR bit offset is not an integer or out of range", "BITFIELD", "b:be", "GET", "i8", "#-1");
        await AssertError(c, "ERR bit offset is not an integer or out of range", "BITFIELD", "b:be", "GET", "i8", "4294967296");
        await AssertError(c, "ERR Invalid OVERFLOW type specified", "BITFIELD", "b:be", "OVERFLOW", "NONE");
        await AssertError(c, "ERR syntax error", "BITFIELD", "b:be", "GET", "i8");
        await AssertError(c, "ERR syntax error", "BITFIELD", "b:be", "FOO");
        await AssertError(c, "ERR value is not an integer or out of range", "BITFIELD", "b:be", "SET", "i8", "0", "1.5");
        Assert.Null(await c.CallTextAsync("GET", "b:be"));
    }

    [Fact]
    public async Task BitFieldWrapsLikeTwosComplement()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("[0, -1, 3, 3, 3, -4, 3]",
            (await c.CallAsync("BITFIELD", "b:bw", "SET", "i3", "1", "-6", "INCRBY", "i3", "1", "-3", "INCRBY", "i3", "1", "4",
                "GET", "i3", "1", "GET", "i3", "1", "OVERFLOW", "SAT", "INCRBY", "i3", "1", "-10", "INCRBY", "i3", "1", "20")).ToString());
        Assert.Equal("[0, -9223372036854775808, 9223372036854775807]",
            (await c.CallAsync("BITFIELD", "b:bw64", "SET", "i64", "0", "9223372036854775807", "OVERFLOW", "WRAP", "INCRBY", "i64", "0", "1",
                "INCRBY", "i64", "0", "-1")).ToString());
    }
}
