using System.Diagnostics;
using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Sentinel.SentinelKit;

namespace Kvasir.Tests.Sentinel;

/// <summary>
/// The failover drill of the Sentinel issue: three data nodes and three Sentinels on loopback, a
/// writer that acknowledges its writes with WAIT 1 and finds the primary through the Sentinels, and
/// the primary killed with SIGKILL ten times in a row (the dead node restarted as a replica each
/// time). Every time a new primary must be announced within down-after-milliseconds + 3 s, and no
/// acknowledged write may be missing on it.
/// </summary>
[Collection(nameof(SentinelCollection))]
public sealed class FailoverDrillTests
{
    // Not shorter: Redis 7.0 Sentinels reconnect to a new primary up to a ping period (1 s) after
    // +switch-master, and with 1000 they may see it down at once and fail over again.
    private const int DownAfterMs = 2000;
    private const int Rounds = 10;

    [Fact]
    public Task KvasirSentinelsFailOverKvasirNodes() => DrillAsync(redisSentinels: false, redisNodes: false);

    [Fact]
    public Task RedisSentinelsFailOverKvasirNodes() => DrillAsync(redisSentinels: true, redisNodes: false);

    /// <summary>Two Kvasir Sentinels and one redis-sentinel agree and fail over together.</summary>
    [Fact]
    public Task MixedQuorumFailsOver() => DrillAsync(redisSentinels: false, redisNodes: false, rounds: 3, mixed: true);

    /// <summary>Kvasir Sentinels driving Redis 7.0 data nodes.</summary>
    [Fact]
    public Task KvasirSentinelsFailOverRedisNodes() => DrillAsync(redisSentinels: false, redisNodes: true, rounds: 3);

