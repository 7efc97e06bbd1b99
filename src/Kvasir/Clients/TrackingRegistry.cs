using Kvasir.Commands;
using Kvasir.Keyspace;
using Kvasir.Protocol;

namespace Kvasir.Clients;

/// <summary>
/// Server-assisted client-side caching (Valkey's tracking.c). In the default mode the keys a
/// tracking client read are remembered with the ids of the clients that read them; a change to such
/// a key sends each of them one invalidation and forgets the key. In BCAST mode clients subscribe to
/// key prefixes instead, and every key changed under a prefix during a command is sent to them once
/// the command is over. Invalidations are RESP3 pushes, or, for a client that redirects them to a
/// RESP2 connection subscribed to __redis__:invalidate, Pub/Sub messages there. Used under the data
/// lock; costs nothing until the first client turns tracking on.
/// </summary>
public sealed class TrackingRegistry
{
    private static readonly byte[] ChannelName = "__redis__:invalidate"u8.ToArray();

    private readonly KvasirServer _server;
    // key -> ids of the clients that may have it cached; the key list allows picking random keys
    // when the table is over tracking-table-max-keys.
    private readonly Dictionary<byte[], TrackedKey> _table = new(ByteArrayComparer.Instance);
    private readonly List<byte[]> _keyList = new();
    private readonly SortedDictionary<byte[], PrefixState> _prefixes = new(ByteOrder.Instance);
    private readonly List<KeyReference> _keys = new();
    private bool _attached;
    private int _limitEffortRounds;
    private bool _broadcastPending;
    // A flush invalidation went out during the current command (or load): later flushes of other
    // databases in the same command do not repeat it. Cleared with the pending broadcasts.
    private bool _flushSent;

    private sealed class TrackedKey
    {
        public int Index;
        public readonly HashSet<long> Ids = new();
    }

    private sealed class PrefixState
    {
        /// <summary>Keys changed since the last broadcast, with the client that changed each last (null: the server).</summary>
        public readonly SortedDictionary<byte[], Client?> Keys = new(ByteOrder.Instance);
        public readonly List<Client> Clients = new();
    }

