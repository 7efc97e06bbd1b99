using System.Globalization;
using Kvasir.Observability;

namespace Kvasir.Sentinel;

/// <summary>Failure detection (SDOWN, ODOWN), the leader election and the failover state machine.</summary>
public sealed partial class SentinelState
{
    private static string Str(ulong v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Subjectively down (sentinelCheckSubjectivelyDown): no valid PING reply for down-after-milliseconds,
    /// a primary reporting itself a replica for that long plus two INFO periods, or a primary that
    /// rebooted and did not answer PONG within primary-reboot-down-after-period. Links that look stuck
    /// are closed here so that they reconnect.
    /// </summary>
    private void CheckSubjectivelyDown(SentinelInstance ri)
    {
        var link = ri.Link;
        long now = Now();
        long elapsed = 0;
        if (link.ActPingTime != 0) elapsed = now - link.ActPingTime;
        else if (link.Disconnected) elapsed = now - link.LastAvailTime;

        // A command connection old enough, with a PING pending for half the down period and no reply
        // of any kind for as long: reconnect it.
        if (link.Commands is not null && now - link.CommandsConnectedAt > Timings.MinLinkReconnectPeriod &&
            link.ActPingTime != 0 && now - link.ActPingTime > ri.DownAfterPeriod / 2 && now - link.LastPongTime > ri.DownAfterPeriod / 2)
            link.CloseConnection(link.Commands);

        // A pub/sub connection that heard nothing (not even our own hellos) for three publish periods.
        if (link.PubSub is not null && now - link.PubSubConnectedAt > Timings.MinLinkReconnectPeriod &&
            now - link.PubSubLastActivity > Timings.PublishPeriod * 3)
            link.CloseConnection(link.PubSub);

        bool down = elapsed > ri.DownAfterPeriod ||
                    (ri.IsPrimary && ri.RoleReported == InstanceFlags.Replica &&
                     now - ri.RoleReportedTime > ri.DownAfterPeriod + Timings.InfoPeriod * 2) ||
                    (ri.Has(InstanceFlags.PrimaryReboot) && now - ri.PrimaryRebootSince > ri.PrimaryRebootDownAfterPeriod);
        if (down)
        {
            if (!ri.Has(InstanceFlags.SDown))
            {
                InstanceEvent(LogLevel.Warning, "+sdown", ri);
                ri.SDownSince = now;
                ri.Flags |= InstanceFlags.SDown;
            }
        }
        else if (ri.Has(InstanceFlags.SDown))
        {
            InstanceEvent(LogLevel.Warning, "-sdown", ri);
            ri.Flags &= ~(InstanceFlags.SDown | InstanceFlags.ScriptKillSent);
        }
    }

    /// <summary>
    /// Objectively down (sentinelCheckObjectivelyDown): this Sentinel sees the primary SDOWN and, with
    /// the Sentinels that recently said so, they are at least the quorum. A weak agreement: replies
    /// may be a second old.
    /// </summary>
    private void CheckObjectivelyDown(SentinelInstance primary)
    {
        int quorum = 0;
        bool odown = false;
        if (primary.Has(InstanceFlags.SDown))
        {
            quorum = 1;
            foreach (var ri in primary.Sentinels.Values)
                if (ri.Has(InstanceFlags.PrimaryDown)) quorum++;
            if (quorum >= primary.Quorum) odown = true;
        }
        if (odown)
        {
            if (!primary.Has(InstanceFlags.ODown))
            {
                InstanceEvent(LogLevel.Warning, "+odown", primary, $"#quorum {quorum}/{primary.Quorum}");
                primary.Flags |= InstanceFlags.ODown;
                primary.ODownSince = Now();
            }
        }
        else if (primary.Has(InstanceFlags.ODown))
        {
            InstanceEvent(LogLevel.Warning, "-odown", primary);
            primary.Flags &= ~InstanceFlags.ODown;
        }
    }

    /// <summary>
    /// While the primary is SDOWN, asks the other Sentinels every ask period whether they see it down
    /// too, and, once a failover started here, for their vote (SENTINEL is-master-down-by-addr with our
    /// id). Answers older than five ask periods are forgotten.
    /// </summary>
    private void AskPrimaryStateToOtherSentinels(SentinelInstance primary, bool forced)
    {
        foreach (var ri in primary.Sentinels.Values)
        {
            long elapsed = Now() - ri.LastPrimaryDownReplyTime;
            if (elapsed > Timings.AskPeriod * 5)
            {
                ri.Flags &= ~InstanceFlags.PrimaryDown;
                ri.Leader = null;
            }
            if (!primary.Has(InstanceFlags.SDown)) continue;
            if (ri.Link.Disconnected || ri.Link.Commands is not { } cc) continue;
            if (!forced && Now() - ri.LastPrimaryDownReplyTime < Timings.AskPeriod) continue;
            string runId = primary.FailoverState > FailoverState.None ? MyId : "*";
            if (cc.Send(reply => IsPrimaryDownReply(ri, reply), ri.MapCommand("SENTINEL"), "is-master-down-by-addr",
                    primary.Address.Announced(this), primary.Address.Port.ToString(CultureInfo.InvariantCulture), Str(CurrentEpoch), runId))
                ri.Link.PendingCommands++;
        }
    }

    private void IsPrimaryDownReply(SentinelInstance ri, RespReply reply)
    {
        ri.Link.PendingCommands--;
        if (ri.Released) return;
        // Anything but the expected [down, leader, epoch] is ignored: the flag then times out.
        if (reply.Type != RespReplyType.Array || reply.Items.Length != 3) return;
        var r = reply.Items;
        if (r[0].Type != RespReplyType.Integer || r[1].Type != RespReplyType.Bulk || r[2].Type != RespReplyType.Integer) return;
        ri.LastPrimaryDownReplyTime = Now();
        if (r[0].Integer == 1) ri.Flags |= InstanceFlags.PrimaryDown;
        else ri.Flags &= ~InstanceFlags.PrimaryDown;
        if (r[1].Text != "*")
        {
            if ((long)ri.LeaderEpoch != r[2].Integer)
                Log.Notice($"{ri.Name} voted for {r[1].Text} {(ulong)r[2].Integer}");
            ri.Leader = r[1].Text;
            ri.LeaderEpoch = (ulong)r[2].Integer;
        }
    }

    /// <summary>
    /// Votes for <paramref name="reqRunId"/> as the failover leader of <paramref name="reqEpoch"/> unless a
    /// vote was already given for that epoch or a later one (sentinelVoteLeader); returns the vote held
    /// and its epoch. Voting for another Sentinel delays our own failover attempts for this primary.
    /// </summary>
    public string? VoteLeader(SentinelInstance primary, ulong reqEpoch, string reqRunId, out ulong leaderEpoch)
    {
        if (reqEpoch > CurrentEpoch)
        {
            CurrentEpoch = reqEpoch;
            FlushConfig();
            Event(LogLevel.Warning, "+new-epoch", primary, Str(CurrentEpoch));
        }
        if (primary.LeaderEpoch < reqEpoch && CurrentEpoch <= reqEpoch)
        {
            primary.Leader = reqRunId;
            primary.LeaderEpoch = CurrentEpoch;
            FlushConfig();
            Event(LogLevel.Warning, "+vote-for-leader", primary, $"{primary.Leader} {Str(primary.LeaderEpoch)}");
            if (!string.Equals(primary.Leader, MyId, StringComparison.OrdinalIgnoreCase))
                primary.FailoverStartTime = Now() + Random.Shared.Next(MaxDesync);
        }
        leaderEpoch = primary.LeaderEpoch;
        return primary.Leader;
    }

    /// <summary>
    /// The leader of <paramref name="epoch"/> for this primary, if any (sentinelGetLeader): the Sentinel with
    /// the most votes of that epoch, counting our own vote (for the front runner, or for ourselves),
    /// provided it has an absolute majority of all known Sentinels and at least the quorum.
    /// </summary>
    private string? GetLeader(SentinelInstance primary, ulong epoch)
    {
        var counters = new Dictionary<string, int>(StringComparer.Ordinal);
        int voters = primary.Sentinels.Count + 1;
        foreach (var ri in primary.Sentinels.Values)
            if (ri.Leader is not null && ri.LeaderEpoch == CurrentEpoch)
                counters[ri.Leader] = counters.GetValueOrDefault(ri.Leader) + 1;

        string? winner = null;
        int maxVotes = 0;
        foreach (var (runId, votes) in counters)
        {
            if (votes > maxVotes)
            {
                maxVotes = votes;
                winner = runId;
            }
        }

        string? myVote = VoteLeader(primary, epoch, winner ?? MyId, out ulong leaderEpoch);
        if (myVote is not null && leaderEpoch == epoch)
        {
            int votes = counters.GetValueOrDefault(myVote) + 1;
            counters[myVote] = votes;
            if (votes > maxVotes)
            {
                maxVotes = votes;
                winner = myVote;
            }
        }
        int votersQuorum = voters / 2 + 1;
        if (winner is not null && (maxVotes < votersQuorum || maxVotes < primary.Quorum)) winner = null;
        return winner;
    }

    /// <summary>
    /// Reconfigures an instance (sentinelSendReplicaOf): REPLICAOF host port (or NO ONE), CONFIG REWRITE
    /// so the change survives a restart, and CLIENT KILL of normal and pub/sub clients so they ask the
    /// Sentinels again, all in one MULTI/EXEC. Replies are not read: the next INFO shows the effect.
    /// </summary>
    private bool SendReplicaOf(SentinelInstance ri, SentinelAddress? address)
    {
        var cc = ri.Link.Commands;
        if (cc is null) return false;
        string host = address is null ? "NO" : address.Announced(this);
        string port = address is null ? "ONE" : address.Port.ToString(CultureInfo.InvariantCulture);
        var link = ri.Link;
        if (!cc.Send(_ => DiscardReply(ri), ri.MapCommand("MULTI"))) return false;
        link.PendingCommands++;
        if (!cc.Send(_ => DiscardReply(ri), ri.MapCommand("SLAVEOF"), host, port)) return false;
        link.PendingCommands++;
        if (!cc.Send(_ => DiscardReply(ri), ri.MapCommand("CONFIG"), "REWRITE")) return false;
        link.PendingCommands++;
        foreach (var type in new[] { "normal", "pubsub" })
        {
            if (!cc.Send(_ => DiscardReply(ri), ri.MapCommand("CLIENT"), "KILL", "TYPE", type)) return false;
            link.PendingCommands++;
        }
        if (!cc.Send(_ => DiscardReply(ri), ri.MapCommand("EXEC"))) return false;
        link.PendingCommands++;
        return true;
    }

    /// <summary>Starts a failover attempt in a new epoch (sentinelStartFailover); whether this Sentinel acts depends on the election.</summary>
    public void StartFailover(SentinelInstance primary)
    {
        primary.FailoverState = FailoverState.WaitStart;
        primary.Flags |= InstanceFlags.FailoverInProgress;
        primary.FailoverEpoch = ++CurrentEpoch;
        Event(LogLevel.Warning, "+new-epoch", primary, Str(CurrentEpoch));
        InstanceEvent(LogLevel.Warning, "+try-failover", primary);
        primary.FailoverStartTime = Now() + Random.Shared.Next(MaxDesync);
        primary.FailoverStateChangeTime = Now();
    }

    /// <summary>A failover starts for an ODOWN primary with none in progress and no attempt within twice the failover timeout.</summary>
    private bool StartFailoverIfNeeded(SentinelInstance primary)
    {
        if (!primary.Has(InstanceFlags.ODown)) return false;
        if (primary.Has(InstanceFlags.FailoverInProgress)) return false;
        if (Now() - primary.FailoverStartTime < primary.FailoverTimeout * 2)
        {
            if (primary.FailoverDelayLogged != primary.FailoverStartTime)
            {
                long whenUnix = (primary.FailoverStartTime + primary.FailoverTimeout * 2) / 1000;
                string when = DateTimeOffset.FromUnixTimeSeconds(whenUnix).ToLocalTime().ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture);
                primary.FailoverDelayLogged = primary.FailoverStartTime;
                Log.Notice($"Next failover delay: I will not start a failover before {when}");
            }
            return false;
        }
        StartFailover(primary);
        return true;
    }

