using System.Diagnostics;
using System.Text;
using Kvasir.Clients;
using Kvasir.Protocol;

namespace Kvasir.Commands;

public enum DispatchResult
{
    /// <summary>The command ran (or was refused with an error) and its reply is written.</summary>
    Done,
    /// <summary>The command could not run now (CLIENT PAUSE, a blocking pop): retry it when the client is resumed.</summary>
    Suspended,
}

/// <summary>
/// The checks every command goes through before its handler runs (lookup, arity, authentication,
/// transaction queueing, pause), and the bookkeeping after it (stats, slowlog, MONITOR feed).
/// Runs under the server's data lock.
/// </summary>
public sealed class Dispatcher
{
    private readonly KvasirServer _server;

    public Dispatcher(KvasirServer server) => _server = server;

    public DispatchResult Execute(CommandContext ctx, CommandArgs args)
    {
        var client = ctx.Client;
        // CLIENT REPLY OFF/SKIP: replies are dropped for this command.
        client.Reply.Enabled = client.ReplyMode == ReplyMode.On;
        DispatchResult result;
        if (client.Blocking is { } waiting)
        {
            // Still waiting in a blocking command: only its deadline can end it from here.
            if (waiting.DeadlineMs == 0 || waiting.DeadlineMs > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) return DispatchResult.Suspended;
            _server.Blocking.TimeOut(client);
        }
        if (client.BlockedCommandAnswered)
        {
            // Answered while suspended (served, timed out, unblocked): this command is over.
            client.BlockedCommandAnswered = false;
            result = DispatchResult.Done;
        }
        else if (client.ReplicaInfo is { State: not Replication.ReplicaSyncState.None } && !(args.Count > 0 && args.Is(0, "REPLCONF"u8)))
        {
            // REPLCONF (ACK) is a replica's normal talk and writes no reply; anything else is watched.
            result = ExecuteForReplica(ctx, args);
        }
        else
        {
            client.CommandBytesIn = args.WireLength;
            result = ExecuteChecked(ctx, args);
        }
        _server.Replication.Waits.AfterCommand();
        // As Valkey's handleClientsBlockedOnKeys: waiters are woken once the command (or EXEC) is over;
        // not while a timed-out script lets other clients in (its pushes are served when it ends).
        if (!_server.Scripts.Running) _server.Blocking.HandleReady();
        if (result == DispatchResult.Done)
        {
            // As Valkey's resetClient: SKIP lasts one command; "CLIENT REPLY SKIP" arms it for the next.
            if (client.ReplyMode == ReplyMode.Skip) client.ReplyMode = ReplyMode.On;
            else if (client.ReplyMode == ReplyMode.SkipNext) client.ReplyMode = ReplyMode.Skip;
            client.Slot = -1;
            // ASKING lasts one command (or the transaction it opened).
            if (client.Has(ClientFlags.Asking) && !client.Has(ClientFlags.Multi) && ctx.Command?.Name != "asking")
                client.Flags &= ~ClientFlags.Asking;
            // CLIENT CACHING applies to the next command (or transaction) only.
            if (client.Has(ClientFlags.TrackingCaching) && !client.Has(ClientFlags.Multi) && ctx.Command?.Parent?.Name != "client")
                client.Flags &= ~ClientFlags.TrackingCaching;
        }
        // BCAST invalidations of the keys this command changed (Valkey sends them before sleeping).
        _server.Tracking.BroadcastPending();
        // Cluster work the command made necessary (a new configuration saved, the state recomputed).
        _server.Cluster?.BeforeSleep();
        return result;
    }

