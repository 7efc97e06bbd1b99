using Kvasir.Commands;

namespace Kvasir.Cluster;

/// <summary>
/// Per-slot usage (CLUSTER SLOT-STATS): key counts always; CPU time and network bytes in and out of
/// the commands addressed to each slot while cluster-slot-stats-enabled is on.
/// </summary>
public sealed class SlotStatistics
{
    public readonly long[] CpuMicros = new long[KeySlot.Count];
    public readonly long[] BytesIn = new long[KeySlot.Count];
    public readonly long[] BytesOut = new long[KeySlot.Count];

    /// <summary>Bytes in and out on <paramref name="slot"/>'s account.</summary>
    public void AddTraffic(int slot, long bytesIn, long bytesOut)
    {
        BytesIn[slot] += bytesIn;
        BytesOut[slot] += bytesOut;
    }

    public void Reset(int slot)
    {
        CpuMicros[slot] = 0;
        BytesIn[slot] = 0;
        BytesOut[slot] = 0;
    }

    public void ResetAll()
    {
        Array.Clear(CpuMicros);
        Array.Clear(BytesIn);
        Array.Clear(BytesOut);
    }

    private enum Metric { KeyCount, CpuUsec, BytesIn, BytesOut }

    /// <summary>CLUSTER SLOT-STATS SLOTSRANGE start end | ORDERBY metric [LIMIT n] [ASC|DESC].</summary>
    public static void Command(CommandContext ctx, ClusterState cluster)
    {
        var stats = cluster.SlotStats;
        bool enabled = ctx.Server.Config.ClusterSlotStatsEnabled;
        var primary = cluster.Myself.TopPrimary();
        if (ctx.ArgCount == 5 && ctx.ArgIs(2, "SLOTSRANGE"u8))
        {
            int start = ClusterCommands.SlotOrReply(ctx, 3);
            if (start < 0) return;
            int end = ClusterCommands.SlotOrReply(ctx, 4);
            if (end < 0) return;
            if (start > end)
            {
                ctx.Error($"ERR Start slot number {start} is greater than end slot number {end}");
                return;
            }
            var slots = new List<int>();
            for (int s = start; s <= end; s++)
                if (primary.CoversSlot(s)) slots.Add(s);
            Write(ctx, cluster, slots, enabled);
            return;
        }
        if (ctx.ArgCount >= 4 && ctx.ArgIs(2, "ORDERBY"u8))
        {
            Metric metric;
            if (ctx.ArgIs(3, "KEY-COUNT"u8)) metric = Metric.KeyCount;
            else if (ctx.ArgIs(3, "CPU-USEC"u8) && enabled) metric = Metric.CpuUsec;
            else if (ctx.ArgIs(3, "NETWORK-BYTES-IN"u8) && enabled) metric = Metric.BytesIn;
            else if (ctx.ArgIs(3, "NETWORK-BYTES-OUT"u8) && enabled) metric = Metric.BytesOut;
            else
            {
                ctx.Error("ERR Unrecognized sort metric for ORDERBY.");
                return;
            }
            bool desc = true;
            long limit = KeySlot.Count;
            int limits = 0, orders = 0;
            for (int i = 4; i < ctx.ArgCount; i++)
            {
                bool more = ctx.ArgCount > i + 1;
                if (ctx.ArgIs(i, "LIMIT"u8) && more)
                {
                    if (!Types.NumberParser.TryParseLong(ctx.Args[i + 1], out limit) || limit < 1 || limit > KeySlot.Count)
                    {
                        ctx.Error("ERR Limit has to lie in between 1 and 16384 (maximum number of slots).");
                        return;
                    }
                    i++;
                    limits++;
                }
                else if (ctx.ArgIs(i, "ASC"u8))
                {
                    desc = false;
                    orders++;
                }
                else if (ctx.ArgIs(i, "DESC"u8))
                {
                    desc = true;
                    orders++;
                }
                else
                {
                    ctx.SyntaxError();
                    return;
                }
                if (limits > 1 || orders > 1)
                {
                    ctx.Error("ERR Multiple filters of the same type are disallowed.");
                    return;
                }
            }
            var slots = new List<(int Slot, long Value)>();
            for (int s = 0; s < KeySlot.Count; s++)
            {
                if (!primary.CoversSlot(s)) continue;
                long v = metric switch
                {
                    Metric.KeyCount => cluster.CountKeysInSlot(s),
                    Metric.CpuUsec => stats?.CpuMicros[s] ?? 0,
                    Metric.BytesIn => stats?.BytesIn[s] ?? 0,
                    _ => stats?.BytesOut[s] ?? 0,
                };
                slots.Add((s, v));
            }
            slots.Sort((a, b) => a.Value != b.Value ? (desc ? b.Value.CompareTo(a.Value) : a.Value.CompareTo(b.Value)) : a.Slot.CompareTo(b.Slot));
            int count = (int)Math.Min(limit, cluster.MyShardSlotCount());
            Write(ctx, cluster, slots.Take(count).Select(x => x.Slot).ToList(), enabled);
            return;
        }
        HelpText.SubcommandSyntaxError(ctx);
    }

    private static void Write(CommandContext ctx, ClusterState cluster, List<int> slots, bool enabled)
    {
        var w = ctx.Reply;
        var stats = cluster.SlotStats;
        w.WriteArray(slots.Count);
        foreach (int s in slots)
        {
            w.WriteArray(2);
            w.WriteInteger(s);
            w.WriteMap(enabled ? 4 : 1);
            w.WriteBulk("key-count"u8);
            w.WriteInteger(cluster.CountKeysInSlot(s));
            if (!enabled) continue;
            w.WriteBulk("cpu-usec"u8);
            w.WriteInteger(stats?.CpuMicros[s] ?? 0);
            w.WriteBulk("network-bytes-in"u8);
            w.WriteInteger(stats?.BytesIn[s] ?? 0);
            w.WriteBulk("network-bytes-out"u8);
            w.WriteInteger(stats?.BytesOut[s] ?? 0);
        }
    }
}
