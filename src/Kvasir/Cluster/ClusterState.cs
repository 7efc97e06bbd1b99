using System.Net;
using System.Security.Cryptography;

namespace Kvasir.Cluster;

/// <summary>
/// Cluster mode (cluster-enabled yes): this server's view of the cluster and the state machine that
/// keeps it current, as Valkey's clusterState. The node table, slot owners, epochs, failure
/// detection, elections and slot migration states live here and change only under the data lock:
/// from commands, from bus messages (<see cref="ClusterLink"/>) and from <see cref="Cron"/>.
/// Work that must follow such a change (saving nodes.conf, recomputing the cluster state, checking
/// an election) is noted in <see cref="Todo"/> flags and done by <see cref="BeforeSleep"/> before
/// the lock is released, as Valkey's clusterBeforeSleep.
/// </summary>
public sealed partial class ClusterState
{
    [Flags]
    private enum Todo
    {
        None = 0,
        HandleFailover = 1 << 0,
        UpdateState = 1 << 1,
        SaveConfig = 1 << 2,
        FsyncConfig = 1 << 3,
        HandleManualFailover = 1 << 4,
    }

    public const int PortIncrement = 10000;
    /// <summary>How long a failure report stays valid, in node timeouts.</summary>
    private const int FailReportValidityMult = 2;
    /// <summary>A primary that failed but is back and still serves its slots is cleared after this many node timeouts.</summary>
    private const int FailUndoTimeMult = 2;
    private const long ManualFailoverTimeoutMs = 5000;
    private const int ManualFailoverPauseMult = 2;
    private const long ReplicaMigrationDelayMs = 5000;
    /// <summary>Timeout of cluster operations such as the SETSLOT replication (Valkey's CLUSTER_OPERATION_TIMEOUT).</summary>
    public const long OperationTimeoutMs = 2000;
    private const long MaxRejoinDelayMs = 5000;
    private const long MinRejoinDelayMs = 500;
    private const long WritableDelayMs = 2000;

    private readonly KvasirServer _server;
    private readonly Dictionary<string, ClusterNode> _nodes = new(StringComparer.Ordinal);
    private List<ClusterNode>? _nodeList;
    private readonly Dictionary<string, List<ClusterNode>> _shards = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _blacklist = new(StringComparer.OrdinalIgnoreCase);
    private readonly ClusterNode?[] _slots = new ClusterNode?[KeySlot.Count];
    private readonly ClusterNode?[] _migratingTo = new ClusterNode?[KeySlot.Count];
    private readonly ClusterNode?[] _importingFrom = new ClusterNode?[KeySlot.Count];
    /// <summary>Slots whose owner stopped claiming them in its pings (not yet given to another node).</summary>
    private readonly byte[] _ownerNotClaiming = new byte[BusMessage.SlotBytes];
    private Todo _todo;
    /// <summary>Links with messages queued since the last <see cref="BeforeSleep"/>, which starts sending them.</summary>
    private readonly HashSet<ClusterLink> _unflushedLinks = new();
    private BusListener? _listener;
    private FileStream? _configLock;
    private readonly Random _random = new();

    public ClusterState(KvasirServer server)
    {
        _server = server;
        Myself = null!;
    }

    public ClusterNode Myself { get; private set; }
    public ulong CurrentEpoch { get; private set; }
    public ulong LastVoteEpoch { get; private set; }

    /// <summary>cluster_state: ok, or fail (slots uncovered, or in a minority partition).</summary>
    public bool IsOk { get; private set; }

    /// <summary>Primaries serving at least one slot (the electorate).</summary>
    public int Size { get; private set; }

    public IReadOnlyCollection<ClusterNode> Nodes => _nodes.Values;
    public IReadOnlyDictionary<string, List<ClusterNode>> Shards => _shards;
    public ClusterNode? SlotOwner(int slot) => _slots[slot];
    public ClusterNode? MigratingTo(int slot) => _migratingTo[slot];
    public ClusterNode? ImportingFrom(int slot) => _importingFrom[slot];

    /// <summary>Bus messages sent and received, by type (INFO / CLUSTER INFO cluster_stats_messages_*).</summary>
    public long[] MessagesSent { get; } = new long[BusMessage.TypeCount];
    public long[] MessagesReceived { get; } = new long[BusMessage.TypeCount];

