using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Kvasir.Keyspace;

/// <summary>
/// Where a database keeps what its key table refers to. The key table's entries hold a 64-bit
/// handle instead of an object reference, so the table itself is nothing the garbage collector
/// has to trace or card-mark:
/// <list type="bullet">
/// <item>A string key (a <see cref="KeyBlob"/>: header, key, value) of up to <see cref="MaxSlabBlob"/>
/// bytes lives in a slot of a large pinned slab, slots grouped by size class (8-byte steps up to 128,
/// then four classes per doubling, as jemalloc's). Millions of small keys are then a few hundred
/// arrays for the GC instead of millions of objects it must walk and promote, and an overwrite
/// writes into the slab rather than allocating: with a big keyspace under writes the GC pauses stop
/// following the number of keys. Handle: slab index (bits 40-62), offset (16-39), length (1-15), 0.</item>
/// <item>Anything else (a bigger string, a packed hash's array, a <see cref="KeyedObject"/>) sits in
/// an object array at an index that stays put while the key lives. Handle: index, then 1.</item>
/// </list>
/// A freed slot is not reused before the next command starts (<see cref="KeyspaceContext.Epoch"/>):
/// a command may go on reading a key's bytes after it deleted or overwrote that key (notifications,
/// replies, propagation), as it could with an array the GC keeps alive.
/// </summary>
public sealed class ItemStore
{
    /// <summary>Biggest blob kept in a slab; bigger strings are arrays of their own.</summary>
    public const int MaxSlabBlob = 2048;

    private const int ClassCount = 32;
    private const int FirstSlabBytes = 16 * 1024;
    private const int MaxSlabBytes = 1024 * 1024;

    private readonly KeyspaceContext _ctx;

    private byte[][] _slabs = new byte[8][];
    private int _slabCount;

    // Per size class: the slab being carved (index), the next offset in it and its end, the free slots.
    private readonly int[] _carveSlab = new int[ClassCount];
    private readonly int[] _carveNext = new int[ClassCount];
    private readonly int[] _carveEnd = new int[ClassCount];
    private readonly int[] _classSlabs = new int[ClassCount];
    // Free slots of each class, chained through their first 8 bytes (slot + 1; 0 ends the chain): no
    // array to grow, which with millions of slots freed at once would be a long copy on the command path.
    private readonly long[] _freeHead = new long[ClassCount];

    // Slots freed during the current command: returned to the free lists when the next one starts.
    private long[] _pending = new long[16];
    private int _pendingCount;
    private long _pendingEpoch;

    private object?[] _objects = new object?[16];
    private int _objectsUsed;
    private int[] _freeObjects = new int[16];
    private int _freeObjectCount;

    public ItemStore(KeyspaceContext context)
    {
        _ctx = context;
        for (int c = 0; c < ClassCount; c++) _carveSlab[c] = -1;
    }

    // ----- handles -----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsObject(long handle) => (handle & 1) != 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long SlabHandle(long slot, int length) => (slot << 16) | ((long)length << 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LengthOf(long handle) => (int)(handle >> 1) & 0x7FFF;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static long SlotOf(long handle) => handle >> 16;

    // ----- size classes -----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ClassOf(int length)
    {
        if (length <= 128) return ((length + 7) >> 3) - 1;
        int msb = 31 - BitOperations.LeadingZeroCount((uint)(length - 1));
        return 16 + (msb - 7) * 4 + (((length - 1) >> (msb - 2)) - 4);
    }

    public static int ClassSize(int cls)
    {
        if (cls < 16) return (cls + 1) * 8;
        int k = cls - 16;
        return (5 + (k & 3)) << (5 + (k >> 2));
    }

    /// <summary>Bytes a blob of <paramref name="length"/> occupies in its slab.</summary>
    public static int SlotBytes(int length) => ClassSize(ClassOf(length));

