using Kvasir.Keyspace.Eviction;

namespace Kvasir.Tests.Eviction;

public sealed class EvictionPoolTests
{
    [Fact]
    public void KeepsTheSixteenBestAndGivesTheBestFirst()
    {
        var pool = new EvictionPool();
        for (int i = 0; i < 40; i++) pool.Offer(System.Text.Encoding.ASCII.GetBytes("k" + i), i % 3, (ulong)((i * 7) % 40));
        Assert.Equal(EvictionPool.Size, pool.Count);
        ulong previous = ulong.MaxValue;
        int taken = 0;
        while (pool.TakeBest(out var key, out int db))
        {
            int i = int.Parse(System.Text.Encoding.ASCII.GetString(key)[1..]);
            ulong score = (ulong)((i * 7) % 40);
            Assert.True(score < previous);
            Assert.Equal(i % 3, db);
            Assert.True(score >= 24); // only the 16 best of scores 0..39
            previous = score;
            taken++;
        }
        Assert.Equal(EvictionPool.Size, taken);
    }

    [Fact]
    public void ASampledAgainKeyTakesOneSlot()
    {
        var pool = new EvictionPool();
        pool.Offer("a"u8, 0, 5);
        pool.Offer("a"u8, 0, 9);
        pool.Offer("a"u8, 1, 1);
        Assert.Equal(2, pool.Count);
        Assert.True(pool.TakeBest(out var key, out int db));
        Assert.Equal("a", System.Text.Encoding.ASCII.GetString(key));
        Assert.Equal(0, db);
    }
}
