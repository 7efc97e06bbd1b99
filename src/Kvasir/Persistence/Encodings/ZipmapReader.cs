using System.Buffers.Binary;

namespace Kvasir.Persistence.Encodings;

/// <summary>
/// Walks a zipmap blob (small hashes written by Redis 2.x), with the checks of Valkey's
/// zipmapValidateIntegrity: 0xFF at the end, every field and value inside the blob, at least one
/// pair, and the header count (unless 254, "count them") equal to the pairs found.
/// <code>
/// [count:u8] (len field len free value free-bytes)... [0xFF]
/// len = one byte below 254, or 254 followed by a little-endian u32
/// </code>
/// </summary>
public ref struct ZipmapReader
{
    private const byte BigLen = 254;
    private const byte End = 255;

    private readonly ReadOnlySpan<byte> _zm;
    private int _pos;
    private int _pairs;
    private bool _corrupt;
    private bool _done;

    private ZipmapReader(ReadOnlySpan<byte> zm)
    {
        _zm = zm;
        _pos = 1;
        _pairs = 0;
        _corrupt = false;
        _done = false;
    }

    public static bool TryOpen(ReadOnlySpan<byte> zm, out ZipmapReader reader)
    {
        reader = default;
        if (zm.Length < 2 || zm[^1] != End) return false;
        reader = new ZipmapReader(zm);
        return true;
    }

    public readonly bool IsValid => !_corrupt;

    public readonly int Count => _pairs;

    public bool Next(out ReadOnlySpan<byte> field, out ReadOnlySpan<byte> value)
    {
        field = value = default;
        if (_done || _corrupt) return false;
        var zm = _zm;
        int last = zm.Length - 1;
        int p = _pos;
        if (p > last) return Fail();
        if (zm[p] == End)
        {
            _done = true;
            if (_pairs == 0) return Fail();
            if (zm[0] != BigLen && zm[0] != _pairs) return Fail();
            return false;
        }
        if (!ReadLength(zm, ref p, last, out long flen)) return Fail();
        long fieldStart = p;
        long afterField = p + flen;
        if (afterField > last) return Fail();
        p = (int)afterField;
        if (!ReadLength(zm, ref p, last, out long vlen)) return Fail();
        if (p > last) return Fail();
        int free = zm[p++];
        long valueStart = p;
        long afterValue = p + vlen + free;
        if (afterValue > last) return Fail();
        field = zm.Slice((int)fieldStart, (int)flen);
        value = zm.Slice((int)valueStart, (int)vlen);
        _pos = (int)afterValue;
        _pairs++;
        return true;
    }

    private static bool ReadLength(ReadOnlySpan<byte> zm, ref int p, int last, out long len)
    {
        len = 0;
        int size = zm[p] < BigLen ? 1 : 5;
        if (p + size > last) return false;
        len = size == 1 ? zm[p] : BinaryPrimitives.ReadUInt32LittleEndian(zm.Slice(p + 1));
        p += size;
        return true;
    }

    private bool Fail()
    {
        _corrupt = true;
        return false;
    }
}
