using System.Text;
using Kvasir.Clients;
using Kvasir.Commands;

namespace Kvasir.Replication;

/// <summary>The primary's side: replicas attaching with SYNC/PSYNC, full and partial resyncs, ACKs, timeouts.</summary>
public sealed partial class ReplicationManager
{
    private readonly List<Client> _replicas = new();
    private long _noReplicasSinceUnix;
    private FullSyncJob? _job;

    /// <summary>Replica clients in any sync state, in the order they attached.</summary>
    public IReadOnlyList<Client> Replicas => _replicas;

    /// <summary>Replicas online whose last ACK is within min-replicas-max-lag (Valkey's repl_good_replicas_count).</summary>
    public int GoodReplicas { get; private set; }

    /// <summary>The image job running for replicas, if any (one at a time, as Valkey's one child).</summary>
    internal FullSyncJob? Job => _job;

    /// <summary>
    /// SYNC and PSYNC (Valkey's syncCommand). A partial resync continues at once from the backlog; a
    /// full one waits for an image: started now, joined (a disk image already being made for another
    /// replica with the same needs), or started by the cron after repl-diskless-sync-delay so that
    /// replicas arriving together share one.
    /// </summary>
    public void HandleSync(CommandContext ctx, bool psync)
    {
        var client = ctx.Client;
        if (client.ReplicaInfo is { State: not ReplicaSyncState.None }) return; // already a replica: ignored
        if (psync && ctx.ArgCount > 3 && ctx.ArgIs(3, "FAILOVER"u8))
        {
            if (!AcceptFailoverRequest(ctx)) return;
        }
        if (Failover.InProgress)
        {
            ctx.Error("NOMASTERLINK Can't SYNC while failing over");
            return;
        }
        if (IsReplica && _link is not { Connected: true })
        {
            ctx.Error("NOMASTERLINK Can't SYNC while not connected with my master");
            return;
        }
        if (client.Reply.Length > 0)
        {
            ctx.Error("ERR SYNC and PSYNC are invalid with pending output");
            return;
        }
        var st = client.ReplicaInfo ??= new ReplicaState();
        if ((st.ExcludeData || st.ExcludeFunctions) && !st.CapaEof)
        {
            ctx.Error("ERR Filtered replica requires EOF capability");
            return;
        }
        var log = _server.Log;
        log.Notice($"Replica {ReplicaName(client)} asks for synchronization");
        if (psync)
        {
            if (!Types.NumberParser.TryParseLong(ctx.Args[2], out long offset))
            {
                log.Warning($"Replica {ReplicaName(client)} asks for synchronization but with a wrong offset");
                ctx.NotInteger();
                return;
            }
            string replid = ctx.Args.ToString(1);
            if (TryContinueFromImageChannel(ctx, replid, offset) || TryPartialResync(ctx, replid, offset))
            {
                SyncPartialOk++;
                return;
            }
            if (!replid.StartsWith('?')) SyncPartialErr++;
            if (st.CapaDualChannel)
            {
                // The image will come on a channel of its own; this one then continues from its end.
                _server.Log.Notice($"Replica {ReplicaName(client)} is capable of dual channel synchronization, and partial sync isn't possible. Full sync will continue with dedicated RDB channel.");
                WriteToReplica(client, "+DUALCHANNELSYNC\r\n"u8);
                return;
            }
        }
        else
        {
            // SYNC: an old replica or valkey-cli --replica, which never sends ACKs.
            st.PrePsync = true;
        }

        SyncFull++;
        MakeReplica(client, ReplicaSyncState.WaitBgsaveStart);
        st.WaitingSinceUnix = NowUnix;
        if (_replicas.Count == 1 && Backlog is null)
        {
            // A new history: no earlier one can be continued from here.
            ChangeReplicationId();
            ClearReplicationId2();
            CreateBacklog();
            log.Notice($"Replication backlog created, my new replication IDs are '{ReplId}' and '{ReplId2}'");
        }

        if (_job is { SocketTarget: false } disk)
        {
            // An image for other replicas is being made: join it if it fits, keeping what was fed since.
            if (disk.CanAttach(st))
            {
                disk.Attach(client);
                log.Notice("Waiting for end of BGSAVE for SYNC");
            }
            else
            {
                log.Notice("Can't attach the replica to the current BGSAVE. Waiting for next BGSAVE for SYNC");
            }
        }
        else if (_job is not null)
        {
            log.Notice("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC");
        }
        else if (_server.Config.ReplDisklessSync && st.CapaEof && _server.Config.ReplDisklessSyncDelay > 0)
        {
            log.Notice("Delay next BGSAVE for diskless SYNC");
        }
        else
        {
            StartImageForWaitingReplicas(force: true);
        }
    }

