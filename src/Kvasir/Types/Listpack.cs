using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Kvasir.Types;

/// <summary>
/// The entry format of packed collections (small lists, small sets, list nodes). Each entry is
/// <c>[encoding+payload][backlen]</c> with the entry encodings of Valkey's listpack, so a node's byte
/// count equals what lpBytes would report for the same content (which is what the encoding
/// thresholds are defined against) and a node can be written to an RDB file as a listpack by
/// adding its 6-byte header and end marker:
/// <list type="bullet">
/// <item><c>0xxxxxxx</c> integer 0..127 in the tag itself</item>
/// <item><c>10xxxxxx</c> string of up to 63 bytes; <c>1110xxxx yyyyyyyy</c> up to 4095 bytes;
/// <c>0xF0</c> + 32-bit length for longer ones</item>
/// <item><c>110xxxxx yyyyyyyy</c> 13-bit signed integer; <c>0xF1..0xF4</c> 16/24/32/64-bit integers</item>
/// </list>
/// Strings that are canonical decimal integers are stored as integers (as listpack does).
/// <c>backlen</c> holds the length of the encoding+payload, 7 bits per byte, readable from its last
/// byte backwards, so entries can be walked in both directions.
/// </summary>
public static class Listpack
{
    /// <summary>lpBytes of an empty listpack: 4-byte total, 2-byte count, 1-byte end marker.</summary>
    public const int HeaderAndEndBytes = 7;

    /// <summary>Size of an encoded entry (including backlen) for <paramref name="value"/>.</summary>
    public static int EntrySize(ReadOnlySpan<byte> value)
    {
        if (TryAsInteger(value, out long v)) return IntegerEntrySize(v);
        return StringEntrySize(value.Length);
    }

    public static int IntegerEntrySize(long v)
    {
        int l = IntegerEncodingSize(v);
        return l + BacklenSize(l);
    }

    public static int StringEntrySize(int length)
    {
        int l = StringHeaderSize(length) + length;
        return l + BacklenSize(l);
    }

    /// <summary>True when the string is stored as an integer: listpack's lpStringToInt64 (= string2ll).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryAsInteger(ReadOnlySpan<byte> value, out long v)
    {
        v = 0;
        if (value.Length == 0 || value.Length > 20) return false;
        byte c = value[0];
        if (c != '-' && (c < '0' || c > '9')) return false;
        return NumberParser.TryParseLong(value, out v);
    }

    private static int IntegerEncodingSize(long v)
    {
        if (v >= 0 && v <= 127) return 1;
        if (v >= -4096 && v <= 4095) return 2;
        if (v >= short.MinValue && v <= short.MaxValue) return 3;
        if (v >= -(1 << 23) && v <= (1 << 23) - 1) return 4;
        if (v >= int.MinValue && v <= int.MaxValue) return 5;
        return 9;
    }

    private static int StringHeaderSize(int length) => length < 64 ? 1 : length < 4096 ? 2 : 5;

    private static int BacklenSize(int l) =>
        l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;

    /// <summary>Writes the entry for <paramref name="value"/> at <paramref name="dest"/>; returns its size.</summary>
    public static int Write(Span<byte> dest, ReadOnlySpan<byte> value)
    {
        if (TryAsInteger(value, out long v)) return WriteInteger(dest, v);
        return WriteString(dest, value);
    }

    public static int WriteString(Span<byte> dest, ReadOnlySpan<byte> value)
    {
        int len = value.Length;
        int h;
        if (len < 64)
        {
            dest[0] = (byte)(0x80 | len);
            h = 1;
        }
        else if (len < 4096)
        {
            dest[0] = (byte)(0xE0 | (len >> 8));
            dest[1] = (byte)len;
            h = 2;
        }
        else
        {
            dest[0] = 0xF0;
            BinaryPrimitives.WriteInt32LittleEndian(dest.Slice(1), len);
            h = 5;
        }
        value.CopyTo(dest.Slice(h));
        int l = h + len;
        return l + WriteBacklen(dest.Slice(l), l);
    }

