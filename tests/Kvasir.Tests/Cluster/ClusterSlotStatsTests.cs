using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Cluster.ClusterKit;

namespace Kvasir.Tests.Cluster;

/// <summary>
/// CLUSTER SLOT-STATS with cluster-slot-stats-enabled: which bytes and which time count for a slot,
/// as Valkey counts them (the numbers are those of Valkey's own tests, checked against a real one).
/// </summary>
[Collection(nameof(ClusterCollection))]
public sealed class ClusterSlotStatsTests
{
    private static Task<TestServer> StartNodeAsync() =>
        TestServer.StartAsync(("cluster-enabled", "yes"), ("cluster-port", ServerExecutable.FreePort().ToString()),
            ("cluster-node-timeout", "3000"), ("cluster-slot-stats-enabled", "yes"));

    private static async Task<RespClient> SingleNodeClusterAsync(TestServer server)
    {
        var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "ADDSLOTSRANGE", "0", "16383"));
        await WaitUntilAsync(async () => await ClusterInfoFieldAsync(c, "cluster_state") == "ok", "cluster_state:ok");
        return c;
    }

    /// <summary>Every slot's metric that is not zero, as slot → value.</summary>
    private static async Task<Dictionary<long, long>> NonZeroAsync(RespClient c, string metric)
    {
        var result = new Dictionary<long, long>();
        foreach (var entry in (await c.CallAsync("CLUSTER", "SLOT-STATS", "SLOTSRANGE", "0", "16383")).Items!)
        {
            var map = entry.Items![1].Items!;
            for (int i = 0; i < map.Count; i += 2)
                if (map[i].Text == metric && map[i + 1].Integer != 0) result[entry.Items[0].Integer] = map[i + 1].Integer;
        }
        return result;
    }

    private static async Task<long> SlotOfAsync(RespClient c, string key) => (await c.CallAsync("CLUSTER", "KEYSLOT", key)).Integer;

    [Fact]
    public async Task RequestBytesCountAsSentInlineInATransactionAndAcrossABlock()
    {
        await using var server = await StartNodeAsync();
        await using var c = await SingleNodeClusterAsync(server);
        long slot = await SlotOfAsync(c, "key");

        // An inline command counts its own 15 bytes, not those of its multibulk form.
        await using (var inline = await server.ConnectAsync())
        {
            await inline.SendRawAsync("SET key value\r\n");
            Assert.Equal("OK", (await inline.ReadAsync()).Text);
        }
        Assert.Equal(new Dictionary<long, long> { [slot] = 15 }, await NonZeroAsync(c, "network-bytes-in"));
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "RESETSTAT"));

        // MULTI (15) + the queued SET (33) + EXEC (14).
        await using (var tx = await server.ConnectAsync())
        {
            Assert.Equal("OK", await tx.CallTextAsync("MULTI"));
            Assert.Equal("QUEUED", await tx.CallTextAsync("SET", "key", "value"));
            Assert.Single((await tx.CallAsync("EXEC")).Items!);
        }
        Assert.Equal(new Dictionary<long, long> { [slot] = 62 }, await NonZeroAsync(c, "network-bytes-in"));
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "RESETSTAT"));
        Assert.Equal(1, (await c.CallAsync("DEL", "key")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "RESETSTAT"));

        // A blocked BLPOP (31 bytes) counts nothing, no time either, until LPUSH (35) serves it.
        await using var blocked = await server.ConnectAsync();
        await blocked.SendAsync("BLPOP", "key", "0");
        await WaitUntilAsync(async () => await InfoFieldAsync(c, "clients", "blocked_clients") == "1", "BLPOP blocked");
        Assert.Empty(await NonZeroAsync(c, "network-bytes-in"));
        Assert.Empty(await NonZeroAsync(c, "cpu-usec"));
        Assert.Equal(1, (await c.CallAsync("LPUSH", "key", "value")).Integer);
        Assert.Equal(2, (await blocked.ReadAsync()).Items!.Count);
        Assert.Equal(new Dictionary<long, long> { [slot] = 66 }, await NonZeroAsync(c, "network-bytes-in"));
        Assert.Equal([slot], (await NonZeroAsync(c, "cpu-usec")).Keys);
    }

    [Fact]
    public async Task AScriptAllowedToCrossSlotsCountsForNoSlot()
    {
        await using var server = await StartNodeAsync();
        await using var c = await SingleNodeClusterAsync(server);
        long slot = await SlotOfAsync(c, "FOO");

        await c.CallAsync("EVAL", "#!lua\nredis.call('set', 'FOO', 'bar'); redis.call('get', 'FOO')", "0");
        Assert.Equal([slot], (await NonZeroAsync(c, "cpu-usec")).Keys);
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "RESETSTAT"));

        await c.CallAsync("EVAL", "#!lua flags=allow-cross-slot-keys\nredis.call('set', 'FOO', 'bar'); redis.call('get', 'FOO2')", "0");
        Assert.Empty(await NonZeroAsync(c, "cpu-usec"));
        Assert.Empty(await NonZeroAsync(c, "network-bytes-out"));
    }

    [Fact]
    public async Task ShardChannelMessagesCountForTheChannelsSlot()
    {
        await using var server = await StartNodeAsync();
        await using var c = await SingleNodeClusterAsync(server);
        long slot = await SlotOfAsync(c, "channel");
        await using var subscriber = await server.ConnectAsync();
        Assert.Equal(3, (await subscriber.CallAsync("SSUBSCRIBE", "channel")).Items!.Count);
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "RESETSTAT"));

        // The publisher's ":1\r\n" (4) and the subscriber's smessage (42).
        Assert.Equal(1, (await c.CallAsync("SPUBLISH", "channel", "hello")).Integer);
        Assert.Equal("smessage", (await subscriber.ReadAsync()).Items![0].Text);
        Assert.Equal(new Dictionary<long, long> { [slot] = 46 }, await NonZeroAsync(c, "network-bytes-out"));
    }

    [Fact]
    public async Task APrimaryCountsItsReplicationStreamAndItsReplicaTheRequest()
    {
        await using var primary = await StartNodeAsync();
        await using var replica = await StartNodeAsync();
        await using var cp = await SingleNodeClusterAsync(primary);
        await using var cr = await replica.ConnectAsync();
        Assert.Equal("OK", await cp.CallTextAsync("CLUSTER", "MEET", "127.0.0.1", replica.Port.ToString(), replica.Server.Config.ClusterPort.ToString()));
        string primaryId = (await cp.CallTextAsync("CLUSTER", "MYID"))!;
        await WaitUntilAsync(async () => (await cr.CallAsync("CLUSTER", "NODES")).Text!.Contains(primaryId), "the replica knows the primary");
        Assert.Equal("OK", await cr.CallTextAsync("CLUSTER", "REPLICATE", primaryId));
        await WaitUntilAsync(async () => await InfoFieldAsync(cr, "replication", "master_link_status") == "up", "replication link up");
        // A first write makes the stream select its database: that SELECT counts for no slot.
        Assert.Equal("OK", await cp.CallTextAsync("SET", "other", "1"));
        await WaitUntilAsync(async () => (await cr.CallAsync("DBSIZE")).Integer == 1, "first write replicated");
        Assert.Equal("OK", await cp.CallTextAsync("CONFIG", "RESETSTAT"));
        Assert.Equal("OK", await cr.CallTextAsync("CONFIG", "RESETSTAT"));

        long slot = await SlotOfAsync(cp, "key");
        Assert.Equal("OK", await cp.CallTextAsync("SET", "key", "value"));
        // "+OK\r\n" (5) to the client and the SET (33) to the one replica.
        Assert.Equal(new Dictionary<long, long> { [slot] = 38 }, await NonZeroAsync(cp, "network-bytes-out"));
        await WaitUntilAsync(async () => (await cr.CallAsync("DBSIZE")).Integer == 2, "SET replicated");
        Assert.Equal(new Dictionary<long, long> { [slot] = 33 }, await NonZeroAsync(cr, "network-bytes-in"));
        Assert.Empty(await NonZeroAsync(cr, "network-bytes-out"));
    }
}
