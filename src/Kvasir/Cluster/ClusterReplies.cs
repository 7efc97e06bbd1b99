using System.Text;
using Kvasir.Commands;
using Kvasir.Protocol;

namespace Kvasir.Cluster;

/// <summary>The replies of CLUSTER INFO, SLOTS, SHARDS and LINKS, in Valkey's shapes.</summary>
internal static class ClusterReplies
{
    public static string InfoText(ClusterState cluster)
    {
        int assigned = 0, ok = 0, pfail = 0, fail = 0;
        for (int j = 0; j < KeySlot.Count; j++)
        {
            var n = cluster.SlotOwner(j);
            if (n is null) continue;
            assigned++;
            if (n.Failed) fail++;
            else if (n.TimedOut) pfail++;
            else ok++;
        }
        var sb = new StringBuilder();
        sb.Append("cluster_state:").Append(cluster.IsOk ? "ok" : "fail").Append("\r\n");
        sb.Append("cluster_slots_assigned:").Append(assigned).Append("\r\n");
        sb.Append("cluster_slots_ok:").Append(ok).Append("\r\n");
        sb.Append("cluster_slots_pfail:").Append(pfail).Append("\r\n");
        sb.Append("cluster_slots_fail:").Append(fail).Append("\r\n");
        sb.Append("cluster_known_nodes:").Append(cluster.Nodes.Count).Append("\r\n");
        sb.Append("cluster_size:").Append(cluster.Size).Append("\r\n");
        sb.Append("cluster_current_epoch:").Append(cluster.CurrentEpoch).Append("\r\n");
        sb.Append("cluster_my_epoch:").Append(cluster.Myself.Epoch).Append("\r\n");
        long sent = 0, received = 0;
        for (int i = 0; i < BusMessage.TypeCount; i++)
        {
            long v = cluster.MessagesSent[i];
            if (v == 0) continue;
            sent += v;
            sb.Append("cluster_stats_messages_").Append(BusMessage.TypeName(i)).Append("_sent:").Append(v).Append("\r\n");
        }
        sb.Append("cluster_stats_messages_sent:").Append(sent).Append("\r\n");
        for (int i = 0; i < BusMessage.TypeCount; i++)
        {
            long v = cluster.MessagesReceived[i];
            if (v == 0) continue;
            received += v;
            sb.Append("cluster_stats_messages_").Append(BusMessage.TypeName(i)).Append("_received:").Append(v).Append("\r\n");
        }
        sb.Append("cluster_stats_messages_received:").Append(received).Append("\r\n");
        sb.Append("total_cluster_links_buffer_limit_exceeded:").Append(cluster.LinksBufferLimitExceeded).Append("\r\n");
        return sb.ToString();
    }

    // ----- CLUSTER SLOTS -----

    public static void Slots(CommandContext ctx, ClusterState cluster)
    {
        bool tls = cluster.ClientUsesTls(ctx.Client);
        bool ipv6 = ClusterState.ClientIsIpv6(ctx.Client);
        bool resp3 = ctx.Reply.IsResp3;
        int kind = (tls ? 1 : 0) | (ipv6 ? 2 : 0) | (resp3 ? 4 : 0);
        if (cluster.RefreshNodeHealth()) cluster.InvalidateSlotsReplies();
        var cached = cluster.CachedSlotsReply(kind);
        if (cached is null)
        {
            var w = new ReplyWriter { Protocol = resp3 ? 3 : 2 };
            WriteSlots(w, cluster, ctx.Client, tls);
            cached = w.WrittenSpan.ToArray();
            w.Release();
            cluster.CacheSlotsReply(kind, cached);
        }
        ctx.Reply.WriteRaw(cached);
    }

    private static void WriteSlots(ReplyWriter w, ClusterState cluster, Clients.Client client, bool tls)
    {
        var ranges = new List<(int Start, int End, ClusterNode Node)>();
        ClusterNode? n = null;
        int start = 0;
        for (int i = 0; i <= KeySlot.Count; i++)
        {
            var owner = i < KeySlot.Count ? cluster.SlotOwner(i) : null;
            if (i < KeySlot.Count && owner == n) continue;
            if (n is not null) ranges.Add((start, i - 1, n));
            n = owner;
            start = i;
        }
        w.WriteArray(ranges.Count);
        foreach (var (s, e, node) in ranges)
        {
            var replicas = node.Replicas.Where(cluster.IsNodeAvailable).ToList();
            w.WriteArray(3 + replicas.Count);
            w.WriteInteger(s);
            w.WriteInteger(e);
            WriteNodeEntry(w, cluster, node, client, tls);
            foreach (var r in replicas) WriteNodeEntry(w, cluster, r, client, tls);
        }
    }

