using System.Text;
using Kvasir.Clients;
using Kvasir.Replication;

namespace Kvasir.Commands;

/// <summary>
/// The replication family: SYNC, PSYNC and REPLCONF (a replica talking to this primary), REPLICAOF
/// / SLAVEOF, ROLE, WAIT, WAITAOF and FAILOVER. The protocol logic lives in
/// <see cref="ReplicationManager"/>; these handlers parse and answer.
/// </summary>
public static class ReplicationCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("sync", ctx => ctx.Server.Replication.HandleSync(ctx, psync: false));
        t.Bind("psync", ctx => ctx.Server.Replication.HandleSync(ctx, psync: true));
        t.Bind("replconf", Replconf);
        t.Bind("replicaof", ReplicaOf);
        t.Bind("slaveof", ReplicaOf);
        t.Bind("role", Role);
        t.Bind("wait", Wait);
        t.Bind("waitaof", WaitAof);
        t.Bind("failover", ctx =>
        {
            // A cluster fails over through its bus and elections (CLUSTER FAILOVER).
            if (ctx.Server.Config.ClusterEnabled)
            {
                ctx.Error("ERR FAILOVER not allowed in cluster mode. Use CLUSTER FAILOVER command instead.");
                return;
            }
            ctx.Server.Replication.Failover.Command(ctx);
        });
    }

    /// <summary>REPLCONF option value ...: what a replica says about itself, and its ACKs.</summary>
    private static void Replconf(CommandContext ctx)
    {
        if (ctx.ArgCount % 2 == 0)
        {
            ctx.SyntaxError();
            return;
        }
        var client = ctx.Client;
        var server = ctx.Server;
        for (int i = 1; i < ctx.ArgCount; i += 2)
        {
            if (ctx.ArgIs(i, "LISTENING-PORT"u8))
            {
                if (!ctx.TryGetLong(i + 1, out long port)) return;
                State(client).ListeningPort = (int)port;
            }
            else if (ctx.ArgIs(i, "IP-ADDRESS"u8))
            {
                var addr = ctx.Args[i + 1];
                if (addr.Length >= 46)
                {
                    ctx.Error($"ERR REPLCONF ip-address provided by replica instance is too long: {addr.Length} bytes");
                    return;
                }
                State(client).AnnouncedIp = Encoding.UTF8.GetString(addr);
            }
            else if (ctx.ArgIs(i, "CAPA"u8))
            {
                // Capabilities this primary does not understand are ignored.
                var st = State(client);
                if (ctx.ArgIs(i + 1, "EOF"u8)) st.CapaEof = true;
                else if (ctx.ArgIs(i + 1, "PSYNC2"u8)) st.CapaPsync2 = true;
                else if (ctx.ArgIs(i + 1, "DUAL-CHANNEL"u8) && server.Config.DualChannelReplicationEnabled && server.Config.ReplDisklessSync)
                    st.CapaDualChannel = true;
            }
            else if (ctx.ArgIs(i, "ACK"u8))
            {
                // Never answered: the replica's processed offset, and optionally its fsynced AOF offset.
                if (client.ReplicaInfo is not { State: not ReplicaSyncState.None }) return;
                if (!Types.NumberParser.TryParseLong(ctx.Args[i + 1], out long offset)) return;
                long? aof = null;
                if (ctx.ArgCount > i + 3 && ctx.ArgIs(i + 2, "FACK"u8))
                {
                    if (!Types.NumberParser.TryParseLong(ctx.Args[i + 3], out long fack)) return;
                    aof = fack;
                }
                server.Replication.Acknowledged(client, offset, aof);
                return;
            }
            else if (ctx.ArgIs(i, "GETACK"u8))
            {
                // From our primary: answer with an ACK at once (never a reply).
                server.Replication.Link?.SendAck();
                return;
            }
            else if (ctx.ArgIs(i, "RDB-ONLY"u8))
            {
                if (!TryFlag(ctx, i + 1, out bool on)) return;
                State(client).RdbOnly = on;
            }
            else if (ctx.ArgIs(i, "RDB-FILTER-ONLY"u8))
            {
                var st = State(client);
                var filters = Config.ConfigValues.SplitArgs(ctx.Args.ToString(i + 1));
                if (filters is null)
                {
                    ctx.Error("ERR Missing rdb-filter-only values");
                    return;
                }
                st.ExcludeData = true;
                st.ExcludeFunctions = true;
                foreach (var f in filters)
                {
                    if (string.Equals(f, "functions", StringComparison.OrdinalIgnoreCase)) st.ExcludeFunctions = false;
                    else
                    {
                        ctx.Error($"ERR Unsupported rdb-filter-only option: {f}");
                        return;
                    }
                }
            }
            else if (ctx.ArgIs(i, "VERSION"u8))
            {
                int version = ReplicaState.ParseVersion(ctx.Args.ToString(i + 1));
                if (version < 0)
                {
                    ctx.Error($"ERR Unrecognized version format: {ctx.Args.ToString(i + 1)}");
                    return;
                }
                State(client).Version = version;
            }
            else if (ctx.ArgIs(i, "RDB-CHANNEL"u8))
            {
                if (!TryFlag(ctx, i + 1, out bool on)) return;
                State(client).RdbChannel = on;
            }
            else if (ctx.ArgIs(i, "SET-RDB-CLIENT-ID"u8))
            {
                if (!ctx.TryGetLong(i + 1, out long id)) return;
                if (!server.Replication.IsWaitingRdbClient(id))
                {
                    ctx.Error($"ERR Unrecognized RDB client id {id}");
                    return;
                }
                State(client).AssociatedRdbClientId = id;
            }
            else
            {
                ctx.Error($"ERR Unrecognized REPLCONF option: {ctx.Args.ToString(i)}");
                return;
            }
        }
        ctx.Reply.WriteOk();
    }

    private static ReplicaState State(Client client) => client.ReplicaInfo ??= new ReplicaState();

    /// <summary>A 0 or 1 argument, with Valkey's range error.</summary>
    private static bool TryFlag(CommandContext ctx, int index, out bool value)
    {
        value = false;
        if (!Types.NumberParser.TryParseLong(ctx.Args[index], out long n))
        {
            ctx.NotInteger();
            return false;
        }
        if (n is < 0 or > 1)
        {
            ctx.Error("ERR value is out of range, must be positive");
            return false;
        }
        value = n == 1;
        return true;
    }

    /// <summary>REPLICAOF host port | NO ONE (and SLAVEOF).</summary>
    private static void ReplicaOf(CommandContext ctx)
    {
        var server = ctx.Server;
        var repl = server.Replication;
        if (server.Config.ClusterEnabled)
        {
            ctx.Error("ERR REPLICAOF not allowed in cluster mode.");
            return;
        }
        if (repl.Failover.Active)
        {
            ctx.Error("ERR REPLICAOF not allowed while failing over.");
            return;
        }
        if (ctx.ArgIs(1, "NO"u8) && ctx.ArgIs(2, "ONE"u8))
        {
            if (repl.IsReplica)
            {
                repl.UnsetPrimary();
                server.Log.Notice($"PRIMARY MODE enabled (user request from '{ClientInfo(ctx)}')");
                server.Config.ReplicaOfHost = "";
                server.Config.ReplicaOfPort = 0;
            }
            ctx.Reply.WriteOk();
            return;
        }
        if (ctx.Client.ReplicaInfo is { State: not ReplicaSyncState.None })
        {
            ctx.Error("ERR Command is not valid when client is a replica.");
            return;
        }
        if (!Types.NumberParser.TryParseLong(ctx.Args[2], out long port) || port is < 0 or > 65535)
        {
            ctx.Error("ERR Invalid master port");
            return;
        }
        string host = ctx.Args.ToString(1);
        if (repl.IsReplica && string.Equals(repl.PrimaryHost, host, StringComparison.OrdinalIgnoreCase) && repl.PrimaryPort == port)
        {
            server.Log.Notice("REPLICAOF would result into synchronization with the primary we are already connected with. No operation performed.");
            ctx.Reply.WriteSimpleString("OK Already connected to specified master"u8);
            return;
        }
        repl.SetPrimary(host, (int)port);
        server.Config.ReplicaOfHost = host;
        server.Config.ReplicaOfPort = (int)port;
        server.Log.Notice($"REPLICAOF {host}:{port} enabled (user request from '{ClientInfo(ctx)}')");
        ctx.Reply.WriteOk();
    }

    private static string ClientInfo(CommandContext ctx) => ClientCommands.AppendInfo(new StringBuilder(), ctx.Client, ctx).ToString();

    /// <summary>ROLE: master with its offset and online replicas, or slave with its link state.</summary>
    private static void Role(CommandContext ctx)
    {
        var repl = ctx.Server.Replication;
        var r = ctx.Reply;
        if (!repl.IsReplica)
        {
            var online = repl.Replicas.Where(c => c.ReplicaInfo!.State == ReplicaSyncState.Online).ToList();
            r.WriteArray(3);
            r.WriteBulk("master"u8);
            r.WriteInteger(repl.Offset);
            r.WriteArray(online.Count);
            foreach (var c in online)
            {
                var st = c.ReplicaInfo!;
                r.WriteArray(3);
                r.WriteBulk(st.AnnouncedIp ?? ReplicationManager.HostOf(c.RemoteAddress));
                r.WriteBulk(st.ListeningPort);
                r.WriteBulk(st.AckOffset);
            }
            return;
        }
        var link = repl.Link;
        r.WriteArray(5);
        r.WriteBulk("slave"u8);
        r.WriteBulk(repl.PrimaryHost!);
        r.WriteInteger(repl.PrimaryPort);
        r.WriteBulk(link?.RoleState ?? "connect");
        r.WriteInteger(link is { Connected: true } ? repl.Offset : -1);
    }

    /// <summary>WAIT numreplicas timeout: blocks until that many replicas acknowledged this client's writes.</summary>
    private static void Wait(CommandContext ctx)
    {
        var repl = ctx.Server.Replication;
        if (repl.IsReplica)
        {
            ctx.Error("ERR WAIT cannot be used with replica instances. Please also note that if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
            return;
        }
        if (!ctx.TryGetLong(1, out long numReplicas)) return;
        if (!BlockingCommands.TryGetDeadline(ctx, 2, TimeUnit.Milliseconds, out long deadlineMs)) return;
        long offset = ctx.Server.Scripts.CallerOf(ctx.Client).WriteOffset;
        long acked = repl.CountAcks(offset);
        if (acked >= numReplicas || ctx.Client.Has(ClientFlags.Multi) || ctx.Server.Scripts.Running)
        {
            ctx.Reply.WriteInteger(acked);
            return;
        }
        repl.Waits.Block(ctx, offset, numReplicas, 0, aof: false, deadlineMs);
    }

    /// <summary>WAITAOF numlocal numreplicas timeout: the same for writes fsynced to AOFs, here and on replicas.</summary>
    private static void WaitAof(CommandContext ctx)
    {
        var server = ctx.Server;
        var repl = server.Replication;
        if (!Types.NumberParser.TryParseLong(ctx.Args[1], out long numLocal))
        {
            ctx.NotInteger();
            return;
        }
        if (numLocal is < 0 or > 1)
        {
            ctx.Error("ERR value is out of range, must be positive");
            return;
        }
        if (!Types.NumberParser.TryParseLong(ctx.Args[2], out long numReplicas) || numReplicas < 0)
        {
            ctx.Error("ERR value is out of range, must be positive");
            return;
        }
        if (!BlockingCommands.TryGetDeadline(ctx, 3, TimeUnit.Milliseconds, out long deadlineMs)) return;
        if (repl.IsReplica)
        {
            ctx.Error("ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local and are not propagated.");
            return;
        }
        if (numLocal > 0 && !server.Persistence.Aof.Enabled)
        {
            ctx.Error("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.");
            return;
        }
        long offset = server.Scripts.CallerOf(ctx.Client).WriteOffset;
        long ackedReplicas = repl.CountAofAcks(offset);
        long ackedLocal = server.Persistence.Aof.FsyncedReplicationOffset >= offset ? 1 : 0;
        if ((ackedReplicas >= numReplicas && ackedLocal >= numLocal) || ctx.Client.Has(ClientFlags.Multi) || server.Scripts.Running)
        {
            ctx.Reply.WriteArray(2);
            ctx.Reply.WriteInteger(ackedLocal);
            ctx.Reply.WriteInteger(ackedReplicas);
            return;
        }
        repl.Waits.Block(ctx, offset, numReplicas, numLocal, aof: true, deadlineMs);
    }
}
