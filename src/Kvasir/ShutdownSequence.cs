using Kvasir.Clients;
using Kvasir.Config;

namespace Kvasir;

/// <summary>
/// Stopping the server as Valkey's prepareForShutdown / finishShutdown / abortShutdown, for
/// SHUTDOWN and for SIGTERM/SIGINT alike. With replicas that have not acknowledged the whole
/// stream and shutdown-timeout set (and no NOW), writes are held and the shutdown waits for them,
/// up to that many seconds, so a planned restart loses nothing that was acknowledged; SHUTDOWN's
/// caller waits too, and SHUTDOWN ABORT cancels. Then: lagging replicas are logged, the final save
/// is made as the flags say (a failed save keeps the server running unless FORCE), the pid file
/// removed, and the server stops. Under the data lock.
/// </summary>
public sealed class ShutdownSequence(KvasirServer server)
{
    private long _deadlineMs;
    private ShutdownFlags _flags;

    public enum Outcome { Stopping, Waiting, Failed }

    /// <summary>Waiting for replicas to catch up (INFO shutdown_in_milliseconds).</summary>
    public bool Initiated => _deadlineMs != 0;

    public long RemainingMs => Initiated ? Math.Max(0, _deadlineMs - Environment.TickCount64) : 0;

    /// <summary>Valkey's prepareForShutdown. <paramref name="requester"/> names the SHUTDOWN caller for the log, null for a signal.</summary>
    public Outcome Begin(ShutdownFlags flags, Client? requester, Commands.CommandContext? ctx)
    {
        if (Initiated) return Outcome.Waiting;
        // Never overwrite the file with a half-loaded data set.
        // A Sentinel has no data set to save.
        if (server.Loading.Active || server.Sentinel is not null) flags = (flags & ~ShutdownFlags.Save) | ShutdownFlags.NoSave;
        _flags = flags;
        var log = server.Log;
        if (requester is not null && ctx is not null)
            log.Notice($"User requested shutdown... (user request from '{Commands.ClientCommands.AppendInfo(new System.Text.StringBuilder(), requester, ctx)}')");
        else
            log.Notice("User requested shutdown...");
        server.Systemd?.Notify("STOPPING=1\n");
        if ((flags & ShutdownFlags.Now) == 0 && server.Config.ShutdownTimeout != 0 && !ReplicasInSync())
        {
            _deadlineMs = Environment.TickCount64 + server.Config.ShutdownTimeout * 1000L;
            server.Replication.Waits.RequestAcks();
            server.Clients.SetWritePause(WritePause.Shutdown, true);
            log.Notice("Waiting for replicas before shutting down.");
            return Outcome.Waiting;
        }
        return Finish() ? Outcome.Stopping : Outcome.Failed;
    }

    /// <summary>SHUTDOWN ABORT: false when no shutdown was waiting.</summary>
    public bool Abort()
    {
        if (!Initiated) return false;
        Cancel();
        server.Log.Notice("Shutdown manually aborted.");
        return true;
    }

    /// <summary>From the cron: the wait ends when every replica caught up or the timeout passed.</summary>
    public void Cron()
    {
        if (!Initiated) return;
        if (Environment.TickCount64 < _deadlineMs && !ReplicasInSync()) return;
        if (!Finish()) return;
    }

    private bool ReplicasInSync()
    {
        var repl = server.Replication;
        foreach (var r in repl.Replicas)
            if (r.ReplicaInfo!.AckOffset != repl.Offset) return false;
        return true;
    }

    /// <summary>Valkey's finishShutdown: true when the server is stopping.</summary>
    private bool Finish()
    {
        var log = server.Log;
        var repl = server.Replication;
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        int lagging = 0;
        foreach (var r in repl.Replicas)
        {
            var st = r.ReplicaInfo!;
            if (st.AckOffset == repl.Offset) continue;
            lagging++;
            long lag = st.State == Replication.ReplicaSyncState.Online ? now - st.AckTimeUnix : 0;
            log.Notice($"Lagging replica {Replication.ReplicationManager.ReplicaName(r)} reported offset {repl.Offset - st.AckOffset} behind master, lag={lag}, state={st.StateName}.");
        }
        if (repl.Replicas.Count > 0)
            log.Notice($"{repl.Replicas.Count - lagging} of {repl.Replicas.Count} replicas are in sync when shutting down.");

        // An AOF just turned on holds nothing until its first rewrite ends: exiting now would lose the data.
        if (server.Persistence.Aof.WritingInitialBase)
        {
            if ((_flags & ShutdownFlags.Force) != 0)
            {
                log.Warning("Writing initial AOF. Exit anyway.");
            }
            else
            {
                log.Warning("Writing initial AOF, can't exit.");
                server.Systemd?.Notify("STATUS=Writing initial AOF, can't exit.\n");
                log.Warning("Errors trying to shut down the server. Check the logs for more information.");
                Cancel();
                return false;
            }
        }
        if ((_flags & ShutdownFlags.NoSave) == 0)
        {
            bool explicitSave = (_flags & ShutdownFlags.Save) != 0;
            bool saved = server.ShutdownSave is { } save ? save(explicitSave) : !explicitSave;
            if (!saved)
            {
                if ((_flags & ShutdownFlags.Force) != 0)
                {
                    log.Warning("Error trying to save the DB. Exit anyway.");
                }
                else
                {
                    log.Warning("Error trying to save the DB, can't exit.");
                    server.Systemd?.Notify("STATUS=Error trying to save the DB, can't exit.\n");
                    log.Warning("Errors trying to shut down the server. Check the logs for more information.");
                    Cancel();
                    return false;
                }
            }
        }
        server.Cluster?.Shutdown();
        if (server.Config.PidFile.Length > 0)
        {
            log.Notice("Removing the pid file.");
            try { File.Delete(server.Config.PidFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        log.Warning(server.Sentinel is not null ? "Sentinel is now ready to exit, bye bye..." : "Kvasir is now ready to exit, bye bye...");
        server.RequestStop();
        return true;
    }

    /// <summary>Valkey's cancelShutdown: writes resume, waiting SHUTDOWN callers get the error.</summary>
    private void Cancel()
    {
        _deadlineMs = 0;
        _flags = 0;
        server.Clients.SetWritePause(WritePause.Shutdown, false);
        foreach (var c in server.Clients.All.ToList())
        {
            if (c.Blocking is { } state && state.Command.Name == "shutdown")
                server.Blocking.FailWith(c, "ERR Errors trying to SHUTDOWN. Check logs.");
        }
    }
}
