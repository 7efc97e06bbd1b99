namespace Kvasir.Types;

/// <summary>
/// A run of <see cref="Listpack"/> entries in one byte array, with free room kept at both ends so
/// that adding or removing at either end is amortised O(1) and an edit in the middle moves only the
/// shorter side. Used as the whole body of a small list or set and as one node of a chunked list.
/// A struct so that a chunked list's nodes sit in one array without an object each: always work on
/// it through a ref, never on a copy.
/// </summary>
public struct PackedNode
{
    private static readonly byte[] Empty = Array.Empty<byte>();

    public byte[] Buffer;

    /// <summary>Entries occupy Buffer[Head..Tail).</summary>
    public int Head;
    public int Tail;
    public int Count;

    /// <summary>A chunked-list node holding one element too large to share a node (Valkey's plain node).</summary>
    public bool Plain;

    public static PackedNode Create() => new() { Buffer = Empty };

    /// <summary>
    /// Before adding <paramref name="size"/> bytes at one end of a node that fills up towards
    /// <paramref name="limit"/> bytes: when they do not fit, reallocates with all the room on that end,
    /// doubling, and straight to the limit once half of it is used. (Growing by a quarter at a time
    /// allocated five times the final size.) Removals shrink a node only below a quarter used, so a
    /// push and a pop at the same end never reallocate back and forth.
    /// </summary>
    public void ReserveForPush(int size, bool atHead, int limit)
    {
        if (atHead ? Head >= size : Buffer.Length - Tail >= size) return;
        int used = Tail - Head;
        int capacity = used >= limit / 2 ? limit : Math.Min(limit, Math.Max(2 * used, 64));
        var next = new byte[Math.Max(capacity, used + size)];
        int start = atHead ? next.Length - used : 0;
        Buffer.AsSpan(Head, used).CopyTo(next.AsSpan(start));
        Buffer = next;
        Head = start;
        Tail = start + used;
    }

    public readonly int UsedBytes => Tail - Head;

    /// <summary>Size the same content would have as a listpack (lpBytes).</summary>
    public readonly int ListpackBytes => Tail - Head + Listpack.HeaderAndEndBytes;

    public readonly int Capacity => Buffer.Length;

    public readonly int First => Head;

    public readonly int Next(int pos) => pos + Listpack.EntryLength(Buffer, pos);

    /// <summary>Start of the entry before <paramref name="pos"/>, or -1 at the first entry.</summary>
    public readonly int Previous(int pos) => pos <= Head ? -1 : Listpack.PreviousStart(Buffer, pos);

    /// <summary>Start of the last entry, or -1 when empty.</summary>
    public readonly int Last => Tail == Head ? -1 : Listpack.PreviousStart(Buffer, Tail);

    public readonly PackedValue Read(int pos) => Listpack.Read(Buffer, pos);

    /// <summary>Byte position of entry <paramref name="index"/> (0-based, must be in range), walking from the nearer end.</summary>
    public readonly int Seek(int index)
    {
        if (index < Count / 2 + 1)
        {
            int p = Head;
            for (int i = 0; i < index; i++) p = Next(p);
            return p;
        }
        int q = Tail;
        for (int i = Count; i > index; i--) q = Listpack.PreviousStart(Buffer, q);
        return q;
    }

    // ----- adding -----

    public void PushHead(ReadOnlySpan<byte> value)
    {
        int size = Listpack.EntrySize(value);
        if (Head < size) Grow(size, 0);
        Head -= size;
        Listpack.Write(Buffer.AsSpan(Head, size), value);
        Count++;
    }

    public void PushTail(ReadOnlySpan<byte> value)
    {
        int size = Listpack.EntrySize(value);
        if (Buffer.Length - Tail < size) Grow(0, size);
        Listpack.Write(Buffer.AsSpan(Tail, size), value);
        Tail += size;
        Count++;
    }

    public void PushTailInteger(long value)
    {
        int size = Listpack.IntegerEntrySize(value);
        if (Buffer.Length - Tail < size) Grow(0, size);
        Listpack.WriteInteger(Buffer.AsSpan(Tail, size), value);
        Tail += size;
        Count++;
    }

