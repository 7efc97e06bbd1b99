using static Kvasir.Tests.Cluster.ClusterKit;

namespace Kvasir.Tests.Cluster;

/// <summary>
/// Kvasir and Debian's redis-server 7.0 in one cluster (Redis 7.0 and Valkey 8 share the bus
/// format): they meet, share the slots, replicate each other, report failures and fail over a
/// primary of either kind to a replica of the other kind.
/// </summary>
[Collection(nameof(ClusterCollection))]
public sealed class ClusterMixedTests
{
    private const int NodeTimeoutMs = 2000;

    [Fact]
    public async Task KvasirAndRedisNodesShareSlotsAndFailOverEachOther()
    {
        var all = new List<ClusterProcess>();
        try
        {
            var k1 = await ClusterProcess.StartKvasirAsync(NodeTimeoutMs);
            all.Add(k1);
            var r1 = await ClusterProcess.StartRedisAsync(NodeTimeoutMs);
            all.Add(r1);
            var k3 = await ClusterProcess.StartKvasirAsync(NodeTimeoutMs);
            all.Add(k3);
            // Replicas of the other kind: Redis follows a Kvasir primary, Kvasir a Redis primary.
            var r2 = await ClusterProcess.StartRedisAsync(NodeTimeoutMs);
            all.Add(r2);
            var k2 = await ClusterProcess.StartKvasirAsync(NodeTimeoutMs);
            all.Add(k2);
            var r3 = await ClusterProcess.StartRedisAsync(NodeTimeoutMs);
            all.Add(r3);

            await ClusterCliAsync("create", k1.Address, r1.Address, k3.Address, "--cluster-replicas", "0", "--cluster-yes");
            await WaitForConsistentAsync([k1, r1, k3]);
            await ClusterCliAsync("add-node", r2.Address, k1.Address, "--cluster-slave", "--cluster-master-id", await IdAsync(k1));
            await ClusterCliAsync("add-node", k2.Address, k1.Address, "--cluster-slave", "--cluster-master-id", await IdAsync(r1));
            await ClusterCliAsync("add-node", r3.Address, k1.Address, "--cluster-slave", "--cluster-master-id", await IdAsync(k3));
            await WaitForConsistentAsync(all);
            await WaitForReplicasInSyncAsync(all);
            string check = await ClusterCliAsync("check", r1.Address);
            Assert.Contains("All nodes agree about slots configuration", check);

            await using var client = new TestClusterClient(all.Select(n => n.Port));
            for (int i = 0; i < 600; i++) Assert.True((await client.CallAsync("m" + i, "SET", "m" + i, "v" + i))?.Text == "OK", client.LastFailure);
            await WaitReplicatedAsync(k1, r2);
            await WaitReplicatedAsync(r1, k2);

            // A Redis primary dies: its Kvasir replica is elected by both kinds of primaries.
            await FailOverAsync(all, r1, k2);
            for (int i = 0; i < 600; i++) Assert.Equal("v" + i, (await client.CallAsync("m" + i, "GET", "m" + i))!.Text);

            // A Kvasir primary dies: its Redis replica takes over.
            await FailOverAsync(all, k1, r2);
            for (int i = 0; i < 600; i++) Assert.Equal("v" + i, (await client.CallAsync("m" + i, "GET", "m" + i))!.Text);
            for (int i = 0; i < 200; i++) Assert.Equal("OK", (await client.CallAsync("n" + i, "SET", "n" + i, "w" + i))!.Text);
        }
        finally
        {
            foreach (var n in all) await n.DisposeAsync();
        }
    }

    private static async Task WaitReplicatedAsync(ClusterProcess primary, ClusterProcess replica)
    {
        await WaitUntilAsync(async () =>
        {
            await using var p = await primary.ConnectAsync();
            await using var r = await replica.ConnectAsync();
            string a = await InfoFieldAsync(p, "replication", "master_repl_offset");
            return a.Length > 0 && a == await InfoFieldAsync(r, "replication", "master_repl_offset");
        }, $"{replica.Address} to catch up with {primary.Address}");
    }

    /// <summary>Kills <paramref name="primary"/> and waits until every other node sees <paramref name="replica"/> serving its slots.</summary>
    private static async Task FailOverAsync(List<ClusterProcess> all, ClusterProcess primary, ClusterProcess replica)
    {
        string deadId = await IdAsync(primary), newId = await IdAsync(replica);
        primary.Kill();
        var alive = all.Where(n => n.Running).ToList();
        await WaitUntilAsync(async () =>
        {
            foreach (var n in alive)
            {
                await using var c = await n.ConnectAsync();
                if (await ClusterInfoFieldAsync(c, "cluster_state") != "ok") return false;
                var view = await NodesAsync(c);
                if (!view.Single(v => v.Id == deadId).Flags.Contains("fail")) return false;
                var promoted = view.Single(v => v.Id == newId);
                if (!promoted.Flags.Contains("master") || promoted.Slots.Length == 0) return false;
            }
            return true;
        }, $"{replica.Address} to replace {primary.Address}", 60_000);
    }

    private static async Task<string> IdAsync(ClusterProcess node)
    {
        await using var c = await node.ConnectAsync();
        return (await c.CallTextAsync("CLUSTER", "MYID"))!;
    }
}