    /// <summary>Valkey's primaryTryPartialResynchronization.</summary>
    private bool TryPartialResync(CommandContext ctx, string replid, long offset)
    {
        var client = ctx.Client;
        var log = _server.Log;
        bool sameHistory = string.Equals(replid, ReplId, StringComparison.OrdinalIgnoreCase) ||
                           (string.Equals(replid, ReplId2, StringComparison.OrdinalIgnoreCase) && offset <= SecondOffset);
        if (!sameHistory)
        {
            if (replid.StartsWith('?'))
                log.Notice($"Full resync requested by replica {ReplicaName(client)}");
            else if (!string.Equals(replid, ReplId, StringComparison.OrdinalIgnoreCase) && !string.Equals(replid, ReplId2, StringComparison.OrdinalIgnoreCase))
                log.Notice($"Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{replid}', my replication IDs are '{ReplId}' and '{ReplId2}')");
            else
                log.Notice($"Partial resynchronization not accepted: Requested offset for second ID was {offset}, but I can reply up to {SecondOffset}");
            return false;
        }
        if (Backlog is null || !Backlog.Covers(offset))
        {
            log.Notice($"Unable to partial resync with replica {ReplicaName(client)} for lack of backlog (Replica request was: {offset}).");
            if (offset > Offset)
                log.Warning($"Warning: replica {ReplicaName(client)} tried to PSYNC with an offset that is greater than the primary replication offset.");
            return false;
        }

        var st = client.ReplicaInfo!;
        MakeReplica(client, ReplicaSyncState.Online);
        st.AckTimeUnix = NowUnix;
        WriteToReplica(client, Encoding.ASCII.GetBytes(st.CapaPsync2 ? $"+CONTINUE {ReplId}\r\n" : "+CONTINUE\r\n"));
        // The replica reads the backlog from its offset on, in place.
        st.CloseCursor();
        st.Cursor = Backlog.OpenCursor(offset);
        long sent = st.Cursor.Pending;
        StartStreaming(client);
        log.Notice($"Partial resynchronization request from {ReplicaName(client)} accepted. Sending {sent} bytes of backlog starting from offset {offset}.");
        RefreshGoodReplicas();
        return true;
    }

    /// <summary>Turns the client into a replica: listed, its own replies off so they never mix into the stream.</summary>
    private void MakeReplica(Client client, ReplicaSyncState state)
    {
        var st = client.ReplicaInfo!;
        st.State = state;
        client.Flags |= ClientFlags.Replica;
        client.ReplyMode = ReplyMode.Off;
        if (!_replicas.Contains(client)) _replicas.Add(client);
    }

    /// <summary>
    /// Starts one image for the replicas waiting for one (Valkey's replicationStartPendingFork):
    /// right away when <paramref name="force"/> or the image goes to disk, else once the oldest has
    /// waited repl-diskless-sync-delay or repl-diskless-sync-max-replicas are waiting.
    /// </summary>
    private void StartImageForWaitingReplicas(bool force)
    {
        if (_job is not null) return;
        var cfg = _server.Config;
        ReplicaState? first = null;
        var group = new List<Client>();
        long maxIdle = 0;
        long now = NowUnix;
        foreach (var r in _replicas)
        {
            var st = r.ReplicaInfo!;
            if (st.State != ReplicaSyncState.WaitBgsaveStart) continue;
            if (first is null) first = st;
            else if (!st.SameRequirements(first) || st.Version == -1 != (first.Version == -1)) continue;
            group.Add(r);
            maxIdle = Math.Max(maxIdle, now - st.WaitingSinceUnix);
        }
        if (group.Count == 0) return;
        bool allEof = group.TrueForAll(r => r.ReplicaInfo!.CapaEof);
        bool socket = (cfg.ReplDisklessSync || first!.ExcludeData || first.ExcludeFunctions) && allEof;
        if (!force && socket && !(cfg.ReplDisklessSyncMaxReplicas > 0 && group.Count >= cfg.ReplDisklessSyncMaxReplicas) &&
            maxIdle < cfg.ReplDisklessSyncDelay)
            return;
        _job = FullSyncJob.Start(_server, group, socket);
        if (_job is null) FailWaitingReplicas(group);
    }

    /// <summary>The image could not be started: the waiting replicas are told and dropped, as Valkey does.</summary>
    private void FailWaitingReplicas(List<Client> group)
    {
        _server.Log.Warning("BGSAVE for replication failed");
        foreach (var r in group)
        {
            _replicas.Remove(r);
            r.ReplicaInfo!.State = ReplicaSyncState.None;
            r.Flags &= ~ClientFlags.Replica;
            WriteToReplica(r, "-ERR BGSAVE failed, replication can't continue\r\n"u8);
            r.Flags |= ClientFlags.CloseAfterReply;
            r.Transport?.Close();
        }
    }

