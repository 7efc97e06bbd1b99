using System.Diagnostics;
using Kvasir.Observability;

namespace Kvasir.Keyspace.Eviction;

/// <summary>What an eviction attempt achieved (Valkey's EVICT_OK / EVICT_RUNNING / EVICT_FAIL).</summary>
public enum EvictResult
{
    /// <summary>Memory is under maxmemory, or eviction must not run now.</summary>
    Ok,
    /// <summary>Still over the limit, but keys are being evicted (the cron continues).</summary>
    Running,
    /// <summary>Over the limit and nothing can be evicted: denyoom commands get -OOM.</summary>
    Fail,
}

/// <summary>
/// maxmemory enforcement as Valkey's evict.c: before each command (and from the cron while over the
/// limit) keys are evicted until used memory is back under maxmemory, choosing victims by the
/// policy from a sample of maxmemory-samples keys per database merged into an
/// <see cref="EvictionPool"/> (LRU: idle time; LFU: 255 minus the decayed counter; TTL: soonest
/// expire first; random policies draw one key per database in turn). One call evicts for at most
/// the time maxmemory-eviction-tenacity allows; the rest is left to the cron. Runs under the data lock.
/// </summary>
public sealed class Evictor
{
    private readonly KvasirServer _server;
    private readonly EvictionPool _pool = new();
    private readonly int[] _sample = new int[64];
    private int _nextDb;
    private bool _running;                 // over the limit after a time-limited round: the cron goes on
    private long _exceededSince;           // Stopwatch timestamp when memory went over the limit, 0 when under
    private long _overheadTick = long.MinValue;
    private long _overhead;

    public Evictor(KvasirServer server) => _server = server;

    /// <summary>INFO total_eviction_exceeded_time (ms): time spent over maxmemory, closed periods.</summary>
    public long TotalExceededMs { get; private set; }

    /// <summary>INFO current_eviction_exceeded_time (ms).</summary>
    public long CurrentExceededMs => _exceededSince == 0 ? 0 : (long)Stopwatch.GetElapsedTime(_exceededSince).TotalMilliseconds;

    public bool IsRunning => _running;

