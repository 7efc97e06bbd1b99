using Kvasir.Observability;

namespace Kvasir.Sentinel;

/// <summary>What the INFO replies of primaries and replicas tell the Sentinel, and what it does about it.</summary>
public sealed partial class SentinelState
{
    /// <summary>
    /// A primary that looks healthy: configured and reporting as primary, not down, with a recent INFO
    /// (sentinelPrimaryLooksSane). Only then are replicas pointed back at it.
    /// </summary>
    private bool PrimaryLooksSane(SentinelInstance primary) =>
        primary.IsPrimary && primary.RoleReported == InstanceFlags.Primary &&
        !primary.Has(InstanceFlags.SDown | InstanceFlags.ODown) &&
        Now() - primary.InfoRefresh < Timings.InfoPeriod * 2;

    /// <summary>
    /// Valkey's sentinelRefreshInstanceInfo: reads run id, replicas, role, link state, priority and
    /// offset from an INFO reply, then (outside TILT) acts on what changed: a promoted replica that
    /// became primary moves the failover on; a replica that turned primary by itself, or follows the
    /// wrong primary, is reconfigured once things look stable; replicas being reconfigured advance
    /// through reconf_sent, reconf_inprog, reconf_done.
    /// </summary>
    internal void RefreshInstanceInfo(SentinelInstance ri, string info)
    {
        ri.Info = info;
        ri.PrimaryLinkDownTime = 0;
        var role = InstanceFlags.None;

        foreach (var raw in info.Split("\r\n"))
        {
            string l = raw;
            if (l.Length >= 47 && l.StartsWith("run_id:", StringComparison.Ordinal))
            {
                string runId = l.Substring(7, 40);
                if (ri.RunId is null)
                {
                    ri.RunId = runId;
                }
                else if (!string.Equals(ri.RunId, runId, StringComparison.Ordinal))
                {
                    InstanceEvent(LogLevel.Notice, "+reboot", ri);
                    if (ri.IsPrimary && ri.PrimaryRebootDownAfterPeriod != 0)
                    {
                        ri.Flags |= InstanceFlags.PrimaryReboot;
                        ri.PrimaryRebootSince = Now();
                    }
                    ri.RunId = runId;
                }
            }

            // "slave0:ip=127.0.0.1,port=6380,..." (or the old "slave0:<ip>,<port>,<state>")
            if (ri.IsPrimary && l.Length >= 7 && l.StartsWith("slave", StringComparison.Ordinal) && char.IsAsciiDigit(l[5]))
            {
                if (!ParseReplicaLine(l, out string ip, out string port)) continue;
                if (LookupReplica(ri, ip, AtoI(port)) is null)
                {
                    var replica = CreateInstance(null, InstanceFlags.Replica, ip, AtoI(port), ri.Quorum, ri, out _);
                    if (replica is not null)
                    {
                        InstanceEvent(LogLevel.Notice, "+slave", replica);
                        FlushConfig();
                    }
                }
            }

            if (l.Length >= 32 && l.StartsWith("master_link_down_since_seconds", StringComparison.Ordinal))
                ri.PrimaryLinkDownTime = StrToLong(l[31..]) * 1000;

            if (l.Length >= 11 && l.StartsWith("role:master", StringComparison.Ordinal)) role = InstanceFlags.Primary;
            else if (l.Length >= 10 && l.StartsWith("role:slave", StringComparison.Ordinal)) role = InstanceFlags.Replica;

            if (role == InstanceFlags.Replica)
            {
                if (l.Length >= 12 && l.StartsWith("master_host:", StringComparison.Ordinal))
                {
                    string host = l[12..];
                    if (ri.ReplicaPrimaryHost is null || !string.Equals(host, ri.ReplicaPrimaryHost, StringComparison.OrdinalIgnoreCase))
                    {
                        ri.ReplicaPrimaryHost = host;
                        ri.ReplicaConfChangeTime = Now();
                    }
                }
                if (l.Length >= 12 && l.StartsWith("master_port:", StringComparison.Ordinal))
                {
                    int port = AtoI(l[12..]);
                    if (ri.ReplicaPrimaryPort != port)
                    {
                        ri.ReplicaPrimaryPort = port;
                        ri.ReplicaConfChangeTime = Now();
                    }
                }
                if (l.Length >= 19 && l.StartsWith("master_link_status:", StringComparison.Ordinal))
                    ri.ReplicaPrimaryLinkUp = string.Equals(l[19..], "up", StringComparison.OrdinalIgnoreCase);
                if (l.Length >= 15 && l.StartsWith("slave_priority:", StringComparison.Ordinal)) ri.ReplicaPriority = AtoI(l[15..]);
                if (l.Length >= 18 && l.StartsWith("slave_repl_offset:", StringComparison.Ordinal)) ri.ReplicaReplOffset = StrToULong(l[18..]);
                if (l.Length >= 18 && l.StartsWith("replica_announced:", StringComparison.Ordinal)) ri.ReplicaAnnounced = AtoI(l[18..]) != 0;
            }
        }
        ri.InfoRefresh = Now();

        // ----- acting half -----
        if (role != ri.RoleReported)
        {
            ri.RoleReportedTime = Now();
            ri.RoleReported = role;
            if (role == InstanceFlags.Replica) ri.ReplicaConfChangeTime = Now();
            bool coherent = (ri.Flags & (InstanceFlags.Primary | InstanceFlags.Replica)) == role;
            InstanceEvent(LogLevel.Verbose, coherent ? "+role-change" : "-role-change", ri,
                $"new reported role is {(role == InstanceFlags.Primary ? "master" : "slave")}");
        }

        if (Tilt) return;

        // A primary that says it is a replica is treated as unreachable (SDOWN after a while): nothing to do here.

        if (ri.IsReplica && role == InstanceFlags.Primary)
        {
            var primary = ri.Primary!;
            if (ri.Has(InstanceFlags.Promoted) && primary.Has(InstanceFlags.FailoverInProgress) &&
                primary.FailoverState == FailoverState.WaitPromotion)
            {
                // The promotion worked: the new configuration gets the epoch this failover won, which
                // makes the other Sentinels adopt it (unless they know a newer one).
                primary.ConfigEpoch = primary.FailoverEpoch;
                primary.FailoverState = FailoverState.ReconfReplicas;
                primary.FailoverStateChangeTime = Now();
                FlushConfig();
                InstanceEvent(LogLevel.Warning, "+promoted-slave", ri);
                if ((SimulateFailureFlags & CrashAfterPromotion) != 0) SimulatedCrash();
                InstanceEvent(LogLevel.Warning, "+failover-state-reconf-slaves", primary);
                CallClientReconfScript(primary, leader: true, "start", primary.Address, ri.Address);
                ForceHelloUpdateForPrimary(primary);
            }
            else
            {
                // A replica turned primary without us: after a while, and if our primary looks fine,
                // make it a replica again.
                long waitTime = Timings.PublishPeriod * 4;
                if (!ri.Has(InstanceFlags.Promoted) && PrimaryLooksSane(primary) && ri.NoDownFor(waitTime, Now()) &&
                    Now() - ri.RoleReportedTime > waitTime)
                {
                    if (SendReplicaOf(ri, primary.Address)) InstanceEvent(LogLevel.Notice, "+convert-to-slave", ri);
                }
            }
        }

        if (ri.IsReplica && role == InstanceFlags.Replica &&
            (ri.ReplicaPrimaryPort != ri.Primary!.Address.Port || !ri.Primary.Address.MatchesHost(this, ri.ReplicaPrimaryHost)))
        {
            // Replicating from another address than its primary's: fix it once the config is stable.
            long waitTime = ri.Primary.FailoverTimeout;
            if (PrimaryLooksSane(ri.Primary) && ri.NoDownFor(waitTime, Now()) && Now() - ri.ReplicaConfChangeTime > waitTime)
            {
                if (SendReplicaOf(ri, ri.Primary.Address)) InstanceEvent(LogLevel.Notice, "+fix-slave-config", ri);
            }
        }

        if (ri.IsReplica && role == InstanceFlags.Replica && ri.Has(InstanceFlags.ReconfSent | InstanceFlags.ReconfInProgress))
        {
            var promoted = ri.Primary!.PromotedReplica;
            if (ri.Has(InstanceFlags.ReconfSent) && ri.ReplicaPrimaryHost is not null && promoted is not null &&
                promoted.Address.MatchesHost(this, ri.ReplicaPrimaryHost) && ri.ReplicaPrimaryPort == promoted.Address.Port)
            {
                ri.Flags &= ~InstanceFlags.ReconfSent;
                ri.Flags |= InstanceFlags.ReconfInProgress;
                InstanceEvent(LogLevel.Notice, "+slave-reconf-inprog", ri);
            }
            if (ri.Has(InstanceFlags.ReconfInProgress) && ri.ReplicaPrimaryLinkUp)
            {
                ri.Flags &= ~InstanceFlags.ReconfInProgress;
                ri.Flags |= InstanceFlags.ReconfDone;
                InstanceEvent(LogLevel.Notice, "+slave-reconf-done", ri);
            }
        }
    }

