using System.Text;
using Kvasir.Commands;
using Kvasir.Keyspace;
using Kvasir.Protocol;
using Kvasir.Types;

namespace Kvasir.Clients;

/// <summary>What a client blocked in BLPOP/BZPOPMIN... waits for (Valkey's bstate), and the command to run again.</summary>
public sealed class BlockState
{
    public int DbIndex;
    public string[] Keys = [];

    /// <summary>The value type that can serve it: a write that leaves another type there does not wake it.</summary>
    public DataType Type;

    /// <summary>
    /// Woken also when the key is deleted or holds another type (XREADGROUP: its group is gone, and
    /// the command run again says so), as Valkey's unblock_on_nokey.
    /// </summary>
    public bool UnblockOnNoKey;

    /// <summary>Unix ms when the wait ends with a null reply; 0 waits forever.</summary>
    public long DeadlineMs;

    /// <summary>The blocked command, as its connection keeps it (the connection does not read while it waits).</summary>
    public CommandContext Context = null!;
    public CommandArgs Args = null!;
    public CommandDefinition Command = null!;

    /// <summary>What a wait that ends by its deadline (or CLIENT UNBLOCK TIMEOUT) answers; null: a null array (the blocking pops).</summary>
    public Action<Client>? TimeoutReply;
}

/// <summary>
/// Clients waiting in blocking commands: per database, per key, a FIFO queue of waiters. A write to
/// a key with waiters marks it ready; once the writing command (or the whole EXEC) is over,
/// <see cref="HandleReady"/> runs the blocked commands again right there, under the same lock and
/// before the writer's next command, in the order the clients blocked (Valkey's
/// handleClientsBlockedOnKeys). A served command that writes (BLMOVE) readies more keys, which are
/// handled in the same pass. Timeouts and CLIENT UNBLOCK answer the waiter directly. The waiter's
/// connection only learns that its command is over (<see cref="Client.BlockedCommandAnswered"/>)
/// and goes on with its pipeline. All members run under the server's data lock.
/// </summary>
public sealed class BlockingRegistry
{
    private readonly Dictionary<string, List<Client>>[] _queues;
    private readonly List<Client> _blocked = new();
    private List<(int Db, string Key)> _ready = new();
    private readonly HashSet<(int Db, string Key)> _readySet = new();
    private KvasirServer _server = null!;
    private int _keyCount;
    private bool _handling;

    public BlockingRegistry(int databases)
    {
        _queues = new Dictionary<string, List<Client>>[databases];
        for (int i = 0; i < databases; i++) _queues[i] = new Dictionary<string, List<Client>>(StringComparer.Ordinal);
    }

    public int BlockedClients => _blocked.Count;

    /// <summary>Distinct (database, key) pairs with at least one waiter (INFO total_blocking_keys).</summary>
    public int TotalBlockingKeys => _keyCount;