    /// <summary>The image job ended (under the data lock); a waiting group may start the next one.</summary>
    internal void JobEnded(FullSyncJob job)
    {
        if (_job == job) _job = null;
    }

    /// <summary>
    /// A replica received its whole image (and the stream kept since, for a sized image): it is
    /// online. After an $EOF image the kept stream waits for its first ACK.
    /// </summary>
    internal void ReplicaImageSent(Client replica, bool eofImage)
    {
        var st = replica.ReplicaInfo!;
        if (st.RdbOnly)
        {
            st.State = ReplicaSyncState.RdbTransmitted;
            _server.Log.Notice($"RDB transfer completed, rdb only replica ({ReplicaName(replica)}) should be disconnected asap");
            // An image channel's hold on the stream now belongs to the wait for its main channel.
            if (!_waitingPsync.ContainsKey(replica.Id)) st.CloseCursor();
            replica.Flags |= ClientFlags.CloseAfterReply;
            replica.Transport?.OutputAvailable();
            return;
        }
        st.State = ReplicaSyncState.Online;
        st.AckTimeUnix = NowUnix;
        st.Job = null;
        if (eofImage)
        {
            _server.Log.Notice($"Streamed RDB transfer with replica {ReplicaName(replica)} succeeded (socket). Waiting for REPLCONF ACK from replica to enable streaming");
            st.StartStreamOnAck = true;
        }
        else
        {
            StartCommandStream(replica);
        }
        RefreshGoodReplicas();
        _server.Log.Notice($"Synchronization with replica {ReplicaName(replica)} succeeded");
    }

    /// <summary>The replica's connection starts sending the stream from its snapshot point, and then the live stream.</summary>
    private static void StartCommandStream(Client replica)
    {
        replica.ReplicaInfo!.StartStreamOnAck = false;
        StartStreaming(replica);
    }

    /// <summary>From now on the replica's connection sends the stream from its cursor, after its own pending output.</summary>
    private static void StartStreaming(Client replica)
    {
        if (replica.ReplicaInfo!.Cursor is not { } cursor) return;
        replica.StreamSource = cursor;
        replica.Transport?.OutputAvailable();
    }

    /// <summary>A reader of the stream from <paramref name="offset"/> (under the data lock), for a replica about to receive an image.</summary>
    internal StreamCursor OpenStreamCursor(long offset)
    {
        if (Backlog is null) CreateBacklog();
        return Backlog!.OpenCursor(offset);
    }

    /// <summary>
    /// client-output-buffer-limit replica's hard limit as Valkey applies it: never below
    /// repl-backlog-size, since a replica continuing from the backlog holds that much anyway.
    /// </summary>
    private long ReplicaHardLimit()
    {
        long hard = _server.Config.ClientOutputBufferLimits[(int)Config.ClientBufferClass.Replica].HardBytes;
        return hard > 0 && hard < _server.Config.ReplBacklogSize ? _server.Config.ReplBacklogSize : hard;
    }

    /// <summary>REPLCONF ACK offset [FACK aofoffset] from a replica (never answered).</summary>
    public void Acknowledged(Client client, long offset, long? aofOffset)
    {
        var st = client.ReplicaInfo;
        if (st is null || st.State == ReplicaSyncState.None) return;
        if (offset > st.AckOffset) st.AckOffset = offset;
        if (aofOffset is { } aof && aof > st.AofAckOffset) st.AofAckOffset = aof;
        st.AckTimeUnix = NowUnix;
        if (st.StartStreamOnAck && st.State == ReplicaSyncState.Online) StartCommandStream(client);
        if (st.State == ReplicaSyncState.BgRdbLoad)
        {
            // The main channel of a dual-channel sync: its replica finished loading.
            st.State = ReplicaSyncState.Online;
            RefreshGoodReplicas();
            _server.Log.Notice($"Synchronization with replica {ReplicaName(client)} succeeded");
        }
        Waits.Process();
    }

    /// <summary>A client left: if it was a replica, it stops being fed (and its image job may end with it).</summary>
    private void ClientClosing(Client client)
    {
        var st = client.ReplicaInfo;
        if (st is null || !_replicas.Remove(client)) return;
        if (st.State == ReplicaSyncState.Online)
            _server.Log.Notice($"Connection with replica {ReplicaName(client)} lost.");
        st.Job?.Detach(client);
        st.Job = null;
        // An image channel's kept stream outlives it for a grace period (its main channel may still come).
        client.StreamSource = null;
        if (!KeepWaitAfterDisconnect(client)) st.CloseCursor();
        st.State = ReplicaSyncState.None;
        if (_replicas.Count == 0) _noReplicasSinceUnix = NowUnix;
        RefreshGoodReplicas();
    }

    /// <summary>Closes every replica connection (they reconnect and, where they can, continue with PSYNC).</summary>
    public void DisconnectReplicas()
    {
        foreach (var r in _replicas.ToArray()) _server.DisconnectClient(r);
    }

