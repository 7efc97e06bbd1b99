using System.Net;
using System.Net.Sockets;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Config;

/// <summary>CONFIG GET / SET / RESETSTAT / REWRITE / HELP over TCP, with Valkey's replies.</summary>
public sealed class ConfigCommandTests
{
    private static Dictionary<string, string> AsMap(RespValue reply)
    {
        Assert.NotNull(reply.Items);
        var map = new Dictionary<string, string>();
        for (int i = 0; i < reply.Items!.Count; i += 2) map.Add(reply.Items[i].Text!, reply.Items[i + 1].Text!);
        return map;
    }

    [Fact]
    public async Task GetExactNamesPatternsAndAliases()
    {
        await using var server = await TestServer.StartAsync(("maxmemory", "1mb"));
        await using var c = await server.ConnectAsync();

        var one = await c.CallAsync("CONFIG", "GET", "maxmemory");
        Assert.Equal("[maxmemory, 1048576]", one.ToString());

        // An exact name answers under the name as given; duplicates collapse case-insensitively.
        Assert.Equal("[MAXMEMORY, 1048576]", (await c.CallAsync("CONFIG", "GET", "MAXMEMORY", "maxmemory", "max*ory")).ToString());

        var res = AsMap(await c.CallAsync("CONFIG", "GET", "maxmemory", "maxmemory*", "bind", "*of"));
        Assert.True(res.ContainsKey("slaveof") && res.ContainsKey("replicaof"));
        Assert.True(res.ContainsKey("maxmemory-samples") && res.ContainsKey("maxmemory-clients") && res.ContainsKey("maxmemory-policy"));
        Assert.Equal("127.0.0.1", res["bind"]);

        Assert.Equal("[]", (await c.CallAsync("CONFIG", "GET", "nosuchparameter")).ToString());
        Assert.Equal("[]", (await c.CallAsync("CONFIG", "GET", "nosuch*")).ToString());

        var all = AsMap(await c.CallAsync("CONFIG", "GET", "*"));
        Assert.Equal(217, all.Count); // Valkey 8.1's 215 and Kvasir's metrics-port, metrics-bind
        Assert.Equal("3600 1 300 100 60 10000", all["save"]);
        Assert.Equal(all["hash-max-listpack-entries"], all["hash-max-ziplist-entries"]);

        var classes = AsMap(await c.CallAsync("CONFIG", "GET", "[pm]ort", "h?", "maxmemory-polic[^x]"));
        Assert.Equal(new[] { "port", "hz", "maxmemory-policy" }, classes.Keys.ToArray());
    }

