namespace Kvasir.Sentinel;

/// <summary>State flags of a monitored instance (Valkey's SRI_*).</summary>
[Flags]
public enum InstanceFlags
{
    None = 0,
    Primary = 1 << 0,
    Replica = 1 << 1,
    Sentinel = 1 << 2,
    /// <summary>Subjectively down: this Sentinel gets no valid reply.</summary>
    SDown = 1 << 3,
    /// <summary>Objectively down: a quorum of Sentinels says so.</summary>
    ODown = 1 << 4,
    /// <summary>On another Sentinel: it said the primary is down.</summary>
    PrimaryDown = 1 << 5,
    FailoverInProgress = 1 << 6,
    /// <summary>The replica chosen for promotion.</summary>
    Promoted = 1 << 7,
    /// <summary>REPLICAOF the new primary was sent.</summary>
    ReconfSent = 1 << 8,
    /// <summary>The replica follows the new primary and is syncing.</summary>
    ReconfInProgress = 1 << 9,
    /// <summary>The replica is in sync with the new primary.</summary>
    ReconfDone = 1 << 10,
    /// <summary>SENTINEL FAILOVER: no election needed.</summary>
    ForceFailover = 1 << 11,
    ScriptKillSent = 1 << 12,
    /// <summary>The primary restarted (new run id) and primary-reboot-down-after-period applies.</summary>
    PrimaryReboot = 1 << 13,
}

/// <summary>States of a failover (Valkey's SENTINEL_FAILOVER_STATE_*).</summary>
public enum FailoverState
{
    None = 0,
    WaitStart = 1,
    SelectReplica = 2,
    SendReplicaOfNoOne = 3,
    WaitPromotion = 4,
    ReconfReplicas = 5,
    UpdateConfig = 6,
}

/// <summary>
/// A monitored primary, one of its replicas, or another Sentinel watching the same primary
/// (Valkey's sentinelValkeyInstance). Times are the Sentinel's millisecond clock (<see cref="SentinelState.Now"/>).
/// </summary>
public sealed class SentinelInstance
{
    public const int DefaultReplicaPriority = 100;

    public SentinelInstance(string name, InstanceFlags flags, SentinelAddress address, SentinelInstance? primary, int quorum, long now, long defaultDownAfter, long defaultFailoverTimeout)
    {
        Name = name;
        Flags = flags;
        Address = address;
        Primary = primary;
        Quorum = quorum;
        Link = new InstanceLink(now);
        LastPubTime = now;
        LastHelloTime = now;
        LastPrimaryDownReplyTime = now;
        DownAfterPeriod = primary?.DownAfterPeriod ?? defaultDownAfter;
        FailoverTimeout = defaultFailoverTimeout;
        RoleReported = flags & (InstanceFlags.Primary | InstanceFlags.Replica);
        RoleReportedTime = now;
        ReplicaConfChangeTime = now;
    }

    public InstanceFlags Flags;

    /// <summary>The primary's name; "ip:port" for a replica; the run id for a Sentinel.</summary>
    public string Name { get; }

    /// <summary>Run id from INFO, or a Sentinel's id; null until known.</summary>
    public string? RunId;

    public ulong ConfigEpoch;
    public SentinelAddress Address;
    public InstanceLink Link;

    /// <summary>Set when the instance was removed while callbacks on a shared link still name it.</summary>
    public bool Released;

    public long LastPubTime;
    public long LastHelloTime;
    public long LastPrimaryDownReplyTime;
    public long SDownSince;
    public long ODownSince;
    public long DownAfterPeriod;
    public long PrimaryRebootDownAfterPeriod;
    public long PrimaryRebootSince;

    /// <summary>When the last INFO reply arrived; 0 = never.</summary>
    public long InfoRefresh;

    /// <summary>Commands renamed on this primary (and its replicas): what to send instead.</summary>
    public readonly Dictionary<string, string> RenamedCommands = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The role INFO reports (Primary or Replica; None before the first INFO of an unknown role).</summary>
    public InstanceFlags RoleReported;
    public long RoleReportedTime;
    public long ReplicaConfChangeTime;

    // ----- primary -----
    public readonly Dictionary<string, SentinelInstance> Sentinels = new(StringComparer.Ordinal);
    public readonly Dictionary<string, SentinelInstance> Replicas = new(StringComparer.Ordinal);
    public int Quorum;
    public int ParallelSyncs = 1;
    public string? AuthPass;
    public string? AuthUser;

    // ----- replica -----
    public long PrimaryLinkDownTime;
    public int ReplicaPriority = DefaultReplicaPriority;
    public bool ReplicaAnnounced = true;
    public long ReplicaReconfSentTime;
    public SentinelInstance? Primary { get; }
    public string? ReplicaPrimaryHost;
    public int ReplicaPrimaryPort;
    public bool ReplicaPrimaryLinkUp;
    public ulong ReplicaReplOffset;

    // ----- failover -----
    /// <summary>On a primary: the Sentinel this one voted for. On a Sentinel: the one it voted for.</summary>
    public string? Leader;
    public ulong LeaderEpoch;
    public ulong FailoverEpoch;
    public FailoverState FailoverState;
    public long FailoverStateChangeTime;
    public long FailoverStartTime;
    public long FailoverTimeout;
    public long FailoverDelayLogged;
    public SentinelInstance? PromotedReplica;
    public string? NotificationScript;
    public string? ClientReconfigScript;

    /// <summary>The last INFO reply, as SENTINEL INFO-CACHE shows it.</summary>
    public string? Info;

    public bool Has(InstanceFlags f) => (Flags & f) != 0;

    public bool IsPrimary => Has(InstanceFlags.Primary);
    public bool IsReplica => Has(InstanceFlags.Replica);
    public bool IsSentinel => Has(InstanceFlags.Sentinel);

    /// <summary>The primary this instance belongs to (itself for a primary).</summary>
    public SentinelInstance OwnPrimary => IsPrimary ? this : Primary!;

    /// <summary>"master", "slave" or "sentinel", as events and replies name the kind.</summary>
    public string TypeName => IsPrimary ? "master" : IsReplica ? "slave" : IsSentinel ? "sentinel" : "unknown";

    /// <summary>The name of a command as this instance (or its primary) knows it after rename-command.</summary>
    public string MapCommand(string command)
    {
        var owner = Primary ?? this;
        return owner.RenamedCommands.TryGetValue(command, out var renamed) ? renamed : command;
    }

    /// <summary>True when neither SDOWN nor ODOWN was set in the last <paramref name="ms"/> milliseconds.</summary>
    public bool NoDownFor(long ms, long now)
    {
        long mostRecent = Math.Max(SDownSince, ODownSince);
        return mostRecent == 0 || now - mostRecent > ms;
    }
}
