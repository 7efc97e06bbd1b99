using System.Text;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Tests.Types;

/// <summary>The slab-backed member table of large sets against a HashSet model: random adds and
/// removals with members of every size, so that slabs fill, large members get arrays of their own,
/// dead bytes are repacked and the table grows and shrinks.</summary>
public sealed class MemberTableTests
{
    private static void Verify(MemberTable table, HashSet<string> model)
    {
        Assert.Equal(model.Count, table.Count);
        var seen = new HashSet<string>();
        for (int i = 0; i < table.IndexLimit; i++)
        {
            if (!table.IsOccupied(i)) continue;
            var text = Encoding.Latin1.GetString(table.MemberAt(i).Span);
            Assert.True(seen.Add(text), "each member once");
            Assert.Equal(i, table.Find(table.MemberAt(i).Span));
        }
        Assert.True(model.SetEquals(seen));
    }

    private static string RandomMember(Random r) => r.Next(10) switch
    {
        0 => new string('L', r.Next(MemberTable.LargeMember - 2, MemberTable.LargeMember * 3)),
        1 => new string('m', r.Next(128, 400)),
        2 => "",
        _ => "member:" + r.Next(20000),
    };

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomEditsMatchModel(int seed)
    {
        var r = new Random(seed);
        var table = new MemberTable();
        var model = new HashSet<string>();
        for (int step = 0; step < 60000; step++)
        {
            // Phases of growth and of shrinking, so repacking and table shrinking both happen.
            bool adding = (step / 15000) % 2 == 0 ? r.Next(4) != 0 : r.Next(4) == 0;
            if (adding)
            {
                var m = RandomMember(r);
                var bytes = Encoding.Latin1.GetBytes(m);
                int hash = KeyHash.Hash(bytes);
                bool present = table.Find(bytes, hash) >= 0;
                Assert.Equal(model.Contains(m), present);
                if (!present)
                {
                    table.Add(bytes, hash);
                    model.Add(m);
                }
            }
            else if (model.Count > 0)
            {
                var m = model.ElementAt(r.Next(Math.Min(model.Count, 50)));
                int i = table.Find(Encoding.Latin1.GetBytes(m));
                Assert.True(i >= 0);
                var before = table.MemberAt(i);
                table.RemoveAt(i);
                model.Remove(m);
                // A value read before a removal keeps its bytes (slabs are never overwritten).
                Assert.Equal(m, Encoding.Latin1.GetString(before.Span));
            }
            if (step % 5000 == 0) Verify(table, model);
        }
        Verify(table, model);
        var copy = table.Compacted();
        Verify(copy, model);
        Assert.True(copy.MemoryBytes <= table.MemoryBytes + 64 * 1024);
    }

    [Fact]
    public void SmallMembersShareSlabs()
    {
        var table = new MemberTable();
        for (int i = 0; i < 100_000; i++)
        {
            var m = Encoding.ASCII.GetBytes("member:" + i);
            table.Add(m, KeyHash.Hash(m));
        }
        // ~13 bytes each behind a one-byte length, 16-byte entries, 4-byte buckets, in 64 KB slabs.
        Assert.InRange(table.MemoryBytes / 100_000.0, 30, 45);
        var scanned = new HashSet<int>();
        var slots = new List<int>();
        ulong cursor = 0;
        do
        {
            slots.Clear();
            cursor = table.ScanBucket(cursor, slots);
            foreach (var s in slots) Assert.True(scanned.Add(s));
        } while (cursor != 0);
        Assert.Equal(100_000, scanned.Count);
    }
}