    /// <summary>Links closed because their send queue exceeded cluster-link-sendbuf-limit.</summary>
    public long LinksBufferLimitExceeded { get; private set; }

    /// <summary>DEBUG DROP-CLUSTER-PACKET-FILTER: bus messages of this type are dropped (-1: none).</summary>
    public int DropPacketFilter { get; set; } = -1;

    /// <summary>DEBUG CLOSE-CLUSTER-LINK-ON-PACKET-DROP: a dropped packet also closes its link.</summary>
    public bool CloseLinkOnPacketDrop { get; set; }

    private long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private static long NowUnix => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private Observability.ServerLog Log => _server.Log;
    private Config.ServerConfig Config => _server.Config;
    private long NodeTimeout => Config.ClusterNodeTimeout;

    public static string RandomName() => Convert.ToHexString(RandomNumberGenerator.GetBytes(20)).ToLowerInvariant();

    /// <summary>A node name: exactly 40 characters of [a-z0-9] (Valkey's verifyClusterNodeId).</summary>
    public static bool IsValidName(ReadOnlySpan<char> name)
    {
        if (name.Length != BusMessage.NameLength) return false;
        foreach (char c in name)
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9')) return false;
        return true;
    }

    // ----- start and stop -----

    /// <summary>
    /// Valkey's clusterInit: locks nodes.conf and loads it, or creates this node with a new random
    /// name and saves it. Throws when the start must fail.
    /// </summary>
    public void Initialize()
    {
        string content = LockConfigFile();
        if (!NodesFile.Load(this, content, ConfigFilePath))
        {
            Myself = CreateNode(null, NodeFlags.Myself | NodeFlags.Primary);
            Log.Notice($"No cluster configuration found, I'm {Myself.Name}");
            AddNode(Myself);
            AddNodeToShard(Myself.ShardId, Myself);
            SaveConfigOrDie(true);
        }
        int port = DefaultClientPort();
        if (Config.ClusterPort == 0 && port > 65535 - PortIncrement)
            throw new InvalidOperationException("Valkey port number too high. Cluster communication port is 10,000 port numbers higher than your Valkey port. Your Valkey port number must be 55535 or less.");
        if (Config.Bind.Length == 0)
            throw new InvalidOperationException("No bind address is configured, but it is required for the Cluster bus.");
        DeriveAnnouncedPorts(out int tcp, out int tls, out int bus);
        Myself.TcpPort = tcp;
        Myself.TlsPort = tls;
        Myself.BusPort = bus;
        ResetManualFailover();
        UpdateMyselfFlags();
        UpdateMyselfIp();
        UpdateMyselfAnnounced();
        Config.Changed += ConfigChanged;
        _server.PubSub.ShardTraffic = () => Config.ClusterSlotStatsEnabled ? SlotStats : null;
        var gauges = _server.Stats.Gauges;
        gauges["cluster_connections"] = () => (_nodes.Count - 1) * 2L;
        gauges["mem_cluster_links"] = () =>
        {
            long bytes = 0;
            foreach (var n in _nodes.Values)
            {
                if (n.Link is { } l) bytes += l.SendQueueBytes + 1024;
                if (n.InboundLink is { } il) bytes += il.SendQueueBytes + 1024;
            }
            return bytes;
        };
    }

    /// <summary>
    /// Binds the cluster bus port, as Valkey's clusterInitLast does before it logs "Server
    /// initialized": a busy port stops the start at once with the line test harnesses look for to
    /// retry on another port. Connections are accepted from <see cref="Start"/> on.
    /// </summary>
    public void BindBus()
    {
        if (_listener is not null) return;
        int clientPort = DefaultClientPort();
        // Initialize reports the configurations that cannot have a bus.
        if (Config.ClusterPort == 0 && clientPort > 65535 - PortIncrement || Config.Bind.Length == 0) return;
        int port = Config.ClusterPort != 0 ? Config.ClusterPort : clientPort + PortIncrement;
        var listener = new BusListener(_server, this);
        if (!listener.TryBind(port, out string? error))
        {
            Log.Warning($"Failed listening on port {port} (cluster), aborting.");
            throw new InvalidOperationException($"Could not create the cluster bus listening socket on port {port}: {error}");
        }
        _listener = listener;
    }

