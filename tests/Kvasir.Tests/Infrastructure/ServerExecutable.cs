using System.Net;
using System.Net.Sockets;
using Xunit;

namespace Kvasir.Tests.Infrastructure;

/// <summary>The real kvasir-server executable, for tests that need a separate process (exit codes, SIGTERM, SIGKILL).</summary>
internal static class ServerExecutable
{
    /// <summary>The server built next to this test assembly's configuration (the test project builds it).</summary>
    public static string Path()
    {
        // tests/Kvasir.Tests/bin/<Configuration>/net10.0/
        var baseDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd('/'));
        string configuration = baseDir.Parent!.Name;
        var dir = baseDir;
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Kvasir.slnx"))) dir = dir.Parent;
        if (dir is null) Assert.Skip("repository root not found");
        string path = System.IO.Path.Combine(dir.FullName, "src", "Kvasir.Server", "bin", configuration, "net10.0", "kvasir-server");
        if (!File.Exists(path)) Assert.Skip("kvasir-server not built at " + path);
        return path;
    }

    /// <summary>
    /// A loopback port free right now (the process binds it a moment later). Drawn below the kernel's
    /// ephemeral range (32768 and up by default): a port from that range can be taken meanwhile by any
    /// outgoing connection of the tests running in parallel ("Address already in use" at start).
    /// </summary>
    public static int FreePort()
    {
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int port = Random.Shared.Next(20000, 32000);
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                s.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) { }
        }
        using var any = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        any.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)any.LocalEndPoint!).Port;
    }
}
