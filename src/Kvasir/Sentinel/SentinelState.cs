using System.Diagnostics;
using System.Text;
using Kvasir.Observability;

namespace Kvasir.Sentinel;

/// <summary>
/// A Sentinel (Valkey's sentinel.c): the primaries it monitors with their replicas and the other
/// Sentinels, the epochs, TILT, and the timer that drives everything ten-odd times a second. All of
/// it changes only under the server's data lock, from the timer, from commands, and from replies
/// arriving on the instance links; the network never blocks that lock.
/// </summary>
public sealed partial class SentinelState
{
    public const int DefaultPort = 26379;
    public const string HelloChannel = "__sentinel__:hello";
    private const int MaxPendingCommands = 100;
    private const int MaxDesync = 1000;

    private readonly long _clockBase;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private Thread? _timerThread;
    private volatile bool _stopping;

    public SentinelState(KvasirServer server)
    {
        Server = server;
        _clockBase = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        PreviousTime = Now();
        PreviousWallTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Scripts = new SentinelScripts(this);
    }

    public KvasirServer Server { get; }
    public ServerLog Log => Server.Log;
    public Lock Lock => Server.DataLock;

    public SentinelTimings Timings { get; } = new();
    public SentinelScripts Scripts { get; }

    /// <summary>This Sentinel's id: 40 hex characters, kept in the config file across restarts.</summary>
    public string MyId { get; set; } = "";

    public ulong CurrentEpoch;

    /// <summary>The monitored primaries by name.</summary>
    public readonly Dictionary<string, SentinelInstance> Primaries = new(StringComparer.Ordinal);

    public bool Tilt;
    public long TiltStartTime;
    public long PreviousTime;
    public long PreviousWallTime;

    public string? AnnounceIp;
    public int AnnouncePort;
    public bool DenyScriptsReconfig = true;
    public string? SentinelAuthPass;
    public string? SentinelAuthUser;
    public bool ResolveHostnames;
    public bool AnnounceHostnames;

    /// <summary>SENTINEL SIMULATE-FAILURE flags: 1 crash after election, 2 crash after promotion.</summary>
    public int SimulateFailureFlags;
    public const int CrashAfterElection = 1;
    public const int CrashAfterPromotion = 2;

    /// <summary>The Sentinel's clock in milliseconds: Unix time at start plus monotonic time since, so wall-clock jumps never fire timeouts.</summary>
    public long Now() => _clockBase + _clock.ElapsedMilliseconds;

    // ----- lifecycle -----

    /// <summary>
    /// Called once the server listens (Valkey's sentinelIsRunning): picks an id if the config had
    /// none and saves it, then announces every configured primary with +monitor and starts the timer.
    /// </summary>
    public void Start()
    {
        lock (Lock)
        {
            if (MyId.Length == 0)
            {
                MyId = KvasirServer.NewRandomId();
                FlushConfig();
            }
            Log.Notice($"Sentinel ID is {MyId}");
            foreach (var ri in Primaries.Values) InstanceEvent(LogLevel.Warning, "+monitor", ri, $"quorum {ri.Quorum}");
        }
        _timerThread = new Thread(RunTimer) { IsBackground = true, Name = "kvasir-sentinel" };
        _timerThread.Start();
    }

    public void Stop()
    {
        _stopping = true;
        lock (Lock)
        {
            foreach (var primary in Primaries.Values) ReleaseLinks(primary);
        }
        Scripts.KillAll();
    }

    private void RunTimer()
    {
        while (!_stopping)
        {
            // Valkey varies its timer frequency (hz 10..19) so that Sentinels started together do not
            // keep asking for votes at the same moments and splitting them forever.
            Thread.Sleep(1000 / Random.Shared.Next(10, 20));
            if (_stopping) break;
            try
            {
                lock (Lock)
                {
                    if (Server.IsShuttingDown) break;
                    Timer();
                }
            }
            catch (Exception e)
            {
                Log.Warning($"sentinel timer: {e}");
            }
        }
    }

    /// <summary>One tick (Valkey's sentinelTimer).</summary>
    internal void Timer()
    {
        CheckTiltCondition();
        HandleInstances(Primaries);
        Scripts.RunPending();
        Scripts.CollectTerminated();
        Scripts.KillTimedOut();
    }

