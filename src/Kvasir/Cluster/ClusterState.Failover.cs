using static Kvasir.Cluster.BusMessage;

namespace Kvasir.Cluster;

/// <summary>
/// Failure detection (PFAIL, failure reports, FAIL), replica elections and promotion, manual
/// failover, replica migration and the slot ownership rules that follow configuration epochs.
/// </summary>
public sealed partial class ClusterState
{
    private enum CantFailover { None, DataAge, WaitingDelay, Expired, WaitingVotes }

    private long _failoverAuthTimeMs;
    private int _failoverAuthCount;
    private bool _failoverAuthSent;
    private int _failoverAuthRank;
    private ulong _failoverAuthEpoch;
    private CantFailover _cantFailoverReason;
    private long _cantFailoverLoggedUnix;

    private long _manualFailoverEndMs;
    private ClusterNode? _manualFailoverReplica;
    private long _manualFailoverPrimaryOffset = -1;
    private bool _manualFailoverCanStart;
    private int _pfailNodes;

    /// <summary>A manual failover is under way (its time limit, 0 when none).</summary>
    public long ManualFailoverEndMs => _manualFailoverEndMs;

    // ----- failure reports -----

    /// <summary>Records that <paramref name="sender"/> sees <paramref name="failing"/> as failing; true when it is a new report.</summary>
    private bool AddFailureReport(ClusterNode failing, ClusterNode sender)
    {
        long now = NowMs;
        foreach (var r in failing.FailReports)
        {
            if (r.Sender != sender) continue;
            r.TimeMs = now;
            return false;
        }
        failing.FailReports.Add(new FailureReport(sender, now));
        return true;
    }

    private void CleanupFailureReports(ClusterNode node)
    {
        long maxAge = NodeTimeout * FailReportValidityMult;
        long now = NowMs;
        node.FailReports.RemoveAll(r => now - r.TimeMs > maxAge);
    }

    private bool DeleteFailureReport(ClusterNode node, ClusterNode sender)
    {
        int i = node.FailReports.FindIndex(r => r.Sender == sender);
        if (i < 0) return false;
        node.FailReports.RemoveAt(i);
        CleanupFailureReports(node);
        return true;
    }

    /// <summary>Valid failure reports about <paramref name="node"/> from other nodes (CLUSTER COUNT-FAILURE-REPORTS).</summary>
    public int FailureReportCount(ClusterNode node)
    {
        CleanupFailureReports(node);
        return node.FailReports.Count;
    }

