using Kvasir.Observability;

namespace Kvasir.Tests.Server;

public sealed class LatencyHistogramTests
{
    [Fact]
    public void HistogramPercentilesUseTwoSignificantDigits()
    {
        var h = new LatencyHistogram();
        for (int i = 1; i <= 100; i++) h.Record(i * 1000L); // 1..100 us
        Assert.Equal(100, h.TotalCount);
        // 50000 ns falls in a bucket 256 ns wide: its highest equivalent value is reported.
        Assert.Equal(50175, h.ValueAtPercentile(50));
        Assert.Equal(99327, h.ValueAtPercentile(99));
        Assert.Equal(1000, h.ValueAtPercentile(0));
    }

    [Fact]
    public void HistogramBucketsArePowersOfTwoFrom1024Nanoseconds()
    {
        var h = new LatencyHistogram();
        h.Record(500);      // below the first bucket bound
        h.Record(3000);     // <= 4127 ns
        h.Record(3000);
        h.Record(5_000_000);
        var buckets = h.CumulativeBuckets();
        Assert.Equal(new (long, long)[] { (1, 1), (4, 3), (8_454, 4) }, buckets);
        Assert.Equal(1_000_000_000, LatencyHistogram.MaxValue);
    }
}
