using System.Globalization;
using System.Text;
using Kvasir.Clients;
using Kvasir.Cluster;

namespace Kvasir.Commands;

/// <summary>
/// The cluster family: CLUSTER and its subcommands, ASKING, READONLY and READWRITE. The state
/// they read and change is <see cref="ClusterState"/>; without cluster mode CLUSTER and ASKING
/// answer that cluster support is disabled. READONLY/READWRITE also matter outside cluster mode:
/// a client that announced CLIENT CAPA REDIRECT and sent READONLY may read from a replica.
/// </summary>
public static class ClusterCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("readonly", ctx =>
        {
            ctx.Client.Flags |= ClientFlags.ReadOnly;
            ctx.Reply.WriteOk();
        });
        t.Bind("readwrite", ctx =>
        {
            ctx.Client.Flags &= ~ClientFlags.ReadOnly;
            ctx.Reply.WriteOk();
        });
        t.Bind("asking", ctx => Run(ctx, (c, _) =>
        {
            ctx.Client.Flags |= ClientFlags.Asking;
            ctx.Reply.WriteOk();
        }));
        Sub(t, "help", Help);
        Sub(t, "info", Info);
        Sub(t, "nodes", Nodes);
        Sub(t, "myid", (ctx, c) => ctx.Reply.WriteBulk(c.Myself.Name));
        Sub(t, "myshardid", (ctx, c) => ctx.Reply.WriteBulk(c.Myself.ShardId));
        Sub(t, "slots", ClusterReplies.Slots);
        Sub(t, "shards", ClusterReplies.Shards);
        Sub(t, "links", ClusterReplies.Links);
        Sub(t, "keyslot", (ctx, _) => ctx.Reply.WriteInteger(KeySlot.Of(ctx.Args[2])));
        Sub(t, "countkeysinslot", CountKeysInSlot);
        Sub(t, "getkeysinslot", GetKeysInSlot);
        Sub(t, "replicas", Replicas);
        Sub(t, "slaves", Replicas);
        Sub(t, "meet", Meet);
        Sub(t, "flushslots", FlushSlots);
        Sub(t, "addslots", (ctx, c) => AddOrDeleteSlots(ctx, c, delete: false));
        Sub(t, "delslots", (ctx, c) => AddOrDeleteSlots(ctx, c, delete: true));
        Sub(t, "addslotsrange", (ctx, c) => AddOrDeleteSlotRanges(ctx, c, delete: false));
        Sub(t, "delslotsrange", (ctx, c) => AddOrDeleteSlotRanges(ctx, c, delete: true));
        Sub(t, "setslot", SetSlotCommand.Run);
        Sub(t, "bumpepoch", BumpEpoch);
        Sub(t, "saveconfig", SaveConfig);
        Sub(t, "forget", Forget);
        Sub(t, "replicate", Replicate);
        Sub(t, "count-failure-reports", CountFailureReports);
        Sub(t, "failover", Failover);
        Sub(t, "set-config-epoch", SetConfigEpoch);
        Sub(t, "reset", Reset);
        Sub(t, "slot-stats", SlotStatistics.Command);
    }

    private static void Sub(CommandTable t, string name, Action<CommandContext, ClusterState> handler) =>
        t.Bind("cluster|" + name, ctx => Run(ctx, handler));

    private static void Run(CommandContext ctx, Action<CommandContext, ClusterState> handler)
    {
        if (ctx.Server.Cluster is not { } cluster)
        {
            ctx.Error("ERR This instance has cluster support disabled");
            return;
        }
        handler(ctx, cluster);
    }

    private static void Help(CommandContext ctx, ClusterState _) => HelpText.Write(ctx, "CLUSTER",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MYID",
        "    Return the node id.",
        "MYSHARDID",
        "    Return the node's shard id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port@bus-port[,hostname]> <flags> <primary> <pings> <pongs> <epoch> <link> <slot> ...",
        "REPLICAS <node-id>",
        "    Return <node-id> replicas.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, primary and replicas IP addresses, ports and ids",
        "SLOT-STATS",
        "    Return an array of slot usage statistics for slots assigned to the current node.",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "ADDSLOTS <slot> [<slot> ...]",
        "    Assign slots to current node.",
        "ADDSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Assign slots which are between <start-slot> and <end-slot> to current node.",
        "BUMPEPOCH",
        "    Advance the cluster config epoch.",
        "COUNT-FAILURE-REPORTS <node-id>",
        "    Return number of failure reports for <node-id>.",
        "DELSLOTS <slot> [<slot> ...]",
        "    Delete slots information from current node.",
        "DELSLOTSRANGE <start slot> <end slot> [<start slot> <end slot> ...]",
        "    Delete slots information which are between <start-slot> and <end-slot> from current node.",
        "FAILOVER [FORCE|TAKEOVER]",
        "    Promote current replica node to being a master.",
        "FORGET <node-id>",
        "    Remove a node from the cluster.",
        "FLUSHSLOTS",
        "    Delete current node own slots information.",
        "MEET <ip> <port> [<bus-port>]",
        "    Connect nodes into a working cluster.",
        "REPLICATE <node-id>",
        "    Configure current node as replica to <node-id>.",
        "RESET [HARD|SOFT]",
        "    Reset current node (default: soft).",
        "SET-CONFIG-EPOCH <epoch>",
        "    Set config epoch of current node.",
        "SETSLOT <slot> (IMPORTING <node-id>|MIGRATING <node-id>|STABLE|NODE <node-id>)",
        "    Set slot state.",
        "SAVECONFIG",
        "    Force saving cluster configuration on disk.",
        "LINKS",
        "    Return information about all network links between this node and its peers.",
        "    Output format is an array where each array element is a map containing attributes of a link");

    private static void Info(CommandContext ctx, ClusterState cluster) => ctx.Reply.WriteVerbatim(ClusterReplies.InfoText(cluster));

    private static void Nodes(CommandContext ctx, ClusterState cluster) =>
        ctx.Reply.WriteVerbatim(NodesFile.Describe(cluster, forConfigFile: false, cluster.ClientUsesTls(ctx.Client), ClusterState.ClientIsIpv6(ctx.Client)));

    /// <summary>A slot argument (Valkey's getSlotOrReply); -1 after replying with the error.</summary>
    internal static int SlotOrReply(CommandContext ctx, int index)
    {
        if (!Types.NumberParser.TryParseLong(ctx.Args[index], out long slot) || slot < 0 || slot >= KeySlot.Count)
        {
            ctx.Error("ERR Invalid or out of range slot");
            return -1;
        }
        return (int)slot;
    }

    private static void CountKeysInSlot(CommandContext ctx, ClusterState cluster)
    {
        if (!ctx.TryGetLong(2, out long slot)) return;
        if (slot < 0 || slot >= KeySlot.Count)
        {
            ctx.Error("ERR Invalid slot");
            return;
        }
        ctx.Reply.WriteInteger(cluster.CountKeysInSlot((int)slot));
    }

    private static void GetKeysInSlot(CommandContext ctx, ClusterState cluster)
    {
        if (!ctx.TryGetLong(2, out long slot) || !ctx.TryGetLong(3, out long max)) return;
        if (slot < 0 || slot >= KeySlot.Count || max < 0)
        {
            ctx.Error("ERR Invalid slot or number of keys");
            return;
        }
        var db = ctx.Server.Databases[0];
        long count = Math.Min(max, db.CountKeysInSlot((int)slot));
        ctx.Reply.WriteArray(count);
        int idx = db.FirstInSlot((int)slot);
        for (long i = 0; i < count && idx >= 0; i++, idx = db.NextInSlot(idx)) ctx.Reply.WriteBulk(db.KeyAt(idx));
    }

    private static void Replicas(CommandContext ctx, ClusterState cluster)
    {
        var n = cluster.LookupNode(ctx.Args.ToString(2));
        if (n is null)
        {
            ctx.Error($"ERR Unknown node {ctx.Args.ToString(2)}");
            return;
        }
        if (n.IsReplica)
        {
            ctx.Error("ERR The specified node is not a master");
            return;
        }
        bool tls = cluster.ClientUsesTls(ctx.Client), ipv6 = ClusterState.ClientIsIpv6(ctx.Client);
        var ranges = cluster.SlotRangesByNode();
        ctx.Reply.WriteArray(n.Replicas.Count);
        foreach (var r in n.Replicas)
        {
            var sb = new StringBuilder();
            NodesFile.AppendNode(sb, cluster, r, false, tls, ipv6, ranges.GetValueOrDefault(r));
            ctx.Reply.WriteBulk(sb.ToString());
        }
    }

    private static void Meet(CommandContext ctx, ClusterState cluster)
    {
        if (ctx.ArgCount is not (4 or 5))
        {
            HelpText.SubcommandSyntaxError(ctx);
            return;
        }
        if (!Types.NumberParser.TryParseLong(ctx.Args[3], out long port))
        {
            ctx.Error($"ERR Invalid base port specified: {ctx.Args.ToString(3)}");
            return;
        }
        long busPort = port + ClusterState.PortIncrement;
        if (ctx.ArgCount == 5 && !Types.NumberParser.TryParseLong(ctx.Args[4], out busPort))
        {
            ctx.Error($"ERR Invalid bus port specified: {ctx.Args.ToString(4)}");
            return;
        }
        if (!cluster.StartHandshake(ctx.Args.ToString(2), port, busPort, out bool invalid) && invalid)
        {
            ctx.Error($"ERR Invalid node address specified: {ctx.Args.ToString(2)}:{ctx.Args.ToString(3)}");
            return;
        }
        ctx.Reply.WriteOk();
    }

    private static void FlushSlots(CommandContext ctx, ClusterState cluster)
    {
        if (ctx.Server.Databases[0].Count != 0)
        {
            ctx.Error("ERR DB must be empty to perform CLUSTER FLUSHSLOTS.");
            return;
        }
        cluster.DeleteNodeSlots(cluster.Myself);
        cluster.SlotsChanged();
        ctx.Reply.WriteOk();
    }

    /// <summary>Checks one range for ADDSLOTS/DELSLOTS (Valkey's checkSlotAssignmentsOrReply).</summary>
    private static bool CheckAssignments(CommandContext ctx, ClusterState cluster, bool[] chosen, bool delete, int start, int end)
    {
        for (int slot = start; slot <= end; slot++)
        {
            if (delete && cluster.SlotOwner(slot) is null)
            {
                ctx.Error($"ERR Slot {slot} is already unassigned");
                return false;
            }
            if (!delete && cluster.SlotOwner(slot) is not null)
            {
                ctx.Error($"ERR Slot {slot} is already busy");
                return false;
            }
            if (chosen[slot])
            {
                ctx.Error($"ERR Slot {slot} specified multiple times");
                return false;
            }
            chosen[slot] = true;
        }
        return true;
    }

    private static void AddOrDeleteSlots(CommandContext ctx, ClusterState cluster, bool delete)
    {
        for (int j = 2; j < ctx.ArgCount; j++)
            if (SlotOrReply(ctx, j) < 0) return;
        var chosen = new bool[KeySlot.Count];
        for (int j = 2; j < ctx.ArgCount; j++)
        {
            int slot = SlotOrReply(ctx, j);
            if (!CheckAssignments(ctx, cluster, chosen, delete, slot, slot)) return;
        }
        cluster.UpdateSlots(chosen, delete);
        ctx.Reply.WriteOk();
    }

    private static void AddOrDeleteSlotRanges(CommandContext ctx, ClusterState cluster, bool delete)
    {
        if (ctx.ArgCount % 2 == 1)
        {
            ctx.WrongArity();
            return;
        }
        var chosen = new bool[KeySlot.Count];
        for (int j = 2; j < ctx.ArgCount; j += 2)
        {
            int start = SlotOrReply(ctx, j);
            if (start < 0) return;
            int end = SlotOrReply(ctx, j + 1);
            if (end < 0) return;
            if (start > end)
            {
                ctx.Error($"ERR start slot number {start} is greater than end slot number {end}");
                return;
            }
            if (!CheckAssignments(ctx, cluster, chosen, delete, start, end)) return;
        }
        cluster.UpdateSlots(chosen, delete);
        ctx.Reply.WriteOk();
    }

    private static void BumpEpoch(CommandContext ctx, ClusterState cluster)
    {
        bool bumped = cluster.BumpEpochWithoutConsensus();
        ctx.Reply.WriteSimpleString($"{(bumped ? "BUMPED" : "STILL")} {cluster.Myself.ConfigEpoch}");
    }

    private static void SaveConfig(CommandContext ctx, ClusterState cluster)
    {
        if (cluster.SaveConfig(true)) ctx.Reply.WriteOk();
        else ctx.Error("ERR error saving the cluster node config: see the server log");
    }

    private static void Forget(CommandContext ctx, ClusterState cluster)
    {
        string id = ctx.Args.ToString(2);
        var n = cluster.LookupNode(id);
        if (n is null)
        {
            // Forgotten already (maybe through another node's gossip): that is success.
            if (cluster.BlacklistContains(id)) ctx.Reply.WriteOk();
            else ctx.Error($"ERR Unknown node {id}");
            return;
        }
        if (n == cluster.Myself)
        {
            ctx.Error("ERR I tried hard but I can't forget myself...");
            return;
        }
        if (cluster.Myself.IsReplica && cluster.Myself.ReplicaOf == n)
        {
            ctx.Error("ERR Can't forget my master!");
            return;
        }
        cluster.Forget(n);
        ctx.Reply.WriteOk();
    }

    private static void Replicate(CommandContext ctx, ClusterState cluster)
    {
        string id = ctx.Args.ToString(2);
        var n = cluster.LookupNode(id);
        if (n is null)
        {
            ctx.Error($"ERR Unknown node {id}");
            return;
        }
        if (n == cluster.Myself)
        {
            ctx.Error("ERR Can't replicate myself");
            return;
        }
        if (n.IsReplica)
        {
            ctx.Error("ERR I can only replicate a master, not a replica.");
            return;
        }
        if (cluster.Myself.IsPrimary && (cluster.Myself.SlotCount != 0 || ctx.Server.Databases[0].Count != 0))
        {
            ctx.Error("ERR To set a master the node must be empty and without assigned slots.");
            return;
        }
        cluster.Replicate(n);
        ctx.Reply.WriteOk();
    }

    private static void CountFailureReports(CommandContext ctx, ClusterState cluster)
    {
        string id = ctx.Args.ToString(2);
        var n = cluster.LookupNode(id);
        if (n is null)
        {
            ctx.Error($"ERR Unknown node {id}");
            return;
        }
        ctx.Reply.WriteInteger(cluster.FailureReportCount(n));
    }

    private static void Failover(CommandContext ctx, ClusterState cluster)
    {
        bool force = false, takeover = false;
        if (ctx.ArgCount > 3)
        {
            HelpText.SubcommandSyntaxError(ctx);
            return;
        }
        if (ctx.ArgCount == 3)
        {
            if (ctx.ArgIs(2, "FORCE"u8)) force = true;
            else if (ctx.ArgIs(2, "TAKEOVER"u8)) force = takeover = true;
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        string info = ClientCommands.AppendInfo(new StringBuilder(), ctx.Client, ctx).ToString();
        if (cluster.StartManualFailover(force, takeover, info) is { } error)
        {
            ctx.Error(error);
            return;
        }
        ctx.Reply.WriteOk();
    }

    private static void SetConfigEpoch(CommandContext ctx, ClusterState cluster)
    {
        if (!ctx.TryGetLong(2, out long epoch)) return;
        if (cluster.SetConfigEpoch(epoch) is { } error)
        {
            ctx.Error(error);
            return;
        }
        ctx.Reply.WriteOk();
    }

    private static void Reset(CommandContext ctx, ClusterState cluster)
    {
        bool hard = false;
        if (ctx.ArgCount > 3)
        {
            HelpText.SubcommandSyntaxError(ctx);
            return;
        }
        if (ctx.ArgCount == 3)
        {
            if (ctx.ArgIs(2, "HARD"u8)) hard = true;
            else if (!ctx.ArgIs(2, "SOFT"u8))
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (cluster.Myself.IsPrimary && ctx.Db.Count != 0)
        {
            ctx.Error("ERR CLUSTER RESET can't be called with master nodes containing keys");
            return;
        }
        cluster.Reset(hard);
        ctx.Reply.WriteOk();
    }
}
