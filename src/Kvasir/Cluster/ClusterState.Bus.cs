using System.Net;
using System.Net.Sockets;
using System.Text;
using static Kvasir.Cluster.BusMessage;

namespace Kvasir.Cluster;

/// <summary>The cluster bus: links, the messages this node sends, and what it does with the ones it receives.</summary>
public sealed partial class ClusterState
{
    /// <summary>Inbound links whose node is not known yet (they are identified by their first message).</summary>
    private readonly HashSet<ClusterLink> _unassignedLinks = new();
    private long _pingsBuilt;

    internal Observability.ServerLog LogSink => _server.Log;
    internal bool TlsCluster => Config.TlsCluster;

    // ----- links -----

    internal void Accepted(Socket socket)
    {
        var link = new ClusterLink(_server, this, null, socket, NowMs);
        _unassignedLinks.Add(link);
        if (socket.RemoteEndPoint is IPEndPoint peer) Log.Verbose($"Accepting cluster node connection from {peer.Address}:{peer.Port}");
        link.StartReading();
    }

    /// <summary>Drops a link; the cron reconnects an outbound one (Valkey's freeClusterLink).</summary>
    internal void FreeLink(ClusterLink link)
    {
        if (link.Freed) return;
        link.Close();
        _unassignedLinks.Remove(link);
        if (link.Node is { } node)
        {
            if (node.Link == link) node.Link = null;
            else if (node.InboundLink == link) node.InboundLink = null;
        }
    }

    private void SetInboundLink(ClusterNode node, ClusterLink link)
    {
        if (node.InboundLink is { } old && old != link)
        {
            // The peer reconnected before we noticed its old connection closed: keep the new one.
            Log.Debug($"Replacing inbound link from node {node.Name}");
            FreeLink(old);
        }
        node.InboundLink = link;
        link.Node = node;
        _unassignedLinks.Remove(link);
    }

    internal void LinkConnectFailed(ClusterLink link, string error)
    {
        if (link.Node is { } node)
        {
            Log.Verbose($"Connection with Node {node.Name} at {node.Ip}:{node.BusPort} failed: {error}");
            // Unreachable from the start: count it as a ping sent, or failure detection would never begin.
            if (node.PingSentMs == 0) node.PingSentMs = NowMs;
        }
        FreeLink(link);
    }

    /// <summary>An outbound link is up: a PING (or MEET) goes first, so failure detection starts at once.</summary>
    internal void LinkConnected(ClusterLink link)
    {
        var node = link.Node!;
        long oldPingSent = node.PingSentMs;
        SendPing(link, node.Has(NodeFlags.Meet) ? BusMessageType.Meet : BusMessageType.Ping);
        // A ping outstanding before the link dropped keeps its time.
        if (oldPingSent != 0) node.PingSentMs = oldPingSent;
        Log.Debug($"Connecting with Node {node.Name} at {node.Ip}:{node.BusPort}");
    }

    private void SendMessage(ClusterLink? link, byte[] message)
    {
        if (link is null) return;
        link.Send(message);
        _unflushedLinks.Add(link);
        ushort type = U16(message, OffType);
        if (type < TypeCount) MessagesSent[type]++;
    }

    private void BroadcastMessage(byte[] message)
    {
        foreach (var n in _nodes.Values)
        {
            if (n.Has(NodeFlags.Myself | NodeFlags.Handshake)) continue;
            SendMessage(n.Link, message);
        }
    }

    // ----- building messages -----

    /// <summary>A message with Valkey's full header describing this node (Valkey's clusterBuildMessageHdr).</summary>
    private byte[] NewMessage(BusMessageType type, int length)
    {
        var m = new byte[length];
        var primary = Myself.IsReplica && Myself.ReplicaOf is { } p ? p : Myself;
        m[0] = (byte)'R'; m[1] = (byte)'C'; m[2] = (byte)'m'; m[3] = (byte)'b';
        Put32(m, OffTotalLength, (uint)length);
        Put16(m, OffVersion, ProtocolVersion);
        Put16(m, OffType, (ushort)type);
        PutName(m, OffSender, Myself.Name);
        if (Config.ClusterAnnounceIp.Length > 0) PutText(m, OffIp, IpLength, Config.ClusterAnnounceIp);
        DeriveAnnouncedPorts(out int tcp, out int tls, out int bus);
        primary.Slots.CopyTo(m.AsSpan(OffSlots, SlotBytes));
        if (Myself.ReplicaOf is { } of) PutName(m, OffReplicaOf, of.Name);
        Put16(m, OffPort, Config.TlsCluster ? tls : tcp);
        Put16(m, OffPPort, Config.TlsCluster ? tcp : tls);
        Put16(m, OffBusPort, bus);
        Put16(m, OffFlags, (ushort)Myself.Flags);
        m[OffState] = IsOk ? (byte)0 : (byte)1;
        Put64(m, OffCurrentEpoch, CurrentEpoch);
        Put64(m, OffConfigEpoch, primary.ConfigEpoch);
        long offset = Myself.IsReplica ? _server.Replication.ReplicaOffset : _server.Replication.Offset;
        Put64(m, OffOffset, (ulong)offset);
        if (Myself.IsPrimary && _manualFailoverEndMs != 0) m[OffMFlags] |= FlagPaused;
        return m;
    }

