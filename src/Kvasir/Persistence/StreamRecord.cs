using Kvasir.Persistence.Encodings;
using Kvasir.Types.Streams;

namespace Kvasir.Persistence;

/// <summary>
/// A stream as an RDB record (Valkey's rdbSaveObject / rdbLoadObject for RDB_TYPE_STREAM_LISTPACKS,
/// _2 and _3): the nodes as (16-byte big-endian master ID, listpack) string pairs exactly as held in
/// memory, the length and IDs, then the groups with their global PEL (ID, delivery time, count)
/// and consumers (name, seen time, active time since _3, the IDs of their PEL). _2 added the first
/// ID, the largest deleted ID, the entries-added counter and each group's read counter; _3 the
/// consumers' active time. Redis 7.0 (RDB 10) reads up to _2, so that is what RDB 10 gets.
/// </summary>
internal static class StreamRecord
{
    /// <summary>The record type for a file of RDB <paramref name="version"/>.</summary>
    public static RdbType TypeFor(int version) => version >= 11 ? RdbType.StreamListpacks3 : RdbType.StreamListpacks2;

    public static void Write(RdbOutput o, StreamValue s, RdbType type)
    {
        Span<byte> id = stackalloc byte[16];
        o.WriteLength((ulong)s.Nodes.Count);
        foreach (var node in s.Nodes)
        {
            node.Key.WriteBigEndian(id);
            o.WriteString(id);
            o.WriteString(node.Value.AsSpan(0, StreamListpack.TotalBytes(node.Value)));
        }
        o.WriteLength(s.Length);
        o.WriteLength(s.LastId.Ms);
        o.WriteLength(s.LastId.Seq);
        if (type != RdbType.StreamListpacks)
        {
            o.WriteLength(s.FirstId.Ms);
            o.WriteLength(s.FirstId.Seq);
            o.WriteLength(s.MaxDeletedId.Ms);
            o.WriteLength(s.MaxDeletedId.Seq);
            o.WriteLength(s.EntriesAdded);
        }
        var groups = s.Groups;
        int groupCount = groups?.Count ?? 0;
        o.WriteLength((ulong)groupCount);
        for (int g = 0; g < groupCount; g++)
        {
            var group = groups!.ValueAt(g);
            o.WriteString(groups.NameAt(g));
            o.WriteLength(group.LastId.Ms);
            o.WriteLength(group.LastId.Seq);
            if (type != RdbType.StreamListpacks) o.WriteLength((ulong)group.EntriesRead);
            o.WriteLength((ulong)group.Pel.Count);
            foreach (var kv in group.Pel)
            {
                kv.Key.WriteBigEndian(id);
                o.WriteRaw(id);
                o.WriteMillisecondTime(kv.Value.DeliveryTime);
                o.WriteLength((ulong)kv.Value.DeliveryCount);
            }
            o.WriteLength((ulong)group.Consumers.Count);
            for (int c = 0; c < group.Consumers.Count; c++)
            {
                var consumer = group.Consumers.ValueAt(c);
                o.WriteString(consumer.Name);
                o.WriteMillisecondTime(consumer.SeenTime);
                if (type == RdbType.StreamListpacks3) o.WriteMillisecondTime(consumer.ActiveTime);
                o.WriteLength((ulong)consumer.Pel.Count);
                foreach (var kv in consumer.Pel)
                {
                    kv.Key.WriteBigEndian(id);
                    o.WriteRaw(id);
                }
            }
        }
    }

