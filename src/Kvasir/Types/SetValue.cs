using Kvasir.Keyspace;

namespace Kvasir.Types;

/// <summary>The set encoding thresholds in effect (set-max-intset-entries, set-max-listpack-entries/-value).</summary>
public readonly record struct SetLimits(long MaxIntsetEntries, long MaxListpackEntries, long MaxListpackValue)
{
    public static readonly SetLimits Default = new(512, 128, 64);

    /// <summary>An intset never holds more than 2^30 entries, whatever the config says (as in Valkey).</summary>
    public long IntsetMax => Math.Min(MaxIntsetEntries, 1L << 30);
}

/// <summary>
/// A set value with Valkey's three encodings and its conversion rules (t_set.c):
/// <list type="bullet">
/// <item><b>intset</b>: only integers, up to set-max-intset-entries, kept sorted;</item>
/// <item><b>listpack</b>: small sets with other members (up to set-max-listpack-entries members of at
/// most set-max-listpack-value bytes), in insertion order;</item>
/// <item><b>hashtable</b>: anything bigger (a <see cref="MemberTable"/>: members in shared slabs).</item>
/// </list>
/// Adding a non-integer to an intset moves it to listpack when the result fits, else to hashtable;
/// sets never go back to a smaller encoding by removals (as in Valkey). Random members are drawn
/// uniformly in every encoding (the hash table keeps its slot array dense enough to sample slots).
/// </summary>
public sealed partial class SetValue : IDataValue, IDebugInspectable, IMemberPrefetchSource
{
    private ValueEncoding _encoding;
    private IntSet? _ints;
    private PackedNode _packed;
    private MemberTable? _table;

    public Keyspace.IPrefetchable? MemberLookups => _table;

    private SetValue(ValueEncoding encoding) => _encoding = encoding;

    public static SetValue NewIntset() => new(ValueEncoding.Intset) { _ints = new IntSet() };

    public static SetValue NewListpack() => new(ValueEncoding.Listpack) { _packed = PackedNode.Create() };

    public static SetValue NewHashtable(long capacity) =>
        new(ValueEncoding.Hashtable) { _table = new MemberTable((int)Math.Min(capacity, 1 << 30)) };

    /// <summary>A new empty set able to hold <paramref name="first"/>, sized for about
    /// <paramref name="sizeHint"/> members (setTypeCreate).</summary>
    public static SetValue Create(ReadOnlySpan<byte> first, long sizeHint, in SetLimits limits)
    {
        if (Listpack.TryAsInteger(first, out _) && sizeHint <= limits.MaxIntsetEntries) return NewIntset();
        if (sizeHint <= limits.MaxListpackEntries) return NewListpack();
        return NewHashtable(sizeHint);
    }

    public DataType Type => DataType.Set;

    public ValueEncoding Encoding => _encoding;

    public long Count => _encoding switch
    {
        ValueEncoding.Intset => _ints!.Count,
        ValueEncoding.Listpack => _packed.Count,
        _ => _table!.Count,
    };

    public long MemoryUsage => 48 + _encoding switch
    {
        ValueEncoding.Intset => _ints!.MemoryUsage,
        ValueEncoding.Listpack => 24 + _packed.Capacity,
        _ => 48 + _table!.MemoryBytes,
    };

    // ----- conversions -----

    /// <summary>Before adding about <paramref name="sizeHint"/> members at once: go straight to a hash
    /// table when they could not fit the compact encoding (setTypeMaybeConvert).</summary>
    public void ConvertForHint(long sizeHint, in SetLimits limits)
    {
        if ((_encoding == ValueEncoding.Listpack && sizeHint > limits.MaxListpackEntries) ||
            (_encoding == ValueEncoding.Intset && sizeHint > limits.MaxIntsetEntries))
            ConvertToHashtable(sizeHint);
    }

    public void ConvertToHashtable(long capacity)
    {
        if (_encoding == ValueEncoding.Hashtable) return;
        var table = new MemberTable((int)Math.Clamp(capacity, Count, 1 << 30));
        Span<byte> scratch = stackalloc byte[24];
        var e = GetEnumerator();
        while (e.MoveNext())
        {
            var member = e.Current.AsSpan(scratch);
            table.Add(member, KeyHash.Hash(member));
        }
        _ints = null;
        _packed = default;
        _table = table;
        _encoding = ValueEncoding.Hashtable;
    }

