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

    internal void CronTick(long startedTimestamp)
    {
        lock (DataLock)
        {
            Metrics.Sample(Stats);
            long used = MemoryAccounting.UsedMemory(this);
            if (used > Metrics.PeakMemory) Metrics.PeakMemory = used;
        }
        Tick?.Invoke();
        long micros = (long)Stopwatch.GetElapsedTime(startedTimestamp).TotalMicroseconds;
        lock (DataLock) Metrics.AddCron(micros);
    }
}