    /// <summary>After the data set is loaded (Valkey's verifyClusterConfigWithData), the bus accepts connections.</summary>
    public void Start()
    {
        // The ports are known for sure now that the listeners are bound (port 0 picks one).
        DeriveAnnouncedPorts(out int tcp, out int tls, out int bus);
        Myself.TcpPort = tcp;
        Myself.TlsPort = tls;
        Myself.BusPort = bus;
        VerifyConfigWithData();
        BindBus();
        _listener!.StartAccepting();
    }

    /// <summary>SHUTDOWN: the configuration is saved and the lock released (Valkey's clusterHandleServerShutdown).</summary>
    public void Shutdown()
    {
        Log.Notice("Saving the cluster configuration file before exiting.");
        SaveConfig(true);
        Stop();
    }

    /// <summary>Closes the bus (the process, or an embedded server, stops).</summary>
    public void Stop()
    {
        _listener?.Stop();
        _listener = null;
        foreach (var n in _nodes.Values.ToList())
        {
            if (n.Link is { } l) FreeLink(l);
            if (n.InboundLink is { } il) FreeLink(il);
        }
        foreach (var l in _unassignedLinks.ToList()) FreeLink(l);
        _configLock?.Dispose();
        _configLock = null;
    }

    /// <summary>
    /// Locks nodes.conf for this process (an exclusive advisory lock, as Valkey's flock, so two
    /// nodes never share one file) and returns its content ("" when new or empty).
    /// </summary>
    /// <summary>nodes.conf, relative to dir (an embedded server does not change the process's working directory).</summary>
    internal string ConfigFilePath => Path.Combine(Config.Dir, Config.ClusterConfigFile);

