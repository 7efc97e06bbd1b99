using System.Text;
using Kvasir.Keyspace;

namespace Kvasir.Clients;

/// <summary>What a client blocked in BLPOP/BZPOPMIN... waits for (Valkey's bstate).</summary>
public sealed class BlockState
{
    public int DbIndex;
    public string[] Keys = [];

    /// <summary>Unix ms when the wait ends with a null reply; 0 waits forever.</summary>
    public long DeadlineMs;

    /// <summary>A key it waits on was written: its next retry runs the command again.</summary>
    public bool Ready;

    /// <summary>Set by the cron or CLIENT UNBLOCK: the retry answers this instead of running the command.</summary>
    public BlockOutcome Outcome;
}

public enum BlockOutcome { None, Timeout, Error }

/// <summary>
/// Clients waiting in blocking commands: per database, per key, a FIFO queue of waiters. Writes to
/// a key with waiters mark it ready; once the writing command (or EXEC) is over, the first waiter of
/// each ready key is resumed and re-runs its command, which either serves it or makes it wait again
/// in the same place. All members run under the server's data lock.
/// </summary>
public sealed class BlockingRegistry
{
    private readonly Dictionary<string, List<Client>>[] _queues;
    private readonly List<Client> _blocked = new();
    private readonly List<(int Db, string Key)> _ready = new();
    private int _keyCount;

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
        server.Keyspace.KeyModified += KeyModified;
        server.ClientClosing += Unblock;
        // SWAPDB: the waiters of both databases may find data there now.
        server.Keyspace.DatabasesSwapping += (a, b) =>
        {
            MarkAllReady(a.Index);
            MarkAllReady(b.Index);
        };
        server.Stats.Gauges["total_blocking_keys"] = () => _keyCount;
        server.Tick += () =>
        {
            lock (server.DataLock) CheckTimeouts(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        };
    }

    /// <summary>Keys as dictionary keys: Latin-1 maps every byte to one char and back.</summary>
    public static string KeyString(ReadOnlySpan<byte> key) => Encoding.Latin1.GetString(key);

    public void Block(Client client, int db, string[] keys, long deadlineMs)
    {
        var state = new BlockState { DbIndex = db, Keys = keys, DeadlineMs = deadlineMs };
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

    /// <summary>Removes the client from every queue (served, timed out, unblocked or gone).
    /// The keys it waited on are looked at again: the next waiter may now be served.</summary>
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
            else if (state.Ready) _ready.Add((state.DbIndex, key));
        }
    }

    private void KeyModified(Database db, ReadOnlySpan<byte> key)
    {
        if (_keyCount == 0) return;
        var queues = _queues[db.Index];
        if (queues.Count == 0) return;
        var name = KeyString(key);
        if (queues.ContainsKey(name)) _ready.Add((db.Index, name));
    }

    private void MarkAllReady(int db)
    {
        foreach (var key in _queues[db].Keys) _ready.Add((db, key));
    }

    /// <summary>
    /// True when the first waiter on this key was already woken and has not run yet: the data is
    /// its own (Valkey would have served it right after the write), so a newcomer must queue behind.
    /// </summary>
    public bool HasWokenWaiter(int db, ReadOnlySpan<byte> key)
    {
        if (_keyCount == 0) return false;
        return _queues[db].TryGetValue(KeyString(key), out var queue) && queue.Count > 0 && queue[0].Blocking!.Ready;
    }

    /// <summary>After a command: resumes the first waiter of every key written meanwhile.
    /// Only the head is woken so that waiters are served in the order they blocked.</summary>
    public void HandleReady()
    {
        if (_ready.Count == 0) return;
        foreach (var (db, key) in _ready)
        {
            if (!_queues[db].TryGetValue(key, out var queue) || queue.Count == 0) continue;
            var head = queue[0];
            var state = head.Blocking!;
            if (state.Ready) continue;
            state.Ready = true;
            head.Transport?.Resume();
        }
        _ready.Clear();
    }

    /// <summary>Ends waits whose deadline passed: their retry replies the timeout.</summary>
    public void CheckTimeouts(long nowMs)
    {
        foreach (var c in _blocked)
        {
            var state = c.Blocking!;
            if (state.Outcome == BlockOutcome.None && state.DeadlineMs != 0 && state.DeadlineMs <= nowMs)
            {
                state.Outcome = BlockOutcome.Timeout;
                c.Transport?.Resume();
            }
        }
    }

    /// <summary>CLIENT UNBLOCK: true when the client was waiting in a blocking command.</summary>
    public bool RequestUnblock(Client client, BlockOutcome outcome)
    {
        var state = client.Blocking;
        if (state is null || state.Outcome != BlockOutcome.None) return false;
        state.Outcome = outcome;
        client.Transport?.Resume();
        return true;
    }
}