    /// <summary>Valkey's refreshGoodReplicasCount.</summary>
    public void RefreshGoodReplicas()
    {
        var cfg = _server.Config;
        if (cfg.MinReplicasToWrite == 0 || cfg.MinReplicasMaxLag == 0) return;
        long now = NowUnix;
        int good = 0;
        foreach (var r in _replicas)
        {
            var st = r.ReplicaInfo!;
            if (st.State == ReplicaSyncState.Online && now - st.AckTimeUnix <= cfg.MinReplicasMaxLag) good++;
        }
        GoodReplicas = good;
    }

    /// <summary>Replicas online that acknowledged <paramref name="offset"/> (WAIT).</summary>
    public int CountAcks(long offset)
    {
        int n = 0;
        foreach (var r in _replicas)
            if (r.ReplicaInfo is { State: ReplicaSyncState.Online } st && st.AckOffset >= offset) n++;
        return n;
    }

    /// <summary>Replicas online whose AOF holds <paramref name="offset"/> fsynced (WAITAOF).</summary>
    public int CountAofAcks(long offset)
    {
        int n = 0;
        foreach (var r in _replicas)
            if (r.ReplicaInfo is { State: ReplicaSyncState.Online } st && st.AofAckOffset >= offset) n++;
        return n;
    }

    /// <summary>
    /// The stream held for a syncing replica counts against client-output-buffer-limit replica, as
    /// Valkey's output buffer does: one that falls too far behind is dropped.
    /// </summary>
    private void CheckKeptLimit(Client replica)
    {
        var limit = _server.Config.ClientOutputBufferLimits[(int)Config.ClientBufferClass.Replica];
        long used = replica.ReplicaInfo!.Cursor!.Pending;
        long hardLimit = ReplicaHardLimit();
        bool hard = hardLimit > 0 && used >= hardLimit;
        bool soft = false;
        if (limit.SoftBytes > 0 && used >= limit.SoftBytes)
        {
            long now = Environment.TickCount64;
            if (replica.OutputSoftLimitSinceMs == 0) replica.OutputSoftLimitSinceMs = now;
            else soft = (now - replica.OutputSoftLimitSinceMs) / 1000 > limit.SoftSeconds;
        }
        if (!hard && !soft) return;
        _server.Log.Warning($"Client id={replica.Id} addr={replica.RemoteAddress} closed for overcoming of output buffer limits.");
        _server.Stats.ClientOutputBufferLimitDisconnections++;
        _server.DisconnectClient(replica);
    }

    /// <summary>
    /// The primary's half of replicationCron, once a second: newlines to replicas waiting for an
    /// image, PING every repl-ping-replica-period, replicas silent past repl-timeout dropped, the
    /// backlog freed after repl-backlog-ttl without replicas.
    /// </summary>
    private void PrimaryCron(long loops)
    {
        var cfg = _server.Config;
        long now = NowUnix;
        // A replica's sub-replicas get only what its primary sent (PINGs included): it adds none of its own.
        if (_replicas.Count > 0 && !IsReplica && cfg.ReplPingReplicaPeriod > 0 && loops % cfg.ReplPingReplicaPeriod == 0 && !_server.Clients.ReplicaTrafficPaused)
            Feed("*1\r\n$4\r\nPING\r\n"u8);
        foreach (var r in _replicas.ToArray())
        {
            var st = r.ReplicaInfo!;
            bool presync = st.State == ReplicaSyncState.WaitBgsaveStart ||
                           (st.State == ReplicaSyncState.WaitBgsaveEnd && st.Job is { SocketTarget: false });
            if (presync) WriteToReplica(r, "\n"u8);
            if (st.State == ReplicaSyncState.Online && !st.PrePsync && now - st.AckTimeUnix > cfg.ReplTimeout)
            {
                _server.Log.Warning($"Disconnecting timedout replica (streaming sync): {ReplicaName(r)}");
                _server.DisconnectClient(r);
            }
        }
        ExpirePsyncWaits();
        if (_replicas.Count == 0 && cfg.ReplBacklogTtl > 0 && Backlog is not null && !IsReplica &&
            now - _noReplicasSinceUnix > cfg.ReplBacklogTtl)
        {
            ChangeReplicationId();
            ClearReplicationId2();
            FreeBacklog();
            _server.Log.Notice($"Replication backlog freed after {cfg.ReplBacklogTtl} seconds without connected replicas.");
        }
        RefreshGoodReplicas();
    }

    /// <summary>Replicas that did not finish reading a diskless image within repl-timeout are dropped (they hold the image up).</summary>
    internal void CheckImageTimeouts()
    {
        _job?.DropStalledRecipients(_server.Config.ReplTimeout);
    }
}