    private void ConvertIntsetToListpack()
    {
        var node = PackedNode.Create();
        var ints = _ints!;
        for (int i = 0; i < ints.Count; i++) node.PushTailInteger(ints.Get(i));
        _ints = null;
        _packed = node;
        _encoding = ValueEncoding.Listpack;
    }

    /// <summary>When every member is an integer and there are few enough, switch to intset
    /// (SINTERSTORE's result of integers).</summary>
    public void ConvertToIntsetIfPossible(in SetLimits limits)
    {
        if (_encoding == ValueEncoding.Intset || Count > limits.IntsetMax) return;
        var ints = new IntSet();
        var e = GetEnumerator();
        while (e.MoveNext())
        {
            var v = e.Current;
            long n;
            if (v.IsInteger) n = v.Integer;
            else if (!Listpack.TryAsInteger(v.Span, out n)) return;
            ints.Add(n);
        }
        _packed = default;
        _table = null;
        _ints = ints;
        _encoding = ValueEncoding.Intset;
    }

    // ----- membership -----

    public bool Contains(ReadOnlySpan<byte> member)
    {
        switch (_encoding)
        {
            case ValueEncoding.Intset:
                return Listpack.TryAsInteger(member, out long v) && _ints!.Contains(v);
            case ValueEncoding.Listpack:
                return _packed.Find(new PackedKey(member), _packed.First) >= 0;
            default:
                return _table!.Find(member) >= 0;
        }
    }

    public bool Contains(in PackedValue member)
    {
        if (!member.IsInteger) return Contains(member.Span);
        switch (_encoding)
        {
            case ValueEncoding.Intset:
                return _ints!.Contains(member.Integer);
            case ValueEncoding.Listpack:
                return _packed.Find(new PackedKey(member.Integer), _packed.First) >= 0;
            default:
                Span<byte> scratch = stackalloc byte[24];
                return _table!.Find(member.AsSpan(scratch)) >= 0;
        }
    }

    /// <summary>Adds a member; false when it was already there. May change the encoding.</summary>
    public bool Add(ReadOnlySpan<byte> member, in SetLimits limits)
    {
        switch (_encoding)
        {
            case ValueEncoding.Hashtable:
                return AddToTable(member);
            case ValueEncoding.Listpack:
            {
                if (_packed.Find(new PackedKey(member), _packed.First) >= 0) return false;
                if (_packed.Count < limits.MaxListpackEntries && member.Length <= limits.MaxListpackValue &&
                    SafeToPack(_packed.ListpackBytes, member.Length))
                {
                    _packed.PushTail(member);
                    return true;
                }
                ConvertToHashtable(_packed.Count + 1);
                return AddToTable(member);
            }
            default:
            {
                if (Listpack.TryAsInteger(member, out long v)) return AddToIntset(v, limits);
                // A non-integer: listpack if the whole set would fit one, else a hash table.
                var ints = _ints!;
                int n = ints.Count;
                int widest = n == 0 ? 0 : Math.Max(Listpack.Digits10(ints.Max), Listpack.Digits10(ints.Min));
                long packedEstimate = n == 0 ? 0 : (long)n * Math.Max(Listpack.IntegerEntrySize(ints.Max), Listpack.IntegerEntrySize(ints.Min));
                if (n < limits.MaxListpackEntries && member.Length <= limits.MaxListpackValue && widest <= limits.MaxListpackValue &&
                    SafeToPack(packedEstimate, member.Length))
                {
                    ConvertIntsetToListpack();
                    _packed.PushTail(member);
                }
                else
                {
                    ConvertToHashtable(n + 1);
                    AddToTable(member);
                }
                return true;
            }
        }
    }

    public bool Add(in PackedValue member, in SetLimits limits)
    {
        if (!member.IsInteger) return Add(member.Span, limits);
        if (_encoding == ValueEncoding.Intset) return AddToIntset(member.Integer, limits);
        Span<byte> scratch = stackalloc byte[24];
        return Add(member.AsSpan(scratch), limits);
    }