    /// <summary>
    /// The replica to promote (sentinelSelectReplica): among replicas that are up, connected, answered
    /// PING recently, sent INFO recently, were not disconnected from the primary for too long and do
    /// not have replica-priority 0, the one with the lowest priority, then the largest replication
    /// offset, then the smallest run id.
    /// </summary>
    public SentinelInstance? SelectReplica(SentinelInstance primary)
    {
        long now = Now();
        long maxPrimaryDownTime = 0;
        if (primary.Has(InstanceFlags.SDown)) maxPrimaryDownTime += now - primary.SDownSince;
        maxPrimaryDownTime += primary.DownAfterPeriod * 10;

        var candidates = new List<SentinelInstance>();
        foreach (var replica in primary.Replicas.Values)
        {
            if (replica.Has(InstanceFlags.SDown | InstanceFlags.ODown)) continue;
            if (replica.Link.Disconnected) continue;
            if (now - replica.Link.LastAvailTime > Timings.PingPeriod * 5) continue;
            if (replica.ReplicaPriority == 0) continue;
            // While the primary is down, replicas are asked for INFO every second.
            long infoValidity = primary.Has(InstanceFlags.SDown) ? Timings.PingPeriod * 5 : Timings.InfoPeriod * 3;
            if (now - replica.InfoRefresh > infoValidity) continue;
            if (replica.PrimaryLinkDownTime > maxPrimaryDownTime) continue;
            candidates.Add(replica);
        }
        if (candidates.Count == 0) return null;
        candidates.Sort(CompareForPromotion);
        return candidates[0];
    }

