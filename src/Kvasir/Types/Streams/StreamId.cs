using System.Buffers.Binary;
using System.Buffers.Text;

namespace Kvasir.Types.Streams;

/// <summary>
/// A stream entry ID: milliseconds and a sequence number, both unsigned 64-bit, ordered as one
/// 128-bit number (Valkey's streamID). Written as "ms-seq".
/// </summary>
public readonly record struct StreamId(ulong Ms, ulong Seq) : IComparable<StreamId>
{
    public static readonly StreamId Zero = new(0, 0);
    public static readonly StreamId Max = new(ulong.MaxValue, ulong.MaxValue);

    /// <summary>"ms-seq" needs at most 20 + 1 + 20 bytes.</summary>
    public const int MaxTextLength = 41;

    public bool IsZero => Ms == 0 && Seq == 0;

    public int CompareTo(StreamId other)
    {
        if (Ms != other.Ms) return Ms < other.Ms ? -1 : 1;
        if (Seq != other.Seq) return Seq < other.Seq ? -1 : 1;
        return 0;
    }

    public static bool operator <(StreamId a, StreamId b) => a.CompareTo(b) < 0;
    public static bool operator >(StreamId a, StreamId b) => a.CompareTo(b) > 0;
    public static bool operator <=(StreamId a, StreamId b) => a.CompareTo(b) <= 0;
    public static bool operator >=(StreamId a, StreamId b) => a.CompareTo(b) >= 0;

    /// <summary>The next ID (streamIncrID); false when this is the largest ID (the result is then 0-0).</summary>
    public bool TryIncrement(out StreamId next)
    {
        if (Seq != ulong.MaxValue)
        {
            next = new StreamId(Ms, Seq + 1);
            return true;
        }
        if (Ms != ulong.MaxValue)
        {
            next = new StreamId(Ms + 1, 0);
            return true;
        }
        next = Zero;
        return false;
    }

    /// <summary>The previous ID (streamDecrID); false when this is 0-0 (the result is then the largest ID).</summary>
    public bool TryDecrement(out StreamId previous)
    {
        if (Seq != 0)
        {
            previous = new StreamId(Ms, Seq - 1);
            return true;
        }
        if (Ms != 0)
        {
            previous = new StreamId(Ms - 1, ulong.MaxValue);
            return true;
        }
        previous = Max;
        return false;
    }

    /// <summary>Writes "ms-seq" and returns its length (dest needs <see cref="MaxTextLength"/> bytes).</summary>
    public int Format(Span<byte> dest)
    {
        Utf8Formatter.TryFormat(Ms, dest, out int n);
        dest[n++] = (byte)'-';
        Utf8Formatter.TryFormat(Seq, dest.Slice(n), out int m);
        return n + m;
    }

    public byte[] ToBytes()
    {
        Span<byte> text = stackalloc byte[MaxTextLength];
        return text.Slice(0, Format(text)).ToArray();
    }

    public override string ToString() => $"{Ms}-{Seq}";

    /// <summary>The 16-byte big-endian form that orders like the ID (RDB node keys and PEL entries).</summary>
    public void WriteBigEndian(Span<byte> dest)
    {
        BinaryPrimitives.WriteUInt64BigEndian(dest, Ms);
        BinaryPrimitives.WriteUInt64BigEndian(dest.Slice(8), Seq);
    }

    public static StreamId ReadBigEndian(ReadOnlySpan<byte> src) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(src), BinaryPrimitives.ReadUInt64BigEndian(src.Slice(8)));

    // ----- parsing (streamGenericParseIDOrReply) -----

    /// <summary>
    /// Parses "ms-seq", "ms" (the sequence is then <paramref name="missingSeq"/>), and unless
    /// <paramref name="strict"/> "-" and "+" for the smallest and largest IDs. With
    /// <paramref name="allowAutoSeq"/> "ms-*" is accepted and <paramref name="seqGiven"/> is false
    /// for it. The numbers follow Valkey's string2ull: string2ll, else strtoull (leading blanks,
    /// a sign, leading zeros).
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, ulong missingSeq, bool strict, bool allowAutoSeq, out StreamId id, out bool seqGiven)
    {
        id = Zero;
        seqGiven = true;
        // Valkey copies the argument into a 128-byte C string: longer is invalid, a NUL ends it.
        if (text.Length > 127) return false;
        int nul = text.IndexOf((byte)0);
        if (nul >= 0) text = text.Slice(0, nul);
        if (text.Length == 1 && (text[0] == '-' || text[0] == '+'))
        {
            if (strict) return false;
            id = text[0] == '-' ? Zero : Max;
            return true;
        }
        int dash = text.IndexOf((byte)'-');
        var msText = dash >= 0 ? text.Slice(0, dash) : text;
        if (!TryParseUnsigned(msText, out ulong ms)) return false;
        ulong seq = missingSeq;
        if (dash >= 0)
        {
            var seqText = text.Slice(dash + 1);
            if (allowAutoSeq && seqText.Length == 1 && seqText[0] == '*')
            {
                seq = 0;
                seqGiven = false;
            }
            else if (!TryParseUnsigned(seqText, out seq)) return false;
        }
        id = new StreamId(ms, seq);
        return true;
    }

    /// <summary>Valkey's string2ull.</summary>
    public static bool TryParseUnsigned(ReadOnlySpan<byte> s, out ulong value)
    {
        value = 0;
        if (NumberParser.TryParseLong(s, out long ll))
        {
            if (ll < 0) return false;
            value = (ulong)ll;
            return true;
        }
        // strtoull: blanks, an optional sign, decimal digits; '-' negates modulo 2^64.
        int i = 0;
        while (i < s.Length && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            negative = s[i] == '-';
            i++;
        }
        int digitsStart = i;
        ulong v = 0;
        for (; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9) return false;
            if (v > (ulong.MaxValue - d) / 10) return false; // ERANGE
            v = v * 10 + d;
        }
        if (i == digitsStart) return false;
        value = negative ? 0 - v : v;
        return true;
    }
}
