using System.Text;
using Kvasir.Persistence;
using Kvasir.Protocol;
using Kvasir.Types.Streams;

namespace Kvasir.Tests.Types;

/// <summary>
/// The stream value without a server: IDs, the ordered map of nodes and PELs, the node layout
/// (checked against Valkey's own bytes), trimming and deletion, and the listpack validation of
/// loaded nodes.
/// </summary>
public sealed class StreamValueTests
{
    private static CommandArgs Args(params string[] parts)
    {
        var args = new CommandArgs();
        args.SetOwned(parts.Select(p => Encoding.UTF8.GetBytes(p)).ToList());
        return args;
    }

    private static StreamId Add(StreamValue s, string id, params string[] fieldsAndValues)
    {
        var args = Args(fieldsAndValues);
        StreamId.TryParse(Encoding.ASCII.GetBytes(id), 0, strict: true, allowAutoSeq: true, out var requested, out bool seqGiven);
        var result = s.Append(args, 0, fieldsAndValues.Length / 2, idGiven: true, requested, seqGiven, 0, 4096, 100, out var added);
        Assert.Equal(StreamAppendResult.Added, result);
        return added;
    }

    private static List<string> Entries(StreamValue s, bool reverse = false)
    {
        var list = new List<string>();
        var it = new StreamIterator(s, reverse);
        Span<byte> a = stackalloc byte[24], b = stackalloc byte[24];
        while (it.Next(out var id, out long fields))
        {
            var sb = new StringBuilder(id.ToString());
            for (long i = 0; i < fields; i++)
            {
                it.Field(out var f, out var v);
                sb.Append(' ').Append(Encoding.UTF8.GetString(f.AsSpan(a))).Append('=').Append(Encoding.UTF8.GetString(v.AsSpan(b)));
            }
            list.Add(sb.ToString());
        }
        return list;
    }

    // ----- IDs -----

