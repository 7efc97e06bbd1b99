namespace Kvasir.Cluster;

/// <summary>clusterCron: ten times a second, links, pings, timeouts and the replica's duties.</summary>
public sealed partial class ClusterState
{
    private long _cronIteration;
    private long _lastCronMs;

    /// <summary>Called on every server cron tick; runs the cluster cron every 100 ms. Takes the data lock.</summary>
    public void Tick()
    {
        long now = Environment.TickCount64;
        if (now - _lastCronMs < 100) return;
        _lastCronMs = now;
        lock (_server.DataLock)
        {
            _server.UpdateClock();
            Cron();
            BeforeSleep();
        }
    }

    /// <summary>Valkey's clusterCron.</summary>
    internal void Cron()
    {
        _cronIteration++;
        UpdateMyselfAnnounced();
        long now = NowMs;
        long handshakeTimeout = Math.Max(NodeTimeout, 1000);
        _pfailNodes = 0;

        foreach (var node in _nodes.Values.ToList())
        {
            if (!_nodes.ContainsKey(node.Name)) continue;
            FreeLinkOnBufferLimit(node.Link);
            FreeLinkOnBufferLimit(node.InboundLink);
            if (node.Has(NodeFlags.Myself | NodeFlags.NoAddress)) continue;
            if (node.TimedOut) _pfailNodes++;
            // A handshake lives no longer than the node timeout.
            if (node.InHandshake && now - node.CreatedMs > handshakeTimeout)
            {
                DeleteNode(node);
                continue;
            }
            if (node.Link is null)
            {
                var link = new ClusterLink(_server, this, node, null, now);
                node.Link = link;
                link.Connect(node.Ip, node.BusPort);
            }
        }

        // About once a second, ping the node with the oldest pong among a few random ones.
        if (_cronIteration % 10 == 0)
        {
            ClusterNode? minPongNode = null;
            long minPong = 0;
            for (int j = 0; j < 5; j++)
            {
                var n = RandomNode();
                if (n.Link is null || n.PingSentMs != 0) continue;
                if (n.Has(NodeFlags.Myself | NodeFlags.Handshake)) continue;
                if (minPongNode is null || minPong > n.PongReceivedMs)
                {
                    minPongNode = n;
                    minPong = n.PongReceivedMs;
                }
            }
            if (minPongNode is not null)
            {
                Log.Debug($"Pinging node {minPongNode.Name}");
                SendPing(minPongNode.Link!, BusMessageType.Ping);
            }
        }

        int orphanedPrimaries = 0, maxReplicas = 0, thisReplicas = 0;
        bool updateState = false;
        foreach (var node in _nodes.Values.ToList())
        {
            now = NowMs;
            if (node.Has(NodeFlags.Myself | NodeFlags.NoAddress | NodeFlags.Handshake)) continue;
            if (Myself.IsReplica && node.IsPrimary && !node.Failed)
            {
                int ok = node.NonFailingReplicas();
                if (ok == 0 && node.SlotCount > 0 && node.Has(NodeFlags.MigrateTo)) orphanedPrimaries++;
                if (ok > maxReplicas) maxReplicas = ok;
                if (Myself.ReplicaOf == node) thisReplicas = ok;
            }
            long pingDelay = now - node.PingSentMs;
            long dataDelay = now - node.DataReceivedMs;
            // Waiting for a pong for half the timeout with no traffic at all: reconnect, the link may be broken.
            if (node.Link is { } link && now - link.CreatedMs > NodeTimeout && node.PingSentMs != 0 &&
                pingDelay > NodeTimeout / 2 && dataDelay > NodeTimeout / 2)
            {
                FreeLink(link);
            }
            long pingInterval = Config.ClusterPingInterval != 0 ? Config.ClusterPingInterval : NodeTimeout / 2;
            if (node.Link is not null && node.PingSentMs == 0 && now - node.PongReceivedMs > pingInterval)
            {
                SendPing(node.Link, BusMessageType.Ping);
                continue;
            }
            // The replica doing a manual failover with us is pinged continuously.
            if (_manualFailoverEndMs != 0 && Myself.IsPrimary && _manualFailoverReplica == node && node.Link is not null)
            {
                SendPing(node.Link, BusMessageType.Ping);
                continue;
            }
            if (node.PingSentMs == 0) continue;
            long delay = Math.Min(pingDelay, dataDelay);
            if (delay > NodeTimeout && !node.Has(NodeFlags.PFail | NodeFlags.Fail))
            {
                node.Flags |= NodeFlags.PFail;
                updateState = true;
                if (Size == 1 && Myself.IsVotingPrimary) MarkNodeAsFailingIfNeeded(node);
                else Log.Notice($"NODE {node} possibly failing.");
            }
        }

        // A replica whose replication is not running yet starts it once its primary's address is known.
        if (Myself.IsReplica && !_server.Replication.IsReplica && Myself.ReplicaOf is { HasAddress: true } primary)
            _server.Replication.SetPrimary(primary.Ip, ReplicationPortOf(primary));

        ManualFailoverCheckTimeout();
        if (Myself.IsReplica)
        {
            HandleManualFailover();
            HandleReplicaFailover();
            if (orphanedPrimaries > 0 && maxReplicas >= 2 && thisReplicas == maxReplicas && Config.ClusterAllowReplicaMigration)
                HandleReplicaMigration(maxReplicas);
        }
        if (updateState || !IsOk) UpdateState();
        RedirectBlockedClients();
    }

    private void FreeLinkOnBufferLimit(ClusterLink? link)
    {
        long limit = Config.ClusterLinkSendbufLimit;
        if (link is null || limit == 0) return;
        long used = link.SendQueueBytes;
        if (used <= limit) return;
        Log.Warning($"Freeing cluster link({(link.Inbound ? "from" : "to")} node {link.Node?.Name ?? ""}, used memory: {used}) due to exceeding send buffer memory limit.");
        FreeLink(link);
        LinksBufferLimitExceeded++;
    }
}
