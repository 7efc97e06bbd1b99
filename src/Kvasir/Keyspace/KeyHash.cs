using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Kvasir.Keyspace;

/// <summary>
/// Seeded 64-bit hashing of keys (a wyhash-style multiply-fold). The seed is random per process so
/// that clients cannot craft colliding keys ahead of time (hash flooding), as Valkey's SipHash seed.
/// </summary>
public static class KeyHash
{
    private static readonly ulong Seed = SecureRandom.NextUInt64();
    private const ulong P0 = 0xa0761d6478bd642fUL, P1 = 0xe7037ed1a0b428dbUL, P2 = 0x8ebc6af09c88c6e3UL;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mum(ulong a, ulong b)
    {
        ulong hi = Math.BigMul(a, b, out ulong lo);
        return hi ^ lo;
    }

    public static ulong Hash64(ReadOnlySpan<byte> data)
    {
        ulong seed = Seed ^ P0;
        int len = data.Length;
        ulong a, b;
        if (len <= 16)
        {
            if (len >= 4)
            {
                a = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(data.Slice((len >> 3) << 2));
                b = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(len - 4)) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(len - 4 - ((len >> 3) << 2)));
            }
            else if (len > 0)
            {
                a = ((ulong)data[0] << 16) | ((ulong)data[len >> 1] << 8) | data[len - 1];
                b = 0;
            }
            else
            {
                a = b = 0;
            }
        }
        else
        {
            int i = 0;
            while (len - i > 16)
            {
                seed = Mum(BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i)) ^ P1, BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i + 8)) ^ seed);
                i += 16;
            }
            a = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(len - 16));
            b = BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(len - 8));
        }
        return Mum(P1 ^ (ulong)len, Mum(a ^ P1, b ^ seed) ^ P2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Hash(ReadOnlySpan<byte> data) => (int)Hash64(data);
}
