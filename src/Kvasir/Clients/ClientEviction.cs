using Kvasir.Observability;

namespace Kvasir.Clients;

/// <summary>
/// maxmemory-clients (Valkey's client eviction): when the memory of all normal and Pub/Sub clients
/// together reaches the limit (bytes, or a percentage of maxmemory; never under 128 KB), the biggest
/// clients are closed until it is under again. Clients with CLIENT NO-EVICT, replicas and the link
/// to a primary are never closed (NO-EVICT ones still count). Each client's memory is re-measured
/// where it changes (input read, commands run, output written to it by others, the cron), and the
/// sum is kept up to date, so the check costs nothing while under the limit. Used under the data lock.
/// </summary>
public sealed class ClientEviction
{
    private const long MinimumLimit = 128 * 1024;

    private readonly KvasirServer _server;
    private long _total;

    public ClientEviction(KvasirServer server)
    {
        _server = server;
        server.ClientClosing += c =>
        {
            _total -= c.CountedMemory;
            c.CountedMemory = 0;
        };
        server.Tick += () =>
        {
            if (Limit == 0) return;
            lock (server.DataLock)
            {
                RecountAll();
                EvictIfNeeded();
            }
        };
        // A new or lowered limit applies at once (a full recount: the sum is not kept while off).
        server.Config.Changed += name =>
        {
            if (name is "maxmemory-clients" or "maxmemory") RecountAll();
        };
    }

    /// <summary>The limit in bytes, 0 when client eviction is off.</summary>
    public long Limit
    {
        get
        {
            var cfg = _server.Config;
            long limit;
            if (cfg.MaxMemoryClients < 0)
            {
                if (cfg.MaxMemory <= 0) return 0;
                limit = (long)(cfg.MaxMemory * (-(double)cfg.MaxMemoryClients / 100));
            }
            else if (cfg.MaxMemoryClients > 0) limit = cfg.MaxMemoryClients;
            else return 0;
            return Math.Max(limit, MinimumLimit);
        }
    }

    public bool Enabled => _server.Config.MaxMemoryClients != 0;

    /// <summary>Normal and Pub/Sub clients count; replicas and primaries are not client-evictable memory.</summary>
    private static bool Counts(Client c) =>
        c.Transport is not null && !c.Has(ClientFlags.Master) && !(c.Has(ClientFlags.Replica) && !c.Has(ClientFlags.Monitor));

    private static bool Evictable(Client c) => Counts(c) && !c.Has(ClientFlags.NoEvict);

    /// <summary>Re-measures one client after its buffers changed.</summary>
    public void Update(Client c)
    {
        if (!Enabled) return;
        long now = Counts(c) ? MemoryAccounting.ClientMemory(c) : 0;
        _total += now - c.CountedMemory;
        c.CountedMemory = now;
    }

    private void RecountAll()
    {
        _total = 0;
        foreach (var c in _server.Clients.All)
        {
            c.CountedMemory = Enabled && Counts(c) ? MemoryAccounting.ClientMemory(c) : 0;
            _total += c.CountedMemory;
        }
    }

    /// <summary>
    /// Closes the biggest evictable clients while the clients' memory is at or over the limit
    /// (between commands: never the one executing). Returns true when something was evicted.
    /// </summary>
    public bool EvictIfNeeded()
    {
        long limit = Limit;
        if (limit == 0 || _total < limit) return false;
        var candidates = new List<Client>();
        foreach (var c in _server.Clients.All)
            if (Evictable(c)) candidates.Add(c);
        candidates.Sort((a, b) => b.CountedMemory.CompareTo(a.CountedMemory));
        bool evicted = false;
        foreach (var c in candidates)
        {
            if (_total < limit) break;
            var info = Commands.ClientCommands.AppendInfo(new System.Text.StringBuilder(), c, null).ToString();
            _server.Log.Notice("Evicting client: " + info);
            _server.Stats.EvictedClients++;
            _server.DisconnectClient(c);
            evicted = true;
        }
        if (_total >= limit) _server.Log.Warning("Over client maxmemory after evicting all evictable clients");
        return evicted;
    }
}
