using Kvasir.Keyspace;

namespace Kvasir.Types;

/// <summary>
/// A hash (field → value), with Valkey's two encodings:
/// <list type="bullet">
/// <item>"listpack" while small: ONE byte array laid out like a <see cref="KeyBlob"/> (header, key) whose
/// value part is the field/value entries (see <see cref="PackedEntries"/>) in insertion order. In the
/// keyspace that array is the key-table item itself, with no object around it: a small hash costs one
/// array per key. <see cref="Database.ObjectAt"/> hands out a HashValue over it (<see cref="OverBlob"/>);
/// after an edit that replaced the array, <see cref="Database.ReplaceObjectAt"/> stores the new one.</item>
/// <item>"hashtable" once it exceeds hash-max-listpack-entries or a string exceeds
/// hash-max-listpack-value: a <see cref="HashTable{T,TKeyOf}"/> of one packed array per pair, and this
/// object is then the key-table item (<see cref="IKeyEmbeddingValue"/>). Like Valkey it never converts back.</item>
/// </list>
/// </summary>
public sealed partial class HashValue : KeyedObject, IDataValue, IKeyEmbeddingValue, IMemberPrefetchSource
{
    // byte[] in the listpack encoding: [KeyBlob header][key][field entry][value entry]...;
    // FieldTable in the hashtable encoding. One reference keeps the object at its minimum size.
    private object _data;

    public Keyspace.IPrefetchable? MemberLookups => (_data as FieldTable)?.Table;

    public HashValue() => _data = NewBlob(default, 0);

    // The keyless empty blob that a reused HashValue starts from; never edited in place (it has no
    // entries) and never stored (EmbedKey copies it).
    private static readonly byte[] EmptyBlob = NewBlob(default, 0);

    [ThreadStatic] private static HashValue? _scratch;

    /// <summary>
    /// An empty hash to build a new key's value in, reused by the calling thread: after it was stored
    /// (its array now belongs to the keyspace) the next call starts it afresh. Creating a key then
    /// allocates only its exactly-sized array; a short-lived object per new key would leave holes
    /// between the arrays that survive, which the GC keeps as fragmentation.
    /// </summary>
    /// <remarks>A scratch hash that became a hashtable is the stored item itself: it is never reused.</remarks>
    public static HashValue Scratch(ReadOnlySpan<byte> key = default)
    {
        var h = _scratch;
        if (h is null || h._data is FieldTable) _scratch = h = new HashValue();
        h._data = key.IsEmpty ? EmptyBlob : NewBlob(key, 0);
        h.IsView = false;
        return h;
    }

    /// <summary>A new empty hash that already holds the key it is about to be stored under.</summary>
    public HashValue(ReadOnlySpan<byte> key) => _data = NewBlob(key, 0);

    private HashValue(byte[] blob)
    {
        _data = blob;
        IsView = true;
    }

    /// <summary>A hash over a packed blob taken from the keyspace (or detached from it).</summary>
    public static HashValue OverBlob(byte[] blob) => new(blob);

    /// <summary>
    /// True for a HashValue made over a keyspace blob: the table holds the blob, not this object, so an
    /// edit is committed with <see cref="Database.ReplaceObjectAt"/> (which stores whatever array or
    /// table the hash holds now) rather than <see cref="Database.ValueEdited"/>.
    /// </summary>
    public bool IsView { get; private set; }

    /// <summary>A packed blob holding <paramref name="key"/> and room for <paramref name="extra"/> bytes of entries.</summary>
    private static byte[] NewBlob(ReadOnlySpan<byte> key, int extra)
    {
        var blob = GC.AllocateUninitializedArray<byte>(PrefixSize(key.Length) + extra);
        WritePrefix(blob, key);
        return blob;
    }

    private static int PrefixSize(int keyLength) => KeyBlob.HeaderSize + PackedEntries.EntrySize(keyLength);

    /// <summary>Writes the blob header (encoding listpack, LRU and flags zero) and the key; returns the bytes written.</summary>
    private static int WritePrefix(Span<byte> dest, ReadOnlySpan<byte> key)
    {
        dest[0] = (byte)ValueEncoding.Listpack;
        dest[1] = dest[2] = dest[3] = 0;
        return KeyBlob.HeaderSize + PackedEntries.WriteEntry(dest.Slice(KeyBlob.HeaderSize), key);
    }

    public DataType Type => DataType.Hash;

    public ValueEncoding Encoding => _data is byte[] ? ValueEncoding.Listpack : ValueEncoding.Hashtable;

    public bool IsPacked => _data is byte[];

    public override long MemoryUsage => _data is byte[] lp
        ? PackedEntries.ArrayBytes(lp.Length)
        : 32 + ((FieldTable)_data).MemoryUsage;

