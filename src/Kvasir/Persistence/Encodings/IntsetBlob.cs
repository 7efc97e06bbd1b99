using System.Buffers.Binary;

namespace Kvasir.Persistence.Encodings;

/// <summary>
/// The intset blob of RDB_TYPE_SET_INTSET: <c>[width:u32][count:u32]</c> then <c>count</c> sorted,
/// distinct little-endian integers of 2, 4 or 8 bytes each.
/// </summary>
public static class IntsetBlob
{
    public const int HeaderSize = 8;

    /// <summary>
    /// Valkey's intsetValidateIntegrity: a known width, the size matching the count, not empty, and
    /// (when <paramref name="deep"/>) strictly ascending. Returns the count, or -1 when invalid.
    /// </summary>
    public static int Validate(ReadOnlySpan<byte> blob, bool deep = true)
    {
        if (blob.Length < HeaderSize) return -1;
        uint width = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (width != 2 && width != 4 && width != 8) return -1;
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(blob.Slice(4));
        if (HeaderSize + (ulong)count * width != (ulong)blob.Length) return -1;
        if (count == 0) return -1;
        if (deep)
        {
            long prev = Get(blob, 0);
            for (int i = 1; i < count; i++)
            {
                long cur = Get(blob, i);
                if (cur <= prev) return -1;
                prev = cur;
            }
        }
        return (int)count;
    }

    /// <summary>Element <paramref name="index"/> of a validated blob.</summary>
    public static long Get(ReadOnlySpan<byte> blob, int index)
    {
        int width = (int)BinaryPrimitives.ReadUInt32LittleEndian(blob);
        var at = blob.Slice(HeaderSize + index * width);
        return width switch
        {
            2 => BinaryPrimitives.ReadInt16LittleEndian(at),
            4 => BinaryPrimitives.ReadInt32LittleEndian(at),
            _ => BinaryPrimitives.ReadInt64LittleEndian(at),
        };
    }

    /// <summary>Encodes ascending distinct values with the narrowest width that holds them all.</summary>
    public static byte[] Build(ReadOnlySpan<long> ascending)
    {
        int width = 2;
        foreach (long v in ascending)
        {
            if (v < int.MinValue || v > int.MaxValue) { width = 8; break; }
            if (v < short.MinValue || v > short.MaxValue) width = 4;
        }
        var blob = new byte[HeaderSize + ascending.Length * width];
        BinaryPrimitives.WriteUInt32LittleEndian(blob, (uint)width);
        BinaryPrimitives.WriteUInt32LittleEndian(blob.AsSpan(4), (uint)ascending.Length);
        for (int i = 0; i < ascending.Length; i++)
        {
            var at = blob.AsSpan(HeaderSize + i * width);
            switch (width)
            {
                case 2: BinaryPrimitives.WriteInt16LittleEndian(at, (short)ascending[i]); break;
                case 4: BinaryPrimitives.WriteInt32LittleEndian(at, (int)ascending[i]); break;
                default: BinaryPrimitives.WriteInt64LittleEndian(at, ascending[i]); break;
            }
        }
        return blob;
    }
}