    private static int CompareForPromotion(SentinelInstance a, SentinelInstance b)
    {
        if (a.ReplicaPriority != b.ReplicaPriority) return a.ReplicaPriority.CompareTo(b.ReplicaPriority);
        if (a.ReplicaReplOffset != b.ReplicaReplOffset) return b.ReplicaReplOffset.CompareTo(a.ReplicaReplOffset);
        // A replica without a run id (very old servers) comes last.
        if (a.RunId is null && b.RunId is null) return 0;
        if (a.RunId is null) return 1;
        if (b.RunId is null) return -1;
        return string.Compare(a.RunId, b.RunId, StringComparison.OrdinalIgnoreCase);
    }

    // ----- the failover state machine -----

    private void FailoverStateMachine(SentinelInstance ri)
    {
        if (!ri.Has(InstanceFlags.FailoverInProgress)) return;
        switch (ri.FailoverState)
        {
            case FailoverState.WaitStart: FailoverWaitStart(ri); break;
            case FailoverState.SelectReplica: FailoverSelectReplica(ri); break;
            case FailoverState.SendReplicaOfNoOne: FailoverSendReplicaOfNoOne(ri); break;
            case FailoverState.WaitPromotion: FailoverWaitPromotion(ri); break;
            case FailoverState.ReconfReplicas: FailoverReconfNextReplica(ri); break;
        }
    }

