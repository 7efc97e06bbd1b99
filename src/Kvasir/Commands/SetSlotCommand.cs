using Kvasir.Clients;
using Kvasir.Cluster;

namespace Kvasir.Commands;

/// <summary>
/// CLUSTER SETSLOT slot (IMPORTING node | MIGRATING node | STABLE | NODE node) [TIMEOUT ms]. A
/// primary with replicas first sends the command to them and waits (up to TIMEOUT, 2 s by default)
/// until they acknowledge it, and only then applies it: a slot state is never lost to a failover
/// right after the command succeeded (Valkey 8's replicated SETSLOT).
/// </summary>
internal static class SetSlotCommand
{
    private enum Action { Migrating, Importing, Stable, Node }

    public static void Run(CommandContext ctx, ClusterState cluster)
    {
        var client = ctx.Client;
        var myself = cluster.Myself;
        if (!client.Has(ClientFlags.Master) && myself.IsReplica)
        {
            ctx.Error("ERR Please use SETSLOT only with masters.");
            return;
        }
        int slot = ClusterCommands.SlotOrReply(ctx, 2);
        if (slot < 0) return;
        ClusterNode? n = null;
        Action action;
        int optionsAt = 0;
        long timeoutMs = ClusterState.OperationTimeoutMs;
        int argc = ctx.ArgCount;
        if (ctx.ArgIs(3, "MIGRATING"u8) && argc >= 5)
        {
            if (myself.IsPrimary && cluster.SlotOwner(slot) != myself)
            {
                ctx.Error($"ERR I'm not the owner of hash slot {slot}");
                return;
            }
            n = cluster.LookupNode(ctx.Args.ToString(4));
            if (n is null)
            {
                ctx.Error($"ERR I don't know about node {ctx.Args.ToString(4)}");
                return;
            }
            if (n.IsReplica)
            {
                ctx.Error("ERR Target node is not a master");
                return;
            }
            action = Action.Migrating;
            if (argc > 5) optionsAt = 5;
        }
        else if (ctx.ArgIs(3, "IMPORTING"u8) && argc >= 5)
        {
            if (cluster.SlotOwner(slot) == myself)
            {
                ctx.Error($"ERR I'm already the owner of hash slot {slot}");
                return;
            }
            n = cluster.LookupNode(ctx.Args.ToString(4));
            if (n is null)
            {
                ctx.Error($"ERR I don't know about node {ctx.Args.ToString(4)}");
                return;
            }
            if (n.IsReplica)
            {
                ctx.Error("ERR Target node is not a master");
                return;
            }
            action = Action.Importing;
            if (argc > 5) optionsAt = 5;
        }
        else if (ctx.ArgIs(3, "STABLE"u8) && argc >= 4)
        {
            action = Action.Stable;
            if (argc > 4) optionsAt = 4;
        }
        else if (ctx.ArgIs(3, "NODE"u8) && argc >= 5)
        {
            n = cluster.LookupNode(ctx.Args.ToString(4));
            if (n is null)
            {
                ctx.Error($"ERR Unknown node {ctx.Args.ToString(4)}");
                return;
            }
            if (n.IsReplica)
            {
                ctx.Error("ERR Target node is not a master");
                return;
            }
            // Keys of the slot still here: it cannot go to another node yet.
            if (cluster.SlotOwner(slot) == myself && n != myself && cluster.CountKeysInSlot(slot) != 0)
            {
                ctx.Error($"ERR Can't assign hashslot {slot} to a different node while I still hold keys for this hash slot.");
                return;
            }
            action = Action.Node;
            if (argc > 5) optionsAt = 5;
        }
        else
        {
            ctx.Error("ERR Invalid CLUSTER SETSLOT action or number of arguments. Try CLUSTER HELP");
            return;
        }
        if (optionsAt > 0)
        {
            for (int i = optionsAt; i < argc; i++)
            {
                if (!ctx.ArgIs(i, "TIMEOUT"u8)) continue;
                if (i + 1 >= argc)
                {
                    ctx.Error("ERR Missing timeout value");
                    return;
                }
                if (!Types.NumberParser.TryParseLong(ctx.Args[i + 1], out timeoutMs))
                {
                    ctx.Error("ERR timeout is not an integer or out of range");
                    return;
                }
                if (timeoutMs < 0)
                {
                    ctx.Error("ERR timeout is negative");
                    return;
                }
            }
        }

        var server = ctx.Server;
        var repl = server.Replication;
        if (myself.IsPrimary && myself.Replicas.Count > 0)
        {
            int eligible = 0;
            foreach (var r in repl.Replicas)
                if (r.ReplicaInfo is { State: Replication.ReplicaSyncState.Online, Version: > 0x702ff }) eligible++;
            if (eligible > 0)
            {
                // The replicas first: the command goes into their stream now, and takes effect here
                // once they have acknowledged it.
                server.Propagator.AddForReplicas(0, ctx.Args);
                long offset = repl.Offset + 1;
                long deadline = timeoutMs == 0 ? 0 : ctx.NowMs + timeoutMs;
                var target = n;
                server.Replication.Waits.BlockUntilReplicated(ctx, offset, eligible, deadline,
                    done: c => Apply(cluster, c.Reply, action, slot, target),
                    timedOut: c =>
                    {
                        const string error = "NOREPLICAS Not enough good replicas to write.";
                        server.Stats.CountError(error);
                        c.Reply.WriteError(error);
                    });
                return;
            }
        }
        Apply(cluster, ctx.Reply, action, slot, n);
    }

    private static void Apply(ClusterState cluster, Protocol.ReplyWriter reply, Action action, int slot, ClusterNode? n)
    {
        switch (action)
        {
            case Action.Migrating: cluster.SetSlotMigrating(slot, n!); break;
            case Action.Importing: cluster.SetSlotImporting(slot, n!); break;
            case Action.Stable: cluster.SetSlotStable(slot); break;
            case Action.Node: cluster.SetSlotNode(slot, n!); break;
        }
        cluster.BeforeSleep();
        reply.WriteOk();
    }
}
