using Kvasir.Clients;

namespace Kvasir.Replication;

/// <summary>
/// The replica's side: REPLICAOF, the link to the primary (<see cref="PrimaryLink"/>), the cached
/// primary that lets a dropped link continue with PSYNC, and promotion back to primary.
/// </summary>
public sealed partial class ReplicationManager
{
    private PrimaryLink? _link;
    private CachedPrimary? _cached;
    // The cached primary came from the RDB file loaded at start: the replicaof directive keeps it.
    private bool _cacheFromImage;
    private long _cronLoops;

    /// <summary>The primary's replication ID and offset as this replica last applied them, kept while the link is down.</summary>
    internal sealed record CachedPrimary(string ReplId, long Offset, int StreamDb);

    /// <summary>replicaof host, null when this server is a primary.</summary>
    public string? PrimaryHost { get; private set; }
    public int PrimaryPort { get; private set; }

    public bool IsReplica => PrimaryHost is not null;

    /// <summary>The link to the primary while this server is a replica.</summary>
    internal PrimaryLink? Link => _link;

    /// <summary>Unix seconds since the link went down (master_link_down_since_seconds), 0 while up or never connected.</summary>
    public long LinkDownSinceUnix { get; internal set; }

    /// <summary>The link to our primary is being closed by a command (CLIENT KILL): it is down from now,
    /// even though its loop notices only later (a cluster replica's data age starts here, as in Valkey).</summary>
    internal void LinkClosing()
    {
        if (_link is { MasterClient: not null } && LinkDownSinceUnix == 0) LinkDownSinceUnix = NowUnix;
    }

    /// <summary>The database the cached primary's stream had selected (RDB aux repl-stream-db).</summary>
    internal CachedPrimary? Cached => _cached;

    /// <summary>
    /// REPLICAOF host port (and the replicaof directive at start): follow that primary. A primary
    /// turning into a replica remembers its own history as a cached primary, so if the new primary
    /// was its replica it continues with a partial resync; clients blocked here are released with
    /// -UNBLOCKED, since this data set now only changes as the primary says.
    /// </summary>
    /// <param name="fullSyncRequired">
    /// Cluster mode: the new primary comes from another shard's history, so nothing of ours may be
    /// continued (no cached primary: the next PSYNC asks for a full sync), as Valkey's replicationSetPrimary.
    /// </param>
    public void SetPrimary(string host, int port, bool fullSyncRequired = false)
    {
        bool wasPrimary = !IsReplica;
        PrimaryHost = null;
        StopLink(cachePrimary: !fullSyncRequired);
        if (fullSyncRequired) _cached = null;
        DisconnectBlockedClients();
        PrimaryHost = host;
        PrimaryPort = port;
        _server.Log.Role = 'S';
        _server.Keyspace.ExpireDeletes = false;
        UpdateWritableReplica();
        if (wasPrimary && !_cacheFromImage && !fullSyncRequired)
        {
            _cached = null;
            CacheMyselfAsPrimary(-1);
        }
        _cacheFromImage = false;
        _server.Log.Notice($"Connecting to PRIMARY {host}:{port}");
        _link = new PrimaryLink(_server, host, port);
        _link.Start();
    }

    /// <summary>REPLICAOF NO ONE: a primary again, continuing its history under a new ID (Valkey's replicationUnsetPrimary).</summary>
    public void UnsetPrimary()
    {
        if (!IsReplica) return;
        PrimaryHost = null;
        PrimaryPort = 0;
        StopLink(cachePrimary: false);
        _cached = null;
        ShiftReplicationId();
        // Sub-replicas learn the new ID by reconnecting; they continue with a partial resync.
        DisconnectReplicas();
        _server.Propagator.ForceSelect();
        _noReplicasSinceUnix = NowUnix;
        LinkDownSinceUnix = 0;
        _server.Log.Role = 'M';
        // The stream of a promoted replica is its own from now on.
        _server.Keyspace.ExpireDeletes = true;
        UpdateWritableReplica();
        _server.Persistence.Aof.RestartAfterSync();
    }

