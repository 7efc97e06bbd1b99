using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Protocol;
using Kvasir.Types;

namespace Kvasir.PubSub;

/// <summary>Which family a channel subscription belongs to: classic channels, or shard channels (SSUBSCRIBE).</summary>
public enum ChannelKind { Global, Shard }

/// <summary>
/// Pub/Sub state (Valkey's pubsub.c): channel → subscribers, pattern → subscribers, shard channel →
/// subscribers, and each client's own subscriptions. Messages go into the subscribers' reply
/// buffers under the data lock and their connections are signalled (DESIGN §3). Subscribers are
/// kept in subscription order, so delivery order is stable. Used under the data lock only.
/// </summary>
public sealed class PubSubRegistry
{
    private static readonly byte[] MessageWord = "message"u8.ToArray();
    private static readonly byte[] SMessageWord = "smessage"u8.ToArray();

    private readonly Dictionary<byte[], List<Client>> _channels = new(ByteArrayComparer.Instance);
    private readonly Dictionary<byte[], List<Client>> _shardChannels = new(ByteArrayComparer.Instance);
    private readonly Dictionary<byte[], List<Client>> _patterns = new(ByteArrayComparer.Instance);
    private readonly Dictionary<Client, Subscriptions> _byClient = new();

    // Pushes for the client whose command is executing wait until its reply is written (Valkey's
    // pending_push_messages): a PUBLISH to oneself inside MULTI or a script answers first.
    private readonly ReplyWriter _pendingPushes = new();
    private Client? _currentClient;
    private CommandDefinition? _executing;

    /// <summary>
    /// Cluster mode: the per-slot statistics that shard channel messages count for, null while
    /// cluster-slot-stats-enabled is off (set by the cluster state).
    /// </summary>
    internal Func<Cluster.SlotStatistics?>? ShardTraffic;
    private int _depth;

    /// <summary>One client's subscriptions, in subscription order.</summary>
    private sealed class Subscriptions
    {
        public readonly HashSet<byte[]> Channels = new(ByteArrayComparer.Instance);
        public readonly HashSet<byte[]> Patterns = new(ByteArrayComparer.Instance);
        public readonly HashSet<byte[]> ShardChannels = new(ByteArrayComparer.Instance);
        public bool IsEmpty => Channels.Count == 0 && Patterns.Count == 0 && ShardChannels.Count == 0;
    }

    /// <summary>Connects to the server's client lifecycle and INFO. Called once by the server.</summary>
    public void Attach(KvasirServer server)
    {
        // A client that leaves (or RESETs) keeps no subscription behind, and gets no unsubscribe messages.
        server.ClientClosing += c => UnsubscribeAll(c, notify: false);
        server.Clients.Resetting += c => UnsubscribeAll(c, notify: false);
        server.Stats.Gauges["pubsub_channels"] = () => _channels.Count;
        server.Stats.Gauges["pubsub_patterns"] = () => _patterns.Count;
        server.Stats.Gauges["pubsubshard_channels"] = () => _shardChannels.Count;
    }

    public int ChannelCount(ChannelKind kind) => Table(kind).Count;

    /// <summary>True when some client has a subscription (ACL changes then check subscribers' permissions).</summary>
    public bool HasAnySubscriber => _byClient.Count > 0;

    /// <summary>A client's channels (global and shard) and patterns, with whether each is a pattern.</summary>
    public IEnumerable<(byte[] Name, bool IsPattern)> SubscriptionsOf(Client c)
    {
        if (!_byClient.TryGetValue(c, out var subs)) yield break;
        foreach (var p in subs.Patterns) yield return (p, true);
        foreach (var ch in subs.Channels) yield return (ch, false);
        foreach (var ch in subs.ShardChannels) yield return (ch, false);
    }

    public int PatternCount => _patterns.Count;

    /// <summary>Subscribers of one channel (PUBSUB NUMSUB / SHARDNUMSUB).</summary>
    public int SubscriberCount(ChannelKind kind, ReadOnlySpan<byte> channel) =>
        Table(kind).GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(channel, out var list) ? list.Count : 0;

    /// <summary>The channels with subscribers, optionally only those matching a glob pattern (PUBSUB CHANNELS).</summary>
    public List<byte[]> ChannelNames(ChannelKind kind, ReadOnlySpan<byte> pattern, bool filtered)
    {
        var result = new List<byte[]>();
        foreach (var name in Table(kind).Keys)
            if (!filtered || GlobPattern.Match(pattern, name)) result.Add(name);
        return result;
    }

