using Kvasir.Clients;
using Kvasir.Commands;

namespace Kvasir.Replication;

/// <summary>
/// FAILOVER: a coordinated hand-over of the primary role to a replica, as Valkey's state machine.
/// The primary holds client writes, waits until a replica (the one named with TO, or any) has
/// acknowledged the whole stream, becomes that replica's replica with "PSYNC replid offset
/// FAILOVER", which makes the target promote itself and continue from this server's offset
/// (+CONTINUE). TIMEOUT aborts (or with FORCE, fails over anyway); ABORT and a refused PSYNC undo it.
/// Under the data lock.
/// </summary>
public sealed class FailoverCoordinator(KvasirServer server)
{
    public enum FailoverState { None, WaitForSync, InProgress }

    public FailoverState State { get; private set; }
    private string? _targetHost;
    private int _targetPort;
    private long _endMs;
    private bool _force;

    /// <summary>The old primary has sent PSYNC ... FAILOVER and waits for the answer.</summary>
    public bool InProgress => State == FailoverState.InProgress;

    /// <summary>Any failover under way: writes are held, replicas get no PINGs (they would move the offsets).</summary>
    public bool Active => State != FailoverState.None;

    /// <summary>INFO's master_failover_state.</summary>
    public string StateName => State switch
    {
        FailoverState.WaitForSync => "waiting-for-sync",
        FailoverState.InProgress => "failover-in-progress",
        _ => "no-failover",
    };

    /// <summary>FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms].</summary>
    public void Command(CommandContext ctx)
    {
        if (ctx.ArgCount == 2 && ctx.ArgIs(1, "ABORT"u8))
        {
            if (State == FailoverState.None)
            {
                ctx.Error("ERR No failover in progress.");
                return;
            }
            Abort("Failover manually aborted");
            ctx.Reply.WriteOk();
            return;
        }
        long timeout = 0;
        bool force = false;
        string? host = null;
        long port = 0;
        for (int i = 1; i < ctx.ArgCount; i++)
        {
            if (ctx.ArgIs(i, "TIMEOUT"u8) && i + 1 < ctx.ArgCount && timeout == 0)
            {
                if (!ctx.TryGetLong(i + 1, out timeout)) return;
                if (timeout <= 0)
                {
                    ctx.Error("ERR FAILOVER timeout must be greater than 0");
                    return;
                }
                i++;
            }
            else if (ctx.ArgIs(i, "TO"u8) && i + 2 < ctx.ArgCount && host is null)
            {
                if (!ctx.TryGetLong(i + 2, out port)) return;
                host = ctx.Args.ToString(i + 1);
                i += 2;
            }
            else if (ctx.ArgIs(i, "FORCE"u8) && !force)
            {
                force = true;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        var repl = server.Replication;
        if (State != FailoverState.None)
        {
            ctx.Error("ERR FAILOVER already in progress.");
            return;
        }
        if (repl.IsReplica)
        {
            ctx.Error("ERR FAILOVER is not valid when server is a replica.");
            return;
        }
        if (repl.Replicas.Count == 0)
        {
            ctx.Error("ERR FAILOVER requires connected replicas.");
            return;
        }
        if (force && (timeout == 0 || host is null))
        {
            ctx.Error("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
            return;
        }
        if (host is not null)
        {
            var replica = FindReplica(host, (int)port);
            if (replica is null)
            {
                ctx.Error("ERR FAILOVER target HOST and PORT is not a replica.");
                return;
            }
            if (replica.ReplicaInfo!.State != ReplicaSyncState.Online)
            {
                ctx.Error("ERR FAILOVER target replica is not online.");
                return;
            }
            _targetHost = host;
            _targetPort = (int)port;
            server.Log.Notice($"FAILOVER requested to {host}:{port}.");
        }
        else
        {
            server.Log.Notice("FAILOVER requested to any replica.");
        }
        _endMs = timeout > 0 ? ctx.NowMs + timeout : 0;
        _force = force;
        State = FailoverState.WaitForSync;
        server.Clients.SetWritePause(WritePause.Failover, true);
        ctx.Reply.WriteOk();
    }

    /// <summary>Valkey's updateFailoverStatus: fail over once the target (or any replica) has the whole stream.</summary>
    public void Cron()
    {
        if (State != FailoverState.WaitForSync) return;
        var repl = server.Replication;
        long now = server.Keyspace.NowMs;
        if (_endMs != 0 && _endMs <= now)
        {
            if (_force)
            {
                server.Log.Notice($"FAILOVER to {_targetHost}:{_targetPort} time out exceeded, failing over.");
                State = FailoverState.InProgress;
                repl.SetPrimary(_targetHost!, _targetPort);
            }
            else
            {
                Abort("Replica never caught up before timeout");
            }
            return;
        }
        Client? replica = null;
        if (_targetHost is not null)
        {
            replica = FindReplica(_targetHost, _targetPort);
        }
        else
        {
            foreach (var r in repl.Replicas)
            {
                if (r.ReplicaInfo!.AckOffset != repl.Offset) continue;
                replica = r;
                _targetHost = r.ReplicaInfo.AnnouncedIp ?? ReplicationManager.HostOf(r.RemoteAddress);
                _targetPort = r.ReplicaInfo.ListeningPort;
                break;
            }
        }
        if (replica is not null && replica.ReplicaInfo!.AckOffset == repl.Offset)
        {
            State = FailoverState.InProgress;
            server.Log.Notice($"Failover target {_targetHost}:{_targetPort} is synced, failing over.");
            repl.SetPrimary(_targetHost!, _targetPort);
        }
    }

    /// <summary>The target answered our PSYNC ... FAILOVER: accepted ends the failover, refused undoes it.</summary>
    internal void PsyncAnswered(bool ok)
    {
        if (State != FailoverState.InProgress) return;
        if (ok) Clear();
        else Abort("Failover target rejected psync request");
    }

    /// <summary>Valkey's abortFailover: a failover already switched over goes back to being a primary.</summary>
    public void Abort(string reason)
    {
        if (State == FailoverState.None) return;
        server.Log.Notice(_targetHost is not null
            ? $"FAILOVER to {_targetHost}:{_targetPort} aborted: {reason}"
            : $"FAILOVER to any replica aborted: {reason}");
        if (State == FailoverState.InProgress) server.Replication.UnsetPrimary();
        Clear();
    }

    private void Clear()
    {
        _endMs = 0;
        _force = false;
        _targetHost = null;
        _targetPort = 0;
        State = FailoverState.None;
        server.Clients.SetWritePause(WritePause.Failover, false);
    }

    /// <summary>The replica at host:port as it announced itself (Valkey's findReplica).</summary>
    private Client? FindReplica(string host, int port)
    {
        foreach (var r in server.Replication.Replicas)
        {
            var st = r.ReplicaInfo!;
            string ip = st.AnnouncedIp ?? ReplicationManager.HostOf(r.RemoteAddress);
            if (string.Equals(ip, host, StringComparison.OrdinalIgnoreCase) && st.ListeningPort == port) return r;
        }
        return null;
    }
}