    public static int WriteInteger(Span<byte> dest, long v)
    {
        int l;
        if (v >= 0 && v <= 127)
        {
            dest[0] = (byte)v;
            l = 1;
        }
        else if (v >= -4096 && v <= 4095)
        {
            int u = (int)v & 0x1FFF;
            dest[0] = (byte)(0xC0 | (u >> 8));
            dest[1] = (byte)u;
            l = 2;
        }
        else if (v >= short.MinValue && v <= short.MaxValue)
        {
            dest[0] = 0xF1;
            BinaryPrimitives.WriteInt16LittleEndian(dest.Slice(1), (short)v);
            l = 3;
        }
        else if (v >= -(1 << 23) && v <= (1 << 23) - 1)
        {
            dest[0] = 0xF2;
            int u = (int)v;
            dest[1] = (byte)u;
            dest[2] = (byte)(u >> 8);
            dest[3] = (byte)(u >> 16);
            l = 4;
        }
        else if (v >= int.MinValue && v <= int.MaxValue)
        {
            dest[0] = 0xF3;
            BinaryPrimitives.WriteInt32LittleEndian(dest.Slice(1), (int)v);
            l = 5;
        }
        else
        {
            dest[0] = 0xF4;
            BinaryPrimitives.WriteInt64LittleEndian(dest.Slice(1), v);
            l = 9;
        }
        return l + WriteBacklen(dest.Slice(l), l);
    }

    private static int WriteBacklen(Span<byte> dest, int l)
    {
        int n = BacklenSize(l);
        // Most significant group first; every byte but the first carries the continuation bit, so
        // a reader starting at the last byte knows when to stop.
        for (int i = n - 1; i >= 0; i--)
        {
            int shift = 7 * (n - 1 - i);
            byte b = (byte)((l >> shift) & 127);
            if (i != 0) b |= 128;
            dest[i] = b;
        }
        return n;
    }

    /// <summary>Size of the encoding+payload part of the entry starting at <paramref name="pos"/>.</summary>
    private static int EncodedLength(byte[] buf, int pos)
    {
        byte tag = buf[pos];
        if (tag < 0x80) return 1;
        if (tag < 0xC0) return 1 + (tag & 0x3F);
        if (tag < 0xE0) return 2;
        if (tag < 0xF0) return 2 + (((tag & 0x0F) << 8) | buf[pos + 1]);
        return tag switch
        {
            0xF0 => 5 + BinaryPrimitives.ReadInt32LittleEndian(buf.AsSpan(pos + 1)),
            0xF1 => 3,
            0xF2 => 4,
            0xF3 => 5,
            0xF4 => 9,
            _ => throw new InvalidDataException("corrupt packed entry"),
        };
    }

    /// <summary>Total size (including backlen) of the entry starting at <paramref name="pos"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int EntryLength(byte[] buf, int pos)
    {
        int l = EncodedLength(buf, pos);
        return l + BacklenSize(l);
    }

    /// <summary>Start of the entry that ends just before <paramref name="end"/>.</summary>
    public static int PreviousStart(byte[] buf, int end)
    {
        int p = end - 1;
        int l = 0, shift = 0;
        while (true)
        {
            byte b = buf[p];
            l |= (b & 127) << shift;
            if ((b & 128) == 0) break;
            shift += 7;
            p--;
        }
        return p - l;
    }

