using System.Collections.Concurrent;
using Kvasir.Types;

namespace Kvasir.Keyspace.Eviction;

/// <summary>
/// Lazy freeing (UNLINK, FLUSHALL ASYNC, lazyfree-lazy-*): what "free" means on a managed heap.
/// <para>
/// In Valkey, freeing a value with millions of elements is millions of free() calls, so it is
/// moved to a background thread. In Kvasir, removing a key only drops a reference: O(1) on the
/// command path whatever the value's size, and the GC reclaims the unreachable graph later
/// (concurrently, with background GC). What remains to move off the command path is the part the
/// server itself still does per element, and the bookkeeping: a value Valkey would free in the
/// background (more than 64 elements, lazyfreeGetFreeEffort) is handed to this worker, counted in
/// lazyfree_pending_objects and still counted in used_memory until the worker has let it go; then
/// it counts in lazyfreed_objects. The worker's own work is only to drop its reference: the
/// counters then say what Valkey's say (how much the server has let go of), while the memory
/// itself returns to the runtime at the next collection of the generation holding it, which
/// INFO's gc_* fields and used_memory_rss show.
/// </para>
/// </summary>
public sealed class LazyFree : IDisposable
{
    /// <summary>Valkey's LAZYFREE_THRESHOLD: values with fewer elements are freed at once.</summary>
    public const int Threshold = 64;

    private readonly record struct Job(object Graph, long Objects, long Bytes);

    private readonly BlockingCollection<Job> _jobs = new();
    private readonly Thread _worker;
    private long _pendingObjects;
    private long _pendingBytes;
    private long _freedObjects;

    public LazyFree()
    {
        _worker = new Thread(Work) { IsBackground = true, Name = "kvasir-lazyfree" };
        _worker.Start();
    }

    /// <summary>INFO lazyfree_pending_objects: handed over, not yet released.</summary>
    public long PendingObjects => Interlocked.Read(ref _pendingObjects);

    /// <summary>Bytes of pending objects, still part of used_memory as in Valkey.</summary>
    public long PendingBytes => Interlocked.Read(ref _pendingBytes);

    /// <summary>INFO lazyfreed_objects (reset by CONFIG RESETSTAT).</summary>
    public long FreedObjects => Interlocked.Read(ref _freedObjects);

    public bool HasPending => PendingObjects > 0;

    public void ResetStats() => Interlocked.Exchange(ref _freedObjects, 0);

    /// <summary>Valkey's lazyfreeGetFreeEffort: elements of a collection in a big encoding, 1 for everything else.</summary>
    public static long FreeEffort(object? item)
    {
        if (item is not KeyedObject o) return 1;
        var v = o.Value;
        return v switch
        {
            ListValue l when l.IsQuicklist => l.NodeCount,
            SetValue s when s.Encoding == ValueEncoding.Hashtable => s.Count,
            SortedSetValue z when z.Encoding == ValueEncoding.Skiplist => z.Count,
            HashValue h when h.Encoding == ValueEncoding.Hashtable => h.Count,
            Types.Streams.StreamValue st => st.FreeEffort,
            _ => 1,
        };
    }

    /// <summary>
    /// A removed key-table item (blob or object): released in the background when big, at once
    /// otherwise. Returns true when it went to the worker.
    /// </summary>
    public bool Release(object? item)
    {
        if (FreeEffort(item) <= Threshold) return false;
        Enqueue(new Job(item, 1, ((KeyedObject)item).MemoryUsage));
        return true;
    }

    /// <summary>The tables of a flushed database (FLUSHALL/FLUSHDB ASYNC): every key counts as one pending object, as Valkey's emptyDbAsync.</summary>
    public void ReleaseTables(object tables, long keys, long bytes)
    {
        if (keys == 0) return;
        Enqueue(new Job(tables, keys, bytes));
    }

    private void Enqueue(Job job)
    {
        Interlocked.Add(ref _pendingObjects, job.Objects);
        Interlocked.Add(ref _pendingBytes, job.Bytes);
        if (!_jobs.TryAdd(job)) Done(job); // shutting down: nothing to wait for
    }

    /// <summary>Waits (at most <paramref name="timeout"/>) until the worker has nothing pending; for tests and eviction.</summary>
    public bool WaitIdle(TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (HasPending)
        {
            if (DateTime.UtcNow >= until) return false;
            Thread.Sleep(1);
        }
        return true;
    }

    private void Work()
    {
        // Not foreach over GetConsumingEnumerable: its enumerator's Current would keep the last
        // released graph (a whole flushed database) reachable until the next job arrives.
        try
        {
            while (true)
            {
                Job job = default;
                try
                {
                    if (!_jobs.TryTake(out job, Timeout.Infinite)) return;
                }
                catch (InvalidOperationException) { return; } // completed while waiting
                Done(job);
            }
        }
        catch (ObjectDisposedException) { }
    }

    private void Done(Job job)
    {
        Interlocked.Add(ref _pendingBytes, -job.Bytes);
        Interlocked.Add(ref _freedObjects, job.Objects);
        Interlocked.Add(ref _pendingObjects, -job.Objects);
    }

    public void Dispose() => _jobs.CompleteAdding();
}