    private DispatchResult ExecuteChecked(CommandContext ctx, CommandArgs args)
    {
        var client = ctx.Client;
        var server = _server;
        client.LastInteractionMs = Environment.TickCount64;
        if (args.Count == 0) return DispatchResult.Done;

        var cmd = server.Commands.Find(args[0]);
        if (cmd is null)
        {
            client.LastCommand = "NULL";
            RejectUnknown(ctx, args);
            return DispatchResult.Done;
        }
        if (cmd.IsContainer && args.Count >= 2)
        {
            var sub = cmd.Subcommands!.GetValueOrDefault(Encoding.UTF8.GetString(args[1]));
            if (sub is null || sub.Handler is null)
            {
                client.LastCommand = "NULL";
                Reject(ctx, cmd, $"ERR unknown subcommand '{Truncate(args.ToString(1))}'. Try {cmd.Name.ToUpperInvariant()} HELP.");
                return DispatchResult.Done;
            }
            cmd = sub;
        }
        ctx.ResetForCommand(args, cmd);
        // CLIENT LIST cmd= shows the command being run, or queued (Valkey's lastcmd is set at lookup).
        client.LastCommand = cmd.Name;

        if ((cmd.Arity > 0 && args.Count != cmd.Arity) || args.Count < -cmd.Arity)
        {
            Reject(ctx, cmd, $"ERR wrong number of arguments for '{cmd.Name}' command");
            return DispatchResult.Done;
        }

        if (cmd.Has(CommandFlags.Protected) && ProtectedRefusal(client, cmd) is { } refusal)
        {
            Reject(ctx, cmd, refusal);
            return DispatchResult.Done;
        }

        if (!client.Authenticated && !cmd.Has(CommandFlags.NoAuth) && server.AuthRequired)
        {
            Reject(ctx, cmd, "NOAUTH Authentication required.");
            return DispatchResult.Done;
        }

        if (client.Has(ClientFlags.Multi) && cmd.Has(CommandFlags.NoMulti))
        {
            Reject(ctx, cmd, "ERR Command not allowed inside a transaction");
            return DispatchResult.Done;
        }

        // ACL: the user's permissions for this command, its keys and channels (the link to our
        // primary and the server's own clients have no user and are never restricted).
        if (client.User is { Unrestricted: false } user && !client.Has(ClientFlags.Master) && RejectedByAcl(ctx, user, cmd, args))
            return DispatchResult.Done;

        bool obey = client.MustObey;
        // Cluster mode: a command on keys of another node's slot is redirected before it runs
        // (commands from our primary are not: they are the shard's own writes).
        if (server.Cluster is { } cluster && !obey && MayRoute(cmd) && RejectedByCluster(ctx, cluster, cmd, args))
            return DispatchResult.Done;
        // Our primary's commands are not routed, yet count for their keys' slot in CLUSTER SLOT-STATS
        // (Valkey fills the slot in when such a command looks a key up).
        if (obey && server.Cluster is { } own && server.Config.ClusterSlotStatsEnabled && !client.Has(ClientFlags.Multi) && MayRoute(cmd))
            client.Slot = own.FirstKeySlot(cmd, args);

        var repl = server.Replication;
        if (repl.IsReplica && client.CanRedirect && !obey && RedirectsToPrimary(client, cmd))
        {
            // While a FAILOVER hands the role over, both servers may be replicas for a moment: the
            // client waits instead of bouncing between them.
            if (repl.Failover.InProgress)
            {
                server.Clients.Postpone(client);
                return DispatchResult.Suspended;
            }
            if (client.Postponed) server.Clients.EndPostpone(client);
            string redirect = $"REDIRECT {repl.PrimaryHost}:{repl.PrimaryPort}";
            if (cmd.Name == "exec")
            {
                // Not EXECABORT: the whole transaction belongs to the primary.
                cmd.RejectedCalls++;
                TransactionCommands.DiscardTransaction(ctx);
                ctx.Error(redirect);
            }
            else
            {
                Reject(ctx, cmd, redirect);
            }
            return DispatchResult.Done;
        }

        // maxmemory: evict first (before every command, as Valkey's performEvictions), then refuse what
        // may grow memory if it is still over the limit and nothing more can be evicted.
        PreCommandOom = server.Config.MaxMemory > 0 && server.Evictor.PerformEvictions() == Keyspace.Eviction.EvictResult.Fail;
        if (PreCommandOom && !obey && RejectedOnOom(client, cmd))
        {
            Reject(ctx, cmd, "OOM command not allowed when used memory > 'maxmemory'.");
            return DispatchResult.Done;
        }

        // Client-side caching keeps its table within tracking-table-max-keys.
        if (server.Tracking.ClientCount > 0) server.Tracking.LimitUsedSlots();

        // Data that cannot be persisted: writes (and PING, so that monitors such as Sentinel notice) are
        // refused, except from our primary, whose stream must go on.
        if (!obey && (HasAny(client, cmd, CommandFlags.Write) || cmd.Name == "ping") && server.Persistence.DiskErrorRefusal() is { } diskError)
        {
            Reject(ctx, cmd, diskError);
            return DispatchResult.Done;
        }

        if (server.Config.MinReplicasToWrite > 0 && !client.Has(ClientFlags.Master) && HasAny(client, cmd, CommandFlags.Write) && !HasEnoughGoodReplicas())
        {
            Reject(ctx, cmd, "NOREPLICAS Not enough good replicas to write.");
            return DispatchResult.Done;
        }

        // A read-only replica takes writes from its primary only.
        if (repl.IsReplica && server.Config.ReplicaReadOnly && !obey && HasAny(client, cmd, CommandFlags.Write))
        {
            Reject(ctx, cmd, "READONLY You can't write against a read only replica.");
            return DispatchResult.Done;
        }

        if (PubSubRefusal(client, cmd) is { } pubsubRefusal)
        {
            Reject(ctx, cmd, pubsubRefusal);
            return DispatchResult.Done;
        }

        // replica-serve-stale-data no: while the link is down only commands flagged "stale" run.
        if (repl.IsReplica && !server.Config.ReplicaServeStaleData && repl.Link is not { Connected: true } && DeniedWhen(client, cmd, CommandFlags.Stale))
        {
            Reject(ctx, cmd, "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.");
            return DispatchResult.Done;
        }

        var loading = server.Loading;
        if (loading.Active && ((!loading.Async && DeniedWhen(client, cmd, CommandFlags.Loading)) ||
                               (loading.Async && HasAny(client, cmd, CommandFlags.NoAsyncLoading))))
        {
            // Valkey's loader looks at clients only every loading-process-events-interval-bytes of
            // the image: before the first such point a command simply waits for the load (a small
            // image never shows -LOADING), after it the command is refused. A script of the load
            // past its time limit lets clients in at once, to be refused.
            if (!loading.Async && loading.LoadedBytes < server.Config.LoadingProcessEventsIntervalBytes && !server.Scripts.TimedOut)
            {
                server.Clients.Postpone(client);
                return DispatchResult.Suspended;
            }
            if (client.Postponed) server.Clients.EndPostpone(client);
            Reject(ctx, cmd, Persistence.LoadingStatus.Error);
            return DispatchResult.Done;
        }

        // A script past busy-reply-threshold lets other clients in (ScriptHost.CheckBusy): only
        // allow-busy commands run (SCRIPT KILL, FUNCTION KILL...), the rest get -BUSY.
        if (server.Scripts.TimedOut && !cmd.Has(CommandFlags.AllowBusy))
        {
            Reject(ctx, cmd, server.Scripts.BusyError);
            return DispatchResult.Done;
        }

        // A replica's connection only talks replication (REPLCONF ACK): it may not reach the data,
        // which would also let it past CLIENT PAUSE.
        if (client.ReplicaInfo is { State: not Replication.ReplicaSyncState.None } && HasAny(client, cmd, CommandFlags.Write | CommandFlags.ReadOnly | CommandFlags.MayReplicate))
        {
            Reject(ctx, cmd, "ERR Replica can't interact with the keyspace");
            return DispatchResult.Done;
        }

        // As in Valkey, the pause check comes before MULTI queueing: a paused client waits even to queue.
        var clients = server.Clients;
        if (client.Postponed && clients.MustWaitForTurn(client)) return DispatchResult.Suspended;
        if (IsPausedFor(client, cmd, args))
        {
            clients.Postpone(client);
            return DispatchResult.Suspended;
        }
        if (client.Postponed) clients.EndPostpone(client);

        if (client.Has(ClientFlags.Multi) && !IsTransactionControl(cmd))
        {
            QueueInTransaction(ctx, cmd, args);
            return DispatchResult.Done;
        }

        Call(ctx, cmd, args);
        // A blocking command that found nothing registered the client: retry it when woken.
        return client.Blocking is null ? DispatchResult.Done : DispatchResult.Suspended;
    }

