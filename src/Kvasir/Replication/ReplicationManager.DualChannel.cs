using System.Text;
using Kvasir.Clients;

namespace Kvasir.Replication;

/// <summary>
/// The primary's side of Valkey 8's dual-channel replication: a replica's image channel
/// (REPLCONF rdb-channel 1, SYNC) is told where its image ends ($ENDOFF), and the stream from that
/// point is kept for the replica's main channel, which continues from it with PSYNC (REPLCONF
/// set-rdb-client-id). The main channel then receives the stream while the replica loads, instead
/// of the stream piling up here for the whole transfer.
/// </summary>
public sealed partial class ReplicationManager
{
    /// <summary>An image channel whose main channel has not continued yet: the stream kept since its snapshot point.</summary>
    private sealed class PsyncWait(Client rdbClient, ReplicaState state)
    {
        public Client RdbClient { get; } = rdbClient;
        public ReplicaState State { get; } = state;
        /// <summary>Unix seconds when the image channel went away; the stream is kept a grace period longer.</summary>
        public long DisconnectedUnix;

        /// <summary>Something was fed since it started waiting (Valkey attaches it to a backlog block then).</summary>
        public bool Tracking;
    }

    private readonly Dictionary<long, PsyncWait> _waitingPsync = new();

    /// <summary>DEBUG DELAY-RDB-CLIENT-FREE-SECONDS: how long a gone image channel's stream is kept for its main channel.</summary>
    public int RdbClientGraceSeconds { get; set; } = 60;

    /// <summary>INFO replicas_waiting_psync.</summary>
    public int WaitingPsyncCount => _waitingPsync.Count;

    /// <summary>True when <paramref name="id"/> is an image channel waiting for its main channel (REPLCONF set-rdb-client-id).</summary>
    public bool IsWaitingRdbClient(long id) => _waitingPsync.ContainsKey(id);

    /// <summary>An image channel's snapshot point was taken: tell it where the image ends, keep the stream from there.</summary>
    internal void RdbChannelStarted(Client rdbClient, long offset)
    {
        var st = rdbClient.ReplicaInfo!;
        _server.Log.Notice($"Sending to replica {ReplicaName(rdbClient)} RDB end offset {offset} and client-id {rdbClient.Id}");
        WriteToReplica(rdbClient, Encoding.ASCII.GetBytes($"${"ENDOFF"}:{offset} {ReplId} 0 {rdbClient.Id}\r\n"));
        bool tracking = Backlog is { HistoryLength: > 0 };
        _server.Log.Debug($"Add rdb replica {ReplicaName(rdbClient)} to waiting psync, with cid {rdbClient.Id}, {(tracking ? "tracking repl-backlog tail" : "no repl-backlog to track")} ");
        _waitingPsync[rdbClient.Id] = new PsyncWait(rdbClient, st) { Tracking = tracking };
    }

    /// <summary>After a feed: the streams held for main channels still to come count against the replica output limit (under the data lock).</summary>
    private void CheckWaitingPsyncLimits()
    {
        if (_waitingPsync.Count == 0) return;
        long hardLimit = ReplicaHardLimit();
        List<long>? overrun = null;
        foreach (var (id, wait) in _waitingPsync)
        {
            var cursor = wait.State.Cursor;
            if (cursor is null) continue;
            if (!wait.Tracking)
            {
                wait.Tracking = true;
                _server.Log.Debug($"Attach replica rdb client {id} to repl buf block");
            }
            if (hardLimit > 0 && cursor.Pending >= hardLimit) (overrun ??= new()).Add(id);
        }
        if (overrun is null) return;
        foreach (var id in overrun)
        {
            var wait = _waitingPsync[id];
            _server.Log.Warning($"Client id={wait.RdbClient.Id} addr={wait.RdbClient.RemoteAddress} scheduled to be closed ASAP for overcoming of output buffer limits.");
            _server.Stats.ClientOutputBufferLimitDisconnections++;
            DropPsyncWait(id);
            _server.DisconnectClient(wait.RdbClient);
        }
    }

    private void DropPsyncWait(long id)
    {
        if (!_waitingPsync.Remove(id, out var wait)) return;
        wait.State.CloseCursor();
    }

    /// <summary>
    /// PSYNC from a main channel whose image channel is known: it continues from the image's end
    /// with the stream kept since. False when that is not possible (the caller falls back).
    /// </summary>
    private bool TryContinueFromImageChannel(Commands.CommandContext ctx, string replid, long offset)
    {
        var client = ctx.Client;
        var st = client.ReplicaInfo!;
        if (st.AssociatedRdbClientId == 0 || !_waitingPsync.TryGetValue(st.AssociatedRdbClientId, out var wait)) return false;
        var rdb = wait.State;
        if (!string.Equals(replid, ReplId, StringComparison.OrdinalIgnoreCase) || offset != rdb.PsyncInitialOffset + 1 || rdb.Cursor is null)
            return false;
        MakeReplica(client, ReplicaSyncState.BgRdbLoad);
        st.AckTimeUnix = NowUnix;
        WriteToReplica(client, Encoding.ASCII.GetBytes(st.CapaPsync2 ? $"+CONTINUE {ReplId}\r\n" : "+CONTINUE\r\n"));
        // The main channel goes on from where the image channel's position is: nothing is copied.
        long sent = rdb.Cursor.Pending;
        st.CloseCursor();
        st.Cursor = rdb.Cursor;
        rdb.Cursor = null;
        _waitingPsync.Remove(st.AssociatedRdbClientId);
        StartStreaming(client);
        _server.Log.Notice($"Partial resynchronization request from {ReplicaName(client)} accepted. Sending {sent} bytes of backlog starting from offset {offset}.");
        return true;
    }

    /// <summary>An image channel went away: its main channel may still come within the grace period.</summary>
    private bool KeepWaitAfterDisconnect(Client client)
    {
        if (!_waitingPsync.TryGetValue(client.Id, out var wait)) return false;
        wait.DisconnectedUnix = NowUnix;
        _server.Log.Verbose($"Postpone RDB client id={client.Id} ({ReplicaName(client)}) free for {RdbClientGraceSeconds} seconds");
        return true;
    }

    /// <summary>Drops the kept streams of image channels gone longer than the grace period (once a second).</summary>
    private void ExpirePsyncWaits()
    {
        if (_waitingPsync.Count == 0) return;
        long now = NowUnix;
        foreach (var (id, wait) in _waitingPsync.ToArray())
        {
            if (wait.DisconnectedUnix == 0 || now - wait.DisconnectedUnix <= RdbClientGraceSeconds) continue;
            _server.Log.Notice($"Replica main channel failed to establish PSYNC within the grace period ({now - wait.DisconnectedUnix} seconds). Freeing RDB client {id}.");
            DropPsyncWait(id);
        }
    }
}
