using Kvasir.Clients;
using Kvasir.Commands;

namespace Kvasir.Replication;

/// <summary>
/// Clients blocked in WAIT and WAITAOF (Valkey's clients_waiting_acks): each waits until enough
/// replicas acknowledged (or fsynced, for WAITAOF) the stream up to its last write, and for
/// WAITAOF numlocal until the local AOF fsynced it. They block through the
/// <see cref="BlockingRegistry"/> like any blocked client (blocked_clients, timeouts, CLIENT UNBLOCK),
/// and are answered when ACKs arrive. Under the data lock.
/// </summary>
public sealed class ReplicationWaits(KvasirServer server)
{
    private sealed record Waiter(Client Client, BlockState State, long Offset, long NumReplicas, long NumLocal, bool Aof, Action<Client>? Done = null);

    private readonly List<Waiter> _waiters = new();

    /// <summary>A REPLCONF GETACK goes to the replicas once the current command is over (Valkey's beforeSleep).</summary>
    private bool _ackRequested;

    public int Count => _waiters.Count;

    /// <summary>Blocks the client of <paramref name="ctx"/> until its writes up to <paramref name="offset"/> are acknowledged.</summary>
    public void Block(CommandContext ctx, long offset, long numReplicas, long numLocal, bool aof, long deadlineMs)
    {
        server.Blocking.Block(ctx, [], default, deadlineMs);
        var state = ctx.Client.Blocking!;
        state.TimeoutReply = client => Reply(client, offset, aof);
        _waiters.Add(new Waiter(ctx.Client, state, offset, numReplicas, numLocal, aof));
        _ackRequested = true;
    }

    /// <summary>
    /// Blocks a command until <paramref name="numReplicas"/> replicas acknowledged the stream up to
    /// <paramref name="offset"/>: then <paramref name="done"/> completes it; at the deadline
    /// <paramref name="timedOut"/> answers instead (cluster mode's CLUSTER SETSLOT, which reaches
    /// the replicas before it takes effect on their primary).
    /// </summary>
    public void BlockUntilReplicated(CommandContext ctx, long offset, long numReplicas, long deadlineMs, Action<Client> done, Action<Client> timedOut)
    {
        server.Blocking.Block(ctx, [], default, deadlineMs);
        var state = ctx.Client.Blocking!;
        state.TimeoutReply = timedOut;
        _waiters.Add(new Waiter(ctx.Client, state, offset, numReplicas, 0, false, done));
        _ackRequested = true;
    }

    /// <summary>Writes the counts as of now (a timed out or unblocked wait answers with them).</summary>
    private void Reply(Client client, long offset, bool aof)
    {
        var r = client.Reply;
        var repl = server.Replication;
        if (aof)
        {
            r.WriteArray(2);
            r.WriteInteger(server.Persistence.Aof.FsyncedReplicationOffset >= offset ? 1 : 0);
            r.WriteInteger(repl.CountAofAcks(offset));
        }
        else
        {
            r.WriteInteger(repl.CountAcks(offset));
        }
    }

    /// <summary>Asks the replicas for their offsets at once (a shutdown about to wait for them).</summary>
    public void RequestAcks()
    {
        if (server.Replication.Replicas.Count == 0 || server.Clients.ReplicaTrafficPaused) return;
        _ackRequested = false;
        server.Replication.Feed("*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n"u8);
    }

    /// <summary>After the command that blocked: ask the replicas for their offsets, once for all waiters.</summary>
    public void AfterCommand()
    {
        if (!_ackRequested) return;
        var repl = server.Replication;
        if (server.Clients.ReplicaTrafficPaused) return;
        _ackRequested = false;
        repl.Feed("*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n"u8);
    }

    /// <summary>Answers every waiter whose condition now holds (Valkey's processClientsWaitingReplicas).</summary>
    public void Process()
    {
        if (_waiters.Count == 0) return;
        var repl = server.Replication;
        long aofFsynced = server.Persistence.Aof.FsyncedReplicationOffset;
        foreach (var w in _waiters.ToArray())
        {
            if (w.Client.Blocking != w.State)
            {
                // Answered some other way (timeout, CLIENT UNBLOCK, disconnection).
                _waiters.Remove(w);
                continue;
            }
            if (w.Aof && w.NumLocal > 0 && !server.Persistence.Aof.Enabled)
            {
                _waiters.Remove(w);
                server.Blocking.FailWith(w.Client, "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.");
                continue;
            }
            long replicas = w.Aof ? repl.CountAofAcks(w.Offset) : repl.CountAcks(w.Offset);
            if (replicas < w.NumReplicas) continue;
            if (w.Aof && (aofFsynced >= w.Offset ? 1 : 0) < w.NumLocal) continue;
            _waiters.Remove(w);
            server.Blocking.Resolve(w.Client, w.Done ?? (client => Reply(client, w.Offset, w.Aof)));
        }
    }
}