    private string LockConfigFile()
    {
        string path = ConfigFilePath;
        try
        {
            _configLock = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (File.Exists(path))
        {
            Log.Warning($"Sorry, the cluster configuration file {path} is already used by a different Cluster node. Please make sure that different nodes use different cluster configuration files. ({e.Message})");
            throw new InvalidOperationException("Unable to lock the cluster configuration file.");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Can't open {path} in order to acquire a lock: {e.Message}");
            throw new InvalidOperationException("Unable to lock the cluster configuration file.");
        }
        using var reader = new StreamReader(_configLock, leaveOpen: true);
        return reader.ReadToEnd();
    }

    // ----- ports and announced identity -----

    private int DefaultClientPort() => Config.TlsCluster ? Config.TlsPort : Config.Port;

    /// <summary>The ports this node announces (cluster-announce-*, else the listening ones).</summary>
    internal void DeriveAnnouncedPorts(out int tcp, out int tls, out int bus)
    {
        tcp = Config.ClusterAnnouncePort != 0 ? Config.ClusterAnnouncePort : (_server.BoundPort != 0 ? _server.BoundPort : Config.Port);
        tls = Config.ClusterAnnounceTlsPort != 0 ? Config.ClusterAnnounceTlsPort : Config.TlsPort;
        if (Config.ClusterAnnounceBusPort != 0) bus = Config.ClusterAnnounceBusPort;
        else if (Config.ClusterPort != 0) bus = Config.ClusterPort;
        else bus = DefaultClientPort() + PortIncrement;
    }

    private void ConfigChanged(string name)
    {
        lock (_server.DataLock)
        {
            switch (name)
            {
                case "cluster-announce-ip": UpdateMyselfIp(); break;
                case "cluster-announce-port" or "cluster-announce-tls-port" or "cluster-announce-bus-port":
                    DeriveAnnouncedPorts(out int tcp, out int tls, out int bus);
                    Myself.TcpPort = tcp;
                    Myself.TlsPort = tls;
                    Myself.BusPort = bus;
                    DoBeforeSleep(Todo.SaveConfig);
                    break;
                case "cluster-replica-no-failover" or "cluster-slave-no-failover": UpdateMyselfFlags(); break;
                case "cluster-announce-hostname" or "cluster-announce-human-nodename" or "cluster-announce-client-ipv4" or "cluster-announce-client-ipv6":
                    UpdateMyselfAnnounced();
                    break;
                case "cluster-require-full-coverage": DoBeforeSleep(Todo.UpdateState); break;
                case "cluster-preferred-endpoint-type": InvalidateSlotsReplies(); break;
            }
            BeforeSleep();
        }
    }

    /// <summary>Keeps the NOFAILOVER flag of myself as cluster-replica-no-failover says.</summary>
    private void UpdateMyselfFlags()
    {
        var old = Myself.Flags;
        Myself.Flags &= ~NodeFlags.NoFailover;
        if (Config.ClusterReplicaNoFailover) Myself.Flags |= NodeFlags.NoFailover;
        Myself.Flags |= NodeFlags.LightHeaderSupported;
        if (Myself.Flags != old) DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
    }

    private string? _announcedIp;

    private void UpdateMyselfIp()
    {
        string current = Config.ClusterAnnounceIp;
        if (current == (_announcedIp ?? "")) return;
        _announcedIp = current;
        // Without an announced address the next MEET or PING tells us ours.
        Myself.Ip = current;
    }

    private void UpdateMyselfAnnounced()
    {
        SetAnnounced(Myself, Config.ClusterAnnounceHostname, Config.ClusterAnnounceHumanNodename,
            Config.ClusterAnnounceClientIpv4, Config.ClusterAnnounceClientIpv6);
    }

    private void SetAnnounced(ClusterNode node, string? hostname, string? human, string? ipv4, string? ipv6)
    {
        bool changed = false;
        if (node.Hostname != (hostname ?? "")) { node.Hostname = hostname ?? ""; changed = true; }
        if (node.HumanNodename != (human ?? "")) { node.HumanNodename = human ?? ""; changed = true; }
        if (node.AnnounceClientIpv4 != (ipv4 ?? "")) { node.AnnounceClientIpv4 = ipv4 ?? ""; changed = true; }
        if (node.AnnounceClientIpv6 != (ipv6 ?? "")) { node.AnnounceClientIpv6 = ipv6 ?? ""; changed = true; }
        if (changed) DoBeforeSleep(Todo.SaveConfig);
    }

    // ----- the node table -----

    internal ClusterNode CreateNode(string? name, NodeFlags flags) => new(name ?? RandomName(), flags, NowMs);

    internal void AddNode(ClusterNode node)
    {
        _nodes.Add(node.Name, node);
        _nodeList = null;
    }

    /// <summary>Valkey's clusterLookupNode: null for unknown or malformed names.</summary>
    public ClusterNode? LookupNode(string name) => IsValidName(name) && _nodes.TryGetValue(name, out var n) ? n : null;

    internal void SetMyself(ClusterNode node) => Myself = node;

    internal void SetEpochs(ulong current, ulong lastVote)
    {
        CurrentEpoch = current;
        LastVoteEpoch = lastVote;
    }

    private ClusterNode RandomNode()
    {
        var list = _nodeList ??= _nodes.Values.ToList();
        return list[_random.Next(list.Count)];
    }

    /// <summary>Valkey's clusterDelNode: its slots unassigned, its failure reports dropped, its links closed.</summary>
    internal void DeleteNode(ClusterNode node)
    {
        for (int j = 0; j < KeySlot.Count; j++)
        {
            if (_importingFrom[j] == node) _importingFrom[j] = null;
            if (_migratingTo[j] == node) _migratingTo[j] = null;
            if (_slots[j] == node) DeleteSlot(j);
        }
        foreach (var other in _nodes.Values)
            if (other != node) DeleteFailureReport(other, node);
        RemoveNodeFromShard(node);
        foreach (var r in node.Replicas) r.ReplicaOf = null;
        if (node.IsReplica && node.ReplicaOf is { } primary) primary.RemoveReplica(node);
        _nodes.Remove(node.Name);
        _nodeList = null;
        if (node.Link is { } l) FreeLink(l);
        if (node.InboundLink is { } il) FreeLink(il);
        if (_manualFailoverReplica == node) _manualFailoverReplica = null;
    }

    /// <summary>After the handshake a node gets its real name (it was given a random one at MEET).</summary>
    private void RenameNode(ClusterNode node, string newName)
    {
        Log.Debug($"Renaming node {node} into {newName}");
        _nodes.Remove(node.Name);
        node.Name = newName;
        AddNode(node);
        AddNodeToShard(node.ShardId, node);
    }

    internal void AddNodeToShard(string shardId, ClusterNode node)
    {
        if (!_shards.TryGetValue(shardId, out var list)) _shards[shardId] = list = new List<ClusterNode>();
        if (!list.Contains(node)) list.Add(node);
    }

    private void RemoveNodeFromShard(ClusterNode node)
    {
        if (!_shards.TryGetValue(node.ShardId, out var list)) return;
        list.Remove(node);
        if (list.Count == 0) _shards.Remove(node.ShardId);
    }

    internal List<ClusterNode>? NodesInShard(ClusterNode node) => _shards.GetValueOrDefault(node.ShardId);

    private void UpdateShardId(ClusterNode node, string? shardId)
    {
        if (shardId is not null && node.ShardId != shardId)
        {
            RemoveNodeFromShard(node);
            node.ShardId = shardId;
            AddNodeToShard(shardId, node);
            DoBeforeSleep(Todo.SaveConfig);
        }
        if (shardId is not null && node != Myself && Myself.ReplicaOf == node && Myself.ShardId != shardId)
        {
            // shard ids can diverge right after an upgrade from a version without them.
            RemoveNodeFromShard(Myself);
            Myself.ShardId = shardId;
            AddNodeToShard(shardId, Myself);
            DoBeforeSleep(Todo.SaveConfig | Todo.FsyncConfig);
        }
    }

    private static bool SameShard(ClusterNode a, ClusterNode b) => a.ShardId == b.ShardId;

    // ----- the forgotten nodes (CLUSTER FORGET) -----

    private void BlacklistCleanup()
    {
        long now = NowUnix;
        foreach (var (id, expire) in _blacklist.ToList())
            if (expire < now) _blacklist.Remove(id);
    }

    internal void BlacklistAdd(ClusterNode node)
    {
        BlacklistCleanup();
        _blacklist[node.Name] = NowUnix + Config.ClusterBlacklistTtl;
    }

    internal bool BlacklistContains(string name)
    {
        BlacklistCleanup();
        return _blacklist.ContainsKey(name);
    }

    // ----- epochs -----

    /// <summary>The greatest config epoch known, or the current epoch if greater.</summary>
    private ulong MaxEpoch()
    {
        ulong max = 0;
        foreach (var n in _nodes.Values) if (n.ConfigEpoch > max) max = n.ConfigEpoch;
        return Math.Max(max, CurrentEpoch);
    }

    internal void RaiseCurrentEpochToMax()
    {
        ulong max = MaxEpoch();
        if (max > CurrentEpoch) CurrentEpoch = max;
    }

    /// <summary>
    /// Takes a new config epoch without asking the other primaries, when ours is 0 or not the greatest
    /// (closing an imported slot, a forced takeover). Collisions are resolved by the usual mechanism.
    /// </summary>
    internal bool BumpEpochWithoutConsensus()
    {
        ulong max = MaxEpoch();
        if (Myself.ConfigEpoch == 0 || Myself.ConfigEpoch != max)
        {
            CurrentEpoch++;
            Myself.ConfigEpoch = CurrentEpoch;
            DoBeforeSleep(Todo.SaveConfig | Todo.FsyncConfig);
            Log.Notice($"New configEpoch set to {Myself.ConfigEpoch}");
            return true;
        }
        return false;
    }

    /// <summary>
    /// Two primaries with the same config epoch: the one with the smaller name takes the next epoch,
    /// so all primaries end with distinct epochs (Valkey's clusterHandleConfigEpochCollision).
    /// </summary>
    private void HandleConfigEpochCollision(ClusterNode sender)
    {
        if (sender.ConfigEpoch != Myself.ConfigEpoch || !sender.IsPrimary || !Myself.IsPrimary) return;
        if (string.CompareOrdinal(sender.Name, Myself.Name) <= 0) return;
        CurrentEpoch++;
        Myself.ConfigEpoch = CurrentEpoch;
        SaveConfigOrDie(true);
        Log.Notice($"configEpoch collision with node {sender}. configEpoch set to {Myself.ConfigEpoch}");
    }

    /// <summary>CLUSTER SET-CONFIG-EPOCH.</summary>
    internal string? SetConfigEpoch(long epoch)
    {
        if (epoch < 0) return $"ERR Invalid config epoch specified: {epoch}";
        if (_nodes.Count > 1) return "ERR The user can assign a config epoch only when the node does not know any other node.";
        if (Myself.ConfigEpoch != 0) return "ERR Node config epoch is already non-zero";
        Myself.ConfigEpoch = (ulong)epoch;
        Log.Notice($"configEpoch set to {epoch} via CLUSTER SET-CONFIG-EPOCH");
        if (CurrentEpoch < (ulong)epoch) CurrentEpoch = (ulong)epoch;
        DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);
        return null;
    }