    /// <summary>Runs a command that passed the checks (also used by EXEC for queued commands).</summary>
    public void Call(CommandContext ctx, CommandDefinition cmd, CommandArgs args)
    {
        var server = _server;
        var client = ctx.Client;
        ctx.ResetForCommand(args, cmd);
        // CLIENT NO-TOUCH: this client's lookups leave LRU/LFU alone, except TOUCH which exists to touch.
        var keyspace = server.Keyspace;
        bool outerNoTouch = keyspace.NoTouch;
        keyspace.NoTouch = client.Has(ClientFlags.NoTouch) && cmd.Name != "touch";
        var propagator = server.Propagator;
        propagator.BeginUnit();
        long dirtyBefore = keyspace.Dirty;
        var clock = server.Clock;
        long start = clock.CommandStart();
        server.PubSub.EnterCommand(client, cmd, out var outerCommand);
        int replyBefore = client.Reply.Length;
        long streamBefore = server.Replication.Offset, selectsBefore = propagator.SelectBytes;
        _callDepth++;
        try
        {
            cmd.Handler!(ctx);
        }
        finally
        {
            _callDepth--;
        }
        // Client tracking: the keys a read-only command read are remembered for the client that
        // sent it (the caller, when a script runs it).
        if (server.Tracking.ShouldRemember(cmd) && server.PubSub.CurrentClient is { } tracker)
            server.Tracking.RememberKeys(tracker, cmd, args);
        server.PubSub.ExitCommand(outerCommand);
        long micros = (long)Stopwatch.GetElapsedTime(start, clock.CommandEnd()).TotalMicroseconds;
        keyspace.NoTouch = outerNoTouch;
        // A command that changed data propagates itself, after any effects it added (EXEC never does:
        // the commands it ran did). The outermost unit emits, as a MULTI/EXEC when it holds several.
        // Only a growth of the counter counts: SAVE, DEBUG RELOAD/LOADAOF reset it and are not effects.
        if (propagator.Active && (keyspace.Dirty > dirtyBefore || ctx.PropagationForced) && !ctx.PropagationPrevented && cmd.Name != "exec")
        {
            // Unchanged commands are encoded from the request's own slices (no argv copy per write).
            if (ctx.PropagateArgv is { } rewritten) propagator.Add(client.DbIndex, rewritten);
            else propagator.Add(client.DbIndex, args);
        }
        long offsetBefore = server.Replication.Offset;
        propagator.EndUnit(cmd.Has(CommandFlags.TouchesArbitraryKeys));
        // WAIT waits for the stream up to this client's last write that reached it.
        if (server.Replication.Offset != offsetBefore) client.WriteOffset = server.Replication.Offset;
        // CLUSTER SLOT-STATS: the outermost command's bytes count for the slot of its keys: its
        // request once it is over, its reply, and what it sent every replica (SELECTs excepted).
        if (_callDepth == 0 && client.Slot >= 0 && server.Cluster is { SlotStats: { } stats } && server.Config.ClusterSlotStatsEnabled)
        {
            long bytesIn = 0;
            if (client.Blocking is null)
            {
                bytesIn = client.CommandBytesIn + (cmd.Name == "exec" ? MultiRequestBytes : 0);
                client.CommandBytesIn = 0;
            }
            long stream = server.Replication.Offset - streamBefore - (propagator.SelectBytes - selectsBefore);
            long bytesOut = Math.Max(0, client.Reply.Length - replyBefore) + Math.Max(0, stream) * server.Replication.Replicas.Count;
            stats.AddTraffic(client.Slot, bytesIn, bytesOut);
        }

        // A command that blocked is not over: it is counted once, when it is served, times out or is
        // unblocked, with the time of all its runs (Valkey's updateStatsOnUnblock).
        bool blocked = client.Blocking is not null;
        if (blocked) ctx.BlockedMicros += micros;
        else RecordCall(ctx, cmd, args, micros + ctx.BlockedMicros, ctx.Failed);

        // Monitors see a command after it ran (so EXEC follows the commands it ran, and SELECT shows
        // the new database), with the arguments it was sent with, secrets redacted by the handler.
        // A blocked command is shown when it first runs, not again when it is served.
        if (server.Clients.Monitors.Count > 0 && ctx.Reprocessing is null && !cmd.Has(CommandFlags.SkipMonitor) && !cmd.Has(CommandFlags.Admin))
            FeedMonitors(client, MonitorArguments(args, ctx));

        server.AddLatencySample(cmd.Has(CommandFlags.Fast) ? "fast-command" : "command", micros / 1000);
    }

