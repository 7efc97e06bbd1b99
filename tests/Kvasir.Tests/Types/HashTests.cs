using System.Text;
using Kvasir.Tests.Infrastructure;
using Kvasir.Types;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Types;

/// <summary>The hash type: the value class (encodings, conversion, iteration) and the commands over TCP.
/// Every command expectation was checked against a real Valkey 8.</summary>
public sealed class HashTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public HashTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);

    // ----- value class -----

    [Fact]
    public void PackedHashKeepsInsertionOrderAndReplacesInPlace()
    {
        var h = new HashValue();
        Assert.True(h.Set(B("a"), B("1"), 512, 64));
        Assert.True(h.Set(B("b"), B("2"), 512, 64));
        Assert.True(h.Set(B("c"), B("3"), 512, 64));
        Assert.False(h.Set(B("a"), B("one hundred"), 512, 64));
        Assert.Equal(ValueEncoding.Listpack, h.Encoding);
        var seen = new List<string>();
        foreach (var p in h) seen.Add(S(p.Field) + "=" + S(p.Value));
        Assert.Equal(new[] { "a=one hundred", "b=2", "c=3" }, seen);
        Assert.True(h.Delete(B("b")));
        Assert.False(h.Delete(B("b")));
        Assert.Equal(2, h.Count);
        Assert.True(h.TryGet(B("c"), out var v));
        Assert.Equal("3", S(v));
    }

    [Fact]
    public void ConvertsToHashtableOnEntryCountAndValueLengthAndNeverBack()
    {
        var h = new HashValue();
        for (int i = 0; i < 4; i++) h.Set(B("f" + i), B("v"), 4, 64);
        Assert.Equal(ValueEncoding.Listpack, h.Encoding);
        h.Set(B("f4"), B("v"), 4, 64);
        Assert.Equal(ValueEncoding.Hashtable, h.Encoding);
        for (int i = 0; i < 5; i++) h.Delete(B("f" + i));
        Assert.Equal(0, h.Count);
        Assert.Equal(ValueEncoding.Hashtable, h.Encoding);

        var g = new HashValue();
        g.Set(B("f"), new byte[64], 512, 64);
        Assert.Equal(ValueEncoding.Listpack, g.Encoding);
        g.Set(B("f"), new byte[65], 512, 64);
        Assert.Equal(ValueEncoding.Hashtable, g.Encoding);
        Assert.True(g.TryGet(B("f"), out var v));
        Assert.Equal(65, v.Length);
    }

    [Fact]
    public void TableAndPackedEncodingsAgreeUnderRandomOperations()
    {
        var rnd = new Random(1234);
        var packed = new HashValue();
        var table = new HashValue();
        table.ConvertToTable();
        var model = new Dictionary<string, string>();
        for (int step = 0; step < 5000; step++)
        {
            string f = "f" + rnd.Next(60);
            if (rnd.Next(3) == 0)
            {
                bool had = model.Remove(f);
                Assert.Equal(had, packed.Delete(B(f)));
                Assert.Equal(had, table.Delete(B(f)));
            }
            else
            {
                string v = new string('x', rnd.Next(0, 200));
                bool isNew = !model.ContainsKey(f);
                model[f] = v;
                Assert.Equal(isNew, packed.Set(B(f), B(v), long.MaxValue, long.MaxValue));
                Assert.Equal(isNew, table.Set(B(f), B(v), long.MaxValue, long.MaxValue));
            }
            Assert.Equal(model.Count, packed.Count);
            Assert.Equal(model.Count, table.Count);
        }
        foreach (var (f, v) in model)
        {
            Assert.True(packed.TryGet(B(f), out var a));
            Assert.True(table.TryGet(B(f), out var b));
            Assert.Equal(v, S(a));
            Assert.Equal(v, S(b));
        }
        Assert.Equal(ValueEncoding.Listpack, packed.Encoding);
    }

    [Fact]
    public void MemoryUsageFollowsContentAndSmallHashesStayCompact()
    {
        var h = new HashValue();
        for (int i = 1; i <= 5; i++) h.Set(B("field" + i), B("value" + i), 512, 64);
        // Two objects: the value and one array of the (empty) key and 5 * (1 + 6 + 1 + 6) bytes.
        Assert.True(h.MemoryUsage <= 32 + 24 + 72, $"memory {h.MemoryUsage}");
        long before = h.MemoryUsage;
        h.Set(B("field6"), new byte[60], 512, 64);
        Assert.True(h.MemoryUsage > before);
        h.Delete(B("field6"));
        Assert.Equal(before, h.MemoryUsage);
    }

    [Fact]
    public void ScanOfATableVisitsEveryFieldOnce()
    {
        var h = new HashValue();
        h.ConvertToTable();
        for (int i = 0; i < 1000; i++) h.Set(B("f" + i), B("v" + i), long.MaxValue, long.MaxValue);
        var seen = new HashSet<string>();
        ulong cursor = 0;
        do
        {
            cursor = h.Scan(cursor, 10, (f, v) => Assert.True(seen.Add(S(f))));
        } while (cursor != 0);
        Assert.Equal(1000, seen.Count);
    }

    [Fact]
    public void RandomDistinctPairsAreDistinctInBothEncodings()
    {
        var rnd = new Random(7);
        foreach (bool table in new[] { false, true })
        {
            var h = new HashValue();
            if (table) h.ConvertToTable();
            for (int i = 0; i < 100; i++) h.Set(B("f" + i), B("v" + i), long.MaxValue, long.MaxValue);
            foreach (int count in new[] { 1, 10, 40, 99 })
            {
                var got = new List<string>();
                h.RandomDistinctPairs(rnd, count, (f, v) =>
                {
                    Assert.Equal("v" + S(f)[1..], S(v));
                    got.Add(S(f));
                });
                Assert.Equal(count, got.Count);
                Assert.Equal(count, got.Distinct().Count());
            }
        }
    }

    [Fact]
    public void CloneKeepsEncodingAndIsIndependent()
    {
        var h = new HashValue();
        h.Set(B("a"), B("1"), 512, 64);
        var c = h.Clone();
        c.Set(B("a"), B("2"), 512, 64);
        Assert.True(h.TryGet(B("a"), out var v));
        Assert.Equal("1", S(v));
        h.ConvertToTable();
        Assert.Equal(ValueEncoding.Hashtable, ((HashValue)h.Duplicate()!).Encoding);
    }

    // ----- commands -----

    [Fact]
    public async Task SetGetDeleteAndEmptyHashIsRemoved()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(3, (await c.CallAsync("HSET", "h:basic", "a", "1", "b", "2", "c", "3")).Integer);
        Assert.Equal(1, (await c.CallAsync("HSET", "h:basic", "a", "10", "d", "4")).Integer);
        Assert.Equal("10", await c.CallTextAsync("HGET", "h:basic", "a"));
        Assert.Null(await c.CallTextAsync("HGET", "h:basic", "zz"));
        Assert.Equal("[10, (nil), 2]", (await c.CallAsync("HMGET", "h:basic", "a", "zz", "b")).ToString());
        Assert.Equal("[a, 10, b, 2, c, 3, d, 4]", (await c.CallAsync("HGETALL", "h:basic")).ToString());
        Assert.Equal("[a, b, c, d]", (await c.CallAsync("HKEYS", "h:basic")).ToString());
        Assert.Equal("[10, 2, 3, 4]", (await c.CallAsync("HVALS", "h:basic")).ToString());
        Assert.Equal(2, (await c.CallAsync("HSTRLEN", "h:basic", "a")).Integer);
        Assert.Equal(0, (await c.CallAsync("HSETNX", "h:basic", "a", "x")).Integer);
        Assert.Equal(1, (await c.CallAsync("HSETNX", "h:basic", "e", "x")).Integer);
        Assert.Equal(1, (await c.CallAsync("HEXISTS", "h:basic", "e")).Integer);
        Assert.Equal(5, (await c.CallAsync("HLEN", "h:basic")).Integer);
        Assert.Equal(2, (await c.CallAsync("HDEL", "h:basic", "a", "zz", "b")).Integer);
        Assert.Equal(3, (await c.CallAsync("HDEL", "h:basic", "c", "d", "e", "more")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "h:basic")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("HMSET", "h:basic", "x", "1"));
        await AssertError(c, "ERR wrong number of arguments for 'hset' command", "HSET", "h:basic", "a", "1", "b");
        await AssertError(c, "ERR wrong number of arguments for 'hmset' command", "HMSET", "h:basic", "a", "1", "b");
    }

    [Fact]
    public async Task WrongTypeAndMissingKeys()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "h:str", "x");
        const string wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
        await AssertError(c, wrong, "HGET", "h:str", "a");
        await AssertError(c, wrong, "HSET", "h:str", "a", "b");
        await AssertError(c, wrong, "HGETALL", "h:str");
        await AssertError(c, wrong, "HSCAN", "h:str", "0");
        Assert.Equal("[]", (await c.CallAsync("HGETALL", "h:none")).ToString());
        Assert.Equal(0, (await c.CallAsync("HLEN", "h:none")).Integer);
        Assert.Equal("[(nil), (nil)]", (await c.CallAsync("HMGET", "h:none", "a", "b")).ToString());
        Assert.Equal(0, (await c.CallAsync("HDEL", "h:none", "a")).Integer);
    }

    [Fact]
    public async Task HIncrByChecksTypeAndOverflow()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(5, (await c.CallAsync("HINCRBY", "h:incr", "n", "5")).Integer);
        Assert.Equal(-5, (await c.CallAsync("HINCRBY", "h:incr", "n", "-10")).Integer);
        await c.CallAsync("HSET", "h:incr", "s", "hello", "big", "9223372036854775807", "sp", " 1");
        await AssertError(c, "ERR hash value is not an integer", "HINCRBY", "h:incr", "s", "1");
        await AssertError(c, "ERR hash value is not an integer", "HINCRBY", "h:incr", "sp", "1");
        await AssertError(c, "ERR increment or decrement would overflow", "HINCRBY", "h:incr", "big", "1");
        await AssertError(c, "ERR value is not an integer or out of range", "HINCRBY", "h:incr", "n", "1.5");
        Assert.Equal("-5", await c.CallTextAsync("HGET", "h:incr", "n"));
    }

    [Fact]
    public async Task HIncrByFloatUsesLongDoublePrecision()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("10.5", await c.CallTextAsync("HINCRBYFLOAT", "h:f", "x", "10.5"));
        Assert.Equal("10.6", await c.CallTextAsync("HINCRBYFLOAT", "h:f", "x", "0.1"));
        Assert.Equal("17179869185.5", await c.CallTextAsync("HINCRBYFLOAT", "h:f", "y", "17179869185.5"));
        Assert.Equal("3000", await c.CallTextAsync("HINCRBYFLOAT", "h:f", "z", "3.0e3"));
        Assert.Equal("0", await c.CallTextAsync("HINCRBYFLOAT", "h:f", "z", "-3000"));
        Assert.Equal("1.1", await c.CallTextAsync("HINCRBYFLOAT", "h:f", "w", "1.1"));
        Assert.Equal("3.3", await c.CallTextAsync("HINCRBYFLOAT", "h:f", "w", "2.2"));
        await c.CallAsync("HSET", "h:f", "s", "abc");
        await AssertError(c, "ERR hash value is not a float", "HINCRBYFLOAT", "h:f", "s", "1");
        await AssertError(c, "ERR value is not a valid float", "HINCRBYFLOAT", "h:f", "x", "abc");
        await AssertError(c, "ERR value is not a valid float", "HINCRBYFLOAT", "h:f", "x", "nan");
        await AssertError(c, "ERR value is NaN or Infinity", "HINCRBYFLOAT", "h:f", "x", "inf");
        await AssertError(c, "ERR value is not a valid float", "HINCRBYFLOAT", "h:f", "x", "1e5000");
    }

    [Fact]
    public async Task HRandFieldCountsAndErrors()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("HSET", "h:rand", "a", "1", "b", "2", "c", "3");
        Assert.Null((await c.CallAsync("HRANDFIELD", "h:none")).Text);
        Assert.Equal("[]", (await c.CallAsync("HRANDFIELD", "h:none", "3")).ToString());
        Assert.Equal("[]", (await c.CallAsync("HRANDFIELD", "h:rand", "0")).ToString());
        var all = await c.CallAsync("HRANDFIELD", "h:rand", "10", "WITHVALUES");
        Assert.Equal(6, all.Items!.Count);
        var some = await c.CallAsync("HRANDFIELD", "h:rand", "2");
        Assert.Equal(2, some.Items!.Select(i => i.Text).Distinct().Count());
        var repeated = await c.CallAsync("HRANDFIELD", "h:rand", "-20");
        Assert.Equal(20, repeated.Items!.Count);
        Assert.All(repeated.Items!, i => Assert.Contains(i.Text, new[] { "a", "b", "c" }));
        await AssertError(c, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            "HRANDFIELD", "h:rand", "-9223372036854775808");
        await AssertError(c, "ERR value is out of range", "HRANDFIELD", "h:rand", "-9223372036854775807", "WITHVALUES");
        await AssertError(c, "ERR syntax error", "HRANDFIELD", "h:rand", "1", "WITHSCORES");
        await AssertError(c, "ERR value is not an integer or out of range", "HRANDFIELD", "h:rand", "x");
    }

    [Fact]
    public async Task Resp3RepliesUseMapsAndNestedPairs()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("HSET", "h:r3", "a", "1");
        var all = await c.CallAsync("HGETALL", "h:r3");
        Assert.Equal('%', all.Kind);
        var rand = await c.CallAsync("HRANDFIELD", "h:r3", "-2", "WITHVALUES");
        Assert.Equal(2, rand.Items!.Count);
        Assert.Equal("[a, 1]", rand.Items![0].ToString());
        Assert.Equal('_', (await c.CallAsync("HGET", "h:r3", "zz")).Kind);
    }

    [Fact]
    public async Task HScanOptionsAndErrors()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("HSET", "h:scan", "key:1", "a", "key:2", "b", "other", "c");
        Assert.Equal("[0, [key:1, a, key:2, b, other, c]]", (await c.CallAsync("HSCAN", "h:scan", "0")).ToString());
        Assert.Equal("[0, [key:1, key:2]]", (await c.CallAsync("HSCAN", "h:scan", "0", "MATCH", "key:*", "NOVALUES")).ToString());
        Assert.Equal("[0, []]", (await c.CallAsync("HSCAN", "h:none", "0", "BOGUS")).ToString());
        await AssertError(c, "ERR invalid cursor", "HSCAN", "h:scan", "x");
        await AssertError(c, "ERR syntax error", "HSCAN", "h:scan", "0", "COUNT", "0");
        await AssertError(c, "ERR syntax error", "HSCAN", "h:scan", "0", "TYPE", "string");
        await AssertError(c, "ERR NOSCORES option can only be used in ZSCAN", "HSCAN", "h:scan", "0", "NOSCORES");
    }

    [Fact]
    public async Task EncodingFollowsTheThresholds()
    {
        await using var server = await TestServer.StartAsync(("hash-max-listpack-entries", "4"), ("hash-max-ziplist-value", "8"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4");
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "h"));
        await c.CallAsync("HSET", "h", "e", "5");
        Assert.Equal("hashtable", await c.CallTextAsync("OBJECT", "ENCODING", "h"));
        await c.CallAsync("HDEL", "h", "a", "b", "c", "d");
        Assert.Equal("hashtable", await c.CallTextAsync("OBJECT", "ENCODING", "h"));

        // More pairs than the limit in one HSET converts even when they repeat one field.
        await c.CallAsync("HSET", "h2", "a", "1", "a", "2", "a", "3", "a", "4", "a", "5");
        Assert.Equal("hashtable", await c.CallTextAsync("OBJECT", "ENCODING", "h2"));
        await c.CallAsync("HSET", "h3", "a", "12345678");
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "h3"));
        await c.CallAsync("HINCRBY", "h3", "b", "123456789");
        Assert.Equal("hashtable", await c.CallTextAsync("OBJECT", "ENCODING", "h3"));
        Assert.Equal("[hash-max-listpack-entries, 4]", (await c.CallAsync("CONFIG", "GET", "hash-max-listpack-entries")).ToString());
    }

    [Fact]
    public async Task HIncrByFloatReplicatesTheResultAsHSet()
    {
        await using var server = await TestServer.StartAsync();
        await using var replica = await ReplicationStream.AttachAsync(server);
        await using var c = await server.ConnectAsync();
        await c.CallAsync("HINCRBYFLOAT", "h", "f", "10.5");
        await c.CallAsync("HINCRBYFLOAT", "h", "f", "0.1");
        await c.CallAsync("HGET", "h", "f");
        await c.CallAsync("HDEL", "h", "nope");
        await c.CallAsync("HSET", "h", "a", "1", "b", "2");
        Assert.Equal("SELECT 0", await ReplicationStream.NextAsync(replica));
        Assert.Equal("HSET h f 10.5", await ReplicationStream.NextAsync(replica));
        Assert.Equal("HSET h f 10.6", await ReplicationStream.NextAsync(replica));
        Assert.Equal("HSET h a 1 b 2", await ReplicationStream.NextAsync(replica));
    }
}
