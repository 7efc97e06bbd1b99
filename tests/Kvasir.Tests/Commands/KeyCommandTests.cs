using Kvasir.Tests.Infrastructure;
using Kvasir.Types;

namespace Kvasir.Tests.Commands;

/// <summary>Generic keyspace commands; every expectation was checked against a real Valkey 8.</summary>
public sealed class KeyCommandTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public KeyCommandTests(SharedServerFixture fixture) => _server = fixture.Server;

    // The class owns its server and its tests run one at a time, so each starts from an empty server.
    private async Task<RespClient> FreshAsync()
    {
        var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("FLUSHALL"));
        return c;
    }

    private static async Task<List<string>> SortedAsync(RespClient c, params object[] cmd)
    {
        var reply = await c.CallAsync(cmd);
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

    [Fact]
    public async Task DelAndUnlinkCountOnlyExistingKeys()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "a", "1");
        await c.CallAsync("SET", "b", "2");
        await c.CallAsync("SET", "c", "3");
        Assert.Equal(2, (await c.CallAsync("DEL", "a", "b", "nope")).Integer);
        Assert.Equal(0, (await c.CallAsync("DEL", "a")).Integer);
        Assert.Equal(1, (await c.CallAsync("UNLINK", "c", "c")).Integer);
        Assert.Equal(0, (await c.CallAsync("DBSIZE")).Integer);
    }

    [Fact]
    public async Task ExistsCountsRepeatedKeys()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "a", "1");
        Assert.Equal(2, (await c.CallAsync("EXISTS", "a", "a", "b")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "b")).Integer);
    }

    [Fact]
    public async Task TypeIsASimpleString()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "s", "v");
        var t = await c.CallAsync("TYPE", "s");
        Assert.Equal('+', t.Kind);
        Assert.Equal("string", t.Text);
        Assert.Equal("none", await c.CallTextAsync("TYPE", "missing"));
    }

    [Fact]
    public async Task TouchCountsExistingKeys()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "a", "1");
        Assert.Equal(1, (await c.CallAsync("TOUCH", "a", "b")).Integer);
    }

    [Fact]
    public async Task RenameMovesValueAndTtl()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "src", "hello");
        await c.CallAsync("EXPIRE", "src", "100");
        await c.CallAsync("SET", "dst", "old");
        Assert.Equal("OK", await c.CallTextAsync("RENAME", "src", "dst"));
        Assert.Equal("hello", await c.CallTextAsync("GET", "dst"));
        Assert.Equal(0, (await c.CallAsync("EXISTS", "src")).Integer);
        var ttl = (await c.CallAsync("TTL", "dst")).Integer;
        Assert.InRange(ttl, 99, 100);
    }

    [Fact]
    public async Task RenameDoesNotInheritTheTargetTtl()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "src", "a");
        await c.CallAsync("SET", "dst", "b");
        await c.CallAsync("EXPIRE", "dst", "100");
        await c.CallAsync("RENAME", "src", "dst");
        Assert.Equal(-1, (await c.CallAsync("TTL", "dst")).Integer);
    }

    [Fact]
    public async Task RenameErrorsAndSameKey()
    {
        await using var c = await FreshAsync();
        await AssertErrorAsync(c, "ERR no such key", "RENAME", "nokey", "x");
        await AssertErrorAsync(c, "ERR no such key", "RENAME", "nokey", "nokey");
        await AssertErrorAsync(c, "ERR no such key", "RENAMENX", "nokey", "x");
        await c.CallAsync("SET", "k", "v");
        Assert.Equal("OK", await c.CallTextAsync("RENAME", "k", "k"));
        Assert.Equal(0, (await c.CallAsync("RENAMENX", "k", "k")).Integer);
        Assert.Equal("v", await c.CallTextAsync("GET", "k"));
    }

    [Fact]
    public async Task RenameNxOnlyWhenTargetIsMissing()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "a", "1");
        await c.CallAsync("SET", "b", "2");
        Assert.Equal(0, (await c.CallAsync("RENAMENX", "a", "b")).Integer);
        Assert.Equal("2", await c.CallTextAsync("GET", "b"));
        Assert.Equal(1, (await c.CallAsync("RENAMENX", "a", "c")).Integer);
        Assert.Equal("1", await c.CallTextAsync("GET", "c"));
        Assert.Equal(0, (await c.CallAsync("EXISTS", "a")).Integer);
    }

    [Fact]
    public async Task MoveBetweenDatabases()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "k", "v");
        await c.CallAsync("EXPIRE", "k", "100");
        Assert.Equal(1, (await c.CallAsync("MOVE", "k", "3")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "k")).Integer);
        await c.CallAsync("SELECT", "3");
        Assert.Equal("v", await c.CallTextAsync("GET", "k"));
        Assert.InRange((await c.CallAsync("TTL", "k")).Integer, 99, 100);
        // Existing in the target: nothing moves.
        await c.CallAsync("SELECT", "0");
        await c.CallAsync("SET", "k", "other");
        Assert.Equal(0, (await c.CallAsync("MOVE", "k", "3")).Integer);
        Assert.Equal(0, (await c.CallAsync("MOVE", "missing", "3")).Integer);
    }

    [Fact]
    public async Task MoveErrors()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "k", "v");
        await AssertErrorAsync(c, "ERR source and destination objects are the same", "MOVE", "k", "0");
        await AssertErrorAsync(c, "ERR DB index is out of range", "MOVE", "k", "16");
        await AssertErrorAsync(c, "ERR DB index is out of range", "MOVE", "k", "-1");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "MOVE", "k", "notanumber");
        await AssertErrorAsync(c, "ERR value is out of range, value must between -2147483648 and 2147483647", "MOVE", "k", "99999999999");
    }

    [Fact]
    public async Task CopyWithinAndAcrossDatabases()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "k", "foobar");
        await c.CallAsync("EXPIRE", "k", "100");
        Assert.Equal(1, (await c.CallAsync("COPY", "k", "k2")).Integer);
        Assert.Equal("foobar", await c.CallTextAsync("GET", "k2"));
        Assert.InRange((await c.CallAsync("TTL", "k2")).Integer, 99, 100);
        Assert.Equal(1, (await c.CallAsync("COPY", "k", "k", "DB", "5")).Integer);
        await c.CallAsync("SET", "k3", "plain");
        Assert.Equal(0, (await c.CallAsync("COPY", "k3", "k2")).Integer);
        Assert.Equal(1, (await c.CallAsync("COPY", "k3", "k2", "REPLACE")).Integer);
        Assert.Equal(-1, (await c.CallAsync("TTL", "k2")).Integer);
        // The copy is independent of its source.
        await c.CallAsync("SET", "k2", "changed");
        Assert.Equal("plain", await c.CallTextAsync("GET", "k3"));
        await c.CallAsync("SELECT", "5");
        Assert.Equal("foobar", await c.CallTextAsync("GET", "k"));
        Assert.Equal(0, (await c.CallAsync("COPY", "missing", "x")).Integer);
    }

    [Fact]
    public async Task CopyErrors()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "k", "v");
        await AssertErrorAsync(c, "ERR source and destination objects are the same", "COPY", "k", "k");
        await AssertErrorAsync(c, "ERR source and destination objects are the same", "COPY", "k", "k", "DB", "0");
        await AssertErrorAsync(c, "ERR DB index is out of range", "COPY", "k", "x", "DB", "99");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "COPY", "k", "x", "DB", "notanumber");
        await AssertErrorAsync(c, "ERR syntax error", "COPY", "k", "x", "DB");
        await AssertErrorAsync(c, "ERR syntax error", "COPY", "k", "x", "FOO");
    }

    [Fact]
    public async Task CopyKeepsTheRawEncodingOfEditedStrings()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "k", "v");
        // Stand-in for APPEND: the value becomes an editable raw string.
        lock (_server.Server.DataLock)
        {
            var db = _server.Server.Databases[0];
            db.MakeRawString(db.Lookup("k"u8));
        }
        Assert.Equal(1, (await c.CallAsync("COPY", "k", "k2")).Integer);
        Assert.Equal("raw", await c.CallTextAsync("OBJECT", "ENCODING", "k2"));
        Assert.Equal("v", await c.CallTextAsync("GET", "k2"));
    }

    [Fact]
    public async Task KeysMatchesGlobPatterns()
    {
        await using var c = await FreshAsync();
        foreach (var k in new[] { "foo_a", "foo_b", "foo_c", "key_x", "key_y", "key_z" })
            await c.CallAsync("SET", k, "hello");
        Assert.Equal(new[] { "foo_a", "foo_b", "foo_c" }, await SortedAsync(c, "KEYS", "foo*"));
        Assert.Equal(6, (await SortedAsync(c, "KEYS", "*")).Count);
        Assert.Equal(new[] { "key_x", "key_y" }, await SortedAsync(c, "KEYS", "key_[xy]"));
        Assert.Empty(await SortedAsync(c, "KEYS", "nomatch*"));
    }

    [Fact]
    public async Task KeysSkipsExpiredKeysWithoutDeletingThem()
    {
        await using var c = await FreshAsync();
        _server.Server.ActiveExpireEnabled = false;
        try
        {
            await c.CallAsync("SET", "live", "1");
            await c.CallAsync("SET", "dead", "1");
            await c.CallAsync("PEXPIRE", "dead", "1");
            await Task.Delay(20);
            Assert.Equal(new[] { "live" }, await SortedAsync(c, "KEYS", "*"));
            Assert.Equal(2, (await c.CallAsync("DBSIZE")).Integer); // DBSIZE counts unreclaimed keys, as Valkey
        }
        finally
        {
            _server.Server.ActiveExpireEnabled = true;
        }
    }

    [Fact]
    public async Task ScanIteratesEverything()
    {
        await using var c = await FreshAsync();
        for (int i = 0; i < 1000; i++) await c.CallAsync("SET", "key:" + i, "v");
        var seen = new HashSet<string>();
        string cursor = "0";
        do
        {
            var reply = await c.CallAsync("SCAN", cursor, "COUNT", "7");
            Assert.Equal(2, reply.Items!.Count);
            Assert.Equal('$', reply.Items[0].Kind);
            cursor = reply.Items[0].Text!;
            foreach (var k in reply.Items[1].Items!) seen.Add(k.Text!);
        } while (cursor != "0");
        Assert.Equal(1000, seen.Count);
    }

    [Fact]
    public async Task ScanMatchTypeAndExpiry()
    {
        await using var c = await FreshAsync();
        _server.Server.ActiveExpireEnabled = false;
        try
        {
            for (int i = 0; i < 100; i++) await c.CallAsync("SET", (i % 2 == 0 ? "even:" : "odd:") + i, "v");
            await c.CallAsync("PEXPIRE", "even:0", "1");
            await Task.Delay(20);
            var even = new List<string>();
            string cursor = "0";
            do
            {
                var reply = await c.CallAsync("SCAN", cursor, "MATCH", "even:*", "TYPE", "STRING");
                cursor = reply.Items![0].Text!;
                even.AddRange(reply.Items[1].Items!.Select(i => i.Text!));
            } while (cursor != "0");
            Assert.Equal(49, even.Distinct().Count());
            Assert.DoesNotContain("even:0", even);
            // SCAN deleted the expired key it met.
            Assert.Equal(99, (await c.CallAsync("DBSIZE")).Integer);

            var lists = await c.CallAsync("SCAN", "0", "TYPE", "list", "COUNT", "1000");
            Assert.Empty(lists.Items![1].Items!);
        }
        finally
        {
            _server.Server.ActiveExpireEnabled = true;
        }
    }

    [Fact]
    public async Task ScanErrors()
    {
        await using var c = await FreshAsync();
        await AssertErrorAsync(c, "ERR invalid cursor", "SCAN", "x");
        await AssertErrorAsync(c, "ERR invalid cursor", "SCAN", "-1");
        await AssertErrorAsync(c, "ERR invalid cursor", "SCAN", "18446744073709551616");
        await AssertErrorAsync(c, "ERR syntax error", "SCAN", "0", "COUNT", "0");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "SCAN", "0", "COUNT", "x");
        await AssertErrorAsync(c, "ERR syntax error", "SCAN", "0", "MATCH");
        await AssertErrorAsync(c, "ERR syntax error", "SCAN", "0", "FOO", "bar");
        await AssertErrorAsync(c, "ERR unknown type name 'string1'", "SCAN", "0", "TYPE", "string1");
        await AssertErrorAsync(c, "ERR NOVALUES option can only be used in HSCAN", "SCAN", "0", "NOVALUES");
        await AssertErrorAsync(c, "ERR NOSCORES option can only be used in ZSCAN", "SCAN", "0", "NOSCORES");
        // Cursors as C's strtoull reads them are accepted.
        Assert.Equal("0", (await c.CallAsync("SCAN", " 5")).Items![0].Text);
        Assert.Equal("0", (await c.CallAsync("SCAN", "18446744073709551615")).Items![0].Text);
    }

    [Theory]
    [InlineData("0", true, 0UL)]
    [InlineData("42", true, 42UL)]
    [InlineData("-1", false, 0UL)]
    [InlineData("+7", true, 7UL)]
    [InlineData("  9", true, 9UL)]
    [InlineData("9 ", false, 0UL)]
    [InlineData("", false, 0UL)]
    [InlineData("0x10", false, 0UL)]
    [InlineData("18446744073709551615", true, ulong.MaxValue)]
    [InlineData("18446744073709551616", false, 0UL)]
    [InlineData("-18446744073709551615", true, 1UL)]
    public void CursorParsingFollowsString2ull(string text, bool ok, ulong expected)
    {
        Assert.Equal(ok, Kvasir.Commands.KeyCommands.TryParseCursor(System.Text.Encoding.ASCII.GetBytes(text), out ulong cursor));
        if (ok) Assert.Equal(expected, cursor);
    }

    [Fact]
    public async Task RandomKeyAndDbSize()
    {
        await using var c = await FreshAsync();
        Assert.True((await c.CallAsync("RANDOMKEY")).IsNull);
        await c.CallAsync("SET", "x", "10");
        await c.CallAsync("DEL", "x");
        Assert.True((await c.CallAsync("RANDOMKEY")).IsNull);
        await c.CallAsync("SET", "foo", "x");
        await c.CallAsync("SET", "bar", "y");
        var seen = new HashSet<string>();
        for (int i = 0; i < 100; i++) seen.Add((await c.CallTextAsync("RANDOMKEY"))!);
        Assert.Equal(new HashSet<string> { "foo", "bar" }, seen);
        Assert.Equal(2, (await c.CallAsync("DBSIZE")).Integer);
    }

    [Fact]
    public async Task RandomKeyNeverReturnsAnExpiredKey()
    {
        await using var c = await FreshAsync();
        _server.Server.ActiveExpireEnabled = false;
        try
        {
            for (int i = 0; i < 20; i++)
            {
                await c.CallAsync("SET", "gone" + i, "v");
                await c.CallAsync("PEXPIRE", "gone" + i, "1");
            }
            await c.CallAsync("SET", "stay", "v");
            await Task.Delay(20);
            for (int i = 0; i < 10; i++) Assert.Equal("stay", await c.CallTextAsync("RANDOMKEY"));
            await c.CallAsync("DEL", "stay");
            Assert.True((await c.CallAsync("RANDOMKEY")).IsNull);
        }
        finally
        {
            _server.Server.ActiveExpireEnabled = true;
        }
    }

    [Fact]
    public async Task SwapDbExchangesContent()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "swapkey", "v1");
        await c.CallAsync("EXPIRE", "swapkey", "100");
        await c.CallAsync("SELECT", "1");
        Assert.Equal(0, (await c.CallAsync("DBSIZE")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("SWAPDB", "0", "1"));
        Assert.Equal(1, (await c.CallAsync("DBSIZE")).Integer);
        Assert.InRange((await c.CallAsync("TTL", "swapkey")).Integer, 99, 100);
        await c.CallAsync("SELECT", "0");
        Assert.Equal(0, (await c.CallAsync("DBSIZE")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("SWAPDB", "0", "0"));
        await AssertErrorAsync(c, "ERR DB index is out of range", "SWAPDB", "44", "55");
        await AssertErrorAsync(c, "ERR invalid second DB index", "SWAPDB", "44", "a");
        await AssertErrorAsync(c, "ERR invalid first DB index", "SWAPDB", "a", "55");
        await AssertErrorAsync(c, "ERR invalid first DB index", "SWAPDB", "99999999999", "0");
    }

    [Fact]
    public async Task FlushDbAndFlushAll()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "a", "1");
        await c.CallAsync("SELECT", "1");
        await c.CallAsync("SET", "b", "1");
        Assert.Equal("OK", await c.CallTextAsync("FLUSHDB", "ASYNC"));
        Assert.Equal(0, (await c.CallAsync("DBSIZE")).Integer);
        await c.CallAsync("SELECT", "0");
        Assert.Equal(1, (await c.CallAsync("DBSIZE")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("FLUSHALL", "sync"));
        Assert.Equal(0, (await c.CallAsync("DBSIZE")).Integer);
        await AssertErrorAsync(c, "ERR syntax error", "FLUSHDB", "x");
        await AssertErrorAsync(c, "ERR syntax error", "FLUSHDB", "ASYNC", "x");
        await AssertErrorAsync(c, "ERR syntax error", "FLUSHALL", "lazy");
    }

    [Fact]
    public async Task ObjectEncodingAndRefcount()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "int", "12");
        await c.CallAsync("SET", "bigint", "123456");
        await c.CallAsync("SET", "emb", "hello");
        await c.CallAsync("SET", "raw", new string('x', 45));
        Assert.Equal("int", await c.CallTextAsync("OBJECT", "ENCODING", "int"));
        Assert.Equal("embstr", await c.CallTextAsync("OBJECT", "encoding", "emb"));
        Assert.Equal("raw", await c.CallTextAsync("OBJECT", "ENCODING", "raw"));
        Assert.True((await c.CallAsync("OBJECT", "ENCODING", "missing")).IsNull);
        Assert.Equal(int.MaxValue, (await c.CallAsync("OBJECT", "REFCOUNT", "int")).Integer);
        Assert.Equal(1, (await c.CallAsync("OBJECT", "REFCOUNT", "bigint")).Integer);
        Assert.Equal(1, (await c.CallAsync("OBJECT", "REFCOUNT", "emb")).Integer);
        // The LRU clock counts seconds: a second may turn between SET and this (Valkey's too).
        Assert.InRange((await c.CallAsync("OBJECT", "IDLETIME", "emb")).Integer, 0, 1);
        await AssertErrorAsync(c,
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            "OBJECT", "FREQ", "emb");
        Assert.True((await c.CallAsync("OBJECT", "FREQ", "missing")).IsNull);
        await AssertErrorAsync(c, "ERR unknown subcommand 'foo'. Try OBJECT HELP.", "OBJECT", "foo", "emb");
        await AssertErrorAsync(c, "ERR wrong number of arguments for 'object|encoding' command", "OBJECT", "ENCODING");
    }

    [Fact]
    public async Task ObjectHelpListsSubcommands()
    {
        await using var c = await FreshAsync();
        var help = await c.CallAsync("object", "help");
        Assert.Equal(15, help.Items!.Count);
        Assert.All(help.Items, i => Assert.Equal('+', i.Kind));
        Assert.Equal("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", help.Items[0].Text);
        Assert.Equal("ENCODING <key>", help.Items[1].Text);
        Assert.Equal("HELP", help.Items[13].Text);
        Assert.Equal("    Print this help.", help.Items[14].Text);
    }

    [Fact]
    public async Task ObjectFreqUnderAnLfuPolicy()
    {
        await using var server = await TestServer.StartAsync(("maxmemory-policy", "allkeys-lfu"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "k", "v");
        Assert.Equal(5, (await c.CallAsync("OBJECT", "FREQ", "k")).Integer); // LFU_INIT_VAL, not touched by OBJECT
        for (int i = 0; i < 100; i++) await c.CallAsync("GET", "k");
        Assert.True((await c.CallAsync("OBJECT", "FREQ", "k")).Integer > 5);
        await AssertErrorAsync(c,
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
            "OBJECT", "IDLETIME", "k");
    }

    [Fact]
    public async Task ExpiredKeysAreInvisibleToEveryReadPath()
    {
        await using var c = await FreshAsync();
        _server.Server.ActiveExpireEnabled = false;
        try
        {
            await c.CallAsync("SET", "k", "v");
            await c.CallAsync("PEXPIRE", "k", "1");
            await Task.Delay(20);
            Assert.Equal(0, (await c.CallAsync("EXISTS", "k")).Integer);
            Assert.Equal("none", await c.CallTextAsync("TYPE", "k"));
            Assert.True((await c.CallAsync("OBJECT", "ENCODING", "k")).IsNull);
            Assert.Equal(0, (await c.CallAsync("TOUCH", "k")).Integer);
            await AssertErrorAsync(c, "ERR no such key", "RENAME", "k", "k2");
            Assert.Equal(0, (await c.CallAsync("COPY", "k", "k2")).Integer);
            Assert.Equal(0, (await c.CallAsync("MOVE", "k", "1")).Integer);
            Assert.Equal(-2, (await c.CallAsync("TTL", "k")).Integer);
            Assert.Equal(0, (await c.CallAsync("DBSIZE")).Integer); // the lookups reclaimed it
        }
        finally
        {
            _server.Server.ActiveExpireEnabled = true;
        }
    }

    [Fact]
    public async Task CopyOfAValueTypeWithoutDuplicateIsRefused()
    {
        await using var c = await FreshAsync();
        lock (_server.Server.DataLock) _server.Server.Databases[0].AddObject("odd"u8, new OpaqueValue());
        await AssertErrorAsync(c, "ERR unknown type object", "COPY", "odd", "odd2");
        Assert.Equal(0, (await c.CallAsync("EXISTS", "odd2")).Integer);
    }

    private sealed class OpaqueValue : IDataValue
    {
        public DataType Type => DataType.Hash;
        public ValueEncoding Encoding => ValueEncoding.Hashtable;
        public long MemoryUsage => 64;
    }
}