    private static void PutGossip(byte[] m, int index, ClusterNode n, bool tlsCluster)
    {
        int at = HeaderLength + index * GossipLength;
        PutName(m, at, n.Name);
        Put32(m, at + 40, (uint)(n.PingSentMs / 1000));
        Put32(m, at + 44, (uint)(n.PongReceivedMs / 1000));
        PutText(m, at + 48, IpLength, n.Ip);
        Put16(m, at + 94, tlsCluster ? n.TlsPort : n.TcpPort);
        Put16(m, at + 96, n.BusPort);
        Put16(m, at + 98, (ushort)n.Flags);
        Put16(m, at + 100, tlsCluster ? n.TcpPort : n.TlsPort);
    }

    /// <summary>The ping extensions this node sends: hostname, human name, client addresses, forgotten nodes, shard id.</summary>
    private List<(PingExtensionType Type, byte[] Data)> PingExtensions()
    {
        var list = new List<(PingExtensionType, byte[])>();
        void Text(PingExtensionType t, string v)
        {
            if (v.Length == 0) return;
            var data = new byte[Encoding.UTF8.GetByteCount(v) + 1];
            Encoding.UTF8.GetBytes(v, data);
            list.Add((t, data));
        }
        Text(PingExtensionType.Hostname, Myself.Hostname);
        Text(PingExtensionType.HumanNodename, Myself.HumanNodename);
        Text(PingExtensionType.ClientIpv4, Myself.AnnounceClientIpv4);
        Text(PingExtensionType.ClientIpv6, Myself.AnnounceClientIpv6);
        long now = NowUnix;
        foreach (var (id, expire) in _blacklist)
        {
            if (expire < now) continue;
            var data = new byte[NameLength + 8];
            PutName(data, 0, id);
            Put64(data, NameLength, (ulong)(expire - now));
            list.Add((PingExtensionType.ForgottenNode, data));
        }
        var shard = new byte[NameLength];
        PutName(shard, 0, Myself.ShardId);
        list.Add((PingExtensionType.ShardId, shard));
        return list;
    }

    /// <summary>Sends a PING, PONG or MEET with gossip about other nodes (Valkey's clusterSendPing).</summary>
    internal void SendPing(ClusterLink link, BusMessageType type)
    {
        long built = ++_pingsBuilt;
        int freshNodes = _nodes.Count - 2;
        // About a tenth of the nodes per message (at least 3): enough for failure reports to reach
        // a majority within the report validity, as Valkey computes.
        int wanted = Math.Max(3, _nodes.Count / 10);
        if (wanted > freshNodes) wanted = freshNodes;
        int pfailWanted = _pfailNodes;
        var gossip = new List<ClusterNode>(Math.Max(0, wanted) + pfailWanted);
        if (!link.Inbound && type == BusMessageType.Ping) link.Node!.PingSentMs = NowMs;
        int maxIterations = wanted * 3;
        while (freshNodes > 0 && gossip.Count < wanted && maxIterations-- > 0)
        {
            var n = RandomNode();
            if (n == Myself || n == link.Node) continue;
            if (n.TimedOut) continue; // PFAIL nodes are added below
            if (n.Has(NodeFlags.Handshake | NodeFlags.NoAddress) || (n.Link is null && n.SlotCount == 0))
            {
                freshNodes--;
                continue;
            }
            if (n.LastInPingGossip == built) continue;
            gossip.Add(n);
            n.LastInPingGossip = built;
            freshNodes--;
        }
        if (pfailWanted > 0)
        {
            foreach (var n in _nodes.Values)
            {
                if (pfailWanted == 0) break;
                if (n.Has(NodeFlags.Handshake | NodeFlags.NoAddress) || !n.TimedOut) continue;
                gossip.Add(n);
                pfailWanted--;
            }
        }
        bool withExtensions = link.Node is { } target && target.Has(NodeFlags.ExtensionsSupported);
        var extensions = withExtensions ? PingExtensions() : null;
        int length = HeaderLength + gossip.Count * GossipLength;
        if (extensions is not null) foreach (var (_, data) in extensions) length += ExtensionSize(data.Length);
        var m = NewMessage(type, length);
        for (int i = 0; i < gossip.Count; i++) PutGossip(m, i, gossip[i], Config.TlsCluster);
        if (extensions is not null)
        {
            int at = HeaderLength + gossip.Count * GossipLength;
            foreach (var (t, data) in extensions)
            {
                int size = ExtensionSize(data.Length);
                Put32(m, at, (uint)size);
                Put16(m, at + 4, (ushort)t);
                data.CopyTo(m, at + 8);
                at += size;
            }
            Put16(m, OffExtensions, extensions.Count);
        }
        // The flag also tells a peer we understand extensions, so it sends us its own.
        m[OffMFlags] |= FlagExtData;
        Put16(m, OffCount, gossip.Count);
        SendMessage(link, m);
    }

    /// <summary>PONGs to every connected node (or only this shard's replicas), to spread a configuration change at once.</summary>
    internal void BroadcastPong(bool localReplicasOnly)
    {
        foreach (var n in _nodes.Values.ToList())
        {
            if (n.Link is null || n == Myself || n.InHandshake) continue;
            if (localReplicasOnly)
            {
                bool local = n.IsReplica && n.ReplicaOf is { } p && (p == Myself || p == Myself.ReplicaOf);
                if (!local) continue;
            }
            SendPing(n.Link, BusMessageType.Pong);
        }
    }

