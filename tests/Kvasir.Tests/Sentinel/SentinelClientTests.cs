using System.Diagnostics;
using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Sentinel.SentinelKit;

namespace Kvasir.Tests.Sentinel;

/// <summary>
/// Sentinel-aware clients against Kvasir Sentinels: redis-py's Sentinel (Debian's python3-redis, run
/// with /usr/bin/python3) finds the primary and follows a failover; redis-cli speaks the SENTINEL
/// workflow of the Sentinel documentation.
/// </summary>
public sealed class SentinelClientTests
{
    private const string Python = "/usr/bin/python3";

    /// <summary>Discovers the primary and replicas, writes, asks for a failover, and writes again through the same master_for client.</summary>
    private const string RedisPyScript = """
        import sys, time
        from redis.sentinel import Sentinel
        sentinel = Sentinel([('127.0.0.1', int(sys.argv[1]))], socket_timeout=2)
        before = sentinel.discover_master('mymaster')
        print('master', before[1])
        print('replicas', len(sentinel.discover_slaves('mymaster')))
        master = sentinel.master_for('mymaster', socket_timeout=2)
        master.set('py:before', 'one')
        deadline = time.time() + 30
        while True:
            try:
                sentinel.sentinels[0].sentinel_failover('mymaster')
                break
            except Exception as e:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        while sentinel.discover_master('mymaster') == before:
            if time.time() > deadline:
                raise SystemExit('no failover')
            time.sleep(0.1)
        for attempt in range(200):
            try:
                master.set('py:after', 'two')
                break
            except Exception:
                time.sleep(0.1)
        print('after', sentinel.discover_master('mymaster')[1])
        print('values', master.get('py:before').decode(), master.get('py:after').decode())
        """;

    [Fact]
    public async Task RedisPySentinelClientFollowsAFailover()
    {
        if (!File.Exists(Python)) Assert.Skip("python3 is not installed");
        var check = Process.Start(new ProcessStartInfo(Python, ["-c", "import redis.sentinel"]) { RedirectStandardError = true })!;
        await check.WaitForExitAsync();
        if (check.ExitCode != 0) Assert.Skip("python3-redis is not installed (apt-get install python3-redis)");

        await using var primary = await TestServer.StartAsync();
        await using var replica = await TestServer.StartAsync();
        await using (var r = await replica.ConnectAsync())
            await Replication.ReplicationKit.AttachAsync(r, primary.Port);
        await using var sentinel = await SentinelServer.StartAsync($"sentinel monitor mymaster 127.0.0.1 {primary.Port} 1");
        await using (var c = await sentinel.ConnectAsync())
        {
            await c.CallAsync("SENTINEL", "DEBUG", "info-period", "200");
            await WaitUntilAsync(async () => Field(await c.CallAsync("SENTINEL", "MASTER", "mymaster"), "num-slaves") == "1", "the replica to be discovered");
        }

        string script = Path.Combine(sentinel.Dir, "client.py");
        await File.WriteAllTextAsync(script, RedisPyScript);
        var psi = new ProcessStartInfo(Python, [script, sentinel.Port.ToString()]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await p.WaitForExitAsync(timeout.Token);
        string output = await stdout;
        Assert.True(p.ExitCode == 0, output + await stderr);
        Assert.Equal(
            [$"master {primary.Port}", "replicas 1", $"after {replica.Port}", "values one two"],
            output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task RedisCliSentinelWorkflow()
    {
        if (!File.Exists("/usr/bin/redis-cli")) Assert.Skip("redis-cli is not installed (apt-get install redis-tools)");
        await using var primary = await TestServer.StartAsync();
        await using var sentinel = await SentinelServer.StartAsync($"sentinel monitor mymaster 127.0.0.1 {primary.Port} 1");

        async Task<string> Cli(params string[] args)
        {
            var psi = new ProcessStartInfo("/usr/bin/redis-cli", ["-p", sentinel.Port.ToString(), .. args]) { RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            string text = await p.StandardOutput.ReadToEndAsync();
            await p.WaitForExitAsync();
            return text;
        }

        Assert.Equal($"127.0.0.1\n{primary.Port}\n", await Cli("SENTINEL", "get-master-addr-by-name", "mymaster"));
        Assert.StartsWith("name\nmymaster\nip\n127.0.0.1\nport\n" + primary.Port + "\nrunid\n", await Cli("SENTINEL", "master", "mymaster"));
        Assert.Contains("# Sentinel", await Cli("INFO", "sentinel"));
        Assert.Equal("OK\n", await Cli("SENTINEL", "set", "mymaster", "down-after-milliseconds", "5000"));
        Assert.Equal("OK 1 usable Sentinels. Quorum and failover authorization can be reached\n", await Cli("SENTINEL", "ckquorum", "mymaster"));
    }
}
