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

    /// <summary>A loopback port free right now (the process binds it a moment later).</summary>
    public static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
