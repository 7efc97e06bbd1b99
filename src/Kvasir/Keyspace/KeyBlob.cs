using System.Runtime.CompilerServices;
using Kvasir.Types;

namespace Kvasir.Keyspace;

/// <summary>
/// The compact form of a string key: one byte array holding a 4-byte header, the key and the value.
/// <code>
/// [0]     flags: bits 0-3 encoding (int / embstr / raw), bit 4 "has an expire"
/// [1..3]  24-bit LRU clock or LFU (minutes + counter), as Valkey's robj
/// [4..]   key length as a varint, the key bytes, then the value bytes
/// </code>
/// One object per string key instead of key + value + node objects is what keeps a million small
/// keys close to Valkey's memory per key in a managed heap.
/// A small (listpack) hash uses the same layout with the encoding "listpack" and its packed
/// field/value entries as the value (see <see cref="HashValue"/>): it is then a single array too.
/// </summary>
public static class KeyBlob
{
    public const int HeaderSize = 4;
    public const byte VolatileFlag = 0x10;
    private const byte EncodingMask = 0x0F;

    /// <summary>Values up to this length are "embstr", like Valkey's OBJ_ENCODING_EMBSTR_SIZE_LIMIT.</summary>
    public const int EmbstrLimit = 44;

    /// <summary>Bytes of a blob holding <paramref name="keyLength"/> key bytes and <paramref name="valueLength"/> value bytes.</summary>
    public static int SizeFor(int keyLength, int valueLength) => HeaderSize + VarintSize(keyLength) + keyLength + valueLength;

    public static byte[] Create(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, uint lru, bool isVolatile)
    {
        var blob = GC.AllocateUninitializedArray<byte>(SizeFor(key.Length, value.Length));
        Write(blob, key, value, lru, isVolatile);
        return blob;
    }

    /// <summary>Writes a blob into <paramref name="blob"/>, which is exactly <see cref="SizeFor"/> bytes long.</summary>
    public static void Write(Span<byte> blob, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, uint lru, bool isVolatile)
    {
        blob[0] = (byte)((byte)EncodingFor(value) | (isVolatile ? VolatileFlag : 0));
        SetLru(blob, lru);
        int p = HeaderSize + WriteVarint(blob.Slice(HeaderSize), key.Length);
        key.CopyTo(blob.Slice(p));
        value.CopyTo(blob.Slice(p + key.Length));
    }

    /// <summary>Writes into <paramref name="blob"/> the header and key of <paramref name="old"/> with a new value
    /// (<paramref name="blob"/> is <c>KeyEnd(old) + value.Length</c> bytes long).</summary>
    public static void WriteWithValue(Span<byte> blob, ReadOnlySpan<byte> old, ReadOnlySpan<byte> value)
    {
        int keyEnd = KeyEnd(old);
        old.Slice(0, keyEnd).CopyTo(blob);
        value.CopyTo(blob.Slice(keyEnd));
        blob[0] = (byte)((old[0] & ~EncodingMask) | (byte)EncodingFor(value));
    }

    /// <summary>Overwrites the value in place when it has the same length (SET/INCR of a same-size value).</summary>
    public static bool TryOverwrite(Span<byte> blob, ReadOnlySpan<byte> value)
    {
        int keyEnd = KeyEnd(blob);
        if (blob.Length - keyEnd != value.Length) return false;
        value.CopyTo(blob.Slice(keyEnd));
        blob[0] = (byte)((blob[0] & ~EncodingMask) | (byte)EncodingFor(value));
        return true;
    }

    public static ValueEncoding EncodingFor(ReadOnlySpan<byte> value)
    {
        if (value.Length <= 20 && value.Length > 0 && NumberParser.TryParseLong(value, out _)) return ValueEncoding.Int;
        return value.Length <= EmbstrLimit ? ValueEncoding.Embstr : ValueEncoding.Raw;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ReadOnlySpan<byte> Key(ReadOnlySpan<byte> blob)
    {
        int len = blob[HeaderSize];
        if (len < 0x80) return blob.Slice(HeaderSize + 1, len);
        int n = ReadVarint(blob, HeaderSize, out len);
        return blob.Slice(HeaderSize + n, len);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ReadOnlySpan<byte> Value(ReadOnlySpan<byte> blob) => blob.Slice(KeyEnd(blob));

    /// <summary>Where the value bytes begin (after the header and the key).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int KeyEnd(ReadOnlySpan<byte> blob)
    {
        int len = blob[HeaderSize];
        if (len < 0x80) return HeaderSize + 1 + len;
        int n = ReadVarint(blob, HeaderSize, out len);
        return HeaderSize + n + len;
    }

    public static ValueEncoding Encoding(ReadOnlySpan<byte> blob) => (ValueEncoding)(blob[0] & EncodingMask);

    /// <summary>String, or hash for a blob that holds a packed hash.</summary>
    public static DataType Type(ReadOnlySpan<byte> blob) => Encoding(blob) == ValueEncoding.Listpack ? DataType.Hash : DataType.String;

    public static bool IsVolatile(ReadOnlySpan<byte> blob) => (blob[0] & VolatileFlag) != 0;

    public static void SetVolatile(Span<byte> blob, bool value)
    {
        if (value) blob[0] |= VolatileFlag;
        else blob[0] = (byte)(blob[0] & ~VolatileFlag);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint GetLru(ReadOnlySpan<byte> blob) => (uint)(blob[1] | (blob[2] << 8) | (blob[3] << 16));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetLru(Span<byte> blob, uint lru)
    {
        blob[1] = (byte)lru;
        blob[2] = (byte)(lru >> 8);
        blob[3] = (byte)(lru >> 16);
    }

    /// <summary>Bytes the blob occupies on the managed heap (array header included).</summary>
    public static long MemoryUsage(byte[] blob) => 24 + ((blob.Length + 7) & ~7);

    private static int VarintSize(int v)
    {
        int n = 1;
        while (v >= 0x80) { v >>= 7; n++; }
        return n;
    }

    private static int WriteVarint(Span<byte> dest, int v)
    {
        int i = 0;
        while (v >= 0x80)
        {
            dest[i++] = (byte)(v | 0x80);
            v >>= 7;
        }
        dest[i++] = (byte)v;
        return i;
    }

    private static int ReadVarint(ReadOnlySpan<byte> src, int pos, out int value)
    {
        int result = 0, shift = 0, i = pos;
        while (true)
        {
            byte b = src[i++];
            result |= (b & 0x7F) << shift;
            if (b < 0x80) break;
            shift += 7;
        }
        value = result;
        return i - pos;
    }
}
