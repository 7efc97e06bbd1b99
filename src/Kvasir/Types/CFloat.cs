using System.Globalization;
using System.Numerics;

namespace Kvasir.Types;

/// <summary>
/// Number text read the way the C library reads it (strtod/strtold), because Valkey's replies depend
/// on those exact rules: leading blanks, hexadecimal floats, "inf"/"infinity"/"nan(...)", partial
/// consumption and ERANGE. <see cref="ScanNumber"/> finds the longest prefix strtod would consume;
/// the conversions then round it to a binary format.
/// </summary>
public static class CFloat
{
    public enum Kind : byte
    {
        /// <summary>No conversion could be performed (strtod returns 0 and consumes nothing).</summary>
        None,
        Decimal,
        Hex,
        Infinity,
        NaN,
    }

    /// <summary>What strtod would consume from the start of a string.</summary>
    public struct Scan
    {
        public Kind Kind;
        public bool Negative;

        /// <summary>Bytes consumed from the start of the input (0 when <see cref="Kind"/> is None).</summary>
        public int End;

        /// <summary>The mantissa text: digits with at most one '.' (hex digits for <see cref="Kind.Hex"/>).</summary>
        public int MantStart, MantEnd;

        /// <summary>The explicit exponent (decimal for Decimal, binary for Hex), clamped to ±1e9.</summary>
        public long Exponent;
    }

    private const long ExponentClamp = 1_000_000_000;

    public static bool IsCSpace(byte c) => c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';

    private static bool IsDigit(byte c) => (uint)(c - '0') <= 9;

    private static int HexValue(byte c)
    {
        if ((uint)(c - '0') <= 9) return c - '0';
        c |= 0x20;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    }

    private static bool MatchWord(ReadOnlySpan<byte> s, int at, ReadOnlySpan<byte> lowerWord)
    {
        if (s.Length - at < lowerWord.Length) return false;
        for (int i = 0; i < lowerWord.Length; i++)
            if ((s[at + i] | 0x20) != lowerWord[i]) return false;
        return true;
    }

