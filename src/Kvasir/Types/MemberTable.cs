using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Kvasir.Keyspace;

namespace Kvasir.Types;

/// <summary>
/// The "hashtable" encoding of a set: a chained hash table of byte strings whose bytes live in shared
/// slabs instead of one array per member. A member costs a 12-byte entry, its share of the 4-byte
/// bucket array and its bytes behind a one-byte length (1M members of ~14 bytes: ~31 bytes each, as
/// Valkey 8's hashtable, where an array per member cost ~60); and a set of a million members is a few
/// hundred objects for the garbage collector to trace, not a million. An entry keeps 16 bits of its
/// member's hash beside the offset (a slab offset needs only 16), so a lookup reads a member's bytes
/// only when those match; the full hash is computed again when the table is resized.
/// <para>
/// Entries sit in pages of 4096 (48 KB each), so the table grows by adding pages: doubling one array
/// left each replaced array (8, 4, 2... MB for a million members) on the large object heap, whose
/// memory the runtime kept after collecting it (RSS 17 MB above the data after loading 1M members).
/// Slabs are 64 KB arrays filled in order (below the large-object threshold); a member longer than
/// <see cref="LargeMember"/> bytes gets an array of its own, dropped with it. Removing a small member
/// leaves its bytes dead in their slab; when the dead bytes outweigh the live ones the small members are
/// copied into fresh slabs (amortised O(1) per removal). Entry indexes are stable until their member
/// is removed, and SCAN walks buckets with Valkey's reverse-binary cursor, as <see cref="HashTable{T,TKeyOf}"/>.
/// </para>
/// </summary>
public sealed class MemberTable : ISlotTable, IPrefetchable
{
    private struct Entry
    {
        public int Slab;   // slab index + 1; 0 = a free entry
        public int Word;   // high 16 bits: the hash's high 16 bits; low 16: where the member's length prefix starts in its slab
        public int Next;   // index + 1 of the next entry in the chain (or in the free list); 0 = end

        public readonly int Offset => Word & 0xFFFF;
    }

    private static int Tag(int hash) => hash & unchecked((int)0xFFFF0000);

    /// <summary>Size of a shared slab: below the large object heap's 85,000 bytes.</summary>
    public const int SlabBytes = 64 * 1024;

    /// <summary>Members longer than this get an array of their own.</summary>
    public const int LargeMember = 1024;

    private const int PageShift = 12;
    private const int PageSize = 1 << PageShift;
    private const int PageMask = PageSize - 1;

    private int[] _buckets;
    private Entry[][] _pages;
    private int _capacity;       // entries in all pages
    private int _count;
    private int _used;
    private int _freeList;

    private byte[]?[] _slabs = new byte[]?[4];
    private int _slabCount;
    private int _freeSlabs;      // index + 1 of a reusable slab index (chained through _slabNext); 0 = none
    private int[] _slabNext = new int[4];
    private int _current = -1;   // the shared slab being filled
    private int _tail;           // its first free byte
    private long _slabBytes;     // bytes of all slab arrays (memory accounting)
    private long _liveBytes, _deadBytes; // record bytes of small members, present and removed

