using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// A real Valkey or Redis to compare with: ~/valkey/src/valkey-server when it was built there, else
/// valkey-server or redis-server from PATH. Tests that need one skip when none is installed.
/// </summary>
internal static class ReferenceServer
{
    public const string NotFound = "no valkey-server (~/valkey/src or PATH) or redis-server on PATH";

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static (string Path, int Major, int Minor)? Find()
    {
        var candidates = new List<string?>();
        // A Valkey built from source in ~/valkey comes first (the version Kvasir follows), then PATH.
        var home = Environment.GetEnvironmentVariable("HOME");
        if (home is not null) candidates.Add(Path.Combine(home, "valkey", "src", "valkey-server"));
        candidates.Add(FindOnPath("valkey-server"));
        candidates.Add(FindOnPath("redis-server"));
        foreach (var path in candidates)
        {
            if (path is null || !File.Exists(path)) continue;
            if (path is null) continue;
            var psi = new ProcessStartInfo(path, "--version") { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(10_000);
            var m = Regex.Match(output, @"v=(\d+)\.(\d+)");
            if (!m.Success) continue;
            return (path, int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value));
        }
        return null;
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Starts the reference server on <paramref name="dir"/>/<paramref name="file"/> and connects to it.</summary>
    public static async Task<(Process Process, RespClient Client)> StartAsync(string binary, string dir, string file)
    {
        int port = FreePort();
        var psi = new ProcessStartInfo(binary)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--dir", dir, "--dbfilename", file, "--save", "", "--daemonize", "no", "--logfile", Path.Combine(dir, "reference.log") })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                var client = await RespClient.ConnectAsync("127.0.0.1", port);
                var pong = await client.CallAsync("PING");
                if (pong.Text == "PONG") return (process, client);
                await client.DisposeAsync();
            }
            catch (SocketException)
            {
            }
            catch (IOException)
            {
            }
            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                string log = File.Exists(Path.Combine(dir, "reference.log")) ? File.ReadAllText(Path.Combine(dir, "reference.log")) : "";
                if (!process.HasExited) process.Kill();
                Assert.Fail($"{binary} did not start on {file}:\n{log}");
            }
            await Task.Delay(100);
        }
    }

    public static async Task StopAsync(Process process, RespClient client)
    {
        try
        {
            await client.SendAsync("SHUTDOWN", "NOSAVE");
            await client.IsClosedAsync(TimeSpan.FromSeconds(5));
        }
        catch (IOException)
        {
        }
        await client.DisposeAsync();
        if (!process.WaitForExit(10_000)) process.Kill();
        process.Dispose();
    }

}
