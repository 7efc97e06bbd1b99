using System.Diagnostics;
using System.Net.Sockets;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Sentinel;

/// <summary>Multi-process Sentinel tests run alone: their timings (down-after-milliseconds) must not compete with the rest of the suite.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class SentinelCollection;

/// <summary>
/// A server or Sentinel in a process of its own, on a fixed port and directory so that it can be
/// killed with SIGKILL and started again in the same place: kvasir-server, Debian's redis-server, or
/// a Sentinel (kvasir-server --sentinel, or redis-sentinel) with a config file it rewrites.
/// </summary>
internal sealed class NodeProcess : IAsyncDisposable
{
    public const string RedisServerPath = "/usr/bin/redis-server";
    public const string RedisSentinelPath = "/usr/bin/redis-sentinel";

    private readonly string _binary;
    private readonly string[] _baseArgs;
    private Process? _process;

    private NodeProcess(string binary, string[] baseArgs, string dir, int port, bool sentinel)
    {
        _binary = binary;
        _baseArgs = baseArgs;
        Dir = dir;
        Port = port;
        IsSentinel = sentinel;
    }

    public int Port { get; }
    public string Dir { get; }
    public bool IsSentinel { get; }
    public string LogPath => Path.Combine(Dir, "server.log");
    public string ConfigPath => Path.Combine(Dir, "sentinel.conf");
    public bool Running => _process is { HasExited: false };

    /// <summary>
    /// A free port below the ephemeral range: a node killed and started again on its port must find
    /// it free, and a port of the ephemeral range can meanwhile be taken by an outgoing connection
    /// (even by a Sentinel's connection to it that connected to itself).
    /// </summary>
    public static int FreePortBelowEphemeral()
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int port = Random.Shared.Next(20_000, 32_000);
            try
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }
        return ServerExecutable.FreePort();
    }

    public static void RequireRedis(string path)
    {
        if (!File.Exists(path)) Assert.Skip($"{path} is not installed (apt-get install redis-server redis-sentinel)");
    }

    /// <summary>A data node: kvasir-server or, with <paramref name="redis"/>, redis-server 7.0.</summary>
    public static Task<NodeProcess> StartDataNodeAsync(bool redis = false, params string[] extra)
    {
        if (redis) RequireRedis(RedisServerPath);
        int port = FreePortBelowEphemeral();
        string dir = Directory.CreateTempSubdirectory("kvasir-snode-").FullName;
        var args = new List<string>
        {
            "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no",
            "--logfile", Path.Combine(dir, "server.log"), "--protected-mode", "no", "--repl-diskless-sync-delay", "0",
        };
        if (!redis) args.AddRange(["--enable-debug-command", "yes"]);
        args.AddRange(extra);
        var node = new NodeProcess(redis ? RedisServerPath : ServerExecutable.Path(), args.ToArray(), dir, port, sentinel: false);
        return node.StartAsync([]);
    }

    /// <summary>
    /// A Sentinel monitoring "mymaster" at <paramref name="primaryPort"/>: kvasir-server --sentinel or,
    /// with <paramref name="redis"/>, redis-sentinel 7.0. <paramref name="lines"/> go into its sentinel.conf.
    /// </summary>
    public static Task<NodeProcess> StartSentinelAsync(bool redis, int primaryPort, int quorum, params string[] lines)
    {
        if (redis) RequireRedis(RedisSentinelPath);
        int port = ServerExecutable.FreePort();
        string dir = Directory.CreateTempSubdirectory("kvasir-sent-").FullName;
        var conf = new List<string>
        {
            $"port {port}", "bind 127.0.0.1", $"dir {dir}", $"logfile {Path.Combine(dir, "server.log")}",
            $"sentinel monitor mymaster 127.0.0.1 {primaryPort} {quorum}",
        };
        conf.AddRange(lines);
        File.WriteAllText(Path.Combine(dir, "sentinel.conf"), string.Join('\n', conf) + "\n");
        string config = Path.Combine(dir, "sentinel.conf");
        var node = redis
            ? new NodeProcess(RedisSentinelPath, [config], dir, port, sentinel: true)
            : new NodeProcess(ServerExecutable.Path(), [config, "--sentinel"], dir, port, sentinel: true);
        return node.StartAsync([]);
    }

    /// <summary>Starts (again) in the same directory and on the same port, with extra arguments for this run.</summary>
    public async Task<NodeProcess> StartAsync(string[] extra)
    {
        var psi = new ProcessStartInfo(_binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Dir };
        foreach (var a in _baseArgs) psi.ArgumentList.Add(a);
        foreach (var a in extra) psi.ArgumentList.Add(a);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            _process = Process.Start(psi)!;
            _ = _process.StandardOutput.ReadToEndAsync();
            _ = _process.StandardError.ReadToEndAsync();
            while (true)
            {
                try
                {
                    await using var c = await RespClient.ConnectAsync("127.0.0.1", Port);
                    var pong = await c.CallAsync("PING");
                    if (pong.Text == "PONG" || (pong.IsError && pong.Text!.StartsWith("LOADING", StringComparison.Ordinal))) return this;
                }
                catch (Exception e) when (e is SocketException or IOException)
                {
                }
                if (_process.HasExited) break;
                if (DateTime.UtcNow > deadline) Assert.Fail($"{_binary} did not start:\n{ReadLog()}");
                await Task.Delay(50);
            }
            // The port of a node killed a moment ago may still be held: try again.
            if (DateTime.UtcNow > deadline) Assert.Fail($"{_binary} exited at start:\n{ReadLog()}");
            await Task.Delay(200);
        }
    }

    public string ReadLog()
    {
        try { return File.Exists(LogPath) ? File.ReadAllText(LogPath) : "(no log)"; }
        catch (IOException) { return "(log unreadable)"; }
    }

    public async Task<RespClient> ConnectAsync() => await RespClient.ConnectAsync("127.0.0.1", Port);

    /// <summary>kill -9.</summary>
    public void Kill()
    {
        var p = _process;
        if (p is null) return;
        try
        {
            if (!p.HasExited) p.Kill();
            p.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        p.Dispose();
        _process = null;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return ValueTask.CompletedTask;
    }
}

