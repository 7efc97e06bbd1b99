using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Kvasir.Observability;

/// <summary>CPU time used by the process, its children and the calling thread (INFO cpu), from getrusage where available.</summary>
public static partial class ProcessCpu
{
    public readonly record struct Usage(long UserMicros, long SystemMicros);

    private const int RusageSelf = 0;
    private const int RusageChildren = -1;
    private const int RusageThread = 1;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeVal
    {
        public long Seconds;
        public long Micros;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public TimeVal User;
        public TimeVal System;
        // ru_maxrss ... ru_nivcsw: 14 longs we do not read.
        public long R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10, R11, R12, R13;
    }

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static partial int GetRUsage(int who, out RUsage usage);

    private static bool _native = OperatingSystem.IsLinux();

    private static Usage? Native(int who)
    {
        if (!_native) return null;
        try
        {
            if (GetRUsage(who, out var u) != 0) return null;
            return new Usage(u.User.Seconds * 1_000_000 + u.User.Micros, u.System.Seconds * 1_000_000 + u.System.Micros);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            _native = false;
            return null;
        }
    }

    public static Usage Self()
    {
        var n = Native(RusageSelf);
        if (n is not null) return n.Value;
        using var p = Process.GetCurrentProcess();
        return new Usage((long)p.UserProcessorTime.TotalMicroseconds, (long)p.PrivilegedProcessorTime.TotalMicroseconds);
    }

    public static Usage Children() => Native(RusageChildren) ?? new Usage(0, 0);

    /// <summary>The calling thread: the one executing commands at that moment (Valkey's "main thread").</summary>
    public static Usage? CurrentThread() => Native(RusageThread);

    /// <summary>"seconds.micros" as Valkey prints rusage times (%ld.%06ld).</summary>
    public static string Format(long micros) =>
        (micros / 1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture) + "." +
        (micros % 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
}
