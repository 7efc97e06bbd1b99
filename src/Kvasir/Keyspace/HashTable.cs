using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Kvasir.Keyspace;

/// <summary>Tells a <see cref="HashTable{T,TKeyOf}"/> where the key of an item is.</summary>
public interface IKeyOf<T>
{
    ReadOnlySpan<byte> KeyOf(T item);

    /// <summary>True for the default value, which marks a free slot (live items are never default).</summary>
    bool IsEmpty(T item);
}

/// <summary>
/// A table whose lookups a pipelined batch can start loading ahead (see <see cref="Database.Prefetch"/>):
/// three steps, each issued for every lookup of the batch before the next. Hints only: never a fault.
/// </summary>
public interface IPrefetchable
{
    /// <summary>The bucket a lookup of <paramref name="hash"/> reads first.</summary>
    void PrefetchBucket(int hash);

    /// <summary>The first entry of its chain (the bucket should be in cache by now).</summary>
    void PrefetchEntry(int hash);

    /// <summary>What that entry points to, whose key the lookup compares.</summary>
    void PrefetchItem(int hash);
}

/// <summary>What random picks over a table's slots need (HRANDFIELD, ZRANDMEMBER).</summary>
public interface ISlotTable
{
    int Count { get; }

    /// <summary>Upper bound (exclusive) of slot indexes.</summary>
    int IndexLimit { get; }

    bool IsOccupied(int index);

    /// <summary>A uniformly chosen occupied slot, or -1 when empty.</summary>
    int RandomIndex(Random random);
}

/// <summary>
/// A chained hash table over binary keys, the shape of Valkey's dict: a power-of-two bucket array
/// of chains. Items live in one dense array of small structs (no node object per key, which is what
/// keeps memory per key low in a managed heap); an item's index stays valid until it is removed,
/// so callers may hold it during a command. SCAN uses Valkey's reverse-binary cursor, which visits
/// every item present for the whole scan exactly once or more even when the table grows or shrinks
/// between calls.
/// </summary>
public sealed class HashTable<T, TKeyOf> : ISlotTable, IPrefetchable where TKeyOf : struct, IKeyOf<T>
{
    private struct Entry
    {
        public T Item;
        public int Hash;
        public int Next; // index + 1 of the next entry in the chain (or in the free list); 0 = end
    }

    private int[] _buckets;   // index + 1 of the first entry of each chain; 0 = empty
    private Entry[] _entries;
    private int _count;
    private int _used;        // entries ever handed out (high-water mark in _entries)
    private int _freeList;    // index + 1 of the first free entry; 0 = none
    private readonly TKeyOf _keyOf;

