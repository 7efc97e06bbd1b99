using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Server.ServerTestHelpers;

namespace Kvasir.Tests.Server;

public sealed class DebugCommandsTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public DebugCommandsTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task DebugIsRefusedUnlessEnabled()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        var reply = await c.CallAsync("DEBUG", "SLEEP", "0");
        Assert.Equal("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.", reply.Text);
        var stats = (await c.CallTextAsync("INFO", "commandstats"))!;
        Assert.Equal("calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0", Field(stats, "cmdstat_debug"));
    }

    [Fact]
    public async Task DebugLocalAllowsLoopbackClients()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "local"));
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "SLEEP", "0"));
    }

    [Fact]
    public async Task DigestMatchesValkey()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        Assert.Equal(new string('0', 40), await c.CallTextAsync("DEBUG", "DIGEST"));
        await c.CallAsync("SET", "foo", "bar");
        await c.CallAsync("SET", "n", "12345");
        // Values computed by a real Valkey for the same dataset.
        Assert.Equal("cd5a02343543db03481294f2a80f5609dd27c72b", await c.CallTextAsync("DEBUG", "DIGEST"));
        Assert.Equal("[68467c70ae30376e7ce005bcc8827f5ba7fd67dc, e1cf90774e995ae03de66e8109dc5cb9d9c2dc83, 0000000000000000000000000000000000000000]",
            (await c.CallAsync("DEBUG", "DIGEST-VALUE", "foo", "n", "missing")).ToString());
    }

    [Fact]
    public async Task DigestOfEveryTypeMatchesValkey()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("RPUSH", "l", "a", "b", "3", "-5", "x y");
        await c.CallAsync("SADD", "si", "1", "2", "3");
        await c.CallAsync("SADD", "ss", "a", "b", "c", "10");
        await c.CallAsync("HSET", "h", "f1", "v1", "f2", "2");
        await c.CallAsync("ZADD", "z", "1", "a", "2.5", "b", "1e18", "c", "-0.125", "d", "100000000", "e");
        await c.CallAsync("SET", "e", "1");
        await c.CallAsync("EXPIRE", "e", "1000");
        // Values computed by a real Valkey for the same dataset.
        Assert.Equal("0a0d5e72a58f4e07eec1e1b3fae965a509e47aef", await c.CallTextAsync("DEBUG", "DIGEST"));
        Assert.Equal("[60e84964f2d7e4e7a0328798f1c70743c7835f16, 2a462a3f51a1db89738ebbeef0c47ce1bbc85246, e8e95c0569b53a3f5173aee20faee447fe695d97, " +
                     "fc076e867f7dbf566ea58172a151d82d78b8f845, 0c4fc19cf2bc55c6b2a886db0890f0adf74641ba, 5279988c5d1911f474bcbbf2f0a87012d40f8459]",
            (await c.CallAsync("DEBUG", "DIGEST-VALUE", "l", "si", "ss", "h", "z", "e")).ToString());
        // Larger values in their other encodings (quicklist/hashtable/skiplist) hash the same as in Valkey too.
        for (int i = 0; i < 300; i++)
        {
            await c.CallAsync("RPUSH", "big", "element-" + i);
            await c.CallAsync("HSET", "bigh", "f" + i, "v" + i);
            await c.CallAsync("ZADD", "bigz", (i * 1.5).ToString(System.Globalization.CultureInfo.InvariantCulture), "m" + i);
        }
        for (int i = 0; i < 600; i++) await c.CallAsync("SADD", "bigs", "m" + i);
        Assert.Equal("1cd89f2f9d84d5edb924907772b43fd0d0c6bdb2", await c.CallTextAsync("DEBUG", "DIGEST"));
    }

    [Fact]
    public async Task ObjectDescribesTheValue()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "dbg:s", "hello");
        await c.CallAsync("SET", "dbg:n", "20000");
        await c.CallAsync("SET", "dbg:shared", "42");
        var s = (await c.CallTextAsync("DEBUG", "OBJECT", "dbg:s"))!;
        Assert.Matches(@"^Value at:0x[0-9a-f]+ refcount:1 encoding:embstr serializedlength:6 lru:\d+ lru_seconds_idle:\d+ lfu_freq:\d+ lfu_access_time_minutes:\d+$", s);
        Assert.Contains("encoding:int serializedlength:3 ", (await c.CallTextAsync("DEBUG", "OBJECT", "dbg:n"))!);
        Assert.Contains("refcount:2147483647 encoding:int", (await c.CallTextAsync("DEBUG", "OBJECT", "dbg:shared"))!);
        Assert.DoesNotContain("serializedlength", (await c.CallTextAsync("DEBUG", "OBJECT", "dbg:s", "fast"))!);
        Assert.Equal("ERR no such key", (await c.CallAsync("DEBUG", "OBJECT", "dbg:missing")).Text);
    }

    [Fact]
    public async Task ObjectShowsTheQuicklistLayout()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        for (int i = 1; i <= 1000; i++) await c.CallAsync("RPUSH", "ql", "element-number-" + i);
        // The layout a real Valkey reports for the same list.
        Assert.EndsWith(" ql_nodes:3 ql_avg_node:333.33 ql_listpack_max:-2 ql_compressed:0 ql_uncompressed_size:19914", (await c.CallTextAsync("DEBUG", "OBJECT", "ql"))!);
        Assert.EndsWith(" ql_compressed:0", (await c.CallTextAsync("DEBUG", "OBJECT", "ql", "fast"))!);
    }

    [Fact]
    public async Task ProtocolSamplesInResp2()
    {
        await using var c = await _server.ConnectAsync();
        async Task Expect(string type, string expected)
        {
            await c.SendAsync("DEBUG", "PROTOCOL", type);
            Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        }
        await Expect("string", "$11\r\nHello World\r\n");
        await Expect("integer", ":12345\r\n");
        await Expect("double", "$5\r\n3.141\r\n");
        await Expect("bignum", "$37\r\n1234567999999999999999999999999999999\r\n");
        await Expect("null", "$-1\r\n");
        await Expect("set", "*3\r\n:0\r\n:1\r\n:2\r\n");
        await Expect("map", "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n");
        await Expect("true", ":1\r\n");
        await Expect("verbatim", "$25\r\nThis is a verbatim\nstring\r\n");
        await Expect("attrib", "$39\r\nSome real reply following the attribute\r\n");
        await Expect("push", "-ERR RESP2 is not supported by this command\r\n");
        Assert.StartsWith("ERR Wrong protocol type name.", (await c.CallAsync("DEBUG", "PROTOCOL", "nope")).Text);
    }

    [Fact]
    public async Task ProtocolSamplesInResp3()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await UseResp3ForNewestClient(server, c);
        async Task Expect(string type, string expected)
        {
            await c.SendAsync("DEBUG", "PROTOCOL", type);
            Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        }
        await Expect("double", ",3.141\r\n");
        await Expect("bignum", "(1234567999999999999999999999999999999\r\n");
        await Expect("null", "_\r\n");
        await Expect("set", "~3\r\n:0\r\n:1\r\n:2\r\n");
        await Expect("map", "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n");
        await Expect("false", "#f\r\n");
        await Expect("verbatim", "=29\r\ntxt:This is a verbatim\nstring\r\n");
        const string attrib = "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n$39\r\nSome real reply following the attribute\r\n";
        await Expect("attrib", attrib);
        const string push = "$40\r\nSome real reply following the push reply\r\n>2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n";
        await Expect("push", push);
    }

    [Fact]
    public async Task PopulateCreatesMissingKeysOnly()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "key:1", "mine");
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "POPULATE", "3"));
        Assert.Equal("value:0", await c.CallTextAsync("GET", "key:0"));
        Assert.Equal("mine", await c.CallTextAsync("GET", "key:1"));
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "POPULATE", "2", "p", "10"));
        Assert.Equal("value:0\0\0\0", await c.CallTextAsync("GET", "p:0"));
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "POPULATE", "1", "q", "3"));
        Assert.Equal("val", await c.CallTextAsync("GET", "q:0"));
        Assert.Equal("ERR value is out of range, must be positive", (await c.CallAsync("DEBUG", "POPULATE", "-1")).Text);
        Assert.Equal("1", Field((await c.CallTextAsync("INFO", "persistence"))!, "rdb_changes_since_last_save"));
    }

    [Fact]
    public async Task KnobsAndMiscellaneous()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "SET-ACTIVE-EXPIRE", "0"));
        Assert.False(server.Server.ActiveExpireEnabled);
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "PAUSE-CRON", "1"));
        Assert.True(server.Server.CronPaused);
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "PAUSE-CRON", "0"));
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"));
        Assert.Equal(100, server.Server.Debug.QuicklistPackedThreshold);
        Assert.Equal("ERR argument must be a memory value bigger than 1 and smaller than 4gb", (await c.CallAsync("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb")).Text);
        string replid = server.Server.Replication.ReplId;
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "CHANGE-REPL-ID"));
        Assert.NotEqual(replid, server.Server.Replication.ReplId);
        Assert.Equal("MY custom error", (await c.CallAsync("DEBUG", "ERROR", "MY custom error")).Text);
        Assert.Equal("Apparently the server did not crash: test passed", await c.CallTextAsync("DEBUG", "STRINGMATCH-TEST"));
        Assert.Equal("ERR unknown subcommand or wrong number of arguments for 'NOSUCH'. Try DEBUG HELP.", (await c.CallAsync("DEBUG", "NOSUCH")).Text);
        Assert.Equal("ERR wrong number of arguments for 'debug' command", (await c.CallAsync("DEBUG")).Text);
        var help = await c.CallAsync("DEBUG", "HELP");
        Assert.Equal("DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", help.Items![0].Text);
    }

    [Fact]
    public async Task SleepBlocksTheServer()
    {
        await using var c = await _server.ConnectAsync();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "SLEEP", "0.1"));
        Assert.True(watch.ElapsedMilliseconds >= 95);
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "SLEEP", "nonsense"));
    }
}