    /// <summary>
    /// TILT: when the timer ran much later than expected (the process was stopped or starved) or the
    /// wall clock jumped, every timeout looks expired; the Sentinel then only observes for a while.
    /// </summary>
    private void CheckTiltCondition()
    {
        long now = Now();
        long wall = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long delta = now - PreviousTime;
        long wallDelta = wall - PreviousWallTime;
        if (delta < 0 || delta > Timings.TiltTrigger || wallDelta < 0 || wallDelta > Timings.TiltTrigger + delta)
        {
            Tilt = true;
            TiltStartTime = Now();
            Event(LogLevel.Warning, "+tilt", null, "#tilt mode entered");
        }
        PreviousTime = Now();
        PreviousWallTime = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    }

    private void HandleInstances(Dictionary<string, SentinelInstance> instances)
    {
        SentinelInstance? switchToPromoted = null;
        foreach (var ri in instances.Values.ToList())
        {
            if (ri.Released) continue;
            HandleInstance(ri);
            if (ri.IsPrimary)
            {
                HandleInstances(ri.Replicas);
                HandleInstances(ri.Sentinels);
                if (ri.FailoverState == FailoverState.UpdateConfig) switchToPromoted = ri;
            }
        }
        if (switchToPromoted is not null) FailoverSwitchToPromotedReplica(switchToPromoted);
    }

    /// <summary>Everything the timer does for one instance (sentinelHandleValkeyInstance).</summary>
    private void HandleInstance(SentinelInstance ri)
    {
        // Monitoring half: every kind of instance.
        ReconnectInstance(ri);
        SendPeriodicCommands(ri);

        // Acting half: not while in TILT.
        if (Tilt)
        {
            if (Now() - TiltStartTime < Timings.TiltPeriod) return;
            Tilt = false;
            Event(LogLevel.Warning, "-tilt", null, "#tilt mode exited");
        }
        CheckSubjectivelyDown(ri);
        if (ri.IsPrimary)
        {
            CheckObjectivelyDown(ri);
            if (StartFailoverIfNeeded(ri)) AskPrimaryStateToOtherSentinels(ri, forced: true);
            FailoverStateMachine(ri);
            AskPrimaryStateToOtherSentinels(ri, forced: false);
        }
    }

    // ----- events -----

    /// <summary>
    /// Valkey's sentinelEvent: logs the event, publishes it on the channel named after its type to
    /// this Sentinel's subscribers (not debug ones), and runs the primary's notification script for
    /// warnings about an instance. <paramref name="message"/> is the whole payload.
    /// </summary>
    public void Event(LogLevel level, string type, SentinelInstance? ri, string message)
    {
        Log.Write(level, type + " " + message);
        if (level != LogLevel.Debug)
            Server.PubSub.Publish(Encoding.UTF8.GetBytes(type), Encoding.UTF8.GetBytes(message));
        if (level == LogLevel.Warning && ri is not null)
        {
            var primary = ri.IsPrimary ? ri : ri.Primary;
            if (primary?.NotificationScript is { } script) Scripts.Schedule(script, type, message);
        }
    }

    /// <summary>
    /// An event about an instance (Valkey's "%@" format): the payload starts with
    /// "&lt;type&gt; &lt;name&gt; &lt;ip&gt; &lt;port&gt;", plus " @ &lt;primary&gt; &lt;ip&gt; &lt;port&gt;" for a
    /// replica or Sentinel, then <paramref name="extra"/>.
    /// </summary>
    public void InstanceEvent(LogLevel level, string type, SentinelInstance ri, string extra = "")
    {
        var sb = new StringBuilder();
        sb.Append(ri.TypeName).Append(' ').Append(ri.Name).Append(' ')
          .Append(ri.Address.Announced(this)).Append(' ').Append(ri.Address.Port);
        if (!ri.IsPrimary && ri.Primary is { } p)
            sb.Append(" @ ").Append(p.Name).Append(' ').Append(p.Address.Announced(this)).Append(' ').Append(p.Address.Port);
        if (extra.Length > 0) sb.Append(' ').Append(extra);
        Event(level, type, ri, sb.ToString());
    }

    // ----- instances -----

    public SentinelInstance? GetPrimary(string name) => Primaries.GetValueOrDefault(name);