    private byte[] PublishMessage(ReadOnlySpan<byte> channel, ReadOnlySpan<byte> message, bool light, bool sharded)
    {
        ushort type = (ushort)(sharded ? BusMessageType.PublishShard : BusMessageType.Publish);
        int bodyAt = light ? LightHeaderLength : HeaderLength;
        int length = bodyAt + 8 + channel.Length + message.Length;
        byte[] m;
        if (light)
        {
            m = new byte[length];
            m[0] = (byte)'R'; m[1] = (byte)'C'; m[2] = (byte)'m'; m[3] = (byte)'b';
            Put32(m, OffTotalLength, (uint)length);
            Put16(m, OffVersion, ProtocolVersion);
            Put16(m, OffType, type | LightFlag);
        }
        else
        {
            m = NewMessage((BusMessageType)type, length);
        }
        Put32(m, bodyAt, (uint)channel.Length);
        Put32(m, bodyAt + 4, (uint)message.Length);
        channel.CopyTo(m.AsSpan(bodyAt + 8));
        message.CopyTo(m.AsSpan(bodyAt + 8 + channel.Length));
        return m;
    }

    /// <summary>PUBLISH reaches every node, SPUBLISH the nodes of this shard (Valkey's clusterPropagatePublish).</summary>
    public void PropagatePublish(ReadOnlySpan<byte> channel, ReadOnlySpan<byte> message, bool sharded)
    {
        byte[]? light = null, full = null;
        IEnumerable<ClusterNode> targets = sharded ? (IEnumerable<ClusterNode>?)NodesInShard(Myself) ?? Array.Empty<ClusterNode>() : _nodes.Values;
        foreach (var n in targets)
        {
            if (n.Has(NodeFlags.Myself | NodeFlags.Handshake)) continue;
            if (n.Has(NodeFlags.LightHeaderSupported)) SendMessage(n.Link, light ??= PublishMessage(channel, message, true, sharded));
            else SendMessage(n.Link, full ??= PublishMessage(channel, message, false, sharded));
        }
    }

    private void SendFail(string nodeName)
    {
        var m = NewMessage(BusMessageType.Fail, HeaderLength + NameLength);
        PutName(m, HeaderLength, nodeName);
        BroadcastMessage(m);
    }

    /// <summary>Tells a node with an old view which node owns its slots now (an UPDATE message).</summary>
    private void SendUpdate(ClusterLink? link, ClusterNode node)
    {
        if (link is null) return;
        var m = NewMessage(BusMessageType.Update, HeaderLength + UpdateBodyLength);
        Put64(m, HeaderLength, node.ConfigEpoch);
        PutName(m, HeaderLength + 8, node.Name);
        int slotsAt = HeaderLength + 8 + NameLength;
        for (int i = 0; i < SlotBytes; i++)
            m[slotsAt + i] = (byte)(node.Slots[i] & ~_ownerNotClaiming[i]); // not the slots it stopped claiming
        SendMessage(link, m);
    }

    private void RequestFailoverAuth()
    {
        var m = NewMessage(BusMessageType.FailoverAuthRequest, HeaderLength);
        // A manual failover asks primaries to vote although our primary is up.
        if (_manualFailoverEndMs != 0) m[OffMFlags] |= FlagForceAck;
        BroadcastMessage(m);
    }

    private void SendFailoverAuth(ClusterNode node)
    {
        if (node.Link is null) return;
        SendMessage(node.Link, NewMessage(BusMessageType.FailoverAuthAck, HeaderLength));
    }

    private void SendMfStart(ClusterNode node)
    {
        if (node.Link is null) return;
        SendMessage(node.Link, NewMessage(BusMessageType.MfStart, HeaderLength));
    }

    // ----- receiving -----