    public void ResetStats()
    {
        TotalExceededMs = 0;
        if (_exceededSince != 0) _exceededSince = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// Memory as maxmemory counts it: used_memory without what Valkey's freeMemoryGetNotCountedMemory
    /// leaves out (replicas' buffers and their share of the replication buffer, the AOF buffer), so
    /// data, tables, normal clients' buffers, the backlog, script and function caches, the base and
    /// objects awaiting lazy free. All but the data is re-measured at most once per millisecond so
    /// that this stays cheap enough to run before every command.
    /// </summary>
    public long CountedMemory()
    {
        long tick = Environment.TickCount64;
        if (tick != _overheadTick)
        {
            _overheadTick = tick;
            _overhead = MemoryAccounting.CountedOverhead(_server);
        }
        return MemoryAccounting.DatasetAndTables(_server) + _overhead + _server.LazyFree.PendingBytes;
    }

    /// <summary>Forces the next <see cref="CountedMemory"/> to re-measure client buffers and caches.</summary>
    public void InvalidateClientsMemory() => _overheadTick = long.MinValue;

    private bool IsSafe()
    {
        var cfg = _server.Config;
        // A replica mirrors its primary (replica-ignore-maxmemory); loading must not evict what it just read.
        if (cfg.ReplicaOfHost.Length > 0 && cfg.ReplicaIgnoreMaxmemory) return false;
        if (_server.Stats.Gauge("loading") != 0) return false;
        // CLIENT PAUSE WRITE pauses evictions too: they are writes.
        if (_server.Clients.IsPaused) return false;
        return true;
    }

    /// <summary>Valkey's evictionTimeLimitUs: 50us per tenacity step up to 10, then +15% per step, unlimited at 100.</summary>
    private long TimeLimitMicros()
    {
        int t = _server.Config.MaxMemoryEvictionTenacity;
        if (t <= 10) return 50L * t;
        if (t < 100) return (long)(500.0 * Math.Pow(1.15, t - 10.0));
        return long.MaxValue;
    }

    /// <summary>Valkey's performEvictions. Call under the data lock, between commands.</summary>
    public EvictResult PerformEvictions()
    {
        long max = _server.Config.MaxMemory;
        if (max <= 0) return Finish(EvictResult.Ok);
        // The fast path of every command: one sum over the databases.
        long used = CountedMemory();
        if (used <= max) return Finish(EvictResult.Ok);
        if (!IsSafe()) return EvictResult.Ok;
        InvalidateClientsMemory();
        used = CountedMemory();
        if (used <= max) return Finish(EvictResult.Ok);

        var policy = EvictionPolicies.Parse(_server.Config.MaxMemoryPolicy);
        if (policy == EvictionPolicy.NoEviction) return Finish(EvictResult.Fail);

        long toFree = used - max;
        long freed = 0;
        long limitMicros = TimeLimitMicros();
        long started = Stopwatch.GetTimestamp();
        int keysFreed = 0;
        bool lazy = _server.Config.LazyfreeLazyEviction;
        var result = EvictResult.Ok;
        _running = false;
        while (freed < toFree)
        {
            if (!PickVictim(policy, out int dbIndex, out int idx))
            {
                result = EvictResult.Fail;
                break;
            }
            long before = CountedMemory();
            Evict(_server.Databases[dbIndex], idx, lazy);
            freed += before - CountedMemory();
            keysFreed++;
            if (keysFreed % 16 == 0)
            {
                // A lazily freed value still counts until the worker let it go: re-check the real state.
                if (lazy && CountedMemory() <= max) break;
                if (Stopwatch.GetElapsedTime(started).Ticks / 10 > limitMicros)
                {
                    _running = true;
                    break;
                }
            }
        }
        if (result == EvictResult.Ok) result = _running ? EvictResult.Running : EvictResult.Ok;
        else if (_server.LazyFree.HasPending)
        {
            // Nothing left to evict, but values are being freed in the background: wait a little for them.
            while (_server.LazyFree.HasPending && Stopwatch.GetElapsedTime(started).Ticks / 10 < limitMicros)
            {
                if (CountedMemory() <= max)
                {
                    result = EvictResult.Ok;
                    break;
                }
                Thread.Sleep(0);
            }
        }
        long ms = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        _server.AddLatencySample("eviction-cycle", ms);
        return Finish(result);
    }

    /// <summary>The cron's share: keeps evicting while a time-limited round left memory over the limit, or memory went over without commands (CONFIG SET maxmemory).</summary>
    public void BackgroundCycle(int hz)
    {
        if (_server.Config.MaxMemory <= 0)
        {
            // maxmemory was removed: close a pending "over the limit" period.
            if (_exceededSince != 0 || _running) lock (_server.DataLock) Finish(EvictResult.Ok);
            return;
        }
        long budget = Stopwatch.Frequency / Math.Max(1, hz) / 4;
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            EvictResult r;
            lock (_server.DataLock)
            {
                _server.UpdateClock();
                r = PerformEvictions();
            }
            if (r != EvictResult.Running || Stopwatch.GetTimestamp() - start > budget) break;
            Thread.Yield();
        }
        CollectWhenHeapBloated(_server.Config.MaxMemory);
    }

    private long _lastCollectTick;

