using System.Text;
using Kvasir.Clients;

namespace Kvasir.Replication;

/// <summary>The replication history an RDB image belongs to (Valkey's rdbSaveInfo), saved as aux fields.</summary>
public sealed record ReplicationInfo(int StreamDb, string ReplicationId, long Offset);

/// <summary>
/// The server's place in a replication setup (Valkey's replication.c): its replication IDs and
/// offset, the backlog, the replicas attached to it (<c>ReplicationManager.Replicas.cs</c>) and,
/// when it is itself a replica, the link to its primary (<see cref="PrimaryLink"/>). The stream it
/// feeds is the propagation log's output on a primary, and the primary's own bytes, proxied as
/// applied, on a replica: so every server of a chain holds the same bytes at the same offsets, and
/// PSYNC can continue from any of them (PSYNC2). Everything here runs under the data lock, except
/// the link's and the image jobs' I/O.
/// </summary>
public sealed partial class ReplicationManager
{
    private readonly KvasirServer _server;

    public ReplicationManager(KvasirServer server)
    {
        _server = server;
        var gauges = server.Stats.Gauges;
        gauges["sync_full"] = () => SyncFull;
        gauges["sync_partial_ok"] = () => SyncPartialOk;
        gauges["sync_partial_err"] = () => SyncPartialErr;
        gauges["min_slaves_good_slaves"] = () => GoodReplicas;
        gauges["repl_backlog_active"] = () => Backlog is null ? 0 : 1;
        gauges["repl_backlog_first_byte_offset"] = () => Backlog?.FirstByteOffset ?? 0;
        gauges["repl_backlog_histlen"] = () => Backlog?.HistoryLength ?? 0;
        gauges["mem_replication_backlog"] = () => (Backlog?.AllocatedBytes ?? 0) - ReplicasShareOfBuffer;
        gauges["slave_expires_tracked_keys"] = () => server.Keyspace.ReplicaKeysWithExpire.Count;
        gauges["mem_total_replication_buffers"] = () => Backlog?.AllocatedBytes ?? 0;
        Failover = new FailoverCoordinator(server);
        Waits = new ReplicationWaits(server);
        server.ClientClosing += ClientClosing;
        server.Config.Changed += name =>
        {
            if (name == "repl-backlog-size") Backlog?.Resize(_server.Config.ReplBacklogSize);
            else if (name is "replica-read-only" or "slave-read-only") UpdateWritableReplica();
            else if (name is "min-replicas-to-write" or "min-slaves-to-write" or "min-replicas-max-lag" or "min-slaves-max-lag") RefreshGoodReplicas();
        };
        _noReplicasSinceUnix = NowUnix;
    }

    /// <summary>FAILOVER's state machine.</summary>
    public FailoverCoordinator Failover { get; }

    /// <summary>Clients blocked in WAIT / WAITAOF.</summary>
    public ReplicationWaits Waits { get; }

    // ----- identity of the history -----

    /// <summary>master_replid: the history this server's data belongs to.</summary>
    public string ReplId { get; private set; } = KvasirServer.NewRandomId();

    /// <summary>master_replid2: the previous history, valid up to <see cref="SecondOffset"/> (after a promotion).</summary>
    public string ReplId2 { get; private set; } = NoId;

    /// <summary>second_repl_offset: the first offset the previous history no longer covers, -1 when none.</summary>
    public long SecondOffset { get; private set; } = -1;

    /// <summary>master_repl_offset: bytes of the stream this server holds (fed, or applied from its primary).</summary>
    public long Offset { get; private set; }

    public static readonly string NoId = new('0', 40);

    /// <summary>The last <c>repl-backlog-size</c> bytes of the stream; null outside any replication chain.</summary>
    public ReplicationBacklog? Backlog { get; private set; }

    /// <summary>Full and partial syncs served (INFO stats).</summary>
    public long SyncFull, SyncPartialOk, SyncPartialErr;

    /// <summary>CONFIG RESETSTAT.</summary>
    public void ResetStats() => SyncFull = SyncPartialOk = SyncPartialErr = 0;

