using System.Globalization;
using System.Text;

namespace Kvasir.Config;

/// <summary>Parsing and formatting of config values the way Valkey's config.c does.</summary>
public static class ConfigValues
{
    public static bool TryParseBool(string s, out bool value)
    {
        if (string.Equals(s, "yes", StringComparison.OrdinalIgnoreCase)) { value = true; return true; }
        if (string.Equals(s, "no", StringComparison.OrdinalIgnoreCase)) { value = false; return true; }
        value = false;
        return false;
    }

    public static string FormatBool(bool v) => v ? "yes" : "no";

    /// <summary>
    /// Memory amounts as Valkey's memtoull reads them: unsigned digits optionally followed by a unit,
    /// b, k (1000), kb (1024), m, mb, g, gb, case-insensitive. Signs, spaces and fractions are refused.
    /// As in Valkey, a unit without digits ("mb") reads as 0.
    /// </summary>
    public static bool TryParseMemory(string s, out long value)
    {
        value = 0;
        int digits = 0;
        while (digits < s.Length && s[digits] >= '0' && s[digits] <= '9') digits++;
        string unit = s[digits..];
        long mul;
        switch (unit.ToLowerInvariant())
        {
            case "": case "b": mul = 1; break;
            case "k": mul = 1000; break;
            case "kb": mul = 1024; break;
            case "m": mul = 1000 * 1000; break;
            case "mb": mul = 1024 * 1024; break;
            case "g": mul = 1000L * 1000 * 1000; break;
            case "gb": mul = 1024L * 1024 * 1024; break;
            default: return false;
        }
        if (digits == 0) return true;
        if (!ulong.TryParse(s.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out ulong n)) return false;
        if (n > long.MaxValue / (ulong)mul) return false;
        value = (long)n * mul;
        return true;
    }

    /// <summary>Valkey's string2ll: optional '-', no '+', no spaces, no leading zeros.</summary>
    public static bool TryParseLong(string s, out long value)
    {
        value = 0;
        if (s.Length == 0 || s.Length > 20) return false;
        Span<byte> bytes = stackalloc byte[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] > 127) return false;
            bytes[i] = (byte)s[i];
        }
        return Types.NumberParser.TryParseLong(bytes, out value);
    }

    /// <summary>strtoll(s, &amp;end, 10) with the whole string consumed, the way a few special
    /// directives (save, oom-score-adj-values, client-output-buffer-limit) read integers: leading
    /// spaces and a '+' sign are accepted, an empty string reads as 0.</summary>
    public static bool TryParseStrtoll(string s, out long value)
    {
        value = 0;
        int i = 0;
        while (i < s.Length && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
        int start = i;
        long v = 0;
        for (; i < s.Length && s[i] >= '0' && s[i] <= '9'; i++)
        {
            int d = s[i] - '0';
            v = v > (long.MaxValue - d) / 10 ? long.MaxValue : v * 10 + d;
        }
        if (i == start) return s.Length == 0;
        if (i != s.Length) return false;
        value = negative ? -v : v;
        return true;
    }

    /// <summary>Formats bytes the way CONFIG GET shows memory values (plain bytes).</summary>
    public static string FormatMemory(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>Memory as CONFIG REWRITE writes it: the largest of gb, mb, kb dividing it exactly.</summary>
    public static string FormatMemoryForRewrite(long bytes)
    {
        const long gb = 1024L * 1024 * 1024, mb = 1024 * 1024, kb = 1024;
        if (bytes != 0 && bytes % gb == 0) return (bytes / gb).ToString(CultureInfo.InvariantCulture) + "gb";
        if (bytes != 0 && bytes % mb == 0) return (bytes / mb).ToString(CultureInfo.InvariantCulture) + "mb";
        if (bytes != 0 && bytes % kb == 0) return (bytes / kb).ToString(CultureInfo.InvariantCulture) + "kb";
        return bytes.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>"1.50M"-style human-readable bytes, as INFO's *_human fields.</summary>
    public static string HumanBytes(double n)
    {
        if (n < 1024) return $"{(long)n}B";
        string[] units = { "K", "M", "G", "T", "P", "E" };
        int i = -1;
        while (n >= 1024 && i < units.Length - 1)
        {
            n /= 1024;
            i++;
        }
        return n.ToString("0.00", CultureInfo.InvariantCulture) + units[i];
    }

    /// <summary>
    /// A quoted, escaped form of a value that <see cref="SplitArgs"/> reads back to the same bytes
    /// (Valkey's sdscatrepr): always in double quotes, \\ \" \n \r \t \a \b escaped, other
    /// non-printable bytes (including every byte of a multi-byte UTF-8 character) as \xHH.
    /// </summary>
    public static string Repr(string value) => Protocol.Repr.Quote(value);

    /// <summary>Splits a config-file line into arguments with Valkey's quoting rules (sdssplitargs);
    /// null when the quotes are unbalanced.</summary>
    public static List<string>? SplitArgs(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line);
        var args = new Protocol.CommandArgs();
        args.Reset(bytes);
        if (!Protocol.InlineSplitter.Split(bytes, 0, bytes.Length, args)) return null;
        var list = new List<string>(args.Count);
        for (int i = 0; i < args.Count; i++) list.Add(args.ToString(i));
        return list;
    }

    /// <summary>
    /// Splits a CONFIG SET value of a multi-argument parameter the way Valkey does: on every single
    /// space, without quoting, so "a  b" has an empty middle argument and "" has none.
    /// </summary>
    public static string[] SplitOnSpaces(string value) =>
        value.Length == 0 ? Array.Empty<string>() : value.Split(' ');

    /// <summary>printf("%f") of a double with trailing zeros (and a bare '.') removed, as Valkey's
    /// trimDoubleString formats latency percentiles.</summary>
    public static string FormatTrimmedDouble(double d)
    {
        string s = d.ToString("F6", CultureInfo.InvariantCulture);
        if (s.Contains('.'))
        {
            s = s.TrimEnd('0');
            if (s.EndsWith('.')) s = s[..^1];
        }
        return s;
    }
}
