using Kvasir.Types;

namespace Kvasir.Keyspace;

/// <summary>
/// A key whose value is an object (list, hash, set, sorted set, stream, or a string edited in
/// place). String keys with plain values use the denser <see cref="KeyBlob"/> instead.
/// Most values are held by a <see cref="BoxedObject"/> (key array + value); a value that can carry
/// its own key (<see cref="IKeyEmbeddingValue"/>, e.g. a sorted set) is its own key-table item,
/// which saves the holder and the key array: two objects fewer per key. A small hash goes further:
/// its item is a single <see cref="KeyBlob"/>-shaped array, no object at all.
/// </summary>
public abstract class KeyedObject
{
    /// <summary>24-bit LRU clock or LFU data, as in <see cref="KeyBlob"/>.</summary>
    public uint Lru;

    public bool IsVolatile;

    public abstract ReadOnlySpan<byte> Key { get; }

    public abstract IDataValue Value { get; }

    /// <summary>Heap bytes of the key, the value and the holder.</summary>
    public abstract long MemoryUsage { get; }

    /// <summary>The key-table item for <paramref name="value"/> under <paramref name="key"/>: a KeyedObject,
    /// or a blob for a value that packs itself with its key (<see cref="IKeyEmbeddingValue"/>).</summary>
    public static object CreateItem(ReadOnlySpan<byte> key, IDataValue value, uint lru, bool isVolatile)
    {
        object item = value is IKeyEmbeddingValue embedding ? embedding.EmbedKey(key) : new BoxedObject(key.ToArray(), value);
        if (item is byte[] blob)
        {
            KeyBlob.SetLru(blob, lru);
            KeyBlob.SetVolatile(blob, isVolatile);
        }
        else
        {
            var o = (KeyedObject)item;
            o.Lru = lru;
            o.IsVolatile = isVolatile;
        }
        return item;
    }
}

/// <summary>A value that stores its key itself and so serves as its own key-table item.</summary>
public interface IKeyEmbeddingValue
{
    /// <summary>Takes <paramref name="key"/> as the value's key (copying it; the span may point into the value) and
    /// returns the item: the value itself, or a <see cref="KeyBlob"/>-shaped array holding key and value.</summary>
    object EmbedKey(ReadOnlySpan<byte> key);
}

/// <summary>The holder of a value that does not embed its key.</summary>
public sealed class BoxedObject : KeyedObject
{
    private readonly byte[] _key;
    private IDataValue _value;

    public BoxedObject(byte[] key, IDataValue value)
    {
        _key = key;
        _value = value;
    }

    public override ReadOnlySpan<byte> Key => _key;

    public override IDataValue Value => _value;

    public override long MemoryUsage => 40 + 24 + ((_key.Length + 7) & ~7) + _value.MemoryUsage;

    /// <summary>Swaps in another value that does not embed keys.</summary>
    public void SetValue(IDataValue value) => _value = value;
}

/// <summary>An entry of a database's expires table: a copy of the key and its absolute expire time.</summary>
public struct ExpireEntry
{
    public byte[] Key;
    public long WhenMs;
}

public readonly struct ExpireKeyOf : IKeyOf<ExpireEntry>
{
    public ReadOnlySpan<byte> KeyOf(ExpireEntry item) => item.Key;

    public bool IsEmpty(ExpireEntry item) => item.Key is null;
}

/// <summary>
/// An entry of a database's expires table: the key's index in the key table (plus one; 0 marks a
/// free slot) and its absolute expire time. No copy of the key: the key table's entry has it, and
/// the index stays valid while the key lives (its expire entry goes first when it is removed).
/// </summary>
public struct KeyExpire
{
    public long WhenMs;
    public int KeyRef;
}

public readonly struct KeyExpireKeyOf(HashTable<long, MainKeyOf> keys, ItemStore store) : IKeyOf<KeyExpire>
{
    public ReadOnlySpan<byte> KeyOf(KeyExpire item) => store.KeyOf(keys.ItemAt(item.KeyRef - 1));

    public bool IsEmpty(KeyExpire item) => item.KeyRef == 0;
}
