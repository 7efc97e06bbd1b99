namespace Kvasir.Persistence;

/// <summary>
/// The LZF format RDB files compress strings with. A stream of chunks, each starting with a control
/// byte <c>c</c>:
/// <list type="bullet">
/// <item><c>c &lt; 32</c>: a literal run of <c>c + 1</c> bytes follows;</item>
/// <item>otherwise a back reference: length <c>(c &gt;&gt; 5) + 2</c>, where a length field of 7
/// means "7 plus the next byte"; then the low 5 bits of <c>c</c> and one more byte give the distance
/// minus one (at most 8192 back).</item>
/// </list>
/// The compressor makes the same choices as liblzf 3.6 as Valkey builds it (HLOG 16, VERY_FAST, its
/// hash of three bytes, its match extension and its literal runs), so a string compresses to the
/// same bytes as in Valkey: RDB files and DUMP payloads are byte for byte the same. (liblzf's hash
/// table starts uninitialised; its stale slots can only point outside the current input, which the
/// position checks reject, so an empty table gives the same result.)
/// </summary>
public static class Lzf
{
    private const int MaxLiteral = 1 << 5;
    private const int MaxOffset = 1 << 13;
    private const int MaxRef = (1 << 8) + (1 << 3);
    private const int HashLog = 16;
    private const int HashSize = 1 << HashLog;

    // One table per thread, never cleared: an entry is "position + base", and each call raises base
    // past every position it stored, so older entries read as empty without a 256 KB clear per string.
    [ThreadStatic] private static int[]? t_table;
    [ThreadStatic] private static int t_base;

    /// <summary>liblzf's IDX for VERY_FAST: only the three bytes in the low 24 bits of the hash matter.</summary>
    private static int Slot(uint h) => (int)(((h >> (3 * 8 - HashLog)) - h * 5) & (HashSize - 1));

    /// <summary>
    /// Compresses <paramref name="input"/> into <paramref name="output"/>. Returns the compressed
    /// length, or 0 when the result does not fit in <paramref name="output"/> (the caller then
    /// stores the data uncompressed, as RDB writers do).
    /// </summary>
    public static int Compress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int inLen = input.Length;
        int outEnd = output.Length;
        if (inLen == 0 || outEnd == 0) return 0;

        var table = t_table ??= new int[HashSize];
        if (t_base > int.MaxValue - inLen - 2)
        {
            Array.Clear(table);
            t_base = 0;
        }
        int bias = t_base;          // entries at or below it belong to earlier calls
        t_base += inLen + 1;

        int ip = 0, op = 0, lit = 0;
        op++; // start run
        int inEnd = inLen;
        uint hval = inLen >= 2 ? (uint)((input[0] << 8) | input[1]) : 0;
        while (ip < inEnd - 2)
        {
            hval = (hval << 8) | input[ip + 2];
            int slot = Slot(hval);
            int stored = table[slot] - bias - 1;
            int rf = stored >= 0 ? stored : -1;
            table[slot] = bias + ip + 1;
            int off;
            if (rf > 0 && (off = ip - rf - 1) >= 0 && off < MaxOffset
                && input[rf + 2] == input[ip + 2] && input[rf] == input[ip] && input[rf + 1] == input[ip + 1])
            {
                int len = 2;
                int maxLen = inEnd - ip - len;
                if (maxLen > MaxRef) maxLen = MaxRef;

                if (op + 3 + 1 >= outEnd && op - (lit == 0 ? 1 : 0) + 3 + 1 >= outEnd) return 0;

                output[op - lit - 1] = (byte)(lit - 1); // stop run
                if (lit == 0) op--;                     // undo run if length is zero

                // liblzf first compares 16 bytes unconditionally when more than 16 may match (which
                // can run past maxLen at the very end of the input), then byte by byte.
                bool stopped = false;
                if (maxLen > 16)
                {
                    for (int k = 0; k < 16; k++)
                    {
                        len++;
                        if (input[rf + len] != input[ip + len])
                        {
                            stopped = true;
                            break;
                        }
                    }
                }
                if (!stopped)
                {
                    do len++;
                    while (len < maxLen && input[rf + len] == input[ip + len]);
                }

                len -= 2; // the length field: octets - 2
                ip++;
                if (len < 7) output[op++] = (byte)((off >> 8) + (len << 5));
                else
                {
                    output[op++] = (byte)((off >> 8) + (7 << 5));
                    output[op++] = (byte)(len - 7);
                }
                output[op++] = (byte)off;
                lit = 0;
                op++; // start run

                ip += len + 1;
                if (ip >= inEnd - 2) break;

                // VERY_FAST: hash the last two positions of the match only.
                ip -= 2;
                hval = (uint)((input[ip] << 8) | input[ip + 1]);
                hval = (hval << 8) | input[ip + 2];
                table[Slot(hval)] = bias + ip + 1;
                ip++;
                hval = (hval << 8) | input[ip + 2];
                table[Slot(hval)] = bias + ip + 1;
                ip++;
            }
            else
            {
                if (op >= outEnd) return 0;
                lit++;
                output[op++] = input[ip++];
                if (lit == MaxLiteral)
                {
                    output[op - lit - 1] = (byte)(lit - 1); // stop run
                    lit = 0;
                    op++; // start run
                }
            }
        }

        if (op + 3 > outEnd) return 0; // at most 3 bytes can be missing here
        while (ip < inEnd)
        {
            lit++;
            output[op++] = input[ip++];
            if (lit == MaxLiteral)
            {
                output[op - lit - 1] = (byte)(lit - 1);
                lit = 0;
                op++;
            }
        }
        output[op - lit - 1] = (byte)(lit - 1); // end run
        if (lit == 0) op--;
        return op;
    }

    /// <summary>
    /// Decompresses <paramref name="input"/> into <paramref name="output"/>. Returns the number of
    /// bytes produced, or -1 when the data is malformed (a reference before the start, a run past the
    /// end of either buffer).
    /// </summary>
    public static int Decompress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int ip = 0, op = 0;
        while (ip < input.Length)
        {
            int ctrl = input[ip++];
            if (ctrl < 32)
            {
                int run = ctrl + 1;
                if (op + run > output.Length || ip + run > input.Length) return -1;
                input.Slice(ip, run).CopyTo(output.Slice(op));
                ip += run;
                op += run;
                continue;
            }
            int length = ctrl >> 5;
            if (length == 7)
            {
                if (ip >= input.Length) return -1;
                length += input[ip++];
            }
            length += 2;
            if (ip >= input.Length) return -1;
            int back = ((ctrl & 0x1f) << 8) + input[ip++] + 1;
            int from = op - back;
            if (from < 0 || op + length > output.Length) return -1;
            // Byte by byte: the source may overlap the bytes being produced (runs of a repeated pattern).
            for (int i = 0; i < length; i++) output[op + i] = output[from + i];
            op += length;
        }
        return op;
    }
}
