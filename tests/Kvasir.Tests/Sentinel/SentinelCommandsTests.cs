using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Sentinel.SentinelKit;

namespace Kvasir.Tests.Sentinel;

/// <summary>
/// A Kvasir Sentinel's commands, replies, errors and config file, as Valkey's Sentinel answers them,
/// with in-process data nodes where a monitored primary is needed.
/// </summary>
public sealed class SentinelCommandsTests
{
    private static string Monitor(int port, int quorum = 1) => $"sentinel monitor mymaster 127.0.0.1 {port} {quorum}";

    [Fact]
    public async Task OnlySentinelCommandsExist()
    {
        await using var sentinel = await SentinelServer.StartAsync();
        await using var c = await sentinel.ConnectAsync();
        var list = (await c.CallAsync("COMMAND", "LIST")).Items!.Select(i => i.Text).ToHashSet();
        foreach (var name in new[] { "ping", "info", "subscribe", "sentinel", "role", "auth", "hello", "client", "command", "shutdown", "publish" })
            Assert.Contains(name, list);
        foreach (var name in new[] { "get", "save", "bgrewriteaof", "blpop", "replicaof", "config", "debug" })
        {
            Assert.DoesNotContain(name, list);
            Assert.StartsWith($"ERR unknown command '{name}'", (await c.CallAsync(name)).Text);
        }
        Assert.Equal("ERR unknown subcommand 'no-touch'. Try CLIENT HELP.", (await c.CallAsync("CLIENT", "no-touch", "on")).Text);
        Assert.Equal("ERR unknown subcommand 'foo'. Try SENTINEL HELP.", (await c.CallAsync("SENTINEL", "foo")).Text);
        Assert.Equal("ERR wrong number of arguments for 'sentinel|masters' command", (await c.CallAsync("SENTINEL", "MASTERS", "x")).Text);
        Assert.Equal("PONG", (await c.CallAsync("PING")).Text);
        var hello = (await c.CallAsync("HELLO")).Items!;
        Assert.Equal("sentinel", hello[hello.ToList().FindIndex(i => i.Text == "mode") + 1].Text);
        Assert.Equal(40, (await c.CallTextAsync("SENTINEL", "MYID"))!.Length);
        Assert.StartsWith("SENTINEL <subcommand>", (await c.CallAsync("SENTINEL", "HELP")).Items![0].Text);
        Assert.Equal(["crash-after-election", "crash-after-promotion"],
            (await c.CallAsync("SENTINEL", "SIMULATE-FAILURE", "HELP")).Items!.Select(i => i.Text));
        Assert.Equal("ERR Only HELLO messages are accepted by Sentinel instances.", (await c.CallAsync("PUBLISH", "x", "y")).Text);
    }