    /// <summary>A new random replication ID: this data set starts a new history (Valkey's changeReplicationId).</summary>
    public void ChangeReplicationId() => ReplId = KvasirServer.NewRandomId();

    /// <summary>Forgets the previous history (Valkey's clearReplicationId2).</summary>
    public void ClearReplicationId2()
    {
        ReplId2 = NoId;
        SecondOffset = -1;
    }

    /// <summary>
    /// A replica becomes a primary: its history so far stays valid as the secondary ID up to the
    /// current offset (so its former siblings and primary can continue from it), and a new history starts.
    /// </summary>
    public void ShiftReplicationId()
    {
        ReplId2 = ReplId;
        SecondOffset = Offset + 1;
        ChangeReplicationId();
        _server.Log.Notice($"Setting secondary replication ID to {ReplId2}, valid up to offset: {SecondOffset}. New replication ID is {ReplId}");
    }

    /// <summary>Keeps the keyspace's view of "a replica that takes its clients' writes" current.</summary>
    internal void UpdateWritableReplica()
    {
        var ks = _server.Keyspace;
        ks.WritableReplica = IsReplica && !_server.Config.ReplicaReadOnly;
        if (!IsReplica) ks.ReplicaKeysWithExpire.Clear();
    }

    /// <summary>DEBUG CHANGE-REPL-ID.</summary>
    public void ResetIds()
    {
        ChangeReplicationId();
        ClearReplicationId2();
    }

    public void CreateBacklog()
    {
        Backlog = new ReplicationBacklog(_server.Config.ReplBacklogSize, Offset);
    }

    public void FreeBacklog() => Backlog = null;

    /// <summary>
    /// The RDB aux fields for an image taken now (Valkey's rdbPopulateSaveInfo), or null when the
    /// server is in no replication chain: a primary with a backlog (the database of the stream's
    /// last SELECT), or a replica with a primary link or a cached one.
    /// </summary>
    public ReplicationInfo? SaveInfo()
    {
        if (!IsReplica && Backlog is not null)
            return new ReplicationInfo(Math.Max(0, _server.Propagator.StreamDb), ReplId, Offset);
        if (IsReplica && (_link is { Connected: true } || _cached is not null))
            return new ReplicationInfo(Math.Max(0, _link is { Connected: true } l ? l.StreamDb : _cached!.StreamDb), ReplId, Offset);
        return null;
    }

    /// <summary>
    /// After the data set was loaded at start: the replication history saved with it lets this
    /// server continue it (Valkey's loadDataFromDisk): a replica resumes as if its primary had just
    /// disconnected; a primary keeps it as the secondary ID so its old replicas can continue.
    /// </summary>
    public void RestoreFromImage(Persistence.RdbLoadResult result, List<(int Db, byte[] Key)>? expiredKeys)
    {
        string? id = result.AuxText("repl-id");
        string? offsetText = result.AuxText("repl-offset");
        string? dbText = result.AuxText("repl-stream-db");
        if (id is null || id.Length != 40 || !long.TryParse(offsetText, out long offset) || offset < 0 ||
            !int.TryParse(dbText, out int db) || db < 0)
            return;
        // Loading happens before the replicaof directive takes effect: the config (or, in cluster
        // mode, nodes.conf) says what we are.
        if (_server.Config.ReplicaOfHost.Length > 0 || _server.Cluster is { Myself.IsReplica: true })
        {
            ReplId = id;
            Offset = offset;
            CacheMyselfAsPrimary(db);
            _cacheFromImage = true;
        }
        else
        {
            ReplId2 = id;
            SecondOffset = offset + 1;
            Offset += offset;
            Backlog = new ReplicationBacklog(_server.Config.ReplBacklogSize, Offset);
            _noReplicasSinceUnix = NowUnix;
            // Keys that expired while the primary was down were not loaded: the stream says so, so
            // replicas continuing from the saved offset delete them too.
            if (expiredKeys is { Count: > 0 }) FeedDeletions(expiredKeys);
        }
    }

    // ----- the stream -----