    // ----- slots -----

    private static bool TestBit(byte[] bitmap, int pos) => (bitmap[pos >> 3] & (1 << (pos & 7))) != 0;
    private static bool TestBit(ReadOnlySpan<byte> bitmap, int pos) => (bitmap[pos >> 3] & (1 << (pos & 7))) != 0;
    private static void SetBit(byte[] bitmap, int pos) => bitmap[pos >> 3] |= (byte)(1 << (pos & 7));
    private static void ClearBit(byte[] bitmap, int pos) => bitmap[pos >> 3] &= (byte)~(1 << (pos & 7));

    private bool SlotUnclaimed(int slot) => _slots[slot] is null || TestBit(_ownerNotClaiming, slot);

    private bool PrimariesHaveReplicas()
    {
        foreach (var n in _nodes.Values)
            if (!n.IsReplica && n.Replicas.Count > 0) return true;
        return false;
    }

    private void SetSlotBit(ClusterNode n, int slot)
    {
        if (n.SetSlotBit(slot)) return;
        // A primary getting its first slot is a target for replica migration when other primaries have replicas.
        if (n.SlotCount == 1 && PrimariesHaveReplicas()) n.Flags |= NodeFlags.MigrateTo;
    }

    /// <summary>Assigns a free slot to <paramref name="n"/>; false when it is taken.</summary>
    internal bool AddSlot(ClusterNode n, int slot)
    {
        if (_slots[slot] is not null) return false;
        SetSlotBit(n, slot);
        _slots[slot] = n;
        ClearBit(_ownerNotClaiming, slot);
        SlotStats?.Reset(slot);
        return true;
    }

