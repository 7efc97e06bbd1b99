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
/// The compressor is a single-probe hash of 3-byte prefixes; it produces valid LZF, not byte-identical
/// output to liblzf (which the format does not require).
/// </summary>
public static class Lzf
{
    private const int MaxLiteral = 32;
    private const int MaxOffset = 1 << 13;
    private const int MaxMatch = 264;        // (7 + 255) + 2
    private const int HashLog = 16;

    // One table per thread, never cleared: an entry is "position + base", and each call raises base
    // past every position it stored, so older entries read as empty without a 256 KB clear per string.
    [ThreadStatic] private static int[]? t_table;
    [ThreadStatic] private static int t_base;

    /// <summary>
    /// Compresses <paramref name="input"/> into <paramref name="output"/>. Returns the compressed
    /// length, or 0 when the result does not fit in <paramref name="output"/> (the caller then
    /// stores the data uncompressed, as RDB writers do).
    /// </summary>
    public static int Compress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        int len = input.Length;
        if (len == 0 || output.Length < 2) return 0;

        var table = t_table ??= new int[1 << HashLog];
        if (t_base > int.MaxValue - len - 2)
        {
            Array.Clear(table);
            t_base = 0;
        }
        int bias = t_base;          // entries at or below it belong to earlier calls
        t_base += len + 1;
        const int shift = 32 - HashLog;

        int ip = 0, op = 1, litPos = 0, lit = 0;
        int outLen = output.Length;
        while (ip < len - 2)
        {
            int h = (int)(((uint)((input[ip] << 16) | (input[ip + 1] << 8) | input[ip + 2]) * 2654435761u) >> shift);
            int candidate = table[h] - bias - 1;
            table[h] = bias + ip + 1;
            int off = ip - candidate - 1;
            if (candidate >= 0 && off < MaxOffset &&
                input[candidate] == input[ip] && input[candidate + 1] == input[ip + 1] && input[candidate + 2] == input[ip + 2])
            {
                int max = Math.Min(MaxMatch, len - ip);
                int l = 3;
                while (l < max && input[candidate + l] == input[ip + l]) l++;

                // Close the pending literal run, or drop its reserved control byte.
                if (lit > 0) output[litPos] = (byte)(lit - 1);
                else op--;

                int enc = l - 2;
                if (op + (enc >= 7 ? 3 : 2) + 1 > outLen) return 0;
                if (enc < 7) output[op++] = (byte)((enc << 5) | (off >> 8));
                else
                {
                    output[op++] = (byte)((7 << 5) | (off >> 8));
                    output[op++] = (byte)(enc - 7);
                }
                output[op++] = (byte)off;
                litPos = op++;
                lit = 0;

                // Index the positions inside the match so later repeats find them.
                int end = ip + l;
                for (int p = ip + 1; p < end && p < len - 2; p++)
                {
                    int hp = (int)(((uint)((input[p] << 16) | (input[p + 1] << 8) | input[p + 2]) * 2654435761u) >> shift);
                    table[hp] = bias + p + 1;
                }
                ip = end;
                continue;
            }

            if (op >= outLen) return 0;
            output[op++] = input[ip++];
            if (++lit == MaxLiteral)
            {
                output[litPos] = MaxLiteral - 1;
                if (op >= outLen) return 0;
                litPos = op++;
                lit = 0;
            }
        }
        while (ip < len)
        {
            if (op >= outLen) return 0;
            output[op++] = input[ip++];
            if (++lit == MaxLiteral)
            {
                output[litPos] = MaxLiteral - 1;
                if (ip == len)
                {
                    lit = -1; // the run ended exactly at the input's end: no new run was opened
                    break;
                }
                if (op >= outLen) return 0;
                litPos = op++;
                lit = 0;
            }
        }
        if (lit > 0) output[litPos] = (byte)(lit - 1);
        else if (lit == 0) op--;
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
