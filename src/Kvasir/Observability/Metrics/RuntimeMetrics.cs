using System.Runtime;

namespace Kvasir.Observability.Metrics;

/// <summary>
/// Kvasir's own metrics about the .NET runtime underneath (namespace "kvasir"): GC pauses as a
/// histogram, collections per generation, heap sizes. The pause histogram is fed by a sampler that
/// runs only while the metrics endpoint is on: every 50 ms it reads the runtime's record of the last
/// collection of each kind (ephemeral, full blocking, background) and adds the pauses of collections
/// it has not seen. Kvasir's hot paths do not allocate, so collections are far apart and the
/// sampler sees each one; <c>kvasir_gc_pause_time_seconds_total</c> is the runtime's exact total either way.
/// </summary>
public sealed class RuntimeMetrics : IDisposable
{
    /// <summary>Upper bounds (seconds) of the pause histogram's buckets.</summary>
    public static readonly double[] PauseBuckets = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };

    private static readonly GCKind[] Kinds = { GCKind.Ephemeral, GCKind.FullBlocking, GCKind.Background };

    private readonly object _gate = new();
    private readonly long[] _bucketCounts = new long[PauseBuckets.Length + 1];
    private readonly long[] _lastIndex = new long[Kinds.Length];
    private long _pauseCount;
    private double _pauseSum;
    private readonly Timer _timer;

    public RuntimeMetrics()
    {
        for (int k = 0; k < Kinds.Length; k++) _lastIndex[k] = GC.GetGCMemoryInfo(Kinds[k]).Index;
        _timer = new Timer(_ => Sample(), null, 50, 50);
    }

    /// <summary>Adds the pauses of collections finished since the last call.</summary>
    public void Sample()
    {
        lock (_gate)
        {
            for (int k = 0; k < Kinds.Length; k++)
            {
                var info = GC.GetGCMemoryInfo(Kinds[k]);
                if (info.Index == 0 || info.Index == _lastIndex[k]) continue;
                _lastIndex[k] = info.Index;
                foreach (var pause in info.PauseDurations)
                {
                    if (pause == TimeSpan.Zero) continue;
                    Observe(pause.TotalSeconds);
                }
            }
        }
    }

    private void Observe(double seconds)
    {
        int b = 0;
        while (b < PauseBuckets.Length && seconds > PauseBuckets[b]) b++;
        _bucketCounts[b]++;
        _pauseCount++;
        _pauseSum += seconds;
    }

    public void Write(PrometheusText p)
    {
        Sample();
        const string pause = "kvasir_gc_pause_seconds";
        p.Family(pause, "histogram", "Pauses of the .NET garbage collector (each collection's stop-the-world time)");
        lock (_gate)
        {
            long cumulative = 0;
            for (int b = 0; b < PauseBuckets.Length; b++)
            {
                cumulative += _bucketCounts[b];
                p.Sample(pause + "_bucket", cumulative, ("le", PrometheusText.Format(PauseBuckets[b])));
            }
            p.Sample(pause + "_bucket", _pauseCount, ("le", "+Inf"));
            p.Sample(pause + "_sum", _pauseSum);
            p.Sample(pause + "_count", _pauseCount);
        }
        p.Single("kvasir_gc_pause_time_seconds_total", "counter", "Total time the .NET runtime was paused for garbage collection",
            GC.GetTotalPauseDuration().TotalSeconds);
        p.Family("kvasir_gc_collections_total", "counter", "Garbage collections by generation");
        for (int g = 0; g <= GC.MaxGeneration; g++) p.Sample("kvasir_gc_collections_total", GC.CollectionCount(g), ("generation", g.ToString()));

        var info = GC.GetGCMemoryInfo(GCKind.Any);
        p.Single("kvasir_gc_heap_size_bytes", "gauge", "Bytes in the managed heap after the last collection, plus allocations since", GC.GetTotalMemory(false));
        p.Single("kvasir_gc_committed_bytes", "gauge", "Memory the garbage collector has committed", info.TotalCommittedBytes);
        p.Single("kvasir_gc_fragmented_bytes", "gauge", "Free space inside the managed heap at the last collection", info.FragmentedBytes);
        p.Single("kvasir_gc_heap_limit_bytes", "gauge", "The garbage collector's heap limit (container limit or total memory)", info.TotalAvailableMemoryBytes);
        p.Single("kvasir_gc_allocated_bytes_total", "counter", "Bytes allocated on the managed heap since start", GC.GetTotalAllocatedBytes(false));
        p.Family("kvasir_gc_generation_size_bytes", "gauge", "Size of each heap generation after the last collection");
        string[] names = { "gen0", "gen1", "gen2", "loh", "poh" };
        var gens = info.GenerationInfo;
        for (int g = 0; g < gens.Length && g < names.Length; g++)
            p.Sample("kvasir_gc_generation_size_bytes", gens[g].SizeAfterBytes, ("generation", names[g]));
        p.Single("kvasir_gc_server_mode", "gauge", "1 when the server garbage collector is in use", GCSettings.IsServerGC ? 1 : 0);
        p.Single("kvasir_threadpool_threads", "gauge", "Threads in the .NET thread pool", ThreadPool.ThreadCount);
    }

    /// <summary>Pause totals for the status page.</summary>
    public (long Count, double SumSeconds) Pauses()
    {
        lock (_gate) return (_pauseCount, _pauseSum);
    }

    public void Dispose() => _timer.Dispose();
}
