using System.Runtime.CompilerServices;

namespace Kvasir.Types;

/// <summary>
/// The length-prefixed byte strings that packed ("listpack") collections are made of: a varint
/// length (7 bits per byte, low groups first) followed by the bytes. Short strings cost one byte of
/// overhead, which is what lets a small hash or sorted set live in a single array.
/// </summary>
internal static class PackedEntries
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int VarintSize(int v)
    {
        if (v < 0x80) return 1;
        int n = 1;
        while (v >= 0x80) { v >>= 7; n++; }
        return n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteVarint(Span<byte> dest, int v)
    {
        if (v < 0x80)
        {
            dest[0] = (byte)v;
            return 1;
        }
        int i = 0;
        while (v >= 0x80)
        {
            dest[i++] = (byte)(v | 0x80);
            v >>= 7;
        }
        dest[i++] = (byte)v;
        return i;
    }

    /// <summary>Reads a varint at <paramref name="pos"/>; returns the position after it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ReadVarint(ReadOnlySpan<byte> src, int pos, out int value)
    {
        byte b = src[pos++];
        if (b < 0x80)
        {
            value = b;
            return pos;
        }
        int result = b & 0x7F, shift = 7;
        while (true)
        {
            b = src[pos++];
            result |= (b & 0x7F) << shift;
            if (b < 0x80) break;
            shift += 7;
        }
        value = result;
        return pos;
    }

    /// <summary>Size of one entry holding <paramref name="length"/> bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int EntrySize(int length) => VarintSize(length) + length;

    /// <summary>Writes one entry; returns its size.</summary>
    public static int WriteEntry(Span<byte> dest, ReadOnlySpan<byte> data)
    {
        int n = WriteVarint(dest, data.Length);
        data.CopyTo(dest.Slice(n));
        return n + data.Length;
    }

    /// <summary>The entry at <paramref name="pos"/>; <paramref name="next"/> is the position after it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ReadOnlySpan<byte> ReadEntry(ReadOnlySpan<byte> src, int pos, out int next)
    {
        int start = ReadVarint(src, pos, out int len);
        next = start + len;
        return src.Slice(start, len);
    }

    /// <summary>Position after the entry at <paramref name="pos"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Skip(ReadOnlySpan<byte> src, int pos)
    {
        int start = ReadVarint(src, pos, out int len);
        return start + len;
    }

    /// <summary>Bytes a byte array of <paramref name="length"/> occupies on the managed heap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long ArrayBytes(int length) => 24 + ((length + 7L) & ~7L);

    /// <summary>A new array equal to <paramref name="src"/> with [start, end) replaced by <paramref name="insertLength"/> uninitialised bytes.</summary>
    public static byte[] Splice(byte[] src, int start, int end, int insertLength)
    {
        var result = GC.AllocateUninitializedArray<byte>(src.Length - (end - start) + insertLength);
        src.AsSpan(0, start).CopyTo(result);
        src.AsSpan(end).CopyTo(result.AsSpan(start + insertLength));
        return result;
    }
}