    private int _callDepth;

    /// <summary>"*1\r\n$5\r\nmulti\r\n": MULTI has no slot, so EXEC counts its request for the transaction's.</summary>
    private const int MultiRequestBytes = 15;

    /// <summary>Stats and slow log of a command that completed, after <paramref name="micros"/> of execution.</summary>
    private void RecordCall(CommandContext ctx, CommandDefinition cmd, CommandArgs args, long micros, bool failed)
    {
        var server = _server;
        var client = ctx.Client;
        ctx.BlockedMicros = 0;
        cmd.Calls++;
        cmd.Microseconds += micros;
        // CLUSTER SLOT-STATS cpu-usec: the outermost command's time (it includes what it ran), or a
        // blocked command's whole time when it is over, as Valkey's canAddCpuDuration.
        if ((_callDepth == 0 || cmd.Has(CommandFlags.Blocking)) && client.Slot >= 0 &&
            server.Cluster is { SlotStats: { } stats } && server.Config.ClusterSlotStatsEnabled)
            stats.CpuMicros[client.Slot] += micros;
        if (failed) cmd.FailedCalls++;
        if (server.Config.LatencyTracking) (cmd.LatencyHistogram ??= new Observability.LatencyHistogram()).Record(micros * 1000);
        server.Metrics.AddCommand(micros);
        server.Stats.TotalCommandsProcessed++;
        client.TotalCommands++;
        var cfg = server.Config;
        if (cfg.SlowlogLogSlowerThan >= 0 && micros >= cfg.SlowlogLogSlowerThan && !cmd.Has(CommandFlags.SkipSlowlog))
            server.SlowLog.Add(LoggedArguments(args, ctx), micros, client.RemoteAddress, client.Name, cfg.SlowlogMaxLen);
    }