    [Fact]
    public async Task MonitorsAPrimaryAndDiscoversItsReplicas()
    {
        await using var primary = await TestServer.StartAsync();
        await using var replica = await TestServer.StartAsync();
        await using (var r = await replica.ConnectAsync())
            await Replication.ReplicationKit.AttachAsync(r, primary.Port);
        await using var sentinel = await SentinelServer.StartAsync();
        await using var c = await sentinel.ConnectAsync();

        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "MONITOR", "mymaster", "127.0.0.1", primary.Port.ToString(), "1"));
        Assert.Equal("ERR Duplicate master name.", (await c.CallAsync("SENTINEL", "MONITOR", "mymaster", "127.0.0.1", "1", "1")).Text);
        await WaitUntilAsync(async () => Field(await c.CallAsync("SENTINEL", "MASTER", "mymaster"), "num-slaves") == "1", "the replica to be discovered");

        var master = await c.CallAsync("SENTINEL", "PRIMARY", "mymaster");
        Assert.Equal("mymaster", Field(master, "name"));
        Assert.Equal(primary.Port.ToString(), Field(master, "port"));
        Assert.Equal("master", Field(master, "flags"));
        Assert.Equal("master", Field(master, "role-reported"));
        Assert.Equal("1", Field(master, "quorum"));
        Assert.Equal("30000", Field(master, "down-after-milliseconds"));
        Assert.Equal("180000", Field(master, "failover-timeout"));
        Assert.Equal(40, Field(master, "runid")!.Length);

        var replicas = (await c.CallAsync("SENTINEL", "REPLICAS", "mymaster")).Items!;
        var r0 = Assert.Single(replicas);
        Assert.Equal($"127.0.0.1:{replica.Port}", Field(r0, "name"));
        await WaitUntilAsync(async () => Field(Assert.Single((await c.CallAsync("SENTINEL", "REPLICAS", "mymaster")).Items!), "flags") == "slave",
            "the replica's links");
        await WaitUntilAsync(async () => Field(Assert.Single((await c.CallAsync("SENTINEL", "SLAVES", "mymaster")).Items!), "master-link-status") == "ok",
            "the replica's INFO");
        r0 = Assert.Single((await c.CallAsync("SENTINEL", "SLAVES", "mymaster")).Items!);
        Assert.Equal(primary.Port.ToString(), Field(r0, "master-port"));
        Assert.Equal("100", Field(r0, "slave-priority"));

        var addr = (await c.CallAsync("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")).Items!;
        Assert.Equal(["127.0.0.1", primary.Port.ToString()], addr.Select(i => i.Text));
        Assert.True((await c.CallAsync("SENTINEL", "GET-PRIMARY-ADDR-BY-NAME", "nosuch")).IsNull);
        Assert.Equal("ERR No such master with that name", (await c.CallAsync("SENTINEL", "MASTER", "nosuch")).Text);
        Assert.Empty((await c.CallAsync("SENTINEL", "SENTINELS", "mymaster")).Items!);
        Assert.Equal("OK 1 usable Sentinels. Quorum and failover authorization can be reached", await c.CallTextAsync("SENTINEL", "CKQUORUM", "mymaster"));

        var role = (await c.CallAsync("ROLE")).Items!;
        Assert.Equal("sentinel", role[0].Text);
        Assert.Equal(["mymaster"], role[1].Items!.Select(i => i.Text));

        var cache = (await c.CallAsync("SENTINEL", "INFO-CACHE", "mymaster")).Items!;
        Assert.Equal("mymaster", cache[0].Text);
        Assert.Contains("# Server", cache[1].Items![0].Items![1].Text);

        string info = (await c.CallTextAsync("INFO"))!;
        Assert.Contains("# Server", info);
        Assert.Contains("server_mode:sentinel", info);
        Assert.Contains("# Clients", info);
        Assert.Contains("# Stats", info);
        Assert.Contains("# CPU", info);
        Assert.Contains("# Sentinel", info);
        Assert.Contains("sentinel_masters:1", info);
        Assert.Contains($"master0:name=mymaster,status=ok,address=127.0.0.1:{primary.Port},slaves=1,sentinels=1", info);
        Assert.DoesNotContain("used_memory", info);
        Assert.DoesNotContain("master_repl_offset", info);
        Assert.Equal("", await c.CallTextAsync("INFO", "replication"));
        string sentinelOnly = (await c.CallTextAsync("INFO", "sentinel"))!;
        Assert.StartsWith("# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\nsentinel_tilt_since_seconds:-1\r\n", sentinelOnly);
    }

    [Fact]
    public async Task SetConfigAndDebugValidateLikeValkey()
    {
        await using var primary = await TestServer.StartAsync();
        await using var sentinel = await SentinelServer.StartAsync(Monitor(primary.Port));
        await using var c = await sentinel.ConnectAsync();

        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "SET", "mymaster", "down-after-milliseconds", "5000", "quorum", "2"));
        var master = await c.CallAsync("SENTINEL", "MASTER", "mymaster");
        Assert.Equal("5000", Field(master, "down-after-milliseconds"));
        Assert.Equal("2", Field(master, "quorum"));
        Assert.Equal("ERR Invalid argument '-20' for SENTINEL SET 'down-after-milliseconds'",
            (await c.CallAsync("SENTINEL", "SET", "mymaster", "down-after-milliseconds", "-20")).Text);
        Assert.Equal("ERR Unknown option or number of arguments for SENTINEL SET 'fakeoption'",
            (await c.CallAsync("SENTINEL", "SET", "mymaster", "fakeoption", "fakevalue")).Text);
        Assert.Equal("ERR wrong number of arguments for 'sentinel|set' command", (await c.CallAsync("SENTINEL", "SET", "mymaster", "quorum")).Text);
        Assert.StartsWith("ERR Reconfiguration of scripts path is denied",
            (await c.CallAsync("SENTINEL", "SET", "mymaster", "notification-script", "/bin/true")).Text);

        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "CONFIG", "SET", "resolve-hostnames", "yes", "announce-port", "1234"));
        Assert.Equal(["resolve-hostnames", "yes", "announce-port", "1234"],
            (await c.CallAsync("SENTINEL", "CONFIG", "GET", "resolve-hostnames", "announce-port", "resolve-hostnames")).Items!.Select(i => i.Text));
        Assert.Equal(["announce-hostnames", "no", "announce-ip", "", "announce-port", "1234"],
            (await c.CallAsync("SENTINEL", "CONFIG", "GET", "announce*")).Items!.Select(i => i.Text));
        Assert.StartsWith("ERR Duplicate argument 'announce-port'", (await c.CallAsync("SENTINEL", "CONFIG", "SET", "announce-port", "1", "announce-port", "2")).Text);
        Assert.StartsWith("ERR Invalid argument 'nope'", (await c.CallAsync("SENTINEL", "CONFIG", "SET", "nope", "yes")).Text);
        Assert.StartsWith("ERR Invalid value '-1' to SENTINEL CONFIG SET 'announce-port'", (await c.CallAsync("SENTINEL", "CONFIG", "SET", "announce-port", "-1")).Text);
        Assert.StartsWith("ERR Missing argument 'announce-ip' value", (await c.CallAsync("SENTINEL", "CONFIG", "SET", "announce-port", "1", "announce-ip")).Text);
        Assert.StartsWith("ERR Only SENTINEL CONFIG GET", (await c.CallAsync("SENTINEL", "CONFIG", "FOO", "x")).Text);
        Assert.Equal("1234", (await c.CallAsync("SENTINEL", "CONFIG", "GET", "announce-port")).Items![1].Text);

        var debug = (await c.CallAsync("SENTINEL", "DEBUG")).Items!;
        Assert.Equal("INFO-PERIOD", debug[0].Text);
        Assert.Equal("10000", debug[1].Text);
        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "DEBUG", "info-period", "8888"));
        Assert.Equal("8888", (await c.CallAsync("SENTINEL", "DEBUG")).Items![1].Text);
        Assert.Equal("ERR Invalid argument 'x' for SENTINEL DEBUG 'ping-period'", (await c.CallAsync("SENTINEL", "DEBUG", "ping-period", "x")).Text);
        Assert.Equal("ERR Unknown option or number of arguments for SENTINEL DEBUG 'nope'", (await c.CallAsync("SENTINEL", "DEBUG", "nope", "1")).Text);

        Assert.Equal("ERR Quorum must be 1 or greater.", (await c.CallAsync("SENTINEL", "MONITOR", "m2", "127.0.0.1", "6379", "0")).Text);
        Assert.Equal("ERR Invalid IP address or hostname specified", (await c.CallAsync("SENTINEL", "MONITOR", "m2", "no-such-host.invalid", "6379", "1")).Text);
        Assert.Equal("ERR Invalid port number.", (await c.CallAsync("SENTINEL", "MONITOR", "m2", "127.0.0.1", "70000", "1")).Text);
        Assert.Equal("ERR Invalid quorum", (await c.CallAsync("SENTINEL", "MONITOR", "m2", "127.0.0.1", "6379", "x")).Text);
        Assert.Equal("NOGOODSLAVE No suitable replica to promote", (await c.CallAsync("SENTINEL", "FAILOVER", "mymaster")).Text);
        Assert.Equal("ERR value is not an integer or out of range",
            (await c.CallAsync("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "x", "1", "*")).Text);
    }

    [Fact]
    public async Task VotesOncePerEpochAndPersistsItsState()
    {
        await using var primary = await TestServer.StartAsync();
        var sentinel = await SentinelServer.StartAsync(Monitor(primary.Port));
        string dir = sentinel.Dir;
        try
        {
            string myId, runId = new('a', 40);
            await using (var c = await sentinel.ConnectAsync())
            {
                myId = (await c.CallTextAsync("SENTINEL", "MYID"))!;
                // A vote for the first asker of an epoch; a later asker of the same epoch gets that vote back.
                var vote = (await c.CallAsync("SENTINEL", "IS-PRIMARY-DOWN-BY-ADDR", "127.0.0.1", primary.Port.ToString(), "50", runId)).Items!;
                Assert.Equal(0, vote[0].Integer);
                Assert.Equal(runId, vote[1].Text);
                Assert.Equal(50, vote[2].Integer);
                vote = (await c.CallAsync("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", primary.Port.ToString(), "50", new string('b', 40))).Items!;
                Assert.Equal(runId, vote[1].Text);
                vote = (await c.CallAsync("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", primary.Port.ToString(), "50", "*")).Items!;
                Assert.Equal("*", vote[1].Text);
                Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "SET", "mymaster", "failover-timeout", "12345"));
                Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "FLUSHCONFIG"));
            }
            string file = await File.ReadAllTextAsync(sentinel.ConfigPath);
            Assert.Contains($"sentinel myid {myId}", file);
            Assert.Contains($"sentinel monitor mymaster 127.0.0.1 {primary.Port} 1", file);
            Assert.Contains("sentinel failover-timeout mymaster 12345", file);
            Assert.Contains("sentinel leader-epoch mymaster 50", file);
            Assert.Contains("sentinel current-epoch 50", file);
            Assert.Contains("protected-mode no", file);
            Assert.DoesNotContain("\nsave ", file);

            // A restarted Sentinel remembers.
            await sentinel.StopAsync();
            sentinel = await SentinelServer.StartFromFileAsync(dir, ownsDir: true);
            await using var c2 = await sentinel.ConnectAsync();
            Assert.Equal(myId, await c2.CallTextAsync("SENTINEL", "MYID"));
            Assert.Equal("12345", Field(await c2.CallAsync("SENTINEL", "MASTER", "mymaster"), "failover-timeout"));
            // The epoch of its vote is kept (not the vote): it never votes twice in epoch 50.
            var again = (await c2.CallAsync("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", primary.Port.ToString(), "50", new string('c', 40))).Items!;
            Assert.Equal("*", again[1].Text);
            Assert.Equal(50, again[2].Integer);

            Assert.Equal("OK", await c2.CallTextAsync("SENTINEL", "REMOVE", "mymaster"));
            Assert.Empty((await c2.CallAsync("SENTINEL", "MASTERS")).Items!);
            Assert.DoesNotContain("sentinel monitor", await File.ReadAllTextAsync(sentinel.ConfigPath));
        }
        finally
        {
            await sentinel.DisposeAsync();
        }
    }

    [Fact]
    public async Task BadSentinelDirectiveIsFatal()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-sentinel-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "sentinel.conf"), "port 0\nsentinel down-after-milliseconds nosuch 1000\n");
            var e = await Assert.ThrowsAsync<Kvasir.Config.ConfigLoadException>(() => SentinelServer.StartFromFileAsync(dir));
            Assert.Contains("Reading the configuration file, at line 2", e.Report);
            Assert.Contains("No such master with specified name.", e.Report);
            File.WriteAllText(Path.Combine(dir, "sentinel.conf"), "port 0\nsentinel monitor m 127.0.0.1 6379 0\n");
            e = await Assert.ThrowsAsync<Kvasir.Config.ConfigLoadException>(() => SentinelServer.StartFromFileAsync(dir));
            Assert.Contains("Quorum must be 1 or greater.", e.Report);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>TILT: a timer that runs late (here: any delay over 1 ms counts as late) stops the acting half for tilt-period.</summary>
    [Fact]
    public async Task TiltIsEnteredAndLeft()
    {
        await using var sentinel = await SentinelServer.StartAsync();
        await using var c = await sentinel.ConnectAsync();
        await using var events = await sentinel.ConnectAsync();
        await events.CallAsync("SUBSCRIBE", "+tilt", "-tilt");
        await events.ReadAsync(); // the second subscription's confirmation
        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "DEBUG", "tilt-trigger", "1", "tilt-period", "300"));
        var message = (await events.ReadAsync()).Items!;
        Assert.Equal(["message", "+tilt", "#tilt mode entered"], message.Select(i => i.Text));
        Assert.Contains("sentinel_tilt:1", await c.CallTextAsync("INFO", "sentinel"));
        Assert.Equal(0, (await c.CallAsync("SENTINEL", "IS-MASTER-DOWN-BY-ADDR", "127.0.0.1", "1", "0", "*")).Items![0].Integer);
        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "DEBUG", "tilt-trigger", "2000"));
        // Only the monitoring of instances leaves TILT (nothing is monitored here), so monitor one.
        await using var primary = await TestServer.StartAsync();
        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "MONITOR", "m", "127.0.0.1", primary.Port.ToString(), "1"));
        events.Timeout = TimeSpan.FromSeconds(15);
        while (true)
        {
            message = (await events.ReadAsync()).Items!;
            if (message[1].Text == "-tilt") break;
        }
        Assert.Equal("#tilt mode exited", message[2].Text);
        Assert.Contains("sentinel_tilt:0", await c.CallTextAsync("INFO", "sentinel"));
    }

    [Fact]
    public async Task RequirePassProtectsTheSentinel()
    {
        await using var sentinel = await SentinelServer.StartAsync("requirepass s3cret");
        await using var c = await sentinel.ConnectAsync();
        Assert.Equal("NOAUTH Authentication required.", (await c.CallAsync("SENTINEL", "MASTERS")).Text);
        Assert.Equal("OK", await c.CallTextAsync("AUTH", "s3cret"));
        Assert.Empty((await c.CallAsync("SENTINEL", "MASTERS")).Items!);
    }

    /// <summary>
    /// SENTINEL FAILOVER with a primary and a replica: the replica is promoted with REPLICAOF NO ONE,
    /// the events are published on the Sentinel's own pub/sub, and the address moves.
    /// </summary>
    [Fact]
    public async Task ManualFailoverPromotesTheReplicaAndPublishesEvents()
    {
        await using var primary = await TestServer.StartAsync();
        await using var replica = await TestServer.StartAsync();
        await using (var r = await replica.ConnectAsync())
            await Replication.ReplicationKit.AttachAsync(r, primary.Port);
        await using var sentinel = await SentinelServer.StartAsync(Monitor(primary.Port), "sentinel down-after-milliseconds mymaster 2000");
        await using var c = await sentinel.ConnectAsync();
        await using var events = await sentinel.ConnectAsync();
        await events.CallAsync("PSUBSCRIBE", "*");

        // The replica must have been seen healthy (INFO every second with this DEBUG setting).
        Assert.Equal("OK", await c.CallTextAsync("SENTINEL", "DEBUG", "info-period", "200"));
        await WaitUntilAsync(async () => (await c.CallAsync("SENTINEL", "FAILOVER", "mymaster")) is { IsError: false }, "SENTINEL FAILOVER to be accepted");
        Assert.Equal("INPROG Failover already in progress", (await c.CallAsync("SENTINEL", "FAILOVER", "mymaster")).Text);

        await WaitUntilAsync(async () => await PrimaryPortAsync(sentinel.Port) == replica.Port, "the replica to become the primary");
        await using (var r = await replica.ConnectAsync())
            Assert.Equal("master", await Replication.ReplicationKit.InfoFieldAsync(r, "role"));

        var seen = new List<string>();
        events.Timeout = TimeSpan.FromSeconds(15);
        while (!seen.Contains("+switch-master"))
        {
            var message = (await events.ReadAsync()).Items!;
            if (message[0].Text != "pmessage") continue;
            seen.Add(message[2].Text!);
            if (message[2].Text == "+switch-master")
                Assert.Equal($"mymaster 127.0.0.1 {primary.Port} 127.0.0.1 {replica.Port}", message[3].Text);
        }
        foreach (var e in new[] { "+new-epoch", "+try-failover", "+elected-leader", "+selected-slave", "+promoted-slave", "+failover-end" })
            Assert.Contains(e, seen);
        // The old primary is now one of the replicas (and is told to follow once it looks stable).
        await WaitUntilAsync(async () => (await c.CallAsync("SENTINEL", "REPLICAS", "mymaster")).Items!.Any(i => Field(i, "port") == primary.Port.ToString()),
            "the old primary to be listed as a replica");
    }
}
