using System.Buffers.Binary;

namespace Kvasir.Persistence.Encodings;

/// <summary>
/// Walks a ziplist blob (lists, hashes and sorted sets written by Redis before 7.0), with the checks
/// of Valkey's ziplistValidateIntegrity in deep mode: header total equals the blob size, 0xFF at the
/// end, the tail offset inside the blob and pointing at the last entry, every entry inside the blob
/// with a known encoding, each entry's prevlen equal to the previous entry's size, and the header
/// count (unless 65535) equal to the entries found.
/// <code>
/// [zlbytes:u32][zltail:u32][zllen:u16] entry... [0xFF]
/// entry = prevlen (1 byte, or 0xFE + u32), encoding, payload
///   00pppppp / 01pppppp qqqqqqqq / 10______ + u32 (big endian)   strings
///   0xC0 i16, 0xD0 i32, 0xE0 i64, 0xF0 i24, 0xFE i8, 0xF1..0xFD immediate 0..12
/// </code>
/// </summary>
public ref struct ZiplistReader
{
    private const int HeaderSize = 10;

    private readonly ReadOnlySpan<byte> _zl;
    private readonly int _tail;
    private int _pos;
    private int _prevStart;
    private int _prevSize;
    private int _seen;
    private bool _corrupt;
    private bool _done;

    private ZiplistReader(ReadOnlySpan<byte> zl)
    {
        _zl = zl;
        _tail = (int)BinaryPrimitives.ReadUInt32LittleEndian(zl.Slice(4));
        HeaderCount = BinaryPrimitives.ReadUInt16LittleEndian(zl.Slice(8));
        _pos = HeaderSize;
        _prevStart = -1;
        _prevSize = 0;
        _seen = 0;
        _corrupt = false;
        _done = false;
    }

    public static bool TryOpen(ReadOnlySpan<byte> zl, out ZiplistReader reader)
    {
        reader = default;
        if (zl.Length < HeaderSize + 1) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(zl) != (uint)zl.Length) return false;
        if (zl[^1] != 0xFF) return false;
        if (BinaryPrimitives.ReadUInt32LittleEndian(zl.Slice(4)) > (uint)(zl.Length - 1)) return false;
        reader = new ZiplistReader(zl);
        return true;
    }

    public int HeaderCount { get; }

    public readonly bool IsValid => !_corrupt;

    public readonly int Count => _seen;

    public bool Next(out PackedElement element)
    {
        element = default;
        if (_done || _corrupt) return false;
        var zl = _zl;
        int p = _pos;
        int last = zl.Length - 1;
        if (p > last) return Fail();
        if (zl[p] == 0xFF)
        {
            _done = true;
            if (p != last) return Fail();
            if (_prevStart >= 0 && _prevStart != _tail) return Fail();
            if (HeaderCount != ushort.MaxValue && HeaderCount != _seen) return Fail();
            return false;
        }

        // prevlen
        int prevLenSize = zl[p] < 254 ? 1 : 5;
        if (p + prevLenSize > last) return Fail();
        long prevLen = prevLenSize == 1 ? zl[p] : BinaryPrimitives.ReadUInt32LittleEndian(zl.Slice(p + 1));
        if (prevLen != _prevSize) return Fail();

        int e = p + prevLenSize;
        byte enc = zl[e];
        if (enc < 0xC0) enc &= 0xC0;
        int lenSize;
        long len;
        switch (enc)
        {
            case 0x00:
                lenSize = 1;
                len = zl[e] & 0x3F;
                break;
            case 0x40:
                lenSize = 2;
                if (e + 1 > last) return Fail();
                len = ((zl[e] & 0x3F) << 8) | zl[e + 1];
                break;
            case 0x80:
                lenSize = 5;
                if (e + 4 > last) return Fail();
                len = BinaryPrimitives.ReadUInt32BigEndian(zl.Slice(e + 1));
                break;
            case 0xFE: lenSize = 1; len = 1; break;
            case 0xC0: lenSize = 1; len = 2; break;
            case 0xF0: lenSize = 1; len = 3; break;
            case 0xD0: lenSize = 1; len = 4; break;
            case 0xE0: lenSize = 1; len = 8; break;
            default:
                if (enc >= 0xF1 && enc <= 0xFD)
                {
                    lenSize = 1;
                    len = 0;
                    break;
                }
                return Fail();
        }
        if (e + lenSize > last) return Fail();
        long end = (long)e + lenSize + len;          // start of the next entry
        if (end > last) return Fail();

        int data = e + lenSize;
        if (enc < 0xC0) element = new PackedElement(zl.Slice(data, (int)len));
        else
        {
            long v = enc switch
            {
                0xFE => (sbyte)zl[data],
                0xC0 => BinaryPrimitives.ReadInt16LittleEndian(zl.Slice(data)),
                0xF0 => ReadInt24(zl.Slice(data)),
                0xD0 => BinaryPrimitives.ReadInt32LittleEndian(zl.Slice(data)),
                0xE0 => BinaryPrimitives.ReadInt64LittleEndian(zl.Slice(data)),
                _ => (enc & 0x0F) - 1,
            };
            element = new PackedElement(v);
        }
        _prevStart = p;
        _prevSize = (int)(end - p);
        _pos = (int)end;
        _seen++;
        return true;
    }

    private static long ReadInt24(ReadOnlySpan<byte> s)
    {
        int u = s[0] | (s[1] << 8) | (s[2] << 16);
        return u >= 1 << 23 ? u - (1 << 24) : u;
    }

    private bool Fail()
    {
        _corrupt = true;
        return false;
    }
}
