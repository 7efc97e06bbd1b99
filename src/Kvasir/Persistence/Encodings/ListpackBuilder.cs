using System.Buffers.Binary;
using Kvasir.Types;

namespace Kvasir.Persistence.Encodings;

/// <summary>
/// Builds a listpack blob by appending elements, encoding them as Valkey's lpAppend does: strings
/// that are canonical 64-bit integers become integer entries (the smallest width that holds them),
/// other strings get the 6, 12 or 32-bit length form. The result is what RDB files carry for
/// HASH_LISTPACK, ZSET_LISTPACK, SET_LISTPACK and QUICKLIST_2 nodes.
/// </summary>
public sealed class ListpackBuilder
{
    private byte[] _buf;
    private int _len;
    private int _count;

    public ListpackBuilder(int capacity = 64)
    {
        _buf = new byte[Math.Max(capacity, ListpackReader.HeaderSize + 16)];
        Reset();
    }

    public int Count => _count;

    /// <summary>Size of the listpack if finished now (header, entries, terminator).</summary>
    public int Bytes => _len + 1;

    public void Reset()
    {
        _len = ListpackReader.HeaderSize;
        _count = 0;
    }

    private Span<byte> Reserve(int n)
    {
        if (_len + n + 1 > _buf.Length)
        {
            long want = Math.Max((long)_buf.Length * 2, (long)_len + n + 1);
            if (want > Array.MaxLength) throw new InvalidOperationException("listpack too large");
            Array.Resize(ref _buf, (int)want);
        }
        var span = _buf.AsSpan(_len, n);
        _len += n;
        return span;
    }

    /// <summary>Bytes an element takes in a listpack (encoding, payload and back-length).</summary>
    public static long EntrySize(ReadOnlySpan<byte> value)
    {
        if (value.Length <= 20 && NumberParser.TryParseLong(value, out long v)) return EntrySize(v);
        long entry = (value.Length < 64 ? 1 : value.Length < 4096 ? 2 : 5) + (long)value.Length;
        return entry + ListpackReader.BacklenSize(entry);
    }

    public static long EntrySize(long v)
    {
        int n = v >= 0 && v <= 127 ? 1
            : v >= -4096 && v <= 4095 ? 2
            : v >= short.MinValue && v <= short.MaxValue ? 3
            : v >= -8388608 && v <= 8388607 ? 4
            : v >= int.MinValue && v <= int.MaxValue ? 5
            : 9;
        return n + 1;
    }

    public void Append(ReadOnlySpan<byte> value)
    {
        if (value.Length <= 20 && NumberParser.TryParseLong(value, out long v))
        {
            AppendInteger(v);
            return;
        }
        int header = value.Length < 64 ? 1 : value.Length < 4096 ? 2 : 5;
        long entry = header + value.Length;
        int back = ListpackReader.BacklenSize(entry);
        var dest = Reserve((int)entry + back);
        if (header == 1) dest[0] = (byte)(0x80 | value.Length);
        else if (header == 2)
        {
            dest[0] = (byte)(0xE0 | (value.Length >> 8));
            dest[1] = (byte)value.Length;
        }
        else
        {
            dest[0] = 0xF0;
            BinaryPrimitives.WriteUInt32LittleEndian(dest.Slice(1), (uint)value.Length);
        }
        value.CopyTo(dest.Slice(header));
        WriteBacklen(dest.Slice((int)entry), entry);
        _count++;
    }

    public void AppendInteger(long v)
    {
        Span<byte> enc = stackalloc byte[9];
        int n;
        if (v >= 0 && v <= 127)
        {
            enc[0] = (byte)v;
            n = 1;
        }
        else if (v >= -4096 && v <= 4095)
        {
            long u = v < 0 ? (1 << 13) + v : v;
            enc[0] = (byte)(0xC0 | (u >> 8));
            enc[1] = (byte)u;
            n = 2;
        }
        else if (v >= short.MinValue && v <= short.MaxValue)
        {
            enc[0] = 0xF1;
            BinaryPrimitives.WriteInt16LittleEndian(enc.Slice(1), (short)v);
            n = 3;
        }
        else if (v >= -8388608 && v <= 8388607)
        {
            long u = v < 0 ? (1 << 24) + v : v;
            enc[0] = 0xF2;
            enc[1] = (byte)u;
            enc[2] = (byte)(u >> 8);
            enc[3] = (byte)(u >> 16);
            n = 4;
        }
        else if (v >= int.MinValue && v <= int.MaxValue)
        {
            enc[0] = 0xF3;
            BinaryPrimitives.WriteInt32LittleEndian(enc.Slice(1), (int)v);
            n = 5;
        }
        else
        {
            enc[0] = 0xF4;
            BinaryPrimitives.WriteInt64LittleEndian(enc.Slice(1), v);
            n = 9;
        }
        var dest = Reserve(n + 1);
        enc.Slice(0, n).CopyTo(dest);
        dest[n] = (byte)n; // entries of up to 127 bytes have a one-byte back-length equal to their size
        _count++;
    }

    public void Append(in PackedElement e)
    {
        if (e.IsInteger) AppendInteger(e.Integer);
        else Append(e.Bytes);
    }

    private static void WriteBacklen(Span<byte> dest, long l)
    {
        switch (dest.Length)
        {
            case 1:
                dest[0] = (byte)l;
                break;
            case 2:
                dest[0] = (byte)(l >> 7);
                dest[1] = (byte)((l & 127) | 128);
                break;
            case 3:
                dest[0] = (byte)(l >> 14);
                dest[1] = (byte)(((l >> 7) & 127) | 128);
                dest[2] = (byte)((l & 127) | 128);
                break;
            case 4:
                dest[0] = (byte)(l >> 21);
                dest[1] = (byte)(((l >> 14) & 127) | 128);
                dest[2] = (byte)(((l >> 7) & 127) | 128);
                dest[3] = (byte)((l & 127) | 128);
                break;
            default:
                dest[0] = (byte)(l >> 28);
                dest[1] = (byte)(((l >> 21) & 127) | 128);
                dest[2] = (byte)(((l >> 14) & 127) | 128);
                dest[3] = (byte)(((l >> 7) & 127) | 128);
                dest[4] = (byte)((l & 127) | 128);
                break;
        }
    }

    /// <summary>Completes the header and terminator and returns the blob (a view of the internal buffer until the next change).</summary>
    public ReadOnlySpan<byte> Finish()
    {
        _buf[_len] = 0xFF;
        int total = _len + 1;
        BinaryPrimitives.WriteUInt32LittleEndian(_buf, (uint)total);
        BinaryPrimitives.WriteUInt16LittleEndian(_buf.AsSpan(4), (ushort)Math.Min(_count, ushort.MaxValue));
        return _buf.AsSpan(0, total);
    }
}
