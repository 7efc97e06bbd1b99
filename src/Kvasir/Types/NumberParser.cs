using System.Globalization;
using System.Text;

namespace Kvasir.Types;

/// <summary>Text to number conversions with Valkey's strictness (string2ll, string2ld, getDoubleFromObject).</summary>
public static class NumberParser
{
    /// <summary>
    /// Valkey's string2ll: optional '-', digits, no leading zeros (except "0"), no '+', no spaces,
    /// must fit in a signed 64-bit integer.
    /// </summary>
    public static bool TryParseLong(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        if (s.Length == 0 || s.Length > 20) return false;
        if (s.Length == 1 && s[0] == '0') return true;
        int i = 0;
        bool negative = false;
        if (s[0] == '-')
        {
            negative = true;
            i = 1;
            if (s.Length == 1) return false;
        }
        if (s[i] < '1' || s[i] > '9') return false;
        ulong v = 0;
        for (; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9) return false;
            if (v > (ulong.MaxValue - d) / 10) return false;
            v = v * 10 + d;
        }
        if (negative)
        {
            if (v > (ulong)long.MaxValue + 1) return false;
            value = (long)(0 - v);
        }
        else
        {
            if (v > long.MaxValue) return false;
            value = (long)v;
        }
        return true;
    }

    /// <summary>
    /// Parses a double like Valkey's getDoubleFromObject: strtod syntax (decimal, exponent, "inf",
    /// "infinity", hex floats are not needed by clients), no leading whitespace, no trailing bytes,
    /// and NaN refused.
    /// </summary>
    public static bool TryParseDouble(ReadOnlySpan<byte> s, out double value)
    {
        value = 0;
        if (s.Length == 0 || s.Length > 5000) return false;
        if (IsSpace(s[0]) || IsSpace(s[^1])) return false;
        if (TryParseInfinity(s, out value)) return true;
        Span<char> chars = s.Length <= 256 ? stackalloc char[s.Length] : new char[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            byte c = s[i];
            // Only the characters strtod accepts for a decimal float.
            if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '-' || c == '+')) return false;
            chars[i] = (char)c;
        }
        if (!double.TryParse(chars, NumberStyles.Float, CultureInfo.InvariantCulture, out value)) return false;
        return !double.IsNaN(value);
    }

    private static bool TryParseInfinity(ReadOnlySpan<byte> s, out double value)
    {
        value = 0;
        int i = 0;
        bool neg = false;
        if (s[0] == '-' || s[0] == '+') { neg = s[0] == '-'; i = 1; }
        var rest = s.Slice(i);
        if (Protocol.Ascii.EqualsIgnoreCase(rest, "INF"u8) || Protocol.Ascii.EqualsIgnoreCase(rest, "INFINITY"u8))
        {
            value = neg ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        return false;
    }

    private static bool IsSpace(byte c) => c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';

    public static bool TryParseInt(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        if (!TryParseLong(s, out long l) || l < int.MinValue || l > int.MaxValue) return false;
        value = (int)l;
        return true;
    }

    public static string ToText(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s);
}
