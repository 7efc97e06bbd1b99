using Kvasir.Types;

namespace Kvasir.Keyspace;

/// <summary>
/// A key whose value is an object (list, hash, set, sorted set, stream, or a string edited in
/// place). String keys with plain values use the denser <see cref="KeyBlob"/> instead.
/// </summary>
public sealed class KeyedObject
{
    public KeyedObject(byte[] key, IDataValue value, uint lru)
    {
        Key = key;
        Value = value;
        Lru = lru;
    }

    public readonly byte[] Key;
    public IDataValue Value;

    /// <summary>24-bit LRU clock or LFU data, as in <see cref="KeyBlob"/>.</summary>
    public uint Lru;

    public bool IsVolatile;

    public long MemoryUsage => 40 + 24 + ((Key.Length + 7) & ~7) + Value.MemoryUsage;
}

/// <summary>Where a main-table item keeps its key: blob or object.</summary>
public readonly struct MainKeyOf : IKeyOf<object>
{
    public static ReadOnlySpan<byte> KeyOf(object item) =>
        item is byte[] blob ? KeyBlob.Key(blob) : ((KeyedObject)item).Key;

    public static bool IsEmpty(object item) => item is null;
}

/// <summary>An entry of a database's expires table: a copy of the key and its absolute expire time.</summary>
public struct ExpireEntry
{
    public byte[] Key;
    public long WhenMs;
}

public readonly struct ExpireKeyOf : IKeyOf<ExpireEntry>
{
    public static ReadOnlySpan<byte> KeyOf(ExpireEntry item) => item.Key;

    public static bool IsEmpty(ExpireEntry item) => item.Key is null;
}
