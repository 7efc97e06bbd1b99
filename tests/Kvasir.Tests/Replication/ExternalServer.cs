using System.Diagnostics;
using System.Net.Sockets;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Replication;

/// <summary>
/// A server in a process of its own: Debian's redis-server 7.0 (a real peer to replicate with), or
/// the kvasir-server executable (for tests that kill -9 a primary). Stopped and its directory
/// removed on dispose.
/// </summary>
internal sealed class ExternalServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;

    private ExternalServer(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }
    public string Dir => _dir;
    public string LogPath => System.IO.Path.Combine(_dir, "server.log");
    public int Pid => _process.Id;

    public const string RedisPath = "/usr/bin/redis-server";

    /// <summary>Debian's redis-server, or a skip when it is not installed (.ci/run installs it).</summary>
    public static Task<ExternalServer> StartRedisAsync(params string[] args)
    {
        if (!File.Exists(RedisPath)) Assert.Skip("redis-server is not installed (apt-get install redis-server)");
        return StartAsync(RedisPath, args);
    }

    public static Task<ExternalServer> StartKvasirAsync(params string[] args) => StartAsync(ServerExecutable.Path(), args);

    private static async Task<ExternalServer> StartAsync(string binary, string[] args)
    {
        int port = ServerExecutable.FreePort();
        string dir = Directory.CreateTempSubdirectory("kvasir-ext-").FullName;
        var psi = new ProcessStartInfo(binary) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = dir };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no",
                     "--logfile", System.IO.Path.Combine(dir, "server.log"), "--enable-debug-command", "yes", "--protected-mode", "no" })
            psi.ArgumentList.Add(a);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        _ = process.StandardOutput.ReadToEndAsync();
        _ = process.StandardError.ReadToEndAsync();
        var server = new ExternalServer(process, dir, port);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                await using var c = await RespClient.ConnectAsync("127.0.0.1", port);
                if ((await c.CallAsync("PING")).Text == "PONG") return server;
            }
            catch (Exception e) when (e is SocketException or IOException)
            {
            }
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                string log = File.Exists(server.LogPath) ? await File.ReadAllTextAsync(server.LogPath) : "";
                await server.DisposeAsync();
                Assert.Fail($"{binary} did not start:\n{log}");
            }
            await Task.Delay(100);
        }
    }

    public async Task<RespClient> ConnectAsync() => await RespClient.ConnectAsync("127.0.0.1", Port);

    /// <summary>kill -9: no shutdown, no save, no goodbye to replicas.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill();
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        _process.Dispose();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}
