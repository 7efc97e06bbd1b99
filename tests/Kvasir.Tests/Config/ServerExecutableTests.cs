using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Config;

/// <summary>Runs alone, after the parallel tests: child processes waiting on a starved test thread would linger.</summary>
[CollectionDefinition(DisableParallelization = true)]
public sealed class ServerExecutableCollection;

/// <summary>The real kvasir-server executable: exit codes, stderr, log lines, pid file, SIGTERM.</summary>
[Collection(nameof(ServerExecutableCollection))]
public sealed class ServerExecutableTests
{
    private static async Task<(int Code, string Out, string Err)> RunToEndAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(ServerExecutable.Path()) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task VersionAndHelp()
    {
        var (code, stdout, _) = await RunToEndAsync("--version");
        Assert.Equal(0, code);
        Assert.StartsWith($"Kvasir server v={KvasirServer.KvasirVersion} valkey-compatible={KvasirServer.ValkeyVersion}", stdout);

        var help = await RunToEndAsync("--help");
        Assert.Equal(1, help.Code);
        Assert.StartsWith("Usage: ./kvasir-server [/path/to/valkey.conf] [options] [-]", help.Err);
    }

    [Fact]
    public async Task BadOptionIsAFatalConfigErrorWithExitCodeOne()
    {
        var (code, stdout, stderr) = await RunToEndAsync("--port", "6379", "6380");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"\n*** FATAL CONFIG FILE ERROR (Version {KvasirServer.KvasirVersion}) ***\n" +
                     "Reading the configuration file, at line 2\n>>> 'port \"6379\" \"6380\"'\nwrong number of arguments\n", stderr);
    }

    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    [Fact]
    public async Task StartsLogsWritesPidFileAndStopsCleanlyOnSigterm()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("POSIX signals");
        string dir = Path.Combine(Path.GetTempPath(), "kvasir-exe-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string pidFile = Path.Combine(dir, "kvasir.pid");
        string logFile = Path.Combine(dir, "kvasir.log");
        string conf = Path.Combine(dir, "kvasir.conf");
        int port = ServerExecutable.FreePort();
        File.WriteAllText(conf, $"port {port}\nbind 127.0.0.1\n");
        // In a session of its own (setsid execs in place, so the pid stays the server's): a signal
        // meant for the server's process group can never reach the test host.
        var psi = new ProcessStartInfo("setsid") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(ServerExecutable.Path());
        foreach (var a in new[] { conf, "--pidfile", pidFile, "--logfile", logFile, "--save", "", "--always-show-logo", "yes" }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (!(File.Exists(logFile) && File.ReadAllText(logFile).Contains("Ready to accept connections tcp")))
            {
                if (p.HasExited) Assert.Fail("server exited early: " + await stderr);
                Assert.True(DateTime.UtcNow < deadline, "server did not become ready");
                await Task.Delay(50);
            }
            Assert.Equal(p.Id.ToString(), File.ReadAllText(pidFile).Trim());
            await using (var c = await RespClient.ConnectAsync("127.0.0.1", port))
            {
                Assert.Equal("PONG", (await c.CallAsync("PING")).Text);
                Assert.Equal($"[port, {port}]", (await c.CallAsync("CONFIG", "GET", "port")).ToString());
            }

            Assert.Equal(0, kill(p.Id, 15));
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await p.WaitForExitAsync(cts.Token);
            Assert.Equal(0, p.ExitCode);
            Assert.False(File.Exists(pidFile));
            string log = File.ReadAllText(logFile);
            foreach (var expected in new[] { "Kvasir is starting", "Configuration loaded", $"PID: {p.Id}", "Server initialized",
                         "Ready to accept connections tcp", "Received SIGTERM scheduling shutdown...", "Removing the pid file.",
                         "ready to exit, bye bye..." })
                Assert.True(log.Contains(expected, StringComparison.Ordinal), expected);
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            Directory.Delete(dir, recursive: true);
        }
    }

}
