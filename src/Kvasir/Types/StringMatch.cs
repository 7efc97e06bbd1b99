namespace Kvasir.Types;

/// <summary>
/// Glob-style matching with Valkey's exact semantics (stringmatchlen): '*', '?', '[...]' with
/// ranges and '^' negation, '\' escapes, optional ASCII case folding, and the same guards
/// against pathological patterns (nesting limit, no retrying longer '*' matches once the rest
/// of the pattern failed everywhere). Used by KEYS/SCAN MATCH, COMMAND LIST PATTERN, CONFIG GET,
/// PUBSUB CHANNELS and ACL patterns.
/// </summary>
public static class StringMatch
{
    public static bool Match(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> s, bool nocase)
    {
        bool skipLonger = false;
        return MatchImpl(pattern, s, nocase, ref skipLonger, 0);
    }

    public static bool Match(string pattern, string s, bool nocase) =>
        Match(System.Text.Encoding.UTF8.GetBytes(pattern), System.Text.Encoding.UTF8.GetBytes(s), nocase);

    // Valkey works on NUL-terminated buffers and sometimes peeks one byte past the end; reading 0 there keeps that behaviour.
    private static byte At(ReadOnlySpan<byte> span, int i) => (uint)i < (uint)span.Length ? span[i] : (byte)0;

    private static int Lower(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c;

    private static bool MatchImpl(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> str, bool nocase, ref bool skipLonger, int nesting)
    {
        if (nesting > 1000) return false;
        int p = 0, plen = pattern.Length;
        int s = 0, slen = str.Length;

        while (plen > 0 && slen > 0)
        {
            switch (At(pattern, p))
            {
                case (byte)'*':
                    while (plen > 0 && At(pattern, p + 1) == '*')
                    {
                        p++;
                        plen--;
                    }
                    if (plen == 1) return true;
                    while (slen > 0)
                    {
                        if (MatchImpl(pattern.Slice(p + 1, plen - 1), str.Slice(s, slen), nocase, ref skipLonger, nesting + 1))
                            return true;
                        if (skipLonger) return false;
                        s++;
                        slen--;
                    }
                    skipLonger = true;
                    return false;
                case (byte)'?':
                    s++;
                    slen--;
                    break;
                case (byte)'[':
                {
                    p++;
                    plen--;
                    bool not = At(pattern, p) == '^';
                    if (not)
                    {
                        p++;
                        plen--;
                    }
                    bool match = false;
                    while (true)
                    {
                        if (At(pattern, p) == '\\' && plen >= 2)
                        {
                            p++;
                            plen--;
                            if (At(pattern, p) == At(str, s)) match = true;
                        }
                        else if (At(pattern, p) == ']')
                        {
                            break;
                        }
                        else if (plen == 0)
                        {
                            p--;
                            plen++;
                            break;
                        }
                        else if (plen >= 3 && At(pattern, p + 1) == '-')
                        {
                            int start = At(pattern, p), end = At(pattern, p + 2), c = At(str, s);
                            if (start > end) (start, end) = (end, start);
                            if (nocase)
                            {
                                start = Lower(start);
                                end = Lower(end);
                                c = Lower(c);
                            }
                            p += 2;
                            plen -= 2;
                            if (c >= start && c <= end) match = true;
                        }
                        else if (!nocase ? At(pattern, p) == At(str, s) : Lower(At(pattern, p)) == Lower(At(str, s)))
                        {
                            match = true;
                        }
                        p++;
                        plen--;
                    }
                    if (not) match = !match;
                    if (!match) return false;
                    s++;
                    slen--;
                    break;
                }
                default:
                    if (At(pattern, p) == '\\' && plen >= 2)
                    {
                        p++;
                        plen--;
                    }
                    if (!nocase ? At(pattern, p) != At(str, s) : Lower(At(pattern, p)) != Lower(At(str, s))) return false;
                    s++;
                    slen--;
                    break;
            }
            p++;
            plen--;
            if (slen == 0)
            {
                while (At(pattern, p) == '*')
                {
                    p++;
                    plen--;
                }
                break;
            }
        }
        return plen == 0 && slen == 0;
    }
}