    [Fact]
    public async Task HiddenParametersOnlyByExactName()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.DoesNotContain("key-load-delay", AsMap(await c.CallAsync("CONFIG", "GET", "*")).Keys);
        Assert.DoesNotContain("key-load-delay", AsMap(await c.CallAsync("CONFIG", "GET", "key-load*")).Keys);
        Assert.Equal("0", AsMap(await c.CallAsync("CONFIG", "GET", "key-load-delay"))["key-load-delay"]);
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "key-load-delay", "-5")).Text);
        Assert.Equal("-5", AsMap(await c.CallAsync("CONFIG", "GET", "key-load-delay"))["key-load-delay"]);
    }

    [Fact]
    public async Task GetUsesRespThreeMaps()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("HELLO", "3");
        await c.SendAsync("CONFIG", "GET", "port");
        Assert.Equal("%1\r\n$4\r\nport\r\n$1\r\n0\r\n", await c.ReadRawAsync(21));
    }

    [Fact]
    public async Task SetSeveralAtOnce()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", "10000001", "repl-backlog-size", "10000002", "save", "3000 5")).Text);
        var got = AsMap(await c.CallAsync("CONFIG", "GET", "maxmemory", "repl-backlog-size", "save"));
        Assert.Equal("10000001", got["maxmemory"]);
        Assert.Equal("10000002", got["repl-backlog-size"]);
        Assert.Equal("3000 5", got["save"]);
        Assert.Equal(10000001, server.Server.Config.MaxMemory);
    }

    [Fact]
    public async Task SetErrorsAreValkeys()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        async Task<string> Err(params object[] args)
        {
            var r = await c.CallAsync(args);
            Assert.True(r.IsError, r.ToString());
            return r.Text!;
        }

        Assert.Equal("ERR wrong number of arguments for 'config|set' command", await Err("CONFIG", "SET", "port"));
        Assert.Equal("ERR syntax error", await Err("CONFIG", "SET", "maxmemory", "1", "hz"));
        Assert.Equal("ERR Unknown option or number of arguments for CONFIG SET - 'foo'", await Err("CONFIG", "SET", "foo", "bar"));
        Assert.Equal("ERR Unknown option or number of arguments for CONFIG SET - 'foo'", await Err("CONFIG", "SET", "maxmemory", "5mb", "foo", "bar"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - duplicate parameter",
            await Err("CONFIG", "SET", "maxmemory", "10000001", "maxmemory", "10000002"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'MAXMEMORY') - duplicate parameter",
            await Err("CONFIG", "SET", "maxmemory", "1", "MAXMEMORY", "2"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config",
            await Err("CONFIG", "SET", "daemonize", "yes"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config",
            await Err("CONFIG", "SET", "daemonize", "yes", "foo", "bar"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config",
            await Err("CONFIG", "SET", "dir", "/tmp"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
            await Err("CONFIG", "SET", "maxmemory", "abc"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer",
            await Err("CONFIG", "SET", "hz", "+1"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive",
            await Err("CONFIG", "SET", "timeout", "-1"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'slave-read-only') - argument must be 'yes' or 'no'",
            await Err("CONFIG", "SET", "SLAVE-READ-ONLY", "maybe"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters",
            await Err("CONFIG", "SET", "save", "100  10"));
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: " +
                     "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            await Err("CONFIG", "SET", "maxmemory-policy", "lru"));
        // Errors count in errorstats like every error reply.
        Assert.True(server.Server.Stats.ErrorCodes["ERR"] >= 10);
    }

    [Fact]
    public async Task AliasAndMainNameAreDistinctEntries()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "slave-read-only", "no", "replica-read-only", "no")).Text);
        Assert.Equal("no", AsMap(await c.CallAsync("CONFIG", "GET", "slave-read-only"))["slave-read-only"]);
    }

    [Fact]
    public async Task FailedSetRollsEverythingBack()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", "10000002")).Text);
        var err = await c.CallAsync("CONFIG", "SET", "maxmemory", "10000001", "maxmemory-clients", "200%", "client-query-buffer-limit", "invalid");
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100", err.Text);
        var got = AsMap(await c.CallAsync("CONFIG", "GET", "maxmemory", "maxmemory-clients", "client-query-buffer-limit"));
        Assert.Equal("10000002", got["maxmemory"]);
        Assert.Equal("0", got["maxmemory-clients"]);
        Assert.Equal("1073741824", got["client-query-buffer-limit"]);
    }

    [Fact]
    public async Task PortChangeRebindsAndAFailedBindRollsBack()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();

        int free = FreePort();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "port", free.ToString(), "maxmemory", "10000001")).Text);
        await using (var moved = await RespClient.ConnectAsync("127.0.0.1", free))
            Assert.Equal("PONG", (await moved.CallAsync("PING")).Text);

        using var blocker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blocker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blocker.Listen();
        int used = ((IPEndPoint)blocker.LocalEndPoint!).Port;
        var err = await c.CallAsync("CONFIG", "SET", "maxmemory", "20000002", "port", used.ToString(), "timeout", "7");
        Assert.StartsWith("ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port", err.Text);
        var got = AsMap(await c.CallAsync("CONFIG", "GET", "port", "maxmemory", "timeout"));
        Assert.Equal(free.ToString(), got["port"]);
        Assert.Equal("10000001", got["maxmemory"]);
        Assert.Equal("0", got["timeout"]);
        // The previous listener is back.
        await using var again = await RespClient.ConnectAsync("127.0.0.1", free);
        Assert.Equal("PONG", (await again.CallAsync("PING")).Text);
    }

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    [Fact]
    public async Task ProtectedConfigsFollowEnableProtectedConfigs()
    {
        await using var server = await TestServer.StartAsync(("enable-protected-configs", "local"));
        await using var c = await server.ConnectAsync();
        string dir = Directory.GetCurrentDirectory();
        try
        {
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "dbfilename", "other.rdb")).Text);
            Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a filename",
                (await c.CallAsync("CONFIG", "SET", "dbfilename", "a/b.rdb")).Text);
            Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory",
                (await c.CallAsync("CONFIG", "SET", "dir", "/nonexistent/kvasir")).Text);
        }
        finally
        {
            Directory.SetCurrentDirectory(dir);
        }
    }

    [Fact]
    public async Task SettingEveryParameterToItsOwnValueChangesNothing()
    {
        // Valkey's "CONFIG sanity" test: GET *, SET each value back, GET * again.
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        var skip = new HashSet<string> { "dir", "dbfilename" }; // protected
        var before = AsMap(await c.CallAsync("CONFIG", "GET", "*"));
        foreach (var (name, value) in before)
        {
            var p = server.Server.Config.Find(name)!;
            if (p.Has(Kvasir.Config.ConfigFlags.Immutable) || skip.Contains(name)) continue;
            var r = await c.CallAsync("CONFIG", "SET", name, value);
            Assert.True(r.Text == "OK", $"{name} '{value}': {r.Text}");
        }
        var after = AsMap(await c.CallAsync("CONFIG", "GET", "*"));
        Assert.Equal(before, after);
    }

    [Fact]
    public async Task ValuesRoundTripThroughTheirCanonicalForm()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        async Task<string> SetGet(string name, string value)
        {
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", name, value)).Text);
            return AsMap(await c.CallAsync("CONFIG", "GET", name))[name];
        }
        Assert.Equal("1073741824", await SetGet("maxmemory", "1GB"));
        Assert.Equal("0", await SetGet("maxmemory", "mb"));
        Assert.Equal("500", await SetGet("hz", "1000"));
        Assert.Equal("1", await SetGet("hz", "0"));
        Assert.Equal("AKE", await SetGet("notify-keyspace-events", "KEA"));
        Assert.Equal("AKEm", await SetGet("notify-keyspace-events", "KEAmn"));
        Assert.Equal("gxK", await SetGet("notify-keyspace-events", "Kgx"));
        Assert.Equal("", await SetGet("notify-keyspace-events", ""));
        Assert.Equal("yes", await SetGet("oom-score-adj", "relative"));
        Assert.Equal("nosave now force", await SetGet("shutdown-on-sigterm", "force NOSAVE now"));
        Assert.Equal("50%", await SetGet("maxmemory-clients", "50%"));
        Assert.Equal("50 99.99 100", await SetGet("latency-tracking-info-percentiles", "50 99.99 100"));
        Assert.Equal("", await SetGet("latency-tracking-info-percentiles", ""));
        Assert.Equal("normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
            await SetGet("client-output-buffer-limit", "normal 1mb 512kb 10"));
        Assert.Equal("", await SetGet("save", ""));
        Assert.Equal("notice", await SetGet("loglevel", "NOTICE"));
        Assert.Equal("5000", await SetGet("busy-reply-threshold", "5000"));
        Assert.Equal("100", await SetGet("lua-time-limit", "100"));
        Assert.Equal("100", AsMap(await c.CallAsync("CONFIG", "GET", "busy-reply-threshold"))["busy-reply-threshold"]);
    }

    [Fact]
    public async Task ChangedParametersReachTheServer()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu", "loglevel", "debug")).Text);
        Assert.True(server.Server.Keyspace.UseLfu);
        Assert.Equal(Kvasir.Observability.LogLevel.Debug, server.Server.Log.Level);
    }

    [Fact]
    public async Task ResetStatClearsCountersButNotTheSlowlog()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "k", "v");
        await c.CallAsync("GET", "k");
        await c.CallAsync("GET", "missing");
        await c.CallAsync("CONFIG", "SET", "foo", "bar");
        var s = server.Server;
        s.SlowLog.Add(new[] { "x"u8.ToArray() }, 1, "peer", "", 128);
        Assert.True(s.Keyspace.KeyspaceHits > 0 && s.Keyspace.KeyspaceMisses > 0 && s.Stats.TotalErrorReplies > 0);
        Assert.True(s.Commands.FindByFullName("get")!.Calls > 0);

        Assert.Equal("OK", (await c.CallAsync("CONFIG", "RESETSTAT")).Text);
        Assert.Equal(0, s.Keyspace.KeyspaceHits);
        Assert.Equal(0, s.Keyspace.KeyspaceMisses);
        Assert.Equal(0, s.Stats.TotalErrorReplies);
        Assert.Empty(s.Stats.ErrorCodes);
        Assert.Equal(0, s.Commands.FindByFullName("get")!.Calls);
        Assert.Equal(0, s.Commands.FindByFullName("config|set")!.FailedCalls);
        Assert.Equal(1, s.SlowLog.Count);
    }

    [Fact]
    public async Task RewriteWithoutConfigFile()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("ERR The server is running without a config file", (await c.CallAsync("CONFIG", "REWRITE")).Text);
    }

    [Fact]
    public async Task RewriteKeepsCommentsAndUnknownLinesAndAppendsChanges()
    {
        string dir = Path.Combine(Path.GetTempPath(), "kvasir-rw-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string file = Path.Combine(dir, "valkey.conf");
        File.WriteAllText(file,
            "# My server\n" +
            "save 900 1\n" +
            "save 300 10\n" +
            "   # indented\n" +
            "slave-read-only yes\n" +
            "rename-command FLUSHALL \"\"\n" +
            "maxmemory 100mb\n" +
            "no-longer-a-parameter 5\n");
        try
        {
            await using var server = await TestServer.StartAsync(("save", "900 1 300 10"), ("maxmemory", "100mb"));
            server.Server.Config.ConfigFile = file;
            await using var c = await server.ConnectAsync();
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", "2gb", "save", "3600 5", "timeout", "30",
                "masterauth", "p\"w", "notify-keyspace-events", "Ex", "replica-read-only", "no")).Text);
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "REWRITE")).Text);
            string expected =
                "# My server\n" +
                "save 3600 5\n" +
                "\n" +
                "# indented\n" +
                "replica-read-only no\n" +
                "rename-command FLUSHALL \"\"\n" +
                "maxmemory 2gb\n" +
                "# ??? no-longer-a-parameter 5\n" +
                "\n" +
                "# Generated by CONFIG REWRITE\n" +
                "primaryauth \"p\\\"w\"\n" +
                "timeout 30\n" +
                $"dir \"{Directory.GetCurrentDirectory()}\"\n" +
                "notify-keyspace-events \"xE\"\n" +
                "port 0\n" +
                "bind 127.0.0.1\n" +
                "loglevel warning\n" +
                "latency-tracking-info-percentiles 50 99 99.9\n" +
                // Users are always written (no aclfile), the default user too, as Valkey does.
                "user default on nopass sanitize-payload ~* &* +@all\n";
            string actual = File.ReadAllText(file);
            Assert.Equal(expected.Split('\n').Order(), actual.Split('\n').Order());
            Assert.StartsWith(expected[..expected.IndexOf("# Generated", StringComparison.Ordinal)], actual);
            Assert.Single(Directory.GetFiles(dir));

            // Rewrites with nothing changed are stable (once the file ends with an empty line, as Valkey's do).
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "REWRITE")).Text);
            string second = File.ReadAllText(file);
            Assert.Equal(actual + "\n", second);
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "REWRITE")).Text);
            Assert.Equal(second, File.ReadAllText(file));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task RewrittenFileLoadsBackToTheSameValues()
    {
        string dir = Path.Combine(Path.GetTempPath(), "kvasir-rw-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string file = Path.Combine(dir, "valkey.conf");
        File.WriteAllText(file, "");
        try
        {
            await using var server = await TestServer.StartAsync();
            server.Server.Config.ConfigFile = file;
            await using var c = await server.ConnectAsync();
            await c.CallAsync("CONFIG", "SET", "save", "", "client-output-buffer-limit", "pubsub 1mb 0 0", "shutdown-on-sigint", "nosave now",
                "latency-tracking-info-percentiles", "", "maxmemory-clients", "10%", "replica-announce-ip", "a b");
            var before = AsMap(await c.CallAsync("CONFIG", "GET", "*"));
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "REWRITE")).Text);

            var loaded = new Kvasir.Config.ServerConfig();
            Kvasir.Config.ConfigFileParser.Load(loaded, file, null, null);
            foreach (var (name, p) in loaded.Names)
            {
                if (p.Has(Kvasir.Config.ConfigFlags.Hidden) || name is "port") continue;
                Assert.True(before[name] == p.Get(), $"{name}: '{before[name]}' became '{p.Get()}'");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task HelpListsTheSubcommands()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        var help = await c.CallAsync("CONFIG", "HELP");
        Assert.Equal("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", help.Items![0].Text);
        Assert.Equal('+', help.Items[0].Kind);
        Assert.Contains(help.Items, i => i.Text == "RESETSTAT");
        Assert.Equal("    Print this help.", help.Items[^1].Text);
        Assert.Equal("ERR unknown subcommand 'FOO'. Try CONFIG HELP.", (await c.CallAsync("CONFIG", "FOO")).Text);
    }

    [Fact]
    public async Task RenamedCommandsAnswerToTheirNewName()
    {
        var config = new Kvasir.Config.ServerConfig();
        Kvasir.Config.ConfigFileParser.LoadFromString(config, "rename-command GET fetch\nrename-command ECHO \"\"\nport 0\nbind 127.0.0.1\n");
        await using var server = new KvasirServer(config);
        await server.StartAsync();
        await using var c = await RespClient.ConnectAsync("127.0.0.1", server.BoundPort);
        await c.CallAsync("SET", "k", "v");
        Assert.Equal("v", (await c.CallAsync("FETCH", "k")).Text);
        Assert.StartsWith("ERR unknown command 'GET'", (await c.CallAsync("GET", "k")).Text);
        Assert.StartsWith("ERR unknown command 'ECHO'", (await c.CallAsync("ECHO", "x")).Text);
    }
}