    private Dictionary<byte[], List<Client>> Table(ChannelKind kind) => kind == ChannelKind.Shard ? _shardChannels : _channels;

    private static HashSet<byte[]> Own(Subscriptions s, ChannelKind kind) => kind == ChannelKind.Shard ? s.ShardChannels : s.Channels;

    /// <summary>Channels + patterns: the count subscribe/unsubscribe/psubscribe/punsubscribe messages carry.</summary>
    private int ClassicCount(Client c) => _byClient.TryGetValue(c, out var s) ? s.Channels.Count + s.Patterns.Count : 0;

    private int ShardCount(Client c) => _byClient.TryGetValue(c, out var s) ? s.ShardChannels.Count : 0;

    private int CountFor(Client c, ChannelKind kind) => kind == ChannelKind.Shard ? ShardCount(c) : ClassicCount(c);

    private Subscriptions For(Client c)
    {
        if (!_byClient.TryGetValue(c, out var s)) _byClient[c] = s = new Subscriptions();
        return s;
    }

    // ----- subscribing -----

    /// <summary>SUBSCRIBE / SSUBSCRIBE of one channel; always confirms with a message. True when newly subscribed.</summary>
    public bool Subscribe(Client c, ReadOnlySpan<byte> channel, ChannelKind kind)
    {
        var own = Own(For(c), kind);
        bool added = !own.GetAlternateLookup<ReadOnlySpan<byte>>().Contains(channel);
        if (added)
        {
            var name = channel.ToArray();
            own.Add(name);
            AddSubscriber(Table(kind), name, c);
        }
        WriteCountMessage(c, kind == ChannelKind.Shard ? "ssubscribe"u8 : "subscribe"u8, channel, false, CountFor(c, kind));
        MarkPubSub(c);
        return added;
    }

    /// <summary>PSUBSCRIBE of one pattern; always confirms. True when newly subscribed.</summary>
    public bool SubscribePattern(Client c, ReadOnlySpan<byte> pattern)
    {
        var own = For(c).Patterns;
        bool added = !own.GetAlternateLookup<ReadOnlySpan<byte>>().Contains(pattern);
        if (added)
        {
            var name = pattern.ToArray();
            own.Add(name);
            AddSubscriber(_patterns, name, c);
        }
        WriteCountMessage(c, "psubscribe"u8, pattern, false, ClassicCount(c));
        MarkPubSub(c);
        return added;
    }

    /// <summary>UNSUBSCRIBE / SUNSUBSCRIBE of one channel (confirmed even when not subscribed).</summary>
    public void Unsubscribe(Client c, ReadOnlySpan<byte> channel, ChannelKind kind, bool notify = true)
    {
        if (_byClient.TryGetValue(c, out var s) && Own(s, kind).GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(channel, out var name))
        {
            Own(s, kind).Remove(name);
            RemoveSubscriber(Table(kind), name, c);
        }
        if (notify) WriteCountMessage(c, kind == ChannelKind.Shard ? "sunsubscribe"u8 : "unsubscribe"u8, channel, false, CountFor(c, kind));
    }

    /// <summary>PUNSUBSCRIBE of one pattern (confirmed even when not subscribed).</summary>
    public void UnsubscribePattern(Client c, ReadOnlySpan<byte> pattern, bool notify = true)
    {
        if (_byClient.TryGetValue(c, out var s) && s.Patterns.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(pattern, out var name))
        {
            s.Patterns.Remove(name);
            RemoveSubscriber(_patterns, name, c);
        }
        if (notify) WriteCountMessage(c, "punsubscribe"u8, pattern, false, ClassicCount(c));
    }

    /// <summary>UNSUBSCRIBE / SUNSUBSCRIBE without arguments: every channel, or one message with a null channel when none.</summary>
    public void UnsubscribeAllChannels(Client c, ChannelKind kind, bool notify)
    {
        int count = 0;
        if (_byClient.TryGetValue(c, out var s))
        {
            var own = Own(s, kind);
            foreach (var name in own.ToArray())
            {
                Unsubscribe(c, name, kind, notify);
                count++;
            }
        }
        if (notify && count == 0) WriteCountMessage(c, kind == ChannelKind.Shard ? "sunsubscribe"u8 : "unsubscribe"u8, default, true, CountFor(c, kind));
    }

