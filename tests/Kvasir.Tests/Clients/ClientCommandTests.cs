using System.Text.RegularExpressions;
using Kvasir.Keyspace;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Clients;

/// <summary>CLIENT subcommands.</summary>
public sealed class ClientCommandTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ClientCommandTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static string Field(string line, string name) =>
        Regex.Match(line, $"(?:^| ){Regex.Escape(name)}=(\\S*)").Groups[1].Value;

    [Fact]
    public async Task IdIsUniqueAndIncreasing()
    {
        await using var a = await _server.ConnectAsync();
        await using var b = await _server.ConnectAsync();
        long ida = (await a.CallAsync("CLIENT", "ID")).Integer;
        long idb = (await b.CallAsync("CLIENT", "ID")).Integer;
        Assert.True(idb > ida);
    }

    [Fact]
    public async Task SetNameGetName()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Null(await c.CallTextAsync("CLIENT", "GETNAME"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "SETNAME", "myname"));
        Assert.Equal("myname", await c.CallTextAsync("CLIENT", "GETNAME"));
        Assert.Equal("ERR Client names cannot contain spaces, newlines or special characters.", await c.CallTextAsync("CLIENT", "SETNAME", "a b"));
        Assert.Equal("ERR Client names cannot contain spaces, newlines or special characters.", await c.CallTextAsync("CLIENT", "SETNAME", "a\nb"));
        Assert.Equal("myname", await c.CallTextAsync("CLIENT", "GETNAME"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "SETNAME", ""));
        Assert.Null(await c.CallTextAsync("CLIENT", "GETNAME"));
        Assert.Equal("ERR wrong number of arguments for 'client|getname' command", await c.CallTextAsync("CLIENT", "GETNAME", "x"));
    }

    [Fact]
    public async Task SetInfo()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "SETINFO", "lib-name", "redis.py"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "SETINFO", "LIB-VER", "1.2.3"));
        Assert.Equal("ERR LIB-NAME cannot contain spaces, newlines or special characters.", await c.CallTextAsync("CLIENT", "SETINFO", "LIB-NAME", "a b"));
        Assert.Equal("ERR Unrecognized option 'badger'", await c.CallTextAsync("CLIENT", "SETINFO", "badger", "x"));
        Assert.Contains(" lib-name=redis.py lib-ver=1.2.3 ", await c.CallTextAsync("CLIENT", "INFO"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "SETINFO", "lib-name", ""));
        Assert.Contains(" lib-name= lib-ver=1.2.3 ", await c.CallTextAsync("CLIENT", "INFO"));
    }

    [Fact]
    public async Task InfoHasValkeysFieldsInOrder()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SELECT", "3");
        var info = (await c.CallTextAsync("CLIENT", "INFO"))!;
        Assert.EndsWith("\n", info);
        var names = Regex.Matches(info.TrimEnd('\n'), @"(?:^| )([a-z-]+)=").Select(m => m.Groups[1].Value).ToArray();
        Assert.Equal(new[]
        {
            "id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub", "ssub", "multi", "watch",
            "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl", "oll", "omem", "tot-mem", "events", "cmd",
            "user", "redir", "resp", "lib-name", "lib-ver", "tot-net-in", "tot-net-out", "tot-cmds",
        }, names);
        Assert.Matches(@"^id=\d+ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ fd=\d+ name= age=\d+ idle=0 flags=N db=3 sub=0 psub=0 ssub=0 multi=-1 watch=0 qbuf=0 qbuf-free=0 argv-mem=10 multi-mem=0 rbs=\d+ rbp=\d+ obl=0 oll=0 omem=0 tot-mem=\d+ events=r cmd=client\|info user=default redir=-1 resp=2 lib-name= lib-ver= tot-net-in=\d+ tot-net-out=\d+ tot-cmds=1\n$", info);
    }

    [Fact]
    public async Task NetworkAndCommandCountersAdvance()
    {
        await using var c = await _server.ConnectAsync();
        var first = (await c.CallTextAsync("CLIENT", "INFO"))!;
        var second = (await c.CallTextAsync("CLIENT", "INFO"))!;
        // "*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n" is 26 bytes.
        Assert.Equal(long.Parse(Field(first, "tot-net-in")) + 26, long.Parse(Field(second, "tot-net-in")));
        Assert.True(long.Parse(Field(first, "tot-net-out")) + 300 < long.Parse(Field(second, "tot-net-out")));
        Assert.Equal(long.Parse(Field(first, "tot-cmds")) + 1, long.Parse(Field(second, "tot-cmds")));
    }

    [Fact]
    public async Task ListShowsEveryClientAndFilters()
    {
        await using var a = await _server.ConnectAsync();
        await using var b = await _server.ConnectAsync();
        long ida = (await a.CallAsync("CLIENT", "ID")).Integer;
        long idb = (await b.CallAsync("CLIENT", "ID")).Integer;
        await b.CallAsync("CLIENT", "SETNAME", "bee");

        var all = (await a.CallTextAsync("CLIENT", "LIST"))!;
        Assert.Contains($"id={ida} ", all);
        Assert.Contains($"id={idb} ", all);
        Assert.Contains(" name=bee ", all);
        Assert.All(all.TrimEnd('\n').Split('\n'), line => Assert.StartsWith("id=", line));

        var byId = (await a.CallTextAsync("CLIENT", "LIST", "ID", idb.ToString(), "999999"))!;
        Assert.Single(byId.TrimEnd('\n').Split('\n'));
        Assert.StartsWith($"id={idb} ", byId);

        var normal = (await a.CallTextAsync("CLIENT", "LIST", "TYPE", "normal"))!;
        Assert.Contains($"id={ida} ", normal);
        Assert.Equal("", await a.CallTextAsync("CLIENT", "LIST", "TYPE", "pubsub"));
        Assert.Equal("", await a.CallTextAsync("CLIENT", "LIST", "TYPE", "replica"));
        Assert.Equal("", await a.CallTextAsync("CLIENT", "LIST", "TYPE", "master"));

        Assert.Equal("ERR Unknown client type 'foo'", await a.CallTextAsync("CLIENT", "LIST", "TYPE", "foo"));
        Assert.Equal("ERR Invalid client ID", await a.CallTextAsync("CLIENT", "LIST", "ID", "abc"));
        Assert.Equal("ERR syntax error", await a.CallTextAsync("CLIENT", "LIST", "foo"));
        Assert.Equal("ERR syntax error", await a.CallTextAsync("CLIENT", "LIST", "ID"));
    }

    [Fact]
    public async Task ListShowsMultiAndWatchState()
    {
        await using var c = await _server.ConnectAsync();
        long id = (await c.CallAsync("CLIENT", "ID")).Integer;
        await using var observer = await _server.ConnectAsync();
        await c.CallAsync("WATCH", "cl:w1", "cl:w2");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        await c.CallAsync("ECHO", "x");
        var line = (await observer.CallTextAsync("CLIENT", "LIST", "ID", id.ToString()))!;
        Assert.Equal("x", Field(line, "flags"));
        Assert.Equal("2", Field(line, "multi"));
        Assert.Equal("2", Field(line, "watch"));
        Assert.Equal("echo", Field(line, "cmd"));
        Assert.NotEqual("0", Field(line, "multi-mem"));
        await c.CallAsync("DISCARD");
    }

    [Fact]
    public async Task KillOldFormByAddress()
    {
        await using var victim = await _server.ConnectAsync();
        await using var killer = await _server.ConnectAsync();
        var addr = Field((await victim.CallTextAsync("CLIENT", "INFO"))!, "addr");
        Assert.Equal("OK", await killer.CallTextAsync("CLIENT", "KILL", addr));
        Assert.True(await victim.IsClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("ERR No such client", await killer.CallTextAsync("CLIENT", "KILL", addr));
        Assert.Equal("ERR No such client", await killer.CallTextAsync("CLIENT", "KILL", "000.123.321.567:0000"));
        Assert.Equal("ERR No such client", await killer.CallTextAsync("CLIENT", "KILL", "127.0.0.1:"));
    }

    [Fact]
    public async Task KillNewFormFilters()
    {
        await using var victim = await _server.ConnectAsync();
        await using var killer = await _server.ConnectAsync();
        var info = (await victim.CallTextAsync("CLIENT", "INFO"))!;
        long id = long.Parse(Field(info, "id"));
        long killerId = (await killer.CallAsync("CLIENT", "ID")).Integer;

        Assert.Equal(0, (await killer.CallAsync("CLIENT", "KILL", "ID", id.ToString(), "LADDR", "1.2.3.4:5")).Integer);
        Assert.Equal(0, (await killer.CallAsync("CLIENT", "KILL", "ID", killerId.ToString())).Integer); // SKIPME yes by default
        Assert.Equal(1, (await killer.CallAsync("CLIENT", "KILL", "ID", id.ToString(), "ADDR", Field(info, "addr"),
            "LADDR", Field(info, "laddr"), "TYPE", "normal", "USER", "default", "SKIPME", "yes")).Integer);
        Assert.True(await victim.IsClosedAsync(TimeSpan.FromSeconds(5)));
        // The killed client leaves the list at once.
        Assert.Equal("", await killer.CallTextAsync("CLIENT", "LIST", "ID", id.ToString()));
        Assert.Equal("PONG", await killer.CallTextAsync("PING"));
    }

    [Fact]
    public async Task KillCanKillTheCallerAfterReplying()
    {
        await using var c = await _server.ConnectAsync();
        long id = (await c.CallAsync("CLIENT", "ID")).Integer;
        Assert.Equal(1, (await c.CallAsync("CLIENT", "KILL", "ID", id.ToString(), "SKIPME", "no")).Integer);
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task KillArgumentErrors()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR wrong number of arguments for 'client|kill' command", await c.CallTextAsync("CLIENT", "KILL"));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("CLIENT", "KILL", "ID", "10", "wrong_arg"));
        Assert.Equal("ERR client-id should be greater than 0", await c.CallTextAsync("CLIENT", "KILL", "ID", "str"));
        Assert.Equal("ERR client-id should be greater than 0", await c.CallTextAsync("CLIENT", "KILL", "ID", "-1"));
        Assert.Equal("ERR client-id should be greater than 0", await c.CallTextAsync("CLIENT", "KILL", "ID", "0"));
        Assert.Equal("ERR Unknown client type 'wrong_type'", await c.CallTextAsync("CLIENT", "KILL", "TYPE", "wrong_type"));
        Assert.Equal("ERR No such user 'wrong_user'", await c.CallTextAsync("CLIENT", "KILL", "USER", "wrong_user"));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("CLIENT", "KILL", "SKIPME", "yes_or_no"));
        Assert.Equal("ERR maxage is not an integer or out of range", await c.CallTextAsync("CLIENT", "KILL", "MAXAGE", "str"));
        Assert.Equal("ERR maxage is not an integer or out of range", await c.CallTextAsync("CLIENT", "KILL", "MAXAGE", "9999999999999999999"));
        Assert.Equal("ERR maxage should be greater than 0", await c.CallTextAsync("CLIENT", "KILL", "MAXAGE", "-1"));
    }

    [Fact]
    public async Task KillByMaxAgeSparesYoungClients()
    {
        await using var server = await TestServer.StartAsync();
        await using var old = await server.ConnectAsync();
        Assert.Equal("PONG", await old.CallTextAsync("PING"));
        await Task.Delay(2200);
        await using var young = await server.ConnectAsync();
        await using var killer = await server.ConnectAsync();
        Assert.Equal(1, (await killer.CallAsync("CLIENT", "KILL", "MAXAGE", "2")).Integer);
        Assert.True(await old.IsClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("PONG", await young.CallTextAsync("PING"));
    }

    [Fact]
    public async Task KillSkipMeNoKillsEveryone()
    {
        await using var server = await TestServer.StartAsync();
        await using var a = await server.ConnectAsync();
        await using var b = await server.ConnectAsync();
        await using var me = await server.ConnectAsync();
        Assert.Equal("PONG", await a.CallTextAsync("PING"));
        Assert.Equal("PONG", await b.CallTextAsync("PING"));
        Assert.Equal(2, (await me.CallAsync("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")).Integer);
        await using var c = await server.ConnectAsync();
        Assert.Equal(2, (await me.CallAsync("CLIENT", "KILL", "SKIPME", "no", "USER", "default")).Integer);
        Assert.True(await me.IsClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task ReplyOffOnSkip()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendAsync("CLIENT", "REPLY", "OFF");
        await c.SendAsync("PING", "silenced1");
        await c.SendAsync("PING", "silenced2");
        await c.SendAsync("CLIENT", "REPLY", "ON");
        await c.SendAsync("PING", "heard");
        const string expected = "+OK\r\n$5\r\nheard\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));

        await c.SendAsync("CLIENT", "REPLY", "SKIP");
        await c.SendAsync("PING", "skipped");
        await c.SendAsync("PING", "kept");
        Assert.Equal("$4\r\nkept\r\n", await c.ReadRawAsync(10));

        // ON right after SKIP cancels the skip and answers itself.
        await c.SendAsync("CLIENT", "REPLY", "SKIP");
        await c.SendAsync("CLIENT", "REPLY", "ON");
        await c.SendAsync("PING");
        Assert.Equal("+OK\r\n+PONG\r\n", await c.ReadRawAsync(12));

        Assert.Equal("ERR syntax error", await c.CallTextAsync("CLIENT", "REPLY", "maybe"));
    }

    [Fact]
    public async Task NoEvictAndNoTouchShowInFlags()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "NO-EVICT", "on"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "NO-TOUCH", "ON"));
        Assert.Equal("eT", Field((await c.CallTextAsync("CLIENT", "INFO"))!, "flags"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "NO-EVICT", "off"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "NO-TOUCH", "off"));
        Assert.Equal("N", Field((await c.CallTextAsync("CLIENT", "INFO"))!, "flags"));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("CLIENT", "NO-EVICT", "wrongInput"));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("CLIENT", "NO-TOUCH", "wrongInput"));
    }

    [Fact]
    public async Task NoTouchLeavesTheLruClockAlone()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "nt:key", "v");
        var db = server.Server.Databases[0];
        uint Lru()
        {
            lock (server.Server.DataLock) return db.LruAt(db.FindRaw("nt:key"u8));
        }
        void Age()
        {
            lock (server.Server.DataLock) db.SetLruAt(db.FindRaw("nt:key"u8), 1);
        }

        Age();
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "NO-TOUCH", "on"));
        Assert.Equal("v", await c.CallTextAsync("GET", "nt:key"));
        Assert.Equal(1u, Lru());

        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "NO-TOUCH", "off"));
        Assert.Equal("v", await c.CallTextAsync("GET", "nt:key"));
        Assert.NotEqual(1u, Lru());
    }

    [Fact]
    public async Task PauseArgumentErrors()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR timeout is not an integer or out of range", await c.CallTextAsync("CLIENT", "PAUSE", "abc"));
        Assert.Equal("ERR timeout is negative", await c.CallTextAsync("CLIENT", "PAUSE", "-1"));
        Assert.Equal("ERR CLIENT PAUSE mode must be WRITE or ALL", await c.CallTextAsync("CLIENT", "PAUSE", "10", "FOO"));
        Assert.Equal("ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP.", await c.CallTextAsync("CLIENT", "PAUSE", "10", "ALL", "x"));
    }

    [Fact]
    public async Task UnknownSubcommandAndHelp()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR unknown subcommand 'FOO'. Try CLIENT HELP.", await c.CallTextAsync("CLIENT", "FOO"));
        var help = await c.CallAsync("CLIENT", "HELP");
        Assert.StartsWith("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", help.Items![0].Text);
        Assert.Equal("HELP", help.Items[^2].Text);
        Assert.All(help.Items, item => Assert.Equal('+', item.Kind));
    }

    [Fact]
    public async Task CommandsAScriptRunsCountInTheCallersTotCmds()
    {
        await using var c = await _server.ConnectAsync();
        long before = long.Parse(Field((await c.CallTextAsync("CLIENT", "INFO"))!, "tot-cmds"));
        await c.CallAsync("EVAL", "server.call('ping')", "0");
        long after = long.Parse(Field((await c.CallTextAsync("CLIENT", "INFO"))!, "tot-cmds"));
        // EVAL, the PING it ran and this CLIENT INFO, as Valkey counts them.
        Assert.Equal(before + 3, after);
    }

    [Fact]
    public async Task ReplyBufferShrinksWhenIdleAndGrowsWhenBusy()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await admin.CallAsync("DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "100");
        await c.CallAsync("CLIENT", "SETNAME", "rbs-test");
        async Task<long> Rbs()
        {
            string list = (await admin.CallTextAsync("CLIENT", "LIST"))!;
            string line = list.Split('\n').First(l => l.Contains("name=rbs-test "));
            return long.Parse(Field(line, "rbs"));
        }
        long rbs = 0;
        for (int i = 0; i < 100 && !(rbs >= 1024 && rbs < 2046); i++)
        {
            await Task.Delay(50);
            rbs = await Rbs();
        }
        Assert.InRange(rbs, 1024, 2045);
        await admin.CallAsync("SET", "rbs:big", new string('x', 32768));
        await admin.CallAsync("DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "never");
        for (int i = 0; i < 100 && !(rbs >= 16384 && rbs < 32768); i++)
        {
            await c.CallAsync("GET", "rbs:big");
            await Task.Delay(50);
            rbs = await Rbs();
        }
        Assert.InRange(rbs, 16384, 32767);
        Assert.NotEqual("0", Field((await admin.CallTextAsync("INFO", "stats"))!.Replace("\r\n", " ").Replace(':', '='), "reply_buffer_shrinks"));
        await admin.CallAsync("DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "reset");
    }
}