    /// <summary>Decodes the entry at <paramref name="pos"/>.</summary>
    public static PackedValue Read(byte[] buf, int pos)
    {
        byte tag = buf[pos];
        if (tag < 0x80) return new PackedValue(tag);
        if (tag < 0xC0) return new PackedValue(buf, pos + 1, tag & 0x3F);
        if (tag < 0xE0)
        {
            int u = ((tag & 0x1F) << 8) | buf[pos + 1];
            return new PackedValue((u << 19) >> 19);
        }
        if (tag < 0xF0) return new PackedValue(buf, pos + 2, ((tag & 0x0F) << 8) | buf[pos + 1]);
        var s = buf.AsSpan(pos + 1);
        return tag switch
        {
            0xF0 => new PackedValue(buf, pos + 5, BinaryPrimitives.ReadInt32LittleEndian(s)),
            0xF1 => new PackedValue(BinaryPrimitives.ReadInt16LittleEndian(s)),
            0xF2 => new PackedValue(((s[0] | (s[1] << 8) | (s[2] << 16)) << 8) >> 8),
            0xF3 => new PackedValue(BinaryPrimitives.ReadInt32LittleEndian(s)),
            0xF4 => new PackedValue(BinaryPrimitives.ReadInt64LittleEndian(s)),
            _ => throw new InvalidDataException("corrupt packed entry"),
        };
    }

    /// <summary>Number of decimal characters of <paramref name="v"/> including a minus sign (Valkey's sdigits10).</summary>
    public static int Digits10(long v)
    {
        if (v == long.MinValue) return 20;
        int n = v < 0 ? 1 : 0;
        ulong u = v < 0 ? (ulong)(-v) : (ulong)v;
        do
        {
            n++;
            u /= 10;
        } while (u != 0);
        return n;
    }
}

/// <summary>
/// One decoded packed entry: either an integer or a slice of the node's buffer. Valid until the
/// collection it came from is modified.
/// </summary>
public readonly struct PackedValue
{
    private readonly byte[]? _buffer;
    private readonly int _offset;
    private readonly int _length;
    public readonly long Integer;

    public PackedValue(long integer)
    {
        _buffer = null;
        _offset = 0;
        _length = 0;
        Integer = integer;
    }

    public PackedValue(byte[] buffer, int offset, int length)
    {
        _buffer = buffer;
        _offset = offset;
        _length = length;
        Integer = 0;
    }

    public bool IsInteger => _buffer is null;

    /// <summary>The string bytes (only for non-integer entries).</summary>
    public ReadOnlySpan<byte> Span => _buffer.AsSpan(_offset, _length);

    /// <summary>Length of the value's string form.</summary>
    public int TextLength => _buffer is null ? Listpack.Digits10(Integer) : _length;

    /// <summary>The value as bytes: the stored string, or the integer formatted into <paramref name="scratch"/> (24 bytes).</summary>
    public ReadOnlySpan<byte> AsSpan(Span<byte> scratch)
    {
        if (_buffer is not null) return Span;
        int n = NumberFormat.FormatLong(Integer, scratch);
        return scratch.Slice(0, n);
    }

    public byte[] ToArray()
    {
        if (_buffer is not null) return Span.ToArray();
        return NumberFormat.LongToBytes(Integer);
    }

    public void WriteBulk(Protocol.ReplyWriter w)
    {
        if (_buffer is null) w.WriteBulk(Integer);
        else w.WriteBulk(Span);
    }

    public bool Matches(in PackedKey key) =>
        _buffer is null ? key.IsInteger && key.Integer == Integer : !key.IsInteger && Span.SequenceEqual(key.Bytes);
}

/// <summary>
/// A value to look for in packed entries, with its integer form worked out once (an integer-looking
/// string is always stored as an integer, so it can only equal integer entries).
/// </summary>
public readonly ref struct PackedKey
{
    public readonly ReadOnlySpan<byte> Bytes;
    public readonly bool IsInteger;
    public readonly long Integer;

    public PackedKey(ReadOnlySpan<byte> bytes)
    {
        Bytes = bytes;
        IsInteger = Listpack.TryAsInteger(bytes, out Integer);
    }

    public PackedKey(long integer)
    {
        Bytes = default;
        IsInteger = true;
        Integer = integer;
    }
}
