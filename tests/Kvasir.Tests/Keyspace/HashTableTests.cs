using System.Text;
using Kvasir.Keyspace;

namespace Kvasir.Tests.Keyspace;

public sealed class HashTableTests
{
    private readonly struct BytesKeyOf : IKeyOf<byte[]>
    {
        public ReadOnlySpan<byte> KeyOf(byte[] item) => item;
        public bool IsEmpty(byte[] item) => item is null;
    }

    private static byte[] K(string s) => Encoding.ASCII.GetBytes(s);

    private static void Add(HashTable<byte[], BytesKeyOf> t, string key)
    {
        var k = K(key);
        t.Add(k, KeyHash.Hash(k));
    }

    private static bool Remove(HashTable<byte[], BytesKeyOf> t, string key)
    {
        int i = t.Find(K(key));
        if (i < 0) return false;
        t.RemoveAt(i);
        return true;
    }

    private static List<string> ScanStep(HashTable<byte[], BytesKeyOf> t, ref ulong cursor)
    {
        var idx = new List<int>();
        cursor = t.ScanBucket(cursor, idx);
        var keys = new List<string>();
        foreach (int i in idx) keys.Add(Encoding.ASCII.GetString(t.ItemAt(i)));
        return keys;
    }

    [Fact]
    public void AddFindRemoveKeepIndexesStable()
    {
        var t = new HashTable<byte[], BytesKeyOf>(4);
        for (int i = 0; i < 1000; i++) Add(t, "k" + i);
        Assert.Equal(1000, t.Count);
        int idx500 = t.Find(K("k500"));
        for (int i = 0; i < 1000; i++)
            if (i != 500) Assert.True(Remove(t, "k" + i));
        // Shrinking rehashes buckets but an item keeps its index.
        Assert.Equal(idx500, t.Find(K("k500")));
        Assert.Equal(1, t.Count);
        Assert.Equal(-1, t.Find(K("k1")));
        Assert.True(t.BucketCount <= 64);
    }

    [Fact]
    public void FullScanWithoutChangesReturnsEveryKeyOnce()
    {
        var t = new HashTable<byte[], BytesKeyOf>(4);
        for (int i = 0; i < 5000; i++) Add(t, "key:" + i);
        var seen = new Dictionary<string, int>();
        ulong cursor = 0;
        do
        {
            foreach (var k in ScanStep(t, ref cursor)) seen[k] = seen.GetValueOrDefault(k) + 1;
        } while (cursor != 0);
        Assert.Equal(5000, seen.Count);
        Assert.All(seen.Values, n => Assert.Equal(1, n));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void ScanReturnsEveryKeyPresentForTheWholeScanAcrossGrowAndShrink(int seed)
    {
        var rnd = new Random(seed);
        var t = new HashTable<byte[], BytesKeyOf>(4);
        const int stable = 300;
        for (int i = 0; i < stable; i++) Add(t, "stable:" + i);
        var churn = new List<string>();
        int next = 0;
        var seen = new HashSet<string>();
        ulong cursor = 0;
        int step = 0;
        int maxBuckets = 0, minBucketsAfterPeak = int.MaxValue;
        do
        {
            foreach (var k in ScanStep(t, ref cursor)) seen.Add(k);
            step++;
            // First grow the table a lot between scan calls, then shrink it back, then churn randomly.
            if (step < 40)
            {
                for (int i = 0; i < 200; i++)
                {
                    string k = "churn:" + next++;
                    Add(t, k);
                    churn.Add(k);
                }
            }
            else if (churn.Count > 0 && step < 80)
            {
                int n = Math.Min(churn.Count, 300);
                for (int i = 0; i < n; i++)
                {
                    int j = rnd.Next(churn.Count);
                    Remove(t, churn[j]);
                    churn[j] = churn[^1];
                    churn.RemoveAt(churn.Count - 1);
                }
            }
            else if (rnd.Next(2) == 0)
            {
                string k = "churn:" + next++;
                Add(t, k);
                churn.Add(k);
            }
            maxBuckets = Math.Max(maxBuckets, t.BucketCount);
            if (maxBuckets > t.BucketCount) minBucketsAfterPeak = Math.Min(minBucketsAfterPeak, t.BucketCount);
        } while (cursor != 0 && step < 1_000_000);

        Assert.Equal(0UL, cursor);
        Assert.True(maxBuckets >= 4096, $"table should have grown (max {maxBuckets})");
        Assert.True(minBucketsAfterPeak < maxBuckets, "table should have shrunk during the scan");
        for (int i = 0; i < stable; i++) Assert.Contains("stable:" + i, seen);
    }

    [Fact]
    public void ScanOfEmptyTableEndsAtOnce()
    {
        var t = new HashTable<byte[], BytesKeyOf>(16);
        ulong cursor = 12345;
        Assert.Empty(ScanStep(t, ref cursor));
        Assert.Equal(0UL, cursor);
    }

    [Fact]
    public void RandomIndexReachesEveryItemEvenWhenSparse()
    {
        var t = new HashTable<byte[], BytesKeyOf>(4);
        for (int i = 0; i < 2000; i++) Add(t, "k" + i);
        for (int i = 0; i < 2000; i++)
            if (i % 500 != 0) Remove(t, "k" + i);
        var rnd = new Random(7);
        var seen = new HashSet<string>();
        for (int n = 0; n < 2000; n++) seen.Add(Encoding.ASCII.GetString(t.ItemAt(t.RandomIndex(rnd))));
        Assert.Equal(new HashSet<string> { "k0", "k500", "k1000", "k1500" }, seen);
        Assert.Equal(-1, new HashTable<byte[], BytesKeyOf>(4).RandomIndex(rnd));
    }
}
