using Kvasir.Clients;

namespace Kvasir;

/// <summary>
/// Background work that Valkey does in serverCron, <c>hz</c> times a second: active expiry, idle
/// client timeouts, and periodic bookkeeping. Each run takes the data lock in short slices.
/// </summary>
internal sealed class ServerCron
{
    private readonly KvasirServer _server;
    private Thread? _thread;
    private volatile bool _stop;

    public ServerCron(KvasirServer server) => _server = server;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "kvasir-cron" };
        _thread.Start();
    }

    public void Stop() => _stop = true;

    private void Run()
    {
        while (!_stop)
        {
            int hz = Math.Clamp(_server.Config.Hz, 1, 500);
            Thread.Sleep(1000 / hz);
            if (_stop) break;
            if (_server.CronPaused) continue;
            try
            {
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                if (_server.ActiveExpireEnabled) _server.ExpireCycleDone(ActiveExpireCycle(hz));
                // Eviction left unfinished by a time-limited round, or memory over a lowered maxmemory.
                _server.Evictor.BackgroundCycle(hz);
                CloseTimedOutClients();
                lock (_server.DataLock) ReplyBufferPolicy.Run(_server, hz);
                _server.CronTick(started);
            }
            catch (Exception e)
            {
                _server.Log.Warning($"cron: {e.Message}");
            }
        }
    }

    /// <summary>
    /// Valkey's slow active expire cycle: per database, sample keys with a TTL, delete the expired
    /// ones, and repeat while more than a quarter of the sample was expired, within a time budget of
    /// 25% of the cron period (more with active-expire-effort). Returns the time spent working:
    /// only the steps under the data lock count, not the waits for it (in Valkey the cycle and the
    /// commands share one thread, so a long command never shows up as a slow expire cycle).
    /// </summary>
    private long ActiveExpireCycle(int hz)
    {
        int effort = Math.Clamp(_server.Config.ActiveExpireEffort, 1, 10) - 1;
        int samples = 20 + 20 / 4 * effort;
        int acceptableStalePercent = 10 - effort;
        long budgetTicks = System.Diagnostics.Stopwatch.Frequency / hz * (25 + 2 * effort) / 100;
        long worked = 0;
        // Hash fields with a TTL (HEXPIRE): the due hashes come from a deadline queue, no sampling.
        if (_server.Keyspace.VolatileHashes.Count > 0)
        {
            lock (_server.DataLock)
            {
                _server.UpdateClock();
                Commands.HashFieldExpiryCommands.ActiveExpire(_server, samples * 10);
            }
        }
        // A writable replica expires the keys its own clients gave a TTL: its primary never will.
        if (_server.Keyspace.ReplicaKeysWithExpire.Count > 0)
        {
            lock (_server.DataLock)
            {
                _server.UpdateClock();
                Keyspace.Database.ExpireReplicaKeys(_server.Keyspace, _server.Databases);
            }
        }
        foreach (var db in _server.Databases)
        {
            while (true)
            {
                int sampled, expired;
                lock (_server.DataLock)
                {
                    // Not while a timed-out script lets others in: its keys must not expire under it.
                    if (db.ExpiresCount == 0 || _server.Scripts.Running) break;
                    long stepStart = System.Diagnostics.Stopwatch.GetTimestamp();
                    _server.UpdateClock();
                    (sampled, expired) = db.ActiveExpireStep(samples);
                    worked += System.Diagnostics.Stopwatch.GetTimestamp() - stepStart;
                }
                if (sampled == 0 || expired * 100 / sampled <= acceptableStalePercent) break;
                if (worked > budgetTicks)
                {
                    _server.Keyspace.ExpiredTimeCapReached++;
                    return worked;
                }
            }
        }
        return worked;
    }

    private void CloseTimedOutClients()
    {
        int timeout = _server.Config.Timeout;
        if (timeout <= 0) return;
        long now = Environment.TickCount64;
        lock (_server.DataLock)
        {
            foreach (var c in _server.Clients.All)
            {
                if (c.Has(ClientFlags.Replica) || c.Has(ClientFlags.Master) || c.Has(ClientFlags.Blocked) ||
                    c.Has(ClientFlags.PubSub) || c.Has(ClientFlags.Monitor)) continue;
                if (now - c.LastInteractionMs > timeout * 1000L)
                {
                    _server.Log.Verbose("Closing idle client");
                    c.Transport?.Close();
                }
            }
        }
    }
}