    /// <summary>Unassigns a slot (its shard channels' subscribers are dropped); false when it was free.</summary>
    internal bool DeleteSlot(int slot)
    {
        var n = _slots[slot];
        if (n is null) return false;
        _server.PubSub.UnsubscribeShardSlot(slot);
        n.ClearSlotBit(slot);
        _slots[slot] = null;
        ClearBit(_ownerNotClaiming, slot);
        SlotStats?.Reset(slot);
        return true;
    }

    internal int DeleteNodeSlots(ClusterNode node)
    {
        int deleted = 0;
        for (int j = 0; j < KeySlot.Count; j++)
        {
            if (!node.CoversSlot(j)) continue;
            DeleteSlot(j);
            deleted++;
        }
        return deleted;
    }

    internal void CloseAllSlots()
    {
        Array.Clear(_migratingTo);
        Array.Clear(_importingFrom);
    }

    internal void SetMigrating(int slot, ClusterNode? n) => _migratingTo[slot] = n;
    internal void SetImporting(int slot, ClusterNode? n) => _importingFrom[slot] = n;

    public int CountKeysInSlot(int slot) => _server.Databases[0].CountKeysInSlot(slot);

    /// <summary>Deletes the keys of a slot this node no longer serves, propagating each deletion (Valkey's delKeysInSlot).</summary>
    internal int DeleteKeysInSlot(int slot)
    {
        var db = _server.Databases[0];
        int deleted = 0;
        for (int idx = db.FirstInSlot(slot); idx >= 0; idx = db.FirstInSlot(slot))
        {
            var key = db.KeyBytesAt(idx);
            _server.Propagator.BeginUnit();
            db.DeleteAt(idx);
            if (_server.Propagator.Active)
                _server.Propagator.Add(0, new[] { Config.LazyfreeLazyServerDel ? Replication.Effects.Unlink : Replication.Effects.Del, key });
            _server.Propagator.EndUnit(false);
            deleted++;
        }
        return deleted;
    }

