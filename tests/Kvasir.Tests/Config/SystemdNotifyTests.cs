using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Config;

/// <summary>
/// <c>supervised systemd</c>: the real executable reports to the NOTIFY_SOCKET the test creates, as
/// systemd would see it for a Type=notify unit: loading, ready (READY=1), then STOPPING=1 when asked
/// to stop, by SIGTERM or by SHUTDOWN.
/// </summary>
[Collection(nameof(ServerExecutableCollection))]
public sealed class SystemdNotifyTests
{
    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    private sealed class NotifySocket : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        private readonly List<string> _messages = new();
        public string Address { get; }

        public NotifySocket(string address)
        {
            Address = address;
            string bindPath = address.StartsWith('@') ? "\0" + address[1..] : address;
            _socket.Bind(new UnixDomainSocketEndPoint(bindPath));
        }

        /// <summary>Collects datagrams until one contains <paramref name="wanted"/>; returns all so far.</summary>
        public async Task<IReadOnlyList<string>> WaitFor(string wanted, TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            var buffer = new byte[4096];
            while (!_messages.Any(m => m.Contains(wanted, StringComparison.Ordinal)))
            {
                int n;
                try
                {
                    n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"no '{wanted.TrimEnd()}' within {timeout}; received: [{string.Join("|", _messages)}]");
                }
                _messages.Add(Encoding.UTF8.GetString(buffer, 0, n));
            }
            return _messages.ToList();
        }

        public void Dispose() => _socket.Dispose();
    }

    private static Process Start(NotifySocket notify, string dir, int port, params string[] extra) => StartWith(null, notify, dir, port, extra);

    private static Process StartWith(string? configFile, NotifySocket notify, string dir, int port, params string[] extra)
    {
        var psi = ExternalProcess.StartInfo(ServerExecutable.Path(),
            [.. configFile is null ? Array.Empty<string>() : [configFile], "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--dir", dir, .. extra],
            environment: new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notify.Address });
        var p = Process.Start(psi)!;
        p.StandardInput.Close();
        _ = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        return p;
    }

    [Theory]
    [InlineData("systemd", false)]
    [InlineData("auto", true)]
    public async Task ReadyThenStoppingOnSigterm(string mode, bool abstractSocket)
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("unix datagram sockets and POSIX signals");
        var dir = Directory.CreateTempSubdirectory("kvasir-notify-");
        string address = abstractSocket ? "@kvasir-notify-" + Guid.NewGuid().ToString("N") : Path.Combine(dir.FullName, "notify.sock");
        using var notify = new NotifySocket(address);
        int port = ServerExecutable.FreePort();
        // daemonize is ignored under a supervisor: the process stays in the foreground, as Valkey's.
        using var p = Start(notify, dir.FullName, port, "--supervised", mode, "--daemonize", "yes");
        try
        {
            var ready = await notify.WaitFor("READY=1", TimeSpan.FromSeconds(60));
            Assert.Equal("STATUS=Kvasir is loading...\n", ready[0]);
            Assert.Equal(["STATUS=Ready to accept connections\n", "READY=1\n"], ready.Skip(1).Take(2));

            // Ready means serving: the port answers at once.
            await using (var c = await RespClient.ConnectAsync("127.0.0.1", port))
            {
                Assert.Equal("PONG", (await c.CallAsync("PING")).Text);
                Assert.Contains("process_supervised:systemd\r\n", (await c.CallAsync("INFO", "server")).Text);
            }
            Assert.False(p.HasExited);

            Assert.Equal(0, kill(p.Id, 15));
            var all = await notify.WaitFor("STOPPING=1", TimeSpan.FromSeconds(30));
            Assert.Equal("STOPPING=1\n", all[^1]);
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(exit.Token);
            Assert.Equal(0, p.ExitCode);
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Started as the example unit file does: the sample kvasir.conf, then --supervised systemd.</summary>
    [Fact]
    public async Task ShutdownCommandReportsStoppingAndTheFinalSave()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("unix datagram sockets");
        string root = ExternalProcess.RepositoryRoot();
        string unit = File.ReadAllText(Path.Combine(root, "packaging", "kvasir.service"));
        Assert.Contains("\nType=notify\n", unit);
        Assert.Contains("kvasir-server /etc/kvasir/kvasir.conf --supervised systemd", unit);
        var dir = Directory.CreateTempSubdirectory("kvasir-notify-");
        using var notify = new NotifySocket(Path.Combine(dir.FullName, "notify.sock"));
        int port = ServerExecutable.FreePort();
        using var p = StartWith(Path.Combine(root, "packaging", "kvasir.conf"), notify, dir.FullName, port, "--supervised", "systemd", "--daemonize", "no");
        try
        {
            await notify.WaitFor("READY=1", TimeSpan.FromSeconds(60));
            await using (var c = await RespClient.ConnectAsync("127.0.0.1", port))
            {
                await c.CallAsync("SET", "k", "v");
                await c.SendAsync("SHUTDOWN", "SAVE");
                await c.IsClosedAsync(TimeSpan.FromSeconds(30));
            }
            var all = await notify.WaitFor("STATUS=Saving the final RDB snapshot", TimeSpan.FromSeconds(30));
            int stopping = all.ToList().IndexOf("STOPPING=1\n");
            Assert.True(stopping > 0 && stopping < all.Count - 1, string.Join("|", all));
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(exit.Token);
            Assert.True(File.Exists(Path.Combine(dir.FullName, "dump.rdb")));
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task WithoutANotifySocketSupervisedSystemdIsOnlyAWarning()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-notify-");
        int port = ServerExecutable.FreePort();
        var psi = ExternalProcess.StartInfo(ServerExecutable.Path(),
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--dir", dir.FullName, "--supervised", "systemd"],
            environment: new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = null });
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        _ = p.StandardError.ReadToEndAsync();
        try
        {
            RespClient? c = null;
            for (int i = 0; i < 300 && c is null; i++)
            {
                try { c = await RespClient.ConnectAsync("127.0.0.1", port); }
                catch (SocketException) { await Task.Delay(100); }
            }
            Assert.NotNull(c);
            await using (c)
            {
                Assert.Contains("process_supervised:no\r\n", (await c!.CallAsync("INFO", "server")).Text);
                await c.SendAsync("SHUTDOWN", "NOSAVE");
            }
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await p.WaitForExitAsync(exit.Token);
            Assert.Contains("systemd supervision requested or auto-detected, but no socket found", await stdout);
        }
        finally
        {
            if (!p.HasExited) p.Kill();
            dir.Delete(recursive: true);
        }
    }
}
