using Kvasir.Clients;
using Kvasir.Protocol;

namespace Kvasir.Commands;

/// <summary>
/// Transactions (Valkey's multi.c): MULTI, EXEC, DISCARD, WATCH, UNWATCH. The Dispatcher queues the
/// commands sent after MULTI (and refuses the ones that cannot be queued, which makes EXEC abort);
/// EXEC runs the queue atomically, unless a WATCHed key changed since it was watched.
/// </summary>
public static class TransactionCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("multi", Multi);
        t.Bind("exec", Exec);
        t.Bind("discard", Discard);
        t.Bind("watch", Watch);
        t.Bind("unwatch", Unwatch);
    }

    private static void Multi(CommandContext ctx)
    {
        // The Dispatcher refuses MULTI inside MULTI (no-multi flag) before this runs; kept for direct callers.
        if (ctx.Client.Has(ClientFlags.Multi))
        {
            ctx.Error("ERR MULTI calls can not be nested");
            return;
        }
        ctx.Client.Flags |= ClientFlags.Multi;
        ctx.Reply.WriteOk();
    }

    private static void Discard(CommandContext ctx)
    {
        if (!ctx.Client.Has(ClientFlags.Multi))
        {
            ctx.Error("ERR DISCARD without MULTI");
            return;
        }
        DiscardTransaction(ctx);
        ctx.Reply.WriteOk();
    }

    /// <summary>Leaves MULTI state: drops the queue and the abort flags, and unwatches every key.</summary>
    public static void DiscardTransaction(CommandContext ctx)
    {
        var client = ctx.Client;
        client.ClearMultiQueue();
        client.Flags &= ~(ClientFlags.Multi | ClientFlags.DirtyCas | ClientFlags.DirtyExec);
        ctx.Server.Clients.Watches.UnwatchAll(client);
    }

    private static void Exec(CommandContext ctx)
    {
        var client = ctx.Client;
        var server = ctx.Server;
        if (!client.Has(ClientFlags.Multi))
        {
            ctx.Error("ERR EXEC without MULTI");
            return;
        }
        // A watched key that expired since WATCH counts as modified, even if nobody deleted it yet.
        if (server.Clients.Watches.AnyWatchedKeyExpired(client, server.Databases))
            client.Flags |= ClientFlags.DirtyCas;

        if (client.Has(ClientFlags.DirtyCas) || client.Has(ClientFlags.DirtyExec))
        {
            bool refused = client.Has(ClientFlags.DirtyExec);
            DiscardTransaction(ctx);
            if (refused) ctx.Error("EXECABORT Transaction discarded because of previous errors.");
            else ctx.Reply.WriteNullArray();
            return;
        }

        server.Clients.Watches.UnwatchAll(client);
        var queue = client.MultiQueue;
        var execArgs = ctx.Args;
        var execCommand = ctx.Command;
        int count = queue?.Count ?? 0;
        ctx.Reply.WriteArray(count);
        // CLIENT LIST argv-mem during EXEC describes EXEC's own arguments, not the queued command's.
        client.ExecArgvMemory = 0;
        for (int i = 0; i < execArgs.Count; i++) client.ExecArgvMemory += execArgs[i].Length;
        if (queue is not null)
        {
            var args = new CommandArgs();
            foreach (var argv in queue)
            {
                args.SetOwned(argv);
                var cmd = Resolve(server.Commands, args);
                if (cmd is null)
                {
                    // Only possible if the command table changed since queueing.
                    ctx.Error("ERR unknown command");
                    continue;
                }
                // Permissions are checked again: they may have changed since the command was queued.
                if (client.User is { Unrestricted: false } user && server.Acl.Check(user, cmd, args, out int position) is var denial &&
                    denial != Security.AclDenial.None)
                {
                    server.Acl.LogDenial(ctx, user, denial, Security.AclLogContext.Multi, cmd, args, position);
                    ctx.Error("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. " +
                              "This command is no longer allowed for the following reason: " + denial switch
                              {
                                  Security.AclDenial.Command => "no permission to execute the command or subcommand",
                                  Security.AclDenial.Key => "no permission to touch the specified keys",
                                  Security.AclDenial.Channel => "no permission to access one of the channels used as arguments",
                                  _ => "no permission",
                              });
                    continue;
                }
                server.Dispatcher.Call(ctx, cmd, args);
            }
        }
        ctx.ResetForCommand(execArgs, execCommand);
        client.ExecArgvMemory = -1;
        DiscardTransaction(ctx);
    }

    private static CommandDefinition? Resolve(CommandTable table, CommandArgs args)
    {
        var cmd = table.Find(args[0]);
        if (cmd is null || !cmd.IsContainer || args.Count < 2) return cmd;
        var sub = cmd.Subcommands!.GetValueOrDefault(Ascii.ToLowerString(args[1]));
        return sub?.Handler is null ? null : sub;
    }

    private static void Watch(CommandContext ctx)
    {
        var client = ctx.Client;
        // Refused by the Dispatcher inside MULTI (no-multi flag); kept for direct callers.
        if (client.Has(ClientFlags.Multi))
        {
            ctx.Error("ERR WATCH inside MULTI is not allowed");
            return;
        }
        // Already dirty: EXEC will fail whatever else is watched.
        if (!client.Has(ClientFlags.DirtyCas))
        {
            var watches = ctx.Server.Clients.Watches;
            var db = ctx.Db;
            for (int i = 1; i < ctx.ArgCount; i++) watches.Watch(client, db, ctx.Args[i]);
        }
        ctx.Reply.WriteOk();
    }

    private static void Unwatch(CommandContext ctx)
    {
        ctx.Server.Clients.Watches.UnwatchAll(ctx.Client);
        ctx.Client.Flags &= ~ClientFlags.DirtyCas;
        ctx.Reply.WriteOk();
    }
}
