using Kvasir.Keyspace;

namespace Kvasir.Types;

/// <summary>
/// A hash (field → value), with Valkey's two encodings:
/// <list type="bullet">
/// <item>"listpack" while small: ONE byte array of field/value entries (see <see cref="PackedEntries"/>)
/// in insertion order, so a small hash is two objects however many fields it has;</item>
/// <item>"hashtable" once it exceeds hash-max-listpack-entries or a string exceeds
/// hash-max-listpack-value: a <see cref="HashTable{T,TKeyOf}"/> of one packed array per pair.
/// Like Valkey it never converts back.</item>
/// </list>
/// A hash in the keyspace is its own key-table item (<see cref="IKeyEmbeddingValue"/>): the key is the
/// first entry of the packed array, so a small hash costs one object and one array per key.
/// Per-field expiry (HEXPIRE) can be added as a separate field → deadline table next to the data,
/// leaving both encodings as they are.
/// </summary>
public sealed partial class HashValue : KeyedObject, IDataValue, IKeyEmbeddingValue
{
    // byte[] in the listpack encoding: [key entry][field entry][value entry]... (an empty array has
    // neither key nor fields); FieldTable in the hashtable encoding. One reference keeps the per-key
    // object at its minimum size.
    private object _data;

    public HashValue() => _data = Array.Empty<byte>();

    /// <summary>A new empty hash that already holds the key it is about to be stored under.</summary>
    public HashValue(ReadOnlySpan<byte> key)
    {
        var lp = new byte[PackedEntries.EntrySize(key.Length)];
        PackedEntries.WriteEntry(lp, key);
        _data = lp;
    }

    public DataType Type => DataType.Hash;

    public ValueEncoding Encoding => _data is byte[] ? ValueEncoding.Listpack : ValueEncoding.Hashtable;

    public bool IsPacked => _data is byte[];

    public override long MemoryUsage => _data is byte[] lp
        ? 32 + PackedEntries.ArrayBytes(lp.Length)
        : 32 + ((FieldTable)_data).MemoryUsage;

    public override IDataValue Value => this;

    public override ReadOnlySpan<byte> Key => _data is byte[] lp
        ? (lp.Length == 0 ? default : PackedEntries.ReadEntry(lp, 0, out _))
        : ((FieldTable)_data).Key;

    KeyedObject IKeyEmbeddingValue.EmbedKey(ReadOnlySpan<byte> key)
    {
        if (Key.SequenceEqual(key) && (key.Length > 0 || (_data is byte[] { Length: > 0 }) || _data is FieldTable)) return this;
        if (_data is FieldTable t)
        {
            t.Key = key.ToArray();
            return this;
        }
        var lp = (byte[])_data;
        int start = EntriesStart(lp);
        var next = GC.AllocateUninitializedArray<byte>(PackedEntries.EntrySize(key.Length) + lp.Length - start);
        int w = PackedEntries.WriteEntry(next, key);
        lp.AsSpan(start).CopyTo(next.AsSpan(w));
        _data = next;
        return this;
    }

    /// <summary>Where the field/value entries of a packed array begin (after the key entry).</summary>
    private static int EntriesStart(ReadOnlySpan<byte> lp) => lp.Length == 0 ? 0 : PackedEntries.Skip(lp, 0);

    public int Count
    {
        get
        {
            if (_data is FieldTable t) return t.Table.Count;
            var lp = (byte[])_data;
            int n = 0;
            for (int p = EntriesStart(lp); p < lp.Length; p = PackedEntries.Skip(lp, PackedEntries.Skip(lp, p))) n++;
            return n;
        }
    }

    // ----- reads -----

    public bool TryGet(ReadOnlySpan<byte> field, out ReadOnlySpan<byte> value)
    {
        if (_data is FieldTable t)
        {
            int i = t.Table.Find(field);
            if (i < 0)
            {
                value = default;
                return false;
            }
            value = FieldTable.ValueOf(t.Table.ItemAt(i));
            return true;
        }
        var lp = (byte[])_data;
        int pos = FindPacked(lp, field);
        if (pos < 0)
        {
            value = default;
            return false;
        }
        PackedEntries.ReadEntry(lp, pos, out int vpos);
        value = PackedEntries.ReadEntry(lp, vpos, out _);
        return true;
    }

