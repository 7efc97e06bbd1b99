namespace Kvasir.Types;

/// <summary>
/// The hashes of one server that have fields with a TTL, ordered by their earliest field deadline, so
/// the active expire cycle reaches the due ones without scanning the keyspace (Valkey 9 keeps a
/// per-database set of "keys with volatile items" for the same purpose). A hash is queued under a
/// lower bound of its deadline and at most once (<see cref="HashValue.FieldTable.QueuedAt"/>); one
/// that was deleted, overwritten or lost its TTLs is dropped when it comes up.
/// </summary>
public sealed class VolatileHashes
{
    private readonly PriorityQueue<HashValue, long> _queue = new();

    public int Count => _queue.Count;

    /// <summary>Call after a hash gained or changed field TTLs: queues it under its earliest deadline.</summary>
    public void Track(HashValue hash)
    {
        if (hash.Table is not { } table) return;
        long next = table.NextDeadline;
        if (next == long.MaxValue || next >= table.QueuedAt) return;
        table.QueuedAt = next;
        _queue.Enqueue(hash, next);
    }

    /// <summary>
    /// Queues <paramref name="value"/> when it is a hash with fields that have a TTL: for every path
    /// that puts such a hash into a database without going through a field-expiry command (COPY,
    /// RESTORE, loading a snapshot), so the active expire cycle reaches it.
    /// </summary>
    public void TrackIfVolatile(object? value)
    {
        if (value is HashValue { HasVolatileFields: true } hash) Track(hash);
    }

    /// <summary>
    /// True when one of <paramref name="databases"/> holds a hash with fields that have a TTL (a
    /// snapshot then needs RDB version 80). Every such hash is queued, so only queued ones are looked
    /// at; entries of hashes since deleted, replaced or persisted do not count.
    /// </summary>
    public bool AnyLive(IReadOnlyList<Keyspace.Database> databases)
    {
        foreach (var (hash, _) in _queue.UnorderedItems)
        {
            if (!hash.HasVolatileFields) continue;
            foreach (var db in databases)
            {
                int idx = db.FindRaw(hash.Key);
                if (idx >= 0 && ReferenceEquals(db.ObjectAt(idx), hash)) return true;
            }
        }
        return false;
    }

    /// <summary>Takes the next hash whose earliest deadline is at or before <paramref name="nowMs"/>.</summary>
    public bool TryTakeDue(long nowMs, out HashValue hash)
    {
        while (_queue.TryPeek(out hash!, out long when) && when <= nowMs)
        {
            _queue.Dequeue();
            if (hash.Table is { } table && table.QueuedAt == when)
            {
                table.QueuedAt = long.MaxValue;
                return true;
            }
        }
        hash = null!;
        return false;
    }

    public void Clear() => _queue.Clear();

    /// <summary>Hands every queued hash to <paramref name="target"/> (a data set loaded aside joins the live one).</summary>
    public void MoveTo(VolatileHashes target)
    {
        foreach (var (hash, _) in _queue.UnorderedItems)
        {
            if (hash.Table is { } table) table.QueuedAt = long.MaxValue;
            target.Track(hash);
        }
        _queue.Clear();
    }
}