    /// <summary>Scans the number strtod would read at the start of <paramref name="s"/> (blanks first).</summary>
    public static Scan ScanNumber(ReadOnlySpan<byte> s)
    {
        var r = new Scan();
        int i = 0;
        while (i < s.Length && IsCSpace(s[i])) i++;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            r.Negative = s[i] == '-';
            i++;
        }
        if (MatchWord(s, i, "inf"u8))
        {
            r.Kind = Kind.Infinity;
            r.End = MatchWord(s, i + 3, "inity"u8) ? i + 8 : i + 3;
            return r;
        }
        if (MatchWord(s, i, "nan"u8))
        {
            r.Kind = Kind.NaN;
            int j = i + 3;
            r.End = j;
            if (j < s.Length && s[j] == '(')
            {
                int k = j + 1;
                while (k < s.Length && (IsDigit(s[k]) || ((s[k] | 0x20) >= 'a' && (s[k] | 0x20) <= 'z') || s[k] == '_')) k++;
                if (k < s.Length && s[k] == ')') r.End = k + 1;
            }
            return r;
        }
        if (i + 1 < s.Length && s[i] == '0' && (s[i + 1] | 0x20) == 'x')
        {
            int j = i + 2;
            int start = j;
            int digits = 0;
            while (j < s.Length && HexValue(s[j]) >= 0) { j++; digits++; }
            if (j < s.Length && s[j] == '.')
            {
                j++;
                while (j < s.Length && HexValue(s[j]) >= 0) { j++; digits++; }
            }
            if (digits > 0)
            {
                r.Kind = Kind.Hex;
                r.MantStart = start;
                r.MantEnd = j;
                r.End = ScanExponent(s, j, (byte)'p', out r.Exponent);
                return r;
            }
            // "0x" without hex digits: only the "0" is a number.
            r.Kind = Kind.Decimal;
            r.MantStart = i;
            r.MantEnd = i + 1;
            r.End = i + 1;
            return r;
        }
        {
            int j = i;
            int digits = 0;
            while (j < s.Length && IsDigit(s[j])) { j++; digits++; }
            if (j < s.Length && s[j] == '.')
            {
                j++;
                while (j < s.Length && IsDigit(s[j])) { j++; digits++; }
            }
            if (digits == 0) return new Scan();
            r.Kind = Kind.Decimal;
            r.MantStart = i;
            r.MantEnd = j;
            r.End = ScanExponent(s, j, (byte)'e', out r.Exponent);
            return r;
        }
    }

    private static int ScanExponent(ReadOnlySpan<byte> s, int j, byte marker, out long exponent)
    {
        exponent = 0;
        if (j >= s.Length || (s[j] | 0x20) != marker) return j;
        int k = j + 1;
        bool neg = false;
        if (k < s.Length && (s[k] == '+' || s[k] == '-'))
        {
            neg = s[k] == '-';
            k++;
        }
        if (k >= s.Length || !IsDigit(s[k])) return j;
        long e = 0;
        while (k < s.Length && IsDigit(s[k]))
        {
            if (e < ExponentClamp) e = e * 10 + (s[k] - '0');
            k++;
        }
        exponent = neg ? -Math.Min(e, ExponentClamp) : Math.Min(e, ExponentClamp);
        return k;
    }

    // ----- double (strtod) -----

    /// <summary>Converts a scanned number to a double like strtod. <paramref name="erange"/> is set on overflow or underflow to zero.</summary>
    public static double ToDouble(in Scan scan, ReadOnlySpan<byte> s, out bool erange)
    {
        erange = false;
        double v;
        switch (scan.Kind)
        {
            case Kind.Infinity:
                v = double.PositiveInfinity;
                break;
            case Kind.NaN:
                v = double.NaN;
                break;
            case Kind.Decimal:
                v = DecimalToDouble(s.Slice(scan.MantStart, scan.MantEnd - scan.MantStart), scan.Exponent, out erange);
                break;
            case Kind.Hex:
                v = BinaryToDouble(HexMantissa(s.Slice(scan.MantStart, scan.MantEnd - scan.MantStart), out int fracDigits),
                    scan.Exponent - 4L * fracDigits, out erange);
                break;
            default:
                return 0;
        }
        return scan.Negative ? -v : v;
    }

    private static double DecimalToDouble(ReadOnlySpan<byte> mant, long exponent, out bool erange)
    {
        erange = false;
        bool nonZero = false;
        foreach (byte c in mant)
            if (c >= '1' && c <= '9') { nonZero = true; break; }
        if (!nonZero) return 0;
        // The runtime's parser rounds correctly for any number of digits; give it a bounded exponent.
        long e = Math.Clamp(exponent, -100_000, 100_000);
        Span<char> text = mant.Length <= 400 ? stackalloc char[mant.Length + 8] : new char[mant.Length + 8];
        int n = 0;
        foreach (byte c in mant) text[n++] = (char)c;
        text[n++] = 'e';
        e.TryFormat(text.Slice(n), out int w, default, CultureInfo.InvariantCulture);
        n += w;
        double v = double.Parse(text.Slice(0, n), NumberStyles.Float, CultureInfo.InvariantCulture);
        if (double.IsInfinity(v) || v == 0) erange = true;
        return v;
    }

    private static double BinaryToDouble(BigInteger mant, long exp2, out bool erange)
    {
        erange = false;
        if (mant.IsZero) return 0;
        var r = RoundToBinary(mant, BigInteger.One, exp2, 53, -1074, 971);
        if (r.Overflow)
        {
            erange = true;
            return double.PositiveInfinity;
        }
        if (r.Mantissa == 0)
        {
            erange = true;
            return 0;
        }
        return Math.ScaleB(r.Mantissa, (int)r.Exponent);
    }

    internal static BigInteger HexMantissa(ReadOnlySpan<byte> mant, out int fracDigits)
    {
        BigInteger m = BigInteger.Zero;
        fracDigits = 0;
        bool frac = false;
        ulong chunk = 0;
        int chunkDigits = 0;
        foreach (byte c in mant)
        {
            if (c == '.')
            {
                frac = true;
                continue;
            }
            chunk = (chunk << 4) | (uint)HexValue(c);
            chunkDigits++;
            if (frac) fracDigits++;
            if (chunkDigits == 15)
            {
                m = (m << 60) + chunk;
                chunk = 0;
                chunkDigits = 0;
            }
        }
        if (chunkDigits > 0) m = (m << (4 * chunkDigits)) + chunk;
        return m;
    }

    /// <summary>A rounded binary value: Mantissa * 2^Exponent, or Overflow.</summary>
    internal readonly record struct Rounded(ulong Mantissa, long Exponent, bool Overflow);

    /// <summary>
    /// Rounds num/den * 2^exp2 (num, den positive) to <paramref name="precision"/> bits, half to even,
    /// with gradual underflow at <paramref name="minExp"/> (exponent of the last bit of the smallest
    /// subnormal) and overflow past <paramref name="maxExp"/> (largest exponent of a full mantissa).
    /// </summary>
    internal static Rounded RoundToBinary(BigInteger num, BigInteger den, long exp2, int precision, long minExp, long maxExp)
    {
        // Scale so that the quotient has at least precision + 2 bits.
        long shift = precision + 2 - ((long)num.GetBitLength() - (long)den.GetBitLength());
        BigInteger q, rem;
        while (true)
        {
            BigInteger n = shift >= 0 ? num << (int)shift : num;
            BigInteger d = shift >= 0 ? den : den << (int)-shift;
            q = BigInteger.DivRem(n, d, out rem);
            if (q.GetBitLength() >= precision + 2) break;
            shift++;
        }
        long bits = (long)q.GetBitLength();
        long drop = bits - precision;
        long e = exp2 - shift + drop;
        if (e < minExp)
        {
            drop += minExp - e;
            e = minExp;
        }
        bool sticky = !rem.IsZero;
        BigInteger kept;
        bool roundUp;
        if (drop > bits + 1)
        {
            kept = BigInteger.Zero;
            roundUp = false;
        }
        else
        {
            kept = q >> (int)drop;
            BigInteger droppedBits = q - (kept << (int)drop);
            BigInteger half = BigInteger.One << (int)(drop - 1);
            int cmp = droppedBits.CompareTo(half);
            roundUp = cmp > 0 || (cmp == 0 && (sticky || !kept.IsEven));
        }
        if (roundUp) kept += 1;
        if (kept.GetBitLength() > precision)
        {
            kept >>= 1;
            e++;
        }
        if (e > maxExp) return new Rounded(0, 0, true);
        return new Rounded((ulong)kept, e, false);
    }

    // ----- Valkey's parsers built on strtod -----

    /// <summary>
    /// Valkey's string2d (ZADD scores, WEIGHTS, getDoubleFromObject): the whole string is one
    /// number, no leading blank, no overflow or underflow to zero, not NaN. "inf" is allowed.
    /// </summary>
    public static bool TryParseStrict(ReadOnlySpan<byte> s, out double value)
    {
        value = 0;
        if (s.Length == 0 || IsCSpace(s[0])) return false;
        var scan = ScanNumber(s);
        if (scan.Kind == Kind.None || scan.End != s.Length) return false;
        value = ToDouble(scan, s, out bool erange);
        if (erange && (double.IsInfinity(value) || value == 0)) return false;
        return !double.IsNaN(value);
    }

    /// <summary>
    /// How ZRANGEBYSCORE reads a bound after the optional '(': plain strtod on a C string (blanks
    /// allowed in front, overflow allowed, the text ends at the first NUL byte), only NaN refused.
    /// An empty text reads as 0.
    /// </summary>
    public static bool TryParseRangeNumber(ReadOnlySpan<byte> s, out double value)
    {
        int nul = s.IndexOf((byte)0);
        if (nul >= 0) s = s.Slice(0, nul);
        var scan = ScanNumber(s);
        value = 0;
        if (scan.Kind == Kind.None) return s.Length == 0;
        if (scan.End != s.Length) return false;
        value = ToDouble(scan, s, out _);
        return !double.IsNaN(value);
    }
}
