namespace Kvasir.Observability;

/// <summary>
/// Every stop-the-world pause of the .NET garbage collector, for INFO's Kvasir section (and the
/// metrics endpoint). The runtime keeps exact totals (<see cref="GC.GetTotalPauseDuration"/>, the
/// collection counts) but only the last collection of each kind in detail, so the monitor looks right
/// after every collection: a small finalizable sentinel is allocated in generation 0, every collection
/// finds it dead and the finalizer thread runs it, which reads the last ephemeral, full blocking and
/// background collections and re-arms with a new sentinel. One tiny object per collection, nothing on
/// the command path. A collection whose record was overwritten before the finalizer ran (two
/// ephemeral collections back to back) is counted in <see cref="Snapshot.Unobserved"/>; the totals stay exact.
/// One monitor per process, since the heap is shared by every server in it.
/// </summary>
public sealed class GcPauseMonitor
{
    /// <summary>Upper bounds (seconds) of the pause histogram's buckets (the metrics endpoint's).</summary>
    public static readonly double[] PauseBuckets = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };

    /// <summary>Pauses longer than this are counted apart (issue 14's target: none over 10 ms).</summary>
    public const long LongPauseMicros = 10_000;

    private const int RecentSeconds = 60;
    private static readonly GCKind[] Kinds = { GCKind.Ephemeral, GCKind.FullBlocking, GCKind.Background };

    private static GcPauseMonitor? s_shared;
    private static readonly Lock s_startLock = new();

    /// <summary>The process's monitor, started on first use.</summary>
    public static GcPauseMonitor Shared
    {
        get
        {
            if (s_shared is { } m) return m;
            lock (s_startLock)
            {
                if (s_shared is null)
                {
                    var monitor = new GcPauseMonitor();
                    s_shared = monitor;
                    _ = new Sentinel(monitor);
                }
                return s_shared;
            }
        }
    }

    private readonly Lock _gate = new();
    private readonly long[] _lastIndex = new long[Kinds.Length];
    private readonly long[] _bucketCounts = new long[PauseBuckets.Length + 1];
    private readonly LatencyHistogram _histogram = new();
    private readonly long[] _recentSecond = new long[RecentSeconds];
    private readonly long[] _recentMax = new long[RecentSeconds];
    private readonly long _startIndex;
    private long _lastSeenIndex, _observedCollections;
    private long _pauses, _observedMicros, _maxMicros, _lastMicros, _longPauses;

    private GcPauseMonitor()
    {
        for (int k = 0; k < Kinds.Length; k++) _lastIndex[k] = GC.GetGCMemoryInfo(Kinds[k]).Index;
        _startIndex = _lastSeenIndex = GC.GetGCMemoryInfo(GCKind.Any).Index;
    }

    private sealed class Sentinel
    {
        private readonly GcPauseMonitor _monitor;
        public Sentinel(GcPauseMonitor monitor) => _monitor = monitor;

        ~Sentinel()
        {
            try { _monitor.Collected(); }
            finally { _ = new Sentinel(_monitor); }
        }
    }

    /// <summary>Takes in the collections finished since the last call (finalizer thread, or a test).</summary>
    internal void Collected()
    {
        long nowSecond = Environment.TickCount64 / 1000;
        lock (_gate)
        {
            for (int k = 0; k < Kinds.Length; k++)
            {
                var info = GC.GetGCMemoryInfo(Kinds[k]);
                if (info.Index <= _lastIndex[k]) continue;
                _lastIndex[k] = info.Index;
                _observedCollections++;
                if (info.Index > _lastSeenIndex) _lastSeenIndex = info.Index;
                foreach (var pause in info.PauseDurations)
                    if (pause > TimeSpan.Zero) Observe((long)(pause.TotalMicroseconds + 0.5), nowSecond);
            }
        }
    }

    private void Observe(long micros, long nowSecond)
    {
        _pauses++;
        _observedMicros += micros;
        _lastMicros = micros;
        if (micros > _maxMicros) _maxMicros = micros;
        if (micros > LongPauseMicros) _longPauses++;
        _histogram.Record(Math.Max(1, micros * 1000));
        double seconds = micros / 1e6;
        int b = 0;
        while (b < PauseBuckets.Length && seconds > PauseBuckets[b]) b++;
        _bucketCounts[b]++;
        int slot = (int)(nowSecond % RecentSeconds);
        if (_recentSecond[slot] != nowSecond) { _recentSecond[slot] = nowSecond; _recentMax[slot] = 0; }
        if (micros > _recentMax[slot]) _recentMax[slot] = micros;
    }

    /// <summary>What INFO and the metrics endpoint print.</summary>
    public readonly record struct Snapshot(
        long Pauses, long ObservedMicros, long MaxMicros, long RecentMaxMicros, long LastMicros, long LongPauses,
        long Unobserved, long P50Micros, long P99Micros, long P999Micros, long[] BucketCounts);

    public Snapshot Read()
    {
        long nowSecond = Environment.TickCount64 / 1000;
        lock (_gate)
        {
            long recent = 0;
            for (int i = 0; i < RecentSeconds; i++)
                if (nowSecond - _recentSecond[i] < RecentSeconds && _recentMax[i] > recent) recent = _recentMax[i];
            long P(double p) => _histogram.TotalCount == 0 ? 0 : _histogram.ValueAtPercentile(p) / 1000;
            // GC indexes number every collection: the ones no kind's record showed went by while the
            // finalizer thread was behind (or are a background collection still running).
            long unobserved = Math.Max(0, _lastSeenIndex - _startIndex - _observedCollections);
            return new Snapshot(_pauses, _observedMicros, _maxMicros, recent, _lastMicros, _longPauses, unobserved,
                P(50), P(99), P(99.9), (long[])_bucketCounts.Clone());
        }
    }
}
