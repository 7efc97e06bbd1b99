using Kvasir.Observability;
using Kvasir.Types;

namespace Kvasir.Tests.Server;

public sealed class StringMatchAndHistogramTests
{
    [Theory]
    [InlineData("*", "anything", false, true)]
    [InlineData("h?llo", "hello", false, true)]
    [InlineData("h*llo", "heeeello", false, true)]
    [InlineData("h[ae]llo", "hallo", false, true)]
    [InlineData("h[^e]llo", "hello", false, false)]
    [InlineData("h[a-b]llo", "hbllo", false, true)]
    [InlineData("h[b-a]llo", "hbllo", false, true)]
    [InlineData("h\\*llo", "h*llo", false, true)]
    [InlineData("h\\*llo", "hello", false, false)]
    [InlineData("CONFIG|*RE*", "config|rewrite", true, true)]
    [InlineData("CONFIG|*RE*", "config|rewrite", false, false)]
    [InlineData("a*", "", false, false)]
    [InlineData("*", "", false, false)]
    [InlineData("", "", false, true)]
    [InlineData("abc*", "abc", false, true)]
    [InlineData("[abc", "a", false, true)]
    [InlineData("a[", "a", false, false)]
    public void GlobSemantics(string pattern, string s, bool nocase, bool expected) =>
        Assert.Equal(expected, StringMatch.Match(pattern, s, nocase));

    [Fact]
    public void PathologicalPatternsFinishQuickly()
    {
        var pattern = string.Concat(Enumerable.Repeat("a*", 30)) + "b";
        var s = new string('a', 60);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(StringMatch.Match(pattern, s, false));
        Assert.True(watch.ElapsedMilliseconds < 1000);
    }

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