    /// <summary>
    /// Creates an instance (createSentinelValkeyInstance): a primary (added to the primaries), or a
    /// replica or Sentinel of <paramref name="primary"/>. A replica is named "ip:port". Fails on a port
    /// out of range, an address that cannot be resolved, or a duplicate name.
    /// </summary>
    public SentinelInstance? CreateInstance(string? name, InstanceFlags flags, string hostname, int port, int quorum,
        SentinelInstance? primary, out InstanceCreateError error)
    {
        var address = SentinelAddress.Create(this, hostname, port, acceptUnresolved: true, out error);
        if (address is null) return null;
        string instanceName = (flags & InstanceFlags.Replica) != 0 ? address.AnnouncedWithPort(this) : name!;
        var table = (flags & InstanceFlags.Primary) != 0 ? Primaries
            : (flags & InstanceFlags.Replica) != 0 ? primary!.Replicas : primary!.Sentinels;
        if (table.ContainsKey(instanceName))
        {
            error = InstanceCreateError.Duplicate;
            return null;
        }
        var ri = new SentinelInstance(instanceName, flags, address, primary, quorum, Now(), Timings.DefaultDownAfter, Timings.DefaultFailoverTimeout);
        table[instanceName] = ri;
        return ri;
    }

    /// <summary>Error text of a failed creation (sentinelCheckCreateInstanceErrors).</summary>
    public static string CreateErrorText(InstanceCreateError error, InstanceFlags role) => error switch
    {
        InstanceCreateError.Duplicate => (role & InstanceFlags.Primary) != 0 ? "Duplicate master name."
            : (role & InstanceFlags.Replica) != 0 ? "Duplicate hostname and port for replica." : "Duplicate runid for sentinel.",
        InstanceCreateError.Unresolved => "Can't resolve instance hostname.",
        InstanceCreateError.InvalidPort => "Invalid port number.",
        _ => "Unknown Error for creating instances.",
    };

    /// <summary>Drops an instance and, for a primary, its replicas and Sentinels (releaseSentinelValkeyInstance).</summary>
    internal void ReleaseInstance(SentinelInstance ri)
    {
        foreach (var s in ri.Sentinels.Values) ReleaseInstance(s);
        foreach (var r in ri.Replicas.Values) ReleaseInstance(r);
        ri.Sentinels.Clear();
        ri.Replicas.Clear();
        ri.Released = true;
        ReleaseLink(ri.Link);
        if (ri.IsReplica && ri.Has(InstanceFlags.Promoted) && ri.Primary is { } p && p.PromotedReplica == ri) p.PromotedReplica = null;
    }

    private static void ReleaseLink(InstanceLink link)
    {
        link.RefCount--;
        if (link.RefCount > 0) return;
        link.CloseConnection(link.Commands);
        link.CloseConnection(link.PubSub);
    }

    private static void ReleaseLinks(SentinelInstance primary)
    {
        foreach (var s in primary.Sentinels.Values)
        {
            s.Link.CloseConnection(s.Link.Commands);
            s.Link.CloseConnection(s.Link.PubSub);
        }
        foreach (var r in primary.Replicas.Values)
        {
            r.Link.CloseConnection(r.Link.Commands);
            r.Link.CloseConnection(r.Link.PubSub);
        }
        primary.Link.CloseConnection(primary.Link.Commands);
        primary.Link.CloseConnection(primary.Link.PubSub);
    }

    /// <summary>Removes a primary from monitoring (SENTINEL REMOVE).</summary>
    public void RemovePrimary(SentinelInstance primary)
    {
        Primaries.Remove(primary.Name);
        ReleaseInstance(primary);
    }

    /// <summary>A replica of <paramref name="primary"/> by address (sentinelValkeyInstanceLookupReplica).</summary>
    public SentinelInstance? LookupReplica(SentinelInstance primary, string host, int port)
    {
        var address = SentinelAddress.Create(this, host, port, acceptUnresolved: false, out _);
        if (address is null) return null;
        return primary.Replicas.GetValueOrDefault(address.AnnouncedWithPort(this));
    }

    /// <summary>An instance of <paramref name="instances"/> with that address and/or run id (getSentinelValkeyInstanceByAddrAndRunID).</summary>
    public SentinelInstance? FindByAddressAndRunId(IEnumerable<SentinelInstance> instances, string? host, int port, string? runId)
    {
        SentinelAddress? address = null;
        if (host is not null)
        {
            address = SentinelAddress.Create(this, host, port, acceptUnresolved: true, out _);
            if (address is null) return null;
        }
        foreach (var ri in instances)
        {
            if (runId is not null && ri.RunId is null) continue;
            if ((runId is null || ri.RunId == runId) && (address is null || ri.Address.SameAs(address))) return ri;
        }
        return null;
    }