    /// <summary>Valkey's clusterIsValidPacket: the declared length matches the type's layout.</summary>
    private bool IsValidPacket(ReadOnlySpan<byte> m, out ushort type, out bool light)
    {
        uint total = U32(m, OffTotalLength);
        ushort raw = U16(m, OffType);
        light = IsLight(raw);
        type = (ushort)(raw & ~LightFlag);
        if (light && type != (ushort)BusMessageType.Publish && type != (ushort)BusMessageType.PublishShard)
        {
            Log.Notice($"Packet of type '{TypeName(type)}' ({type}) does not support light cluster header. Marking packet as invalid.");
            return false;
        }
        if (type < TypeCount) MessagesReceived[type]++;
        if (total < 16 || total > m.Length) return false;
        if (U16(m, OffVersion) != ProtocolVersion) return false;
        if (type == DropPacketFilter)
        {
            Log.Warning("Dropping packet that matches debug drop filter");
            return false;
        }
        long expected;
        switch ((BusMessageType)type)
        {
            case BusMessageType.Ping or BusMessageType.Pong or BusMessageType.Meet:
            {
                int count = U16(m, OffCount);
                expected = HeaderLength + (long)count * GossipLength;
                if ((m[OffMFlags] & FlagExtData) != 0)
                {
                    int extensions = U16(m, OffExtensions);
                    long at = expected;
                    while (extensions-- > 0)
                    {
                        if (at + 8 > total)
                        {
                            Log.Warning($"Received invalid {TypeName(type)} packet with extension data that exceeds total packet length ({total})");
                            return false;
                        }
                        uint extLength = U32(m, (int)at);
                        if (extLength % 8 != 0 || extLength < 8)
                        {
                            Log.Warning($"Received a {TypeName(type)} packet without proper padding ({extLength} bytes)");
                            return false;
                        }
                        if (total - expected < extLength)
                        {
                            Log.Warning($"Received invalid {TypeName(type)} packet with extension data that exceeds total packet length ({total})");
                            return false;
                        }
                        expected += extLength;
                        at += extLength;
                    }
                }
                break;
            }
            case BusMessageType.Fail:
                expected = HeaderLength + NameLength;
                break;
            case BusMessageType.Publish or BusMessageType.PublishShard:
            {
                int body = light ? LightHeaderLength : HeaderLength;
                if (total < body + 8) return false;
                expected = body + 8L + U32(m, body) + U32(m, body + 4);
                break;
            }
            case BusMessageType.FailoverAuthRequest or BusMessageType.FailoverAuthAck or BusMessageType.MfStart:
                expected = HeaderLength;
                break;
            case BusMessageType.Update:
                expected = HeaderLength + UpdateBodyLength;
                break;
            case BusMessageType.Module:
                if (total < HeaderLength + 13) return false;
                expected = HeaderLength + 13L + U32(m, HeaderLength + 8);
                break;
            default:
                expected = total;
                break;
        }
        if (total != expected)
        {
            Log.Warning($"Received invalid {TypeName(type)} packet of length {total} but expected length {expected}");
            return false;
        }
        return true;
    }

    private ClusterNode? SenderOf(ClusterLink link, ReadOnlySpan<byte> m)
    {
        if (link.Node is { InHandshake: false } known) return known;
        var sender = LookupNode(Name(m, OffSender));
        // Known node, unknown link: only inbound links start without a node.
        if (sender is not null && link.Node is null) SetInboundLink(sender, link);
        return sender;
    }

    private string PeerIp(ClusterLink link, ReadOnlySpan<byte> m)
    {
        string announced = Text(m, OffIp, IpLength);
        if (announced.Length > 0) return announced;
        var address = link.RemoteAddress;
        if (address is null) return "";
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return address.ToString();
    }

    private void PortsFromHeader(ReadOnlySpan<byte> m, out int tls, out int tcp)
    {
        if (Config.TlsCluster)
        {
            tls = U16(m, OffPort);
            tcp = U16(m, OffPPort);
        }
        else
        {
            tls = U16(m, OffPPort);
            tcp = U16(m, OffPort);
        }
    }