    public void Attach(KvasirServer server)
    {
        _server = server;
        server.Keyspace.KeyModified += KeyModified;
        server.ClientClosing += Unblock;
        // A flushed database wakes the waiters that must learn their key is gone (XREADGROUP).
        server.Keyspace.DatabaseFlushing += db => MarkAllReady(db.Index);
        // SWAPDB: the waiters of both databases may find data there now.
        server.Keyspace.DatabasesSwapping += (a, b) =>
        {
            MarkAllReady(a.Index);
            MarkAllReady(b.Index);
        };
        server.Stats.Gauges["total_blocking_keys"] = () => _keyCount;
        server.Stats.Gauges["total_blocking_keys_on_nokey"] = () => KeysWithNoKeyWaiters;
        server.Stats.Gauges["clients_in_timeout_table"] = () =>
        {
            int n = 0;
            foreach (var c in _blocked)
                if (c.Blocking!.DeadlineMs != 0) n++;
            return n;
        };
        server.Tick += () =>
        {
            lock (server.DataLock) CheckTimeouts(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        };
    }

    /// <summary>Keys as dictionary keys: Latin-1 maps every byte to one char and back.</summary>
    public static string KeyString(ReadOnlySpan<byte> key) => Encoding.Latin1.GetString(key);

    /// <summary>
    /// Suspends the command <paramref name="ctx"/> runs until one of <paramref name="keys"/> holds a
    /// value of <paramref name="type"/>. <paramref name="args"/>, when given, is what runs again
    /// instead of the arguments as sent (XREAD with "$" resolved).
    /// </summary>
    public void Block(CommandContext ctx, string[] keys, DataType type, long deadlineMs, CommandArgs? args = null, bool unblockOnNoKey = false)
    {
        var client = ctx.Client;
        int db = client.DbIndex;
        var state = new BlockState
        {
            DbIndex = db, Keys = keys, Type = type, DeadlineMs = deadlineMs, UnblockOnNoKey = unblockOnNoKey,
            Context = ctx, Args = args ?? ctx.Args, Command = ctx.Command,
        };
        client.Blocking = state;
        client.Flags |= ClientFlags.Blocked;
        _blocked.Add(client);
        var queues = _queues[db];
        foreach (var key in keys)
        {
            if (!queues.TryGetValue(key, out var queue))
            {
                queues[key] = queue = new List<Client>();
                _keyCount++;
            }
            // BLPOP k k waits once on k.
            if (!queue.Contains(client)) queue.Add(client);
        }
    }

    /// <summary>
    /// Closes blocked clients whose peer has gone. A waiting connection only polls its socket, so
    /// before the blocked count is reported (INFO) the departed ones are dropped: Valkey's event
    /// loop notices a close at once, and clients (Valkey's tests among them) rely on the count.
    /// </summary>
    public void DropClosedPeers()
    {
        for (int i = _blocked.Count - 1; i >= 0; i--)
        {
            var client = _blocked[i];
            if (client.Transport is not { } transport || !transport.PeerHasClosed()) continue;
            Unblock(client);
            transport.Close();
        }
    }

    /// <summary>Removes the client from every queue (served, timed out, unblocked or gone). No reply is written.</summary>
    public void Unblock(Client client)
    {
        var state = client.Blocking;
        if (state is null) return;
        client.Blocking = null;
        if (!client.Postponed) client.Flags &= ~ClientFlags.Blocked;
        _blocked.Remove(client);
        var queues = _queues[state.DbIndex];
        foreach (var key in state.Keys)
        {
            if (!queues.TryGetValue(key, out var queue)) continue;
            queue.Remove(client);
            if (queue.Count == 0)
            {
                queues.Remove(key);
                _keyCount--;
            }
        }
    }

    private void KeyModified(Database db, ReadOnlySpan<byte> key)
    {
        if (_keyCount == 0) return;
        var queues = _queues[db.Index];
        if (queues.Count == 0) return;
        var name = KeyString(key);
        if (queues.ContainsKey(name)) MarkReady(db.Index, name);
    }

    /// <summary>Distinct keys with a waiter that wakes when the key goes (INFO total_blocking_keys_on_nokey).</summary>
    private int KeysWithNoKeyWaiters
    {
        get
        {
            int n = 0;
            foreach (var queues in _queues)
                foreach (var queue in queues.Values)
                    foreach (var c in queue)
                        if (c.Blocking is { UnblockOnNoKey: true })
                        {
                            n++;
                            break;
                        }
            return n;
        }
    }

    /// <summary>
    /// Wakes the waiters of a key whose value changed in a way that is not a write of the key
    /// (XGROUP DESTROY: XREADGROUP waiters must learn their group is gone), as Valkey's signalKeyAsReady.
    /// </summary>
    public void SignalReady(Database db, ReadOnlySpan<byte> key)
    {
        if (_keyCount == 0) return;
        var name = KeyString(key);
        if (_queues[db.Index].ContainsKey(name)) MarkReady(db.Index, name);
    }

    private void MarkReady(int db, string key)
    {
        if (_readySet.Add((db, key))) _ready.Add((db, key));
    }

    private void MarkAllReady(int db)
    {
        foreach (var key in _queues[db].Keys) MarkReady(db, key);
    }

    /// <summary>
    /// After a command (or EXEC): serves the waiters of every key written meanwhile, first blocked
    /// first served, each by running its command again now. Keys readied by those runs (BLMOVE into
    /// a key others wait on) are handled before returning.
    /// </summary>
    public void HandleReady()
    {
        if (_ready.Count == 0 || _handling) return;
        _handling = true;
        try
        {
            while (_ready.Count > 0)
            {
                var round = _ready;
                _ready = new List<(int, string)>();
                foreach (var (db, key) in round)
                {
                    // The key may be readied again while its waiters run.
                    _readySet.Remove((db, key));
                    ServeKey(db, key);
                }
            }
        }
        finally
        {
            _handling = false;
        }
    }

    private void ServeKey(int dbIndex, string key)
    {
        if (!_queues[dbIndex].TryGetValue(key, out var queue) || queue.Count == 0) return;
        // Only the clients waiting now: one that blocks again goes to the back and waits for the next write.
        var waiters = queue.ToArray();
        var db = _server.Databases[dbIndex];
        byte[] keyBytes = Encoding.Latin1.GetBytes(key);
        foreach (var client in waiters)
        {
            var state = client.Blocking;
            if (state is null || state.DbIndex != dbIndex || Array.IndexOf(state.Keys, key) < 0) continue;
            // A look that neither expires nor counts: an expired key does not wake anyone, and stays
            // for the command that next touches it to delete (Valkey's LOOKUP_NOEFFECTS).
            int idx = db.Lookup(keyBytes, LookupFlags.NoTouch | LookupFlags.NoStats | LookupFlags.NoExpireDelete);
            if ((idx < 0 || db.TypeAt(idx) != state.Type) && !state.UnblockOnNoKey) continue;
            Unblock(client);
            _server.Dispatcher.Reprocess(state);
            // Blocked again (no data after all) or postponed by CLIENT PAUSE: the connection keeps waiting.
            if (client.Blocking is null && !client.Postponed) Answered(client);
        }
    }

    /// <summary>The blocked command is over: its connection resumes with the next command of its pipeline.</summary>
    private static void Answered(Client client)
    {
        client.BlockedCommandAnswered = true;
        var transport = client.Transport;
        if (transport is null) return;
        transport.OutputAvailable();
        transport.Resume();
    }

    /// <summary>Ends waits whose deadline passed with the timeout reply.</summary>
    public void CheckTimeouts(long nowMs)
    {
        if (_blocked.Count == 0) return;
        foreach (var c in _blocked.ToArray())
        {
            var state = c.Blocking;
            if (state is not null && state.DeadlineMs != 0 && state.DeadlineMs <= nowMs) TimeOut(c);
        }
    }

    /// <summary>
    /// Answers a waiter as if its timeout expired (deadline, CLIENT UNBLOCK TIMEOUT): a null array
    /// for every blocking list and sorted set command, as Valkey's replyToBlockedClientTimedOut.
    /// </summary>
    public void TimeOut(Client client)
    {
        var state = client.Blocking;
        if (state is null) return;
        Unblock(client);
        client.Reply.Enabled = client.ReplyMode == ReplyMode.On;
        if (state.TimeoutReply is { } reply) reply(client);
        else client.Reply.WriteNullArray();
        _server.Dispatcher.CompleteBlocked(state, failed: false);
        Answered(client);
    }

    /// <summary>Ends a wait that is not on keys (WAIT, WAITAOF) with the reply its owner writes.</summary>
    public void Resolve(Client client, Action<Client> reply)
    {
        var state = client.Blocking;
        if (state is null) return;
        Unblock(client);
        client.Reply.Enabled = client.ReplyMode == ReplyMode.On;
        reply(client);
        _server.Dispatcher.CompleteBlocked(state, failed: false);
        Answered(client);
    }

    /// <summary>Answers a waiter with an error (CLIENT UNBLOCK ERROR); counted as a failed call.</summary>
    public void FailWith(Client client, string error)
    {
        var state = client.Blocking;
        if (state is null) return;
        Unblock(client);
        client.Reply.Enabled = client.ReplyMode == ReplyMode.On;
        _server.Stats.CountError(error);
        client.Reply.WriteError(error);
        _server.Dispatcher.CompleteBlocked(state, failed: true);
        Answered(client);
    }
}
