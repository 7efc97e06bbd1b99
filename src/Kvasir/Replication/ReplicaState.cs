using Kvasir.Protocol;

namespace Kvasir.Replication;

/// <summary>Where a replica attached to this server stands (Valkey's repl_state of a replica client).</summary>
public enum ReplicaSyncState
{
    /// <summary>Not a replica yet: only REPLCONF options were received.</summary>
    None,
    /// <summary>Waiting for an image to start (the diskless delay, or a socket-target image already running).</summary>
    WaitBgsaveStart,
    /// <summary>Its image is being made; the stream since the snapshot point is kept for it.</summary>
    WaitBgsaveEnd,
    /// <summary>The finished image file is being sent.</summary>
    SendBulk,
    /// <summary>The main channel of a dual-channel sync: gets the stream while the replica still loads the image.</summary>
    BgRdbLoad,
    /// <summary>Receives the live stream.</summary>
    Online,
    /// <summary>REPLCONF rdb-only: the image was sent and nothing else will be.</summary>
    RdbTransmitted,
}

/// <summary>
/// What a primary knows about one replica client: its announced address and capabilities, its sync
/// state, the offsets it acknowledged and, during a full sync, the stream kept for it since the
/// snapshot point. Created by the first REPLCONF, before the client becomes a replica. Under the data lock.
/// </summary>
public sealed class ReplicaState
{
    public ReplicaSyncState State;

    /// <summary>REPLCONF listening-port / ip-address: the address INFO, ROLE and FAILOVER show.</summary>
    public int ListeningPort;
    public string? AnnouncedIp;

    /// <summary>REPLCONF capa eof: takes an image of unknown length ($EOF:mark), so a diskless one.</summary>
    public bool CapaEof;
    /// <summary>REPLCONF capa psync2: understands "+CONTINUE replid".</summary>
    public bool CapaPsync2;
    public bool CapaDualChannel;

    /// <summary>REPLCONF version as Valkey's number (major*65536 + minor*256 + patch), -1 when never sent (Redis 7.0 and older).</summary>
    public int Version = -1;

    /// <summary>SYNC instead of PSYNC (valkey-cli --replica): no ACKs are expected.</summary>
    public bool PrePsync;

    /// <summary>REPLCONF rdb-only 1: the image only, no stream (valkey-cli --rdb).</summary>
    public bool RdbOnly;

    /// <summary>REPLCONF rdb-filter-only: the image holds only the function libraries, or nothing.</summary>
    public bool ExcludeData;
    public bool ExcludeFunctions;

    /// <summary>REPLCONF rdb-channel 1: the image channel of a dual-channel sync.</summary>
    public bool RdbChannel;

    /// <summary>REPLCONF set-rdb-client-id: the main channel's image channel (its PSYNC continues from that image).</summary>
    public long AssociatedRdbClientId;

    /// <summary>INFO's type= of a replica: its role in a dual-channel sync.</summary>
    public string TypeName => RdbChannel ? "rdb-channel" : State == ReplicaSyncState.BgRdbLoad ? "main-channel" : "replica";

    /// <summary>Offsets acknowledged by REPLCONF ACK (processed) and FACK (fsynced to its AOF).</summary>
    public long AckOffset;
    public long AofAckOffset;

    /// <summary>Unix seconds of the last ACK (lag, repl-timeout, min-replicas-max-lag).</summary>
    public long AckTimeUnix;

    /// <summary>The offset its full sync starts from (+FULLRESYNC replid offset).</summary>
    public long PsyncInitialOffset;

    /// <summary>
    /// Its position in the shared replication stream. While it syncs, the cursor holds the stream
    /// from its image's snapshot point (sent right after the image); once it streams
    /// (<see cref="Clients.Client.StreamSource"/>) its connection sends from it.
    /// </summary>
    public StreamCursor? Cursor;

    /// <summary>Lets go of its position in the stream (under the data lock).</summary>
    public void CloseCursor()
    {
        Cursor?.Close();
        Cursor = null;
    }

    /// <summary>After an $EOF image, the kept stream is sent only once the replica's first ACK shows it finished reading it.</summary>
    public bool StartStreamOnAck;

    /// <summary>Unix seconds when it entered WaitBgsaveStart (repl-diskless-sync-delay counts from there).</summary>
    public long WaitingSinceUnix;

    /// <summary>Environment.TickCount64 when a diskless image last found its output drained (stall detection).</summary>
    public long ImageProgressMs;

    /// <summary>The image job serving it, while it is syncing.</summary>
    internal FullSyncJob? Job;

    /// <summary>The capability bits an image's recipients must all have, as Valkey's replica_capa.</summary>
    public bool CanJoin(ReplicaState first) =>
        (!first.CapaEof || CapaEof) && (!first.CapaPsync2 || CapaPsync2) && SameRequirements(first);

    /// <summary>Same image requirements (filters, rdb-channel), as Valkey's replica_req.</summary>
    public bool SameRequirements(ReplicaState other) =>
        ExcludeData == other.ExcludeData && ExcludeFunctions == other.ExcludeFunctions && RdbChannel == other.RdbChannel;

    /// <summary>Valkey's replstateToString, for INFO's slaveN lines.</summary>
    public string StateName => State switch
    {
        ReplicaSyncState.WaitBgsaveStart or ReplicaSyncState.WaitBgsaveEnd => "wait_bgsave",
        ReplicaSyncState.SendBulk => "send_bulk",
        ReplicaSyncState.Online => "online",
        ReplicaSyncState.BgRdbLoad => "bg_transfer",
        _ => "",
    };

    /// <summary>"x.y.z" as Valkey's version2num; -1 when malformed.</summary>
    public static int ParseVersion(string text)
    {
        var parts = text.Split('.');
        if (parts.Length != 3) return -1;
        int v = 0;
        foreach (var p in parts)
        {
            if (!int.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) || n > 255) return -1;
            v = (v << 8) | n;
        }
        return v;
    }
}
