namespace Kvasir.Config;

/// <summary>
/// Test knobs set by DEBUG subcommands (never by the config file). The subsystems they concern
/// read them: the list type its packed-node threshold, RDB/RESTORE loading the checksum switch,
/// client output handling the reply-buffer settings.
/// </summary>
public sealed class DebugSettings
{
    /// <summary>DEBUG QUICKLIST-PACKED-THRESHOLD: list elements at least this large get a node of their own (default 1 GB).</summary>
    public long QuicklistPackedThreshold = 1L << 30;

    /// <summary>DEBUG SET-SKIP-CHECKSUM-VALIDATION: RDB files and RESTORE payloads load without checking their CRC.</summary>
    public bool SkipChecksumValidation;

    /// <summary>DEBUG REPLYBUFFER PEAK-RESET-TIME (ms, -1 = never) and RESIZING.</summary>
    public long ReplyBufferPeakResetTime = DefaultReplyBufferPeakResetTime;
    public const long DefaultReplyBufferPeakResetTime = 5000;
    public bool ReplyBufferResizing = true;

    /// <summary>
    /// DEBUG PAUSE-AFTER-FORK: the whole process stops itself (SIGSTOP) right after a primary starts
    /// an image for replicas, and a dual-channel replica right before its main channel's PSYNC, as
    /// Valkey's debugPauseProcess; tests continue it with SIGCONT.
    /// </summary>
    public bool PauseAfterFork;

    /// <summary>Stops the process when <see cref="PauseAfterFork"/> is set (Linux: SIGSTOP to itself).</summary>
    public void PauseProcessIfRequested(Observability.ServerLog log)
    {
        if (!PauseAfterFork || !OperatingSystem.IsLinux()) return;
        log.Notice("Process is about to stop.");
        _ = Kill(Environment.ProcessId, SigStop);
        // The signal stops every thread, this one a moment after kill() returns.
        Thread.Sleep(100);
        log.Notice("Process has been continued.");
    }

    private const int SigStop = 19;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