    /// <summary>
    /// Handles one received message (Valkey's clusterProcessPacket). Returns false when the link
    /// was freed while processing it.
    /// </summary>
    internal bool ProcessPacket(ClusterLink link, ReadOnlySpan<byte> m)
    {
        if (!IsValidPacket(m, out ushort typeCode, out bool light))
        {
            if (CloseLinkOnPacketDrop && typeCode == DropPacketFilter)
            {
                FreeLink(link);
                Log.Warning($"Closing link for matching packet type {typeCode}");
                return false;
            }
            return true;
        }
        var type = (BusMessageType)typeCode;
        long now = NowMs;
        if (light)
        {
            if (link.Node is null || link.Node.InHandshake)
            {
                FreeLink(link);
                Log.Notice($"Closing link for node that sent a lightweight message of type {typeCode} as its first message on the link");
                return false;
            }
            link.Node.DataReceivedMs = now;
            ProcessPublish(m, LightHeaderLength, type == BusMessageType.PublishShard);
            return true;
        }

        var flags = (NodeFlags)U16(m, OffFlags);
        ulong senderCurrentEpoch = 0, senderConfigEpoch = 0;
        var sender = SenderOf(link, m);
        bool claimsPrimary = IsNullName(m, OffReplicaOf);
        bool wasReplica = sender is { IsReplica: true };
        bool wasPrimary = sender is { IsPrimary: true };

        if (sender is not null && (m[OffMFlags] & FlagExtData) != 0) sender.Flags |= NodeFlags.ExtensionsSupported;
        if (sender is not null)
        {
            if ((flags & NodeFlags.LightHeaderSupported) != 0) sender.Flags |= NodeFlags.LightHeaderSupported;
            else sender.Flags &= ~NodeFlags.LightHeaderSupported;
            // Any traffic counts as a sign of life (a node busy with pub/sub may answer pings late).
            sender.DataReceivedMs = now;
        }

        if (sender is { InHandshake: false })
        {
            senderCurrentEpoch = U64(m, OffCurrentEpoch);
            senderConfigEpoch = U64(m, OffConfigEpoch);
            if (senderCurrentEpoch > CurrentEpoch) CurrentEpoch = senderCurrentEpoch;
            if (claimsPrimary && senderConfigEpoch > sender.ConfigEpoch)
            {
                sender.ConfigEpoch = senderConfigEpoch;
                DoBeforeSleep(Todo.SaveConfig | Todo.FsyncConfig);
            }
            sender.ReplOffset = (long)U64(m, OffOffset);
            sender.ReplOffsetTimeMs = now;
            // Manual failover: our paused primary tells us the offset to reach.
            if (_manualFailoverEndMs != 0 && Myself.IsReplica && Myself.ReplicaOf == sender &&
                (m[OffMFlags] & FlagPaused) != 0 && _manualFailoverPrimaryOffset == -1)
            {
                _manualFailoverPrimaryOffset = sender.ReplOffset;
                DoBeforeSleep(Todo.HandleManualFailover);
                Log.Notice($"Received replication offset for paused primary manual failover: {_manualFailoverPrimaryOffset}");
            }
        }

        if (type is BusMessageType.Ping or BusMessageType.Meet)
        {
            // Other nodes reach us at the address they connected to: that is ours, unless announced.
            if ((type == BusMessageType.Meet || Myself.Ip.Length == 0) && Config.ClusterAnnounceIp.Length == 0)
            {
                var local = link.LocalAddress;
                if (local is not null)
                {
                    if (local.IsIPv4MappedToIPv6) local = local.MapToIPv4();
                    string ip = local.ToString();
                    if (ip != Myself.Ip)
                    {
                        Myself.Ip = ip;
                        Log.Notice($"IP address for this node updated to {Myself.Ip}");
                        DoBeforeSleep(Todo.SaveConfig);
                    }
                }
            }
            if (sender is null && type == BusMessageType.Meet)
            {
                // A node we did not know introduced itself: add it; its real name comes with our PONG's answer.
                var node = CreateNode(null, NodeFlags.Handshake);
                node.Ip = PeerIp(link, m);
                PortsFromHeader(m, out int tls, out int tcp);
                node.TlsPort = tls;
                node.TcpPort = tcp;
                node.BusPort = U16(m, OffBusPort);
                if ((m[OffMFlags] & FlagExtData) != 0) node.Flags |= NodeFlags.ExtensionsSupported;
                SetInboundLink(node, link);
                AddNode(node);
                DoBeforeSleep(Todo.SaveConfig);
                // A MEET is trusted: its gossip may introduce the rest of the cluster.
                ProcessGossip(m, link, null);
            }
            SendPing(link, BusMessageType.Pong);
        }

        if (type is BusMessageType.Ping or BusMessageType.Pong or BusMessageType.Meet)
        {
            Log.Debug($"{TypeName(typeCode)} packet received: {link.Node?.Name ?? "NULL"}");
            if (sender is not null && sender.Has(NodeFlags.Meet))
            {
                sender.Flags &= ~NodeFlags.Meet;
                Log.Notice($"Successfully completed handshake with {sender}");
            }
            if (!link.Inbound)
            {
                var linkNode = link.Node!;
                if (linkNode.InHandshake)
                {
                    if (sender is not null)
                    {
                        // We met a node we already know under its real name: keep that one.
                        Log.Verbose($"Handshake: we already know node {sender}, updating the address if needed.");
                        if (UpdateAddressIfNeeded(sender, link, m)) DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
                        DeleteNode(linkNode);
                        return false;
                    }
                    RenameNode(linkNode, Name(m, OffSender));
                    Log.Debug($"Handshake with node {linkNode.Name} completed.");
                    linkNode.Flags &= ~NodeFlags.Handshake;
                    linkNode.Flags |= flags & (NodeFlags.Primary | NodeFlags.Replica);
                    DoBeforeSleep(Todo.SaveConfig);
                }
                else if (linkNode.Name != Name(m, OffSender))
                {
                    // Someone else answers at that address now.
                    Log.Notice($"PONG contains mismatching sender ID. About node {linkNode.Name} ({linkNode.HumanNodename}) in shard {linkNode.ShardId} added {now - linkNode.CreatedMs} ms ago, having flags {(int)linkNode.Flags}");
                    linkNode.Flags |= NodeFlags.NoAddress;
                    linkNode.Ip = "";
                    linkNode.TcpPort = linkNode.TlsPort = linkNode.BusPort = 0;
                    FreeLink(link);
                    DoBeforeSleep(Todo.SaveConfig);
                    return false;
                }
            }

            // NOFAILOVER is announced by the node itself (replica ranking needs the current value).
            if (sender is not null)
            {
                sender.Flags &= ~NodeFlags.NoFailover;
                sender.Flags |= flags & NodeFlags.NoFailover;
            }

            if (sender is { InHandshake: false } && type == BusMessageType.Ping && UpdateAddressIfNeeded(sender, link, m))
                DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);

            if (!link.Inbound && type == BusMessageType.Pong)
            {
                var linkNode = link.Node!;
                linkNode.PongReceivedMs = now;
                linkNode.PingSentMs = 0;
                // PFAIL ends by itself; FAIL only on the conditions of ClearNodeFailureIfNeeded.
                if (linkNode.TimedOut)
                {
                    linkNode.Flags &= ~NodeFlags.PFail;
                    DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
                }
                else if (linkNode.Failed)
                {
                    ClearNodeFailureIfNeeded(linkNode);
                }
            }

            if (sender is not null) ProcessRoleChange(sender, m, claimsPrimary, wasPrimary, senderConfigEpoch);

            if (sender is not null && claimsPrimary &&
                (wasReplica || !sender.Slots.AsSpan().SequenceEqual(m.Slice(OffSlots, SlotBytes))))
            {
                var claimed = m.Slice(OffSlots, SlotBytes).ToArray();
                UpdateSlotsConfigWith(sender, senderConfigEpoch, claimed);
                // The sender claims slots a newer configuration gives to another node: tell it.
                for (int j = 0; j < KeySlot.Count; j++)
                {
                    if (!TestBit(claimed, j)) continue;
                    if (_slots[j] == sender || SlotUnclaimed(j)) continue;
                    if (_slots[j]!.ConfigEpoch > senderConfigEpoch)
                    {
                        Log.Verbose($"Node {sender.Name} has old slots configuration, sending an UPDATE message about {_slots[j]!.Name}");
                        SendUpdate(sender.Link, _slots[j]!);
                        break;
                    }
                }
            }

            if (sender is not null && Myself.IsPrimary && sender.IsPrimary && senderConfigEpoch == Myself.ConfigEpoch)
                HandleConfigEpochCollision(sender);

            if (sender is not null)
            {
                ProcessGossip(m, link, sender);
                ProcessPingExtensions(m, sender);
            }
        }
        else if (type == BusMessageType.Fail)
        {
            string about = Name(m, HeaderLength);
            if (sender is not null)
            {
                var failing = LookupNode(about);
                if (failing is not null && !failing.Has(NodeFlags.Fail | NodeFlags.Myself))
                {
                    Log.Notice($"FAIL message received from {Name(m, OffSender)} ({sender.HumanNodename}) about {about} ({failing.HumanNodename})");
                    failing.Flags |= NodeFlags.Fail;
                    failing.FailTimeMs = now;
                    failing.Flags &= ~NodeFlags.PFail;
                    DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
                }
            }
            else
            {
                Log.Notice($"Ignoring FAIL message from unknown node {Name(m, OffSender)} about {about}");
            }
        }
        else if (type is BusMessageType.Publish or BusMessageType.PublishShard)
        {
            if (sender is null) return true;
            ProcessPublish(m, HeaderLength, type == BusMessageType.PublishShard);
        }
        else if (type == BusMessageType.FailoverAuthRequest)
        {
            if (sender is null) return true;
            SendFailoverAuthIfNeeded(sender, m);
        }
        else if (type == BusMessageType.FailoverAuthAck)
        {
            if (sender is null) return true;
            // Votes count from primaries with slots, for this election's epoch or later.
            if (sender.IsVotingPrimary && senderCurrentEpoch >= _failoverAuthEpoch)
            {
                _failoverAuthCount++;
                DoBeforeSleep(Todo.HandleFailover);
            }
        }
        else if (type == BusMessageType.MfStart)
        {
            // Only a replica of ours may ask us to pause for its manual failover.
            if (sender is null || sender.ReplicaOf != Myself) return true;
            ResetManualFailover();
            _manualFailoverEndMs = now + ManualFailoverTimeoutMs;
            _manualFailoverReplica = sender;
            _server.Clients.SetWritePause(Clients.WritePause.ClusterFailover, true);
            Log.Notice($"Manual failover requested by replica {sender}.");
            // This ping carries the offset at which writes stopped.
            SendPing(link, BusMessageType.Ping);
        }
        else if (type == BusMessageType.Update)
        {
            if (sender is null) return true;
            ulong reported = U64(m, HeaderLength);
            var n = LookupNode(Name(m, HeaderLength + 8));
            if (n is null || n.ConfigEpoch >= reported) return true;
            if (n.IsReplica) SetNodeAsPrimary(n);
            n.ConfigEpoch = reported;
            DoBeforeSleep(Todo.SaveConfig | Todo.FsyncConfig);
            UpdateSlotsConfigWith(n, reported, m.Slice(HeaderLength + 8 + NameLength, SlotBytes).ToArray());
        }
        else if (type == BusMessageType.Module)
        {
            // No modules here: nothing subscribes to module messages.
        }
        else
        {
            Log.Warning($"Received unknown packet type: {typeCode}");
        }
        return !link.Freed;
    }

    private void ProcessPublish(ReadOnlySpan<byte> m, int bodyAt, bool sharded)
    {
        var kind = sharded ? PubSub.ChannelKind.Shard : PubSub.ChannelKind.Global;
        if (_server.PubSub.ChannelCount(kind) == 0 && (sharded || _server.PubSub.PatternCount == 0)) return;
        int channelLength = (int)U32(m, bodyAt);
        int messageLength = (int)U32(m, bodyAt + 4);
        var channel = m.Slice(bodyAt + 8, channelLength);
        var message = m.Slice(bodyAt + 8 + channelLength, messageLength);
        _server.PubSub.Publish(channel, message, kind);
    }

    /// <summary>A node tells its role: primary, or replica of a (possibly new) primary.</summary>
    private void ProcessRoleChange(ClusterNode sender, ReadOnlySpan<byte> m, bool claimsPrimary, bool wasPrimary, ulong senderConfigEpoch)
    {
        Log.Debug($"node {sender} announces that it is a {(claimsPrimary ? "primary" : "replica")} in shard {sender.ShardId}");
        if (claimsPrimary)
        {
            SetNodeAsPrimary(sender);
            return;
        }
        var claimedPrimary = LookupNode(Name(m, OffReplicaOf));
        if (wasPrimary)
        {
            // A primary turned into a replica.
            if (claimedPrimary is not null && SameShard(claimedPrimary, sender))
            {
                if (sender.ConfigEpoch > senderConfigEpoch)
                {
                    Log.Notice($"Ignore stale message from {sender} in shard {sender.ShardId}; gossip config epoch: {senderConfigEpoch}, current config epoch: {sender.ConfigEpoch}");
                }
                else
                {
                    // Its new primary may still be a replica in our view: promote it in the view.
                    SetNodeAsPrimary(claimedPrimary);
                    claimedPrimary.ConfigEpoch = senderConfigEpoch;
                    Log.Notice($"A failover occurred in shard {sender.ShardId}; node {sender} failed over to node {claimedPrimary} with a config epoch of {claimedPrimary.ConfigEpoch}");
                }
            }
            else
            {
                int slots = DeleteNodeSlots(sender);
                Log.Notice($"Node {sender} is no longer primary of shard {sender.ShardId}; removed all {slots} slot(s) it used to own");
                if (claimedPrimary is not null) Log.Notice($"Node {sender} is now part of shard {claimedPrimary.ShardId}");
            }
            sender.Flags &= ~(NodeFlags.Primary | NodeFlags.MigrateTo);
            sender.Flags |= NodeFlags.Replica;
            DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
        }
        if (claimedPrimary is not null && sender.ReplicaOf != claimedPrimary)
        {
            sender.ReplicaOf?.RemoveReplica(sender);
            Log.Notice($"Node {sender} is now a replica of node {claimedPrimary} in shard {claimedPrimary.ShardId}");
            claimedPrimary.AddReplica(sender);
            sender.ReplicaOf = claimedPrimary;
            // Our primary became a replica of another node: follow the chain up, so there are no sub-replicas.
            if (Myself.ReplicaOf is { ReplicaOf: { } grand } && grand != Myself)
            {
                Log.Notice($"I'm a sub-replica! Reconfiguring myself as a replica of {grand.Name} from {Myself.ReplicaOf.Name}");
                SetPrimary(grand, closeSlots: true, fullSyncRequired: !SameShard(grand, Myself));
                DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
            }
            // Only now may the shard id follow the primary's (the sync decision above depends on it).
            UpdateShardId(sender, claimedPrimary.ShardId);
            DoBeforeSleep(Todo.SaveConfig);
        }
    }

    /// <summary>
    /// The node is reachable at another address than we knew (it told us in a PING over its own
    /// link): update it and reconnect. True when something changed (Valkey's nodeUpdateAddressIfNeeded).
    /// </summary>
    private bool UpdateAddressIfNeeded(ClusterNode node, ClusterLink link, ReadOnlySpan<byte> m)
    {
        if (link == node.Link) return false;
        string ip = PeerIp(link, m);
        if (ip.Length == 0) return false;
        int bus = U16(m, OffBusPort);
        PortsFromHeader(m, out int tls, out int tcp);
        if (node.TcpPort == tcp && node.BusPort == bus && node.TlsPort == tls && ip == node.Ip) return false;
        node.Ip = ip;
        node.TcpPort = tcp;
        node.TlsPort = tls;
        node.BusPort = bus;
        if (node.Link is { } l) FreeLink(l);
        node.Flags &= ~NodeFlags.NoAddress;
        Log.Notice($"Address updated for node {node}, now {node.Ip}:{DefaultPortOf(node)}");
        if (Myself.IsReplica && Myself.ReplicaOf == node) _server.Replication.SetPrimary(node.Ip, ReplicationPortOf(node));
        return true;
    }

    private int DefaultPortOf(ClusterNode n) => Config.TlsCluster ? n.TlsPort : n.TcpPort;
    private int ReplicationPortOf(ClusterNode n) => Config.TlsReplication ? n.TlsPort : n.TcpPort;

    /// <summary>The gossip section: failure reports about other nodes, fresher pong times, new nodes (Valkey's clusterProcessGossipSection).</summary>
    private void ProcessGossip(ReadOnlySpan<byte> m, ClusterLink link, ClusterNode? knownSender)
    {
        int count = U16(m, OffCount);
        // For a MEET from a new node this is the node just added for it (in handshake, so it reports
        // no failures), whose gossip we trust to introduce the rest of the cluster.
        var sender = link.Node ?? knownSender ?? LookupNode(Name(m, OffSender));
        int invalid = 0;
        for (int i = 0; i < count; i++)
        {
            int at = HeaderLength + i * GossipLength;
            string name = Name(m, at);
            if (IsValidName(name)) continue;
            invalid++;
            var raw = new StringBuilder();
            foreach (byte b in m.Slice(at, NameLength + 8)) raw.Append($"\\x{b:X2}");
            Log.Warning($"Received gossip about a node with invalid ID {name}. For debugging purposes, the 48 bytes including the invalid ID and 8 trailing bytes are: {raw}");
        }
        if (invalid > 0)
        {
            if (sender is not null) Log.Warning($"Node {sender} gossiped {invalid} nodes with invalid IDs.");
            else Log.Warning($"Unknown node gossiped {invalid} nodes with invalid IDs.");
            return;
        }
        long now = NowMs;
        for (int i = 0; i < count; i++)
        {
            int at = HeaderLength + i * GossipLength;
            var flags = (NodeFlags)U16(m, at + 98);
            string name = Name(m, at);
            string ip = Text(m, at + 48, IpLength);
            int port = U16(m, at + 94), pport = U16(m, at + 100), cport = U16(m, at + 96);
            int tls = Config.TlsCluster ? port : pport;
            int tcp = Config.TlsCluster ? pport : port;
            if (Log.Level <= Observability.LogLevel.Debug)
            {
                var fs = new StringBuilder();
                NodesFile.AppendFlags(fs, flags);
                Log.Debug($"GOSSIP {name} {ip}:{port}@{cport} {fs}");
            }
            var node = LookupNode(name);
            if (node is not null && node != Myself)
            {
                if (sender is not null && sender.IsVotingPrimary)
                {
                    if ((flags & (NodeFlags.Fail | NodeFlags.PFail)) != 0)
                    {
                        if (AddFailureReport(node, sender))
                            Log.Notice($"Node {sender} reported node {node} as not reachable.");
                        MarkNodeAsFailingIfNeeded(node);
                    }
                    else if (DeleteFailureReport(node, sender))
                    {
                        Log.Notice($"Node {sender} reported node {node} is back online.");
                    }
                }
                // Seen alive by others and nothing pending on our side: take their fresher pong time.
                if ((flags & (NodeFlags.Fail | NodeFlags.PFail)) == 0 && node.PingSentMs == 0 && FailureReportCount(node) == 0)
                {
                    long pong = (long)U32(m, at + 44) * 1000;
                    if (pong <= now + 500 && pong > node.PongReceivedMs) node.PongReceivedMs = pong;
                }
                // We cannot reach it but others can, at another address: try that one.
                if (node.Has(NodeFlags.Fail | NodeFlags.PFail) && (flags & NodeFlags.NoAddress) == 0 &&
                    (flags & (NodeFlags.Fail | NodeFlags.PFail)) == 0 &&
                    (!string.Equals(node.Ip, ip, StringComparison.OrdinalIgnoreCase) || node.TlsPort != tls || node.TcpPort != tcp || node.BusPort != cport))
                {
                    if (node.Link is { } l) FreeLink(l);
                    node.Ip = ip;
                    node.TcpPort = tcp;
                    node.TlsPort = tls;
                    node.BusPort = cport;
                    node.Flags &= ~NodeFlags.NoAddress;
                    Log.Notice($"Address updated for node {node}, now {node.Ip}:{DefaultPortOf(node)}");
                    if (Myself.IsReplica && Myself.ReplicaOf == node) _server.Replication.SetPrimary(node.Ip, ReplicationPortOf(node));
                }
            }
            else if (node is null)
            {
                // Learned from a node we trust; never by handshaking an address that may now be someone else's.
                if (sender is not null && (flags & NodeFlags.NoAddress) == 0 && !BlacklistContains(name))
                {
                    var added = CreateNode(name, flags);
                    added.Ip = ip;
                    added.TcpPort = tcp;
                    added.TlsPort = tls;
                    added.BusPort = cport;
                    AddNode(added);
                    AddNodeToShard(added.ShardId, added);
                }
            }
        }
    }

    /// <summary>Hostname, human name, client addresses, forgotten nodes and shard id from a ping's extensions.</summary>
    private void ProcessPingExtensions(ReadOnlySpan<byte> m, ClusterNode sender)
    {
        string? hostname = null, human = null, ipv4 = null, ipv6 = null, shardId = null;
        if ((m[OffMFlags] & FlagExtData) != 0)
        {
            int extensions = U16(m, OffExtensions);
            int at = HeaderLength + U16(m, OffCount) * GossipLength;
            while (extensions-- > 0)
            {
                int length = (int)U32(m, at);
                var type = (PingExtensionType)U16(m, at + 4);
                var data = m.Slice(at + 8, length - 8);
                switch (type)
                {
                    case PingExtensionType.Hostname: hostname = CString(data); break;
                    case PingExtensionType.HumanNodename: human = CString(data); break;
                    case PingExtensionType.ClientIpv4: ipv4 = CString(data); break;
                    case PingExtensionType.ClientIpv6: ipv6 = CString(data); break;
                    case PingExtensionType.ForgottenNode:
                    {
                        var forgotten = LookupNode(Name(data, 0));
                        if (forgotten is not null && forgotten != Myself && !(Myself.IsReplica && Myself.ReplicaOf == forgotten))
                        {
                            _blacklist[forgotten.Name] = NowUnix + (long)U64(data, NameLength);
                            DeleteNode(forgotten);
                            DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);
                        }
                        break;
                    }
                    case PingExtensionType.ShardId: shardId = Name(data, 0); break;
                    default: Log.Warning($"Received unknown extension type {(ushort)type}"); break;
                }
                at += length;
            }
        }
        // Absent extensions mean empty values (a node that stopped announcing a hostname).
        SetAnnounced(sender, hostname, human, ipv4, ipv6);
        // A node without shard ids (an older version): a replica follows its primary's.
        shardId ??= sender.TopPrimary().ShardId;
        UpdateShardId(sender, shardId);
    }

    private static string CString(ReadOnlySpan<byte> data)
    {
        int nul = data.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? data[..nul] : data);
    }
}
