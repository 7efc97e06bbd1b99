namespace Kvasir.Types;

/// <summary>
/// Glob-style matching with exactly the semantics of Valkey's <c>stringmatchlen</c>, used by KEYS,
/// SCAN/HSCAN/SSCAN/ZSCAN MATCH, CONFIG GET, PSUBSCRIBE, ACL key and channel patterns:
/// <list type="bullet">
/// <item><c>*</c> any run of bytes, <c>?</c> any one byte</item>
/// <item><c>[abc]</c>, <c>[^abc]</c>, <c>[a-z]</c> (reversed ranges are accepted, <c>\</c> escapes
/// inside a class), an unterminated class ends at the end of the pattern</item>
/// <item><c>\x</c> matches <c>x</c> literally; a trailing backslash matches a backslash</item>
/// </list>
/// Bytes are compared as C <c>char</c>s, which are signed on the platforms Valkey ships for, so a
/// range with bytes above 0x7F behaves as it does there. Case folding is ASCII-only (the C locale).
/// Recursion deeper than 1000 levels fails the match, and a failed tail match stops earlier stars
/// from retrying longer prefixes, as in Valkey; both keep hostile patterns from running for long.
/// </summary>
public static class GlobPattern
{
    private const int MaxNesting = 1000;

    public static bool Match(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text, bool noCase = false)
    {
        bool skipLongerMatches = false;
        return MatchFrom(pattern, text, noCase, ref skipLongerMatches, 0);
    }

    public static bool Match(string pattern, string text, bool noCase = false) =>
        Match(System.Text.Encoding.UTF8.GetBytes(pattern), System.Text.Encoding.UTF8.GetBytes(text), noCase);

    /// <summary>True when a pattern is exactly "*", which every caller treats as "no filter".</summary>
    public static bool MatchesEverything(ReadOnlySpan<byte> pattern) => pattern.Length == 1 && pattern[0] == (byte)'*';

    // The C code reads one byte past the end of the pattern (the NUL of the sds) in a few places;
    // this helper gives the same answer for those reads.
    private static byte At(ReadOnlySpan<byte> s, int i) => (uint)i < (uint)s.Length ? s[i] : (byte)0;

    // glibc's tolower in the C locale, applied to a signed char: ASCII letters fold, -1 is EOF and
    // stays, other negative values come back as their unsigned byte (which matters inside ranges).
    private static int Lower(int c) => c switch
    {
        >= 'A' and <= 'Z' => c + 32,
        < -1 => c + 256,
        _ => c,
    };

    private static bool MatchFrom(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> text, bool noCase,
        ref bool skipLongerMatches, int nesting)
    {
        if (nesting > MaxNesting) return false;
        int p = 0, s = 0;
        int plen = pattern.Length, slen = text.Length;

        while (plen > 0 && slen > 0)
        {
            switch (pattern[p])
            {
                case (byte)'*':
                    while (plen > 1 && pattern[p + 1] == (byte)'*')
                    {
                        p++;
                        plen--;
                    }
                    if (plen == 1) return true;
                    while (slen > 0)
                    {
                        if (MatchFrom(pattern.Slice(p + 1, plen - 1), text.Slice(s, slen), noCase, ref skipLongerMatches, nesting + 1))
                            return true;
                        if (skipLongerMatches) return false;
                        s++;
                        slen--;
                    }
                    // Nothing after this star matches anywhere in the rest of the text, so an earlier
                    // star consuming more could not help either.
                    skipLongerMatches = true;
                    return false;

                case (byte)'?':
                    s++;
                    slen--;
                    break;

                case (byte)'[':
                {
                    p++;
                    plen--;
                    bool negate = At(pattern, p) == (byte)'^';
                    if (negate)
                    {
                        p++;
                        plen--;
                    }
                    bool match = false;
                    byte c = text[s];
                    while (true)
                    {
                        byte pc = At(pattern, p);
                        if (pc == (byte)'\\' && plen >= 2)
                        {
                            p++;
                            plen--;
                            if (pattern[p] == c) match = true;
                        }
                        else if (pc == (byte)']')
                        {
                            break;
                        }
                        else if (plen == 0)
                        {
                            p--;
                            plen++;
                            break;
                        }
                        else if (plen >= 3 && pattern[p + 1] == (byte)'-')
                        {
                            int start = (sbyte)pattern[p];
                            int end = (sbyte)pattern[p + 2];
                            int ch = (sbyte)c;
                            if (start > end) (start, end) = (end, start);
                            if (noCase)
                            {
                                start = Lower(start);
                                end = Lower(end);
                                ch = Lower(ch);
                            }
                            p += 2;
                            plen -= 2;
                            if (ch >= start && ch <= end) match = true;
                        }
                        else if (noCase ? Lower(pc) == Lower(c) : pc == c)
                        {
                            match = true;
                        }
                        p++;
                        plen--;
                    }
                    if (negate) match = !match;
                    if (!match) return false;
                    s++;
                    slen--;
                    break;
                }

                case (byte)'\\':
                    if (plen >= 2)
                    {
                        p++;
                        plen--;
                    }
                    if (!EqualByte(pattern[p], text[s], noCase)) return false;
                    s++;
                    slen--;
                    break;

                default:
                    if (!EqualByte(pattern[p], text[s], noCase)) return false;
                    s++;
                    slen--;
                    break;
            }
            p++;
            plen--;
            if (slen == 0)
            {
                while (At(pattern, p) == (byte)'*' && plen > 0)
                {
                    p++;
                    plen--;
                }
                break;
            }
        }
        return plen == 0 && slen == 0;
    }

    private static bool EqualByte(byte a, byte b, bool noCase) => noCase ? Lower(a) == Lower(b) : a == b;
}
