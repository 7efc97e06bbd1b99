using System.ComponentModel;
using System.Diagnostics;
using Kvasir.Observability;

namespace Kvasir.Sentinel;

/// <summary>
/// notification-script and client-reconfig-script runs (Valkey's script queue): at most 16 at once,
/// 256 queued (the oldest waiting one is dropped), killed after script-max-runtime. A script that
/// exits with 1 or dies from a signal is retried up to 10 times, the delay doubling from
/// script-retry-delay; other non-zero exits are reported as -script-error.
/// </summary>
public sealed class SentinelScripts(SentinelState sentinel)
{
    private const int MaxQueue = 256;
    private const int MaxRunning = 16;
    private const int MaxRetry = 10;

    public sealed class Job
    {
        public required string[] Argv { get; init; }
        public bool Running;
        public int RetryCount;
        /// <summary>While running: when it started. Otherwise: not before this time (0 = at once).</summary>
        public long StartTime;
        public Process? Process;
        public int Pid;
    }

    private readonly List<Job> _queue = new();

    public int RunningCount { get; private set; }
    public int QueueLength => _queue.Count;
    public IReadOnlyList<Job> Queue => _queue;

    /// <summary>Queues a run of <paramref name="path"/> with these arguments (sentinelScheduleScriptExecution).</summary>
    public void Schedule(string path, params string[] args)
    {
        var argv = new string[args.Length + 1];
        argv[0] = path;
        args.CopyTo(argv, 1);
        _queue.Add(new Job { Argv = argv });
        if (_queue.Count <= MaxQueue) return;
        int oldest = _queue.FindIndex(j => !j.Running);
        if (oldest >= 0) _queue.RemoveAt(oldest);
    }

    /// <summary>Starts queued scripts, oldest first, while fewer than the maximum run.</summary>
    public void RunPending()
    {
        long now = sentinel.Now();
        foreach (var job in _queue)
        {
            if (RunningCount >= MaxRunning) break;
            if (job.Running) continue;
            if (job.StartTime != 0 && job.StartTime > now) continue;
            job.Running = true;
            job.StartTime = sentinel.Now();
            job.RetryCount++;
            try
            {
                var psi = new ProcessStartInfo(job.Argv[0]) { UseShellExecute = false };
                for (int i = 1; i < job.Argv.Length; i++) psi.ArgumentList.Add(job.Argv[i]);
                job.Process = Process.Start(psi) ?? throw new Win32Exception("could not start the script");
                job.Pid = job.Process.Id;
                RunningCount++;
                sentinel.Event(LogLevel.Debug, "+script-child", null, job.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is Win32Exception or InvalidOperationException or IOException)
            {
                // Valkey's child exits with 2 when execve fails: not retried, reported as an error.
                job.Process = null;
                job.Pid = 0;
                RunningCount++;
                job.Pid = -1;
            }
        }
    }

    /// <summary>Collects scripts that finished: retried, reported, or removed (sentinelCollectTerminatedScripts).</summary>
    public void CollectTerminated()
    {
        foreach (var job in _queue.ToList())
        {
            if (!job.Running) continue;
            int exitCode, signal = 0;
            if (job.Process is null)
            {
                exitCode = 2; // could not be executed
            }
            else
            {
                if (!job.Process.HasExited) continue;
                exitCode = job.Process.ExitCode;
                // .NET reports a process killed by signal N as exit code 128 + N.
                if (exitCode > 128 && exitCode < 128 + 65)
                {
                    signal = exitCode - 128;
                    exitCode = 0;
                }
                job.Process.Dispose();
            }
            sentinel.Event(LogLevel.Debug, "-script-child", null, $"{job.Pid} {exitCode} {signal}");
            RunningCount--;
            if ((signal != 0 || exitCode == 1) && job.RetryCount != MaxRetry)
            {
                job.Running = false;
                job.Process = null;
                job.Pid = 0;
                job.StartTime = sentinel.Now() + RetryDelay(job.RetryCount);
                continue;
            }
            if (signal != 0 || exitCode != 0)
                sentinel.Event(LogLevel.Warning, "-script-error", null, $"{job.Argv[0]} {signal} {exitCode}");
            _queue.Remove(job);
        }
    }

    /// <summary>Kills scripts running longer than script-max-runtime; they are collected next.</summary>
    public void KillTimedOut()
    {
        long now = sentinel.Now();
        foreach (var job in _queue)
        {
            if (!job.Running || job.Process is null || now - job.StartTime <= sentinel.Timings.ScriptMaxRuntime) continue;
            sentinel.Event(LogLevel.Warning, "-script-timeout", null, $"{job.Argv[0]} {job.Pid}");
            try { job.Process.Kill(); }
            catch (Exception e) when (e is InvalidOperationException or Win32Exception) { }
        }
    }

    public void KillAll()
    {
        foreach (var job in _queue)
        {
            if (job.Process is null) continue;
            try { if (!job.Process.HasExited) job.Process.Kill(); }
            catch (Exception e) when (e is InvalidOperationException or Win32Exception) { }
        }
    }

    private long RetryDelay(int retryCount)
    {
        long delay = sentinel.Timings.ScriptRetryDelay;
        while (retryCount-- > 1) delay *= 2;
        return delay;
    }
}
