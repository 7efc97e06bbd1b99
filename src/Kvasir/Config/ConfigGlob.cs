namespace Kvasir.Config;

/// <summary>
/// Glob matching with the semantics of Valkey's stringmatchlen (*, ?, [abc], [^a-z], backslash
/// escapes, unterminated brackets), used by CONFIG GET patterns and config-file include patterns.
/// Kept private to the config code until the shared Types/GlobPattern.cs is merged.
/// </summary>
internal static class ConfigGlob
{
    public static bool HasWildcards(string s) => s.AsSpan().IndexOfAny("*?[") >= 0;

    public static bool Match(string pattern, string text, bool ignoreCase)
    {
        bool skipLonger = false;
        return Match(pattern.AsSpan(), text.AsSpan(), ignoreCase, ref skipLonger, 0);
    }

    private static char Fold(char c, bool ignoreCase) => ignoreCase && c < 128 ? char.ToLowerInvariant(c) : c;

    private static bool Match(ReadOnlySpan<char> p, ReadOnlySpan<char> s, bool nocase, ref bool skipLonger, int nesting)
    {
        if (nesting > 1000) return false;
        while (p.Length > 0 && s.Length > 0)
        {
            switch (p[0])
            {
                case '*':
                    while (p.Length > 1 && p[1] == '*') p = p[1..];
                    if (p.Length == 1) return true;
                    while (s.Length > 0)
                    {
                        if (Match(p[1..], s, nocase, ref skipLonger, nesting + 1)) return true;
                        // Nothing after this star matched anywhere: longer matches of earlier stars cannot help.
                        if (skipLonger) return false;
                        s = s[1..];
                    }
                    skipLonger = true;
                    return false;
                case '?':
                    s = s[1..];
                    break;
                case '[':
                {
                    p = p[1..];
                    bool negate = p.Length > 0 && p[0] == '^';
                    if (negate) p = p[1..];
                    bool match = false;
                    while (true)
                    {
                        if (p.Length >= 2 && p[0] == '\\')
                        {
                            p = p[1..];
                            if (p[0] == s[0]) match = true;
                        }
                        else if (p.Length > 0 && p[0] == ']')
                        {
                            break;
                        }
                        else if (p.Length == 0)
                        {
                            // Unterminated class: the pattern ends here.
                            break;
                        }
                        else if (p.Length >= 3 && p[1] == '-')
                        {
                            char start = p[0], end = p[2], c = s[0];
                            if (start > end) (start, end) = (end, start);
                            if (nocase)
                            {
                                start = Fold(start, true);
                                end = Fold(end, true);
                                c = Fold(c, true);
                            }
                            p = p[2..];
                            if (c >= start && c <= end) match = true;
                        }
                        else if (Fold(p[0], nocase) == Fold(s[0], nocase))
                        {
                            match = true;
                        }
                        p = p[1..];
                    }
                    if (negate) match = !match;
                    if (!match) return false;
                    s = s[1..];
                    break;
                }
                case '\\':
                    if (p.Length >= 2) p = p[1..];
                    if (Fold(p[0], nocase) != Fold(s[0], nocase)) return false;
                    s = s[1..];
                    break;
                default:
                    if (Fold(p[0], nocase) != Fold(s[0], nocase)) return false;
                    s = s[1..];
                    break;
            }
            if (p.Length > 0) p = p[1..];
            if (s.Length == 0)
            {
                while (p.Length > 0 && p[0] == '*') p = p[1..];
                break;
            }
        }
        return p.Length == 0 && s.Length == 0;
    }
}
