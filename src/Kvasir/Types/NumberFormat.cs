using System.Buffers.Text;
using System.Globalization;

namespace Kvasir.Types;

/// <summary>Number to text conversions with the exact spelling Valkey uses in replies and stored values.</summary>
public static class NumberFormat
{
    /// <summary>
    /// Formats a double as Valkey's d2string does: "inf"/"-inf"/"nan", "-0"/"0", integers without a
    /// fraction when exactly representable, otherwise the shortest round-trip digits laid out like
    /// fpconv (plain up to a point, then d.ddde+XX).
    /// </summary>
    public static int FormatDouble(double value, Span<byte> dest)
    {
        if (double.IsNaN(value)) return Write(dest, "nan"u8);
        if (double.IsPositiveInfinity(value)) return Write(dest, "inf"u8);
        if (double.IsNegativeInfinity(value)) return Write(dest, "-inf"u8);
        if (value == 0) return Write(dest, double.IsNegative(value) ? "-0"u8 : "0"u8);
        if (value >= -(double)(long.MaxValue / 2) && value <= (double)(long.MaxValue / 2))
        {
            long l = (long)value;
            if (l == value)
            {
                Utf8Formatter.TryFormat(l, dest, out int w);
                return w;
            }
        }
        // Shortest round-trip digits from the runtime, re-laid out the fpconv way.
        string r = value.ToString("R", CultureInfo.InvariantCulture);
        return LayOut(r, dest);
    }

    /// <summary>
    /// Valkey's fpconv_dtoa: the shortest round-trip digits for every value, integral ones included
    /// (1e+18 rather than 1000000000000000000). DEBUG DIGEST hashes sorted set scores this way.
    /// </summary>
    public static int FormatDoubleShortest(double value, Span<byte> dest)
    {
        if (double.IsNaN(value)) return Write(dest, "nan"u8);
        if (double.IsPositiveInfinity(value)) return Write(dest, "inf"u8);
        if (double.IsNegativeInfinity(value)) return Write(dest, "-inf"u8);
        if (value == 0) return Write(dest, double.IsNegative(value) ? "-0"u8 : "0"u8);
        return LayOut(value.ToString("R", CultureInfo.InvariantCulture), dest);
    }

    private static int LayOut(string r, Span<byte> dest)
    {
        bool neg = r[0] == '-';
        int i = neg ? 1 : 0;
        Span<byte> digits = stackalloc byte[32];
        int nd = 0;
        int pointPos = -1;
        int exp = 0;
        for (; i < r.Length; i++)
        {
            char c = r[i];
            if (c >= '0' && c <= '9') digits[nd++] = (byte)c;
            else if (c == '.') pointPos = nd;
            else if (c == 'E' || c == 'e')
            {
                exp = int.Parse(r.AsSpan(i + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
                break;
            }
        }
        if (pointPos < 0) pointPos = nd;
        // value = 0.digits * 10^(pointPos+exp) ; strip leading zeros.
        int lead = 0;
        while (lead < nd - 1 && digits[lead] == '0') { lead++; }
        int intDigits = pointPos - lead;
        var ds = digits.Slice(lead, nd - lead);
        int ndigits = ds.Length;
        while (ndigits > 1 && ds[ndigits - 1] == '0') ndigits--;
        ds = ds.Slice(0, ndigits);
        // K: value = digits * 10^K
        int K = intDigits + exp - ndigits;
        int pos = 0;
        if (neg) dest[pos++] = (byte)'-';
        return pos + EmitDigits(ds, dest.Slice(pos), K, neg);
    }

    private static int EmitDigits(ReadOnlySpan<byte> digits, Span<byte> dest, int K, bool neg)
    {
        int ndigits = digits.Length;
        int exp = Math.Abs(K + ndigits - 1);
        if (K >= 0 && exp < ndigits + 7)
        {
            digits.CopyTo(dest);
            dest.Slice(ndigits, K).Fill((byte)'0');
            return ndigits + K;
        }
        if (K < 0 && (K > -7 || exp < 4))
        {
            int offset = ndigits - Math.Abs(K);
            if (offset <= 0)
            {
                offset = -offset;
                dest[0] = (byte)'0';
                dest[1] = (byte)'.';
                dest.Slice(2, offset).Fill((byte)'0');
                digits.CopyTo(dest.Slice(offset + 2));
                return ndigits + 2 + offset;
            }
            digits.Slice(0, offset).CopyTo(dest);
            dest[offset] = (byte)'.';
            digits.Slice(offset).CopyTo(dest.Slice(offset + 1));
            return ndigits + 1;
        }
        ndigits = Math.Min(ndigits, 18 - (neg ? 1 : 0));
        int idx = 0;
        dest[idx++] = digits[0];
        if (ndigits > 1)
        {
            dest[idx++] = (byte)'.';
            digits.Slice(1, ndigits - 1).CopyTo(dest.Slice(idx));
            idx += ndigits - 1;
        }
        dest[idx++] = (byte)'e';
        dest[idx++] = K + ndigits - 1 < 0 ? (byte)'-' : (byte)'+';
        int cent = 0;
        if (exp > 99)
        {
            cent = exp / 100;
            dest[idx++] = (byte)(cent + '0');
            exp -= cent * 100;
        }
        if (exp > 9)
        {
            int dec = exp / 10;
            dest[idx++] = (byte)(dec + '0');
            exp -= dec * 10;
        }
        else if (cent != 0)
        {
            dest[idx++] = (byte)'0';
        }
        dest[idx++] = (byte)(exp % 10 + '0');
        return idx;
    }

    public static byte[] DoubleToBytes(double value)
    {
        Span<byte> tmp = stackalloc byte[40];
        int n = FormatDouble(value, tmp);
        return tmp.Slice(0, n).ToArray();
    }

    public static int FormatLong(long value, Span<byte> dest)
    {
        Utf8Formatter.TryFormat(value, dest, out int w);
        return w;
    }

    public static byte[] LongToBytes(long value)
    {
        Span<byte> tmp = stackalloc byte[24];
        int n = FormatLong(value, tmp);
        return tmp.Slice(0, n).ToArray();
    }

    private static int Write(Span<byte> dest, ReadOnlySpan<byte> s)
    {
        s.CopyTo(dest);
        return s.Length;
    }
}