    /// <summary>Removes the Sentinels of <paramref name="primary"/> that have this run id; returns how many.</summary>
    private int RemoveMatchingSentinel(SentinelInstance primary, string? runId)
    {
        if (runId is null) return 0;
        int removed = 0;
        foreach (var (name, ri) in primary.Sentinels.ToList())
        {
            if (ri.RunId != runId) continue;
            primary.Sentinels.Remove(name);
            ReleaseInstance(ri);
            removed++;
        }
        return removed;
    }

    /// <summary>
    /// Shares the link of the same physical Sentinel seen under another primary (sentinelTryConnectionSharing),
    /// so N primaries watched by the same Sentinels cost one connection per Sentinel, not N.
    /// </summary>
    internal bool TryConnectionSharing(SentinelInstance ri)
    {
        if (ri.RunId is null || ri.Link.RefCount > 1) return false;
        foreach (var primary in Primaries.Values)
        {
            if (primary == ri.Primary) continue;
            var match = FindByAddressAndRunId(primary.Sentinels.Values, null, 0, ri.RunId);
            if (match is null || match == ri) continue;
            ReleaseLink(ri.Link);
            ri.Link = match.Link;
            match.Link.RefCount++;
            return true;
        }
        return false;
    }

    /// <summary>A Sentinel changed address: the same Sentinel under the other primaries follows (sentinelUpdateSentinelAddressInAllPrimaries).</summary>
    private int UpdateSentinelAddressInAllPrimaries(SentinelInstance ri)
    {
        int reconfigured = 0;
        foreach (var primary in Primaries.Values)
        {
            var match = FindByAddressAndRunId(primary.Sentinels.Values, null, 0, ri.RunId);
            if (match is null) continue;
            if (match.Link.Commands is not null) match.Link.CloseConnection(match.Link.Commands);
            if (match.Link.PubSub is not null) match.Link.CloseConnection(match.Link.PubSub);
            if (match == ri) continue;
            match.Address = ri.Address.Copy();
            reconfigured++;
        }
        if (reconfigured > 0)
            InstanceEvent(LogLevel.Notice, "+sentinel-address-update", ri, $"{reconfigured} additional matching instances");
        return reconfigured;
    }

    /// <summary>Closes the connections to a primary and its replicas (new credentials: reconnect with them).</summary>
    public static void DropInstanceConnections(SentinelInstance primary)
    {
        primary.Link.CloseConnection(primary.Link.Commands);
        primary.Link.CloseConnection(primary.Link.PubSub);
        foreach (var r in primary.Replicas.Values)
        {
            r.Link.CloseConnection(r.Link.Commands);
            r.Link.CloseConnection(r.Link.PubSub);
        }
    }

    /// <summary>Drops every connection to other Sentinels (sentinel-user/pass changed); returns how many.</summary>
    public int DropSentinelConnections()
    {
        int dropped = 0;
        foreach (var primary in Primaries.Values)
        {
            foreach (var si in primary.Sentinels.Values)
            {
                if (si.Link.Disconnected) continue;
                si.Link.CloseConnection(si.Link.PubSub);
                si.Link.CloseConnection(si.Link.Commands);
                dropped++;
            }
        }
        return dropped;
    }

    /// <summary>
    /// SENTINEL RESET and +switch-master (sentinelResetPrimary): forgets the replicas (and the other
    /// Sentinels unless <paramref name="keepSentinels"/>), runtime flags and any failover, and
    /// reconnects. A failover of the same primary may start again at once.
    /// </summary>
    public void ResetPrimary(SentinelInstance ri, bool keepSentinels, bool generateEvent)
    {
        foreach (var r in ri.Replicas.Values) ReleaseInstance(r);
        ri.Replicas.Clear();
        if (!keepSentinels)
        {
            foreach (var s in ri.Sentinels.Values) ReleaseInstance(s);
            ri.Sentinels.Clear();
        }
        ri.Link.CloseConnection(ri.Link.Commands);
        ri.Link.CloseConnection(ri.Link.PubSub);
        // Reconnect at the next tick, not a ping period after the last attempt (to a dead primary,
        // often): the PING must be answered within down-after-milliseconds of the reset, or a new
        // primary would be seen down right after a failover.
        ri.Link.LastReconnectTime = 0;
        ri.Flags &= InstanceFlags.Primary;
        ri.Leader = null;
        ri.FailoverState = FailoverState.None;
        ri.FailoverStateChangeTime = 0;
        ri.FailoverStartTime = 0;
        ri.PromotedReplica = null;
        ri.RunId = null;
        ri.ReplicaPrimaryHost = null;
        long now = Now();
        ri.Link.ActPingTime = now;
        ri.Link.LastPingTime = 0;
        ri.Link.LastAvailTime = now;
        ri.Link.LastPongTime = now;
        ri.RoleReportedTime = now;
        ri.RoleReported = InstanceFlags.Primary;
        if (generateEvent) InstanceEvent(LogLevel.Warning, "+reset-master", ri);
    }