    /// <summary>
    /// Runs a blocked command again because a key it waits on now holds data (Valkey's
    /// unblockClientOnKey): with the checks a new command goes through, in its own time snapshot,
    /// while the connection that sent it stays suspended. It either completes or blocks again.
    /// </summary>
    internal void Reprocess(BlockState state)
    {
        var ctx = state.Context;
        var client = ctx.Client;
        _server.UpdateClock();
        client.Reply.Enabled = client.ReplyMode == ReplyMode.On;
        ctx.Reprocessing = state;
        try
        {
            ExecuteChecked(ctx, state.Args);
        }
        finally
        {
            ctx.Reprocessing = null;
        }
    }

    /// <summary>A blocked command was answered without running again (timeout, CLIENT UNBLOCK): count it now.</summary>
    internal void CompleteBlocked(BlockState state, bool failed) =>
        RecordCall(state.Context, state.Command, state.Args, state.Context.BlockedMicros, failed);

    /// <summary>Commands that can have keys, and EXEC (Valkey skips routing for the rest).</summary>
    private static bool MayRoute(CommandDefinition cmd) =>
        cmd.KeySpecs.Length > 0 || cmd.Has(CommandFlags.MovableKeys) || cmd.Name == "exec";

    /// <summary>
    /// -MOVED / -ASK / -CROSSSLOT / -TRYAGAIN / -CLUSTERDOWN when the keys of the command (or of the
    /// transaction, for EXEC) are not served here (Valkey's getNodeByQuery in processCommand).
    /// </summary>
    private static bool RejectedByCluster(CommandContext ctx, Cluster.ClusterState cluster, CommandDefinition cmd, CommandArgs args)
    {
        var node = cluster.GetNodeByQuery(ctx.Client, cmd, args, out int slot, out var redirect);
        if (node is not null && node.IsMyself)
        {
            ctx.Client.Slot = slot;
            return false;
        }
        string error = cluster.RedirectError(ctx.Client, node, slot, redirect);
        if (cmd.Name == "exec")
        {
            // The whole transaction goes elsewhere: discarded, with the redirection itself as the answer.
            cmd.RejectedCalls++;
            TransactionCommands.DiscardTransaction(ctx);
            ctx.Error(error);
        }
        else
        {
            Reject(ctx, cmd, error);
        }
        return true;
    }

