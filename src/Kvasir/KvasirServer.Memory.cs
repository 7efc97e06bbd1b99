using Kvasir.Keyspace.Eviction;
using Kvasir.Observability;

namespace Kvasir;

/// <summary>maxmemory eviction and lazy freeing, wired to the keyspace, the stats and the cron.</summary>
public sealed partial class KvasirServer
{
    /// <summary>Evicts keys when used memory goes over maxmemory (before commands and from the cron).</summary>
    public Evictor Evictor { get; private set; } = null!;

    /// <summary>The background release of big values and flushed databases (UNLINK, FLUSHALL ASYNC, lazyfree-lazy-*).</summary>
    public LazyFree LazyFree { get; } = new();

    private EvictionPolicy _evictionPolicy;

    private void AttachMemoryManagement()
    {
        Evictor = new Evictor(this);
        _evictionPolicy = EvictionPolicies.Parse(Config.MaxMemoryPolicy);
        Config.Changed += _ =>
        {
            var policy = EvictionPolicies.Parse(Config.MaxMemoryPolicy);
            if (policy != _evictionPolicy) Evictor.PolicyChanged();
            _evictionPolicy = policy;
        };
        Keyspace.ExpiredValueRemoved = item =>
        {
            if (Config.LazyfreeLazyExpire) LazyFree.Release(item);
        };
        Stats.Gauges["lazyfree_pending_objects"] = () => LazyFree.PendingObjects;
        Stats.Gauges["lazyfreed_objects"] = () => LazyFree.FreedObjects;
        Stats.Gauges["total_eviction_exceeded_time"] = () => Evictor.TotalExceededMs;
        Stats.Gauges["current_eviction_exceeded_time"] = () => Evictor.CurrentExceededMs;
        Stats.Gauges["mem_not_counted_for_evict"] = () => MemoryAccounting.NotCountedForEviction(this);
        Stats.Resetting += () =>
        {
            LazyFree.ResetStats();
            Evictor.ResetStats();
        };
    }
}
