using System.Buffers.Binary;

namespace Kvasir.Types.Streams;

/// <summary>
/// A stream node: one listpack in exactly Valkey's layout (4-byte total size, 2-byte element count,
/// <see cref="Listpack"/> entries, 0xFF), so that RDB files and DUMP payloads carry it byte for byte.
/// The array may be longer than the listpack (room to append into, like the allocation Valkey
/// preallocates for the node being filled); <see cref="TotalBytes"/> is the listpack's own size.
/// Positions are byte offsets; -1 means "none" (lpFirst/lpNext/lpPrev returning NULL).
/// </summary>
public static class StreamListpack
{
    public const int HeaderSize = 6;
    private const byte End = 0xFF;
    private const int UnknownCount = ushort.MaxValue;

    public static int TotalBytes(byte[] lp) => (int)BinaryPrimitives.ReadUInt32LittleEndian(lp);

    private static void SetTotalBytes(byte[] lp, int bytes) => BinaryPrimitives.WriteUInt32LittleEndian(lp, (uint)bytes);

    private static byte[] Allocate(int size) => GC.AllocateUninitializedArray<byte>(size);

    private static void Resize(ref byte[] lp, int size)
    {
        var next = Allocate(size);
        lp.AsSpan(0, Math.Min(TotalBytes(lp), size)).CopyTo(next);
        lp = next;
    }

    /// <summary>
    /// The node as it will stay once it is full: an array of exactly its size, allocated where
    /// long-lived objects end up anyway (the pinned object heap, collected with generation 2). A bulk
    /// load of a stream then neither fills the young generations with nodes nor copies them up
    /// through them; only the node being filled (and its growth) lives in generation 0.
    /// </summary>
    public static byte[] Seal(byte[] lp)
    {
        int size = TotalBytes(lp);
        var sealedNode = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        lp.AsSpan(0, size).CopyTo(sealedNode);
        return sealedNode;
    }

    /// <summary>An empty listpack with room for <paramref name="capacity"/> bytes (lpNew).</summary>
    public static byte[] New(int capacity)
    {
        var lp = Allocate(Math.Max(capacity, HeaderSize + 1));
        SetTotalBytes(lp, HeaderSize + 1);
        lp[HeaderSize] = End;
        return lp;
    }

    /// <summary>Empties a listpack whose array is reused for a new node.</summary>
    public static byte[] Reset(byte[] lp)
    {
        SetTotalBytes(lp, HeaderSize + 1);
        BinaryPrimitives.WriteUInt16LittleEndian(lp.AsSpan(4), 0);
        lp[HeaderSize] = End;
        return lp;
    }

    /// <summary>The same listpack in an array of exactly its size (lpShrinkToFit).</summary>
    public static byte[] ShrinkToFit(byte[] lp)
    {
        int size = TotalBytes(lp);
        if (lp.Length == size) return lp;
        var fitted = Allocate(size);
        lp.AsSpan(0, size).CopyTo(fitted);
        return fitted;
    }

    public static int First(byte[] lp) => lp[HeaderSize] == End ? -1 : HeaderSize;

    public static int Next(byte[] lp, int p)
    {
        int q = p + Listpack.EntryLength(lp, p);
        return lp[q] == End ? -1 : q;
    }

    public static int Previous(byte[] lp, int p) => p <= HeaderSize ? -1 : Listpack.PreviousStart(lp, p);

    public static int Last(byte[] lp)
    {
        int end = TotalBytes(lp) - 1;
        return end <= HeaderSize ? -1 : Listpack.PreviousStart(lp, end);
    }

    public static PackedValue Get(byte[] lp, int p) => Listpack.Read(lp, p);

    /// <summary>lpGetInteger: an integer entry, or a string entry holding a canonical integer (0 otherwise: validated at load).</summary>
    public static long GetInteger(byte[] lp, int p)
    {
        var v = Listpack.Read(lp, p);
        if (v.IsInteger) return v.Integer;
        return NumberParser.TryParseLong(v.Span, out long n) ? n : 0;
    }

    /// <summary>lpGetIntegerIfValid: false when the entry is a string that is not an integer.</summary>
    public static bool TryGetInteger(byte[] lp, int p, out long value)
    {
        var v = Listpack.Read(lp, p);
        if (v.IsInteger)
        {
            value = v.Integer;
            return true;
        }
        return NumberParser.TryParseLong(v.Span, out value);
    }

    public static void AppendInteger(ref byte[] lp, long value)
    {
        int size = Listpack.IntegerEntrySize(value);
        int at = MakeRoomAtEnd(ref lp, size);
        Listpack.WriteInteger(lp.AsSpan(at), value);
    }

    /// <summary>lpAppend: a string that is a canonical integer is stored as an integer.</summary>
    public static void Append(ref byte[] lp, ReadOnlySpan<byte> value)
    {
        if (Listpack.TryAsInteger(value, out long v))
        {
            AppendInteger(ref lp, v);
            return;
        }
        int size = Listpack.StringEntrySize(value.Length);
        int at = MakeRoomAtEnd(ref lp, size);
        Listpack.WriteString(lp.AsSpan(at), value);
    }

    /// <summary>Where an entry of <paramref name="size"/> bytes goes (just before the end marker), the header updated.</summary>
    private static int MakeRoomAtEnd(ref byte[] lp, int size)
    {
        int total = TotalBytes(lp);
        int newTotal = total + size;
        if (newTotal > lp.Length) Grow(ref lp, newTotal);
        int at = total - 1;
        lp[newTotal - 1] = End;
        SetTotalBytes(lp, newTotal);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(lp.AsSpan(4));
        if (count != UnknownCount) BinaryPrimitives.WriteUInt16LittleEndian(lp.AsSpan(4), (ushort)(count + 1));
        return at;
    }

    /// <summary>
    /// Makes room for <paramref name="extra"/> more bytes at once, so that adding an entry (several
    /// listpack elements, and a counter in the master entry that may widen) copies the node at most once.
    /// </summary>
    public static void EnsureRoom(ref byte[] lp, long extra)
    {
        long needed = TotalBytes(lp) + extra;
        if (needed > lp.Length) Grow(ref lp, needed);
    }

    /// <summary>
    /// Grows by an eighth beyond what is needed: appends into a node stay amortised O(1), and a node
    /// sized from its predecessor that comes out a little bigger ends with little spare room (so it is
    /// not copied again when it is closed).
    /// </summary>
    private static void Grow(ref byte[] lp, long needed)
    {
        long capacity = Math.Max(needed + needed / 8, lp.Length + 16);
        Resize(ref lp, (int)Math.Min(int.MaxValue - 64, capacity));
    }

    /// <summary>lpReplaceInteger: the entry at <paramref name="p"/> becomes <paramref name="value"/>; later entries move when its size changes.</summary>
    public static void ReplaceInteger(ref byte[] lp, int p, long value)
    {
        int oldSize = Listpack.EntryLength(lp, p);
        int newSize = Listpack.IntegerEntrySize(value);
        int total = TotalBytes(lp);
        if (newSize != oldSize)
        {
            int newTotal = total - oldSize + newSize;
            if (newTotal > lp.Length) Grow(ref lp, newTotal);
            Array.Copy(lp, p + oldSize, lp, p + newSize, total - p - oldSize);
            SetTotalBytes(lp, newTotal);
        }
        Listpack.WriteInteger(lp.AsSpan(p), value);
    }
}