    /// <summary>Inserts <paramref name="value"/> so that it starts where the entry at <paramref name="pos"/> starts
    /// (or at the end when <paramref name="pos"/> is Tail). Returns the new entry's position.</summary>
    public int InsertAt(int pos, ReadOnlySpan<byte> value)
    {
        int size = Listpack.EntrySize(value);
        pos = OpenGap(pos, size);
        Listpack.Write(Buffer.AsSpan(pos, size), value);
        Count++;
        return pos;
    }

    /// <summary>Makes <paramref name="size"/> free bytes at <paramref name="pos"/>, moving the shorter side. Returns where the gap is.</summary>
    private int OpenGap(int pos, int size)
    {
        int before = pos - Head, after = Tail - pos;
        if (before <= after && Head >= size)
        {
            Buffer.AsSpan(Head, before).CopyTo(Buffer.AsSpan(Head - size));
            Head -= size;
            return pos - size;
        }
        if (Buffer.Length - Tail >= size)
        {
            Buffer.AsSpan(pos, after).CopyTo(Buffer.AsSpan(pos + size));
            Tail += size;
            return pos;
        }
        if (Head >= size)
        {
            Buffer.AsSpan(Head, before).CopyTo(Buffer.AsSpan(Head - size));
            Head -= size;
            return pos - size;
        }
        // Reallocate with the gap already in place.
        int used = Tail - Head + size;
        var next = new byte[used + Slack(used)];
        Buffer.AsSpan(Head, before).CopyTo(next);
        Buffer.AsSpan(pos, after).CopyTo(next.AsSpan(before + size));
        Buffer = next;
        Head = 0;
        Tail = used;
        return before;
    }

    // ----- removing -----

    /// <summary>Removes the entry at <paramref name="pos"/>. Returns the position the following entry now has
    /// (Tail when it was the last).</summary>
    public int DeleteAt(int pos)
    {
        int size = Listpack.EntryLength(Buffer, pos);
        Count--;
        return CloseGap(pos, size);
    }

    public void RemoveHead()
    {
        Head += Listpack.EntryLength(Buffer, Head);
        Count--;
        AfterRemove();
    }

    public void RemoveTail()
    {
        Tail = Listpack.PreviousStart(Buffer, Tail);
        Count--;
        AfterRemove();
    }

    /// <summary>Removes <paramref name="n"/> entries starting with entry <paramref name="index"/>.</summary>
    public void DeleteRange(int index, int n)
    {
        if (n <= 0) return;
        if (index == 0 && n >= Count)
        {
            Clear();
            return;
        }
        int start = Seek(index);
        int end = start;
        for (int i = 0; i < n; i++) end = Next(end);
        Count -= n;
        CloseGap(start, end - start);
    }

    public void Clear()
    {
        Count = 0;
        AfterRemove();
    }

    private int CloseGap(int pos, int size)
    {
        int before = pos - Head, after = Tail - pos - size;
        int next;
        if (before < after)
        {
            Buffer.AsSpan(Head, before).CopyTo(Buffer.AsSpan(Head + size));
            Head += size;
            next = pos + size;
        }
        else
        {
            Buffer.AsSpan(pos + size, after).CopyTo(Buffer.AsSpan(pos));
            Tail -= size;
            next = pos;
        }
        int shift = AfterRemove();
        return Count == 0 ? Head : next - shift;
    }

    /// <summary>Gives memory back when most of the buffer is free. Returns how far entries moved left.</summary>
    private int AfterRemove()
    {
        if (Count == 0)
        {
            if (Buffer.Length > 64) Buffer = new byte[16];
            Head = Tail = Buffer.Length / 2;
            return 0;
        }
        int used = Tail - Head;
        if (Buffer.Length <= 64 || used * 4 >= Buffer.Length) return 0;
        int shift = Head;
        var next = new byte[used + Slack(used)];
        Buffer.AsSpan(Head, used).CopyTo(next);
        Buffer = next;
        Head = 0;
        Tail = used;
        return shift;
    }

