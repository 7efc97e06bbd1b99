using System.Collections.Concurrent;
using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Replication.ReplicationKit;

namespace Kvasir.Tests.Replication;

/// <summary>
/// Failure handling is the feature: links cut at random moments while writers run, and a primary
/// killed with SIGKILL while it streams. Writes that WAIT reported as replicated must survive both.
/// </summary>
public sealed class ReplicationFaultTests
{
    /// <summary>
    /// A primary with 4 writers and 2 replicas whose links are cut 50 times at random moments (from
    /// either side): at the end all three hold the same data, and every write acknowledged by
    /// WAIT 2 is on both replicas.
    /// </summary>
    [Fact]
    public async Task RandomLinkCutsLoseNothingWaitAcknowledged()
    {
        await using var primaryServer = await TestServer.StartAsync(Fast);
        await using var r1 = await TestServer.StartAsync(Fast);
        await using var r2 = await TestServer.StartAsync(Fast);
        await using var primary = await primaryServer.ConnectAsync();
        await using var c1 = await r1.ConnectAsync();
        await using var c2 = await r2.ConnectAsync();
        // A small backlog: some reconnections must fall back to a full sync while writes go on.
        await primary.CallAsync("CONFIG", "SET", "repl-backlog-size", "16384");
        await AttachAsync(c1, primaryServer.Port);
        await AttachAsync(c2, primaryServer.Port);

        var acknowledged = new ConcurrentBag<string>();
        using var stop = new CancellationTokenSource();
        async Task Writer(int id)
        {
            await using var c = await primaryServer.ConnectAsync();
            c.Timeout = TimeSpan.FromSeconds(30);
            var pending = new List<string>();
            for (long n = 0; !stop.IsCancellationRequested; n++)
            {
                string key = $"w{id}:{n}";
                await c.CallAsync("SET", key, n.ToString());
                await c.CallAsync("HSET", $"h{id}", n.ToString(), key);
                pending.Add(key);
                if (pending.Count < 5) continue;
                if ((await c.CallAsync("WAIT", "2", "500")).Integer == 2)
                    foreach (var k in pending) acknowledged.Add(k);
                pending.Clear();
            }
        }
        var writers = Enumerable.Range(0, 4).Select(Writer).ToArray();
        var random = new Random(7);
        var replicas = new[] { c1, c2 };
        for (int cut = 0; cut < 50; cut++)
        {
            await Task.Delay(random.Next(10, 80));
            switch (random.Next(3))
            {
                case 0: await replicas[random.Next(2)].CallAsync("CLIENT", "KILL", "TYPE", "master"); break;
                case 1: await primary.CallAsync("CLIENT", "KILL", "TYPE", "replica"); break;
                default:
                    // One replica, cut from the primary's side by its address.
                    var list = (await primary.CallAsync("CLIENT", "LIST", "TYPE", "replica")).Text ?? "";
                    var line = list.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
                    if (line is not null)
                    {
                        string id = line.Split(' ')[0]["id=".Length..];
                        await primary.CallAsync("CLIENT", "KILL", "ID", id);
                    }
                    break;
            }
        }
        stop.Cancel();
        await Task.WhenAll(writers);

        await WaitForLinkAsync(c1);
        await WaitForLinkAsync(c2);
        await WaitForOffsetsAsync(primary, c1);
        await WaitForOffsetsAsync(primary, c2);
        string digest = await DigestAsync(primary);
        Assert.Equal(digest, await DigestAsync(c1));
        Assert.Equal(digest, await DigestAsync(c2));
        Assert.NotEmpty(acknowledged);
        foreach (var key in acknowledged)
        {
            Assert.Equal(1, (await c1.CallAsync("EXISTS", key)).Integer);
            Assert.Equal(1, (await c2.CallAsync("EXISTS", key)).Integer);
        }
        long partial = long.Parse(await InfoFieldAsync(primary, "sync_partial_ok", "stats"));
        Assert.True(partial > 0, "some reconnections continued from the backlog");
    }

    /// <summary>
    /// The primary (a process of its own) is killed with SIGKILL while its replicas stream; one
    /// replica is promoted. Every write acknowledged by WAIT 1 0 before the kill is on it, and the
    /// other replica follows it with a partial resync.
    /// </summary>
    [Fact]
    public async Task KilledPrimaryLosesNoWaitAcknowledgedWrite()
    {
        var primaryServer = await ExternalServer.StartKvasirAsync("--repl-diskless-sync-delay", "0");
        await using var r1 = await TestServer.StartAsync(Fast);
        await using var r2 = await TestServer.StartAsync(Fast);
        await using var c1 = await r1.ConnectAsync();
        await using var c2 = await r2.ConnectAsync();
        var acknowledged = new ConcurrentBag<string>();
        try
        {
            await AttachAsync(c1, primaryServer.Port);
            await AttachAsync(c2, primaryServer.Port);
            async Task Writer(int id)
            {
                try
                {
                    await using var c = await primaryServer.ConnectAsync();
                    c.Timeout = TimeSpan.FromSeconds(30);
                    for (long n = 0; ; n++)
                    {
                        string key = $"w{id}:{n}";
                        await c.CallAsync("SET", key, n.ToString());
                        if ((await c.CallAsync("WAIT", "1", "0")).Integer >= 1) acknowledged.Add(key);
                    }
                }
                catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException)
                {
                    // The primary is gone.
                }
            }
            var writers = Enumerable.Range(0, 4).Select(Writer).ToArray();
            await Task.Delay(700);
            primaryServer.Kill();
            await Task.WhenAll(writers);
        }
        finally
        {
            await primaryServer.DisposeAsync();
        }

        Assert.NotEmpty(acknowledged);
        // Promote the replica that got further (as Sentinel would), then the other follows it.
        long o1 = long.Parse(await InfoFieldAsync(c1, "master_repl_offset"));
        long o2 = long.Parse(await InfoFieldAsync(c2, "master_repl_offset"));
        var (promoted, promotedServer, other) = o1 >= o2 ? (c1, r1, c2) : (c2, r2, c1);
        Assert.Equal("OK", await promoted.CallTextAsync("REPLICAOF", "NO", "ONE"));
        await AttachAsync(other, promotedServer.Port);
        await WaitForOffsetsAsync(promoted, other);
        Assert.Equal("0", await InfoFieldAsync(promoted, "sync_full", "stats"));
        foreach (var key in acknowledged)
            Assert.Equal(1, (await promoted.CallAsync("EXISTS", key)).Integer);
        Assert.Equal(await DigestAsync(promoted), await DigestAsync(other));
    }
}