    private static async Task DrillAsync(bool redisSentinels, bool redisNodes, int rounds = Rounds, bool mixed = false)
    {
        var nodes = new List<NodeProcess>();
        var sentinels = new List<NodeProcess>();
        using var stop = new CancellationTokenSource();
        Task? writer = null;
        try
        {
            for (int i = 0; i < 3; i++) nodes.Add(await NodeProcess.StartDataNodeAsync(redisNodes));
            foreach (var replica in nodes.Skip(1))
                Assert.Equal("OK", (await CallAsync(replica.Port, "REPLICAOF", "127.0.0.1", nodes[0].Port.ToString())).Text);
            await WaitForReplicasOnlineAsync(nodes[0].Port, 2);

            string[] lines = [$"sentinel down-after-milliseconds mymaster {DownAfterMs}", "sentinel failover-timeout mymaster 10000"];
            for (int i = 0; i < 3; i++)
                sentinels.Add(await NodeProcess.StartSentinelAsync(redisSentinels || (mixed && i == 2), nodes[0].Port, 2, lines));
            await WaitForDiscoveryAsync(sentinels, 2);

            // The writer: SET then WAIT 1; a write counts as acknowledged when WAIT says a replica has it.
            var acknowledged = new List<long>();
            var ackLock = new object();
            writer = Task.Run(async () =>
            {
                long n = 0;
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        int port = await ResolvePrimaryAsync(sentinels);
                        if (port == 0)
                        {
                            await Task.Delay(50);
                            continue;
                        }
                        await using var c = await RespClient.ConnectAsync("127.0.0.1", port);
                        c.Timeout = TimeSpan.FromSeconds(3);
                        while (!stop.IsCancellationRequested)
                        {
                            long id = n++;
                            var set = await c.CallAsync("SET", $"drill:{id}", id.ToString());
                            if (set.IsError) break; // READONLY: a replica now; ask the Sentinels again
                            var wait = await c.CallAsync("WAIT", "1", "1000");
                            if (!wait.IsError && wait.Integer >= 1)
                                lock (ackLock) acknowledged.Add(id);
                        }
                    }
                    catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or OperationCanceledException)
                    {
                    }
                    await Task.Delay(20);
                }
            });

            for (int round = 0; round < rounds; round++)
            {
                int oldPort = await PrimaryPortAsync(sentinels[0].Port);
                var primary = nodes.Single(n => n.Port == oldPort);
                await WaitForReplicasOnlineAsync(oldPort, 2);
                // Some acknowledged writes on this primary before it dies.
                int ackedBefore;
                lock (ackLock) ackedBefore = acknowledged.Count;
                await WaitUntilAsync(() => { lock (ackLock) return Task.FromResult(acknowledged.Count > ackedBefore + 20); },
                    "the writer to get writes acknowledged", 30_000);

                var killedAt = Stopwatch.StartNew();
                primary.Kill();
                long announcedMs = -1;
                int announcedPort = 0;
                await WaitUntilAsync(async () =>
                {
                    foreach (var s in sentinels)
                    {
                        int p = await PrimaryPortAsync(s.Port);
                        if (p != 0 && p != oldPort)
                        {
                            if (announcedMs < 0) announcedMs = killedAt.ElapsedMilliseconds;
                            announcedPort = p;
                            return true;
                        }
                    }
                    return false;
                }, $"round {round}: a new primary after killing {oldPort}", 60_000, () => Diagnostics(sentinels, nodes));
                Assert.True(announcedMs <= DownAfterMs + 3000, $"round {round}: the new primary was announced after {announcedMs} ms");

                // The dead node comes back as a replica of the new primary.
                int newPort = announcedPort;
                await primary.StartAsync(["--replicaof", "127.0.0.1", newPort.ToString()]);

                // The failover is over everywhere (+switch-master) and all Sentinels agree before the
                // next kill. (A primary that stalls for down-after-milliseconds may be failed over once
                // more meanwhile: the agreed one counts.)
                await WaitUntilAsync(async () =>
                {
                    int agreed = -1;
                    foreach (var s in sentinels)
                    {
                        var master = await CallAsync(s.Port, "SENTINEL", "MASTER", "mymaster");
                        if (Field(master, "flags") is not { } f || f.Contains("failover_in_progress", StringComparison.Ordinal)) return false;
                        int p = await PrimaryPortAsync(s.Port);
                        if (agreed == -1) agreed = p;
                        else if (p != agreed) return false;
                    }
                    newPort = agreed;
                    return agreed != 0 && await InfoFieldAsync(agreed, "role") == "master";
                }, $"round {round}: the failover to end and the Sentinels to agree", 30_000, () => Diagnostics(sentinels, nodes));

                // Nothing acknowledged is missing on the new primary.
                long[] expected;
                lock (ackLock) expected = acknowledged.ToArray();
                await AssertAllPresentAsync(newPort, expected, $"round {round}", () => Diagnostics(sentinels, nodes));
            }

            stop.Cancel();
            await writer;
            writer = null;
            int finalPort = await PrimaryPortAsync(sentinels[0].Port);
            long[] all;
            lock (ackLock) all = acknowledged.ToArray();
            Assert.True(all.Length > rounds * 20);
            await AssertAllPresentAsync(finalPort, all, "at the end", () => Diagnostics(sentinels, nodes));
        }
        finally
        {
            stop.Cancel();
            if (writer is not null)
            {
                try { await writer; }
                catch (Exception) { }
            }
            foreach (var s in sentinels) await s.DisposeAsync();
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    /// <summary>Each Sentinel's log and view of the primary and replicas, for a failure message.</summary>
    private static string Diagnostics(IReadOnlyList<NodeProcess> sentinels, IReadOnlyList<NodeProcess> nodes)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var n in nodes)
        {
            var lines = n.ReadLog().Split('\n');
            sb.Append("---- Node ").Append(n.Port).Append('\n').Append(string.Join('\n', lines.Skip(Math.Max(0, lines.Length - 60)))).Append('\n');
            try { sb.Append(CallAsync(n.Port, "INFO", "replication").GetAwaiter().GetResult().Text).Append('\n'); }
            catch (Exception e) { sb.Append(e.Message).Append('\n'); }
        }
        foreach (var s in sentinels)
        {
            sb.Append("---- Sentinel ").Append(s.Port).Append('\n').Append(s.ReadLog());
            try
            {
                sb.Append("MASTER: ").Append(CallAsync(s.Port, "SENTINEL", "MASTER", "mymaster").GetAwaiter().GetResult()).Append('\n');
                sb.Append("REPLICAS: ").Append(CallAsync(s.Port, "SENTINEL", "REPLICAS", "mymaster").GetAwaiter().GetResult()).Append('\n');
                sb.Append("SENTINELS: ").Append(CallAsync(s.Port, "SENTINEL", "SENTINELS", "mymaster").GetAwaiter().GetResult()).Append('\n');
            }
            catch (Exception e)
            {
                sb.Append(e.Message).Append('\n');
            }
        }
        return sb.ToString();
    }

    /// <summary>The primary as the first Sentinel that answers sees it.</summary>
    private static async Task<int> ResolvePrimaryAsync(IReadOnlyList<NodeProcess> sentinels)
    {
        foreach (var s in sentinels)
        {
            try
            {
                int port = await PrimaryPortAsync(s.Port);
                if (port != 0) return port;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
            {
            }
        }
        return 0;
    }

    private static Task WaitForReplicasOnlineAsync(int primaryPort, int count) =>
        WaitUntilAsync(async () =>
        {
            var info = (await CallAsync(primaryPort, "INFO", "replication")).Text ?? "";
            return info.Split("\r\n").Count(l => l.StartsWith("slave", StringComparison.Ordinal) && l.Contains("state=online", StringComparison.Ordinal)) >= count;
        }, $"{count} replicas online at {primaryPort}", 60_000);

    private static async Task AssertAllPresentAsync(int port, long[] ids, string when, Func<string> diagnostics)
    {
        await using var c = await RespClient.ConnectAsync("127.0.0.1", port);
        c.Timeout = TimeSpan.FromSeconds(30);
        for (int start = 0; start < ids.Length; start += 500)
        {
            var chunk = ids.Skip(start).Take(500).ToArray();
            var reply = await c.CallAsync(["MGET", .. chunk.Select(id => (object)$"drill:{id}")]);
            for (int i = 0; i < chunk.Length; i++)
                if (reply.Items![i].Text != chunk[i].ToString())
                    Assert.Fail($"{when}: acknowledged write drill:{chunk[i]} is missing on the primary {port}\n{diagnostics()}");
        }
    }
}