    public override IDataValue Value => this;

    public override ReadOnlySpan<byte> Key => _data is byte[] lp ? KeyBlob.Key(lp) : ((FieldTable)_data).Key;

    object IKeyEmbeddingValue.EmbedKey(ReadOnlySpan<byte> key)
    {
        if (_data is FieldTable t)
        {
            if (!t.Key.AsSpan().SequenceEqual(key)) t.Key = key.ToArray();
            IsView = false;
            return this;
        }
        var lp = (byte[])_data;
        IsView = true;
        if (!ReferenceEquals(lp, EmptyBlob) && KeyBlob.Key(lp).SequenceEqual(key)) return lp;
        int start = EntriesStart(lp);
        var next = GC.AllocateUninitializedArray<byte>(PrefixSize(key.Length) + lp.Length - start);
        int w = WritePrefix(next, key);
        lp.AsSpan(start).CopyTo(next.AsSpan(w));
        _data = next;
        return next;
    }

    /// <summary>Where the field/value entries of a packed blob begin (after header and key).</summary>
    private static int EntriesStart(byte[] lp) => KeyBlob.KeyEnd(lp);

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

    /// <summary>Position of the field entry in a packed blob (of which the first <paramref name="length"/> bytes count), or -1.</summary>
    private static int FindPacked(byte[] lp, ReadOnlySpan<byte> field, int length = -1)
    {
        if (length < 0) length = lp.Length;
        int p = EntriesStart(lp);
        while (p < length)
        {
            var f = PackedEntries.ReadEntry(lp.AsSpan(0, length), p, out int vpos);
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
    /// <remarks>An existing field loses its TTL unless <paramref name="keepTtl"/> (HINCRBY keeps it, HSET does not).</remarks>
    public bool Set(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value, long maxEntries, long maxValue, bool keepTtl = false)
    {
        if (_data is byte[] && (field.Length > maxValue || value.Length > maxValue)) ConvertToTable(0);
        if (_data is FieldTable t) return t.Set(field, value, keepTtl);

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
        var grown = GC.AllocateUninitializedArray<byte>(lp.Length + added);
        lp.CopyTo(grown, 0);
        int w = lp.Length;
        w += PackedEntries.WriteEntry(grown.AsSpan(w), field);
        PackedEntries.WriteEntry(grown.AsSpan(w), value);
        _data = grown;
        if (Count > maxEntries) ConvertToTable(0);
        return true;
    }

    /// <summary>
    /// HSET's many-pairs write: the same result as <see cref="Set"/> pair by pair, but a packed hash
    /// is rebuilt in a scratch buffer and allocated once, exactly sized, not once per pair. Returns the
    /// new fields. <paramref name="key"/>, for a hash that is still empty and keyless, is written as its
    /// key right away so that storing it under that key does not copy the array again.
    /// </summary>
    public int SetPairs(Protocol.CommandArgs args, int first, long maxEntries, long maxValue, ReadOnlySpan<byte> key = default)
    {
        int created = 0;
        if (_data is not byte[] lp || (args.Count - first == 2 && EntriesStart(lp) < lp.Length))
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
        bool rekey = EntriesStart(lp) == lp.Length && KeyBlob.Key(lp).Length == 0 && key.Length > 0;
        long capacity = lp.Length + (rekey ? PrefixSize(key.Length) : 0);
        for (int i = first; i < args.Count; i++) capacity += PackedEntries.EntrySize(args[i].Length);
        var buf = System.Buffers.ArrayPool<byte>.Shared.Rent((int)Math.Min(capacity, Array.MaxLength));
        try
        {
            int len;
            if (rekey)
            {
                len = WritePrefix(buf, key);
                buf[0] = lp[0]; // keep LRU and flags
                buf[1] = lp[1];
                buf[2] = lp[2];
                buf[3] = lp[3];
            }
            else
            {
                lp.CopyTo(buf, 0);
                len = lp.Length;
            }
            for (int i = first; i + 1 < args.Count; i += 2)
            {
                var field = args[i];
                var value = args[i + 1];
                int pos = FindPacked(buf, field, len);
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

    // ----- per-field expiry (HEXPIRE & co.) -----

    /// <summary>True when some field has a TTL (the hash is then in the hashtable encoding, as in Valkey 9).</summary>
    public bool HasVolatileFields => _data is FieldTable { Ttls: not null };

    /// <summary>A lower bound of the earliest field deadline; MaxValue when no field has a TTL.</summary>
    public long NextFieldDeadline => _data is FieldTable t ? t.NextDeadline : long.MaxValue;

    internal FieldTable? Table => _data as FieldTable;

    /// <summary>The field's expire time in unix ms: -1 without a TTL, -2 when the field does not exist.</summary>
    public long FieldExpireTime(ReadOnlySpan<byte> field)
    {
        if (!Contains(field)) return -2;
        return _data is FieldTable t ? t.ExpireOf(field) : -1;
    }

    /// <summary>
    /// HEXPIRE on one field (Valkey 9's hashTypeSetExpire): -2 no such field, 0 the NX/XX/GT/LT condition
    /// failed, 1 set, 2 deleted because <paramref name="whenMs"/> is not after <paramref name="nowMs"/>
    /// (only when <paramref name="pastDeletes"/>; a replica stores the past time and waits for the HDEL).
    /// A field without TTL counts as never expiring for GT and LT. Setting a TTL converts to a hashtable.
    /// </summary>
    public int SetFieldExpire(ReadOnlySpan<byte> field, long whenMs, ExpireCondition condition, long nowMs, bool pastDeletes)
    {
        if (!Contains(field)) return -2;
        long current = _data is FieldTable t ? t.ExpireOf(field) : -1;
        if (condition.Refuses(current, whenMs)) return 0;
        if (pastDeletes && whenMs <= nowMs)
        {
            Delete(field);
            return 2;
        }
        ConvertToTable();
        ((FieldTable)_data).SetExpire(field, whenMs);
        return 1;
    }

    /// <summary>HPERSIST on one field: -2 no such field, -1 it has no TTL, 1 its TTL was removed.</summary>
    public int PersistField(ReadOnlySpan<byte> field)
    {
        if (!Contains(field)) return -2;
        return _data is FieldTable t && t.ClearExpire(field) ? 1 : -1;
    }

    /// <summary>
    /// HSETEX's write of one pair: <paramref name="whenMs"/> &gt;= 0 gives the field that TTL (converting
    /// to a hashtable), -1 leaves it without one unless <paramref name="keepTtl"/> keeps an existing one.
    /// Returns true when the field is new.
    /// </summary>
    public bool SetWithExpire(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value, long whenMs, bool keepTtl, long maxEntries, long maxValue)
    {
        if (whenMs >= 0) ConvertToTable();
        bool created = _data is FieldTable t ? t.Set(field, value, keepTtl) : Set(field, value, maxEntries, maxValue);
        if (whenMs >= 0) ((FieldTable)_data).SetExpire(field, whenMs);
        return created;
    }

    /// <summary>Deletes the fields whose TTL has passed; their names are added to <paramref name="removed"/>.</summary>
    public void RemoveExpiredFields(long nowMs, List<byte[]> removed)
    {
        if (_data is FieldTable t) t.RemoveExpired(nowMs, removed);
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
    public void RandomDistinctPairs(Random random, long count, Action<ReadOnlySpan<byte>, ReadOnlySpan<byte>> emit)
    {
        if (_data is byte[] lp)
        {
            long remaining = Count, needed = count;
            int p = EntriesStart(lp);
            while (needed > 0)
            {
                var f = PackedEntries.ReadEntry(lp, p, out int vpos);
                var v = PackedEntries.ReadEntry(lp, vpos, out p);
                if (RandomPicks.TakeNext(random, remaining, needed))
                {
                    emit(f, v);
                    needed--;
                }
                remaining--;
            }
            return;
        }
        var table = ((FieldTable)_data).Table;
        RandomPicks.DistinctSlots(table, random, count, i => emit(FieldTable.FieldOf(table.ItemAt(i)), FieldTable.ValueOf(table.ItemAt(i))));
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
        if (_data is byte[] lp) copy._data = (byte[])lp.Clone();
        else
        {
            var from = (FieldTable)_data;
            var src = from.Table;
            var table = new FieldTable(src.Count);
            for (int i = 0; i < src.IndexLimit; i++)
                if (src.IsOccupied(i)) table.Set(FieldTable.FieldOf(src.ItemAt(i)), FieldTable.ValueOf(src.ItemAt(i)));
            if (from.Ttls is { } ttls)
                for (int i = 0; i < ttls.IndexLimit; i++)
                    if (ttls.IsOccupied(i)) table.SetExpire(ttls.ItemAt(i).Key, ttls.ItemAt(i).WhenMs);
            copy._data = table;
        }
        return copy;
    }

    /// <summary>
    /// The hashtable encoding: one array per pair, [varint field length][field][value]; fields with
    /// a TTL (HEXPIRE, HSETEX) also have an entry in <see cref="Ttls"/> and in a min-heap of deadlines
    /// that finds the expired ones without a scan. Heap entries are not removed when a TTL changes:
    /// a popped entry counts only while it still matches the field's deadline.
    /// </summary>
    internal sealed class FieldTable
    {
        /// <summary>Field → absolute expire time (unix ms), only for fields that have one; null when none has.</summary>
        public HashTable<ExpireEntry, ExpireKeyOf>? Ttls;

        private PriorityQueue<byte[], long>? _due;

        /// <summary>Heap bytes of the TTL entries.</summary>
        private long _ttlBytes;

        /// <summary>The deadline under which <see cref="VolatileHashes"/> holds this hash (MaxValue: not queued).</summary>
        public long QueuedAt = long.MaxValue;

        /// <summary>A lower bound of the earliest field deadline (MaxValue when no field has a TTL).</summary>
        public long NextDeadline => _due is not null && _due.TryPeek(out _, out long when) ? when : long.MaxValue;

        /// <summary>The field's expire time, -1 without one (the field must exist).</summary>
        public long ExpireOf(ReadOnlySpan<byte> field)
        {
            if (Ttls is null) return -1;
            int i = Ttls.Find(field);
            return i < 0 ? -1 : Ttls.ItemAt(i).WhenMs;
        }

        public void SetExpire(ReadOnlySpan<byte> field, long whenMs)
        {
            Ttls ??= new HashTable<ExpireEntry, ExpireKeyOf>(4);
            _due ??= new PriorityQueue<byte[], long>();
            int hash = KeyHash.Hash(field);
            int i = Ttls.Find(field, hash);
            byte[] name;
            if (i >= 0)
            {
                ref var entry = ref Ttls.ItemAt(i);
                if (entry.WhenMs == whenMs) return;
                entry.WhenMs = whenMs;
                name = entry.Key;
            }
            else
            {
                name = field.ToArray();
                Ttls.Add(new ExpireEntry { Key = name, WhenMs = whenMs }, hash);
                _ttlBytes += PackedEntries.ArrayBytes(name.Length);
            }
            _due.Enqueue(name, whenMs);
            // Superseded deadlines pile up when TTLs change often: rebuild from the live ones.
            if (_due.Count > 2 * Ttls.Count + 16)
            {
                _due.Clear();
                for (int j = 0; j < Ttls.IndexLimit; j++)
                    if (Ttls.IsOccupied(j)) _due.Enqueue(Ttls.ItemAt(j).Key, Ttls.ItemAt(j).WhenMs);
            }
        }

        /// <summary>Removes a field's TTL; false when it had none.</summary>
        public bool ClearExpire(ReadOnlySpan<byte> field)
        {
            if (Ttls is null) return false;
            int i = Ttls.Find(field);
            if (i < 0) return false;
            var entry = Ttls.RemoveAt(i);
            _ttlBytes -= PackedEntries.ArrayBytes(entry.Key.Length);
            if (Ttls.Count == 0)
            {
                Ttls = null;
                _due = null;
                _ttlBytes = 0;
            }
            return true;
        }

        /// <summary>Deletes the fields whose deadline is at or before <paramref name="nowMs"/>, adding their names to <paramref name="removed"/>.</summary>
        public void RemoveExpired(long nowMs, List<byte[]> removed)
        {
            while (_due is not null && _due.TryPeek(out var field, out long when) && when <= nowMs)
            {
                _due.Dequeue();
                if (ExpireOf(field) != when) continue; // superseded or gone
                Delete(field);
                removed.Add(field);
            }
        }

        /// <summary>True when the field has a deadline at or before <paramref name="nowMs"/>.</summary>
        public bool IsExpired(ReadOnlySpan<byte> field, long nowMs)
        {
            long when = ExpireOf(field);
            return when >= 0 && when <= nowMs;
        }

        public readonly HashTable<byte[], PairKeyOf> Table;

        /// <summary>The key of the hash in the keyspace (empty when detached).</summary>
        public byte[] Key = Array.Empty<byte>();

        /// <summary>Heap bytes of all pair arrays.</summary>
        public long PairBytes;

        public FieldTable(int capacity) => Table = new HashTable<byte[], PairKeyOf>(capacity);

        public long MemoryUsage => 40 + 48 + PackedEntries.ArrayBytes(Key.Length) + Table.OverheadBytes + PairBytes +
            (Ttls is null ? 0 : Ttls.OverheadBytes + _ttlBytes + 16L * _due!.Count);

        public readonly struct PairKeyOf : IKeyOf<byte[]>
        {
            public ReadOnlySpan<byte> KeyOf(byte[] item) => FieldOf(item);

            public bool IsEmpty(byte[] item) => item is null;
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

        /// <summary>Sets a field's value; an existing field loses its TTL unless <paramref name="keepTtl"/> (HSET vs HSETEX KEEPTTL).</summary>
        public bool Set(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value, bool keepTtl = false)
        {
            int hash = KeyHash.Hash(field);
            int i = Table.Find(field, hash);
            if (i >= 0)
            {
                if (!keepTtl && Ttls is not null) ClearExpire(field);
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
            if (Ttls is not null) ClearExpire(field);
            return true;
        }
    }
}