    /// <summary>Closes the link; its state becomes the cached primary when it was connected and <paramref name="cachePrimary"/>.</summary>
    private void StopLink(bool cachePrimary)
    {
        var link = _link;
        if (link is null) return;
        _link = null;
        link.Stop();
        if (link.MasterClient is { } master)
        {
            _server.Log.Notice("Connection with primary lost.");
            if (cachePrimary && !link.ProtocolError)
            {
                _server.Log.Notice("Caching the disconnected primary state.");
                _cached = new CachedPrimary(ReplId, Offset, master.DbIndex);
            }
            link.DetachMasterClient();
            // The data is as old as this moment until a new link is up (a cluster replica's data age).
            if (LinkDownSinceUnix == 0) LinkDownSinceUnix = NowUnix;
        }
    }

    /// <summary>
    /// Before following a new primary, this server's own history as a cached primary: the new
    /// primary may have been its replica and then accepts a partial resync (Valkey's replicationCachePrimaryUsingMyself).
    /// </summary>
    private void CacheMyselfAsPrimary(int streamDb)
    {
        _server.Log.Notice("Before turning into a replica, using my own primary parameters to synthesize a cached primary: I may be able to synchronize with the new primary with just a partial transfer.");
        _cached = new CachedPrimary(ReplId, Offset, streamDb);
    }

    internal void DiscardCachedPrimary()
    {
        if (_cached is null) return;
        _server.Log.Notice("Discarding previously cached primary state.");
        _cached = null;
    }

    /// <summary>Blocked clients (BLPOP, WAIT...) are released with an error when the role changes (Valkey's disconnectAllBlockedClients).</summary>
    private void DisconnectBlockedClients()
    {
        foreach (var c in _server.Clients.All.ToList())
        {
            if (c.Blocking is not null)
                _server.Blocking.FailWith(c, "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)");
        }
    }

    // ----- events from the link (under the data lock) -----

    /// <summary>A full resync is about to replace the data set: nothing of the old history can be continued.</summary>
    internal void AttachToNewPrimary()
    {
        DiscardCachedPrimary();
        DisconnectReplicas();
        FreeBacklog();
    }

    /// <summary>The image from the primary is loaded: its history is ours now.</summary>
    internal void FullSyncDone(string replid, long offset)
    {
        ReplId = replid;
        Offset = offset;
        ClearReplicationId2();
        Backlog ??= new ReplicationBacklog(_server.Config.ReplBacklogSize, Offset);
        LinkDownSinceUnix = 0;
    }

    /// <summary>
    /// +CONTINUE: the link continues from the cached primary. A new replication ID (the primary was
    /// itself promoted) becomes ours, the old one valid up to here, and sub-replicas are told by reconnecting.
    /// </summary>
    internal CachedPrimary? ContinueFromCache(string? newReplId)
    {
        var cached = _cached;
        _cached = null;
        if (cached is null) return null;
        if (newReplId is not null && !string.Equals(newReplId, cached.ReplId, StringComparison.OrdinalIgnoreCase))
        {
            _server.Log.Notice($"Primary replication ID changed to {newReplId}");
            ReplId2 = cached.ReplId;
            SecondOffset = Offset + 1;
            ReplId = newReplId;
            DisconnectReplicas();
        }
        Backlog ??= new ReplicationBacklog(_server.Config.ReplBacklogSize, Offset);
        LinkDownSinceUnix = 0;
        return cached;
    }

