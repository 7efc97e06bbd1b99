using System.Runtime;

namespace Kvasir.Observability.Metrics;

/// <summary>
/// Kvasir's own metrics about the .NET runtime underneath (namespace "kvasir"): GC pauses as a
/// histogram, collections per generation, heap sizes. The pauses are those <see cref="GcPauseMonitor"/>
/// sees after every collection (the same figures as INFO's Kvasir section);
/// <c>kvasir_gc_pause_time_seconds_total</c> is the runtime's exact total.
/// </summary>
public sealed class RuntimeMetrics : IDisposable
{
    /// <summary>Upper bounds (seconds) of the pause histogram's buckets.</summary>
    public static double[] PauseBuckets => GcPauseMonitor.PauseBuckets;

    public void Write(PrometheusText p)
    {
        const string pause = "kvasir_gc_pause_seconds";
        p.Family(pause, "histogram", "Pauses of the .NET garbage collector (each collection's stop-the-world time)");
        var pauses = GcPauseMonitor.Shared.Read();
        long cumulative = 0;
        for (int b = 0; b < PauseBuckets.Length; b++)
        {
            cumulative += pauses.BucketCounts[b];
            p.Sample(pause + "_bucket", cumulative, ("le", PrometheusText.Format(PauseBuckets[b])));
        }
        p.Sample(pause + "_bucket", pauses.Pauses, ("le", "+Inf"));
        p.Sample(pause + "_sum", pauses.ObservedMicros / 1e6);
        p.Sample(pause + "_count", pauses.Pauses);
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
        var g = GcPauseMonitor.Shared.Read();
        return (g.Pauses, g.ObservedMicros / 1e6);
    }

    public void Dispose() { }
}
