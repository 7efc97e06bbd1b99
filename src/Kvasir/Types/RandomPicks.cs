using Kvasir.Keyspace;

namespace Kvasir.Types;

/// <summary>
/// The random selections behind HRANDFIELD and ZRANDMEMBER (and their Valkey strategies), shared by
/// the hash and sorted-set encodings.
/// </summary>
internal static class RandomPicks
{
    /// <summary>Selection sampling over a sequence walked in order: take the current item when this is true
    /// (<paramref name="needed"/> more wanted among <paramref name="remaining"/> left), giving each subset equal odds.</summary>
    public static bool TakeNext(Random random, long remaining, long needed) => random.NextDouble() * remaining < needed;

    /// <summary>
    /// <paramref name="count"/> distinct occupied slots of <paramref name="table"/> (count &lt; Count): when
    /// more than a third is wanted, random slots are dropped from a list of all of them (Valkey's CASE 3),
    /// otherwise random slots are drawn until enough distinct ones were seen (CASE 4).
    /// </summary>
    public static void DistinctSlots<TTable>(TTable table, Random random, long count, Action<int> visit)
        where TTable : ISlotTable
    {
        int size = table.Count;
        if (count * 3 > size)
        {
            var picked = new List<int>(size);
            for (int i = 0; i < table.IndexLimit; i++)
                if (table.IsOccupied(i)) picked.Add(i);
            while (picked.Count > count)
            {
                int r = random.Next(picked.Count);
                picked[r] = picked[^1];
                picked.RemoveAt(picked.Count - 1);
            }
            foreach (int i in picked) visit(i);
            return;
        }
        var seen = new HashSet<int>((int)count);
        while (seen.Count < count)
        {
            int i = table.RandomIndex(random);
            if (seen.Add(i)) visit(i);
        }
    }
}
