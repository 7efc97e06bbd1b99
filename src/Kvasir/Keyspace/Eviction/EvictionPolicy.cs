namespace Kvasir.Keyspace.Eviction;

/// <summary>maxmemory-policy: which keys may be evicted (all or only those with a TTL) and how the victim is chosen.</summary>
public enum EvictionPolicy
{
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

public static class EvictionPolicies
{
    public static EvictionPolicy Parse(string name) => name switch
    {
        "allkeys-lru" => EvictionPolicy.AllKeysLru,
        "allkeys-lfu" => EvictionPolicy.AllKeysLfu,
        "allkeys-random" => EvictionPolicy.AllKeysRandom,
        "volatile-lru" => EvictionPolicy.VolatileLru,
        "volatile-lfu" => EvictionPolicy.VolatileLfu,
        "volatile-random" => EvictionPolicy.VolatileRandom,
        "volatile-ttl" => EvictionPolicy.VolatileTtl,
        _ => EvictionPolicy.NoEviction,
    };

    /// <summary>Only keys with a TTL are candidates (the sample comes from the expires table).</summary>
    public static bool IsVolatile(this EvictionPolicy p) =>
        p is EvictionPolicy.VolatileLru or EvictionPolicy.VolatileLfu or EvictionPolicy.VolatileRandom or EvictionPolicy.VolatileTtl;

    public static bool IsLfu(this EvictionPolicy p) => p is EvictionPolicy.AllKeysLfu or EvictionPolicy.VolatileLfu;

    public static bool IsRandom(this EvictionPolicy p) => p is EvictionPolicy.AllKeysRandom or EvictionPolicy.VolatileRandom;
}
