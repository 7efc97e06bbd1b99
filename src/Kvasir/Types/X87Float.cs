using System.Numerics;
using System.Text;

namespace Kvasir.Types;

/// <summary>
/// The x87 80-bit "long double" that Valkey uses for INCRBYFLOAT and HINCRBYFLOAT on x86-64: a
/// 64-bit mantissa and a 15-bit exponent. Emulated in software (parse, add, format) because the
/// replies show its rounding: 10.5 + 0.1 prints "10.6" with 64 mantissa bits where a double would
/// print "10.59999999999999964". Only what those commands need is implemented.
/// </summary>
internal readonly struct X87Float
{
    private const int Precision = 64;
    private const long MinExp = -16445;   // exponent of the last bit of the smallest subnormal
    private const long MaxExp = 16320;    // 16383 - 63: exponent of a full mantissa at the top of the range

    private enum Kind : byte { Finite, Infinity, NaN }

    private readonly ulong _mant;   // value = _mant * 2^_exp; 0 means zero
    private readonly int _exp;
    private readonly bool _neg;
    private readonly Kind _kind;

    private X87Float(bool neg, ulong mant, int exp, Kind kind)
    {
        _neg = neg;
        _mant = mant;
        _exp = exp;
        _kind = kind;
    }

    public bool IsNaN => _kind == Kind.NaN;
    public bool IsInfinity => _kind == Kind.Infinity;
    public bool IsFinite => _kind == Kind.Finite;

    public static X87Float FromLong(long v)
    {
        if (v == 0) return default;
        ulong m = v < 0 ? (ulong)(-(v + 1)) + 1 : (ulong)v;
        return new X87Float(v < 0, m, 0, Kind.Finite);
    }

    /// <summary>
    /// Valkey's string2ld: the whole text is one strtold number (no leading blank, at most 5119
    /// bytes), neither overflowing nor underflowing to zero, and not NaN. Infinity literals pass.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out X87Float value)
    {
        value = default;
        if (s.Length == 0 || s.Length >= 5 * 1024 || CFloat.IsCSpace(s[0])) return false;
        // The text is handed to strtold as a C string: it ends at a NUL byte.
        if (s.IndexOf((byte)0) >= 0) return false;
        var scan = CFloat.ScanNumber(s);
        if (scan.Kind == CFloat.Kind.None || scan.End != s.Length) return false;
        switch (scan.Kind)
        {
            case CFloat.Kind.NaN:
                return false;
            case CFloat.Kind.Infinity:
                value = new X87Float(scan.Negative, 0, 0, Kind.Infinity);
                return true;
            case CFloat.Kind.Hex:
            {
                var m = CFloat.HexMantissa(s.Slice(scan.MantStart, scan.MantEnd - scan.MantStart), out int frac);
                return FromRational(scan.Negative, m, BigInteger.One, scan.Exponent - 4L * frac, out value);
            }
            default:
                return ParseDecimal(scan.Negative, s.Slice(scan.MantStart, scan.MantEnd - scan.MantStart), scan.Exponent, out value);
        }
    }

    private static bool ParseDecimal(bool neg, ReadOnlySpan<byte> mant, long exponent, out X87Float value)
    {
        var digits = new StringBuilder(mant.Length);
        long exp10 = exponent;
        bool afterPoint = false;
        foreach (byte c in mant)
        {
            if (c == '.')
            {
                afterPoint = true;
                continue;
            }
            if (afterPoint) exp10--;
            if (digits.Length == 0 && c == '0') continue;
            digits.Append((char)c);
        }
        int trailing = 0;
        while (trailing < digits.Length && digits[digits.Length - 1 - trailing] == '0') trailing++;
        digits.Length -= trailing;
        exp10 += trailing;
        if (digits.Length == 0)
        {
            value = new X87Float(neg, 0, 0, Kind.Finite);
            return true;
        }
        long magnitude = exp10 + digits.Length; // value lies in [10^(magnitude-1), 10^magnitude)
        if (magnitude - 1 > 4940)
        {
            value = default;
            return false; // overflow: strtold returns HUGE_VALL with ERANGE
        }
        if (magnitude < -4960)
        {
            value = default;
            return false; // underflow to zero with ERANGE
        }
        var d = BigInteger.Parse(digits.ToString(), System.Globalization.CultureInfo.InvariantCulture);
        return exp10 >= 0
            ? FromRational(neg, d * BigInteger.Pow(10, (int)exp10), BigInteger.One, 0, out value)
            : FromRational(neg, d, BigInteger.Pow(10, (int)-exp10), 0, out value);
    }

    private static bool FromRational(bool neg, BigInteger num, BigInteger den, long exp2, out X87Float value)
    {
        value = default;
        if (num.IsZero)
        {
            value = new X87Float(neg, 0, 0, Kind.Finite);
            return true;
        }
        var r = CFloat.RoundToBinary(num, den, exp2, Precision, MinExp, MaxExp);
        if (r.Overflow || r.Mantissa == 0) return false;
        value = new X87Float(neg, r.Mantissa, (int)r.Exponent, Kind.Finite);
        return true;
    }

    /// <summary>Sum rounded to nearest like the FPU does.</summary>
    public static X87Float operator +(X87Float a, X87Float b)
    {
        if (a._kind == Kind.NaN || b._kind == Kind.NaN) return new X87Float(false, 0, 0, Kind.NaN);
        if (a._kind == Kind.Infinity || b._kind == Kind.Infinity)
        {
            if (a._kind == Kind.Infinity && b._kind == Kind.Infinity && a._neg != b._neg) return new X87Float(false, 0, 0, Kind.NaN);
            return a._kind == Kind.Infinity ? a : b;
        }
        if (a._mant == 0 && b._mant == 0) return new X87Float(a._neg && b._neg, 0, 0, Kind.Finite);
        if (a._mant == 0) return b;
        if (b._mant == 0) return a;
        int e = Math.Min(a._exp, b._exp);
        BigInteger x = new BigInteger(a._mant) << (a._exp - e);
        BigInteger y = new BigInteger(b._mant) << (b._exp - e);
        BigInteger sum = (a._neg ? -x : x) + (b._neg ? -y : y);
        if (sum.IsZero) return default; // exact cancellation gives +0 when rounding to nearest
        bool neg = sum.Sign < 0;
        var r = CFloat.RoundToBinary(BigInteger.Abs(sum), BigInteger.One, e, Precision, MinExp, MaxExp);
        if (r.Overflow) return new X87Float(neg, 0, 0, Kind.Infinity);
        return new X87Float(neg, r.Mantissa, (int)r.Exponent, Kind.Finite);
    }

    /// <summary>
    /// Valkey's ld2string in LD_STR_HUMAN mode: printf("%.17Lf") (exact digits, half-even rounding
    /// like glibc), then trailing zeros and a dangling '.' removed, and "-0" written as "0".
    /// </summary>
    public string ToHumanString()
    {
        if (_kind == Kind.Infinity) return _neg ? "-inf" : "inf";
        if (_kind == Kind.NaN) return "nan";
        BigInteger scaled;
        var ten17 = BigInteger.Pow(10, 17);
        if (_exp >= 0)
        {
            scaled = (new BigInteger(_mant) << _exp) * ten17;
        }
        else
        {
            BigInteger n = new BigInteger(_mant) * ten17;
            int k = -_exp;
            scaled = n >> k;
            BigInteger rem = n - (scaled << k);
            BigInteger half = BigInteger.One << (k - 1);
            int cmp = rem.CompareTo(half);
            if (cmp > 0 || (cmp == 0 && !scaled.IsEven)) scaled += 1;
        }
        var intPart = BigInteger.DivRem(scaled, ten17, out var frac);
        var sb = new StringBuilder();
        if (_neg) sb.Append('-');
        sb.Append(intPart.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string fracText = frac.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(17, '0').TrimEnd('0');
        if (fracText.Length > 0) sb.Append('.').Append(fracText);
        string s = sb.ToString();
        return s == "-0" ? "0" : s;
    }
}