    /// <summary>SENTINEL RESET pattern: resets every primary whose name matches; returns how many.</summary>
    public int ResetPrimariesByPattern(string pattern)
    {
        int reset = 0;
        foreach (var ri in Primaries.Values.ToList())
        {
            if (!Types.GlobPattern.Match(Encoding.UTF8.GetBytes(pattern), Encoding.UTF8.GetBytes(ri.Name))) continue;
            ResetPrimary(ri, keepSentinels: false, generateEvent: true);
            reset++;
        }
        return reset;
    }

    /// <summary>
    /// Points a primary at a new address, keeping its name (sentinelResetPrimaryAndChangeAddress): the
    /// replicas are re-added (all but the new primary), and the old primary becomes one of them so
    /// that it is reconfigured when it comes back. False when the address cannot be resolved.
    /// </summary>
    public bool ResetPrimaryAndChangeAddress(SentinelInstance primary, string hostname, int port)
    {
        var newAddress = SentinelAddress.Create(this, hostname, port, acceptUnresolved: false, out _);
        if (newAddress is null) return false;
        var replicas = new List<SentinelAddress>();
        foreach (var r in primary.Replicas.Values)
        {
            if (r.Address.SameAs(newAddress)) continue;
            replicas.Add(r.Address.Copy());
        }
        if (!newAddress.SameAs(primary.Address)) replicas.Add(primary.Address.Copy());

        ResetPrimary(primary, keepSentinels: true, generateEvent: false);
        primary.Address = newAddress;
        primary.ODownSince = 0;
        primary.SDownSince = 0;
        foreach (var a in replicas)
        {
            var replica = CreateInstance(null, InstanceFlags.Replica, a.Hostname, a.Port, primary.Quorum, primary, out _);
            if (replica is not null) InstanceEvent(LogLevel.Notice, "+slave", replica);
        }
        FlushConfig();
        return true;
    }

    /// <summary>The address clients should use: the promoted replica's once the failover reached the reconfiguration of replicas.</summary>
    public static SentinelAddress CurrentPrimaryAddress(SentinelInstance primary)
    {
        if (primary.Has(InstanceFlags.FailoverInProgress) && primary.PromotedReplica is { } promoted &&
            primary.FailoverState >= FailoverState.ReconfReplicas)
            return promoted.Address;
        return primary.Address;
    }

    /// <summary>down-after-milliseconds of a primary applies to its replicas and Sentinels too.</summary>
    public static void PropagateDownAfterPeriod(SentinelInstance primary)
    {
        foreach (var r in primary.Replicas.Values) r.DownAfterPeriod = primary.DownAfterPeriod;
        foreach (var s in primary.Sentinels.Values) s.DownAfterPeriod = primary.DownAfterPeriod;
    }

    // ----- SENTINEL CKQUORUM -----

    [Flags]
    public enum QuorumStatus { Ok = 0, NoQuorum = 1, NoAuthorization = 2 }

    /// <summary>Whether enough Sentinels are reachable for the quorum and for a majority (sentinelIsQuorumReachable).</summary>
    public static QuorumStatus IsQuorumReachable(SentinelInstance primary, out int usable)
    {
        usable = 1;
        int voters = primary.Sentinels.Count + 1;
        foreach (var ri in primary.Sentinels.Values)
            if (!ri.Has(InstanceFlags.SDown | InstanceFlags.ODown)) usable++;
        var result = QuorumStatus.Ok;
        if (usable < primary.Quorum) result |= QuorumStatus.NoQuorum;
        if (usable < voters / 2 + 1) result |= QuorumStatus.NoAuthorization;
        return result;
    }

    /// <summary>SENTINEL SIMULATE-FAILURE: the process exits as if it had crashed.</summary>
    internal void SimulatedCrash()
    {
        Log.Warning("Sentinel CRASH because of SENTINEL simulate-failure");
        Environment.Exit(99);
    }
}