    public MemberTable(int capacity = 4)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(4, capacity));
        _buckets = new int[size];
        _pages = new Entry[(size + PageSize - 1) >> PageShift][];
        // A small table's single page is only as big as asked; pages are full-size past the first.
        if (size < PageSize) _pages[0] = new Entry[size];
        else for (int p = 0; p < _pages.Length; p++) _pages[p] = new Entry[PageSize];
        _capacity = size;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry At(int index) => ref _pages[index >> PageShift][index & PageMask];

    /// <summary>Room for one more entry: the small first page doubles up to a full page, then pages are added.</summary>
    private void GrowEntries()
    {
        if (_capacity < PageSize)
        {
            Array.Resize(ref _pages[0], Math.Min(PageSize, _capacity * 2));
            _capacity = _pages[0].Length;
            return;
        }
        int page = _capacity >> PageShift;
        if (page == _pages.Length) Array.Resize(ref _pages, _pages.Length * 2);
        _pages[page] = new Entry[PageSize];
        _capacity += PageSize;
    }

    public int Count => _count;

    public int BucketCount => _buckets.Length;

    /// <summary>Upper bound (exclusive) of entry indexes, for loops with <see cref="IsOccupied"/>.</summary>
    public int IndexLimit => _used;

    public bool IsOccupied(int index) => At(index).Slab != 0;

    /// <summary>Bytes of the table's arrays and slabs (MEMORY USAGE, used_memory).</summary>
    public long MemoryBytes =>
        (long)_buckets.Length * sizeof(int) + (long)_capacity * Unsafe.SizeOf<Entry>() + (long)_pages.Length * 8 +
        _slabBytes + (long)_slabs.Length * 12 + 72;

    public PackedValue MemberAt(int index)
    {
        ref Entry e = ref At(index);
        var slab = _slabs[e.Slab - 1]!;
        int length = ReadLength(slab, e.Offset, out int start);
        return new PackedValue(slab, start, length);
    }

    // ----- prefetching (Keyspace.IPrefetchable): hints only, never a fault -----

    public unsafe void PrefetchBucket(int hash)
    {
        if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref _buckets[hash & (_buckets.Length - 1)]));
    }

    public unsafe void PrefetchEntry(int hash)
    {
        if (!Sse.IsSupported) return;
        int i = ChainHead(hash);
        if (i >= 0) Sse.Prefetch0(Unsafe.AsPointer(ref At(i)));
    }

    /// <summary>The member bytes the first entry of the chain points to, in their slab.</summary>
    public unsafe void PrefetchItem(int hash)
    {
        if (!Sse.IsSupported) return;
        int i = ChainHead(hash);
        if (i < 0) return;
        ref Entry e = ref At(i);
        if ((uint)(e.Slab - 1) >= (uint)_slabs.Length || _slabs[e.Slab - 1] is not { } slab || (uint)e.Offset >= (uint)slab.Length) return;
        Sse.Prefetch0(Unsafe.AsPointer(ref slab[e.Offset]));
    }

    private int ChainHead(int hash) => _buckets[hash & (_buckets.Length - 1)] - 1;

    public int Find(ReadOnlySpan<byte> member) => Find(member, KeyHash.Hash(member));

    public int Find(ReadOnlySpan<byte> member, int hash)
    {
        var pages = _pages;
        var slabs = _slabs;
        int tag = Tag(hash);
        int i = _buckets[hash & (_buckets.Length - 1)] - 1;
        while (i >= 0)
        {
            ref Entry e = ref pages[i >> PageShift][i & PageMask];
            if ((e.Word & unchecked((int)0xFFFF0000)) == tag)
            {
                var slab = slabs[e.Slab - 1]!;
                int length = ReadLength(slab, e.Offset, out int start);
                if (length == member.Length && slab.AsSpan(start, length).SequenceEqual(member)) return i;
            }
            i = e.Next - 1;
        }
        return -1;
    }

    /// <summary>Adds a member known not to be present (its bytes are copied). Returns its index.</summary>
    public int Add(ReadOnlySpan<byte> member, int hash)
    {
        if (_count >= _buckets.Length) Rehash(_buckets.Length * 2);
        int index;
        if (_freeList != 0)
        {
            index = _freeList - 1;
            _freeList = At(index).Next;
        }
        else
        {
            if (_used == _capacity) GrowEntries();
            index = _used++;
        }
        ref Entry e = ref At(index);
        Store(member, out e.Slab, out int offset);
        e.Word = Tag(hash) | offset;
        int b = hash & (_buckets.Length - 1);
        e.Next = _buckets[b];
        _buckets[b] = index + 1;
        _count++;
        return index;
    }

    /// <summary>Removes the member at <paramref name="index"/> (which must be live).</summary>
    public void RemoveAt(int index)
    {
        int b = KeyHash.Hash(MemberAt(index).Span) & (_buckets.Length - 1);
        ref Entry e = ref At(index);
        int cur = _buckets[b];
        if (cur == index + 1)
        {
            _buckets[b] = e.Next;
        }
        else
        {
            while (cur != 0)
            {
                ref Entry p = ref At(cur - 1);
                if (p.Next == index + 1)
                {
                    p.Next = e.Next;
                    break;
                }
                cur = p.Next;
            }
        }
        Release(e.Slab - 1, e.Offset);
        e.Slab = 0;
        e.Word = 0;
        e.Next = _freeList;
        _freeList = index + 1;
        _count--;
        if (_buckets.Length > 64 && _count * 8 < _buckets.Length) Rehash(_buckets.Length / 2);
        if (_deadBytes > SlabBytes && _deadBytes > _liveBytes) RepackSlabs();
    }

    // ----- slabs -----

    private static int RecordSize(int length) => VarintSize(length) + length;

    private static int VarintSize(int v) => v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int ReadLength(byte[] slab, int offset, out int start)
    {
        int b = slab[offset];
        if (b < 0x80)
        {
            start = offset + 1;
            return b;
        }
        int v = b & 0x7F, shift = 7, p = offset + 1;
        while (true)
        {
            b = slab[p++];
            v |= (b & 0x7F) << shift;
            if (b < 0x80) break;
            shift += 7;
        }
        start = p;
        return v;
    }

    private static int WriteRecord(byte[] slab, int offset, ReadOnlySpan<byte> member)
    {
        uint v = (uint)member.Length;
        while (v >= 0x80)
        {
            slab[offset++] = (byte)(v | 0x80);
            v >>= 7;
        }
        slab[offset++] = (byte)v;
        member.CopyTo(slab.AsSpan(offset));
        return offset + member.Length;
    }

    private void Store(ReadOnlySpan<byte> member, out int slabIndexPlusOne, out int offset)
    {
        int size = RecordSize(member.Length);
        if (member.Length > LargeMember)
        {
            var own = GC.AllocateUninitializedArray<byte>(size);
            WriteRecord(own, 0, member);
            slabIndexPlusOne = NewSlab(own) + 1;
            offset = 0;
            return;
        }
        if (_current < 0 || SlabBytes - _tail < size)
        {
            _current = NewSlab(GC.AllocateUninitializedArray<byte>(SlabBytes));
            _tail = 0;
        }
        offset = _tail;
        _tail = WriteRecord(_slabs[_current]!, _tail, member);
        _liveBytes += size;
        slabIndexPlusOne = _current + 1;
    }

    private int NewSlab(byte[] array)
    {
        int i;
        if (_freeSlabs != 0)
        {
            i = _freeSlabs - 1;
            _freeSlabs = _slabNext[i];
        }
        else
        {
            if (_slabCount == _slabs.Length)
            {
                Array.Resize(ref _slabs, _slabs.Length * 2);
                Array.Resize(ref _slabNext, _slabs.Length);
            }
            i = _slabCount++;
        }
        _slabs[i] = array;
        _slabBytes += array.Length;
        return i;
    }

    private void Release(int slab, int offset)
    {
        var array = _slabs[slab]!;
        int length = ReadLength(array, offset, out _);
        if (length > LargeMember)
        {
            _slabs[slab] = null;
            _slabBytes -= array.Length;
            _slabNext[slab] = _freeSlabs;
            _freeSlabs = slab + 1;
            return;
        }
        int size = RecordSize(length);
        _liveBytes -= size;
        _deadBytes += size;
    }

    /// <summary>Copies the small members into fresh slabs, leaving the dead bytes behind.</summary>
    private void RepackSlabs()
    {
        var old = _slabs;
        int oldCount = _slabCount;
        _slabs = new byte[]?[Math.Max(4, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, oldCount)))];
        _slabNext = new int[_slabs.Length];
        _slabCount = 0;
        _freeSlabs = 0;
        _current = -1;
        _tail = 0;
        _slabBytes = 0;
        _liveBytes = 0;
        _deadBytes = 0;
        for (int i = 0; i < _used; i++)
        {
            ref Entry e = ref At(i);
            if (e.Slab == 0) continue;
            var slab = old[e.Slab - 1]!;
            int length = ReadLength(slab, e.Offset, out int start);
            if (length > LargeMember)
            {
                e.Slab = NewSlab(slab) + 1;
                continue;
            }
            Store(slab.AsSpan(start, length), out e.Slab, out int offset);
            e.Word = (e.Word & unchecked((int)0xFFFF0000)) | offset;
        }
    }

    // ----- table -----

    private void Rehash(int size)
    {
        var buckets = new int[size];
        int mask = size - 1;
        for (int i = 0; i < _used; i++)
        {
            ref Entry e = ref At(i);
            if (e.Slab == 0) continue;
            int b = KeyHash.Hash(MemberAt(i).Span) & mask;
            e.Next = buckets[b];
            buckets[b] = i + 1;
        }
        _buckets = buckets;
        // Pages past the last entry ever used go (entries below _used keep their indexes).
        int keep = Math.Max(1, (_used + PageSize - 1) >> PageShift);
        if (_capacity >= PageSize && keep < _capacity >> PageShift)
        {
            for (int p = keep; p < _pages.Length; p++) _pages[p] = null!;
            _capacity = keep << PageShift;
        }
    }

    /// <summary>A copy with the members in consecutive entries and slabs (after many removals, or COPY).</summary>
    public MemberTable Compacted()
    {
        var copy = new MemberTable(_count);
        for (int i = 0; i < _used; i++)
        {
            ref Entry e = ref At(i);
            if (e.Slab == 0) continue;
            var member = MemberAt(i).Span;
            copy.Add(member, KeyHash.Hash(member));
        }
        return copy;
    }

    /// <summary>A uniformly chosen live index, or -1 when empty.</summary>
    public int RandomIndex(Random random)
    {
        if (_count == 0) return -1;
        // Dense tables: probe random slots. Sparse ones (after mass removals): walk from a random bucket.
        if ((long)_count * 4 >= _used)
        {
            for (int attempt = 0; attempt < 64; attempt++)
            {
                int i = random.Next(_used);
                if (At(i).Slab != 0) return i;
            }
        }
        int mask = _buckets.Length - 1;
        int start = random.Next(_buckets.Length);
        for (int n = 0; n <= mask; n++)
        {
            int head = _buckets[(start + n) & mask];
            if (head == 0) continue;
            int len = 0;
            for (int i = head - 1; i >= 0; i = At(i).Next - 1) len++;
            int pick = random.Next(len);
            int j = head - 1;
            while (pick-- > 0) j = At(j).Next - 1;
            return j;
        }
        return -1;
    }

    /// <summary>Collects the indexes in the bucket at <paramref name="cursor"/>; returns the next cursor (Valkey's reverse-binary increment).</summary>
    public ulong ScanBucket(ulong cursor, List<int> into)
    {
        if (_count == 0) return 0;
        ulong mask = (ulong)_buckets.Length - 1;
        int i = _buckets[(int)(cursor & mask)] - 1;
        while (i >= 0)
        {
            into.Add(i);
            i = At(i).Next - 1;
        }
        return ScanCursor.Next(cursor, mask);
    }
}