    public bool Contains(ReadOnlySpan<byte> field) => TryGet(field, out _);

    /// <summary>Position of the field entry in a packed array, or -1.</summary>
    private static int FindPacked(ReadOnlySpan<byte> lp, ReadOnlySpan<byte> field)
    {
        int p = EntriesStart(lp);
        while (p < lp.Length)
        {
            var f = PackedEntries.ReadEntry(lp, p, out int vpos);
            if (f.SequenceEqual(field)) return p;
            p = PackedEntries.Skip(lp, vpos);
        }
        return -1;
    }

    // ----- writes -----

    /// <summary>
    /// Valkey's hashTypeTryConversion before a multi-field write: more new pairs than the entry limit,
    /// or any string longer than the value limit, converts right away.
    /// </summary>
    public void PrepareForWrite(int pairs, int longestString, long maxEntries, long maxValue)
    {
        if (_data is not byte[]) return;
        if (pairs > maxEntries || longestString > maxValue) ConvertToTable(pairs);
    }

    /// <summary>Sets a field. Returns true when the field is new. Converts to a hashtable past the limits.</summary>
    public bool Set(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value, long maxEntries, long maxValue)
    {
        if (_data is byte[] && (field.Length > maxValue || value.Length > maxValue)) ConvertToTable(0);
        if (_data is FieldTable t) return t.Set(field, value);

        var lp = (byte[])_data;
        int pos = FindPacked(lp, field);
        if (pos >= 0)
        {
            // Replace the value in place, keeping the field's position (insertion order).
            int vpos = PackedEntries.Skip(lp, pos);
            int vend = PackedEntries.Skip(lp, vpos);
            int size = PackedEntries.EntrySize(value.Length);
            if (size == vend - vpos)
            {
                PackedEntries.WriteEntry(lp.AsSpan(vpos), value);
                return false;
            }
            var next = PackedEntries.Splice(lp, vpos, vend, size);
            PackedEntries.WriteEntry(next.AsSpan(vpos), value);
            _data = next;
            return false;
        }
        int added = PackedEntries.EntrySize(field.Length) + PackedEntries.EntrySize(value.Length);
        if (lp.Length == 0) added++; // the (empty) key entry
        var grown = GC.AllocateUninitializedArray<byte>(lp.Length + added);
        lp.CopyTo(grown, 0);
        int w = lp.Length;
        if (w == 0) grown[w++] = 0;
        w += PackedEntries.WriteEntry(grown.AsSpan(w), field);
        PackedEntries.WriteEntry(grown.AsSpan(w), value);
        _data = grown;
        if (Count > maxEntries) ConvertToTable(0);
        return true;
    }