    /// <summary>Listpacks stay under 1 GB whatever the thresholds say (Valkey's lpSafeToAdd).</summary>
    private static bool SafeToPack(long currentBytes, long adding) => currentBytes + adding <= 1L << 30;

    private bool AddToIntset(long v, in SetLimits limits)
    {
        if (!_ints!.Add(v)) return false;
        if (_ints.Count > limits.IntsetMax) ConvertToHashtable(_ints.Count);
        return true;
    }

    private bool AddToTable(ReadOnlySpan<byte> member)
    {
        int hash = KeyHash.Hash(member);
        if (_table!.Find(member, hash) >= 0) return false;
        _table.Add(member, hash);
        return true;
    }

    /// <summary>Removes a member; false when it was not there.</summary>
    public bool Remove(ReadOnlySpan<byte> member)
    {
        switch (_encoding)
        {
            case ValueEncoding.Intset:
                return Listpack.TryAsInteger(member, out long v) && _ints!.Remove(v);
            case ValueEncoding.Listpack:
            {
                int pos = _packed.Find(new PackedKey(member), _packed.First);
                if (pos < 0) return false;
                _packed.DeleteAt(pos);
                return true;
            }
            default:
            {
                int i = _table!.Find(member);
                if (i < 0) return false;
                _table.RemoveAt(i);
                CompactIfSparse();
                return true;
            }
        }
    }

    public bool Remove(in PackedValue member)
    {
        if (!member.IsInteger) return Remove(member.Span);
        if (_encoding == ValueEncoding.Intset) return _ints!.Remove(member.Integer);
        Span<byte> scratch = stackalloc byte[24];
        return Remove(member.AsSpan(scratch));
    }

    // ----- iteration -----

    public Enumerator GetEnumerator() => new(this);

    /// <summary>Visits members in storage order: ascending for intsets, insertion order for listpacks.
    /// The set must not change while enumerating.</summary>
    public struct Enumerator
    {
        private readonly SetValue _set;
        private int _i;

        internal Enumerator(SetValue set)
        {
            _set = set;
            _i = set._encoding == ValueEncoding.Listpack ? set._packed.First : 0;
            Current = default;
        }

        public PackedValue Current { get; private set; }

        public bool MoveNext()
        {
            var s = _set;
            switch (s._encoding)
            {
                case ValueEncoding.Intset:
                    if (_i >= s._ints!.Count) return false;
                    Current = new PackedValue(s._ints.Get(_i++));
                    return true;
                case ValueEncoding.Listpack:
                    if (_i >= s._packed.Tail) return false;
                    Current = s._packed.Read(_i);
                    _i = s._packed.Next(_i);
                    return true;
                default:
                    var table = s._table!;
                    int limit = table.IndexLimit;
                    while (_i < limit)
                    {
                        int i = _i++;
                        if (!table.IsOccupied(i)) continue;
                        Current = table.MemberAt(i);
                        return true;
                    }
                    return false;
            }
        }
    }

    // ----- slots: positions of members for sampling -----
    //
    // A slot names one member until the set changes: the index in an intset, the byte position in a
    // listpack, the entry index in the hash table.

    /// <summary>All slots, in storage order.</summary>
    public void CollectSlots(List<int> into)
    {
        switch (_encoding)
        {
            case ValueEncoding.Intset:
                for (int i = 0; i < _ints!.Count; i++) into.Add(i);
                break;
            case ValueEncoding.Listpack:
                for (int p = _packed.First; p < _packed.Tail; p = _packed.Next(p)) into.Add(p);
                break;
            default:
                var table = _table!;
                for (int i = 0; i < table.IndexLimit; i++)
                    if (table.IsOccupied(i)) into.Add(i);
                break;
        }
    }

    public PackedValue ElementAt(int slot)
    {
        switch (_encoding)
        {
            case ValueEncoding.Intset:
                return new PackedValue(_ints!.Get(slot));
            case ValueEncoding.Listpack:
                return _packed.Read(slot);
            default:
                return _table!.MemberAt(slot);
        }
    }

