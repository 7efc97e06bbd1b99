using static Kvasir.Tests.Cluster.ClusterKit;

namespace Kvasir.Tests.Cluster;

/// <summary>
/// redis-cli --cluster (Debian's redis-tools) against Kvasir nodes: create six nodes with one
/// replica each, check, reshard while a client keeps writing, rebalance, add a node and give it
/// slots, empty it with a rebalance and delete it. Every key written stays readable through the
/// redirections. (redis-cli moves slots one at a time; the amounts are kept small for CI.)
/// </summary>
[Collection(nameof(ClusterCollection))]
public sealed class ClusterCliTests
{
    [Fact]
    public async Task CreateCheckReshardRebalanceAddAndDeleteNodes()
    {
        var nodes = new List<ClusterProcess>();
        try
        {
            for (int i = 0; i < 6; i++) nodes.Add(await ClusterProcess.StartKvasirAsync(3000));
            await CreateAsync(nodes, replicas: 1);
            string check = await ClusterCliAsync("check", nodes[0].Address);
            Assert.Contains("All nodes agree about slots configuration", check);
            Assert.Contains("All 16384 slots covered", check);

            await using var client = new TestClusterClient(nodes.Select(n => n.Port));
            for (int i = 0; i < 1000; i++) Assert.Equal("OK", (await client.CallAsync("k" + i, "SET", "k" + i, "v" + i))!.Text);

            // Three primaries, three replicas: each replica follows a primary of the cluster.
            await using (var c0 = await nodes[0].ConnectAsync())
            {
                var view = await NodesAsync(c0);
                Assert.Equal(3, view.Count(v => v.Flags.Contains("master") && v.Slots.Length > 0));
                Assert.Equal(3, view.Count(v => v.Flags.Contains("slave")));
            }

            // Reshard 200 slots while a client keeps writing: nothing fails, nothing is lost.
            string from = await IdAsync(nodes[0]), to = await IdAsync(nodes[1]);
            using var stop = new CancellationTokenSource();
            int written = 0;
            var writer = Task.Run(async () =>
            {
                await using var w = new TestClusterClient(nodes.Select(n => n.Port));
                while (!stop.IsCancellationRequested)
                {
                    var r = await w.CallAsync("w" + written, "SET", "w" + written, "x" + written);
                    Assert.Equal("OK", r!.Text);
                    written++;
                }
            });
            await ClusterCliAsync("reshard", nodes[0].Address, "--cluster-from", from, "--cluster-to", to, "--cluster-slots", "200", "--cluster-yes");
            stop.Cancel();
            await writer;
            Assert.True(written > 0);
            await WaitForConsistentAsync(nodes);
            for (int i = 0; i < 1000; i++) Assert.Equal("v" + i, (await client.CallAsync("k" + i, "GET", "k" + i))!.Text);
            for (int i = 0; i < written; i++) Assert.Equal("x" + i, (await client.CallAsync("w" + i, "GET", "w" + i))!.Text);
            Assert.True(client.Redirections > 0, "the reshard must have moved keys the client then found elsewhere");

            // 200 slots off balance is over rebalance's 2% threshold: it moves some back.
            string rebalance = await ClusterCliAsync("rebalance", nodes[0].Address, "--cluster-yes");
            Assert.Contains("Moving", rebalance);
            await WaitForConsistentAsync(nodes);
            await using (var c0 = await nodes[0].ConnectAsync())
            {
                var counts = (await NodesAsync(c0)).Where(v => v.Slots.Length > 0).Select(v => SlotCount(v.Slots)).ToList();
                Assert.True(counts.Max() - counts.Min() < 16384 * 3 / 100, "rebalanced: " + string.Join(",", counts));
            }

            // A new primary: add-node, then some slots for it.
            var extra = await ClusterProcess.StartKvasirAsync(3000);
            nodes.Add(extra);
            await ClusterCliAsync("add-node", extra.Address, nodes[0].Address);
            await WaitForConsistentAsync(nodes);
            string extraId = await IdAsync(extra);
            await ClusterCliAsync("reshard", nodes[0].Address, "--cluster-from", "all", "--cluster-to", extraId, "--cluster-slots", "60", "--cluster-yes");
            await WaitForConsistentAsync(nodes);
            await using (var ce = await extra.ConnectAsync())
            {
                Assert.Equal("4", await ClusterInfoFieldAsync(ce, "cluster_size"));
                // redis-cli takes a proportional share from each source, rounded down.
                Assert.InRange(SlotCount((await NodesAsync(ce)).Single(v => v.Id == extraId).Slots), 57, 60);
            }
            for (int i = 0; i < 1000; i++) Assert.Equal("v" + i, (await client.CallAsync("k" + i, "GET", "k" + i))!.Text);

            // Weight 0 empties it; then del-node removes it from every node.
            await ClusterCliAsync("rebalance", nodes[0].Address, "--cluster-weight", extraId + "=0", "--cluster-yes");
            await WaitForConsistentAsync(nodes);
            await ClusterCliAsync("del-node", nodes[0].Address, extraId);
            nodes.Remove(extra);
            await extra.DisposeAsync();
            await WaitForConsistentAsync(nodes);
            foreach (var n in nodes)
            {
                await using var c = await n.ConnectAsync();
                Assert.DoesNotContain((await NodesAsync(c)), v => v.Id == extraId);
            }
            check = await ClusterCliAsync("check", nodes[0].Address);
            Assert.Contains("All 16384 slots covered", check);
            for (int i = 0; i < 1000; i++) Assert.Equal("v" + i, (await client.CallAsync("k" + i, "GET", "k" + i))!.Text);
        }
        finally
        {
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    private static int SlotCount(string[] ranges) => ranges.Where(r => !r.StartsWith('[')).Sum(r =>
    {
        var p = r.Split('-');
        return p.Length == 1 ? 1 : int.Parse(p[1]) - int.Parse(p[0]) + 1;
    });

    private static async Task<string> IdAsync(ClusterProcess node)
    {
        await using var c = await node.ConnectAsync();
        return (await c.CallTextAsync("CLUSTER", "MYID"))!;
    }
}