    /// <summary>Byte-wise order, as Valkey's radix trees list keys and prefixes.</summary>
    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }

    public TrackingRegistry(KvasirServer server)
    {
        _server = server;
        server.Stats.Gauges["tracking_total_keys"] = () => _table.Count;
        server.Stats.Gauges["tracking_total_items"] = () => TotalItems;
        server.Stats.Gauges["tracking_total_prefixes"] = () => _prefixes.Count;
        server.ClientClosing += Disable;
        server.Clients.Resetting += Disable;
        // A data set replaced or emptied outside FLUSHALL/FLUSHDB (DEBUG RELOAD, a replica's full
        // sync) invalidates everything too, once per command or load (as Valkey's emptyData).
        server.Keyspace.DatabaseFlushing += _ =>
        {
            if (_attached && !_flushSent) InvalidateAll();
        };
        // Like Valkey's cron and beforeSleep: keep the table within its limit, send what expiry changed.
        server.Tick += () =>
        {
            if (!_attached) return;
            lock (server.DataLock)
            {
                if (ClientCount > 0) LimitUsedSlots();
                BroadcastPending();
            }
        };
    }

    /// <summary>Clients with tracking on (INFO tracking_clients).</summary>
    public int ClientCount { get; private set; }

    public long TotalItems { get; private set; }

    // ----- CLIENT TRACKING -----

    /// <summary>
    /// The error for BCAST prefixes that overlap each other or the client's existing ones (two
    /// prefixes overlap when one starts with the other), or null.
    /// </summary>
    public static string? PrefixCollision(Client c, List<byte[]> prefixes)
    {
        for (int i = 0; i < prefixes.Count; i++)
        {
            if (c.TrackingPrefixes is { } existing)
                foreach (var p in existing)
                    if (Overlap(p, prefixes[i]))
                        return $"ERR Prefix '{Str(prefixes[i])}' overlaps with an existing prefix '{Str(p)}'. Prefixes for a single client must not overlap.";
            for (int j = i + 1; j < prefixes.Count; j++)
                if (Overlap(prefixes[i], prefixes[j]))
                    return $"ERR Prefix '{Str(prefixes[i])}' overlaps with another provided prefix '{Str(prefixes[j])}'. Prefixes for a single client must not overlap.";
        }
        return null;
    }

    private static bool Overlap(byte[] a, byte[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        return a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n));
    }

    private static string Str(byte[] b) => System.Text.Encoding.UTF8.GetString(b);

    /// <summary>CLIENT TRACKING ON with its options (already validated).</summary>
    public void Enable(Client c, long redirectTo, ClientFlags options, List<byte[]> prefixes)
    {
        Attach();
        if (!c.Has(ClientFlags.Tracking)) ClientCount++;
        c.Flags &= ~(ClientFlags.TrackingBrokenRedirect | ClientFlags.TrackingBcast | ClientFlags.TrackingOptIn |
                     ClientFlags.TrackingOptOut | ClientFlags.TrackingNoLoop);
        c.Flags |= ClientFlags.Tracking;
        c.TrackingRedirection = redirectTo;
        if ((options & ClientFlags.TrackingBcast) != 0)
        {
            c.Flags |= ClientFlags.TrackingBcast;
            if (prefixes.Count == 0) AddPrefix(c, Array.Empty<byte>());
            foreach (var p in prefixes) AddPrefix(c, p);
        }
        c.Flags |= options & (ClientFlags.TrackingOptIn | ClientFlags.TrackingOptOut | ClientFlags.TrackingNoLoop);
    }

    private void AddPrefix(Client c, byte[] prefix)
    {
        if (!_prefixes.TryGetValue(prefix, out var state)) _prefixes[prefix] = state = new PrefixState();
        if (state.Clients.Contains(c)) return;
        state.Clients.Add(c);
        var list = c.TrackingPrefixes ??= new List<byte[]>();
        int at = list.BinarySearch(prefix, ByteOrder.Instance);
        if (at < 0) list.Insert(~at, prefix);
    }

    /// <summary>CLIENT TRACKING OFF, RESET, disconnection. Keys it read stay in the table (dropped lazily).</summary>
    public void Disable(Client c)
    {
        if (c.TrackingPrefixes is { } prefixes)
        {
            foreach (var p in prefixes)
            {
                if (!_prefixes.TryGetValue(p, out var state)) continue;
                state.Clients.Remove(c);
                if (state.Clients.Count == 0) _prefixes.Remove(p);
            }
            c.TrackingPrefixes = null;
        }
        if (!c.Has(ClientFlags.Tracking)) return;
        ClientCount--;
        c.Flags &= ~(ClientFlags.Tracking | ClientFlags.TrackingBrokenRedirect | ClientFlags.TrackingBcast | ClientFlags.TrackingOptIn |
                     ClientFlags.TrackingOptOut | ClientFlags.TrackingCaching | ClientFlags.TrackingNoLoop);
    }

    /// <summary>Starts listening to key changes: the first time a client turns tracking on.</summary>
    private void Attach()
    {
        if (_attached) return;
        _attached = true;
        _server.Keyspace.KeyModified += KeyModified;
    }

    // ----- remembering what clients read -----

    /// <summary>True when <paramref name="cmd"/>'s keys must be remembered for the executing client.</summary>
    public bool ShouldRemember(CommandDefinition cmd) =>
        ClientCount > 0 && cmd.Has(CommandFlags.ReadOnly) && !cmd.Has(CommandFlags.PubSub) &&
        cmd.Name is not ("eval_ro" or "evalsha_ro" or "fcall_ro");

    /// <summary>
    /// After a read-only command: remembers its keys for <paramref name="tracking"/> (the client that
    /// sent the command, or the caller of the script that ran it), unless OPTIN/OPTOUT say otherwise.
    /// </summary>
    public void RememberKeys(Client tracking, CommandDefinition cmd, CommandArgs args)
    {
        if (!tracking.Has(ClientFlags.Tracking) || tracking.Has(ClientFlags.TrackingBcast)) return;
        bool caching = tracking.Has(ClientFlags.TrackingCaching);
        if ((tracking.Has(ClientFlags.TrackingOptIn) && !caching) || (tracking.Has(ClientFlags.TrackingOptOut) && caching)) return;
        _keys.Clear();
        CommandKeys.GetKeys(cmd, args, 0, _keys);
        foreach (var k in _keys)
        {
            var lookup = _table.GetAlternateLookup<ReadOnlySpan<byte>>();
            if (!lookup.TryGetValue(args[k.Position], out var entry))
            {
                var key = args.ToArray(k.Position);
                entry = new TrackedKey { Index = _keyList.Count };
                _table[key] = entry;
                _keyList.Add(key);
            }
            if (entry.Ids.Add(tracking.Id)) TotalItems++;
        }
    }

    // ----- invalidation -----

    private void KeyModified(Database db, ReadOnlySpan<byte> key)
    {
        var modifier = _server.Keyspace.ChangeByServer ? null : _server.PubSub.CurrentClient;
        Invalidate(modifier, key, broadcast: true);
    }

    /// <summary>
    /// A key changed (or is dropped from the table): every client that may cache it gets an
    /// invalidation, except a NOLOOP client for its own change; for the client whose command is
    /// running it waits until the reply is written. With <paramref name="broadcast"/> the key is also
    /// queued for the BCAST clients of matching prefixes.
    /// </summary>
    private void Invalidate(Client? modifier, ReadOnlySpan<byte> key, bool broadcast)
    {
        if (broadcast && _prefixes.Count > 0) RememberForBroadcast(modifier, key);
        if (_table.Count == 0) return;
        var lookup = _table.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!lookup.TryGetValue(key, out var entry)) return;
        var current = _server.PubSub.CurrentClient;
        foreach (long id in entry.Ids)
        {
            var target = _server.Clients.Find(id);
            if (target is null || !target.Has(ClientFlags.Tracking) || target.Has(ClientFlags.TrackingBcast)) continue;
            if (target.Has(ClientFlags.TrackingNoLoop) && target == current) continue;
            SendKeys(target, key, null);
        }
        TotalItems -= entry.Ids.Count;
        RemoveKey(key);
    }

    private void RemoveKey(ReadOnlySpan<byte> key)
    {
        var lookup = _table.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!lookup.Remove(key, out var stored, out var entry)) return;
        int last = _keyList.Count - 1;
        if (entry.Index != last)
        {
            var moved = _keyList[last];
            _keyList[entry.Index] = moved;
            _table[moved].Index = entry.Index;
        }
        _keyList.RemoveAt(last);
        _ = stored;
    }

    private void RememberForBroadcast(Client? modifier, ReadOnlySpan<byte> key)
    {
        byte[]? copy = null;
        foreach (var (prefix, state) in _prefixes)
        {
            if (prefix.Length > key.Length || !key.StartsWith(prefix)) continue;
            state.Keys[copy ??= key.ToArray()] = modifier;
            _broadcastPending = true;
        }
    }

    /// <summary>
    /// Sends the keys changed under each BCAST prefix to its clients (after every command and cron
    /// cycle, as Valkey does before sleeping); a NOLOOP client does not get the keys it changed itself.
    /// </summary>
    public void BroadcastPending()
    {
        _flushSent = false;
        if (!_broadcastPending) return;
        _broadcastPending = false;
        var keys = new List<byte[]>();
        foreach (var state in _prefixes.Values)
        {
            if (state.Keys.Count == 0) continue;
            foreach (var c in state.Clients.ToArray())
            {
                keys.Clear();
                bool noLoop = c.Has(ClientFlags.TrackingNoLoop);
                foreach (var (key, modifier) in state.Keys)
                    if (!noLoop || modifier != c) keys.Add(key);
                if (keys.Count > 0) SendKeys(c, default, keys);
            }
            state.Keys.Clear();
        }
    }

    /// <summary>
    /// FLUSHDB, FLUSHALL, SWAPDB: every tracking client is told that all its keys are invalid (a
    /// null instead of key names), and the table is emptied.
    /// </summary>
    public void InvalidateAll()
    {
        _flushSent = true;
        if (ClientCount > 0)
        {
            foreach (var c in _server.Clients.All.ToArray())
                if (c.Has(ClientFlags.Tracking)) SendNull(c);
        }
        _table.Clear();
        _keyList.Clear();
        TotalItems = 0;
    }

    /// <summary>
    /// tracking-table-max-keys: while the table is over the limit, random keys are invalidated (their
    /// clients told, as if the key changed). The effort grows each time the limit is still not met.
    /// </summary>
    public void LimitUsedSlots()
    {
        long max = _server.Config.TrackingTableMaxKeys;
        if (max == 0 || _table.Count <= max)
        {
            _limitEffortRounds = 0;
            return;
        }
        int effort = 100 * (_limitEffortRounds + 1);
        var random = _server.Keyspace.Random;
        while (effort-- > 0 && _keyList.Count > 0)
        {
            var key = _keyList[random.Next(_keyList.Count)];
            Invalidate(null, key, broadcast: false);
            if (_table.Count <= max)
            {
                _limitEffortRounds = 0;
                return;
            }
        }
        _limitEffortRounds++;
    }

    // ----- sending -----

    /// <summary>Where invalidations for <paramref name="c"/> go: itself, or the client it redirects to (null: nowhere).</summary>
    private Client? Destination(Client c, out bool redirected)
    {
        redirected = false;
        if (c.TrackingRedirection == 0) return c;
        var target = _server.Clients.Find(c.TrackingRedirection);
        if (target is null)
        {
            // The redirection target is gone: a RESP3 client is told so instead.
            c.Flags |= ClientFlags.TrackingBrokenRedirect;
            if (c.Reply.IsResp3)
            {
                var r = _server.PubSub.BeginPush(c, 2);
                r.WriteBulk("tracking-redir-broken"u8);
                r.WriteInteger(c.TrackingRedirection);
                _server.PubSub.EndPush(c, r);
            }
            return null;
        }
        redirected = true;
        return target;
    }

    /// <summary>
    /// Starts an invalidation to <paramref name="target"/>: a RESP3 push, or a message on
    /// __redis__:invalidate for a RESP2 subscriber that receives redirected invalidations.
    /// </summary>
    private ReplyWriter? BeginInvalidation(Client target, bool redirected)
    {
        if (target.Reply.IsResp3)
        {
            var r = _server.PubSub.BeginPush(target, 2);
            r.WriteBulk("invalidate"u8);
            return r;
        }
        if (redirected && target.Has(ClientFlags.PubSub))
        {
            var r = _server.PubSub.BeginPush(target, 3);
            r.WriteBulk("message"u8);
            r.WriteBulk(ChannelName);
            return r;
        }
        return null; // RESP2 without redirection: no way to push anything.
    }

    private void SendKeys(Client c, ReadOnlySpan<byte> key, List<byte[]>? keys)
    {
        var target = Destination(c, out bool redirected);
        if (target is null || BeginInvalidation(target, redirected) is not { } r) return;
        if (keys is null)
        {
            r.WriteArray(1);
            r.WriteBulk(key);
        }
        else
        {
            r.WriteArray(keys.Count);
            foreach (var k in keys) r.WriteBulk(k);
        }
        _server.PubSub.EndPush(target, r);
    }

    private void SendNull(Client c)
    {
        var target = Destination(c, out bool redirected);
        if (target is null || BeginInvalidation(target, redirected) is not { } r) return;
        r.WriteNull();
        _server.PubSub.EndPush(target, r);
    }
}