    /// <summary>
    /// A node we see as PFAIL is reported failing by a majority of primaries: it is FAIL, and every
    /// node is told at once (Valkey's markNodeAsFailingIfNeeded).
    /// </summary>
    private void MarkNodeAsFailingIfNeeded(ClusterNode node)
    {
        int quorum = Size / 2 + 1;
        if (!node.TimedOut || node.Failed) return;
        int failures = FailureReportCount(node);
        if (Myself.IsVotingPrimary) failures++;
        if (failures < quorum) return;
        Log.Notice($"Marking node {node} as failing (quorum reached).");
        node.Flags &= ~NodeFlags.PFail;
        node.Flags |= NodeFlags.Fail;
        node.FailTimeMs = NowMs;
        SendFail(node.Name);
        DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);
    }

    /// <summary>A FAIL node answers again: replicas and empty primaries are cleared at once, a primary still holding its slots after a while.</summary>
    private void ClearNodeFailureIfNeeded(ClusterNode node)
    {
        long now = NowMs;
        if (!node.IsVotingPrimary)
        {
            Log.Notice($"Clear FAIL state for node {node}: {(node.IsReplica ? "replica" : "primary without slots")} is reachable again.");
            node.Flags &= ~NodeFlags.Fail;
            DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);
        }
        if (node.IsVotingPrimary && now - node.FailTimeMs > NodeTimeout * FailUndoTimeMult)
        {
            Log.Notice($"Clear FAIL state for node {node}: is reachable again and nobody is serving its slots after some time.");
            node.Flags &= ~NodeFlags.Fail;
            DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);
        }
    }

    // ----- roles -----

    /// <summary>A node we thought a replica acts as a primary now.</summary>
    internal void SetNodeAsPrimary(ClusterNode n)
    {
        if (n.IsPrimary) return;
        if (n.ReplicaOf is { } old)
        {
            old.RemoveReplica(n);
            if (n != Myself) n.Flags |= NodeFlags.MigrateTo;
        }
        n.Flags &= ~NodeFlags.Replica;
        n.Flags |= NodeFlags.Primary;
        n.ReplicaOf = null;
        DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
    }

    /// <summary>
    /// This node replicates <paramref name="n"/> from now on (Valkey's clusterSetPrimary). A full
    /// sync is forced when it comes from another shard's history.
    /// </summary>
    internal void SetPrimary(ClusterNode n, bool closeSlots, bool fullSyncRequired)
    {
        if (Myself.IsPrimary)
        {
            Myself.Flags &= ~(NodeFlags.Primary | NodeFlags.MigrateTo);
            Myself.Flags |= NodeFlags.Replica;
        }
        else
        {
            Myself.ReplicaOf?.RemoveReplica(Myself);
        }
        if (closeSlots) CloseAllSlots();
        Myself.ReplicaOf = n;
        UpdateShardId(Myself, n.ShardId);
        n.AddReplica(Myself);
        _server.Replication.SetPrimary(n.Ip, ReplicationPortOf(n), fullSyncRequired);
        RemoveShardChannelsNotServed();
        ResetManualFailover();
        _failoverAuthTimeMs = 0;
    }

    /// <summary>Shard channel subscriptions of slots this shard does not serve are dropped.</summary>
    private void RemoveShardChannelsNotServed()
    {
        if (_server.PubSub.ChannelCount(PubSub.ChannelKind.Shard) == 0) return;
        var mine = Myself.IsPrimary ? Myself : Myself.ReplicaOf;
        for (int j = 0; j < KeySlot.Count; j++)
            if (_slots[j] != mine) _server.PubSub.UnsubscribeShardSlot(j);
    }

    /// <summary>
    /// A primary claims slots with a config epoch (in a PING/PONG or an UPDATE): slots it claims
    /// with a newer epoch than their owner's become its own, and when this node's shard lost all
    /// its slots to it, this node follows it as a replica (Valkey's clusterUpdateSlotsConfigWith).
    /// </summary>
    private void UpdateSlotsConfigWith(ClusterNode sender, ulong senderConfigEpoch, byte[] slots)
    {
        var dirty = new List<int>();
        int senderSlots = 0, migratedOurSlots = 0;
        ClusterNode? newPrimary = null;
        var curPrimary = Myself.IsPrimary ? Myself : Myself.ReplicaOf;
        if (sender == Myself)
        {
            Log.Notice("Discarding UPDATE message about myself.");
            return;
        }
        bool sameShard = SameShard(sender, Myself);
        for (int j = 0; j < KeySlot.Count; j++)
        {
            if (TestBit(slots, j))
            {
                senderSlots++;
                if (_slots[j] == sender)
                {
                    ClearBit(_ownerNotClaiming, j);
                    continue;
                }
                if (!SlotUnclaimed(j) && _slots[j]!.ConfigEpoch >= senderConfigEpoch) continue;
                var owner = _slots[j];
                if (owner is not null && !SlotUnclaimed(j) && !SameShard(owner, sender))
                    Log.Notice($"Slot {j} is migrated from node {owner} in shard {owner.ShardId} to node {sender} in shard {sender.ShardId}.");
                // Our slot, still with keys: they must go unless we follow the new owner.
                if (owner == Myself && CountKeysInSlot(j) > 0 && sender != Myself) dirty.Add(j);
                if (owner is not null && owner == curPrimary)
                {
                    newPrimary = sender;
                    migratedOurSlots++;
                }
                if (_migratingTo[j] is { } to && !sameShard)
                {
                    // Another shard takes the slot: an operator's decision; the migration is over.
                    Log.Notice($"Slot {j} is no longer being migrated to node {to} in shard {to.ShardId}.");
                    _migratingTo[j] = null;
                }
                if (_importingFrom[j] is { } from && from != sender)
                {
                    if (SameShard(sender, from))
                    {
                        Log.Notice($"Failover occurred in migration source. Update importing source for slot {j} to node {sender} in shard {sender.ShardId}.");
                        _importingFrom[j] = sender;
                    }
                    else
                    {
                        Log.Notice($"Slot {j} is no longer being imported from node {from} in shard {from.ShardId}.");
                        _importingFrom[j] = null;
                    }
                }
                DeleteSlot(j);
                AddSlot(sender, j);
                ClearBit(_ownerNotClaiming, j);
                DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
            }
            else
            {
                // Still bound to the sender, which no longer claims it: keep the binding (clients get
                // redirects rather than errors) but never spread it in UPDATE messages.
                if (_slots[j] == sender) SetBit(_ownerNotClaiming, j);
                // A failover in the shard we migrate to: migrate to its new primary.
                if (_migratingTo[j] is { } to && to != sender && (to.ConfigEpoch < senderConfigEpoch || to.IsReplica) && SameShard(to, sender))
                {
                    Log.Notice($"Failover occurred in migration target. Slot {j} is now being migrated to node {sender} in shard {sender.ShardId}.");
                    _migratingTo[j] = sender;
                    DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
                }
                // The source gave the slot up while we still import it: we missed the final SETSLOT.
                if (Myself.IsPrimary && _importingFrom[j] == sender)
                {
                    Log.Notice($"Slot {j} is no longer being imported from node {sender} in shard {sender.ShardId}; Clear my importing source for the slot.");
                    _importingFrom[j] = null;
                    if (_slots[j] != Myself)
                    {
                        DeleteSlot(j);
                        AddSlot(Myself, j);
                        BumpEpochWithoutConsensus();
                        DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
                    }
                }
            }
        }

        // Both empty and in one shard: the one with the newer epoch is the primary.
        if (newPrimary is null && Myself.ReplicaOf != sender && senderSlots == 0 && Myself.SlotCount == 0 &&
            Myself.Epoch < senderConfigEpoch && sameShard)
            newPrimary = sender;

        if (newPrimary is not null && curPrimary is not null && curPrimary.SlotCount == 0)
        {
            if (Config.ClusterAllowReplicaMigration || sameShard)
            {
                Log.Notice($"Configuration change detected. Reconfiguring myself as a replica of node {sender} in shard {sender.ShardId}");
                // A replica of the same shard keeps the migration states and tries a partial resync.
                SetPrimary(sender, closeSlots: !sameShard, fullSyncRequired: !sameShard);
                DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
            }
            else if (Myself.IsPrimary && senderSlots >= migratedOurSlots && !sameShard)
            {
                Log.Notice($"My last slot was migrated to node {sender} in shard {sender.ShardId}. I am now an empty primary.");
            }
        }
        else if (dirty.Count > 0)
        {
            // We keep serving other slots: the keys of the slots we lost must go.
            foreach (int slot in dirty)
            {
                Log.Notice($"Deleting keys in dirty slot {slot} on node {Myself} in shard {Myself.ShardId}");
                DeleteKeysInSlot(slot);
            }
        }
    }

    // ----- elections -----

    /// <summary>Votes for a replica that asks to replace its failed primary, when every rule allows it (Valkey's clusterSendFailoverAuthIfNeeded).</summary>
    private void SendFailoverAuthIfNeeded(ClusterNode node, ReadOnlySpan<byte> request)
    {
        var primary = node.ReplicaOf;
        ulong requestCurrentEpoch = U64(request, OffCurrentEpoch);
        ulong requestConfigEpoch = U64(request, OffConfigEpoch);
        bool forceAck = (request[OffMFlags] & FlagForceAck) != 0;
        if (!Myself.IsVotingPrimary) return;
        if (requestCurrentEpoch < CurrentEpoch)
        {
            Log.Warning($"Failover auth denied to {node}: reqEpoch ({requestCurrentEpoch}) < curEpoch({CurrentEpoch})");
            return;
        }
        if (LastVoteEpoch == CurrentEpoch)
        {
            Log.Warning($"Failover auth denied to {node}: already voted for epoch {CurrentEpoch}");
            return;
        }
        if (node.IsPrimary || primary is null || (!primary.Failed && !forceAck))
        {
            if (node.IsPrimary) Log.Warning($"Failover auth denied to {node} for epoch {requestCurrentEpoch}: it is a primary node");
            else if (primary is null) Log.Warning($"Failover auth denied to {node} for epoch {requestCurrentEpoch}: I don't know its primary");
            else Log.Warning($"Failover auth denied to {node} for epoch {requestCurrentEpoch}: its primary is up");
            return;
        }
        long now = NowMs;
        if (now - primary.VotedTimeMs < NodeTimeout * 2)
        {
            Log.Warning($"Failover auth denied to {node.Name} {node.HumanNodename}: can't vote about this primary before {NodeTimeout * 2 - (now - primary.VotedTimeMs)} milliseconds");
            return;
        }
        var claimed = request.Slice(OffSlots, SlotBytes);
        for (int j = 0; j < KeySlot.Count; j++)
        {
            if (!TestBit(claimed, j)) continue;
            if (SlotUnclaimed(j) || _slots[j]!.ConfigEpoch <= requestConfigEpoch) continue;
            Log.Warning($"Failover auth denied to {node}: slot {j} epoch ({_slots[j]!.ConfigEpoch}) > reqEpoch ({requestConfigEpoch})");
            return;
        }
        LastVoteEpoch = CurrentEpoch;
        primary.VotedTimeMs = now;
        DoBeforeSleep(Todo.SaveConfig | Todo.FsyncConfig);
        SendFailoverAuth(node);
        Log.Notice($"Failover auth granted to {node} for epoch {CurrentEpoch}");
    }

    /// <summary>How many replicas of our primary have more data than us (ties broken by name): the election delay is one second per rank.</summary>
    private int ReplicaRank()
    {
        var primary = Myself.ReplicaOf;
        if (primary is null) return 0;
        long myOffset = _server.Replication.ReplicaOffset;
        int rank = 0;
        foreach (var r in primary.Replicas)
        {
            if (r == Myself || r.Has(NodeFlags.NoFailover)) continue;
            if (r.ReplOffset > myOffset) rank++;
            else if (r.ReplOffset == myOffset && string.CompareOrdinal(r.Name, Myself.Name) < 0) rank++;
        }
        return rank;
    }

    private void LogCantFailover(CantFailover reason)
    {
        long now = NowUnix;
        if (reason == _cantFailoverReason && now - _cantFailoverLoggedUnix < 1) return;
        if (reason == _cantFailoverReason && reason == CantFailover.DataAge && now - _cantFailoverLoggedUnix < 10) return;
        _cantFailoverReason = reason;
        string message = reason switch
        {
            CantFailover.DataAge => "Disconnected from primary for longer than allowed. Please check the 'cluster-replica-validity-factor' configuration option.",
            CantFailover.WaitingDelay => "Waiting the delay before I can start a new failover.",
            CantFailover.Expired => "Failover attempt expired.",
            CantFailover.WaitingVotes => "Waiting for votes, but majority still not reached.",
            _ => "Unknown reason code.",
        };
        _cantFailoverLoggedUnix = NowUnix;
        Log.Notice($"Currently unable to failover: {message}");
        if (reason is CantFailover.WaitingVotes or CantFailover.Expired)
            Log.Notice($"Needed quorum: {Size / 2 + 1}. Number of votes received so far: {_failoverAuthCount}");
    }

    /// <summary>The replica takes its primary's slots and tells everyone (the end of every failover).</summary>
    internal void FailoverReplaceYourPrimary()
    {
        var oldPrimary = Myself.ReplicaOf;
        if (Myself.IsPrimary || oldPrimary is null) return;
        Log.Notice($"Setting myself to primary in shard {Myself.ShardId} after failover; my old primary is {oldPrimary}");
        SetNodeAsPrimary(Myself);
        _server.Replication.UnsetPrimary();
        for (int j = 0; j < KeySlot.Count; j++)
        {
            if (!oldPrimary.CoversSlot(j)) continue;
            DeleteSlot(j);
            AddSlot(Myself, j);
        }
        UpdateState();
        SaveConfigOrDie(true);
        BroadcastPong(localReplicasOnly: false);
        ResetManualFailover();
    }

    /// <summary>
    /// A replica whose primary failed (or that was asked to fail over) runs an election: after a
    /// delay by rank it asks the primaries for votes and, with a majority, replaces its primary
    /// (Valkey's clusterHandleReplicaFailover).
    /// </summary>
    private void HandleReplicaFailover()
    {
        long now = NowMs;
        long authAge = now - _failoverAuthTimeMs;
        int quorum = Size / 2 + 1;
        bool manual = _manualFailoverEndMs != 0 && _manualFailoverCanStart;
        _todo &= ~Todo.HandleFailover;
        long authTimeout = Math.Max(NodeTimeout * 2, OperationTimeoutMs);
        long authRetry = authTimeout * 2;

        if (Myself.IsPrimary || Myself.ReplicaOf is null || (!Myself.ReplicaOf.Failed && !manual) ||
            (Config.ClusterReplicaNoFailover && !manual))
        {
            _cantFailoverReason = CantFailover.None;
            return;
        }

        var repl = _server.Replication;
        long nowUnix = NowUnix;
        long dataAge = repl.Link is { Connected: true } link
            ? (nowUnix - link.LastInteractionUnix) * 1000
            : (nowUnix - repl.LinkDownSinceUnix) * 1000;
        if (dataAge > NodeTimeout) dataAge -= NodeTimeout;
        if (Config.ClusterReplicaValidityFactor != 0 &&
            dataAge > Config.ReplPingReplicaPeriod * 1000L + NodeTimeout * Config.ClusterReplicaValidityFactor)
        {
            if (!manual)
            {
                LogCantFailover(CantFailover.DataAge);
                return;
            }
        }

        if (authAge > authRetry)
        {
            // A new attempt: 500 ms for the FAIL to spread, some random delay, one second per rank.
            _failoverAuthTimeMs = now + 500 + _random.Next(500);
            _failoverAuthCount = 0;
            _failoverAuthSent = false;
            _failoverAuthRank = ReplicaRank();
            _failoverAuthTimeMs += _failoverAuthRank * 1000L;
            if (_manualFailoverEndMs != 0)
            {
                _failoverAuthTimeMs = now;
                _failoverAuthRank = 0;
                DoBeforeSleep(Todo.HandleFailover);
            }
            Log.Notice($"Start of election delayed for {_failoverAuthTimeMs - now} milliseconds (rank #{_failoverAuthRank}, offset {repl.ReplicaOffset}).");
            // Our offset goes to the other replicas, which may then rank themselves behind us.
            BroadcastPong(localReplicasOnly: true);
            return;
        }

        if (!_failoverAuthSent && _manualFailoverEndMs == 0)
        {
            int newRank = ReplicaRank();
            if (newRank != _failoverAuthRank)
            {
                long added = (newRank - _failoverAuthRank) * 1000L;
                _failoverAuthTimeMs += added;
                _failoverAuthRank = newRank;
                Log.Notice($"Replica rank updated to #{newRank}, added {added} milliseconds of delay.");
            }
        }

        if (now < _failoverAuthTimeMs)
        {
            LogCantFailover(CantFailover.WaitingDelay);
            return;
        }
        if (authAge > authTimeout)
        {
            LogCantFailover(CantFailover.Expired);
            return;
        }
        if (!_failoverAuthSent)
        {
            CurrentEpoch++;
            _failoverAuthEpoch = CurrentEpoch;
            Log.Notice($"Starting a failover election for epoch {CurrentEpoch}.");
            RequestFailoverAuth();
            _failoverAuthSent = true;
            DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
            return;
        }
        if (_failoverAuthCount >= quorum)
        {
            Log.Notice("Failover election won: I'm the new primary.");
            if (Myself.ConfigEpoch < _failoverAuthEpoch)
            {
                Myself.ConfigEpoch = _failoverAuthEpoch;
                Log.Notice($"configEpoch set to {Myself.ConfigEpoch} after successful failover");
            }
            FailoverReplaceYourPrimary();
        }
        else
        {
            LogCantFailover(CantFailover.WaitingVotes);
        }
    }

    // ----- replica migration -----

    /// <summary>
    /// A replica of a primary with the most working replicas moves to a primary left without any,
    /// if its own keeps more than cluster-migration-barrier (Valkey's clusterHandleReplicaMigration).
    /// </summary>
    private void HandleReplicaMigration(int maxReplicas)
    {
        if (!IsOk) return;
        var myPrimary = Myself.ReplicaOf;
        if (myPrimary is null) return;
        int okReplicas = 0;
        foreach (var r in myPrimary.Replicas)
            if (!r.Failed && !r.TimedOut) okReplicas++;
        if (okReplicas <= Config.ClusterMigrationBarrier) return;

        var candidate = Myself;
        ClusterNode? target = null;
        long now = NowMs;
        foreach (var node in _nodes.Values)
        {
            int ok = 0;
            bool orphaned = true;
            if (node.IsReplica || node.Failed) orphaned = false;
            if (!node.Has(NodeFlags.MigrateTo)) orphaned = false;
            if (node.IsPrimary) ok = node.NonFailingReplicas();
            if (ok > 0) orphaned = false;
            if (orphaned)
            {
                if (target is null && node.SlotCount > 0) target = node;
                if (node.OrphanedTimeMs == 0) node.OrphanedTimeMs = now;
            }
            else
            {
                node.OrphanedTimeMs = 0;
            }
            if (ok == maxReplicas)
            {
                foreach (var r in node.Replicas)
                    if (string.CompareOrdinal(r.Name, candidate.Name) < 0) candidate = r;
            }
        }
        // Only once the primary stayed orphaned a while: its own replicas may still announce themselves.
        if (target is not null && candidate == Myself && now - target.OrphanedTimeMs > ReplicaMigrationDelayMs)
        {
            Log.Notice($"Migrating to orphaned primary {target} in shard {target.ShardId}");
            SetPrimary(target, closeSlots: true, fullSyncRequired: true);
        }
    }

    // ----- manual failover -----

    internal void ResetManualFailover()
    {
        // A primary that paused its clients for the replica lets them go, whatever the outcome.
        if (_manualFailoverReplica is not null || _manualFailoverEndMs != 0)
            _server.Clients.SetWritePause(Clients.WritePause.ClusterFailover, false);
        _manualFailoverEndMs = 0;
        _manualFailoverCanStart = false;
        _manualFailoverReplica = null;
        _manualFailoverPrimaryOffset = -1;
    }

    private void ManualFailoverCheckTimeout()
    {
        if (_manualFailoverEndMs != 0 && _manualFailoverEndMs < NowMs)
        {
            Log.Warning("Manual failover timed out.");
            ResetManualFailover();
        }
    }

    /// <summary>The replica's side: once it has processed everything up to its paused primary's offset, the election may start.</summary>
    private void HandleManualFailover()
    {
        if (_manualFailoverEndMs == 0 || _manualFailoverCanStart || _manualFailoverPrimaryOffset == -1) return;
        if (_manualFailoverPrimaryOffset == _server.Replication.ReplicaOffset)
        {
            _manualFailoverCanStart = true;
            Log.Notice("All primary replication stream processed, manual failover can start.");
            DoBeforeSleep(Todo.HandleFailover);
            return;
        }
        DoBeforeSleep(Todo.HandleManualFailover);
    }

    /// <summary>CLUSTER FAILOVER [FORCE|TAKEOVER]; the error text, or null when started.</summary>
    internal string? StartManualFailover(bool force, bool takeover, string clientInfo)
    {
        if (Myself.IsPrimary) return "ERR You should send CLUSTER FAILOVER to a replica";
        if (Myself.ReplicaOf is null) return "ERR I'm a replica but my master is unknown to me";
        if (!force && (Myself.ReplicaOf.Failed || Myself.ReplicaOf.Link is null))
            return "ERR Master is down or failed, please use CLUSTER FAILOVER FORCE";
        ResetManualFailover();
        _manualFailoverEndMs = NowMs + ManualFailoverTimeoutMs;
        if (takeover)
        {
            // No agreement at all: a new epoch of our own, the slots, and the news.
            Log.Notice($"Taking over the primary (user request from '{clientInfo}').");
            BumpEpochWithoutConsensus();
            FailoverReplaceYourPrimary();
        }
        else if (force)
        {
            Log.Notice($"Forced failover user request accepted (user request from '{clientInfo}').");
            _manualFailoverCanStart = true;
            DoBeforeSleep(Todo.HandleManualFailover);
        }
        else
        {
            Log.Notice($"Manual failover user request accepted (user request from '{clientInfo}').");
            SendMfStart(Myself.ReplicaOf);
        }
        return null;
    }
}