    /// <summary>Slots this node's shard serves (the whole of a replica's primary).</summary>
    internal int MyShardSlotCount() => Myself.IsReplica ? Myself.ReplicaOf?.SlotCount ?? 0 : Myself.SlotCount;

    // ----- cluster state -----

    private long _amongMinorityMs;
    private long _firstUpdateStateMs;

    /// <summary>Valkey's clusterUpdateState: ok when all slots are served by reachable nodes and we are in the majority partition.</summary>
    internal void UpdateState()
    {
        _todo &= ~Todo.UpdateState;
        long now = NowMs;
        if (_firstUpdateStateMs == 0) _firstUpdateStateMs = now;
        // A primary that restarts waits a little before accepting writes: the cluster may have moved on.
        if (Myself.IsPrimary && !IsOk && now - _firstUpdateStateMs < WritableDelayMs) return;
        bool ok = true;
        if (Config.ClusterRequireFullCoverage)
        {
            for (int j = 0; j < KeySlot.Count; j++)
            {
                if (_slots[j] is null || _slots[j]!.Failed)
                {
                    ok = false;
                    break;
                }
            }
        }
        int size = 0, reachable = 0;
        foreach (var n in _nodes.Values)
        {
            if (!n.IsVotingPrimary) continue;
            size++;
            if (!n.Failed && !n.TimedOut) reachable++;
        }
        Size = size;
        if (reachable < size / 2 + 1)
        {
            ok = false;
            _amongMinorityMs = now;
        }
        if (ok == IsOk) return;
        long rejoinDelay = Math.Clamp(NodeTimeout, MinRejoinDelayMs, MaxRejoinDelayMs);
        // Back from a minority partition: wait for a configuration update before serving.
        if (ok && Myself.IsPrimary && now - _amongMinorityMs < rejoinDelay) return;
        if (ok) Log.Notice("Cluster state changed: ok");
        else Log.Warning("Cluster state changed: fail");
        IsOk = ok;
    }

    // ----- work after a change -----

    private void DoBeforeSleep(Todo flags)
    {
        if ((flags & Todo.SaveConfig) != 0) InvalidateSlotsReplies();
        _todo |= flags;
    }

    /// <summary>Valkey's clusterBeforeSleep: the work noted since the last call. Under the data lock.</summary>
    public void BeforeSleep()
    {
        RunTodo();
        if (_unflushedLinks.Count == 0) return;
        foreach (var link in _unflushedLinks) link.Pump();
        _unflushedLinks.Clear();
    }

    private void RunTodo()
    {
        var flags = _todo;
        if (flags == Todo.None) return;
        _todo = Todo.None;
        if ((flags & Todo.HandleManualFailover) != 0)
        {
            if (Myself.IsReplica)
            {
                HandleManualFailover();
                HandleReplicaFailover();
            }
        }
        else if ((flags & Todo.HandleFailover) != 0)
        {
            HandleReplicaFailover();
        }
        if ((flags & Todo.UpdateState) != 0) UpdateState();
        if ((flags & Todo.SaveConfig) != 0) SaveConfigOrDie((flags & Todo.FsyncConfig) != 0);
        // Work noted by the steps above waits for the next call.
    }

    // ----- nodes.conf -----

    internal bool SaveConfig(bool fsync)
    {
        _todo &= ~Todo.SaveConfig;
        if (fsync) _todo &= ~Todo.FsyncConfig;
        string content = NodesFile.Describe(this, forConfigFile: true) + $"vars currentEpoch {CurrentEpoch} lastVoteEpoch {LastVoteEpoch}\n";
        return NodesFile.WriteAtomically(ConfigFilePath, content, fsync, Log);
    }

    internal void SaveConfigOrDie(bool fsync)
    {
        if (SaveConfig(fsync)) return;
        Log.Warning("Fatal: can't update cluster config file.");
        Environment.Exit(1);
    }