/// <summary>Polling helpers for Sentinel tests.</summary>
internal static class SentinelKit
{
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int timeoutMs = 30_000, Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            bool ok;
            try { ok = await condition(); }
            catch (Exception e) when (e is SocketException or IOException or TimeoutException) { ok = false; }
            if (ok) return;
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what + (diagnostics is null ? "" : "\n" + diagnostics()));
            await Task.Delay(50);
        }
    }

    /// <summary>One short-lived connection for one command (nodes come and go in these tests).</summary>
    public static async Task<RespValue> CallAsync(int port, params object[] args)
    {
        await using var c = await RespClient.ConnectAsync("127.0.0.1", port);
        c.Timeout = TimeSpan.FromSeconds(5);
        return await c.CallAsync(args);
    }

    /// <summary>SENTINEL GET-MASTER-ADDR-BY-NAME mymaster's port, or 0.</summary>
    public static async Task<int> PrimaryPortAsync(int sentinelPort)
    {
        var reply = await CallAsync(sentinelPort, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster");
        return reply.Items is { Count: 2 } items ? int.Parse(items[1].Text!) : 0;
    }

    /// <summary>A field of a SENTINEL MASTER/REPLICAS entry (a flat list of names and values).</summary>
    public static string? Field(RespValue instance, string name)
    {
        var items = instance.Items!;
        for (int i = 0; i + 1 < items.Count; i += 2)
            if (items[i].Text == name) return items[i + 1].Text;
        return null;
    }

    public static async Task<string> InfoFieldAsync(int port, string field, string section = "replication")
    {
        var info = (await CallAsync(port, "INFO", section)).Text ?? "";
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return "";
    }

    /// <summary>Waits until every Sentinel knows the replicas and the other Sentinels.</summary>
    public static async Task WaitForDiscoveryAsync(IReadOnlyList<NodeProcess> sentinels, int replicas)
    {
        foreach (var s in sentinels)
        {
            await WaitUntilAsync(async () =>
            {
                var master = await CallAsync(s.Port, "SENTINEL", "MASTER", "mymaster");
                return Field(master, "num-other-sentinels") == (sentinels.Count - 1).ToString() &&
                       Field(master, "num-slaves") == replicas.ToString();
            }, $"Sentinel {s.Port} to discover {sentinels.Count - 1} Sentinels and {replicas} replicas", 60_000, s.ReadLog);
        }
    }
}