    /// <summary>Refuses a command the client's user may not run with -NOPERM, and logs it in ACL LOG.</summary>
    private bool RejectedByAcl(CommandContext ctx, Security.AclUser user, CommandDefinition cmd, CommandArgs args)
    {
        var acl = _server.Acl;
        var denial = acl.Check(user, cmd, args, out int position);
        if (denial == Security.AclDenial.None) return false;
        var context = ctx.Client.Has(ClientFlags.Multi) ? Security.AclLogContext.Multi : Security.AclLogContext.TopLevel;
        acl.LogDenial(ctx, user, denial, context, cmd, args, position);
        Reject(ctx, cmd, "NOPERM " + Security.AccessControl.DenialMessage(denial, user, cmd, "", verbose: false));
        return true;
    }

    /// <summary>DEBUG and MODULE run only where enable-debug-command / enable-module-command allow ("local": loopback or unix socket).</summary>
    private string? ProtectedRefusal(Client client, CommandDefinition cmd)
    {
        bool module = (cmd.Parent ?? cmd).Name == "module";
        string setting = module ? _server.Config.EnableModuleCommand : _server.Config.EnableDebugCommand;
        if (setting == "yes") return null;
        if (setting == "local" && IsLocal(client)) return null;
        return $"ERR {(module ? "MODULE" : "DEBUG")} command not allowed. If the {(module ? "enable-module-command" : "enable-debug-command")} option is set to \"local\", " +
               "you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
    }

    private static bool IsLocal(Client client)
    {
        if (client.Has(ClientFlags.UnixSocket)) return true;
        if (client.RemoteEndPoint is not System.Net.IPEndPoint ip) return false;
        var address = ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address;
        return System.Net.IPAddress.IsLoopback(address);
    }

    /// <summary>
    /// A RESP2 subscriber may only (un)subscribe, PING, QUIT and RESET; unsubscribing needs a
    /// subscription context (any protocol).
    /// </summary>
    private static string? PubSubRefusal(Client client, CommandDefinition cmd)
    {
        bool subscriber = client.Has(ClientFlags.PubSub);
        if (subscriber && !client.Reply.IsResp3 && cmd.Name is not ("ping" or "subscribe" or "ssubscribe" or "unsubscribe"
                or "sunsubscribe" or "psubscribe" or "punsubscribe" or "quit" or "reset"))
            return $"ERR Can't execute '{cmd.Name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";
        if (!subscriber && cmd.Name is "unsubscribe" or "sunsubscribe" or "punsubscribe")
            return $"NOSUB '{cmd.Name}' command executed not in subscribed mode";
        return null;
    }

    private static bool IsTransactionControl(CommandDefinition cmd) =>
        cmd.Name is "exec" or "discard" or "multi" or "watch" or "quit" or "reset";

    private void QueueInTransaction(CommandContext ctx, CommandDefinition cmd, CommandArgs args)
    {
        var client = ctx.Client;
        // An aborted transaction keeps answering QUEUED but stores nothing (EXEC will fail anyway).
        if (!client.Has(ClientFlags.DirtyCas) && !client.Has(ClientFlags.DirtyExec))
        {
            client.MultiQueue ??= new List<byte[][]>();
            var copy = args.ToArrays();
            client.MultiQueue.Add(copy);
            // As Valkey's multi-mem: argument bytes plus one object pointer per argument.
            foreach (var a in copy) client.MultiMemory += a.Length + 8;
            var flags = _server.Scripts.EffectiveFlags(cmd, args);
            client.MultiCommandFlags |= flags;
            client.MultiMissingFlags |= ~flags & (CommandFlags.Stale | CommandFlags.Loading);
        }
        ctx.Reply.WriteSimpleString("QUEUED"u8);
        // A queued command's request counts for its slot now (Valkey's commandProcessed).
        if (client.Slot >= 0 && _server.Cluster is { SlotStats: { } stats } && _server.Config.ClusterSlotStatsEnabled)
        {
            stats.AddTraffic(client.Slot, client.CommandBytesIn, 0);
            client.CommandBytesIn = 0;
        }
    }