    /// <summary>The connected link dropped: remember where we are, and reconnect.</summary>
    internal void LinkLost(PrimaryLink link)
    {
        if (_link != link) return;
        if (link.MasterClient is not null)
        {
            _server.Log.Notice("Connection with primary lost.");
            if (!link.ProtocolError)
            {
                _server.Log.Notice("Caching the disconnected primary state.");
                _cached = new CachedPrimary(ReplId, Offset, link.MasterClient.DbIndex);
            }
            link.DetachMasterClient();
            // Closed by a command (CLIENT KILL) the time is already noted: the loss happened then.
            if (LinkDownSinceUnix == 0) LinkDownSinceUnix = NowUnix;
        }
    }

    /// <summary>The partial/full resync arguments: the cached primary's ID and next offset, or "?" -1.</summary>
    internal (string ReplId, long Offset)? PsyncRequest => _cached is { } c ? (c.ReplId, c.Offset + 1) : null;

    /// <summary>Applied bytes of the primary's stream (slave_repl_offset).</summary>
    public long ReplicaOffset => _link is { MasterClient: not null } ? Offset : _cached?.Offset ?? 0;

    /// <summary>The server stops: the link closes without caching anything.</summary>
    public void Shutdown()
    {
        var link = _link;
        _link = null;
        link?.Stop();
        link?.DetachMasterClient();
    }

    /// <summary>
    /// PSYNC replid offset FAILOVER from our primary (Valkey's failover request): when the replid is
    /// ours, this replica becomes a primary and the PSYNC then continues as a partial resync. False
    /// when refused (the error is written).
    /// </summary>
    private bool AcceptFailoverRequest(Commands.CommandContext ctx)
    {
        string replid = ctx.Args.ToString(1);
        _server.Log.Notice($"Failover request received for replid {replid}.");
        if (!IsReplica)
        {
            ctx.Error("ERR PSYNC FAILOVER can't be sent to a master.");
            return false;
        }
        if (!string.Equals(replid, ReplId, StringComparison.OrdinalIgnoreCase))
        {
            ctx.Error("ERR PSYNC FAILOVER replid must match my replid.");
            return false;
        }
        UnsetPrimary();
        _server.Config.ReplicaOfHost = "";
        _server.Config.ReplicaOfPort = 0;
        string info = Commands.ClientCommands.AppendInfo(new System.Text.StringBuilder(), ctx.Client, ctx).ToString();
        _server.Log.Notice($"PRIMARY MODE enabled (failover request from '{info}')");
        return true;
    }

    /// <summary>
    /// A command of the primary's stream failed on this replica (Valkey's afterErrorReply for the
    /// primary client): logged as critical and counted in unexpected_error_replies.
    /// </summary>
    internal void PrimaryCommandFailed(Commands.CommandContext ctx, string message)
    {
        string text = message.Length > 4096 ? message[..4096] : message;
        _server.Log.Warning($"== CRITICAL == This replica is sending an error to its primary: '{text}' after processing the command '{ctx.Client.LastCommand}'");
        _server.Stats.UnexpectedErrorReplies++;
        if (Backlog is { HistoryLength: > 0 } backlog)
        {
            // Valkey's showLatestBacklog: what the primary sent last, to diagnose the divergence.
            long from = Math.Max(backlog.FirstByteOffset, backlog.EndOffset - 256 + 1);
            var tail = new System.Text.StringBuilder();
            backlog.CopyFrom(from, chunk => Protocol.Repr.Append(tail, chunk.Span));
            _server.Log.Warning($"Latest backlog is: '{tail}'");
        }
    }

    // ----- cron -----

    /// <summary>replicationCron, once a second.</summary>
    public void Cron()
    {
        _cronLoops++;
        Failover.Cron();
        _link?.Cron();
        PrimaryCron(_cronLoops - 1);
    }

    /// <summary>Work done on every tick (hz): diskless images start as soon as their delay is over.</summary>
    public void FastCron()
    {
        if (_replicas.Count > 0) StartImageForWaitingReplicas(force: false);
        CheckImageTimeouts();
        Failover.Cron();
        // WAITAOF waiters see local fsyncs that happened since.
        Waits.Process();
    }
}