    // ----- slab blobs -----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte SlotStart(long slot) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_slabs[(int)(slot >> 24)]), (int)(slot & 0xFFFFFF));

    /// <summary>The bytes of a slab handle's blob.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> Blob(long handle)
    {
        return MemoryMarshal.CreateSpan(ref SlotStart(SlotOf(handle)), LengthOf(handle));
    }

    /// <summary>A new slot for a blob of <paramref name="length"/> (at most <see cref="MaxSlabBlob"/>) bytes.</summary>
    public long AllocateBlob(int length)
    {
        int cls = ClassOf(length);
        RecyclePendingOfEarlierEpochs();
        long free = _freeHead[cls];
        if (free != 0)
        {
            _freeHead[cls] = Unsafe.ReadUnaligned<long>(ref SlotStart(free - 1));
            return SlabHandle(free - 1, length);
        }
        int size = ClassSize(cls);
        if (_carveSlab[cls] < 0 || _carveNext[cls] + size > _carveEnd[cls]) NewSlab(cls, size);
        long slot = ((long)_carveSlab[cls] << 24) | (uint)_carveNext[cls];
        _carveNext[cls] += size;
        return SlabHandle(slot, length);
    }

    /// <summary>
    /// The same slot with another length when both fit its size class (an overwrite in place), or 0.
    /// </summary>
    public static long Resized(long handle, int length)
    {
        int old = LengthOf(handle);
        if (length > MaxSlabBlob || ClassOf(old) != ClassOf(length)) return 0;
        return SlabHandle(SlotOf(handle), length);
    }

    private void NewSlab(int cls, int slotSize)
    {
        int bytes = Math.Min(MaxSlabBytes, FirstSlabBytes << Math.Min(_classSlabs[cls], 6));
        bytes -= bytes % slotSize;
        if (_slabCount == _slabs.Length) Array.Resize(ref _slabs, _slabs.Length * 2);
        // Pinned: slabs live as long as the database and are never moved, and a prefetch may use their address.
        _slabs[_slabCount] = GC.AllocateUninitializedArray<byte>(bytes, pinned: true);
        _carveSlab[cls] = _slabCount++;
        _carveNext[cls] = 0;
        _carveEnd[cls] = bytes;
        _classSlabs[cls]++;
    }

    /// <summary>Returns the slots freed before the current command to their free lists (all pending ones
    /// are of one epoch or older: <see cref="Free"/> recycles first when the epoch moved on).</summary>
    private void RecyclePendingOfEarlierEpochs()
    {
        if (_pendingCount == 0 || _pendingEpoch == _ctx.Epoch) return;
        for (int i = 0; i < _pendingCount; i++)
        {
            long handle = _pending[i];
            int cls = ClassOf(LengthOf(handle));
            long slot = SlotOf(handle);
            Unsafe.WriteUnaligned(ref SlotStart(slot), _freeHead[cls]);
            _freeHead[cls] = slot + 1;
        }
        _pendingCount = 0;
        if (_pending.Length > 4096) _pending = new long[16];
    }

    // ----- objects -----