    /// <summary>Waits to win the election of the failover epoch (or goes on at once for SENTINEL FAILOVER); gives up after the election timeout.</summary>
    private void FailoverWaitStart(SentinelInstance ri)
    {
        string? leader = GetLeader(ri, ri.FailoverEpoch);
        bool isLeader = leader is not null && string.Equals(leader, MyId, StringComparison.OrdinalIgnoreCase);
        if (!isLeader && !ri.Has(InstanceFlags.ForceFailover))
        {
            long electionTimeout = Math.Min(Timings.ElectionTimeout, ri.FailoverTimeout);
            if (Now() - ri.FailoverStartTime > electionTimeout)
            {
                InstanceEvent(LogLevel.Warning, "-failover-abort-not-elected", ri);
                AbortFailover(ri);
            }
            return;
        }
        InstanceEvent(LogLevel.Warning, "+elected-leader", ri);
        if ((SimulateFailureFlags & CrashAfterElection) != 0) SimulatedCrash();
        ri.FailoverState = FailoverState.SelectReplica;
        ri.FailoverStateChangeTime = Now();
        InstanceEvent(LogLevel.Warning, "+failover-state-select-slave", ri);
    }

    private void FailoverSelectReplica(SentinelInstance ri)
    {
        var replica = SelectReplica(ri);
        if (replica is null)
        {
            InstanceEvent(LogLevel.Warning, "-failover-abort-no-good-slave", ri);
            AbortFailover(ri);
            return;
        }
        InstanceEvent(LogLevel.Warning, "+selected-slave", replica);
        replica.Flags |= InstanceFlags.Promoted;
        ri.PromotedReplica = replica;
        ri.FailoverState = FailoverState.SendReplicaOfNoOne;
        ri.FailoverStateChangeTime = Now();
        InstanceEvent(LogLevel.Notice, "+failover-state-send-slaveof-noone", replica);
    }

