using System.Diagnostics;
using System.Net.Sockets;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Cluster;

/// <summary>
/// A cluster node in a process of its own, kvasir-server or Debian's redis-server 7.0, with its own
/// directory (nodes.conf) and ports that stay the same across a kill -9 and a restart.
/// </summary>
internal sealed class ClusterProcess : IAsyncDisposable
{
    private readonly string _binary;
    private readonly string[] _args;
    private Process? _process;

    private ClusterProcess(string binary, string dir, int port, int busPort, string[] args)
    {
        _binary = binary;
        Dir = dir;
        Port = port;
        BusPort = busPort;
        _args = args;
    }

    public int Port { get; }
    public int BusPort { get; }
    public string Dir { get; }
    public bool IsRedis => _binary == ExternalRedisPath;
    public string Address => $"127.0.0.1:{Port}";
    public string LogPath => Path.Combine(Dir, "server.log");
    public bool Running => _process is { HasExited: false };

    public const string ExternalRedisPath = "/usr/bin/redis-server";

    public static Task<ClusterProcess> StartKvasirAsync(int nodeTimeoutMs, params string[] args) =>
        StartAsync(ServerExecutable.Path(), nodeTimeoutMs, args);

    public static Task<ClusterProcess> StartRedisAsync(int nodeTimeoutMs, params string[] args)
    {
        if (!File.Exists(ExternalRedisPath)) Assert.Skip("redis-server is not installed (apt-get install redis-server)");
        return StartAsync(ExternalRedisPath, nodeTimeoutMs, args);
    }

    private static async Task<ClusterProcess> StartAsync(string binary, int nodeTimeoutMs, string[] args)
    {
        int port = ServerExecutable.FreePort();
        int bus = ServerExecutable.FreePort();
        while (bus == port) bus = ServerExecutable.FreePort();
        string dir = Directory.CreateTempSubdirectory("kvasir-cluster-").FullName;
        var all = new List<string>
        {
            "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no",
            "--logfile", Path.Combine(dir, "server.log"), "--protected-mode", "no", "--cluster-enabled", "yes",
            "--cluster-port", bus.ToString(), "--cluster-node-timeout", nodeTimeoutMs.ToString(),
            "--repl-diskless-sync-delay", "0", "--enable-debug-command", "yes",
        };
        all.AddRange(args);
        var node = new ClusterProcess(binary, dir, port, bus, all.ToArray());
        await node.StartAsync();
        return node;
    }

    /// <summary>Starts the process (again, after <see cref="Kill"/>) and waits until it answers.</summary>
    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo(_binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Dir };
        foreach (var a in _args) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _ = _process.StandardOutput.ReadToEndAsync();
        _ = _process.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await using var c = await RespClient.ConnectAsync("127.0.0.1", Port);
                if ((await c.CallAsync("PING")).Text == "PONG") return;
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
            }
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                string log = File.Exists(LogPath) ? await File.ReadAllTextAsync(LogPath) : "";
                Assert.Fail($"{_binary} on port {Port} did not start:\n{log}");
            }
            await Task.Delay(50);
        }
    }

    public Task<RespClient> ConnectAsync() => RespClient.ConnectAsync("127.0.0.1", Port);

    /// <summary>kill -9: no shutdown, nothing saved, no goodbye.</summary>
    public void Kill()
    {
        try
        {
            if (_process is { HasExited: false } p)
            {
                p.Kill();
                p.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process?.Dispose();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}
