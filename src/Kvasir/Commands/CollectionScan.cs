namespace Kvasir.Commands;

/// <summary>
/// What HSCAN and ZSCAN share with Valkey's scanGenericCommand: the cursor syntax, the option
/// parsing (COUNT, MATCH, NOVALUES, NOSCORES) with its errors, and the reply.
/// </summary>
internal static class CollectionScan
{
    public struct Options
    {
        public long Count;
        public byte[]? Pattern;   // null when absent or "*"
        public bool OnlyKeys;     // NOVALUES / NOSCORES
    }

    /// <summary>Valkey's parseScanCursorOrReply (string2ull). Replies "ERR invalid cursor" on failure.</summary>
    public static bool TryParseCursor(CommandContext ctx, ReadOnlySpan<byte> s, out ulong cursor)
    {
        if (TryParseCursor(s, out cursor)) return true;
        ctx.Error("ERR invalid cursor");
        return false;
    }

    private static bool TryParseCursor(ReadOnlySpan<byte> s, out ulong cursor)
    {
        cursor = 0;
        if (Types.NumberParser.TryParseLong(s, out long l))
        {
            if (l < 0) return false;
            cursor = (ulong)l;
            return true;
        }
        // strtoull fallback: blanks, a sign, decimal digits, nothing after them, no overflow.
        if (s.IndexOf((byte)0) >= 0) s = s.Slice(0, s.IndexOf((byte)0));
        int i = 0;
        while (i < s.Length && Types.CFloat.IsCSpace(s[i])) i++;
        bool neg = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            neg = s[i] == '-';
            i++;
        }
        if (i >= s.Length) return false;
        ulong v = 0;
        for (; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9) return false;
            if (v > (ulong.MaxValue - d) / 10) return false;
            v = v * 10 + d;
        }
        cursor = neg ? 0 - v : v;
        return true;
    }

    /// <summary>Parses the options after the cursor; replies the error and returns false when they are invalid.</summary>
    public static bool TryParseOptions(CommandContext ctx, int start, bool isHash, out Options options)
    {
        options = new Options { Count = 10 };
        var args = ctx.Args;
        int i = start;
        while (i < args.Count)
        {
            int left = args.Count - i;
            if (args.Is(i, "COUNT"u8) && left >= 2)
            {
                if (!Types.NumberParser.TryParseLong(args[i + 1], out long count))
                {
                    ctx.NotInteger();
                    return false;
                }
                if (count < 1)
                {
                    ctx.SyntaxError();
                    return false;
                }
                options.Count = count;
                i += 2;
            }
            else if (args.Is(i, "MATCH"u8) && left >= 2)
            {
                var pattern = args[i + 1];
                options.Pattern = pattern.Length == 1 && pattern[0] == '*' ? null : pattern.ToArray();
                i += 2;
            }
            else if (args.Is(i, "NOVALUES"u8))
            {
                if (!isHash)
                {
                    ctx.Error("ERR NOVALUES option can only be used in HSCAN");
                    return false;
                }
                options.OnlyKeys = true;
                i++;
            }
            else if (args.Is(i, "NOSCORES"u8))
            {
                if (isHash)
                {
                    ctx.Error("ERR NOSCORES option can only be used in ZSCAN");
                    return false;
                }
                options.OnlyKeys = true;
                i++;
            }
            else
            {
                ctx.SyntaxError();
                return false;
            }
        }
        return true;
    }

    /// <summary>Writes the reply header: the next cursor as a bulk string and the array of <paramref name="items"/>.</summary>
    public static void WriteReply(CommandContext ctx, ulong cursor, List<byte[]> items)
    {
        Span<byte> text = stackalloc byte[24];
        System.Buffers.Text.Utf8Formatter.TryFormat(cursor, text, out int n);
        ctx.Reply.WriteArray(2);
        ctx.Reply.WriteBulk(text.Slice(0, n));
        ctx.Reply.WriteArray(items.Count);
        foreach (var item in items) ctx.Reply.WriteBulk(item);
    }

    /// <summary>The empty reply of a scan over a missing key: cursor "0" and no elements.</summary>
    public static void WriteEmpty(CommandContext ctx)
    {
        ctx.Reply.WriteArray(2);
        ctx.Reply.WriteBulk("0"u8);
        ctx.Reply.WriteArray(0);
    }
}
