namespace Kvasir.Observability;

/// <summary>
/// Per-command latency distribution in nanoseconds, with the same bucket layout as the HDR
/// histogram Valkey keeps for INFO latencystats and LATENCY HISTOGRAM (1 ns to 1 s, two
/// significant digits). Using the same layout makes the reported percentiles and bucket
/// boundaries identical to Valkey's for the same samples.
/// </summary>
public sealed class LatencyHistogram
{
    public const long MinValue = 1;
    public const long MaxValue = 1_000_000_000;

    // Two significant digits: single-unit resolution up to 2*10^2, rounded up to a power of two.
    private const int SubBucketCount = 256;
    private const int SubBucketHalfCount = 128;
    private const int SubBucketHalfCountMagnitude = 7;
    private const long SubBucketMask = SubBucketCount - 1;
    private const int BucketCount = 23; // 256 << 22 is the first power above MaxValue
    private const int CountsLength = (BucketCount + 1) * SubBucketHalfCount;

    private readonly long[] _counts = new long[CountsLength];

    public long TotalCount { get; private set; }

    public void Record(long nanoseconds)
    {
        long v = Math.Clamp(nanoseconds, MinValue, MaxValue);
        _counts[CountsIndex(v)]++;
        TotalCount++;
    }

    private static int BucketIndex(long value)
    {
        int pow2Ceiling = 64 - System.Numerics.BitOperations.LeadingZeroCount((ulong)(value | SubBucketMask));
        return pow2Ceiling - (SubBucketHalfCountMagnitude + 1);
    }

    private static int CountsIndex(long value)
    {
        int bucket = BucketIndex(value);
        int sub = (int)(value >> bucket);
        return ((bucket + 1) << SubBucketHalfCountMagnitude) + sub - SubBucketHalfCount;
    }

    private static long ValueFromIndex(int index)
    {
        int bucket = (index >> SubBucketHalfCountMagnitude) - 1;
        int sub = (index & (SubBucketHalfCount - 1)) + SubBucketHalfCount;
        if (bucket < 0)
        {
            sub -= SubBucketHalfCount;
            bucket = 0;
        }
        return (long)sub << bucket;
    }

    private static long SizeOfEquivalentRange(long value)
    {
        int bucket = BucketIndex(value);
        int sub = (int)(value >> bucket);
        int adjusted = sub >= SubBucketCount ? bucket + 1 : bucket;
        return 1L << adjusted;
    }

    private static long LowestEquivalent(long value)
    {
        int bucket = BucketIndex(value);
        int sub = (int)(value >> bucket);
        return (long)sub << bucket;
    }

    public static long HighestEquivalent(long value) => LowestEquivalent(value) + SizeOfEquivalentRange(value) - 1;

    /// <summary>The value below which <paramref name="percentile"/> percent of the samples fall (nanoseconds).</summary>
    public long ValueAtPercentile(double percentile)
    {
        if (TotalCount == 0) return 0;
        double p = Math.Min(percentile, 100.0);
        long target = Math.Max(1, (long)(p / 100.0 * TotalCount + 0.5));
        long total = 0;
        for (int i = 0; i < CountsLength; i++)
        {
            total += _counts[i];
            if (total >= target)
                return percentile == 0.0 ? LowestEquivalent(ValueFromIndex(i)) : HighestEquivalent(ValueFromIndex(i));
        }
        return 0;
    }

    /// <summary>
    /// Cumulative counts at power-of-two boundaries starting at 1024 ns, as LATENCY HISTOGRAM
    /// reports them: (bucket upper bound in microseconds, samples at or below it), only where
    /// the cumulative count grew.
    /// </summary>
    public List<(long Micros, long Cumulative)> CumulativeBuckets()
    {
        var result = new List<(long, long)>();
        if (TotalCount == 0) return result;
        long cumulative = 0, previous = 0;
        int index = 0;
        for (long level = 1024; ; level *= 2)
        {
            long upper = HighestEquivalent(level);
            while (index < CountsLength && ValueFromIndex(index) <= upper)
                cumulative += _counts[index++];
            if (cumulative > previous) result.Add((upper / 1000, cumulative));
            previous = cumulative;
            if (cumulative >= TotalCount || index >= CountsLength) break;
        }
        return result;
    }
}