    /// <summary>[endpoint, port, id, {other endpoints}] (Valkey's addNodeToNodeReply).</summary>
    private static void WriteNodeEntry(ReplyWriter w, ClusterState cluster, ClusterNode n, Clients.Client client, bool tls)
    {
        string type = cluster.PreferredEndpointType;
        string ip = cluster.ClientVisibleIp(n, ClusterState.ClientIsIpv6(client));
        w.WriteArray(4);
        if (type == "hostname") w.WriteBulk(n.Hostname.Length > 0 ? n.Hostname : "?");
        else if (type == "unknown-endpoint") w.WriteNull();
        else w.WriteBulk(ip);
        w.WriteInteger(n.ClientPort(tls));
        w.WriteBulk(n.Name);
        bool withIp = type != "ip";
        bool withHostname = type != "hostname" && n.Hostname.Length > 0;
        w.WriteMap((withIp ? 1 : 0) + (withHostname ? 1 : 0));
        if (withIp)
        {
            w.WriteBulk("ip"u8);
            w.WriteBulk(ip);
        }
        if (withHostname)
        {
            w.WriteBulk("hostname"u8);
            w.WriteBulk(n.Hostname);
        }
    }

    // ----- CLUSTER SHARDS -----

    public static void Shards(CommandContext ctx, ClusterState cluster)
    {
        var w = ctx.Reply;
        var ranges = cluster.SlotRangesByNode();
        w.WriteArray(cluster.Shards.Count);
        foreach (var (_, nodes) in cluster.Shards)
        {
            w.WriteMap(2);
            w.WriteBulk("slots"u8);
            List<(int Start, int End)>? slots = null;
            foreach (var n in nodes)
            {
                if (ranges.TryGetValue(n, out slots)) break;
            }
            if (slots is null) w.WriteArray(0);
            else
            {
                w.WriteArray(slots.Count * 2);
                foreach (var (s, e) in slots)
                {
                    w.WriteInteger(s);
                    w.WriteInteger(e);
                }
            }
            w.WriteBulk("nodes"u8);
            w.WriteArray(nodes.Count);
            foreach (var n in nodes) WriteShardNode(w, cluster, n, ctx.Client);
        }
    }

    private static void WriteShardNode(ReplyWriter w, ClusterState cluster, ClusterNode n, Clients.Client client)
    {
        int fields = 6 + (n.TcpPort != 0 ? 1 : 0) + (n.TlsPort != 0 ? 1 : 0) + (n.Hostname.Length > 0 ? 1 : 0);
        w.WriteMap(fields);
        w.WriteBulk("id"u8);
        w.WriteBulk(n.Name);
        if (n.TcpPort != 0)
        {
            w.WriteBulk("port"u8);
            w.WriteInteger(n.TcpPort);
        }
        if (n.TlsPort != 0)
        {
            w.WriteBulk("tls-port"u8);
            w.WriteInteger(n.TlsPort);
        }
        w.WriteBulk("ip"u8);
        w.WriteBulk(cluster.ClientVisibleIp(n, ClusterState.ClientIsIpv6(client)));
        w.WriteBulk("endpoint"u8);
        w.WriteBulk(cluster.PreferredEndpoint(n, client));
        if (n.Hostname.Length > 0)
        {
            w.WriteBulk("hostname"u8);
            w.WriteBulk(n.Hostname);
        }
        long offset = cluster.NodeReplicationOffset(n);
        w.WriteBulk("role"u8);
        w.WriteBulk(n.IsReplica ? "replica"u8 : "master"u8);
        w.WriteBulk("replication-offset"u8);
        w.WriteInteger(offset);
        w.WriteBulk("health"u8);
        w.WriteBulk(n.Failed ? "fail"u8 : n.IsReplica && offset == 0 ? "loading"u8 : "online"u8);
    }

    // ----- CLUSTER LINKS -----

    public static void Links(CommandContext ctx, ClusterState cluster)
    {
        var links = new List<ClusterLink>();
        foreach (var n in cluster.Nodes)
        {
            if (n.Link is not null) links.Add(n.Link);
            if (n.InboundLink is not null) links.Add(n.InboundLink);
        }
        var w = ctx.Reply;
        w.WriteArray(links.Count);
        foreach (var l in links)
        {
            w.WriteMap(6);
            w.WriteBulk("direction"u8);
            w.WriteBulk(l.Inbound ? "from"u8 : "to"u8);
            w.WriteBulk("node"u8);
            w.WriteBulk(l.Node!.Name);
            w.WriteBulk("create-time"u8);
            w.WriteInteger(l.CreatedMs);
            w.WriteBulk("events"u8);
            w.WriteBulk(l.HasPendingWrites ? "rw"u8 : "r"u8);
            long used = l.SendQueueBytes;
            w.WriteBulk("send-buffer-allocated"u8);
            w.WriteInteger(used);
            w.WriteBulk("send-buffer-used"u8);
            w.WriteInteger(used);
        }
    }
}