    /// <summary>
    /// After the data set was loaded: keys of unassigned slots make those slots ours, keys of slots
    /// served elsewhere are deleted; a replica trusts its primary's stream instead.
    /// </summary>
    private void VerifyConfigWithData()
    {
        if (Myself.IsReplica) return;
        var db = _server.Databases[0];
        if (db.Count == 0) return;
        bool update = false;
        for (int j = 0; j < KeySlot.Count; j++)
        {
            if (db.CountKeysInSlot(j) == 0) continue;
            if (_slots[j] == Myself || _importingFrom[j] is not null) continue;
            update = true;
            if (_slots[j] is null)
            {
                Log.Notice($"I have keys for unassigned slot {j}. Taking responsibility for it.");
                AddSlot(Myself, j);
            }
            else if (_importingFrom[j] != _slots[j])
            {
                Log.Notice($"I have keys for slot {j}, but the slot is assigned to another node. Deleting keys in the slot.");
                DeleteKeysInSlot(j);
            }
        }
        if (update) SaveConfigOrDie(true);
    }

    /// <summary>CLUSTER RESET [HARD]: forget every other node and every slot; a replica becomes an empty primary.</summary>
    internal void Reset(bool hard)
    {
        if (Myself.IsReplica)
        {
            SetNodeAsPrimary(Myself);
            _server.Replication.UnsetPrimary();
            _server.FlushAllData(Config.LazyfreeLazyUserFlush);
        }
        CloseAllSlots();
        ResetManualFailover();
        for (int j = 0; j < KeySlot.Count; j++) DeleteSlot(j);
        _shards.Clear();
        foreach (var n in _nodes.Values.ToList())
            if (n != Myself) DeleteNode(n);
        _blacklist.Clear();
        if (hard)
        {
            CurrentEpoch = 0;
            LastVoteEpoch = 0;
            Myself.ConfigEpoch = 0;
            Log.Notice("configEpoch set to 0 via CLUSTER RESET HARD");
            _nodes.Remove(Myself.Name);
            Myself.Name = RandomName();
            Myself.ShardId = RandomName();
            AddNode(Myself);
            Log.Notice($"Node hard reset, now I'm {Myself.Name}");
        }
        AddNodeToShard(Myself.ShardId, Myself);
        DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
    }

    /// <summary>DEBUG CLUSTERLINK KILL to|from|all node: closes links (the cron reconnects outbound ones). The error, or null.</summary>
    internal string? KillLinks(string direction, string nodeId)
    {
        var n = LookupNode(nodeId);
        if (n is null) return $"ERR Unknown node {nodeId}";
        if (n == Myself) return "ERR Cannot free cluster link(s) to myself";
        bool to = direction.Equals("to", StringComparison.OrdinalIgnoreCase);
        bool from = direction.Equals("from", StringComparison.OrdinalIgnoreCase);
        bool all = direction.Equals("all", StringComparison.OrdinalIgnoreCase);
        if (!to && !from && !all) return $"ERR Unknown direction {direction}";
        if ((to || all) && n.Link is { } l) FreeLink(l);
        if ((from || all) && n.InboundLink is { } il) FreeLink(il);
        return null;
    }

    // ----- cached CLUSTER SLOTS replies -----

    private readonly Dictionary<int, byte[]> _slotsReplies = new();

    internal void InvalidateSlotsReplies() => _slotsReplies.Clear();

    internal byte[]? CachedSlotsReply(int kind) => _slotsReplies.GetValueOrDefault(kind);

    internal void CacheSlotsReply(int kind, byte[] reply) => _slotsReplies[kind] = reply;

    /// <summary>Refreshes each node's health flag; true when one changed (the cached CLUSTER SLOTS replies are then stale).</summary>
    internal bool RefreshNodeHealth()
    {
        bool changed = false;
        foreach (var n in _nodes.Values)
        {
            bool healthy = IsNodeAvailable(n);
            if (healthy == n.Healthy) continue;
            n.Healthy = healthy;
            changed = true;
        }
        return changed;
    }

    /// <summary>Listed in CLUSTER SLOTS: not failing and has replication data.</summary>
    internal bool IsNodeAvailable(ClusterNode n) => !n.Failed && NodeReplicationOffset(n) != 0;

    internal long NodeReplicationOffset(ClusterNode n)
    {
        if (!n.IsMyself) return n.ReplOffset;
        return n.IsReplica ? _server.Replication.ReplicaOffset : _server.Replication.Offset;
    }

    /// <summary>Slot statistics (CLUSTER SLOT-STATS cpu-usec and network bytes).</summary>
    internal SlotStatistics? SlotStats { get; } = new();

    internal string PreferredEndpointType => Config.ClusterPreferredEndpointType;
}