    /// <summary>Drops the spare room, for a node that is no longer at an end of its list, unless it is at
    /// most <paramref name="tolerance"/> bytes (a copy to save that little would cost more than it saves).</summary>
    public void TrimExcess(int tolerance = 0)
    {
        int used = Tail - Head;
        if (Buffer.Length - used <= tolerance) return;
        var next = used == 0 ? Empty : new byte[used];
        Buffer.AsSpan(Head, used).CopyTo(next);
        Buffer = next;
        Head = 0;
        Tail = used;
    }

    /// <summary>Replaces the entry at <paramref name="pos"/>; returns the position of the new entry.</summary>
    public int Replace(int pos, ReadOnlySpan<byte> value)
    {
        int oldSize = Listpack.EntryLength(Buffer, pos);
        int newSize = Listpack.EntrySize(value);
        if (oldSize == newSize)
        {
            Listpack.Write(Buffer.AsSpan(pos, newSize), value);
            return pos;
        }
        // Copy first: the value may point into this buffer's own storage.
        var copy = value.ToArray();
        Count--;
        int at = CloseGap(pos, oldSize);
        return InsertAt(at, copy);
    }

    // ----- bulk -----

    /// <summary>Appends all entries of <paramref name="other"/> after this node's.</summary>
    public void AppendAll(in PackedNode other)
    {
        int size = other.UsedBytes;
        if (Buffer.Length - Tail < size) Grow(0, size);
        other.Buffer.AsSpan(other.Head, size).CopyTo(Buffer.AsSpan(Tail));
        Tail += size;
        Count += other.Count;
    }

    /// <summary>Prepends all entries of <paramref name="other"/> before this node's.</summary>
    public void PrependAll(in PackedNode other)
    {
        int size = other.UsedBytes;
        if (Head < size) Grow(size, 0);
        other.Buffer.AsSpan(other.Head, size).CopyTo(Buffer.AsSpan(Head - size));
        Head -= size;
        Count += other.Count;
    }

    /// <summary>Moves the entries from index <paramref name="index"/> on into a new node.</summary>
    public PackedNode SplitOff(int index)
    {
        var result = Create();
        if (index >= Count) return result;
        int pos = Seek(index);
        int size = Tail - pos;
        result.Buffer = new byte[size];
        Buffer.AsSpan(pos, size).CopyTo(result.Buffer);
        result.Tail = size;
        result.Count = Count - index;
        Count = index;
        Tail = pos;
        AfterRemove();
        return result;
    }

    public readonly PackedNode Clone()
    {
        var copy = Create();
        int used = UsedBytes;
        if (used > 0)
        {
            copy.Buffer = new byte[used];
            Buffer.AsSpan(Head, used).CopyTo(copy.Buffer);
        }
        copy.Tail = used;
        copy.Count = Count;
        copy.Plain = Plain;
        return copy;
    }

    /// <summary>Position of the first entry at or after <paramref name="pos"/> equal to <paramref name="key"/>, or -1.</summary>
    public readonly int Find(in PackedKey key, int pos)
    {
        var buf = Buffer;
        while (pos < Tail)
        {
            if (Listpack.Read(buf, pos).Matches(key)) return pos;
            pos += Listpack.EntryLength(buf, pos);
        }
        return -1;
    }

    // ----- growth -----

    private static int Slack(int used) => Math.Max(8, used / 4);

    /// <summary>Reallocates so that at least <paramref name="front"/> bytes are free before Head and
    /// <paramref name="back"/> after Tail, with extra room on the side that asked.</summary>
    private void Grow(int front, int back)
    {
        int used = Tail - Head;
        int slack = Slack(used + front + back);
        int headRoom = front > 0 ? front + slack : 0;
        int tailRoom = back > 0 ? back + slack : 0;
        // Keep what room the other side already had, so alternating ends do not thrash.
        if (front == 0) headRoom = Math.Min(Head, slack);
        if (back == 0) tailRoom = Math.Min(Buffer.Length - Tail, slack);
        var next = new byte[headRoom + used + tailRoom];
        Buffer.AsSpan(Head, used).CopyTo(next.AsSpan(headRoom));
        Buffer = next;
        Head = headRoom;
        Tail = headRoom + used;
    }
}
