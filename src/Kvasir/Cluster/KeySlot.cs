using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Kvasir.Cluster;

/// <summary>
/// The hash slot of a key: CRC16 (XMODEM: polynomial 0x1021, no reflection, initial value 0) of
/// the key, or of its hash tag (the part between the first '{' and the next '}' when that part is
/// not empty), modulo 16384. Keys sharing a tag share a slot, which is what lets a multi-key
/// command or a transaction work on a cluster.
/// </summary>
public static class KeySlot
{
    public const int Count = 16384;

    private static readonly ushort[] Table = BuildTable();

    private static ushort[] BuildTable()
    {
        var table = new ushort[256];
        for (int i = 0; i < 256; i++)
        {
            int crc = i << 8;
            for (int bit = 0; bit < 8; bit++)
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            table[i] = (ushort)crc;
        }
        return table;
    }

    public static ushort Crc16(ReadOnlySpan<byte> data)
    {
        uint crc = 0;
        // The index is masked to the table's 256 entries: no bounds check needed.
        ref ushort table = ref MemoryMarshal.GetArrayDataReference(Table);
        foreach (byte b in data) crc = (crc << 8) ^ Unsafe.Add(ref table, (int)(((crc >> 8) ^ b) & 0xFF));
        return (ushort)crc;
    }

    /// <summary>The slot of <paramref name="key"/> (Valkey's keyHashSlot).</summary>
    /// <remarks>Not inlined: routing runs it once per command from a large method, where the loop
    /// would lose its registers to the caller's locals.</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static int Of(ReadOnlySpan<byte> key)
    {
        int open = key.IndexOf((byte)'{');
        if (open >= 0)
        {
            int close = key[(open + 1)..].IndexOf((byte)'}');
            if (close > 0) return Crc16(key.Slice(open + 1, close)) & (Count - 1);
        }
        return Crc16(key) & (Count - 1);
    }

    /// <summary>
    /// The one slot every key matching a glob pattern must hash to, or -1 when matching keys may be
    /// in any slot (a wildcard or escape before the hash tag closes), as Valkey's patternHashSlot.
    /// </summary>
    public static int OfPattern(ReadOnlySpan<byte> pattern)
    {
        int open = -1;
        for (int i = 0; i < pattern.Length; i++)
        {
            byte c = pattern[i];
            if (c is (byte)'*' or (byte)'?' or (byte)'[' or (byte)'\\') return -1;
            if (open == -1 && c == '{') open = i;
            else if (open >= 0 && c == '}')
            {
                if (i == open + 1) open = -2; // "{}": the whole key is hashed
                else return Crc16(pattern.Slice(open + 1, i - open - 1)) & (Count - 1);
            }
        }
        return Crc16(pattern) & (Count - 1);
    }
}
