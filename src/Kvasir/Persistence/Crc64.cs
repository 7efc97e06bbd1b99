using System.Buffers.Binary;

namespace Kvasir.Persistence;

/// <summary>
/// The CRC-64 that RDB files end with: the "Jones" polynomial 0xad93d23594c935a9, bit-reflected,
/// initial value 0 and no final xor (check value of "123456789" is 0xe9c6d914c4b8d9ca). Computed
/// eight bytes at a time with eight 256-entry tables, since a whole snapshot passes through it.
/// </summary>
public static class Crc64
{
    /// <summary>The polynomial in reflected (LSB-first) form.</summary>
    private const ulong ReflectedPoly = 0x95ac9329ac4bc9b5UL;

    private static readonly ulong[][] Tables = BuildTables();

    private static ulong[][] BuildTables()
    {
        var t = new ulong[8][];
        for (int k = 0; k < 8; k++) t[k] = new ulong[256];
        for (int i = 0; i < 256; i++)
        {
            ulong crc = (ulong)i;
            for (int b = 0; b < 8; b++) crc = (crc & 1) != 0 ? (crc >> 1) ^ ReflectedPoly : crc >> 1;
            t[0][i] = crc;
        }
        for (int i = 0; i < 256; i++)
        {
            ulong crc = t[0][i];
            for (int k = 1; k < 8; k++)
            {
                crc = t[0][crc & 0xff] ^ (crc >> 8);
                t[k][i] = crc;
            }
        }
        return t;
    }

    /// <summary>Continues <paramref name="crc"/> over <paramref name="data"/> (start with 0).</summary>
    public static ulong Update(ulong crc, ReadOnlySpan<byte> data)
    {
        var t0 = Tables[0];
        var t1 = Tables[1];
        var t2 = Tables[2];
        var t3 = Tables[3];
        var t4 = Tables[4];
        var t5 = Tables[5];
        var t6 = Tables[6];
        var t7 = Tables[7];
        int i = 0;
        while (data.Length - i >= 8)
        {
            crc ^= BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i, 8));
            crc = t7[crc & 0xff] ^ t6[(crc >> 8) & 0xff] ^ t5[(crc >> 16) & 0xff] ^ t4[(crc >> 24) & 0xff] ^
                  t3[(crc >> 32) & 0xff] ^ t2[(crc >> 40) & 0xff] ^ t1[(crc >> 48) & 0xff] ^ t0[crc >> 56];
            i += 8;
        }
        for (; i < data.Length; i++) crc = t0[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
        return crc;
    }

    public static ulong Compute(ReadOnlySpan<byte> data) => Update(0, data);
}
