using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Kvasir.Server;

/// <summary>
/// daemonize yes without fork(): the process the user started re-executes itself with the same
/// arguments and an environment marker, waits until that child says it is listening, and exits.
/// The child starts a new session (setsid), so it survives the terminal, and points its standard
/// streams at /dev/null once it is ready, as a forked Valkey does.
/// </summary>
internal static class Daemon
{
    private const string ChildMarker = "KVASIR_DAEMON_CHILD";
    private const string ReadyLine = "KVASIR-DAEMON-READY";

    public static bool IsChild => Environment.GetEnvironmentVariable(ChildMarker) == "1";

    /// <summary>Runs in the process the user started: starts the daemon and returns the exit code.</summary>
    public static int RunParent(string[] args, string? stdinText, string workingDirectory)
    {
        var psi = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory,
        };
        string self = Environment.ProcessPath ?? "dotnet";
        psi.FileName = self;
        // Started as "dotnet kvasir-server.dll" (the .NET tool): the child needs the assembly path too.
        // (Not Assembly.Location, which a native build does not have.)
        if (Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "kvasir-server.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment[ChildMarker] = "1";

        using var child = Process.Start(psi);
        if (child is null)
        {
            Console.Error.WriteLine("Failed to start the daemon process");
            return 1;
        }
        var stderr = child.StandardError.ReadToEndAsync();
        if (stdinText is not null) child.StandardInput.Write(stdinText);
        child.StandardInput.Close();

        // Until the child is ready its log lines only matter if it fails, so keep them for that case.
        var early = new List<string>();
        string? line;
        while ((line = child.StandardOutput.ReadLine()) is not null)
        {
            if (line == ReadyLine) return 0;
            early.Add(line);
        }
        child.WaitForExit();
        foreach (var l in early) Console.Out.WriteLine(l);
        Console.Error.Write(stderr.Result);
        return child.ExitCode == 0 ? 1 : child.ExitCode;
    }

    /// <summary>In the child, first thing: leave the parent's session and terminal.</summary>
    public static void DetachSession()
    {
        if (OperatingSystem.IsLinux()) _ = setsid();
    }

    /// <summary>In the child, once listening: tell the parent, then drop the standard streams.</summary>
    public static void SignalReady()
    {
        Console.Out.WriteLine(ReadyLine);
        Console.Out.Flush();
        if (!OperatingSystem.IsLinux()) return;
        int fd = open("/dev/null", 2 /* O_RDWR */);
        if (fd < 0) return;
        _ = dup2(fd, 0);
        _ = dup2(fd, 1);
        _ = dup2(fd, 2);
        if (fd > 2) _ = close(fd);
    }

    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int setsid();

    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int dup2(int oldfd, int newfd);

    [DllImport("libc.so.6", SetLastError = true)]
    private static extern int close(int fd);
}
