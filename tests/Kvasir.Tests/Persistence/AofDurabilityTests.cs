using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>Runs alone: it starts and SIGKILLs real server processes, timing matters.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class AofDurabilityCollection;

/// <summary>
/// appendfsync always over real crashes: the kvasir-server executable is killed with SIGKILL at
/// random moments while a client INCRements a counter, and restarted on the same directory. Every
/// acknowledged INCR must survive (counter &gt;= last acknowledged value) and the counter never goes
/// back. With always, a reply leaves only after the write was fsynced (group commit), so even a
/// power cut would keep it; a SIGKILL checks the write-before-reply half of that for real.
/// </summary>
[Collection(nameof(AofDurabilityCollection))]
public sealed class AofDurabilityTests
{
    /// <summary>Starts the executable on <paramref name="dir"/> and waits until it answers PING.</summary>
    internal static async Task<(Process Process, RespClient Client)> StartProcessAsync(string dir, int port, params string[] extra)
    {
        var psi = new ProcessStartInfo(ServerExecutable.Path()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
                     "--logfile", Path.Combine(dir, "server.log") })
            psi.ArgumentList.Add(a);
        foreach (var a in extra) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (p.HasExited) Assert.Fail("server exited: " + File.ReadAllText(Path.Combine(dir, "server.log")));
            try
            {
                var c = await RespClient.ConnectAsync("127.0.0.1", port);
                if ((await c.CallAsync("PING")).Text == "PONG") return (p, c);
                await c.DisposeAsync();
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
            }
            Assert.True(DateTime.UtcNow < deadline, "server did not answer");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task AcknowledgedIncrementsSurviveSigkillWithAppendfsyncAlways()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("SIGKILL of a child process");
        string dir = Directory.CreateTempSubdirectory("kvasir-aof-kill-").FullName;
        var random = new Random(12345);
        long lastSeen = 0;
        int kills = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            while (kills < 24 && clock.Elapsed < TimeSpan.FromSeconds(50))
            {
                int port = ServerExecutable.FreePort();
                var (process, client) = await StartProcessAsync(dir, port, "--appendonly", "yes", "--appendfsync", "always");
                try
                {
                    long recovered = long.Parse((await client.CallAsync("GET", "counter")).Text ?? "0");
                    Assert.True(recovered >= lastSeen, $"after kill {kills}: counter {recovered} < last acknowledged {lastSeen}");
                    lastSeen = recovered;

                    // Several writers, so the group commit has batches from different connections to cover.
                    long acknowledged = lastSeen;
                    var stop = new CancellationTokenSource();
                    var writers = new List<Task>();
                    for (int w = 0; w < 3; w++)
                    {
                        var c = w == 0 ? client : await RespClient.ConnectAsync("127.0.0.1", port);
                        writers.Add(Task.Run(async () =>
                        {
                            try
                            {
                                while (!stop.IsCancellationRequested)
                                {
                                    var reply = await c.CallAsync("INCR", "counter");
                                    long v = reply.Integer;
                                    long seen;
                                    while ((seen = Interlocked.Read(ref acknowledged)) < v && Interlocked.CompareExchange(ref acknowledged, v, seen) != seen) { }
                                }
                            }
                            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException or TimeoutException or OperationCanceledException or InvalidDataException)
                            {
                                // The server was killed under us.
                            }
                        }));
                    }
                    await Task.Delay(random.Next(30, 250));
                    process.Kill();
                    await process.WaitForExitAsync();
                    stop.Cancel();
                    await Task.WhenAll(writers);
                    kills++;
                    Assert.True(Interlocked.Read(ref acknowledged) >= lastSeen);
                    lastSeen = Interlocked.Read(ref acknowledged);
                }
                finally
                {
                    if (!process.HasExited) process.Kill();
                    await client.DisposeAsync();
                }
            }
            Assert.True(kills >= 20, $"only {kills} kills in {clock.Elapsed}");
            Assert.True(lastSeen > 0);

            // The last restart sees everything acknowledged before the last kill.
            var (last, lc) = await StartProcessAsync(dir, ServerExecutable.FreePort(), "--appendonly", "yes");
            try
            {
                Assert.True(long.Parse((await lc.CallAsync("GET", "counter")).Text ?? "0") >= lastSeen);
            }
            finally
            {
                last.Kill();
                await last.WaitForExitAsync();
                await lc.DisposeAsync();
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
