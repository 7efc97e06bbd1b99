using Kvasir.Persistence;

namespace Kvasir.Types;

public sealed partial class HashValue : IElementSource
{
    // A snapshot asks for the count, then visits, then checks the count again: all three must judge
    // expiry at the same instant, so the clock is frozen per hash for the duration of that sequence.
    [ThreadStatic] private static FieldTable? _clockOwner;
    [ThreadStatic] private static long _clockMs;
    [ThreadStatic] private static long _clockTakenTicks;

    private static long VisitClock(FieldTable t)
    {
        long ticks = Environment.TickCount64;
        if (!ReferenceEquals(_clockOwner, t) || ticks - _clockTakenTicks > 1000)
        {
            _clockOwner = t;
            _clockMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            _clockTakenTicks = ticks;
        }
        return _clockMs;
    }

    long IElementSource.ElementCount
    {
        get
        {
            if (_data is not FieldTable { Ttls: not null } t) return Count;
            long now = VisitClock(t), n = 0;
            foreach (var pair in this) if (!t.IsExpired(pair.Field, now)) n++;
            return n;
        }
    }

    /// <summary>
    /// Field/value pairs in storage order (snapshots, DUMP). Fields whose TTL has passed but that were
    /// not reclaimed yet are left out. The TTLs themselves have no place in RDB 11 (Valkey 9 writes
    /// them as RDB_TYPE_HASH_2 in its RDB 80): the live fields are saved without their expiry.
    /// </summary>
    public void VisitElements(IElementVisitor visitor)
    {
        var t = _data as FieldTable;
        long now = t?.Ttls is null ? 0 : VisitClock(t);
        var e = GetEnumerator();
        while (e.MoveNext())
            if (t?.Ttls is null || !t.IsExpired(e.Field, now)) visitor.Pair(e.Field, e.Value);
    }
}