    /// <summary>Reads a stream record of <paramref name="type"/>, checking every node as Valkey's deep sanitization does.</summary>
    public static StreamValue Read(RdbInput input, RdbType type)
    {
        var s = new StreamValue();
        ulong nodes = input.ReadLength();
        ulong live = 0;
        Span<byte> raw = stackalloc byte[16];
        while (nodes-- > 0)
        {
            var key = input.ReadString();
            if (key.Length != 16) throw new RdbException("Stream node key entry is not the size of a stream ID");
            var lp = input.ReadString();
            if (!TryValidate(lp, out long liveInNode)) throw new RdbException("Stream listpack integrity check failed.");
            if (StreamListpack.First(lp) < 0) throw new RdbException("Empty listpack inside stream");
            if (!s.AddLoadedNode(StreamId.ReadBigEndian(key), lp)) throw new RdbException("Listpack re-added with existing key");
            live += (ulong)liveInNode;
        }
        s.Length = input.ReadLength();
        s.LastId = new StreamId(input.ReadLength(), input.ReadLength());
        if (type != RdbType.StreamListpacks)
        {
            s.FirstId = new StreamId(input.ReadLength(), input.ReadLength());
            s.MaxDeletedId = new StreamId(input.ReadLength(), input.ReadLength());
            s.EntriesAdded = input.ReadLength();
        }
        else
        {
            // Before Redis 7 the counters did not exist: the best estimate is the length.
            s.EntriesAdded = s.Length;
            s.FirstId = s.Length == 0 ? StreamId.Zero : s.EdgeId(first: true, skipTombstones: true);
        }
        if (s.Length != 0 && s.NodeCount == 0 || s.Length != live) throw new RdbException("Stream length inconsistent with rax entries");

        ulong groups = input.ReadLength();
        while (groups-- > 0)
        {
            var name = input.ReadString();
            var lastId = new StreamId(input.ReadLength(), input.ReadLength());
            long entriesRead = type != RdbType.StreamListpacks
                ? (long)input.ReadLength()
                : s.EstimateDistanceFromFirstEverEntry(lastId);
            var group = s.CreateGroup(name, lastId, entriesRead)
                ?? throw new RdbException($"Duplicated consumer group name {System.Text.Encoding.UTF8.GetString(name)}");

            ulong pel = input.ReadLength();
            while (pel-- > 0)
            {
                input.ReadExactly(raw);
                var nack = new PendingEntry(input.ReadMillisecondTime(), null) { DeliveryCount = (long)input.ReadLength() };
                if (!group.Pel.TryAdd(StreamId.ReadBigEndian(raw), nack))
                    throw new RdbException("Duplicated global PEL entry loading stream consumer group");
            }

            ulong consumers = input.ReadLength();
            while (consumers-- > 0)
            {
                var consumerName = input.ReadString();
                var consumer = group.CreateConsumer(consumerName, 0) ?? throw new RdbException("Duplicate stream consumer detected.");
                consumer.SeenTime = input.ReadMillisecondTime();
                // Before _3 only the seen time was kept: the best estimate of the active time.
                consumer.ActiveTime = type == RdbType.StreamListpacks3 ? input.ReadMillisecondTime() : consumer.SeenTime;
                ulong owned = input.ReadLength();
                while (owned-- > 0)
                {
                    input.ReadExactly(raw);
                    var id = StreamId.ReadBigEndian(raw);
                    if (!group.Pel.TryGetValue(id, out var nack)) throw new RdbException("Consumer entry not found in group global PEL");
                    nack.Consumer = consumer;
                    if (!consumer.Pel.TryAdd(id, nack)) throw new RdbException("Duplicated consumer PEL entry  loading a stream consumer group");
                }
            }
            foreach (var kv in group.Pel)
                if (kv.Value.Consumer is null) throw new RdbException("Stream CG PEL entry without consumer");
        }
        return s;
    }

    /// <summary>
    /// streamValidateListpackIntegrity, deep: a sound listpack whose entries form a master entry
    /// and then live plus deleted entries, each with the right element count; also returns the live count.
    /// </summary>
    public static bool TryValidate(byte[] lp, out long liveCount)
    {
        liveCount = 0;
        if (!ListpackReader.TryOpen(lp, out var reader)) return false;
        long elements = 0;
        while (reader.Next(out _)) elements++;
        if (!reader.IsValid) return false;

        // Every element is well formed: walk the stream structure, counting elements used.
        long used = 0;
        int p = StreamListpack.First(lp);
        bool Step(ref int pos)
        {
            if (pos < 0) return false;
            pos = StreamListpack.Next(lp, pos);
            used++;
            return true;
        }
        bool Int(int pos, out long v)
        {
            v = 0;
            return pos >= 0 && StreamListpack.TryGetInteger(lp, pos, out v);
        }

        if (!Int(p, out long entries) || !Step(ref p)) return false;
        if (!Int(p, out long deleted) || !Step(ref p)) return false;
        if (!Int(p, out long masterFields) || !Step(ref p)) return false;
        if (masterFields < 0 || masterFields > elements) return false;
        for (long j = 0; j < masterFields; j++)
            if (!Step(ref p)) return false;
        if (!Int(p, out long zero) || zero != 0 || !Step(ref p)) return false;
        if (entries < 0 || deleted < 0 || entries + deleted > elements) return false;

        for (long e = entries + deleted; e > 0; e--)
        {
            long fields = masterFields, extra = 3;
            if (!Int(p, out long flags) || !Step(ref p)) return false;
            if (!Int(p, out _) || !Step(ref p)) return false;
            if (!Int(p, out _) || !Step(ref p)) return false;
            if ((flags & StreamValue.FlagSameFields) == 0)
            {
                if (!Int(p, out fields) || !Step(ref p)) return false;
                if (fields < 0 || fields > elements) return false;
                for (long j = 0; j < fields; j++)
                    if (!Step(ref p)) return false;
                extra += fields + 1;
            }
            for (long j = 0; j < fields; j++)
                if (!Step(ref p)) return false;
            if (!Int(p, out long lpCount) || lpCount != fields + extra || !Step(ref p)) return false;
        }
        // Nothing may follow the last entry.
        if (p >= 0 || used != elements) return false;
        liveCount = entries;
        return true;
    }
}