    private void FailoverSendReplicaOfNoOne(SentinelInstance ri)
    {
        var promoted = ri.PromotedReplica!;
        // Cannot reach the chosen replica: retry until the failover timeout, then give up.
        if (promoted.Link.Disconnected)
        {
            if (Now() - ri.FailoverStateChangeTime > ri.FailoverTimeout)
            {
                InstanceEvent(LogLevel.Warning, "-failover-abort-slave-timeout", ri);
                AbortFailover(ri);
            }
            return;
        }
        if (!SendReplicaOf(promoted, null)) return;
        InstanceEvent(LogLevel.Notice, "+failover-state-wait-promotion", promoted);
        ri.FailoverState = FailoverState.WaitPromotion;
        ri.FailoverStateChangeTime = Now();
    }

    /// <summary>The promotion shows in the replica's INFO (RefreshInstanceInfo moves on); here only the timeout.</summary>
    private void FailoverWaitPromotion(SentinelInstance ri)
    {
        if (Now() - ri.FailoverStateChangeTime > ri.FailoverTimeout)
        {
            InstanceEvent(LogLevel.Warning, "-failover-abort-slave-timeout", ri);
            AbortFailover(ri);
        }
    }

    /// <summary>
    /// The failover ends when every reachable replica follows the new primary, or at the failover
    /// timeout; then the leader sends a last best-effort REPLICAOF to those not done (sentinelFailoverDetectEnd).
    /// </summary>
    private void FailoverDetectEnd(SentinelInstance primary)
    {
        long elapsed = Now() - primary.FailoverStateChangeTime;
        if (primary.PromotedReplica is null || primary.PromotedReplica.Has(InstanceFlags.SDown)) return;

        int notReconfigured = 0;
        foreach (var replica in primary.Replicas.Values)
        {
            if (replica.Has(InstanceFlags.Promoted | InstanceFlags.ReconfDone)) continue;
            if (replica.Has(InstanceFlags.SDown)) continue;
            notReconfigured++;
        }
        bool timeout = false;
        if (elapsed > primary.FailoverTimeout)
        {
            notReconfigured = 0;
            timeout = true;
            InstanceEvent(LogLevel.Warning, "+failover-end-for-timeout", primary);
        }
        if (notReconfigured == 0)
        {
            InstanceEvent(LogLevel.Warning, "+failover-end", primary);
            primary.FailoverState = FailoverState.UpdateConfig;
            primary.FailoverStateChangeTime = Now();
        }
        if (!timeout) return;
        foreach (var replica in primary.Replicas.Values)
        {
            if (replica.Has(InstanceFlags.Promoted | InstanceFlags.ReconfDone | InstanceFlags.ReconfSent)) continue;
            if (replica.Link.Disconnected) continue;
            if (SendReplicaOf(replica, primary.PromotedReplica.Address))
            {
                InstanceEvent(LogLevel.Notice, "+slave-reconf-sent-be", replica);
                replica.Flags |= InstanceFlags.ReconfSent;
            }
        }
    }