    private bool IsPausedFor(Client client, CommandDefinition cmd, CommandArgs args)
    {
        var clients = _server.Clients;
        if (!clients.IsPaused) return false;
        if (client.Has(ClientFlags.Replica) || client.Has(ClientFlags.Master)) return false;
        if (!clients.OnlyWritesPaused) return true;
        // WRITE pause: writes and commands that may write (EVAL, PUBLISH...) wait; reads go on.
        // EXEC counts as a write when one of its queued commands is.
        // A script's own flags decide for EVAL/FCALL (a no-writes script runs).
        var flags = _server.Scripts.EffectiveFlags(cmd, args);
        if (cmd.Name == "exec") flags |= client.MultiCommandFlags;
        return (flags & (CommandFlags.Write | CommandFlags.MayReplicate)) != 0;
    }

    private void RejectUnknown(CommandContext ctx, CommandArgs args)
    {
        var sb = new StringBuilder();
        sb.Append("ERR unknown command '").Append(Truncate(args.ToString(0))).Append("', with args beginning with: ");
        for (int i = 1; i < args.Count && sb.Length < 128; i++)
            sb.Append('\'').Append(Truncate(args.ToString(i), 128 - sb.Length)).Append("' ");
        FlagTransaction(ctx.Client);
        ctx.Error(sb.ToString());
    }

    private static void Reject(CommandContext ctx, CommandDefinition cmd, string message)
    {
        cmd.RejectedCalls++;
        if (cmd.Name == "exec" && ctx.Client.Has(ClientFlags.Multi))
        {
            // A refused EXEC ends the transaction, saying why (Valkey's execCommandAbort). Generic
            // errors lose their "ERR " there; errors with their own code (OOM, NOREPLICAS...) keep it.
            TransactionCommands.DiscardTransaction(ctx);
            string reason = message.StartsWith("ERR ", StringComparison.Ordinal) ? message[4..] : message;
            ctx.Error("EXECABORT Transaction discarded because of: " + reason);
            return;
        }
        FlagTransaction(ctx.Client);
        ctx.Error(message);
    }

    /// <summary>Whether the command has one of <paramref name="flags"/>; EXEC has the flags of its queued commands too.</summary>
    private static bool HasAny(Client client, CommandDefinition cmd, CommandFlags flags)
    {
        var all = cmd.Flags;
        if (cmd.Name == "exec") all |= client.MultiCommandFlags;
        return (all & flags) != 0;
    }

    /// <summary>
    /// True when the command lacks <paramref name="flag"/> (stale, loading), EXEC when one of its
    /// queued commands does (Valkey's cmd_inv_flags).
    /// </summary>
    private static bool DeniedWhen(Client client, CommandDefinition cmd, CommandFlags flag) =>
        !cmd.Has(flag) || (cmd.Name == "exec" && (client.MultiMissingFlags & flag) != 0);

    /// <summary>CLIENT CAPA REDIRECT on a replica: writes, and reads unless READONLY was sent, go to the primary.</summary>
    private static bool RedirectsToPrimary(Client client, CommandDefinition cmd) =>
        HasAny(client, cmd, CommandFlags.Write) || (HasAny(client, cmd, CommandFlags.ReadOnly) && !client.Has(ClientFlags.ReadOnly));

    /// <summary>
    /// A command from a replica's connection: replicas never get replies (they would mix into the
    /// stream), so one that produced a reply is a misbehaving peer and is disconnected, as Valkey does.
    /// </summary>
    private DispatchResult ExecuteForReplica(CommandContext ctx, CommandArgs args)
    {
        var client = ctx.Client;
        var reply = client.Reply;
        int mark = reply.Length;
        reply.Enabled = true;
        var result = ExecuteChecked(ctx, args);
        if (reply.Length > mark)
        {
            var written = reply.WrittenSpan[mark..];
            string text = Replication.ReplicationManager.Escape(written);
            if (written.Length > 0 && written[0] == (byte)'-')
                _server.Log.Warning($"== CRITICAL == This primary is sending an error to its replica: '{text.TrimEnd()}' after processing the command '{client.LastCommand}'");
            reply.Truncate(mark);
            _server.Log.Warning($"Replica generated a reply to command '{client.LastCommand}', disconnecting it: {text}");
            _server.DisconnectClient(client);
        }
        reply.Enabled = false;
        return result;
    }