    /// <summary>A handle for an object item.</summary>
    public long AddObject(object item)
    {
        int index = _freeObjectCount > 0 ? _freeObjects[--_freeObjectCount] : _objectsUsed++;
        if (index == _objects.Length) Array.Resize(ref _objects, _objects.Length * 2);
        _objects[index] = item;
        return ((long)index << 1) | 1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public object ObjectOf(long handle) => _objects[(int)(handle >> 1)]!;

    /// <summary>Replaces the object behind a handle (the handle stays the same).</summary>
    public void SetObject(long handle, object item) => _objects[(int)(handle >> 1)] = item;

    // ----- both -----

    /// <summary>The key of a main-table item.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ReadOnlySpan<byte> KeyOf(long handle)
    {
        if (!IsObject(handle)) return KeyBlob.Key(Blob(handle));
        object item = ObjectOf(handle);
        return item is byte[] blob ? KeyBlob.Key(blob) : ((KeyedObject)item).Key;
    }

    /// <summary>The blob of a string key or packed hash (in a slab or an array of its own); false for an object value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetBlob(long handle, out Span<byte> blob)
    {
        if (!IsObject(handle))
        {
            blob = Blob(handle);
            return true;
        }
        if (ObjectOf(handle) is byte[] array)
        {
            blob = array;
            return true;
        }
        blob = default;
        return false;
    }

    /// <summary>Bytes a blob handle's data occupies: its slot, or the array with its header.</summary>
    public long BlobBytes(long handle) => IsObject(handle) ? KeyBlob.MemoryUsage((byte[])ObjectOf(handle)) : SlotBytes(LengthOf(handle));

    /// <summary>A handle for a new string key's blob: a slab slot, or an array of its own when big.</summary>
    public long NewBlob(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, uint lru, bool isVolatile)
    {
        int size = KeyBlob.SizeFor(key.Length, value.Length);
        if (size > MaxSlabBlob) return AddObject(KeyBlob.Create(key, value, lru, isVolatile));
        long handle = AllocateBlob(size);
        KeyBlob.Write(Blob(handle), key, value, lru, isVolatile);
        return handle;
    }

    /// <summary>
    /// The item of a blob key after its value became <paramref name="value"/>: the same slot written
    /// over when the new size fits its class, else a new slot or array (the old one is freed).
    /// </summary>
    public long WithValue(long handle, ReadOnlySpan<byte> value)
    {
        TryGetBlob(handle, out var old);
        if (KeyBlob.TryOverwrite(old, value)) return handle;
        int size = KeyBlob.KeyEnd(old) + value.Length;
        if (!IsObject(handle))
        {
            long same = Resized(handle, size);
            if (same != 0)
            {
                // The header and key stay where they are; only the value and the encoding change.
                KeyBlob.TryOverwrite(Blob(same), value);
                return same;
            }
        }
        long next;
        if (size > MaxSlabBlob)
        {
            var array = GC.AllocateUninitializedArray<byte>(size);
            KeyBlob.WriteWithValue(array, old, value);
            next = AddObject(array);
        }
        else
        {
            next = AllocateBlob(size);
            KeyBlob.WriteWithValue(Blob(next), old, value);
        }
        Free(handle);
        return next;
    }

    /// <summary>Releases what a handle refers to; a slab slot is reused from the next command on.</summary>
    public void Free(long handle)
    {
        if (IsObject(handle))
        {
            int index = (int)(handle >> 1);
            _objects[index] = null;
            if (_freeObjectCount == _freeObjects.Length) Array.Resize(ref _freeObjects, _freeObjects.Length * 2);
            _freeObjects[_freeObjectCount++] = index;
            return;
        }
        RecyclePendingOfEarlierEpochs();
        if (_pendingCount == _pending.Length) Array.Resize(ref _pending, _pending.Length * 2);
        _pending[_pendingCount++] = handle;
        _pendingEpoch = _ctx.Epoch;
    }

    /// <summary>Where a handle's data starts in memory, for a prefetch hint (0 when unknown). The address of
    /// an object may be stale by the time the CPU acts on it (the GC moves objects): only ever a hint.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe nint AddressOf(long handle)
    {
        if (IsObject(handle))
        {
            object? o = _objects[(int)(handle >> 1)];
            return o is null ? 0 : Unsafe.As<object, nint>(ref o);
        }
        return (nint)Unsafe.AsPointer(ref SlotStart(SlotOf(handle)));
    }
}

/// <summary>Where a main-table item keeps its key: in the blob or object its handle refers to.</summary>
public readonly struct MainKeyOf(ItemStore store) : IKeyOf<long>
{
    public ReadOnlySpan<byte> KeyOf(long handle) => store.KeyOf(handle);

    public bool IsEmpty(long handle) => handle == 0;
}
