namespace Kvasir.Types;

/// <summary>An interval of a sorted set's order, by score or by member (ZRANGEBYSCORE / ZRANGEBYLEX).</summary>
public interface IRangeSpec
{
    /// <summary>True when no element can match (min above max, or equal with an exclusive end).</summary>
    bool IsEmpty { get; }

    bool GteMin(ReadOnlySpan<byte> member, double score);

    bool LteMax(ReadOnlySpan<byte> member, double score);
}

/// <summary>Holds for elements before the interval (for skiplist descents).</summary>
public readonly struct BelowRange<T>(T spec) : IPrefixPredicate where T : IRangeSpec
{
    public bool Holds(ReadOnlySpan<byte> member, double score) => !spec.GteMin(member, score);
}

/// <summary>Holds for elements not after the interval (for skiplist descents).</summary>
public readonly struct NotAfterRange<T>(T spec) : IPrefixPredicate where T : IRangeSpec
{
    public bool Holds(ReadOnlySpan<byte> member, double score) => spec.LteMax(member, score);
}

/// <summary>A score interval of ZRANGEBYSCORE and friends: "1.5" inclusive, "(1.5" exclusive, "-inf"/"+inf".</summary>
public readonly struct ScoreRange : IRangeSpec
{
    public readonly double Min, Max;
    public readonly bool MinExclusive, MaxExclusive;

    public ScoreRange(double min, bool minEx, double max, bool maxEx)
    {
        Min = min;
        Max = max;
        MinExclusive = minEx;
        MaxExclusive = maxEx;
    }

    public bool GteMin(double v) => MinExclusive ? v > Min : v >= Min;

    public bool LteMax(double v) => MaxExclusive ? v < Max : v <= Max;

    public bool IsEmpty => Min > Max || (Min == Max && (MinExclusive || MaxExclusive));

    public bool GteMin(ReadOnlySpan<byte> member, double score) => GteMin(score);

    public bool LteMax(ReadOnlySpan<byte> member, double score) => LteMax(score);

    /// <summary>Valkey's zslParseRange; false means "ERR min or max is not a float".</summary>
    public static bool TryParse(ReadOnlySpan<byte> min, ReadOnlySpan<byte> max, out ScoreRange range)
    {
        range = default;
        if (!TryParseBound(min, out double lo, out bool loEx) || !TryParseBound(max, out double hi, out bool hiEx)) return false;
        range = new ScoreRange(lo, loEx, hi, hiEx);
        return true;
    }

    private static bool TryParseBound(ReadOnlySpan<byte> s, out double value, out bool exclusive)
    {
        exclusive = s.Length > 0 && s[0] == '(';
        return CFloat.TryParseRangeNumber(exclusive ? s.Slice(1) : s, out value);
    }

    /// <summary>Holds for elements below the interval.</summary>
    public readonly struct BelowMin(ScoreRange r) : IPrefixPredicate
    {
        public bool Holds(ReadOnlySpan<byte> member, double score) => !r.GteMin(score);
    }

    /// <summary>Holds for elements not above the interval.</summary>
    public readonly struct NotAboveMax(ScoreRange r) : IPrefixPredicate
    {
        public bool Holds(ReadOnlySpan<byte> member, double score) => r.LteMax(score);
    }
}

/// <summary>A member interval of ZRANGEBYLEX: "[a" inclusive, "(a" exclusive, "-" and "+" for the ends.</summary>
public readonly struct LexRange : IRangeSpec
{
    private enum Edge : byte { Value, MinusInfinity, PlusInfinity }

    private readonly byte[] _min, _max;
    private readonly Edge _minEdge, _maxEdge;
    public readonly bool MinExclusive, MaxExclusive;

    private LexRange(byte[] min, Edge minEdge, bool minEx, byte[] max, Edge maxEdge, bool maxEx)
    {
        _min = min;
        _max = max;
        _minEdge = minEdge;
        _maxEdge = maxEdge;
        MinExclusive = minEx;
        MaxExclusive = maxEx;
    }

    /// <summary>Valkey's zslParseLexRange; false means "ERR min or max not valid string range item".</summary>
    public static bool TryParse(ReadOnlySpan<byte> min, ReadOnlySpan<byte> max, out LexRange range)
    {
        range = default;
        if (!TryParseItem(min, out var lo, out var loEdge, out bool loEx) || !TryParseItem(max, out var hi, out var hiEdge, out bool hiEx))
            return false;
        range = new LexRange(lo, loEdge, loEx, hi, hiEdge, hiEx);
        return true;
    }

    private static bool TryParseItem(ReadOnlySpan<byte> s, out byte[] value, out Edge edge, out bool exclusive)
    {
        value = Array.Empty<byte>();
        edge = Edge.Value;
        exclusive = false;
        if (s.Length == 0) return false;
        switch (s[0])
        {
            case (byte)'+':
                if (s.Length != 1) return false;
                edge = Edge.PlusInfinity;
                exclusive = true;
                return true;
            case (byte)'-':
                if (s.Length != 1) return false;
                edge = Edge.MinusInfinity;
                exclusive = true;
                return true;
            case (byte)'(':
                exclusive = true;
                value = s.Slice(1).ToArray();
                return true;
            case (byte)'[':
                value = s.Slice(1).ToArray();
                return true;
            default:
                return false;
        }
    }

    // sdscmplex: the "-" and "+" items compare below and above every string (and equal to themselves).
    private static int Compare(ReadOnlySpan<byte> value, byte[] bound, Edge edge) => edge switch
    {
        Edge.MinusInfinity => 1,
        Edge.PlusInfinity => -1,
        _ => value.SequenceCompareTo(bound),
    };

    /// <summary>sdscmplex of the two bounds: the same "-" or "+" item equals itself; otherwise "-" is lowest and "+" highest.</summary>
    public bool IsEmpty
    {
        get
        {
            int cmp;
            if (_minEdge != Edge.Value && _minEdge == _maxEdge) cmp = 0;
            else if (_minEdge == Edge.MinusInfinity || _maxEdge == Edge.PlusInfinity) cmp = -1;
            else if (_minEdge == Edge.PlusInfinity || _maxEdge == Edge.MinusInfinity) cmp = 1;
            else cmp = _min.AsSpan().SequenceCompareTo(_max);
            return cmp > 0 || (cmp == 0 && (MinExclusive || MaxExclusive));
        }
    }

    public bool GteMin(ReadOnlySpan<byte> member, double score) => GteMin(member);

    public bool LteMax(ReadOnlySpan<byte> member, double score) => LteMax(member);

    public bool GteMin(ReadOnlySpan<byte> v)
    {
        int c = Compare(v, _min, _minEdge);
        return MinExclusive ? c > 0 : c >= 0;
    }

    public bool LteMax(ReadOnlySpan<byte> v)
    {
        int c = Compare(v, _max, _maxEdge);
        return MaxExclusive ? c < 0 : c <= 0;
    }

    public readonly struct BelowMin(LexRange r) : IPrefixPredicate
    {
        public bool Holds(ReadOnlySpan<byte> member, double score) => !r.GteMin(member);
    }

    public readonly struct NotAboveMax(LexRange r) : IPrefixPredicate
    {
        public bool Holds(ReadOnlySpan<byte> member, double score) => r.LteMax(member);
    }
}