    public HashTable(int capacity = 4, TKeyOf keyOf = default)
    {
        _keyOf = keyOf;
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(4, capacity));
        _buckets = new int[size];
        _entries = new Entry[size];
    }

    public int Count => _count;

    /// <summary>Number of buckets (the cursor space of SCAN).</summary>
    public int BucketCount => _buckets.Length;

    /// <summary>Bytes used by the table's own arrays, for memory accounting.</summary>
    public long OverheadBytes => (long)_buckets.Length * sizeof(int) + (long)_entries.Length * Unsafe.SizeOf<Entry>();

    public ref T ItemAt(int index) => ref _entries[index].Item;

    public int HashAt(int index) => _entries[index].Hash;

    public int Find(ReadOnlySpan<byte> key, int hash)
    {
        var entries = _entries;
        int i = _buckets[hash & (_buckets.Length - 1)] - 1;
        while (i >= 0)
        {
            ref Entry e = ref entries[i];
            if (e.Hash == hash && _keyOf.KeyOf(e.Item).SequenceEqual(key)) return i;
            i = e.Next - 1;
        }
        return -1;
    }

    public int Find(ReadOnlySpan<byte> key) => Find(key, KeyHash.Hash(key));

    // ----- prefetching (see Database.Prefetch): hints only, never a fault, whatever the table holds -----

    /// <summary>Asks the CPU to start loading the bucket a lookup of <paramref name="hash"/> reads first.</summary>
    public unsafe void PrefetchBucket(int hash)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref _buckets[hash & (_buckets.Length - 1)]));
    }

    /// <summary>The second step: the first entry of the chain (its bucket should be in cache by now).</summary>
    public unsafe void PrefetchEntry(int hash)
    {
        if (!Sse.IsSupported) return;
        int i = ChainHead(hash);
        if (i >= 0) Sse.Prefetch0(Unsafe.AsPointer(ref _entries[i]));
    }

    /// <summary>The third step for tables of references (a hash's fields): the object the first entry of the
    /// chain refers to. The address may be stale by the time the CPU acts on it (the GC moves objects).</summary>
    public unsafe void PrefetchItem(int hash)
    {
        if (!Sse.IsSupported || typeof(T).IsValueType) return;
        int i = ChainHead(hash);
        if (i < 0) return;
        nint address = Unsafe.As<T, nint>(ref _entries[i].Item);
        if (address != 0) Sse.Prefetch0((void*)address);
    }

    /// <summary>The first entry of the chain <paramref name="hash"/> falls in (-1 when empty): what a third
    /// prefetch step loads the item of (its bucket and entry should be in cache by now).</summary>
    public int ChainHead(int hash) => _buckets[hash & (_buckets.Length - 1)] - 1;

    /// <summary>Adds an item whose key is known not to be present. Returns its index.</summary>
    public int Add(T item, int hash)
    {
        if (_count >= _buckets.Length) Resize(_buckets.Length * 2);
        int index;
        if (_freeList != 0)
        {
            index = _freeList - 1;
            _freeList = _entries[index].Next;
        }
        else
        {
            if (_used == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
            index = _used++;
        }
        ref Entry e = ref _entries[index];
        e.Item = item;
        e.Hash = hash;
        int b = hash & (_buckets.Length - 1);
        e.Next = _buckets[b];
        _buckets[b] = index + 1;
        _count++;
        return index;
    }

    /// <summary>
    /// Makes room for <paramref name="count"/> items in all (a loader that knows how many keys follow),
    /// so the table is not rehashed again and again while it fills.
    /// </summary>
    public void EnsureCapacity(int count)
    {
        if (count <= _buckets.Length) return;
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)count);
        if (_entries.Length < size) Array.Resize(ref _entries, size);
        Resize(size);
    }

    /// <summary>Removes the item at <paramref name="index"/> and returns it.</summary>
    public T RemoveAt(int index)
    {
        ref Entry e = ref _entries[index];
        int b = e.Hash & (_buckets.Length - 1);
        int cur = _buckets[b];
        if (cur == index + 1)
        {
            _buckets[b] = e.Next;
        }
        else
        {
            while (cur != 0)
            {
                ref Entry p = ref _entries[cur - 1];
                if (p.Next == index + 1)
                {
                    p.Next = e.Next;
                    break;
                }
                cur = p.Next;
            }
        }
        T item = e.Item;
        e.Item = default!;
        e.Hash = 0;
        e.Next = _freeList;
        _freeList = index + 1;
        _count--;
        MaybeShrink();
        return item;
    }

    private void MaybeShrink()
    {
        // Shrink when less than 1/8 full, like Valkey, but never below the initial size.
        if (_buckets.Length > 64 && _count * 8 < _buckets.Length) Resize(_buckets.Length / 2);
    }

    /// <summary>Rehashes into <paramref name="size"/> buckets. Entries keep their indexes.</summary>
    private void Resize(int size)
    {
        var buckets = new int[size];
        var entries = _entries;
        int mask = size - 1;
        for (int i = 0; i < _used; i++)
        {
            ref Entry e = ref entries[i];
            if (IsFreeSlot(i)) continue;
            int b = e.Hash & mask;
            e.Next = buckets[b];
            buckets[b] = i + 1;
        }
        _buckets = buckets;
        if (size < entries.Length / 2 && _used <= size) Array.Resize(ref _entries, Math.Max(size, _used));
    }

    // Free slots hold the default item (every live item is non-default), so they are told apart
    // without a separate bitmap.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsFreeSlot(int i) => _keyOf.IsEmpty(_entries[i].Item);

    public void Clear()
    {
        _buckets = new int[4];
        _entries = new Entry[4];
        _count = 0;
        _used = 0;
        _freeList = 0;
    }

    /// <summary>
    /// Visits the bucket at <paramref name="cursor"/> and returns the next cursor (0 when done), with
    /// Valkey's reverse-binary increment.
    /// </summary>
    public ulong ScanBucket(ulong cursor, Action<int> visit)
    {
        if (_count == 0) return 0;
        ulong mask = (ulong)_buckets.Length - 1;
        int i = _buckets[(int)(cursor & mask)] - 1;
        while (i >= 0)
        {
            int next = _entries[i].Next - 1;
            visit(i);
            i = next;
        }
        return ScanCursor.Next(cursor, mask);
    }

    /// <summary>Collects the indexes in the bucket at <paramref name="cursor"/> into <paramref name="into"/>; returns the next cursor.</summary>
    public ulong ScanBucket(ulong cursor, List<int> into)
    {
        if (_count == 0) return 0;
        ulong mask = (ulong)_buckets.Length - 1;
        int i = _buckets[(int)(cursor & mask)] - 1;
        while (i >= 0)
        {
            into.Add(i);
            i = _entries[i].Next - 1;
        }
        return ScanCursor.Next(cursor, mask);
    }

    /// <summary>A uniformly chosen live index, or -1 when empty.</summary>
    public int RandomIndex(Random random)
    {
        if (_count == 0) return -1;
        // Dense tables: probe random slots. Sparse ones (after mass deletes): walk from a random bucket.
        if (_count * 4 >= _used)
        {
            for (int attempt = 0; attempt < 64; attempt++)
            {
                int i = random.Next(_used);
                if (!IsFreeSlot(i)) return i;
            }
        }
        int mask = _buckets.Length - 1;
        int start = random.Next(_buckets.Length);
        for (int n = 0; n <= mask; n++)
        {
            int head = _buckets[(start + n) & mask];
            if (head == 0) continue;
            // Pick uniformly inside the chain.
            int len = 0;
            for (int i = head - 1; i >= 0; i = _entries[i].Next - 1) len++;
            int pick = random.Next(len);
            int j = head - 1;
            while (pick-- > 0) j = _entries[j].Next - 1;
            return j;
        }
        return -1;
    }

    /// <summary>Live indexes in storage order (for full iteration such as KEYS, FLUSH accounting, persistence).</summary>
    public IEnumerable<int> Indexes()
    {
        for (int i = 0; i < _used; i++)
            if (!IsFreeSlot(i)) yield return i;
    }

    /// <summary>Upper bound (exclusive) of indexes, for allocation-free loops with <see cref="IsOccupied"/>.</summary>
    public int IndexLimit => _used;

    public bool IsOccupied(int index) => !IsFreeSlot(index);
}
