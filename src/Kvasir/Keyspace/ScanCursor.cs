namespace Kvasir.Keyspace;

/// <summary>
/// Valkey's SCAN cursor over a power-of-two bucket array: the bucket index is incremented in its
/// reversed bits, so every item present for the whole scan is visited at least once even when the
/// table grows or shrinks between calls.
/// </summary>
public static class ScanCursor
{
    /// <summary>The cursor after <paramref name="cursor"/> for a table of <paramref name="mask"/> + 1 buckets (0 when done).</summary>
    public static ulong Next(ulong cursor, ulong mask)
    {
        cursor |= ~mask;
        cursor = ReverseBits(cursor);
        cursor++;
        return ReverseBits(cursor);
    }

    private static ulong ReverseBits(ulong v)
    {
        v = ((v >> 1) & 0x5555555555555555UL) | ((v & 0x5555555555555555UL) << 1);
        v = ((v >> 2) & 0x3333333333333333UL) | ((v & 0x3333333333333333UL) << 2);
        v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FUL) | ((v & 0x0F0F0F0F0F0F0F0FUL) << 4);
        v = ((v >> 8) & 0x00FF00FF00FF00FFUL) | ((v & 0x00FF00FF00FF00FFUL) << 8);
        v = ((v >> 16) & 0x0000FFFF0000FFFFUL) | ((v & 0x0000FFFF0000FFFFUL) << 16);
        return (v >> 32) | (v << 32);
    }
}
