using System.Collections.Concurrent;
using System.Diagnostics;
using static Kvasir.Tests.Cluster.ClusterKit;

namespace Kvasir.Tests.Cluster;

/// <summary>
/// The failover drill: three primaries and three replicas of Kvasir, a writer over all slots that
/// counts a write as acknowledged once WAIT 1 confirms a replica has it; a primary is killed with
/// -9 ten times (and restarted, when it rejoins as a replica). Each time the cluster must be ok
/// again within cluster-node-timeout + 3 s, and no acknowledged write may be lost.
/// </summary>
[Collection(nameof(ClusterCollection))]
public sealed class ClusterFailoverDrillTests
{
    private const int NodeTimeoutMs = 2000;

    [Fact]
    public async Task KillingPrimariesLosesNoAcknowledgedWrite()
    {
        var nodes = new List<ClusterProcess>();
        try
        {
            for (int i = 0; i < 6; i++) nodes.Add(await ClusterProcess.StartKvasirAsync(NodeTimeoutMs));
            await CreateAsync(nodes, replicas: 1);
            await WaitForReplicasInSyncAsync(nodes);

            var acknowledged = new ConcurrentDictionary<string, string>();
            using var stop = new CancellationTokenSource();
            long attempts = 0;
            var writer = Task.Run(async () =>
            {
                await using var client = new TestClusterClient(nodes.Select(n => n.Port));
                for (long i = 0; !stop.IsCancellationRequested; i++)
                {
                    attempts++;
                    string key = "drill:" + i, value = "v" + i;
                    var set = await client.CallAsync(key, "SET", key, value);
                    if (set is not { Text: "OK" })
                    {
                        await Task.Delay(20);
                        await client.RefreshAsync();
                        continue;
                    }
                    var wait = await client.CallOnLastNodeAsync("WAIT", "1", "1000");
                    if (wait is { Kind: ':', Integer: >= 1 }) acknowledged[key] = value;
                }
            });

            var timings = new List<long>();
            for (int round = 0; round < 10; round++)
            {
                await Task.Delay(300);
                var victim = await PickPrimaryAsync(nodes);
                string victimId = await IdAsync(victim);
                var watch = Stopwatch.StartNew();
                victim.Kill();
                var alive = nodes.Where(n => n != victim).ToList();
                await WaitUntilAsync(async () =>
                {
                    foreach (var n in alive)
                    {
                        await using var c = await n.ConnectAsync();
                        if (await ClusterInfoFieldAsync(c, "cluster_state") != "ok") return false;
                        var view = await NodesAsync(c);
                        var dead = view.Single(v => v.Id == victimId);
                        if (!dead.Flags.Contains("fail") || dead.Slots.Length > 0) return false;
                    }
                    return true;
                }, $"the cluster to recover from killing {victim.Address} (round {round})", 60_000);
                timings.Add(watch.ElapsedMilliseconds);

                // The old primary comes back and follows the replica that replaced it.
                await victim.StartAsync();
                await WaitUntilAsync(async () =>
                {
                    await using var c = await victim.ConnectAsync();
                    return await InfoFieldAsync(c, "replication", "role") == "slave" &&
                           await InfoFieldAsync(c, "replication", "master_link_status") == "up";
                }, $"{victim.Address} to rejoin as a replica (round {round})", 60_000);
                await WaitForConsistentAsync(nodes);
            }

            stop.Cancel();
            await writer;
            Assert.True(acknowledged.Count > 100, $"only {acknowledged.Count} of {attempts} writes were acknowledged");
            await using var reader = new TestClusterClient(nodes.Select(n => n.Port));
            var lost = new List<string>();
            foreach (var (key, value) in acknowledged)
            {
                var r = await reader.CallAsync(key, "GET", key);
                if (r?.Text != value) lost.Add(key);
            }
            Assert.True(lost.Count == 0, $"{lost.Count} acknowledged writes lost, e.g. {string.Join(", ", lost.Take(5))}");
            foreach (long ms in timings)
                Assert.True(ms <= NodeTimeoutMs + 3000, $"recovery took {ms} ms (all: {string.Join(", ", timings)})");
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    private static async Task<ClusterProcess> PickPrimaryAsync(List<ClusterProcess> nodes)
    {
        var primaries = new List<ClusterProcess>();
        foreach (var n in nodes)
        {
            await using var c = await n.ConnectAsync();
            if (await InfoFieldAsync(c, "replication", "role") == "master") primaries.Add(n);
        }
        return primaries[Random.Shared.Next(primaries.Count)];
    }

    private static async Task<string> IdAsync(ClusterProcess node)
    {
        await using var c = await node.ConnectAsync();
        return (await c.CallTextAsync("CLUSTER", "MYID"))!;
    }
}