    /// <summary>
    /// Refused when over maxmemory: commands that may grow memory, and EXEC when it queued one (Valkey
    /// 8 no longer refuses the queueing of other commands in a transaction).
    /// </summary>
    private static bool RejectedOnOom(Client client, CommandDefinition cmd) => HasAny(client, cmd, CommandFlags.DenyOom);

    /// <summary>
    /// min-replicas-to-write: writes need that many replicas acknowledging within min-replicas-max-lag.
    /// The replication subsystem reports the count as the INFO gauge min_slaves_good_slaves.
    /// </summary>
    internal bool HasEnoughGoodReplicas()
    {
        var cfg = _server.Config;
        if (cfg.ReplicaOfHost.Length > 0 || cfg.MinReplicasMaxLag == 0 || cfg.MinReplicasToWrite == 0) return true;
        return _server.Stats.Gauge("min_slaves_good_slaves") >= cfg.MinReplicasToWrite;
    }

    /// <summary>
    /// Memory was still over maxmemory after evicting, before the current command (Valkey's
    /// pre_command_oom_state): scripts refuse denyoom commands and unflagged scripts by it.
    /// </summary>
    internal bool PreCommandOom { get; private set; }

    /// <summary>A command was refused while queueing: EXEC must fail, and the queue is useless now.</summary>
    private static void FlagTransaction(Client client)
    {
        if (!client.Has(ClientFlags.Multi)) return;
        client.Flags |= ClientFlags.DirtyExec;
        client.ClearMultiQueue();
    }

    /// <summary>Valkey formats these names with "%.128s": at most 128 characters, and a NUL ends the string.</summary>
    private static string Truncate(string s, int max = 128)
    {
        int nul = s.IndexOf('\0');
        if (nul >= 0) s = s[..nul];
        return s.Length <= max ? s : s[..Math.Max(0, max)];
    }

    private static readonly byte[] Redacted = "(redacted)"u8.ToArray();

    /// <summary>The arguments part of a MONITOR line: "arg" "arg" ... with Valkey's escaping.</summary>
    public static string MonitorArguments(CommandArgs args, CommandContext? ctx = null)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < args.Count; i++)
        {
            if (i > 0) sb.Append(' ');
            sb.Append('"');
            Repr.Append(sb, ctx is not null && ctx.IsRedacted(i) ? Redacted : args[i]);
            sb.Append('"');
        }
        return sb.ToString();
    }

    private static byte[][] LoggedArguments(CommandArgs args, CommandContext ctx)
    {
        var result = args.ToArrays();
        for (int i = 0; i < result.Length; i++)
            if (ctx.IsRedacted(i)) result[i] = Redacted;
        return result;
    }

    /// <summary>Sends "unix-seconds.micros [db client-address] arguments" to every monitor, the sender included.</summary>
    public void FeedMonitors(Client source, string arguments)
    {
        var sb = new StringBuilder(arguments.Length + 64);
        long micros = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        sb.Append((micros / 1_000_000).ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('.')
          .Append((micros % 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture));
        sb.Append(" [").Append(source.DbIndex).Append(' ');
        if (source.Has(ClientFlags.Fake)) sb.Append("lua");
        else if (source.Has(ClientFlags.UnixSocket)) sb.Append("unix:").Append(_server.Config.UnixSocket);
        else sb.Append(source.RemoteAddress);
        sb.Append("] ").Append(arguments);
        var line = Encoding.UTF8.GetBytes(sb.ToString());
        foreach (var m in _server.Clients.Monitors)
        {
            m.Reply.WriteSimpleString(line);
            m.Transport?.OutputAvailable();
        }
    }
}
