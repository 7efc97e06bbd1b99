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
    /// Field/value pairs in storage order. Fields whose TTL has passed but that were not reclaimed yet
    /// are left out. A hash with field TTLs is written to RDB files and DUMP payloads by the writer
    /// itself, TTLs and passed fields included (RDB_TYPE_HASH_2); the command form of an AOF base
    /// uses this and adds an HPEXPIREAT per field with a TTL.
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
