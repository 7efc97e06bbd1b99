using System.Text;
using Kvasir.Clients;

namespace Kvasir.Commands;

/// <summary>
/// The primary side of replication: SYNC and PSYNC (always a full resynchronisation for now: an
/// RDB image of the data, then the live propagation stream), and REPLCONF. Partial resync from a
/// backlog and the replica side (REPLICAOF) come later.
/// </summary>
public static class ReplicationCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("sync", Sync);
        t.Bind("psync", Psync);
        t.Bind("replconf", Replconf);
    }

    private static void Sync(CommandContext ctx)
    {
        if (ctx.Client.Has(ClientFlags.Replica)) return; // a second SYNC from a replica is ignored, as in Valkey
        if (ctx.Client.Has(ClientFlags.Multi))
        {
            ctx.Error("ERR Replica can't interact with the keyspace");
            return;
        }
        StartFullSync(ctx, announce: null);
    }

    private static void Psync(CommandContext ctx)
    {
        if (ctx.Client.Has(ClientFlags.Replica)) return;
        // No backlog yet: every PSYNC becomes a full resynchronisation at the current offset.
        var server = ctx.Server;
        StartFullSync(ctx, $"+FULLRESYNC {server.ReplicationId} {server.Propagator.Offset}\r\n");
    }

    /// <summary>
    /// Answers FULLRESYNC (PSYNC) and starts the image of the data as of this moment; it is written
    /// in the background while commands go on and sent when complete, followed by the writes made
    /// since (<see cref="Replication.FullSync"/>).
    /// </summary>
    private static void StartFullSync(CommandContext ctx, string? announce)
    {
        var server = ctx.Server;
        var client = ctx.Client;
        var reply = ctx.Reply;
        reply.Enabled = true;
        if (announce is not null) reply.WriteRaw(Encoding.ASCII.GetBytes(announce));
        client.Flags |= ClientFlags.Replica;
        server.Log.Notice($"Replica {client.RemoteAddress} asks for synchronization");
        server.Log.Notice($"Full resync requested by replica {client.RemoteAddress}");
        Replication.FullSync.Start(server, client);
        // Replies to a replica's own later commands (REPLCONF ACK) must not mix into the stream.
        client.ReplyMode = ReplyMode.Off;
    }

    /// <summary>REPLCONF options a replica sends during the handshake and later (ACK, GETACK).</summary>
    private static void Replconf(CommandContext ctx)
    {
        if (ctx.ArgCount % 2 == 0)
        {
            ctx.SyntaxError();
            return;
        }
        for (int i = 1; i < ctx.ArgCount; i += 2)
        {
            if (ctx.ArgIs(i, "LISTENING-PORT"u8))
            {
                if (!ctx.TryGetLong(i + 1, out long port)) return;
                ctx.Client.ReplicaListeningPort = (int)port;
            }
            else if (ctx.ArgIs(i, "ACK"u8) || ctx.ArgIs(i, "FACK"u8))
            {
                // An acknowledgement from a replica: never answered.
                return;
            }
            else if (ctx.ArgIs(i, "IP-ADDRESS"u8) || ctx.ArgIs(i, "CAPA"u8) || ctx.ArgIs(i, "GETACK"u8) ||
                     ctx.ArgIs(i, "RDB-ONLY"u8) || ctx.ArgIs(i, "RDB-FILTER-ONLY"u8) || ctx.ArgIs(i, "VERSION"u8) ||
                     ctx.ArgIs(i, "RDB-CHANNEL"u8))
            {
                // Accepted; these capabilities do not change what this primary sends yet.
            }
            else
            {
                ctx.Error($"ERR Unrecognized REPLCONF option: {ctx.Args.ToString(i)}");
                return;
            }
        }
        ctx.Reply.WriteOk();
    }
}
