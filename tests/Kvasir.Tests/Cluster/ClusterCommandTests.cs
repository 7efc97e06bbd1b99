using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Cluster.ClusterKit;

namespace Kvasir.Tests.Cluster;

/// <summary>
/// CLUSTER subcommands and the cluster rules on in-process servers: slot hashing, the per-slot key
/// index, slot assignment errors, redirections between two nodes, cross-slot refusals, commands
/// cluster mode forbids, nodes.conf.
/// </summary>
[Collection(nameof(ClusterCollection))]
public sealed class ClusterCommandTests
{
    private static Task<TestServer> StartNodeAsync(string? dir = null) =>
        TestServer.StartInDirAsync(dir, ("cluster-enabled", "yes"), ("cluster-port", ServerExecutable.FreePort().ToString()),
            ("cluster-node-timeout", "3000"), ("enable-debug-command", "yes"));

    private static async Task<RespClient> SingleNodeClusterAsync(TestServer server)
    {
        var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "ADDSLOTSRANGE", "0", "16383"));
        await WaitUntilAsync(async () => await ClusterInfoFieldAsync(c, "cluster_state") == "ok", "cluster_state:ok");
        return c;
    }

    [Fact]
    public async Task WithoutClusterModeClusterCommandsAreRefused()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        RespAssert.Error("ERR This instance has cluster support disabled", await c.CallAsync("CLUSTER", "INFO"));
        RespAssert.Error("ERR This instance has cluster support disabled", await c.CallAsync("ASKING"));
        Assert.Equal("0", await InfoFieldAsync(c, "cluster", "cluster_enabled"));
    }

    [Fact]
    public async Task KeySlotsFollowCrc16AndHashTags()
    {
        await using var server = await StartNodeAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal(12182, (await c.CallAsync("CLUSTER", "KEYSLOT", "foo")).Integer);
        // The CRC16/XMODEM check value of "123456789" is 0x31C3.
        Assert.Equal(0x31C3, (await c.CallAsync("CLUSTER", "KEYSLOT", "123456789")).Integer);
        long a = (await c.CallAsync("CLUSTER", "KEYSLOT", "{user1000}.following")).Integer;
        Assert.Equal(a, (await c.CallAsync("CLUSTER", "KEYSLOT", "{user1000}.followers")).Integer);
        Assert.Equal(a, (await c.CallAsync("CLUSTER", "KEYSLOT", "user1000")).Integer);
        // An empty tag hashes the whole key; only the first tag counts.
        Assert.Equal((await c.CallAsync("CLUSTER", "KEYSLOT", "foo{}{bar}")).Integer, Kvasir.Cluster.KeySlot.Crc16("foo{}{bar}"u8) & 16383);
        Assert.Equal((await c.CallAsync("CLUSTER", "KEYSLOT", "foo{{bar}}zap")).Integer, Kvasir.Cluster.KeySlot.Crc16("{bar"u8) & 16383);
        Assert.Equal("1", await InfoFieldAsync(c, "cluster", "cluster_enabled"));
    }

    [Fact]
    public async Task KeysAreCountedAndListedPerSlot()
    {
        await using var server = await StartNodeAsync();
        await using var c = await SingleNodeClusterAsync(server);
        for (int i = 0; i < 50; i++) await c.CallAsync("SET", "{s}:" + i, "v");
        await c.CallAsync("SET", "other", "v");
        long slot = (await c.CallAsync("CLUSTER", "KEYSLOT", "{s}")).Integer;
        Assert.Equal(50, (await c.CallAsync("CLUSTER", "COUNTKEYSINSLOT", slot.ToString())).Integer);
        var keys = (await c.CallAsync("CLUSTER", "GETKEYSINSLOT", slot.ToString(), "10")).Items!;
        Assert.Equal(10, keys.Count);
        Assert.All(keys, k => Assert.StartsWith("{s}:", k.Text));
        Assert.Equal(50, (await c.CallAsync("CLUSTER", "GETKEYSINSLOT", slot.ToString(), "1000")).Items!.Count);
        await c.CallAsync("DEL", "{s}:0", "{s}:1");
        await c.CallAsync("RENAME", "{s}:2", "{s}:renamed");
        Assert.Equal(48, (await c.CallAsync("CLUSTER", "COUNTKEYSINSLOT", slot.ToString())).Integer);
        await c.CallAsync("FLUSHALL");
        Assert.Equal(0, (await c.CallAsync("CLUSTER", "COUNTKEYSINSLOT", slot.ToString())).Integer);
        RespAssert.Error("ERR Invalid slot", await c.CallAsync("CLUSTER", "COUNTKEYSINSLOT", "16384"));
        RespAssert.Error("ERR Invalid slot or number of keys", await c.CallAsync("CLUSTER", "GETKEYSINSLOT", "1", "-1"));
    }

    [Fact]
    public async Task SlotAssignmentErrors()
    {
        await using var server = await StartNodeAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "ADDSLOTS", "1", "2", "3"));
        RespAssert.Error("ERR Slot 2 is already busy", await c.CallAsync("CLUSTER", "ADDSLOTS", "2"));
        RespAssert.Error("ERR Slot 7 specified multiple times", await c.CallAsync("CLUSTER", "ADDSLOTS", "7", "7"));
        RespAssert.Error("ERR Invalid or out of range slot", await c.CallAsync("CLUSTER", "ADDSLOTS", "16384"));
        RespAssert.Error("ERR start slot number 9 is greater than end slot number 8", await c.CallAsync("CLUSTER", "ADDSLOTSRANGE", "9", "8"));
        RespAssert.Error("ERR Slot 100 is already unassigned", await c.CallAsync("CLUSTER", "DELSLOTS", "100"));
        RespAssert.Error("ERR wrong number of arguments for 'cluster|addslotsrange' command", await c.CallAsync("CLUSTER", "ADDSLOTSRANGE", "1", "2", "3"));
        Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "DELSLOTSRANGE", "1", "3"));
        Assert.Contains("cluster_slots_assigned:0", (await c.CallAsync("CLUSTER", "INFO")).Text);
        // A slot nobody serves: the cluster is down for its keys.
        RespAssert.Error("CLUSTERDOWN Hash slot not served", await c.CallAsync("GET", "foo"));
    }

    [Fact]
    public async Task ClusterModeForbidsOtherDatabasesAndReplicaOf()
    {
        await using var server = await StartNodeAsync();
        await using var c = await SingleNodeClusterAsync(server);
        RespAssert.Error("ERR SELECT is not allowed in cluster mode", await c.CallAsync("SELECT", "1"));
        Assert.Equal("OK", await c.CallTextAsync("SELECT", "0"));
        RespAssert.Error("ERR REPLICAOF not allowed in cluster mode.", await c.CallAsync("REPLICAOF", "127.0.0.1", "1"));
        RespAssert.Error("ERR MOVE is not allowed in cluster mode", await c.CallAsync("MOVE", "k", "1"));
        RespAssert.Error("ERR SWAPDB is not allowed in cluster mode", await c.CallAsync("SWAPDB", "0", "1"));
        RespAssert.Error("ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.", await c.CallAsync("FAILOVER"));
    }

    [Fact]
    public async Task CrossSlotCommandsAndTransactionsAreRefused()
    {
        await using var server = await StartNodeAsync();
        await using var c = await SingleNodeClusterAsync(server);
        RespAssert.Error("CROSSSLOT Keys in request don't hash to the same slot", await c.CallAsync("MSET", "a", "1", "b", "2"));
        Assert.Equal("OK", await c.CallTextAsync("MSET", "{t}a", "1", "{t}b", "2"));
        Assert.Equal("OK", await c.CallTextAsync("MULTI"));
        Assert.Equal("QUEUED", await c.CallTextAsync("SET", "a", "1"));
        Assert.Equal("QUEUED", await c.CallTextAsync("SET", "b", "1"));
        RespAssert.Error("CROSSSLOT Keys in request don't hash to the same slot", await c.CallAsync("EXEC"));
        // A script's undeclared keys in another slot are refused by the script call.
        var r = await c.CallAsync("EVAL", "#!lua\nreturn redis.call('get', 'b')", "1", "a");
        Assert.True(r.IsError && r.Text!.Contains("Script attempted to access keys that do not hash to the same slot"), r.ToString());
    }

    [Fact]
    public async Task TwoNodesRedirectWithMovedAndAsk()
    {
        await using var a = await StartNodeAsync();
        await using var b = await StartNodeAsync();
        await using var ca = await a.ConnectAsync();
        await using var cb = await b.ConnectAsync();
        Assert.Equal("OK", await ca.CallTextAsync("CLUSTER", "ADDSLOTSRANGE", "0", "8191"));
        Assert.Equal("OK", await cb.CallTextAsync("CLUSTER", "ADDSLOTSRANGE", "8192", "16383"));
        Assert.Equal("OK", await ca.CallTextAsync("CLUSTER", "MEET", "127.0.0.1", b.Port.ToString(), b.Server.Config.ClusterPort.ToString()));
        await WaitUntilAsync(async () => await ClusterInfoFieldAsync(ca, "cluster_state") == "ok" && await ClusterInfoFieldAsync(cb, "cluster_state") == "ok", "both nodes ok");
        string idA = (await ca.CallTextAsync("CLUSTER", "MYID"))!, idB = (await cb.CallTextAsync("CLUSTER", "MYID"))!;

        // foo is in slot 12182, served by b.
        RespAssert.Error($"MOVED 12182 127.0.0.1:{b.Port}", await ca.CallAsync("GET", "foo"));
        Assert.Equal("OK", await cb.CallTextAsync("SET", "foo", "bar"));

        // Slot 12182 moves from b to a: a key still on b is served there, a missing one gets -ASK.
        Assert.Equal("OK", await ca.CallTextAsync("CLUSTER", "SETSLOT", "12182", "IMPORTING", idB));
        Assert.Equal("OK", await cb.CallTextAsync("CLUSTER", "SETSLOT", "12182", "MIGRATING", idA));
        Assert.Equal("bar", await cb.CallTextAsync("GET", "foo"));
        RespAssert.Error($"ASK 12182 127.0.0.1:{a.Port}", await cb.CallAsync("GET", "{foo}:missing"));
        RespAssert.Error($"MOVED 12182 127.0.0.1:{b.Port}", await ca.CallAsync("GET", "{foo}:missing"));
        Assert.Equal("OK", await ca.CallTextAsync("ASKING"));
        Assert.True((await ca.CallAsync("GET", "{foo}:missing")).IsNull);
        // ASKING lasts one command.
        RespAssert.Error($"MOVED 12182 127.0.0.1:{b.Port}", await ca.CallAsync("GET", "{foo}:missing"));
        Assert.Equal("OK", await cb.CallTextAsync("MIGRATE", "127.0.0.1", a.Port.ToString(), "foo", "0", "5000"));
        Assert.Equal(0, (await cb.CallAsync("CLUSTER", "COUNTKEYSINSLOT", "12182")).Integer);
        Assert.Equal(1, (await ca.CallAsync("CLUSTER", "COUNTKEYSINSLOT", "12182")).Integer);
        Assert.Equal("OK", await ca.CallTextAsync("CLUSTER", "SETSLOT", "12182", "NODE", idA));
        Assert.Equal("OK", await cb.CallTextAsync("CLUSTER", "SETSLOT", "12182", "NODE", idA));
        Assert.Equal("bar", await ca.CallTextAsync("GET", "foo"));
        RespAssert.Error($"MOVED 12182 127.0.0.1:{a.Port}", await cb.CallAsync("GET", "foo"));
        // The new owner took a new config epoch: b learns it and agrees.
        await WaitUntilAsync(async () => (await cb.CallAsync("CLUSTER", "SLOTS")).ToString() == (await ca.CallAsync("CLUSTER", "SLOTS")).ToString(), "same slot map");
        Assert.Equal("2", await ClusterInfoFieldAsync(ca, "cluster_known_nodes"));
    }

    [Fact]
    public async Task NodesConfIsWrittenAndReadAtStart()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-cluster-conf-").FullName;
        try
        {
            string id;
            await using (var server = await StartNodeAsync(dir))
            {
                await using var c = await server.ConnectAsync();
                id = (await c.CallTextAsync("CLUSTER", "MYID"))!;
                Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "ADDSLOTSRANGE", "0", "99"));
                Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "SAVECONFIG"));
                string conf = await File.ReadAllTextAsync(Path.Combine(dir, "nodes.conf"));
                Assert.Contains(id + " ", conf);
                Assert.Contains("myself,master - 0 0 0 connected 0-99", conf);
                Assert.Contains("vars currentEpoch 0 lastVoteEpoch 0", conf);
            }
            await using (var again = await StartNodeAsync(dir))
            {
                await using var c = await again.ConnectAsync();
                Assert.Equal(id, await c.CallTextAsync("CLUSTER", "MYID"));
                Assert.Contains("cluster_slots_assigned:100", (await c.CallAsync("CLUSTER", "INFO")).Text);
                Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "RESET", "HARD"));
                Assert.NotEqual(id, await c.CallTextAsync("CLUSTER", "MYID"));
                Assert.Contains("cluster_slots_assigned:0", (await c.CallAsync("CLUSTER", "INFO")).Text);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task BusMessagesQueuedByACommandShowInLinkMemoryUntilItIsDone()
    {
        await using var a = await StartNodeAsync();
        await using var b = await StartNodeAsync();
        await using var ca = await a.ConnectAsync();
        await using var cb = await b.ConnectAsync();
        Assert.Equal("OK", await ca.CallTextAsync("CLUSTER", "MEET", "127.0.0.1", b.Port.ToString(), b.Server.Config.ClusterPort.ToString()));
        await WaitUntilAsync(async () => await ClusterInfoFieldAsync(ca, "cluster_known_nodes") == "2"
            && (await ca.CallAsync("CLUSTER", "LINKS")).Items!.Count == 2, "a knows b, both links up");

        // PUBLISH reaches b over the bus: inside a transaction the messages wait in a's link buffers
        // until EXEC is done, as Valkey writes a link's buffer before sleeping.
        var message = new string('x', 10_000);
        Assert.Equal("OK", await ca.CallTextAsync("MULTI"));
        await ca.CallAsync("INFO", "memory");
        for (int i = 0; i < 10; i++) await ca.CallAsync("PUBLISH", "news", message);
        await ca.CallAsync("INFO", "memory");
        var replies = (await ca.CallAsync("EXEC")).Items!;
        static long LinkMemory(RespValue info) =>
            long.Parse(info.Text!.Split("\r\n").First(l => l.StartsWith("mem_cluster_links:", StringComparison.Ordinal))["mem_cluster_links:".Length..]);
        Assert.True(LinkMemory(replies[^1]) - LinkMemory(replies[0]) > 100_000,
            $"mem_cluster_links {LinkMemory(replies[0])} -> {LinkMemory(replies[^1])}");
        // Once sent, the buffers are empty again.
        await WaitUntilAsync(async () => long.Parse(await InfoFieldAsync(ca, "memory", "mem_cluster_links")) < 100_000, "link buffers drained");
    }

    [Fact]
    public async Task ABusyClusterPortStopsTheStartBeforeServerInitialized()
    {
        // Valkey binds the bus in clusterInitLast, before "Server initialized", and exits with 1: test
        // harnesses read that line to start the node again on other ports.
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int busPort = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        string dir = Directory.CreateTempSubdirectory("kvasir-busport-").FullName;
        try
        {
            var (code, output) = await RunAsync(ServerExecutable.Path(),
                ["--port", ServerExecutable.FreePort().ToString(), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
                 "--cluster-enabled", "yes", "--cluster-port", busPort.ToString()], timeoutMs: 60_000);
            Assert.Equal(1, code);
            Assert.Contains($"Failed listening on port {busPort} (cluster), aborting.", output);
            Assert.DoesNotContain("Server initialized", output);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
