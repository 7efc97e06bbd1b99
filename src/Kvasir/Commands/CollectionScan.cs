namespace Kvasir.Commands;

/// <summary>
/// What HSCAN and ZSCAN share with Valkey's scanGenericCommand: the cursor syntax, the option
/// parsing (COUNT, MATCH, NOVALUES, NOSCORES) with its errors, and glob matching of MATCH.
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

    /// <summary>
    /// Glob matching with Valkey's stringmatchlen rules: '*', '?', '[...]' with '^' negation, ranges
    /// (either order) and '\' escapes, a lone '\' escaping the next byte. Bytes compare as C's signed
    /// char, and recursion is cut off at depth 1000 like Valkey's protection against abusive patterns.
    /// </summary>
    public static bool GlobMatch(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text, bool noCase = false)
    {
        bool skipLonger = false;
        return Match(pattern, text, noCase, ref skipLonger, 0);
    }

    private static int At(ReadOnlySpan<byte> s, int i) => i < s.Length ? (sbyte)s[i] : 0;

    private static int Lower(int c) => c >= 'A' && c <= 'Z' ? c + 32 : c;

    private static bool Match(ReadOnlySpan<byte> p, ReadOnlySpan<byte> s, bool noCase, ref bool skipLonger, int nesting)
    {
        if (nesting > 1000) return false;
        while (p.Length > 0 && s.Length > 0)
        {
            switch (p[0])
            {
                case (byte)'*':
                    while (p.Length > 1 && p[1] == '*') p = p.Slice(1);
                    if (p.Length == 1) return true;
                    while (s.Length > 0)
                    {
                        if (Match(p.Slice(1), s, noCase, ref skipLonger, nesting + 1)) return true;
                        if (skipLonger) return false;
                        s = s.Slice(1);
                    }
                    skipLonger = true;
                    return false;
                case (byte)'?':
                    s = s.Slice(1);
                    break;
                case (byte)'[':
                {
                    p = p.Slice(1);
                    bool not = At(p, 0) == '^';
                    if (not) p = p.Slice(1);
                    bool match = false;
                    int c0 = (sbyte)s[0];
                    while (true)
                    {
                        if (At(p, 0) == '\\' && p.Length >= 2)
                        {
                            p = p.Slice(1);
                            if (At(p, 0) == c0) match = true;
                        }
                        else if (At(p, 0) == ']')
                        {
                            break;
                        }
                        else if (p.Length == 0)
                        {
                            // Unterminated set: step back so the outer advance lands on the end.
                            p = default;
                            goto setDone;
                        }
                        else if (p.Length >= 3 && p[1] == '-')
                        {
                            int start = At(p, 0), end = At(p, 2), c = c0;
                            if (start > end) (start, end) = (end, start);
                            if (noCase)
                            {
                                start = Lower(start);
                                end = Lower(end);
                                c = Lower(c);
                            }
                            p = p.Slice(2);
                            if (c >= start && c <= end) match = true;
                        }
                        else if (noCase ? Lower(At(p, 0)) == Lower(c0) : At(p, 0) == c0)
                        {
                            match = true;
                        }
                        p = p.Slice(1);
                    }
                    if (not) match = !match;
                    if (!match) return false;
                    s = s.Slice(1);
                    break;
                setDone:
                    if (not) match = !match;
                    if (!match) return false;
                    s = s.Slice(1);
                    if (s.Length == 0) return p.Length == 0;
                    continue;
                }
                case (byte)'\\':
                    if (p.Length >= 2) p = p.Slice(1);
                    goto default;
                default:
                    if (noCase ? Lower((sbyte)p[0]) != Lower((sbyte)s[0]) : p[0] != s[0]) return false;
                    s = s.Slice(1);
                    break;
            }
            p = p.Slice(1);
            if (s.Length == 0)
            {
                while (p.Length > 0 && p[0] == '*') p = p.Slice(1);
                break;
            }
        }
        return p.Length == 0 && s.Length == 0;
    }
}
