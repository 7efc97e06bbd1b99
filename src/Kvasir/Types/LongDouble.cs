using System.Numerics;

namespace Kvasir.Types;

/// <summary>
/// A software x87 80-bit extended-precision float: the C <c>long double</c> Valkey uses on x86-64
/// Linux for INCRBYFLOAT and HINCRBYFLOAT. Emulating it (64-bit significand, 15-bit exponent,
/// round-half-even, subnormals) rather than using <see cref="double"/> is what makes results such
/// as 10.5 + 0.1 print "10.6" and match Valkey digit for digit.
/// A finite value is <c>(-1)^Negative * Mantissa * 2^Exponent</c>; normal values have the top
/// mantissa bit set, subnormals have <see cref="Exponent"/> == <see cref="MinExponent"/>.
/// </summary>
public readonly struct LongDouble
{
    /// <summary>Exponent of the mantissa's lowest bit for subnormals and the smallest normals (2^-16445).</summary>
    public const int MinExponent = -16445;

    /// <summary>Largest exponent of a finite value: (2^64-1) * 2^16320 is LDBL_MAX.</summary>
    public const int MaxExponent = 16320;

    /// <summary>Valkey's MAX_LONG_DOUBLE_CHARS: longer inputs are refused, longer outputs become "".</summary>
    public const int MaxChars = 5 * 1024;

    private enum Kind : byte { Finite, Infinity, NaN }

    private readonly Kind _kind;

    public ulong Mantissa { get; }
    public int Exponent { get; }
    public bool Negative { get; }

    private LongDouble(Kind kind, bool negative, ulong mantissa, int exponent)
    {
        _kind = kind;
        Negative = negative;
        Mantissa = mantissa;
        Exponent = exponent;
    }

    public static readonly LongDouble Zero = new(Kind.Finite, false, 0, MinExponent);
    public static readonly LongDouble NaN = new(Kind.NaN, false, 0, 0);
    public static LongDouble Infinity(bool negative) => new(Kind.Infinity, negative, 0, 0);
    private static LongDouble SignedZero(bool negative) => new(Kind.Finite, negative, 0, MinExponent);

    public bool IsFinite => _kind == Kind.Finite;
    public bool IsNaN => _kind == Kind.NaN;
    public bool IsInfinity => _kind == Kind.Infinity;
    public bool IsZero => _kind == Kind.Finite && Mantissa == 0;

    public static LongDouble FromLong(long v)
    {
        if (v == 0) return Zero;
        bool neg = v < 0;
        ulong m = neg ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        int lz = BitOperations.LeadingZeroCount(m);
        return new LongDouble(Kind.Finite, neg, m << lz, -lz);
    }

    /// <summary>The exact value of a double (every double is representable), as C's (long double)d.</summary>
    public static LongDouble FromDouble(double d)
    {
        if (double.IsNaN(d)) return NaN;
        if (double.IsInfinity(d)) return Infinity(d < 0);
        bool neg = double.IsNegative(d);
        if (d == 0) return SignedZero(neg);
        ulong bits = (ulong)BitConverter.DoubleToInt64Bits(d);
        int biased = (int)((bits >> 52) & 0x7FF);
        ulong frac = bits & ((1UL << 52) - 1);
        ulong m = biased == 0 ? frac : frac | (1UL << 52);
        int e = (biased == 0 ? 1 : biased) - 1075;
        int lz = BitOperations.LeadingZeroCount(m);
        return new LongDouble(Kind.Finite, neg, m << lz, e - lz);
    }

    // ----- rounding an exact value to 64 significant bits -----

    /// <summary>Rounds <paramref name="n"/> * 2^<paramref name="e2"/> (plus, when <paramref name="sticky"/>,
    /// a positive amount below n's lowest bit) to the nearest representable value, ties to even.</summary>
    private static LongDouble Round(bool neg, UInt128 n, long e2, bool sticky)
    {
        if (n == UInt128.Zero) return SignedZero(neg);
        int bitLen = 128 - (int)UInt128.LeadingZeroCount(n);
        long exp = Math.Max(e2 + bitLen - 64, MinExponent);
        long shift = exp - e2;
        ulong mant;
        if (shift <= 0)
        {
            mant = (ulong)(n << (int)-shift);
        }
        else if (shift >= 128)
        {
            // Everything is below half of the lowest representable bit, except exactly at the top.
            mant = 0;
            if (shift == 128 && bitLen == 128 && (n > (UInt128.One << 127) || sticky)) mant = 1;
        }
        else
        {
            UInt128 q = n >> (int)shift;
            UInt128 rem = n - (q << (int)shift);
            UInt128 half = UInt128.One << (int)(shift - 1);
            int cmp = rem.CompareTo(half);
            if (cmp == 0 && sticky) cmp = 1;
            if (cmp > 0 || (cmp == 0 && (q & UInt128.One) != UInt128.Zero)) q += UInt128.One;
            if (q >> 64 != UInt128.Zero)
            {
                q >>= 1;
                exp++;
            }
            mant = (ulong)q;
        }
        return Finish(neg, mant, exp);
    }

    private static LongDouble Round(bool neg, BigInteger n, long e2, bool sticky)
    {
        if (n.IsZero) return SignedZero(neg);
        if (n < (BigInteger.One << 127) && !sticky) return Round(neg, (UInt128)n, e2, false);
        long bitLen = (long)n.GetBitLength();
        long exp = Math.Max(e2 + bitLen - 64, MinExponent);
        long shift = exp - e2;
        ulong mant;
        if (shift <= 0)
        {
            mant = (ulong)(n << (int)-shift);
        }
        else if (shift > bitLen + 1)
        {
            mant = 0;
        }
        else
        {
            BigInteger q = n >> (int)shift;
            BigInteger rem = n - (q << (int)shift);
            BigInteger half = BigInteger.One << (int)(shift - 1);
            int cmp = rem.CompareTo(half);
            if (cmp == 0 && sticky) cmp = 1;
            if (cmp > 0 || (cmp == 0 && !q.IsEven)) q += BigInteger.One;
            if (q.GetBitLength() > 64)
            {
                q >>= 1;
                exp++;
            }
            mant = (ulong)q;
        }
        return Finish(neg, mant, exp);
    }

    private static LongDouble Finish(bool neg, ulong mant, long exp)
    {
        if (mant == 0) return SignedZero(neg);
        if (exp > MaxExponent) return Infinity(neg);
        return new LongDouble(Kind.Finite, neg, mant, (int)exp);
    }

    // ----- arithmetic -----

    public static LongDouble operator +(LongDouble a, LongDouble b)
    {
        if (a.IsNaN || b.IsNaN) return NaN;
        if (a.IsInfinity || b.IsInfinity)
        {
            if (a.IsInfinity && b.IsInfinity && a.Negative != b.Negative) return NaN;
            return a.IsInfinity ? a : b;
        }
        if (a.IsZero && b.IsZero) return SignedZero(a.Negative && b.Negative);
        if (a.IsZero) return b;
        if (b.IsZero) return a;

        int e = Math.Min(a.Exponent, b.Exponent);
        int da = a.Exponent - e, db = b.Exponent - e;
        if (da <= 63 && db <= 63)
        {
            // Both fit in 127 bits once aligned: exact sum without big integers.
            UInt128 x = (UInt128)a.Mantissa << da;
            UInt128 y = (UInt128)b.Mantissa << db;
            if (a.Negative == b.Negative) return Round(a.Negative, x + y, e, false);
            if (x == y) return Zero;
            return x > y ? Round(a.Negative, x - y, e, false) : Round(b.Negative, y - x, e, false);
        }
        BigInteger bx = (BigInteger)a.Mantissa << da;
        BigInteger by = (BigInteger)b.Mantissa << db;
        BigInteger sum = (a.Negative ? -bx : bx) + (b.Negative ? -by : by);
        if (sum.IsZero) return Zero;
        return Round(sum.Sign < 0, BigInteger.Abs(sum), e, false);
    }

    // ----- parsing (Valkey's string2ld: strtold, whole input, no spaces, no NaN, no range errors) -----

    /// <summary>
    /// Parses like Valkey's string2ld: the whole input must be a number strtold accepts (decimal or
    /// hexadecimal float, "inf"/"infinity"), with no leading space; NaN, overflow to infinity and
    /// underflow to zero are refused.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out LongDouble value)
    {
        value = Zero;
        if (s.Length == 0 || s.Length >= MaxChars) return false;
        if (IsSpace(s[0])) return false;
        int i = 0;
        bool neg = false;
        if (s[0] == '+' || s[0] == '-')
        {
            neg = s[0] == '-';
            i = 1;
        }
        var rest = s.Slice(i);
        if (Protocol.Ascii.EqualsIgnoreCase(rest, "INF"u8) || Protocol.Ascii.EqualsIgnoreCase(rest, "INFINITY"u8))
        {
            value = Infinity(neg);
            return true;
        }
        if (rest.Length > 2 && rest[0] == '0' && (rest[1] | 0x20) == 'x' && IsHexStart(rest.Slice(2)))
            return TryParseHex(neg, rest.Slice(2), out value);
        return TryParseDecimal(neg, rest, out value);
    }

    private static bool IsSpace(byte c) => c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';

    private static int HexValue(byte c)
    {
        if (c >= '0' && c <= '9') return c - '0';
        c |= 0x20;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    }

    private static bool IsHexStart(ReadOnlySpan<byte> s) =>
        HexValue(s[0]) >= 0 || (s[0] == '.' && s.Length > 1 && HexValue(s[1]) >= 0);

    /// <summary>Parses an exponent: [sign] digits to the end of the input. Huge values are clamped.</summary>
    private static bool TryParseExponent(ReadOnlySpan<byte> s, out long exp)
    {
        exp = 0;
        int i = 0;
        bool neg = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            neg = s[i] == '-';
            i++;
        }
        if (i == s.Length) return false;
        for (; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9) return false;
            if (exp < 1_000_000_000) exp = exp * 10 + d;
        }
        if (neg) exp = -exp;
        return true;
    }

    private static bool TryParseHex(bool neg, ReadOnlySpan<byte> s, out LongDouble value)
    {
        value = Zero;
        BigInteger mant = BigInteger.Zero;
        UInt128 small = UInt128.Zero;
        bool big = false;
        long e2 = 0;
        bool seenPoint = false, anyDigit = false;
        int i = 0;
        for (; i < s.Length; i++)
        {
            byte c = s[i];
            if (c == '.')
            {
                if (seenPoint) return false;
                seenPoint = true;
                continue;
            }
            int d = HexValue(c);
            if (d < 0) break;
            anyDigit = true;
            if (!big && small >> 120 != UInt128.Zero)
            {
                big = true;
                mant = (BigInteger)small;
            }
            if (big) mant = (mant << 4) + d;
            else small = (small << 4) | (uint)d;
            if (seenPoint) e2 -= 4;
        }
        if (!anyDigit) return false;
        if (i < s.Length)
        {
            if ((s[i] | 0x20) != 'p' || !TryParseExponent(s.Slice(i + 1), out long p)) return false;
            e2 += p;
        }
        value = big ? Round(neg, mant, e2, false) : Round(neg, small, e2, false);
        return CheckRange(value, big ? !mant.IsZero : small != UInt128.Zero);
    }

    /// <summary>strtold reports ERANGE for overflow and for a non-zero input that rounds to zero; Valkey refuses both.</summary>
    private static bool CheckRange(LongDouble v, bool inputNonZero) => !v.IsInfinity && !(v.IsZero && inputNonZero);

    private static readonly UInt128[] Pow10Small = BuildPow10();

    private static UInt128[] BuildPow10()
    {
        var p = new UInt128[39];
        p[0] = UInt128.One;
        for (int i = 1; i < p.Length; i++) p[i] = p[i - 1] * 10;
        return p;
    }

    private static bool TryParseDecimal(bool neg, ReadOnlySpan<byte> s, out LongDouble value)
    {
        value = Zero;
        int i = 0;
        int digitsStart = -1;
        int intDigits = 0, fracDigits = 0;
        bool seenPoint = false;
        // First pass: validate the syntax and count significant digits.
        UInt128 small = UInt128.Zero;
        int sig = 0; // significant digits seen (after leading zeros)
        int sigFrac = 0; // of which after the point
        for (; i < s.Length; i++)
        {
            byte c = s[i];
            if (c == '.')
            {
                if (seenPoint) return false;
                seenPoint = true;
                continue;
            }
            uint d = (uint)(c - '0');
            if (d > 9) break;
            if (digitsStart < 0) digitsStart = i;
            if (seenPoint) fracDigits++;
            else intDigits++;
            if (sig > 0 || d != 0)
            {
                if (sig < 38) small = small * 10 + d;
                sig++;
                if (seenPoint) sigFrac++;
            }
            else if (seenPoint)
            {
                // A leading zero after the point still scales the value.
                sigFrac++;
            }
        }
        if (intDigits + fracDigits == 0) return false;
        long exp10 = 0;
        if (i < s.Length)
        {
            if ((s[i] | 0x20) != 'e' || !TryParseExponent(s.Slice(i + 1), out exp10)) return false;
        }
        if (sig == 0)
        {
            value = SignedZero(neg);
            return true;
        }
        // value = digits(significant) * 10^(exp10 - sigFrac), where leading zeros after the point
        // were counted in sigFrac but not in the digits.
        long scale = exp10 - sigFrac;
        // Quick range checks so huge exponents never build huge numbers.
        long magnitude = scale + sig; // value < 10^magnitude, >= 10^(magnitude-1)
        if (magnitude - 1 > 4932)
        {
            value = Infinity(neg);
            return false;
        }
        if (magnitude < -4952)
        {
            value = SignedZero(neg);
            return false;
        }
        // Up to 38 digits fit in 128 bits: most inputs (and every value INCRBYFLOAT stores with
        // a small integer part) take these paths without big integers.
        if (sig <= 38 && scale >= 0 && sig + scale <= 38)
        {
            value = Round(neg, small * Pow10Small[scale], 0, false);
            return CheckRange(value, true);
        }
        if (sig <= 38 && scale < 0 && scale >= -18)
        {
            // small * 2^k / 10^-scale with at least 67 quotient bits, all within 128 bits.
            UInt128 den = Pow10Small[-scale];
            int denBits = 128 - (int)UInt128.LeadingZeroCount(den);
            int numBits = 128 - (int)UInt128.LeadingZeroCount(small);
            int k = Math.Max(0, 67 + denBits - numBits);
            if (numBits + k <= 127)
            {
                UInt128 num = (UInt128)small << k;
                UInt128 q = num / den;
                bool sticky = q * den != num;
                value = Round(neg, q, -k, sticky);
                return CheckRange(value, true);
            }
        }
        // General case with big integers: collect all significant digits.
        BigInteger digits = BigInteger.Zero;
        {
            int chunk = 0, chunkLen = 0;
            bool started = false;
            for (int j = digitsStart; j < s.Length; j++)
            {
                byte c = s[j];
                if (c == '.') continue;
                uint d = (uint)(c - '0');
                if (d > 9) break;
                if (!started && d == 0) continue;
                started = true;
                chunk = chunk * 10 + (int)d;
                if (++chunkLen == 9)
                {
                    digits = digits * 1_000_000_000 + chunk;
                    chunk = 0;
                    chunkLen = 0;
                }
            }
            if (chunkLen > 0) digits = digits * BigInteger.Pow(10, chunkLen) + chunk;
        }
        if (scale >= 0)
        {
            value = Round(neg, digits * BigInteger.Pow(10, (int)scale), 0, false);
        }
        else
        {
            BigInteger den = BigInteger.Pow(10, (int)-scale);
            long k = Math.Max(0, 67 + (long)den.GetBitLength() - (long)digits.GetBitLength());
            BigInteger q = BigInteger.DivRem(digits << (int)k, den, out BigInteger rem);
            value = Round(neg, q, -k, !rem.IsZero);
        }
        return CheckRange(value, true);
    }

    // ----- formatting -----

    private const ulong Pow10_17 = 100_000_000_000_000_000UL;

    /// <summary>
    /// Valkey's ld2string in LD_STR_HUMAN mode: printf("%.17Lf") (exact, ties to even), trailing
    /// zeros and a trailing point removed, "-0" written as "0". <paramref name="dest"/> needs
    /// <see cref="MaxChars"/> bytes for the largest values; returns the length, 0 when too long.
    /// </summary>
    public int FormatHuman(Span<byte> dest)
    {
        if (IsNaN) return Write(dest, "nan"u8);
        if (IsInfinity) return Write(dest, Negative ? "-inf"u8 : "inf"u8);
        int e = Exponent;
        ulong m = Mantissa;
        if (m == 0) return Write(dest, "0"u8);
        if (e >= 0 && e <= 63)
        {
            UInt128 n = (UInt128)m << e;
            int p = 0;
            if (Negative) dest[p++] = (byte)'-';
            return p + WriteUInt128(n, dest.Slice(p));
        }
        if (e < 0 && e >= -64)
        {
            UInt128 scaled = (UInt128)m * Pow10_17;
            int sh = -e;
            UInt128 q = scaled >> sh;
            UInt128 rem = scaled - (q << sh);
            UInt128 half = UInt128.One << (sh - 1);
            if (rem > half || (rem == half && (q & UInt128.One) != UInt128.Zero)) q += UInt128.One;
            UInt128 intPart = q / Pow10_17;
            ulong frac = (ulong)(q - intPart * Pow10_17);
            return LayOut(dest, intPart, frac);
        }
        return FormatBig(dest);
    }

    /// <summary>True when <see cref="FormatHuman"/> needs at most 64 bytes (anything but huge or tiny magnitudes).</summary>
    public bool HasShortFormat => !IsFinite || Mantissa == 0 || (Exponent >= -64 && Exponent <= 63);

    private int LayOut(Span<byte> dest, UInt128 intPart, ulong frac)
    {
        int p = 0;
        if (Negative && (intPart != UInt128.Zero || frac != 0)) dest[p++] = (byte)'-';
        p += WriteUInt128(intPart, dest.Slice(p));
        if (frac == 0) return p;
        dest[p++] = (byte)'.';
        Span<byte> fd = stackalloc byte[17];
        for (int i = 16; i >= 0; i--)
        {
            fd[i] = (byte)('0' + (int)(frac % 10));
            frac /= 10;
        }
        int n = 17;
        while (fd[n - 1] == '0') n--;
        fd.Slice(0, n).CopyTo(dest.Slice(p));
        return p + n;
    }

    private int FormatBig(Span<byte> dest)
    {
        BigInteger m = Mantissa;
        string digits;
        bool fraction;
        if (Exponent >= 0)
        {
            digits = (m << Exponent).ToString(System.Globalization.CultureInfo.InvariantCulture);
            fraction = false;
        }
        else
        {
            int sh = -Exponent;
            BigInteger scaled = m * Pow10_17;
            BigInteger q = scaled >> sh;
            BigInteger rem = scaled - (q << sh);
            BigInteger half = BigInteger.One << (sh - 1);
            int cmp = rem.CompareTo(half);
            if (cmp > 0 || (cmp == 0 && !q.IsEven)) q += BigInteger.One;
            digits = q.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(18, '0');
            fraction = true;
        }
        int intLen = fraction ? digits.Length - 17 : digits.Length;
        int end = digits.Length;
        if (fraction)
        {
            while (end > intLen && digits[end - 1] == '0') end--;
        }
        bool allZero = true;
        for (int i = 0; i < end; i++)
            if (digits[i] != '0') { allZero = false; break; }
        int total = (Negative && !allZero ? 1 : 0) + intLen + (end > intLen ? 1 + end - intLen : 0);
        if (total + 1 > MaxChars) return 0;
        int p = 0;
        if (Negative && !allZero) dest[p++] = (byte)'-';
        for (int i = 0; i < intLen; i++) dest[p++] = (byte)digits[i];
        if (end > intLen)
        {
            dest[p++] = (byte)'.';
            for (int i = intLen; i < end; i++) dest[p++] = (byte)digits[i];
        }
        return p;
    }

    private static int WriteUInt128(UInt128 v, Span<byte> dest)
    {
        Span<byte> tmp = stackalloc byte[40];
        int n = 0;
        do
        {
            UInt128 q = v / 10;
            tmp[n++] = (byte)('0' + (int)(v - q * 10));
            v = q;
        }
        while (v != UInt128.Zero);
        for (int i = 0; i < n; i++) dest[i] = tmp[n - 1 - i];
        return n;
    }

    private static int Write(Span<byte> dest, ReadOnlySpan<byte> s)
    {
        s.CopyTo(dest);
        return s.Length;
    }

    /// <summary>Nearest double (for callers that need one, e.g. tests and diagnostics).</summary>
    public double ToDouble()
    {
        if (IsNaN) return double.NaN;
        if (IsInfinity) return Negative ? double.NegativeInfinity : double.PositiveInfinity;
        double d = Math.ScaleB(Mantissa, Exponent);
        return Negative ? -d : d;
    }
}