    /// <summary>
    /// Evicted values stay on the managed heap until the GC runs, and a server that stops receiving
    /// writes may not collect for a long time, leaving RSS at several times maxmemory. When the GC
    /// heap holds more than twice maxmemory (plus slack for client buffers), ask for a background
    /// (non-blocking) full collection, at most once a second.
    /// </summary>
    private void CollectWhenHeapBloated(long max)
    {
        long now = Environment.TickCount64;
        if (now - _lastCollectTick < 1000) return;
        if (GC.GetTotalMemory(false) < 2 * max + (32L << 20)) return;
        _lastCollectTick = now;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Optimized, blocking: false);
    }

    private EvictResult Finish(EvictResult result)
    {
        if (result == EvictResult.Ok)
        {
            _running = false;
            if (_exceededSince != 0)
            {
                TotalExceededMs += (long)Stopwatch.GetElapsedTime(_exceededSince).TotalMilliseconds;
                _exceededSince = 0;
            }
        }
        else if (_exceededSince == 0) _exceededSince = Stopwatch.GetTimestamp();
        return result;
    }

    private void Evict(Database db, int idx, bool lazy)
    {
        // The key's bytes stay readable until the command ends, after the key is gone (see ItemStore).
        var key = db.KeyAt(idx);
        object? item = db.EvictAt(idx);
        if (lazy) _server.LazyFree.Release(item);
        _server.Stats.EvictedKeys++;
        _server.Propagator.KeyEvicted(db, key, lazy);
        _server.KeyspaceEvents.Notify(Config.KeyspaceEventFlags.Evicted, "evicted"u8, key, db.Index);
    }

    private bool PickVictim(EvictionPolicy policy, out int dbIndex, out int idx)
    {
        var dbs = _server.Databases;
        bool volatileOnly = policy.IsVolatile();
        if (policy.IsRandom())
        {
            // One random key from the next database that has candidates, so all databases take turns.
            for (int i = 0; i < dbs.Length; i++)
            {
                int j = _nextDb = (_nextDb + 1) % dbs.Length;
                int n = dbs[j].SampleKeys(volatileOnly, _sample.AsSpan(0, 1));
                if (n == 0) continue;
                dbIndex = j;
                idx = _sample[0];
                return true;
            }
            dbIndex = idx = -1;
            return false;
        }

        var ks = _server.Keyspace;
        int samples = Math.Clamp(_server.Config.MaxMemorySamples, 1, _sample.Length);
        while (true)
        {
            long total = 0;
            for (int d = 0; d < dbs.Length; d++)
            {
                var db = dbs[d];
                long candidates = volatileOnly ? db.ExpiresCount : db.Count;
                if (candidates == 0) continue;
                total += candidates;
                int n = db.SampleKeys(volatileOnly, _sample.AsSpan(0, samples));
                for (int s = 0; s < n; s++)
                {
                    int i = _sample[s];
                    _pool.Offer(db.KeyAt(i), d, Score(policy, db, i, ks));
                }
            }
            if (total == 0)
            {
                dbIndex = idx = -1;
                return false;
            }
            // Best candidate first; one that was deleted (or lost its TTL) since it was sampled is skipped.
            while (_pool.TakeBest(out var key, out int d))
            {
                var db = dbs[d];
                int i = db.FindRaw(key);
                if (i < 0 || (volatileOnly && !db.HasExpireAt(i))) continue;
                dbIndex = d;
                idx = i;
                return true;
            }
        }
    }

    /// <summary>The pool's score: higher is a better victim.</summary>
    private static ulong Score(EvictionPolicy policy, Database db, int idx, KeyspaceContext ks)
    {
        if (policy == EvictionPolicy.VolatileTtl)
        {
            long when = db.GetExpireAt(idx);
            return when < 0 ? 0 : ulong.MaxValue - (ulong)when;
        }
        uint lru = db.LruAt(idx);
        if (policy.IsLfu()) return 255 - Lfu.Decay(lru, ks);
        return (ulong)IdleMs(lru, ks);
    }

    /// <summary>Valkey's estimateObjectIdleTime: ms since the access stamped in a 24-bit seconds clock, allowing one wrap.</summary>
    public static long IdleMs(uint lru, KeyspaceContext ks)
    {
        uint now = ks.LruClock;
        long seconds = now >= lru ? now - lru : now + (KeyspaceContext.LruClockMax - lru);
        return seconds * 1000;
    }

    /// <summary>A policy change makes old scores incomparable.</summary>
    public void PolicyChanged() => _pool.Clear();
}