    /// <summary>A uniformly chosen slot of an intset or hash table set (listpacks: use <see cref="RandomElement"/>
    /// or <see cref="CollectSlots"/>). The set must not be empty.</summary>
    public int RandomSlot(Random random)
    {
        if (_encoding == ValueEncoding.Intset) return random.Next(_ints!.Count);
        if (_encoding == ValueEncoding.Listpack) return _packed.Seek(random.Next(_packed.Count));
        var table = _table!;
        // Sampling entry slots is uniform; keep the slot array at least a quarter full so it stays cheap.
        if ((long)table.Count * 4 < table.IndexLimit) Compact();
        table = _table!;
        while (true)
        {
            int i = random.Next(table.IndexLimit);
            if (table.IsOccupied(i)) return i;
        }
    }

    public PackedValue RandomElement(Random random) => ElementAt(RandomSlot(random));

    /// <summary>After removals: give the memory of a mostly empty slot array back (amortised, like a dict shrink).</summary>
    private void CompactIfSparse()
    {
        var table = _table!;
        if (table.IndexLimit > 64 && (long)table.Count * 4 < table.IndexLimit) Compact();
    }

    /// <summary>Rebuilds the hash table so its entries are contiguous again (after many removals).</summary>
    private void Compact() => _table = _table!.Compacted();

    /// <summary>Removes and returns a uniformly chosen member.</summary>
    public byte[] PopRandom(Random random)
    {
        int slot = RandomSlot(random);
        var value = ElementAt(slot);
        var bytes = value.ToArray();
        switch (_encoding)
        {
            case ValueEncoding.Intset:
                _ints!.Remove(value.Integer);
                break;
            case ValueEncoding.Listpack:
                _packed.DeleteAt(slot);
                break;
            default:
                _table!.RemoveAt(slot);
                CompactIfSparse();
                break;
        }
        return bytes;
    }

    /// <summary>Removes the listpack entries at the given byte positions (ascending).</summary>
    public void RemoveListpackSlots(List<int> ascendingPositions)
    {
        // One pass copying the survivors: cheaper than one delete per position, each moving the rest.
        var node = PackedNode.Create();
        int k = 0;
        for (int p = _packed.First; p < _packed.Tail; p = _packed.Next(p))
        {
            if (k < ascendingPositions.Count && ascendingPositions[k] == p)
            {
                k++;
                continue;
            }
            var v = _packed.Read(p);
            if (v.IsInteger) node.PushTailInteger(v.Integer);
            else node.PushTail(v.Span);
        }
        _packed = node;
    }

    /// <summary>One SSCAN step over a hash table set: adds the slots of one bucket and returns the next cursor.</summary>
    public ulong ScanStep(ulong cursor, List<int> slots) => _table!.ScanBucket(cursor, slots);

    /// <summary>Replaces this set's content with <paramref name="other"/>'s (SPOP keeping the few remaining members).</summary>
    public void TakeContentOf(SetValue other)
    {
        _encoding = other._encoding;
        _ints = other._ints;
        _packed = other._packed;
        _table = other._table;
    }

    /// <summary>As RDB saves a set: an intset or listpack blob, or the count and each member.</summary>
    public long SerializedLength
    {
        get
        {
            switch (_encoding)
            {
                case ValueEncoding.Intset:
                    return SerializedSize.Blob(8 + (long)_ints!.Count * _ints.Width);
                case ValueEncoding.Listpack:
                    return SerializedSize.Blob(_packed.ListpackBytes);
                default:
                    long size = SerializedSize.Length(_table!.Count);
                    foreach (var m in this) size += SerializedSize.String(m.Span);
                    return size;
            }
        }
    }

    public string DebugDetails(bool fast) => "";

    /// <summary>COPY: a deep copy with the same encoding.</summary>
    public IDataValue? Duplicate() => Clone();

    public SetValue Clone()
    {
        var copy = new SetValue(_encoding);
        switch (_encoding)
        {
            case ValueEncoding.Intset:
                copy._ints = _ints!.Clone();
                break;
            case ValueEncoding.Listpack:
                copy._packed = _packed.Clone();
                break;
            default:
                copy._table = _table!.Compacted();
                break;
        }
        return copy;
    }

    /// <summary>The packed body of a listpack-encoded set (for persistence).</summary>
    public ref readonly PackedNode ListpackBody => ref _packed;

    /// <summary>The intset of an intset-encoded set (for persistence).</summary>
    public IntSet? Ints => _ints;
}