    /// <summary>Points the remaining replicas at the new primary, parallel-syncs at a time (sentinelFailoverReconfNextReplica).</summary>
    private void FailoverReconfNextReplica(SentinelInstance primary)
    {
        int inProgress = 0;
        foreach (var replica in primary.Replicas.Values)
            if (replica.Has(InstanceFlags.ReconfSent | InstanceFlags.ReconfInProgress)) inProgress++;

        foreach (var replica in primary.Replicas.Values)
        {
            if (inProgress >= primary.ParallelSyncs) break;
            if (replica.Has(InstanceFlags.Promoted | InstanceFlags.ReconfDone)) continue;
            // No progress for too long: count it as done; the replica's config gets fixed later anyway.
            if (replica.Has(InstanceFlags.ReconfSent) && Now() - replica.ReplicaReconfSentTime > Timings.ReplicaReconfTimeout)
            {
                InstanceEvent(LogLevel.Notice, "-slave-reconf-sent-timeout", replica);
                replica.Flags &= ~InstanceFlags.ReconfSent;
                replica.Flags |= InstanceFlags.ReconfDone;
            }
            if (replica.Has(InstanceFlags.ReconfSent | InstanceFlags.ReconfInProgress)) continue;
            if (replica.Link.Disconnected) continue;
            if (SendReplicaOf(replica, primary.PromotedReplica!.Address))
            {
                replica.Flags |= InstanceFlags.ReconfSent;
                replica.ReplicaReconfSentTime = Now();
                InstanceEvent(LogLevel.Notice, "+slave-reconf-sent", replica);
                inProgress++;
            }
        }
        FailoverDetectEnd(primary);
    }

    /// <summary>The failover is over: the promoted replica becomes the monitored primary (+switch-master).</summary>
    private void FailoverSwitchToPromotedReplica(SentinelInstance primary)
    {
        var reference = primary.PromotedReplica ?? primary;
        Event(LogLevel.Warning, "+switch-master", primary,
            $"{primary.Name} {primary.Address.Announced(this)} {primary.Address.Port} {reference.Address.Announced(this)} {reference.Address.Port}");
        ResetPrimaryAndChangeAddress(primary, reference.Address.Hostname, reference.Address.Port);
    }

    /// <summary>Aborts a failover that has not promoted anything yet.</summary>
    private void AbortFailover(SentinelInstance ri)
    {
        ri.Flags &= ~(InstanceFlags.FailoverInProgress | InstanceFlags.ForceFailover);
        ri.FailoverState = FailoverState.None;
        ri.FailoverStateChangeTime = Now();
        if (ri.PromotedReplica is { } promoted)
        {
            promoted.Flags &= ~InstanceFlags.Promoted;
            ri.PromotedReplica = null;
        }
    }

    /// <summary>Runs the client-reconfig-script: "&lt;primary&gt; leader|observer start &lt;from-ip&gt; &lt;from-port&gt; &lt;to-ip&gt; &lt;to-port&gt;".</summary>
    private void CallClientReconfScript(SentinelInstance primary, bool leader, string state, SentinelAddress from, SentinelAddress to)
    {
        if (primary.ClientReconfigScript is not { } script) return;
        Scripts.Schedule(script, primary.Name, leader ? "leader" : "observer", state,
            from.Announced(this), from.Port.ToString(CultureInfo.InvariantCulture),
            to.Announced(this), to.Port.ToString(CultureInfo.InvariantCulture));
    }
}