    /// <summary>The ip and port of an INFO "slaveN:" line in either format.</summary>
    private static bool ParseReplicaLine(string l, out string ip, out string port)
    {
        ip = port = "";
        int ipAt = l.IndexOf("ip=", StringComparison.Ordinal);
        if (ipAt < 0)
        {
            // Old format: slave0:<ip>,<port>,<state>
            int colon = l.IndexOf(':');
            if (colon < 0) return false;
            int comma = l.IndexOf(',', colon + 1);
            if (comma < 0) return false;
            int end = l.IndexOf(',', comma + 1);
            if (end < 0) return false;
            ip = l[(colon + 1)..comma];
            port = l[(comma + 1)..end];
            return true;
        }
        int portAt = l.IndexOf("port=", StringComparison.Ordinal);
        if (portAt < 0) return false;
        ip = UpToComma(l, ipAt + 3);
        port = UpToComma(l, portAt + 5);
        return true;
    }

    private static string UpToComma(string s, int from)
    {
        int end = s.IndexOf(',', from);
        return end < 0 ? s[from..] : s[from..end];
    }

    private static long StrToLong(string s)
    {
        s = s.Trim();
        int i = 0;
        bool neg = false;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
        long v = 0;
        while (i < s.Length && s[i] is >= '0' and <= '9' && v < long.MaxValue / 10) v = v * 10 + (s[i++] - '0');
        return neg ? -v : v;
    }
}
