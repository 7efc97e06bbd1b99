namespace Kvasir.Cluster;

/// <summary>Node flags as the bus carries them (Valkey's CLUSTER_NODE_*), also the node's state here.</summary>
[Flags]
public enum NodeFlags : ushort
{
    None = 0,
    Primary = 1 << 0,
    Replica = 1 << 1,
    /// <summary>Possibly failing: no answer from it within cluster-node-timeout (our own view).</summary>
    PFail = 1 << 2,
    /// <summary>Failing: a majority of primaries agreed.</summary>
    Fail = 1 << 3,
    Myself = 1 << 4,
    /// <summary>Met, but its first PONG (and so its real name) has not arrived yet.</summary>
    Handshake = 1 << 5,
    NoAddress = 1 << 6,
    /// <summary>Send MEET rather than PING until it answers.</summary>
    Meet = 1 << 7,
    /// <summary>A primary that replicas may migrate to when it is left without working replicas.</summary>
    MigrateTo = 1 << 8,
    NoFailover = 1 << 9,
    ExtensionsSupported = 1 << 10,
    LightHeaderSupported = 1 << 11,
}

/// <summary>A failure report: <see cref="Sender"/> saw the node as PFAIL or FAIL at <see cref="TimeMs"/>.</summary>
public sealed class FailureReport(ClusterNode sender, long timeMs)
{
    public ClusterNode Sender { get; } = sender;
    public long TimeMs { get; set; } = timeMs;
}

/// <summary>
/// One node of the cluster as this server knows it (Valkey's clusterNode): identity, addresses,
/// role, slots, epochs, failure state and the links to it. Changed only under the data lock.
/// </summary>
public sealed class ClusterNode
{
    public ClusterNode(string name, NodeFlags flags, long nowMs)
    {
        Name = name;
        ShardId = ClusterState.RandomName();
        Flags = flags;
        CreatedMs = nowMs;
    }

    /// <summary>40 lowercase hex characters.</summary>
    public string Name { get; set; }
    public string ShardId { get; set; }
    public NodeFlags Flags { get; set; }
    public long CreatedMs { get; }
    public ulong ConfigEpoch { get; set; }

    /// <summary>Slots this node serves, as the bus bitmap (bit i of byte i/8, least significant first).</summary>
    public byte[] Slots { get; } = new byte[KeySlot.Count / 8];
    public int SlotCount { get; set; }

    /// <summary>Its replicas, sorted by name (Valkey keeps them sorted for stable output).</summary>
    public List<ClusterNode> Replicas { get; } = new();

    /// <summary>The primary it replicates, when known.</summary>
    public ClusterNode? ReplicaOf { get; set; }

    public long PingSentMs { get; set; }
    public long PongReceivedMs { get; set; }
    public long DataReceivedMs { get; set; }
    public long FailTimeMs { get; set; }
    public long VotedTimeMs { get; set; }
    public long ReplOffsetTimeMs { get; set; }
    public long OrphanedTimeMs { get; set; }
    public long ReplOffset { get; set; }

    /// <summary>Which ping built with this counter last carried the node in its gossip (no node twice in one ping).</summary>
    public long LastInPingGossip { get; set; }

    public string Ip { get; set; } = "";
    public int TcpPort { get; set; }
    public int TlsPort { get; set; }
    public int BusPort { get; set; }
    public string Hostname { get; set; } = "";
    public string HumanNodename { get; set; } = "";
    public string AnnounceClientIpv4 { get; set; } = "";
    public string AnnounceClientIpv6 { get; set; } = "";

    /// <summary>The link we opened to it.</summary>
    public ClusterLink? Link { get; set; }

    /// <summary>The link it opened to us.</summary>
    public ClusterLink? InboundLink { get; set; }

    public List<FailureReport> FailReports { get; } = new();

    /// <summary>CLUSTER SLOTS lists it (not failing, has replication data); the cached reply is rebuilt when this changes.</summary>
    public bool Healthy { get; set; }

    public bool Has(NodeFlags f) => (Flags & f) != 0;
    public bool IsPrimary => Has(NodeFlags.Primary);
    public bool IsReplica => Has(NodeFlags.Replica);
    public bool IsMyself => Has(NodeFlags.Myself);
    public bool InHandshake => Has(NodeFlags.Handshake);
    public bool HasAddress => !Has(NodeFlags.NoAddress);
    public bool TimedOut => Has(NodeFlags.PFail);
    public bool Failed => Has(NodeFlags.Fail);

    /// <summary>A primary serving slots: only those vote and count for the cluster size.</summary>
    public bool IsVotingPrimary => IsPrimary && SlotCount > 0;

    /// <summary>The config epoch its role gives it: its primary's for a replica.</summary>
    public ulong Epoch => ReplicaOf?.ConfigEpoch ?? ConfigEpoch;

    public bool CoversSlot(int slot) => (Slots[slot >> 3] & (1 << (slot & 7))) != 0;

    /// <summary>Sets the slot bit; returns whether it was set before.</summary>
    public bool SetSlotBit(int slot)
    {
        bool old = CoversSlot(slot);
        if (!old)
        {
            Slots[slot >> 3] |= (byte)(1 << (slot & 7));
            SlotCount++;
        }
        return old;
    }

    public bool ClearSlotBit(int slot)
    {
        bool old = CoversSlot(slot);
        if (old)
        {
            Slots[slot >> 3] &= (byte)~(1 << (slot & 7));
            SlotCount--;
        }
        return old;
    }

    public bool AddReplica(ClusterNode replica)
    {
        if (Replicas.Contains(replica)) return false;
        Replicas.Add(replica);
        Replicas.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        Flags |= NodeFlags.MigrateTo;
        return true;
    }

    public bool RemoveReplica(ClusterNode replica)
    {
        if (!Replicas.Remove(replica)) return false;
        if (Replicas.Count == 0) Flags &= ~NodeFlags.MigrateTo;
        return true;
    }

    public int NonFailingReplicas()
    {
        int n = 0;
        foreach (var r in Replicas) if (!r.Failed) n++;
        return n;
    }

    /// <summary>The primary at the top of its replication chain (itself for a primary).</summary>
    public ClusterNode TopPrimary()
    {
        var n = this;
        int guard = 0;
        while (n.ReplicaOf is { } up && up != this && guard++ < 64) n = up;
        return n;
    }

    /// <summary>The client port for the kind of connection asking (TLS or plain).</summary>
    public int ClientPort(bool tls) => tls ? TlsPort : TcpPort;

    /// <summary>"name (human name)" for log lines.</summary>
    public override string ToString() => $"{Name} ({HumanNodename})";
}
