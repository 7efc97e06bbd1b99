using System.Buffers.Binary;

namespace Kvasir.Persistence.Encodings;

/// <summary>
/// Walks a listpack blob as found in RDB files (hash, sorted set, set and list nodes of Redis 7+ and
/// Valkey), checking every entry the way Valkey's deep integrity validation does: the header total
/// equals the blob size, the blob ends with 0xFF, each entry's encoding is known and stays inside
/// the blob, each entry's back-length matches its size, and the header count (unless 65535,
/// "unknown") equals the entries found.
/// <code>
/// [total:u32][count:u16] entry... [0xFF]
/// entry = encoding+payload, backlen (the size of encoding+payload, 7 bits per byte, read backwards)
///   0xxxxxxx            7-bit unsigned int       10xxxxxx + n bytes   string, 6-bit length
///   110xxxxx yyyyyyyy   13-bit signed int        1110xxxx yyyyyyyy   string, 12-bit length
///   0xF1/F2/F3/F4       16/24/32/64-bit int      0xF0 + u32 length   string, 32-bit length
/// </code>
/// </summary>
public ref struct ListpackReader
{
    public const int HeaderSize = 6;

    private readonly ReadOnlySpan<byte> _lp;
    private int _pos;
    private int _seen;
    private bool _corrupt;
    private bool _done;

    private ListpackReader(ReadOnlySpan<byte> lp)
    {
        _lp = lp;
        _pos = HeaderSize;
        _seen = 0;
        _corrupt = false;
        _done = false;
        HeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(lp.Slice(4));
    }

    /// <summary>Checks the header (size, terminator); false when even that is damaged.</summary>
    public static bool TryOpen(ReadOnlySpan<byte> lp, out ListpackReader reader)
    {
        reader = default;
        if (lp.Length < HeaderSize + 1) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(lp) != (uint)lp.Length) return false;
        if (lp[^1] != 0xFF) return false;
        reader = new ListpackReader(lp);
        return true;
    }

    /// <summary>The element count the header claims (65535 means "count them").</summary>
    public int HeaderCount { get; }

    /// <summary>False once a damaged entry was met, or the walk ended in the wrong place or with the wrong count.</summary>
    public readonly bool IsValid => !_corrupt;

    /// <summary>Elements returned so far.</summary>
    public readonly int Count => _seen;

    /// <summary>Next element; false at the end or on damage (then <see cref="IsValid"/> is false).</summary>
    public bool Next(out PackedElement element)
    {
        element = default;
        if (_done || _corrupt) return false;
        var lp = _lp;
        int p = _pos;
        int last = lp.Length - 1;               // index of the 0xFF terminator
        if (p > last) return Fail();
        byte b = lp[p];
        if (b == 0xFF)
        {
            _done = true;
            // The terminator must be the last byte, and the count must agree.
            if (p != last) return Fail();
            if (HeaderCount != ushort.MaxValue && HeaderCount != _seen) return Fail();
            return false;
        }

        int headerBytes;        // encoding byte(s) before the payload
        long payload;           // payload length in bytes (for strings) or integer width
        bool isString;
        if ((b & 0x80) == 0) { headerBytes = 1; payload = 0; isString = false; }
        else if ((b & 0xC0) == 0x80) { headerBytes = 1; payload = b & 0x3F; isString = true; }
        else if ((b & 0xE0) == 0xC0) { headerBytes = 1; payload = 1; isString = false; }
        else if ((b & 0xF0) == 0xE0)
        {
            headerBytes = 2;
            if (p + 1 > last) return Fail();
            payload = ((b & 0x0F) << 8) | lp[p + 1];
            isString = true;
        }
        else if (b == 0xF0)
        {
            headerBytes = 5;
            if (p + 4 > last) return Fail();
            payload = BinaryPrimitives.ReadUInt32LittleEndian(lp.Slice(p + 1));
            isString = true;
        }
        else if (b == 0xF1) { headerBytes = 1; payload = 2; isString = false; }
        else if (b == 0xF2) { headerBytes = 1; payload = 3; isString = false; }
        else if (b == 0xF3) { headerBytes = 1; payload = 4; isString = false; }
        else if (b == 0xF4) { headerBytes = 1; payload = 8; isString = false; }
        else return Fail();     // 0xF5..0xFE are not encodings

        long entryLength = headerBytes + payload;
        int backlenBytes = BacklenSize(entryLength);
        long next = p + entryLength + backlenBytes;
        if (next > last) return Fail();
        if (DecodeBacklen(lp, (int)next - 1, out int backlenStart) != entryLength) return Fail();
        // Read backwards, the back-length must take exactly the bytes it takes forwards: a stray
        // continuation bit would decode to the same value over more bytes and send a walk towards the
        // head (a stream node read in reverse) into the middle of an entry.
        if (backlenStart != next - backlenBytes) return Fail();

        if (isString) element = new PackedElement(lp.Slice(p + headerBytes, (int)payload));
        else element = new PackedElement(DecodeInteger(lp, p, b));
        _pos = (int)next;
        _seen++;
        return true;
    }

    private bool Fail()
    {
        _corrupt = true;
        return false;
    }

    private static long DecodeInteger(ReadOnlySpan<byte> lp, int p, byte b)
    {
        if ((b & 0x80) == 0) return b & 0x7F;
        if ((b & 0xE0) == 0xC0)
        {
            int u = ((b & 0x1F) << 8) | lp[p + 1];
            return u >= 1 << 12 ? u - (1 << 13) : u;
        }
        var s = lp.Slice(p + 1);
        switch (b)
        {
            case 0xF1: return BinaryPrimitives.ReadInt16LittleEndian(s);
            case 0xF2:
                int u24 = s[0] | (s[1] << 8) | (s[2] << 16);
                return u24 >= 1 << 23 ? u24 - (1 << 24) : u24;
            case 0xF3: return BinaryPrimitives.ReadInt32LittleEndian(s);
            default: return BinaryPrimitives.ReadInt64LittleEndian(s);
        }
    }

    /// <summary>Bytes the back-length of an entry of <paramref name="l"/> bytes takes (lpEncodeBacklen).</summary>
    public static int BacklenSize(long l) =>
        l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;

    /// <summary>
    /// Reads a back-length ending at <paramref name="end"/> and where it starts; -1 when it is longer
    /// than 5 bytes.
    /// </summary>
    private static long DecodeBacklen(ReadOnlySpan<byte> lp, int end, out int start)
    {
        long val = 0;
        int shift = 0;
        int p = end;
        start = end;
        while (true)
        {
            if (p < HeaderSize) return -1;
            val |= (long)(lp[p] & 127) << shift;
            if ((lp[p] & 128) == 0) break;
            shift += 7;
            p--;
            if (shift > 28) return -1;
        }
        start = p;
        return val;
    }
}
