using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Types;

/// <summary>List commands over TCP; every expectation was checked against a real Valkey 8.</summary>
public sealed class ListTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ListTests(SharedServerFixture fixture) => _server = fixture.Server;

    private async Task<RespClient> FreshAsync()
    {
        var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("FLUSHALL"));
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "list-max-listpack-size", "-2"));
        return c;
    }

    private static async Task<string[]> ItemsAsync(RespClient c, params object[] cmd)
    {
        var reply = await c.CallAsync(cmd);
        Assert.False(reply.IsError, reply.Text);
        return reply.Items!.Select(i => i.Text!).ToArray();
    }

    private static async Task AssertErrorAsync(RespClient c, string expected, params object[] cmd)
    {
        var reply = await c.CallAsync(cmd);
        Assert.True(reply.IsError, $"expected an error, got {reply}");
        Assert.Equal(expected, reply.Text);
    }

    private static async Task<string?> EncodingAsync(RespClient c, string key) => await c.CallTextAsync("OBJECT", "ENCODING", key);

    [Fact]
    public async Task PushesReturnTheLengthAndKeepOrder()
    {
        await using var c = await FreshAsync();
        Assert.Equal(3, (await c.CallAsync("RPUSH", "l", "a", "b", "c")).Integer);
        Assert.Equal(5, (await c.CallAsync("LPUSH", "l", "y", "z")).Integer);
        Assert.Equal(new[] { "z", "y", "a", "b", "c" }, await ItemsAsync(c, "LRANGE", "l", "0", "-1"));
        Assert.Equal(6, (await c.CallAsync("RPUSHX", "l", "d")).Integer);
        Assert.Equal(0, (await c.CallAsync("LPUSHX", "missing", "x")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "missing")).Integer);
        Assert.Equal(6, (await c.CallAsync("LLEN", "l")).Integer);
        Assert.Equal(0, (await c.CallAsync("LLEN", "missing")).Integer);
    }

    [Fact]
    public async Task PopsWithAndWithoutCount()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("RPUSH", "l", "a", "b", "c", "d", "e");
        Assert.Equal("a", await c.CallTextAsync("LPOP", "l"));
        Assert.Equal("e", await c.CallTextAsync("RPOP", "l"));
        Assert.Equal(new[] { "d", "c" }, await ItemsAsync(c, "RPOP", "l", "2"));
        Assert.Empty(await ItemsAsync(c, "LPOP", "l", "0"));
        Assert.Equal(new[] { "b" }, await ItemsAsync(c, "LPOP", "l", "10"));
        Assert.Equal(0, (await c.CallAsync("EXISTS", "l")).Integer);

        await c.SendAsync("LPOP", "l");
        Assert.Equal("$-1\r\n", await c.ReadRawAsync(5));
        await c.SendAsync("LPOP", "l", "3");
        Assert.Equal("*-1\r\n", await c.ReadRawAsync(5));

        await AssertErrorAsync(c, "ERR value is out of range, must be positive", "LPOP", "l", "-1");
        await AssertErrorAsync(c, "ERR value is out of range, must be positive", "RPOP", "l", "x");
        await AssertErrorAsync(c, "ERR wrong number of arguments for 'lpop' command", "LPOP", "l", "1", "1");
    }

    [Fact]
    public async Task IndexSetAndRangeEdges()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("RPUSH", "l", "a", "1", "c");
        Assert.Equal("1", await c.CallTextAsync("LINDEX", "l", "1"));
        Assert.Equal("c", await c.CallTextAsync("LINDEX", "l", "-1"));
        Assert.Null(await c.CallTextAsync("LINDEX", "l", "3"));
        Assert.Null(await c.CallTextAsync("LINDEX", "missing", "x"));
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "LINDEX", "l", "x");

        Assert.Equal("OK", await c.CallTextAsync("LSET", "l", "-1", "z"));
        await AssertErrorAsync(c, "ERR index out of range", "LSET", "l", "3", "x");
        await AssertErrorAsync(c, "ERR no such key", "LSET", "missing", "0", "x");

        Assert.Equal(new[] { "1", "z" }, await ItemsAsync(c, "LRANGE", "l", "-2", "100"));
        Assert.Empty(await ItemsAsync(c, "LRANGE", "l", "2", "1"));
        Assert.Empty(await ItemsAsync(c, "LRANGE", "missing", "0", "-1"));
    }

    [Fact]
    public async Task InsertRemoveAndTrim()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("RPUSH", "l", "a", "b", "a", "c", "a");
        Assert.Equal(6, (await c.CallAsync("LINSERT", "l", "BEFORE", "b", "x")).Integer);
        Assert.Equal(7, (await c.CallAsync("LINSERT", "l", "after", "c", "y")).Integer);
        Assert.Equal(-1, (await c.CallAsync("LINSERT", "l", "AFTER", "nope", "y")).Integer);
        Assert.Equal(0, (await c.CallAsync("LINSERT", "missing", "AFTER", "a", "y")).Integer);
        await AssertErrorAsync(c, "ERR syntax error", "LINSERT", "l", "MIDDLE", "a", "y");
        Assert.Equal(new[] { "a", "x", "b", "a", "c", "y", "a" }, await ItemsAsync(c, "LRANGE", "l", "0", "-1"));

        Assert.Equal(1, (await c.CallAsync("LREM", "l", "-1", "a")).Integer);
        Assert.Equal(new[] { "a", "x", "b", "a", "c", "y" }, await ItemsAsync(c, "LRANGE", "l", "0", "-1"));
        Assert.Equal(2, (await c.CallAsync("LREM", "l", "0", "a")).Integer);
        Assert.Equal(0, (await c.CallAsync("LREM", "missing", "0", "a")).Integer);
        await AssertErrorAsync(c, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            "LREM", "l", "-9223372036854775808", "a");

        Assert.Equal("OK", await c.CallTextAsync("LTRIM", "l", "1", "-2"));
        Assert.Equal(new[] { "b", "c" }, await ItemsAsync(c, "LRANGE", "l", "0", "-1"));
        Assert.Equal("OK", await c.CallTextAsync("LTRIM", "l", "5", "10"));
        Assert.Equal(0, (await c.CallAsync("EXISTS", "l")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("LTRIM", "missing", "0", "1"));
    }

    [Fact]
    public async Task IntegerLookingElementsRoundTrip()
    {
        await using var c = await FreshAsync();
        var values = new[] { "0", "-0", "007", "127", "128", "-4096", "4095", "32768", "-8388609", "9223372036854775807", "-9223372036854775808", "9223372036854775808", " 1", "+1" };
        await c.CallAsync(new object[] { "RPUSH", "l" }.Concat(values).ToArray());
        Assert.Equal(values, await ItemsAsync(c, "LRANGE", "l", "0", "-1"));
        Assert.Equal(1, (await c.CallAsync("LREM", "l", "0", "007")).Integer);
        Assert.Equal(1, (await c.CallAsync("LREM", "l", "0", "-9223372036854775808")).Integer);
        Assert.Equal(2, (await c.CallAsync("LPOS", "l", "127")).Integer);
    }

    [Fact]
    public async Task LposOptionsAndErrors()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c");
        Assert.Equal(2, (await c.CallAsync("LPOS", "l", "c")).Integer);
        Assert.Equal(6, (await c.CallAsync("LPOS", "l", "c", "RANK", "2")).Integer);
        Assert.Equal(6, (await c.CallAsync("LPOS", "l", "c", "RANK", "-2")).Integer);
        Assert.Equal(new[] { "2", "6" }, (await c.CallAsync("LPOS", "l", "c", "COUNT", "2")).Items!.Select(i => i.Integer.ToString()));
        Assert.Equal(new[] { "7", "6", "2" }, (await c.CallAsync("LPOS", "l", "c", "RANK", "-1", "COUNT", "0")).Items!.Select(i => i.Integer.ToString()));
        Assert.Null(await c.CallTextAsync("LPOS", "l", "c", "MAXLEN", "2"));
        Assert.Empty((await c.CallAsync("LPOS", "l", "x", "COUNT", "0")).Items!);
        Assert.Empty((await c.CallAsync("LPOS", "missing", "x", "COUNT", "1")).Items!);
        Assert.Null(await c.CallTextAsync("LPOS", "missing", "x"));

        await AssertErrorAsync(c, "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
            "LPOS", "l", "c", "RANK", "0");
        await AssertErrorAsync(c, "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
            "LPOS", "l", "c", "RANK", "-9223372036854775808");
        await AssertErrorAsync(c, "ERR COUNT can't be negative", "LPOS", "l", "c", "COUNT", "-1");
        await AssertErrorAsync(c, "ERR MAXLEN can't be negative", "LPOS", "l", "c", "MAXLEN", "x");
        await AssertErrorAsync(c, "ERR syntax error", "LPOS", "l", "c", "RANK");
    }

    [Fact]
    public async Task MovesBetweenAndWithinLists()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("RPUSH", "src", "a", "b", "c");
        Assert.Equal("c", await c.CallTextAsync("RPOPLPUSH", "src", "dst"));
        Assert.Equal("a", await c.CallTextAsync("LMOVE", "src", "dst", "LEFT", "RIGHT"));
        Assert.Equal(new[] { "c", "a" }, await ItemsAsync(c, "LRANGE", "dst", "0", "-1"));
        Assert.Equal("c", await c.CallTextAsync("LMOVE", "dst", "dst", "left", "right"));
        Assert.Equal(new[] { "a", "c" }, await ItemsAsync(c, "LRANGE", "dst", "0", "-1"));
        Assert.Equal("b", await c.CallTextAsync("LMOVE", "src", "src", "LEFT", "LEFT"));
        Assert.Null(await c.CallTextAsync("RPOPLPUSH", "missing", "dst"));
        Assert.Equal(0, (await c.CallAsync("EXISTS", "missing")).Integer);
        await AssertErrorAsync(c, "ERR syntax error", "LMOVE", "src", "dst", "UP", "LEFT");

        await c.CallAsync("SET", "str", "x");
        await AssertErrorAsync(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "RPOPLPUSH", "src", "str");
        Assert.Equal(1, (await c.CallAsync("LLEN", "src")).Integer);
        await AssertErrorAsync(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "LMOVE", "str", "src", "LEFT", "LEFT");
    }

    [Fact]
    public async Task LmpopRepliesWithTheKeyAndItsElements()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("RPUSH", "l2", "a", "b", "c");
        var reply = await c.CallAsync("LMPOP", "2", "l1", "l2", "RIGHT", "COUNT", "2");
        Assert.Equal("l2", reply.Items![0].Text);
        Assert.Equal(new[] { "c", "b" }, reply.Items[1].Items!.Select(i => i.Text));
        Assert.Equal(new[] { "a" }, (await c.CallAsync("LMPOP", "1", "l2", "LEFT")).Items![1].Items!.Select(i => i.Text));
        await c.SendAsync("LMPOP", "1", "l2", "LEFT");
        Assert.Equal("*-1\r\n", await c.ReadRawAsync(5));

        await AssertErrorAsync(c, "ERR numkeys should be greater than 0", "LMPOP", "0", "l", "LEFT");
        await AssertErrorAsync(c, "ERR numkeys should be greater than 0", "LMPOP", "a", "l", "LEFT");
        await AssertErrorAsync(c, "ERR count should be greater than 0", "LMPOP", "1", "l", "LEFT", "COUNT", "0");
        await AssertErrorAsync(c, "ERR syntax error", "LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2");
        await AssertErrorAsync(c, "ERR syntax error", "LMPOP", "5", "l", "LEFT");
        await AssertErrorAsync(c, "ERR syntax error", "LMPOP", "1", "l", "MIDDLE");
    }

    [Fact]
    public async Task WrongTypeIsRefused()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "s", "x");
        foreach (var cmd in new[] { new object[] { "LPUSH", "s", "a" }, new object[] { "LLEN", "s" }, new object[] { "LRANGE", "s", "0", "1" },
                     new object[] { "LINDEX", "s", "0" }, new object[] { "LPOP", "s" }, new object[] { "LPOS", "s", "a" } })
            await AssertErrorAsync(c, "WRONGTYPE Operation against a key holding the wrong kind of value", cmd);
    }

    [Fact]
    public async Task SmallListsAreListpacksAndGrowIntoQuicklists()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("RPUSH", "l", "a", "b", "c");
        Assert.Equal("listpack", await EncodingAsync(c, "l"));
        // An element bigger than a node's 8 KB makes it a quicklist at once.
        await c.CallAsync("RPUSH", "l", new string('x', 8192));
        Assert.Equal("quicklist", await EncodingAsync(c, "l"));
        Assert.Equal(8192, (await c.CallTextAsync("RPOP", "l"))!.Length);
        Assert.Equal("listpack", await EncodingAsync(c, "l"));
    }

    [Fact]
    public async Task ConvertsBackOnlyBelowHalfTheLimit()
    {
        await using var c = await FreshAsync();
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "list-max-listpack-size", "4"));
        await c.CallAsync("RPUSH", "l", "a", "b", "c", "d", "e");
        Assert.Equal("quicklist", await EncodingAsync(c, "l"));
        await c.CallAsync("RPOP", "l");
        Assert.Equal("quicklist", await EncodingAsync(c, "l")); // one node of 4: over half the limit
        await c.CallAsync("RPOP", "l");
        Assert.Equal("quicklist", await EncodingAsync(c, "l"));
        await c.CallAsync("RPOP", "l");
        Assert.Equal("listpack", await EncodingAsync(c, "l"));

        await c.CallAsync("DEL", "l");
        await c.CallAsync("RPUSH", "l", "a", "b", "c", "d");
        Assert.Equal("listpack", await EncodingAsync(c, "l"));
        // Valkey makes room for the new element before looking for the pivot, found or not.
        Assert.Equal(-1, (await c.CallAsync("LINSERT", "l", "AFTER", "nope", "x")).Integer);
        Assert.Equal("quicklist", await EncodingAsync(c, "l"));
    }

    [Fact]
    public async Task MemoryAccountingReturnsToBaseline()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "anchor", "x");
        var db = _server.Server.Databases[0];
        long baseline = db.UsedMemory;
        var r = new Random(7);
        for (int i = 0; i < 2000; i++)
        {
            string key = "m" + r.Next(3);
            string value = r.Next(5) == 0 ? new string('v', r.Next(1, 9000)) : r.Next(1000).ToString();
            int opn = r.Next(8);
            switch (opn)
            {
                case 0: case 1: await c.CallAsync("RPUSH", key, value, value); break;
                case 2: await c.CallAsync("LPUSH", key, value); break;
                case 3: await c.CallAsync("LPOP", key, "3"); break;
                case 4: await c.CallAsync("LSET", key, "0", value); break;
                case 5: await c.CallAsync("LINSERT", key, "BEFORE", value, "p"); break;
                case 6: await c.CallAsync("LMOVE", key, "m" + r.Next(3), "LEFT", "RIGHT"); break;
                default: await c.CallAsync("LTRIM", key, "1", "-2"); break;
            }
            long live = 0;
            for (int k = 0; k < db.IndexLimit; k++) if (db.IsOccupied(k)) live += db.MemoryAt(k) - 20;
            Assert.True(db.DataBytes == live, $"step {i} op {opn} key {key} len {value.Length}: data {db.DataBytes} live {live}");
        }
        await c.CallAsync("DEL", "m0", "m1", "m2");
        Assert.Equal(baseline, db.UsedMemory);
    }
}