    [Theory]
    [InlineData("5", 0UL, 5UL, 0UL)]
    [InlineData("5-7", 0UL, 5UL, 7UL)]
    [InlineData("5", ulong.MaxValue, 5UL, ulong.MaxValue)]
    [InlineData("18446744073709551615-18446744073709551615", 0UL, ulong.MaxValue, ulong.MaxValue)]
    [InlineData(" 5", 0UL, 5UL, 0UL)]          // strtoull takes leading blanks
    [InlineData("+5-007", 0UL, 5UL, 7UL)]      // a sign and leading zeros too
    public void ParsesIdsAsValkeyDoes(string text, ulong missingSeq, ulong ms, ulong seq)
    {
        Assert.True(StreamId.TryParse(Encoding.ASCII.GetBytes(text), missingSeq, strict: true, allowAutoSeq: false, out var id, out _));
        Assert.Equal(new StreamId(ms, seq), id);
    }

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("1-2-3")]
    [InlineData("-1")]
    [InlineData("18446744073709551616")]
    [InlineData("1-")]
    [InlineData("5-*")]
    public void RefusesMalformedIds(string text) =>
        Assert.False(StreamId.TryParse(Encoding.ASCII.GetBytes(text), 0, strict: true, allowAutoSeq: false, out _, out _));

    [Fact]
    public void SpecialIdsAndTheAutoSequence()
    {
        Assert.False(StreamId.TryParse("-"u8, 0, strict: true, allowAutoSeq: false, out _, out _));
        Assert.True(StreamId.TryParse("-"u8, 0, strict: false, allowAutoSeq: false, out var min, out _));
        Assert.True(StreamId.TryParse("+"u8, 0, strict: false, allowAutoSeq: false, out var max, out _));
        Assert.Equal(StreamId.Zero, min);
        Assert.Equal(StreamId.Max, max);
        Assert.True(StreamId.TryParse("9-*"u8, 0, strict: true, allowAutoSeq: true, out var auto, out bool seqGiven));
        Assert.False(seqGiven);
        Assert.Equal(9UL, auto.Ms);
        Assert.False(StreamId.Max.TryIncrement(out var wrapped));
        Assert.Equal(StreamId.Zero, wrapped);
        Assert.True(new StreamId(3, 0).TryDecrement(out var before));
        Assert.Equal(new StreamId(2, ulong.MaxValue), before);
        Span<byte> be = stackalloc byte[16];
        new StreamId(0x0102, 0x0304).WriteBigEndian(be);
        Assert.Equal(new StreamId(0x0102, 0x0304), StreamId.ReadBigEndian(be));
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 3, 4 }, be.ToArray());
    }

    // ----- the ordered map -----

    [Fact]
    public void IdMapKeepsOrderThroughRandomInsertsAndRemovals()
    {
        var map = new StreamIdMap<int>();
        var model = new SortedDictionary<StreamId, int>();
        var rnd = new Random(42);
        for (int step = 0; step < 20000; step++)
        {
            var id = new StreamId((ulong)rnd.Next(500), (ulong)rnd.Next(20));
            if (rnd.Next(3) == 0)
            {
                Assert.Equal(model.Remove(id), map.Remove(id));
            }
            else
            {
                bool isNew = !model.ContainsKey(id);
                Assert.Equal(isNew, map.TryAdd(id, step));
                if (isNew) model[id] = step;
            }
        }
        Assert.Equal(model.Count, map.Count);
        Assert.Equal(model.Select(kv => (kv.Key, kv.Value)), EnumerateMap(map));
        var probe = new StreamId(250, 10);
        var ge = map.SeekGreaterOrEqual(probe);
        Assert.Equal(model.Keys.First(k => k >= probe), map.KeyAt(ge));
        var le = map.SeekLessOrEqual(probe);
        Assert.Equal(model.Keys.Last(k => k <= probe), map.KeyAt(le));
        Assert.Equal(model.Keys.Last(), map.LastKey);
        var back = new List<StreamId>();
        for (var c = map.Last(); c.Valid; c = map.Previous(c)) back.Add(map.KeyAt(c));
        Assert.Equal(model.Keys.Reverse(), back);
    }

    private static List<(StreamId, int)> EnumerateMap(StreamIdMap<int> map)
    {
        var list = new List<(StreamId, int)>();
        foreach (var kv in map) list.Add((kv.Key, kv.Value));
        return list;
    }

    [Fact]
    public void AppendingKeepsLeavesFullAndMemoryFollowsRemovals()
    {
        var map = new StreamIdMap<int>();
        for (int i = 0; i < 10 * StreamIdMap<int>.LeafCapacity; i++) map.TryAdd(new StreamId((ulong)i, 0), i);
        Assert.Equal(10, map.LeafCount);
        long full = map.OverheadBytes;
        for (int i = 0; i < 9 * StreamIdMap<int>.LeafCapacity; i++) Assert.True(map.Remove(new StreamId((ulong)i, 0)));
        Assert.Equal(1, map.LeafCount);
        Assert.True(map.OverheadBytes < full / 4);
    }

    // ----- node layout -----

    /// <summary>
    /// DUMP of "XADD s 1-1 a 1 b 2; XADD s 1-2 a 3 b 4; XADD s 5-0 c hello; XDEL s 1-2" from Valkey
    /// 8.1: the node's bytes (master entry, same-fields flags, deltas, the deleted flag) must be the
    /// same, so the payload is.
    /// </summary>
    private const string ValkeyDump =
        "150110000000000000000100000000000000014042420000001900020101010201816102816202000102010001000101010201050103010001010103010401050100010401dfff0201018163028568656c6c6f060601ff0205000101010203000b00f2eeb6f5bc5de7d0";

    [Fact]
    public void NodeBytesAreValkeys()
    {
        var s = new StreamValue();
        Add(s, "1-1", "a", "1", "b", "2");
        Add(s, "1-2", "a", "3", "b", "4");
        Add(s, "5-0", "c", "hello");
        Assert.True(s.Delete(new StreamId(1, 2)));
        s.MaxDeletedId = new StreamId(1, 2);
        var ms = new MemoryStream();
        var o = new RdbOutput(ms, compress: true, checksum: false);
        o.WriteByte((byte)RdbType.StreamListpacks3);
        StreamRecord.Write(o, s, RdbType.StreamListpacks3);
        o.Flush();
        var expected = Convert.FromHexString(ValkeyDump);
        Assert.Equal(Convert.ToHexString(expected.AsSpan(0, expected.Length - 10)), Convert.ToHexString(ms.ToArray()));
        Assert.Equal(new[] { "1-1 a=1 b=2", "5-0 c=hello" }, Entries(s));
        Assert.Equal(new[] { "5-0 c=hello", "1-1 a=1 b=2" }, Entries(s, reverse: true));
    }

    [Fact]
    public void NodesSplitByEntriesAndBytesAndFirstNodeTakesTheFirstEntrysFields()
    {
        var s = new StreamValue();
        var args = Args("f", "v");
        for (int i = 1; i <= 10; i++)
            s.Append(args, 0, 1, idGiven: true, new StreamId((ulong)i, 0), true, 0, nodeMaxBytes: 4096, nodeMaxEntries: 3, out _);
        Assert.Equal(4, s.NodeCount);
        var big = Args("f", new string('x', 100));
        for (int i = 11; i <= 14; i++)
            s.Append(big, 0, 1, idGiven: true, new StreamId((ulong)i, 0), true, 0, nodeMaxBytes: 150, nodeMaxEntries: 0, out _);
        // The first 100-byte value still fits beside entry 10 (node bytes + value < 150); then one per node.
        Assert.Equal(7, s.NodeCount);
        Assert.Equal(14UL, s.Length);
        Assert.Equal(14, Entries(s).Count);
    }

    [Fact]
    public void ExactTrimMarksEntriesAndApproximateTrimOnlyDropsWholeNodes()
    {
        var s = new StreamValue();
        var args = Args("f", "v");
        for (int i = 1; i <= 25; i++) s.Append(args, 0, 1, true, new StreamId((ulong)i, 0), true, 0, 4096, 10, out _);
        Assert.Equal(3, s.NodeCount);
        Assert.Equal(0, s.Trim(StreamTrimStrategy.MaxLen, 18, default, approx: true, limit: 0)); // a node of 10 would leave 15
        Assert.Equal(10, s.Trim(StreamTrimStrategy.MaxLen, 15, default, approx: true, limit: 0));
        Assert.Equal(2, s.NodeCount);
        Assert.Equal(3, s.Trim(StreamTrimStrategy.MaxLen, 12, default, approx: false, limit: 0));
        Assert.Equal(12UL, s.Length);
        Assert.Equal(new StreamId(14, 0), s.FirstId);
        Assert.Equal(2, s.Trim(StreamTrimStrategy.MinId, 0, new StreamId(16, 0), approx: false, limit: 0));
        Assert.Equal(new StreamId(16, 0), s.FirstId);
        Assert.Equal("16-0 f=v", Entries(s)[0]);
    }

    [Fact]
    public void DeletingTheLastLiveEntryOfANodeDropsTheNode()
    {
        var s = new StreamValue();
        var args = Args("f", "v");
        for (int i = 1; i <= 6; i++) s.Append(args, 0, 1, true, new StreamId((ulong)i, 0), true, 0, 4096, 2, out _);
        Assert.Equal(3, s.NodeCount);
        Assert.True(s.Delete(new StreamId(3, 0)));
        Assert.False(s.Delete(new StreamId(3, 0)));
        Assert.Equal(3, s.NodeCount);
        Assert.True(s.Delete(new StreamId(4, 0)));
        Assert.Equal(2, s.NodeCount);
        Assert.Equal(new[] { "1-0 f=v", "2-0 f=v", "5-0 f=v", "6-0 f=v" }, Entries(s));
        Assert.Equal(new StreamId(6, 0), s.LastValidId());
        Assert.True(s.EntryExists(new StreamId(5, 0)));
        Assert.False(s.EntryExists(new StreamId(4, 0)));
    }

    [Fact]
    public void RadixTreeNodeCountIsThatOfValkeysRax()
    {
        // Counts Valkey reports for the same keys (XINFO STREAM radix-tree-nodes), 612 for the last.
        var s = new StreamValue();
        Assert.Equal(1, s.RadixTreeNodes());
        var args = Args("f", "v");
        s.Append(args, 0, 1, true, new StreamId(1, 1), true, 0, 4096, 1, out _);
        Assert.Equal(2, s.RadixTreeNodes());
        s.Append(args, 0, 1, true, new StreamId(1, 2), true, 0, 4096, 1, out _);
        s.Append(args, 0, 1, true, new StreamId(1, 3), true, 0, 4096, 1, out _);
        Assert.Equal(5, s.RadixTreeNodes());
        for (int i = 1; i <= 300; i++)
            s.Append(args, 0, 1, true, new StreamId((ulong)(i * 977), (ulong)(i % 5)), true, 0, 4096, 1, out _);
        Assert.Equal(612, s.RadixTreeNodes());
    }

    // ----- loading -----

    [Fact]
    public void ValidationRefusesDamagedNodes()
    {
        var s = new StreamValue();
        Add(s, "1-1", "a", "1");
        Add(s, "1-2", "b", "2");
        byte[] lp = null!;
        foreach (var kv in s.Nodes) lp = StreamListpack.ShrinkToFit(kv.Value).ToArray();
        Assert.True(StreamRecord.TryValidate(lp, out long live));
        Assert.Equal(2, live);
        var rnd = new Random(3);
        for (int i = 0; i < 500; i++)
        {
            var copy = (byte[])lp.Clone();
            copy[6 + rnd.Next(copy.Length - 7)] ^= (byte)(1 << rnd.Next(8));
            // Whatever the damage, validation answers without throwing (and accepts only sound nodes).
            if (StreamRecord.TryValidate(copy, out _)) Assert.True(copy.Length >= 7);
        }
        Assert.False(StreamRecord.TryValidate(lp.AsSpan(0, lp.Length - 1).ToArray(), out _));

        // A back-length byte with a stray continuation bit still decodes to the right value when the
        // byte before it has none of the low bits set; walked backwards it spans two bytes. Refused,
        // since a reverse read (XREVRANGE) would land in the middle of an entry.
        var s2 = new StreamValue();
        Add(s2, "1-1", "f", "0");
        Add(s2, "1-2", "f", "0");
        byte[] lp2 = null!;
        foreach (var kv in s2.Nodes) lp2 = StreamListpack.ShrinkToFit(kv.Value).ToArray();
        Assert.True(StreamRecord.TryValidate(lp2, out _));
        int zero = -1;
        for (int p = StreamListpack.First(lp2); p >= 0; p = StreamListpack.Next(lp2, p))
            if (lp2[p] == 0 && lp2[p + 1] == 1) zero = p;
        Assert.True(zero > 0);
        lp2[zero + 1] = 0x81;
        Assert.False(StreamRecord.TryValidate(lp2, out _));
    }
}