    /// <summary>
    /// HSET's many-pairs write: the same result as <see cref="Set"/> pair by pair, but a packed hash
    /// is rebuilt in a scratch buffer and allocated once, not once per pair. Returns the new fields.
    /// </summary>
    /// <paramref name="key"/>, for a hash that is still empty, is written as its key right away so that
    /// storing it under that key does not copy the array again.
    public int SetPairs(Protocol.CommandArgs args, int first, long maxEntries, long maxValue, ReadOnlySpan<byte> key = default)
    {
        int created = 0;
        if (_data is not byte[] lp || (args.Count - first == 2 && lp.Length > 0))
        {
            for (int i = first; i + 1 < args.Count; i += 2)
                if (Set(args[i], args[i + 1], maxEntries, maxValue)) created++;
            return created;
        }
        for (int i = first; i < args.Count; i++)
        {
            if (args[i].Length > maxValue)
            {
                ConvertToTable(0);
                return SetPairs(args, first, maxEntries, maxValue);
            }
        }
        long capacity = lp.Length + PackedEntries.EntrySize(key.Length);
        for (int i = first; i < args.Count; i++) capacity += PackedEntries.EntrySize(args[i].Length);
        var buf = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(capacity, Array.MaxLength));
        try
        {
            lp.CopyTo(buf, 0);
            int len = lp.Length;
            if (len == 0) len = PackedEntries.WriteEntry(buf, key);
            for (int i = first; i + 1 < args.Count; i += 2)
            {
                var field = args[i];
                var value = args[i + 1];
                int pos = FindPacked(buf.AsSpan(0, len), field);
                if (pos >= 0)
                {
                    int vpos = PackedEntries.Skip(buf, pos);
                    int vend = PackedEntries.Skip(buf, vpos);
                    int size = PackedEntries.EntrySize(value.Length);
                    buf.AsSpan(vend, len - vend).CopyTo(buf.AsSpan(vpos + size));
                    PackedEntries.WriteEntry(buf.AsSpan(vpos), value);
                    len += size - (vend - vpos);
                }
                else
                {
                    len += PackedEntries.WriteEntry(buf.AsSpan(len), field);
                    len += PackedEntries.WriteEntry(buf.AsSpan(len), value);
                    created++;
                }
            }
            _data = buf.AsSpan(0, len).ToArray();
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buf);
        }
        if (Count > maxEntries) ConvertToTable(0);
        return created;
    }

    /// <summary>Removes a field. Returns false when it was not there.</summary>
    public bool Delete(ReadOnlySpan<byte> field)
    {
        if (_data is FieldTable t) return t.Delete(field);
        var lp = (byte[])_data;
        int pos = FindPacked(lp, field);
        if (pos < 0) return false;
        int end = PackedEntries.Skip(lp, PackedEntries.Skip(lp, pos));
        _data = PackedEntries.Splice(lp, pos, end, 0);
        return true;
    }

    /// <summary>Switches to the hashtable encoding (once; there is no way back, as in Valkey).</summary>
    public void ConvertToTable(int sizeHint = 0)
    {
        if (_data is not byte[] lp) return;
        var table = new FieldTable(Math.Max(sizeHint, 4)) { Key = Key.ToArray() };
        int p = EntriesStart(lp);
        while (p < lp.Length)
        {
            var f = PackedEntries.ReadEntry(lp, p, out int vpos);
            var v = PackedEntries.ReadEntry(lp, vpos, out p);
            table.Set(f, v);
        }
        _data = table;
    }

    // ----- iteration -----

    public Enumerator GetEnumerator() => new(this);

    /// <summary>Visits every pair without allocating; the hash must not change meanwhile.</summary>
    public ref struct Enumerator
    {
        private readonly byte[]? _packed;
        private readonly HashTable<byte[], FieldTable.PairKeyOf>? _table;
        private int _pos;
        private int _next;
        private ReadOnlySpan<byte> _field;
        private ReadOnlySpan<byte> _value;

        internal Enumerator(HashValue hash)
        {
            _packed = hash._data as byte[];
            _table = (hash._data as FieldTable)?.Table;
            _pos = -1;
            _next = _packed is null ? 0 : EntriesStart(_packed);
        }

        public bool MoveNext()
        {
            if (_packed is not null)
            {
                if (_next >= _packed.Length) return false;
                _pos = _next;
                _field = PackedEntries.ReadEntry(_packed, _pos, out int vpos);
                _value = PackedEntries.ReadEntry(_packed, vpos, out _next);
                return true;
            }
            var t = _table!;
            while (++_pos < t.IndexLimit)
            {
                if (!t.IsOccupied(_pos)) continue;
                var pair = t.ItemAt(_pos);
                _field = FieldTable.FieldOf(pair);
                _value = FieldTable.ValueOf(pair);
                return true;
            }
            return false;
        }

        public readonly ReadOnlySpan<byte> Field => _field;
        public readonly ReadOnlySpan<byte> Value => _value;
        public readonly Enumerator Current => this;
    }

    /// <summary>A uniformly chosen pair (the hash must not be empty).</summary>
    public void RandomPair(Random random, out ReadOnlySpan<byte> field, out ReadOnlySpan<byte> value)
    {
        if (_data is FieldTable t)
        {
            var pair = t.Table.ItemAt(t.Table.RandomIndex(random));
            field = FieldTable.FieldOf(pair);
            value = FieldTable.ValueOf(pair);
            return;
        }
        PairAt(random.Next(Count), out field, out value);
    }

    /// <summary>The pair at position <paramref name="index"/> in the packed encoding's order.</summary>
    private void PairAt(int index, out ReadOnlySpan<byte> field, out ReadOnlySpan<byte> value)
    {
        var lp = (byte[])_data;
        int p = EntriesStart(lp);
        for (int i = 0; i < index; i++) p = PackedEntries.Skip(lp, PackedEntries.Skip(lp, p));
        field = PackedEntries.ReadEntry(lp, p, out int vpos);
        value = PackedEntries.ReadEntry(lp, vpos, out _);
    }

    /// <summary>Pairs picked uniformly with repetition, as (field, value) copies (HRANDFIELD with a negative count).</summary>
    public void RandomPairsWithRepetition(Random random, long count, Action<ReadOnlySpan<byte>, ReadOnlySpan<byte>> emit)
    {
        if (_data is FieldTable t)
        {
            for (long i = 0; i < count; i++)
            {
                var pair = t.Table.ItemAt(t.Table.RandomIndex(random));
                emit(FieldTable.FieldOf(pair), FieldTable.ValueOf(pair));
            }
            return;
        }
        // Index the packed pairs once so each pick is O(1).
        var lp = (byte[])_data;
        int n = Count;
        var offsets = new int[n];
        for (int i = 0, p = EntriesStart(lp); i < n; i++)
        {
            offsets[i] = p;
            p = PackedEntries.Skip(lp, PackedEntries.Skip(lp, p));
        }
        for (long i = 0; i < count; i++)
        {
            var f = PackedEntries.ReadEntry(lp, offsets[random.Next(n)], out int vpos);
            emit(f, PackedEntries.ReadEntry(lp, vpos, out _));
        }
    }

    /// <summary>
    /// <paramref name="count"/> distinct pairs (count &lt; Count) chosen at random, like Valkey's
    /// HRANDFIELD strategies: selection sampling in order for the packed encoding; for a table,
    /// removing random pairs from a full copy when most are wanted, else picking until enough distinct.
    /// </summary>
    public void RandomDistinctPairs(Random random, int count, Action<ReadOnlySpan<byte>, ReadOnlySpan<byte>> emit)
    {
        if (_data is byte[] lp)
        {
            int remaining = Count, needed = count, p = EntriesStart(lp);
            while (needed > 0)
            {
                var f = PackedEntries.ReadEntry(lp, p, out int vpos);
                var v = PackedEntries.ReadEntry(lp, vpos, out p);
                if (random.NextDouble() * remaining < needed)
                {
                    emit(f, v);
                    needed--;
                }
                remaining--;
            }
            return;
        }
        var table = ((FieldTable)_data).Table;
        int size = table.Count;
        if ((long)count * 3 > size)
        {
            var picked = new List<int>(size);
            for (int i = 0; i < table.IndexLimit; i++)
                if (table.IsOccupied(i)) picked.Add(i);
            while (picked.Count > count)
            {
                int r = random.Next(picked.Count);
                picked[r] = picked[^1];
                picked.RemoveAt(picked.Count - 1);
            }
            foreach (int i in picked)
            {
                var pair = table.ItemAt(i);
                emit(FieldTable.FieldOf(pair), FieldTable.ValueOf(pair));
            }
            return;
        }
        var seen = new HashSet<int>(count);
        while (seen.Count < count)
        {
            int i = table.RandomIndex(random);
            if (!seen.Add(i)) continue;
            var pair = table.ItemAt(i);
            emit(FieldTable.FieldOf(pair), FieldTable.ValueOf(pair));
        }
    }

    /// <summary>
    /// One HSCAN step. The packed encoding returns everything at once (cursor 0), as Valkey does for
    /// listpacks; the table visits buckets with the reverse-binary cursor until about
    /// <paramref name="count"/> pairs were seen (at most 10×count buckets).
    /// </summary>
    public ulong Scan(ulong cursor, long count, Action<ReadOnlySpan<byte>, ReadOnlySpan<byte>> visit)
    {
        if (_data is byte[] lp)
        {
            int p = EntriesStart(lp);
            while (p < lp.Length)
            {
                var f = PackedEntries.ReadEntry(lp, p, out int vpos);
                var v = PackedEntries.ReadEntry(lp, vpos, out p);
                visit(f, v);
            }
            return 0;
        }
        var table = ((FieldTable)_data).Table;
        long sampled = 0;
        long maxIterations = count * 10;
        var buffer = new List<int>();
        do
        {
            buffer.Clear();
            cursor = table.ScanBucket(cursor, buffer);
            foreach (int i in buffer)
            {
                var pair = table.ItemAt(i);
                visit(FieldTable.FieldOf(pair), FieldTable.ValueOf(pair));
                sampled++;
            }
        } while (cursor != 0 && maxIterations-- > 0 && sampled < count);
        return cursor;
    }

    public IDataValue? Duplicate() => Clone();

    /// <summary>A copy with the same encoding (COPY).</summary>
    public HashValue Clone()
    {
        var copy = new HashValue();
        if (_data is byte[] lp) copy._data = lp.Length == 0 ? lp : (byte[])lp.Clone();
        else
        {
            var src = ((FieldTable)_data).Table;
            var table = new FieldTable(src.Count);
            for (int i = 0; i < src.IndexLimit; i++)
                if (src.IsOccupied(i)) table.Set(FieldTable.FieldOf(src.ItemAt(i)), FieldTable.ValueOf(src.ItemAt(i)));
            copy._data = table;
        }
        return copy;
    }

    /// <summary>The hashtable encoding: one array per pair, [varint field length][field][value].</summary>
    internal sealed class FieldTable
    {
        public readonly HashTable<byte[], PairKeyOf> Table;

        /// <summary>The key of the hash in the keyspace (empty when detached).</summary>
        public byte[] Key = Array.Empty<byte>();

        /// <summary>Heap bytes of all pair arrays.</summary>
        public long PairBytes;

        public FieldTable(int capacity) => Table = new HashTable<byte[], PairKeyOf>(capacity);

        public long MemoryUsage => 40 + 48 + PackedEntries.ArrayBytes(Key.Length) + Table.OverheadBytes + PairBytes;

        public readonly struct PairKeyOf : IKeyOf<byte[]>
        {
            public static ReadOnlySpan<byte> KeyOf(byte[] item) => FieldOf(item);

            public static bool IsEmpty(byte[] item) => item is null;
        }

        public static ReadOnlySpan<byte> FieldOf(byte[] pair)
        {
            int start = PackedEntries.ReadVarint(pair, 0, out int len);
            return new ReadOnlySpan<byte>(pair, start, len);
        }

        public static ReadOnlySpan<byte> ValueOf(byte[] pair)
        {
            int start = PackedEntries.ReadVarint(pair, 0, out int len);
            return new ReadOnlySpan<byte>(pair, start + len, pair.Length - start - len);
        }

        private static byte[] MakePair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value)
        {
            var pair = GC.AllocateUninitializedArray<byte>(PackedEntries.EntrySize(field.Length) + value.Length);
            int w = PackedEntries.WriteEntry(pair, field);
            value.CopyTo(pair.AsSpan(w));
            return pair;
        }

        public bool Set(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value)
        {
            int hash = KeyHash.Hash(field);
            int i = Table.Find(field, hash);
            if (i >= 0)
            {
                ref byte[] slot = ref Table.ItemAt(i);
                int valueStart = slot.Length - ValueOf(slot).Length;
                if (slot.Length - valueStart == value.Length)
                {
                    value.CopyTo(slot.AsSpan(valueStart));
                    return false;
                }
                var pair = MakePair(field, value);
                PairBytes += PackedEntries.ArrayBytes(pair.Length) - PackedEntries.ArrayBytes(slot.Length);
                slot = pair;
                return false;
            }
            var added = MakePair(field, value);
            Table.Add(added, hash);
            PairBytes += PackedEntries.ArrayBytes(added.Length);
            return true;
        }

        public bool Delete(ReadOnlySpan<byte> field)
        {
            int i = Table.Find(field);
            if (i < 0) return false;
            var pair = Table.RemoveAt(i);
            PairBytes -= PackedEntries.ArrayBytes(pair.Length);
            return true;
        }
    }
}
