using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Types;

/// <summary>Set commands over TCP; every expectation was checked against a real Valkey 8.</summary>
public sealed class SetTests : IClassFixture<SharedServerFixture>
{
    private const string WrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
    private readonly TestServer _server;

    public SetTests(SharedServerFixture fixture) => _server = fixture.Server;

    private async Task<RespClient> FreshAsync()
    {
        var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("FLUSHALL"));
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "set-max-intset-entries", "512", "set-max-listpack-entries", "128", "set-max-listpack-value", "64"));
        return c;
    }

    private static async Task<List<string>> SortedAsync(RespClient c, params object[] cmd)
    {
        var reply = await c.CallAsync(cmd);
        Assert.False(reply.IsError, reply.Text);
        var list = reply.Items!.Select(i => i.Text!).ToList();
        list.Sort(StringComparer.Ordinal);
        return list;
    }

    private static async Task AssertErrorAsync(RespClient c, string expected, params object[] cmd)
    {
        var reply = await c.CallAsync(cmd);
        Assert.True(reply.IsError, $"expected an error, got {reply}");
        Assert.Equal(expected, reply.Text);
    }

    private static async Task<string?> EncodingAsync(RespClient c, string key) => await c.CallTextAsync("OBJECT", "ENCODING", key);

    private static object[] Cmd(string name, string key, IEnumerable<string> members) => new object[] { name, key }.Concat(members).ToArray();

    [Fact]
    public async Task MembershipBasics()
    {
        await using var c = await FreshAsync();
        Assert.Equal(3, (await c.CallAsync("SADD", "s", "a", "b", "a", "c")).Integer);
        Assert.Equal(0, (await c.CallAsync("SADD", "s", "a")).Integer);
        Assert.Equal(3, (await c.CallAsync("SCARD", "s")).Integer);
        Assert.Equal(1, (await c.CallAsync("SISMEMBER", "s", "b")).Integer);
        Assert.Equal(0, (await c.CallAsync("SISMEMBER", "s", "z")).Integer);
        Assert.Equal(new long[] { 1, 0, 1 }, (await c.CallAsync("SMISMEMBER", "s", "a", "z", "c")).Items!.Select(i => i.Integer));
        Assert.Equal(new long[] { 0, 0 }, (await c.CallAsync("SMISMEMBER", "missing", "a", "b")).Items!.Select(i => i.Integer));
        Assert.Equal(new[] { "a", "b", "c" }, await SortedAsync(c, "SMEMBERS", "s"));
        Assert.Equal(2, (await c.CallAsync("SREM", "s", "a", "b", "zz")).Integer);
        Assert.Equal(1, (await c.CallAsync("SREM", "s", "c", "d")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "s")).Integer);
        Assert.Equal(0, (await c.CallAsync("SREM", "s", "c")).Integer);
        Assert.Empty((await c.CallAsync("SMEMBERS", "missing")).Items!);

        await c.CallAsync("SET", "str", "x");
        await AssertErrorAsync(c, WrongType, "SADD", "str", "a");
        await AssertErrorAsync(c, WrongType, "SMISMEMBER", "str", "a");
        await AssertErrorAsync(c, WrongType, "SINTER", "s", "str");
    }

    [Fact]
    public async Task IntegerMembersAreCanonical()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SADD", "s", "1", "01", "-0", "9223372036854775807", "-9223372036854775808");
        Assert.Equal("listpack", await EncodingAsync(c, "s"));
        Assert.Equal(1, (await c.CallAsync("SISMEMBER", "s", "01")).Integer);
        Assert.Equal(0, (await c.CallAsync("SISMEMBER", "s", "0")).Integer);
        Assert.Equal(new[] { "-0", "-9223372036854775808", "01", "1", "9223372036854775807" }, await SortedAsync(c, "SMEMBERS", "s"));
        await c.CallAsync("SADD", "i", "5", "-3", "70000", "-9223372036854775808");
        Assert.Equal("intset", await EncodingAsync(c, "i"));
        Assert.Equal(new[] { "-9223372036854775808", "-3", "5", "70000" }, (await c.CallAsync("SMEMBERS", "i")).Items!.Select(i => i.Text));
    }

    [Fact]
    public async Task EncodingsFollowTheThresholds()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SADD", "s", "1", "2", "3");
        Assert.Equal("intset", await EncodingAsync(c, "s"));
        await c.CallAsync("SADD", "s", "a");
        Assert.Equal("listpack", await EncodingAsync(c, "s"));
        await c.CallAsync("SADD", "s", new string('x', 65));
        Assert.Equal("hashtable", await EncodingAsync(c, "s"));

        await c.CallAsync(Cmd("SADD", "many", Enumerable.Range(0, 128).Select(i => "m" + i)));
        Assert.Equal("listpack", await EncodingAsync(c, "many"));
        await c.CallAsync("SADD", "many", "m128");
        Assert.Equal("hashtable", await EncodingAsync(c, "many"));

        await c.CallAsync(Cmd("SADD", "ints", Enumerable.Range(0, 512).Select(i => i.ToString())));
        Assert.Equal("intset", await EncodingAsync(c, "ints"));
        await c.CallAsync("SADD", "ints", "512");
        Assert.Equal("hashtable", await EncodingAsync(c, "ints"));

        // A big SADD on a new key goes straight to the encoding its size calls for.
        await c.CallAsync(Cmd("SADD", "big", Enumerable.Range(1, 600).Select(i => i.ToString())));
        Assert.Equal("hashtable", await EncodingAsync(c, "big"));

        // Removals never move a set back to a smaller encoding.
        await c.CallAsync(Cmd("SREM", "ints", Enumerable.Range(0, 510).Select(i => i.ToString())));
        Assert.Equal("hashtable", await EncodingAsync(c, "ints"));

        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "set-max-intset-entries", "2"));
        await c.CallAsync("SADD", "small", "1", "2");
        Assert.Equal("intset", await EncodingAsync(c, "small"));
        await c.CallAsync("SADD", "small", "3");
        Assert.Equal("hashtable", await EncodingAsync(c, "small"));
    }

    [Fact]
    public async Task SmoveConvertsTheDestinationLikeSadd()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SADD", "a", "1", "x", "y");
        await c.CallAsync("SADD", "b", "2", "3");
        Assert.Equal(1, (await c.CallAsync("SMOVE", "a", "b", "1")).Integer);
        Assert.Equal("intset", await EncodingAsync(c, "b"));
        Assert.Equal(1, (await c.CallAsync("SMOVE", "a", "b", "x")).Integer);
        Assert.Equal("listpack", await EncodingAsync(c, "b"));
        Assert.Equal(0, (await c.CallAsync("SMOVE", "a", "b", "nope")).Integer);
        Assert.Equal(1, (await c.CallAsync("SMOVE", "a", "a", "y")).Integer);
        Assert.Equal(0, (await c.CallAsync("SMOVE", "a", "a", "nope")).Integer);
        Assert.Equal(1, (await c.CallAsync("SMOVE", "a", "new", "y")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "a")).Integer);
        Assert.Equal("listpack", await EncodingAsync(c, "new"));
        Assert.Equal(1, (await c.CallAsync("SMOVE", "b", "newint", "2")).Integer);
        Assert.Equal("intset", await EncodingAsync(c, "newint"));
        Assert.Equal(0, (await c.CallAsync("SMOVE", "missing", "b", "2")).Integer);
        await c.CallAsync("SET", "str", "x");
        await AssertErrorAsync(c, WrongType, "SMOVE", "b", "str", "3");
        await AssertErrorAsync(c, WrongType, "SMOVE", "str", "b", "3");
    }

    [Fact]
    public async Task AlgebraAndStoredResultEncodings()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SADD", "a", "1", "2", "x");
        await c.CallAsync("SADD", "b", "1", "2", "y");
        await c.CallAsync("SADD", "i", "3", "1", "2");
        Assert.Equal(new[] { "1", "2" }, await SortedAsync(c, "SINTER", "a", "b"));
        Assert.Equal(2, (await c.CallAsync("SINTERSTORE", "r", "a", "b")).Integer);
        Assert.Equal("intset", await EncodingAsync(c, "r"));
        Assert.Equal(4, (await c.CallAsync("SUNIONSTORE", "r2", "a", "b")).Integer);
        Assert.Equal("listpack", await EncodingAsync(c, "r2"));
        Assert.Equal(new[] { "1", "2", "3" }, (await c.CallAsync("SUNION", "i", "missing")).Items!.Select(x => x.Text));
        Assert.Equal(new[] { "x" }, await SortedAsync(c, "SDIFF", "a", "b", "missing"));
        Assert.Empty((await c.CallAsync("SDIFF", "a", "a")).Items!);
        Assert.Equal(new[] { "3" }, (await c.CallAsync("SDIFF", "i", "a")).Items!.Select(x => x.Text));
        Assert.Empty((await c.CallAsync("SINTER", "a", "missing")).Items!);

        // An empty result deletes the destination, even when it had another type.
        await c.CallAsync("SET", "dst", "x");
        Assert.Equal(0, (await c.CallAsync("SINTERSTORE", "dst", "a", "missing")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "dst")).Integer);
        await c.CallAsync("SET", "dst", "x");
        Assert.Equal(0, (await c.CallAsync("SDIFFSTORE", "dst", "a", "a")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "dst")).Integer);
        // A stored result replaces any value and its TTL.
        await c.CallAsync("SET", "dst", "x", "EX", "100");
        Assert.Equal(3, (await c.CallAsync("SUNIONSTORE", "dst", "i")).Integer);
        Assert.Equal(-1, (await c.CallAsync("TTL", "dst")).Integer);
        Assert.Equal("intset", await EncodingAsync(c, "dst"));
    }

    [Fact]
    public async Task SintercardCountsWithALimit()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SADD", "a", "1", "2", "3", "4");
        await c.CallAsync("SADD", "b", "2", "3", "4", "5");
        Assert.Equal(3, (await c.CallAsync("SINTERCARD", "2", "a", "b")).Integer);
        Assert.Equal(2, (await c.CallAsync("SINTERCARD", "2", "a", "b", "LIMIT", "2")).Integer);
        Assert.Equal(3, (await c.CallAsync("SINTERCARD", "2", "a", "b", "LIMIT", "0")).Integer);
        Assert.Equal(0, (await c.CallAsync("SINTERCARD", "2", "a", "missing")).Integer);
        await AssertErrorAsync(c, "ERR numkeys should be greater than 0", "SINTERCARD", "0", "a");
        await AssertErrorAsync(c, "ERR Number of keys can't be greater than number of args", "SINTERCARD", "3", "a", "b");
        await AssertErrorAsync(c, "ERR LIMIT can't be negative", "SINTERCARD", "1", "a", "LIMIT", "-1");
        await AssertErrorAsync(c, "ERR syntax error", "SINTERCARD", "1", "a", "LIMIT");
    }

    [Fact]
    public async Task SpopAndSrandmemberCounts()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SADD", "s", "a", "b", "c", "d", "e");
        var some = await SortedAsync(c, "SRANDMEMBER", "s", "3");
        Assert.Equal(3, some.Distinct().Count());
        Assert.Equal(5, (await SortedAsync(c, "SRANDMEMBER", "s", "10")).Count);
        Assert.Equal(20, (await SortedAsync(c, "SRANDMEMBER", "s", "-20")).Count);
        Assert.Empty((await c.CallAsync("SRANDMEMBER", "s", "0")).Items!);
        Assert.Empty((await c.CallAsync("SRANDMEMBER", "missing", "5")).Items!);
        Assert.Null(await c.CallTextAsync("SRANDMEMBER", "missing"));
        await AssertErrorAsync(c, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            "SRANDMEMBER", "s", "-9223372036854775808");
        await AssertErrorAsync(c, "ERR syntax error", "SRANDMEMBER", "s", "1", "2");

        var popped = await SortedAsync(c, "SPOP", "s", "2");
        Assert.Equal(2, popped.Distinct().Count());
        Assert.Equal(3, (await c.CallAsync("SCARD", "s")).Integer);
        Assert.Empty((await c.CallAsync("SPOP", "s", "0")).Items!);
        Assert.NotNull(await c.CallTextAsync("SPOP", "s"));
        Assert.Equal(2, (await SortedAsync(c, "SPOP", "s", "100")).Count);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "s")).Integer);
        Assert.Null(await c.CallTextAsync("SPOP", "s"));
        Assert.Empty((await c.CallAsync("SPOP", "s", "3")).Items!);
        await AssertErrorAsync(c, "ERR value is out of range, must be positive", "SPOP", "s", "-1");
        await AssertErrorAsync(c, "ERR syntax error", "SPOP", "s", "1", "2");
    }

    [Fact]
    public async Task SpopKeepingFewMembersOfAHashtableLeavesAListpack()
    {
        await using var c = await FreshAsync();
        await c.CallAsync(Cmd("SADD", "s", Enumerable.Range(0, 200).Select(i => "m" + i)));
        Assert.Equal("hashtable", await EncodingAsync(c, "s"));
        var popped = await SortedAsync(c, "SPOP", "s", "195");
        Assert.Equal(195, popped.Distinct().Count());
        Assert.Equal("listpack", await EncodingAsync(c, "s"));
        var rest = await SortedAsync(c, "SMEMBERS", "s");
        Assert.Empty(rest.Intersect(popped));
        Assert.Equal(200, rest.Count + popped.Count);
    }

    [Theory]
    [InlineData("intset")]
    [InlineData("listpack")]
    [InlineData("hashtable")]
    public async Task RandomMembersAreUniform(string encoding)
    {
        await using var c = await FreshAsync();
        var members = encoding switch
        {
            "intset" => Enumerable.Range(0, 50).Select(i => i.ToString()).ToList(),
            "listpack" => Enumerable.Range(0, 50).Select(i => "m" + i).ToList(),
            _ => Enumerable.Range(0, 300).Select(i => "h" + i).ToList(),
        };
        await c.CallAsync(Cmd("SADD", "s", members));
        if (encoding == "hashtable")
        {
            // Leave a sparse table behind: sampling must stay uniform over the survivors.
            await c.CallAsync(Cmd("SREM", "s", members.Skip(50)));
            members = members.Take(50).ToList();
        }
        Assert.Equal(encoding, await EncodingAsync(c, "s"));
        var counts = members.ToDictionary(m => m, _ => 0);
        foreach (var item in (await c.CallAsync("SRANDMEMBER", "s", "-10000")).Items!) counts[item.Text!]++;
        double expected = 10000.0 / members.Count;
        double chi = counts.Values.Sum(n => (n - expected) * (n - expected) / expected);
        // 49 degrees of freedom: the 99.99th percentile is about 97.
        Assert.True(chi < 97, $"chi-square {chi}");
    }

    [Fact]
    public async Task SscanReturnsEverythingOnceWithMatch()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SADD", "small", "a1", "b1", "a2");
        var reply = await c.CallAsync("SSCAN", "small", "0", "MATCH", "a*");
        Assert.Equal("0", reply.Items![0].Text);
        Assert.Equal(new[] { "a1", "a2" }, reply.Items[1].Items!.Select(i => i.Text));
        var missing = await c.CallAsync("SSCAN", "nope", "7", "COUNT", "0");
        Assert.Equal("0", missing.Items![0].Text);
        Assert.Empty(missing.Items[1].Items!);

        var all = Enumerable.Range(0, 1000).Select(i => "k" + i).ToList();
        await c.CallAsync(Cmd("SADD", "big", all));
        var seen = new HashSet<string>();
        string cursor = "0";
        int calls = 0;
        do
        {
            var r = await c.CallAsync("SSCAN", "big", cursor, "COUNT", "50");
            cursor = r.Items![0].Text!;
            foreach (var m in r.Items[1].Items!) seen.Add(m.Text!);
            calls++;
        } while (cursor != "0");
        Assert.True(calls > 5);
        Assert.Equal(all.Count, seen.Count);

        await c.CallAsync("SADD", "ints", "1", "12", "2");
        Assert.Equal(new[] { "1", "12" }, (await c.CallAsync("SSCAN", "ints", "0", "MATCH", "1*")).Items![1].Items!.Select(i => i.Text));

        await AssertErrorAsync(c, "ERR invalid cursor", "SSCAN", "big", "x");
        await AssertErrorAsync(c, "ERR syntax error", "SSCAN", "big", "0", "COUNT", "0");
        await AssertErrorAsync(c, "ERR NOVALUES option can only be used in HSCAN", "SSCAN", "big", "0", "NOVALUES");
        await AssertErrorAsync(c, "ERR syntax error", "SSCAN", "big", "0", "TYPE", "set");
    }

    [Fact]
    public async Task Resp3RepliesUseSetTypes()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("SADD", "s", "1");
        await c.SendAsync("SMEMBERS", "s");
        Assert.Equal("~1\r\n$1\r\n1\r\n", await c.ReadRawAsync(11));
        await c.SendAsync("SPOP", "missing", "2");
        Assert.Equal("~0\r\n", await c.ReadRawAsync(4));
        await c.SendAsync("SRANDMEMBER", "missing", "2");
        Assert.Equal("*0\r\n", await c.ReadRawAsync(4));
        await c.SendAsync("SPOP", "missing");
        Assert.Equal("_\r\n", await c.ReadRawAsync(3));
    }

    [Fact]
    public async Task MemoryAccountingReturnsToBaseline()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "anchor", "x");
        var db = _server.Server.Databases[0];
        long baseline = db.UsedMemory;
        var r = new Random(11);
        for (int i = 0; i < 1500; i++)
        {
            string key = "m" + r.Next(3);
            string member = r.Next(3) == 0 ? "v" + new string('x', r.Next(0, 80)) : r.Next(300).ToString();
            switch (r.Next(7))
            {
                case 0: case 1: await c.CallAsync("SADD", key, member, r.Next(600).ToString()); break;
                case 2: await c.CallAsync("SREM", key, member); break;
                case 3: await c.CallAsync("SPOP", key, r.Next(4).ToString()); break;
                case 4: await c.CallAsync("SMOVE", key, "m" + r.Next(3), member); break;
                case 5: await c.CallAsync("SUNIONSTORE", key, key, "m" + r.Next(3)); break;
                default: await c.CallAsync("SINTERSTORE", key, key, "m" + r.Next(3)); break;
            }
            long live = 0;
            for (int k = 0; k < db.IndexLimit; k++) if (db.IsOccupied(k)) live += db.MemoryAt(k) - 20;
            Assert.True(db.DataBytes == live, $"step {i}: data {db.DataBytes} live {live}");
        }
        await c.CallAsync("DEL", "m0", "m1", "m2");
        Assert.Equal(baseline, db.UsedMemory);
    }
}