    /// <summary>DEL (UNLINK with lazyfree-lazy-expire) of each key, each after a SELECT of its database when it changes.</summary>
    private void FeedDeletions(List<(int Db, byte[] Key)> keys)
    {
        var w = new Protocol.ReplyWriter();
        byte[] verb = _server.Config.LazyfreeLazyExpire ? Effects.Unlink : Effects.Del;
        int selected = -1;
        foreach (var (db, key) in keys)
        {
            w.Clear();
            if (db != selected)
            {
                w.WriteArray(2);
                w.WriteBulk("SELECT"u8);
                w.WriteBulk(db);
                selected = db;
            }
            w.WriteArray(2);
            w.WriteBulk(verb);
            w.WriteBulk(key);
            Feed(w.WrittenSpan);
        }
        w.Release();
        _server.Propagator.ForceSelect();
    }

    /// <summary>A replica's applied share of its primary's stream: the same bytes, the same offsets.</summary>
    internal void FeedFromPrimary(ReadOnlySpan<byte> bytes)
    {
        if (Backlog is null) Offset += bytes.Length;
        else Feed(bytes);
    }

    /// <summary>
    /// Appends bytes to the replication stream, held once for the backlog and every replica: the
    /// streaming replicas' connections are woken to send from their cursors, and the replicas still
    /// waiting for an image are checked against their output limit. Without a backlog there is
    /// nobody to feed (Valkey keeps master_repl_offset still then).
    /// </summary>
    public void Feed(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return;
        if (Backlog is null)
        {
            // Nobody to feed, but the offset still moves: WAITAOF measures AOF fsyncs in it (Valkey does the same).
            if (!IsReplica) Offset++;
            return;
        }
        Backlog.Append(bytes);
        Offset = Backlog.EndOffset;
        // Backwards: a replica over its limit leaves the list while it is walked.
        for (int i = _replicas.Count - 1; i >= 0; i--)
        {
            if (i >= _replicas.Count) continue;
            var replica = _replicas[i];
            if (replica.StreamSource is not null) replica.Transport?.OutputAvailable();
            else if (replica.ReplicaInfo!.Cursor is not null) CheckKeptLimit(replica);
        }
        CheckWaitingPsyncLimits();
    }

    /// <summary>
    /// The part of the replication buffer that is there for replicas rather than for the backlog
    /// (Valkey counts it in mem_clients_slaves): what exceeds repl-backlog-size while replicas are attached.
    /// </summary>
    public long ReplicasShareOfBuffer =>
        _replicas.Count > 0 && Backlog is { } b && b.AllocatedBytes > b.Size ? b.AllocatedBytes - b.Size : 0;

    /// <summary>True when writes must be encoded for replicas: this server feeds a stream of its own (a primary with a backlog).</summary>
    public bool FeedsStream => Backlog is not null && !IsReplica;

    /// <summary>Bytes written into a replica's output (its own replies are off), and its connection woken.</summary>
    internal static void WriteToReplica(Client replica, ReadOnlySpan<byte> bytes)
    {
        var reply = replica.Reply;
        bool enabled = reply.Enabled;
        reply.Enabled = true;
        reply.WriteRaw(bytes);
        reply.Enabled = enabled;
        replica.Transport?.OutputAvailable();
    }

    private static long NowUnix => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>Valkey's replicationGetReplicaName: "ip:port" as announced, for log lines.</summary>
    public static string ReplicaName(Client c)
    {
        var st = c.ReplicaInfo;
        string ip = st?.AnnouncedIp ?? HostOf(c.RemoteAddress);
        if (ip.Length == 0) return $"client id #{c.Id}";
        int port = st?.ListeningPort ?? 0;
        if (port == 0) return $"{ip}:<unknown-replica-port>";
        return ip.Contains(':') ? $"[{ip}]:{port}" : $"{ip}:{port}";
    }

    /// <summary>The host part of "ip:port" / "[ipv6]:port".</summary>
    internal static string HostOf(string address)
    {
        int colon = address.LastIndexOf(':');
        if (colon <= 0) return address;
        string host = address[..colon];
        return host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
    }

    internal static string Escape(ReadOnlySpan<byte> text)
    {
        var sb = new StringBuilder();
        Protocol.Repr.Append(sb, text);
        return sb.ToString();
    }
}
