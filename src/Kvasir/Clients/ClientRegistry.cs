using Kvasir.Keyspace;

namespace Kvasir.Clients;

/// <summary>Connected clients by id (CLIENT LIST/KILL, INFO clients, timeouts, MONITOR fan-out). Used under the data lock.</summary>
/// <summary>Why the server holds client writes besides CLIENT PAUSE.</summary>
[Flags]
public enum WritePause { None = 0, Failover = 1, Shutdown = 2, ClusterFailover = 4 }

public sealed class ClientRegistry
{
    private readonly SortedDictionary<long, Client> _clients = new();
    private readonly List<Client> _monitors = new();
    private readonly List<Client> _postponed = new();
    private KeyspaceContext? _keyspace;

    public int Count => _clients.Count;

    public IEnumerable<Client> All => _clients.Values;

    public IReadOnlyList<Client> Monitors => _monitors;

    /// <summary>WATCHed keys of every client.</summary>
    public WatchRegistry Watches { get; } = new();

    /// <summary>Raised by RESET so subsystems with per-client state (pub/sub, tracking) drop it.</summary>
    public event Action<Client>? Resetting;

    /// <summary>Connects the registry to the server's keyspace hooks and cron. Called once by the server.</summary>
    public void Attach(KvasirServer server)
    {
        _keyspace = server.Keyspace;
        server.Keyspace.KeyModified += Watches.Touch;
        server.Keyspace.DatabaseFlushing += db => Watches.TouchAll(db, null);
        server.Keyspace.DatabasesSwapping += (a, b) =>
        {
            Watches.TouchAll(a, b);
            Watches.TouchAll(b, a);
        };
        server.Stats.Gauges["watching_clients"] = () => Watches.WatchingClients;
        server.Stats.Gauges["total_watched_keys"] = () => Watches.TotalWatchedKeys;
        server.Tick += () =>
        {
            lock (server.DataLock) UpdatePause();
        };
    }

    public void Add(Client c) => _clients[c.Id] = c;

    public void Remove(Client c)
    {
        _clients.Remove(c.Id);
        if (c.Has(ClientFlags.Monitor)) _monitors.Remove(c);
        Watches.UnwatchAll(c);
        if (c.Postponed) EndPostpone(c);
    }

    public Client? Find(long id) => _clients.GetValueOrDefault(id);

    public void AddMonitor(Client c)
    {
        if (!_monitors.Contains(c)) _monitors.Add(c);
    }

    public void RemoveMonitor(Client c) => _monitors.Remove(c);

    internal void RaiseResetting(Client c) => Resetting?.Invoke(c);

    /// <summary>Largest pending input buffer among clients (client_recent_max_input_buffer).</summary>
    public long MaxInputBuffer
    {
        get
        {
            long max = 0;
            foreach (var c in _clients.Values) max = Math.Max(max, c.QueryBufferLength);
            return max;
        }
    }

    public long MaxOutputBuffer
    {
        get
        {
            long max = 0;
            foreach (var c in _clients.Values) max = Math.Max(max, c.Reply.Length);
            return max;
        }
    }

    // ----- CLIENT PAUSE -----

    /// <summary>End of a CLIENT PAUSE (Environment.TickCount64 ms), 0 when not paused, and whether only writes pause.</summary>
    public long PauseEndMs;
    public bool PauseWritesOnly;

    /// <summary>True while a CLIENT PAUSE is in effect (expired pauses are cleared and their clients resumed).</summary>
    public bool IsPaused => _writePauses != 0 || (PauseEndMs != 0 && UpdatePause());

    private WritePause _writePauses;

    /// <summary>
    /// Writes held for a server purpose (Valkey's PAUSE_DURING_FAILOVER / PAUSE_DURING_SHUTDOWN),
    /// apart from CLIENT PAUSE: client writes, key expiry and eviction, and the replication stream's
    /// own traffic (PINGs, GETACKs) that would move the offsets.
    /// </summary>
    public bool ReplicaTrafficPaused => _writePauses != 0;

    /// <summary>Only writes wait: a write pause, or a purpose pause without a CLIENT PAUSE ALL.</summary>
    public bool OnlyWritesPaused => !(PauseEndMs != 0 && !PauseWritesOnly && Environment.TickCount64 < PauseEndMs);

    /// <summary>A purpose starts or stops holding writes.</summary>
    public void SetWritePause(WritePause purpose, bool on)
    {
        if (on) _writePauses |= purpose;
        else _writePauses &= ~purpose;
        SetExpiryPaused(PauseEndMs != 0);
        if (!on) ResumeHead();
    }

    /// <summary>Clients whose command waits for the pause to end, in the order they were stopped.</summary>
    public IReadOnlyList<Client> Postponed => _postponed;

    /// <summary>
    /// Starts or extends a pause, as Valkey's pauseClientsByClient: the later end time wins, and a
    /// pause of all commands is not weakened into a write-only one while it lasts.
    /// </summary>
    public void Pause(long endTickMs, bool writesOnly)
    {
        bool wasAll = IsPaused && !PauseWritesOnly;
        PauseWritesOnly = writesOnly && !wasAll;
        if (endTickMs > PauseEndMs) PauseEndMs = endTickMs;
        SetExpiryPaused(PauseEndMs != 0);
    }

    /// <summary>CLIENT UNPAUSE: ends the pause and lets the postponed clients run, in order.</summary>
    public void Unpause()
    {
        PauseEndMs = 0;
        PauseWritesOnly = false;
        SetExpiryPaused(false);
        ResumeHead();
    }

    /// <summary>Both kinds of pause stop key expiry, active and lazy, as Valkey's PAUSE_ACTION_EXPIRE.</summary>
    private void SetExpiryPaused(bool paused)
    {
        if (_keyspace is not null) _keyspace.ExpiryPaused = paused || _writePauses != 0;
    }

    /// <summary>Clears an expired pause. True while still paused.</summary>
    public bool UpdatePause()
    {
        if (PauseEndMs == 0) return false;
        if (Environment.TickCount64 < PauseEndMs) return true;
        PauseEndMs = 0;
        PauseWritesOnly = false;
        SetExpiryPaused(false);
        ResumeHead();
        return false;
    }

    /// <summary>A command of <paramref name="c"/> must wait for the pause to end.</summary>
    public void Postpone(Client c)
    {
        if (c.Postponed) return;
        c.Postponed = true;
        c.Flags |= ClientFlags.Blocked;
        _postponed.Add(c);
    }

    /// <summary>
    /// Whether <paramref name="c"/>, stopped by a pause that has ended, must still wait for clients
    /// stopped before it: postponed commands run in the order they arrived, as in Valkey.
    /// </summary>
    public bool MustWaitForTurn(Client c) => c.Postponed && _postponed.Count > 0 && _postponed[0] != c;

    /// <summary>The postponed command of <paramref name="c"/> is about to run (or the client left).</summary>
    public void EndPostpone(Client c)
    {
        if (!c.Postponed) return;
        c.Postponed = false;
        c.Flags &= ~ClientFlags.Blocked;
        _postponed.Remove(c);
        ResumeHead();
    }

    private void ResumeHead()
    {
        if (_postponed.Count > 0) _postponed[0].Transport?.Resume();
    }
}
