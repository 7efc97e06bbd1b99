namespace Kvasir.Types.Streams;

/// <summary>
/// A message delivered to a consumer and not acknowledged yet (Valkey's streamNACK). The same
/// object sits in the group's PEL and in its consumer's PEL.
/// </summary>
public sealed class PendingEntry
{
    /// <summary>Unix ms of the last delivery.</summary>
    public long DeliveryTime;

    /// <summary>How many times it was delivered.</summary>
    public long DeliveryCount;

    /// <summary>The consumer it was last delivered to; null only while an RDB load or XCLAIM FORCE builds it.</summary>
    public StreamConsumer? Consumer;

    public PendingEntry(long deliveryTime, StreamConsumer? consumer)
    {
        DeliveryTime = deliveryTime;
        DeliveryCount = 1;
        Consumer = consumer;
    }

    /// <summary>Bytes of the object (header, two longs, a reference).</summary>
    public const int Bytes = 40;
}

/// <summary>A consumer of a group (streamConsumer): its name, when it was last seen and active, its PEL.</summary>
public sealed class StreamConsumer
{
    public StreamConsumer(byte[] name, long seenTime)
    {
        Name = name;
        SeenTime = seenTime;
    }

    public byte[] Name { get; }

    /// <summary>Unix ms of its last read or claim attempt.</summary>
    public long SeenTime;

    /// <summary>Unix ms of its last successful read or claim; -1 before the first.</summary>
    public long ActiveTime = -1;

    public StreamIdMap<PendingEntry> Pel { get; } = new();

    public long MemoryUsage => 48 + 24 + Name.Length + Pel.OverheadBytes;
}

/// <summary>A consumer group (streamCG): last delivered ID, read counter, PEL and consumers by name.</summary>
public sealed class StreamGroup
{
    /// <summary>Valkey's SCG_INVALID_ENTRIES_READ: the read counter is not known.</summary>
    public const long InvalidEntriesRead = -1;

    public StreamGroup(StreamId lastId, long entriesRead)
    {
        LastId = lastId;
        EntriesRead = entriesRead;
    }

    public StreamId LastId;
    public long EntriesRead;

    public StreamIdMap<PendingEntry> Pel { get; } = new();

    public NameMap<StreamConsumer> Consumers { get; } = new();

    public StreamConsumer? LookupConsumer(ReadOnlySpan<byte> name) => Consumers.TryGet(name, out var c) ? c : null;

    /// <summary>streamCreateConsumer: null when the name is taken.</summary>
    public StreamConsumer? CreateConsumer(ReadOnlySpan<byte> name, long nowMs)
    {
        int at = Consumers.IndexOf(name);
        if (at >= 0) return null;
        var consumer = new StreamConsumer(name.ToArray(), nowMs);
        Consumers.InsertAt(~at, consumer.Name, consumer);
        return consumer;
    }

    /// <summary>streamDelConsumer: drops the consumer and its pending entries from the group PEL. Returns how many it had.</summary>
    public long DeleteConsumer(StreamConsumer consumer)
    {
        long pending = consumer.Pel.Count;
        foreach (var kv in consumer.Pel) Pel.Remove(kv.Key);
        Consumers.Remove(consumer.Name);
        return pending;
    }

    /// <summary>Removes an acknowledged or vanished entry from both PELs.</summary>
    public void RemovePending(StreamId id, PendingEntry entry)
    {
        Pel.Remove(id);
        entry.Consumer?.Pel.Remove(id);
    }

    public long MemoryUsage
    {
        get
        {
            long bytes = 64 + Pel.OverheadBytes + Pel.Count * (long)PendingEntry.Bytes + Consumers.OverheadBytes;
            for (int i = 0; i < Consumers.Count; i++) bytes += Consumers.ValueAt(i).MemoryUsage;
            return bytes;
        }
    }
}

/// <summary>
/// Names to values in byte order (a shorter name before the longer names it begins), as a rax
/// iterates them: the groups of a stream, the consumers of a group. A sorted array with binary
/// search: lookups by a span allocate nothing.
/// </summary>
public sealed class NameMap<T>
{
    private byte[][] _names = Array.Empty<byte[]>();
    private T[] _values = Array.Empty<T>();

    public int Count { get; private set; }

    public long OverheadBytes => 48 + 16L * _names.Length;

    public byte[] NameAt(int i) => _names[i];

    public T ValueAt(int i) => _values[i];

    /// <summary>The index of <paramref name="name"/>, or the bitwise complement of where it would go.</summary>
    public int IndexOf(ReadOnlySpan<byte> name)
    {
        int lo = 0, hi = Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            int c = _names[mid].AsSpan().SequenceCompareTo(name);
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    public bool TryGet(ReadOnlySpan<byte> name, out T value)
    {
        int i = IndexOf(name);
        if (i >= 0)
        {
            value = _values[i];
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>Adds a name that is not present; false when it is.</summary>
    public bool TryAdd(byte[] name, T value)
    {
        int i = IndexOf(name);
        if (i >= 0) return false;
        InsertAt(~i, name, value);
        return true;
    }

    internal void InsertAt(int at, byte[] name, T value)
    {
        if (Count == _names.Length)
        {
            int capacity = Math.Max(4, _names.Length * 2);
            Array.Resize(ref _names, capacity);
            Array.Resize(ref _values, capacity);
        }
        Array.Copy(_names, at, _names, at + 1, Count - at);
        Array.Copy(_values, at, _values, at + 1, Count - at);
        _names[at] = name;
        _values[at] = value;
        Count++;
    }

    public bool Remove(ReadOnlySpan<byte> name)
    {
        int i = IndexOf(name);
        if (i < 0) return false;
        Array.Copy(_names, i + 1, _names, i, Count - i - 1);
        Array.Copy(_values, i + 1, _values, i, Count - i - 1);
        Count--;
        _names[Count] = null!;
        _values[Count] = default!;
        return true;
    }
}