    /// <summary>PUNSUBSCRIBE without arguments.</summary>
    public void UnsubscribeAllPatterns(Client c, bool notify)
    {
        int count = 0;
        if (_byClient.TryGetValue(c, out var s))
        {
            foreach (var name in s.Patterns.ToArray())
            {
                UnsubscribePattern(c, name, notify);
                count++;
            }
        }
        if (notify && count == 0) WriteCountMessage(c, "punsubscribe"u8, default, true, ClassicCount(c));
    }

    /// <summary>After an unsubscribe command: a client left with no subscription leaves pub/sub mode.</summary>
    public void UpdateMode(Client c)
    {
        if (_byClient.TryGetValue(c, out var s) && !s.IsEmpty) return;
        _byClient.Remove(c);
        c.Flags &= ~ClientFlags.PubSub;
    }

    /// <summary>Drops every subscription of a client (disconnect, RESET), silently.</summary>
    public void UnsubscribeAll(Client c, bool notify)
    {
        if (!_byClient.ContainsKey(c)) return;
        UnsubscribeAllChannels(c, ChannelKind.Global, notify);
        UnsubscribeAllChannels(c, ChannelKind.Shard, notify);
        UnsubscribeAllPatterns(c, notify);
        UpdateMode(c);
    }

    private static void MarkPubSub(Client c) => c.Flags |= ClientFlags.PubSub;

    private void AddSubscriber(Dictionary<byte[], List<Client>> table, byte[] name, Client c)
    {
        if (!table.TryGetValue(name, out var list)) table[name] = list = new List<Client>(1);
        list.Add(c);
        RefreshCounts(c);
    }

    private void RemoveSubscriber(Dictionary<byte[], List<Client>> table, byte[] name, Client c)
    {
        if (table.TryGetValue(name, out var list))
        {
            list.Remove(c);
            // The last subscriber gone: the channel disappears, so idle channels cost nothing.
            if (list.Count == 0) table.Remove(name);
        }
        RefreshCounts(c);
    }

    /// <summary>CLIENT LIST sub/psub/ssub.</summary>
    private void RefreshCounts(Client c)
    {
        if (_byClient.TryGetValue(c, out var s))
        {
            c.Subscriptions = s.Channels.Count;
            c.PatternSubscriptions = s.Patterns.Count;
            c.ShardSubscriptions = s.ShardChannels.Count;
        }
        else c.Subscriptions = c.PatternSubscriptions = c.ShardSubscriptions = 0;
    }

    // ----- publishing -----

    /// <summary>PUBLISH / SPUBLISH: delivers to the channel's subscribers, then (not for shard channels)
    /// to every matching pattern's subscribers. Returns how many deliveries were made.</summary>
    public int Publish(ReadOnlySpan<byte> channel, ReadOnlySpan<byte> message, ChannelKind kind = ChannelKind.Global)
    {
        int receivers = 0;
        if (Table(kind).GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(channel, out var subscribers))
        {
            var word = kind == ChannelKind.Shard ? SMessageWord : MessageWord;
            // CLUSTER SLOT-STATS: a shard channel's messages count for its slot's network-bytes-out.
            var traffic = kind == ChannelKind.Shard ? ShardTraffic?.Invoke() : null;
            int slot = traffic is null ? -1 : Cluster.KeySlot.Of(channel);
            // ">3\r\n" (or "*3\r\n") and three bulk strings, the same in RESP2 and RESP3.
            long messageBytes = traffic is null ? 0 : 4 + BulkSize(word.Length) + BulkSize(channel.Length) + BulkSize(message.Length);
            foreach (var c in subscribers)
            {
                var r = BeginPush(c, 3);
                r.WriteBulk(word);
                r.WriteBulk(channel);
                r.WriteBulk(message);
                // A publisher subscribed itself counts its message with its command's reply.
                if (traffic is not null && c != _currentClient) traffic.AddTraffic(slot, 0, messageBytes);
                EndPush(c, r);
                receivers++;
            }
        }
        if (kind == ChannelKind.Shard || _patterns.Count == 0) return receivers;
        foreach (var (pattern, clients) in _patterns)
        {
            if (!GlobPattern.Match(pattern, channel)) continue;
            foreach (var c in clients)
            {
                var r = BeginPush(c, 4);
                r.WriteBulk("pmessage"u8);
                r.WriteBulk(pattern);
                r.WriteBulk(channel);
                r.WriteBulk(message);
                EndPush(c, r);
                receivers++;
            }
        }
        return receivers;
    }

