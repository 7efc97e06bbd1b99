using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// Files travel both ways between Kvasir and a real server: valkey-server or redis-server from PATH
/// (skipped when neither is installed). Redis before 7.2 reads RDB 10 only, so Kvasir is told to
/// write version 10 for it (the hidden rdb-version parameter).
/// </summary>
public sealed class CrossServerTests
{
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

    private static (string Path, int Major, int Minor)? FindReferenceServer()
    {
        foreach (var name in new[] { "valkey-server", "redis-server" })
        {
            var path = FindOnPath(name);
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

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Starts the reference server on <paramref name="dir"/>/<paramref name="file"/> and connects to it.</summary>
    private static async Task<(Process Process, RespClient Client)> StartReferenceAsync(string binary, string dir, string file)
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

    private static async Task StopReferenceAsync(Process process, RespClient client)
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

    [Fact]
    public async Task KvasirSnapshotsLoadInAReferenceServerAndBack()
    {
        var reference = FindReferenceServer();
        if (reference is null) Assert.Skip("neither valkey-server nor redis-server is on PATH");
        var (binary, major, minor) = reference.Value;
        string version = major > 7 || (major == 7 && minor >= 2) ? "11" : "10";

        var dir = Directory.CreateTempSubdirectory("kvasir-cross-").FullName;
        try
        {
            List<string> expected;
            byte[] ours;
            await using (var kvasir = await TestServer.StartAsync())
            {
                await using var c = await kvasir.ConnectAsync();
                await PersistenceCommandTests.PopulateAsync(c);
                Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "rdb-version", version));
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
                expected = await PersistenceCommandTests.DescribeAsync(c, withEncodings: false);
                ours = File.ReadAllBytes(Path.Combine(kvasir.DataDir, "dump.rdb"));
                File.WriteAllBytes(Path.Combine(dir, "from-kvasir.rdb"), ours);
            }

            // The reference server loads our file and sees the same data.
            var (process, client) = await StartReferenceAsync(binary, dir, "from-kvasir.rdb");
            try
            {
                Assert.Equal(expected, await PersistenceCommandTests.DescribeAsync(client, withEncodings: false));
                Assert.Equal("OK", await client.CallTextAsync("SAVE"));
            }
            finally
            {
                await StopReferenceAsync(process, client);
            }

            // And Kvasir loads what the reference server wrote back (its SAVE replaced our file).
            var written = File.ReadAllBytes(Path.Combine(dir, "from-kvasir.rdb"));
            Assert.NotEqual(ours, written);
            var back = Directory.CreateDirectory(Path.Combine(dir, "back")).FullName;
            File.WriteAllBytes(Path.Combine(back, "dump.rdb"), written);
            await using var again = await TestServer.StartInDirAsync(back);
            await using var c2 = await again.ConnectAsync();
            Assert.Equal(expected, await PersistenceCommandTests.DescribeAsync(c2, withEncodings: false));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
