using System.Diagnostics;
using Kvasir.Observability;

namespace Kvasir;

public sealed partial class KvasirServer
{
    /// <summary>DEBUG SET-ACTIVE-EXPIRE: whether the background expiry cycle runs.</summary>
    public bool ActiveExpireEnabled { get; set; } = true;

    /// <summary>DEBUG PAUSE-CRON: while true the cron does no work at all (tests freeze time-based behaviour).</summary>
    public bool CronPaused { get; set; }

    /// <summary>Knobs set by DEBUG subcommands for tests.</summary>
    public Config.DebugSettings Debug { get; } = new();

    /// <summary>Sampled rates, memory peak and cycle timings for INFO.</summary>
    public ServerMetrics Metrics { get; } = new();

    /// <summary>Per-tick bookkeeping run by the cron (hooks for persistence, stats, pauses).</summary>
    public event Action? Tick;

    /// <summary>Accounts one active expiry cycle: its time (expire_cycle_cpu_milliseconds) and, when slow, an "expire-cycle" latency event.</summary>
    internal void ExpireCycleDone(long workedTicks)
    {
        long micros = workedTicks * 1_000_000 / Stopwatch.Frequency;
        lock (DataLock)
        {
            Metrics.ExpireCycleMicros += micros;
            AddLatencySample("expire-cycle", micros / 1000);
        }
    }

    /// <summary>Records a latency event when it reaches latency-monitor-threshold (Valkey's latencyAddSampleIfNeeded). Under the data lock.</summary>
    public void AddLatencySample(string eventName, long milliseconds)
    {
        long threshold = Config.LatencyMonitorThreshold;
        if (threshold > 0 && milliseconds >= threshold) Latency.Add(eventName, milliseconds);
    }

    internal void CronTick(long startedTimestamp)
    {
        lock (DataLock)
        {
            Metrics.Sample(Stats);
            long used = MemoryAccounting.UsedMemory(this);
            if (used > Metrics.PeakMemory) Metrics.PeakMemory = used;
        }
        // Save points, replica pings...: not while a timed-out script lets others in (Valkey's whileBlockedCron does none of it).
        bool scriptRunning;
        lock (DataLock) scriptRunning = Scripts.Running;
        if (!scriptRunning) Tick?.Invoke();
        long micros = (long)Stopwatch.GetElapsedTime(startedTimestamp).TotalMicroseconds;
        lock (DataLock) Metrics.AddCron(micros);
    }

    private long _lastReplicationCronMs;

    /// <summary>Replication's cron: its once-a-second part (Valkey's replicationCron) and what must not wait that long.</summary>
    private void ReplicationCron()
    {
        long now = Environment.TickCount64;
        lock (DataLock)
        {
            UpdateClock();
            Replication.FastCron();
            Shutdown.Cron();
            if (now - _lastReplicationCronMs < 1000) return;
            _lastReplicationCronMs = now;
            Replication.Cron();
        }
    }
}