    private static long BulkSize(int length) => 1 + length.ToString(System.Globalization.CultureInfo.InvariantCulture).Length + 2 + length + 2;

    /// <summary>
    /// Cluster mode: this shard no longer serves <paramref name="slot"/>, so the subscribers of its
    /// shard channels are unsubscribed, each told with an sunsubscribe message (Valkey's
    /// pubsubShardUnsubscribeAllChannelsInSlot).
    /// </summary>
    public void UnsubscribeShardSlot(int slot)
    {
        if (_shardChannels.Count == 0) return;
        foreach (var (name, clients) in _shardChannels.ToArray())
        {
            if (Cluster.KeySlot.Of(name) != slot) continue;
            foreach (var c in clients.ToArray())
            {
                Unsubscribe(c, name, ChannelKind.Shard, notify: true);
                UpdateMode(c);
                c.Transport?.OutputAvailable();
            }
        }
    }

    /// <summary>True when at least one pattern or channel subscription exists (keyspace events skip their work otherwise).</summary>
    public bool HasSubscribers => _channels.Count > 0 || _patterns.Count > 0;

    // ----- push messages -----

    /// <summary>
    /// Starts a push message to <paramref name="c"/>: an array in RESP2, a push (&gt;) in RESP3. Pushes
    /// ignore CLIENT REPLY OFF/SKIP. Returns the writer to continue in (the client's own, or the
    /// pending buffer when <paramref name="c"/> is executing a command that does not reply with pushes).
    /// </summary>
    internal ReplyWriter BeginPush(Client c, int elements)
    {
        ReplyWriter r;
        if (c == _currentClient && _executing is not null && !RepliesWithPushes(_executing))
        {
            r = _pendingPushes;
            r.Protocol = c.Reply.Protocol;
        }
        else r = c.Reply;
        _savedEnabled = r.Enabled;
        r.Enabled = true;
        r.WritePush(elements);
        return r;
    }

    private bool _savedEnabled;

    internal void EndPush(Client c, ReplyWriter r)
    {
        r.Enabled = _savedEnabled;
        if (r != _pendingPushes && c != _currentClient) c.Transport?.OutputAvailable();
    }

    /// <summary>A subscribe-family confirmation: kind, channel (or null), count.</summary>
    private void WriteCountMessage(Client c, ReadOnlySpan<byte> kind, ReadOnlySpan<byte> channel, bool nullChannel, int count)
    {
        var r = BeginPush(c, 3);
        r.WriteBulk(kind);
        if (nullChannel) r.WriteNull();
        else r.WriteBulk(channel);
        r.WriteInteger(count);
        EndPush(c, r);
    }

    /// <summary>The subscribe family answers with push messages: those are its reply, never postponed.</summary>
    private static bool RepliesWithPushes(CommandDefinition cmd) =>
        cmd.Name is "subscribe" or "unsubscribe" or "psubscribe" or "punsubscribe" or "ssubscribe" or "sunsubscribe";

    /// <summary>The client whose command (outermost: EXEC, the script's caller) is executing, or null.</summary>
    public Client? CurrentClient => _depth > 0 ? _currentClient : null;

    /// <summary>The dispatcher starts running a command (nested inside EXEC or a script too).</summary>
    public void EnterCommand(Client client, CommandDefinition cmd, out CommandDefinition? previous)
    {
        if (_depth++ == 0) _currentClient = client;
        previous = _executing;
        _executing = cmd;
    }

    /// <summary>The command is over; the outermost one appends the pushes it postponed after its reply.</summary>
    public void ExitCommand(CommandDefinition? previous)
    {
        _executing = previous;
        if (--_depth > 0) return;
        var client = _currentClient;
        _currentClient = null;
        if (client is null || _pendingPushes.Length == 0) return;
        var r = client.Reply;
        bool enabled = r.Enabled;
        r.Enabled = true;
        r.WriteRaw(_pendingPushes.WrittenSpan);
        r.Enabled = enabled;
        _pendingPushes.Clear();
    }
}
