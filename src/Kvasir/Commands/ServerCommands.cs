using Kvasir.Config;
using System.Globalization;
using Kvasir.Clients;

namespace Kvasir.Commands;

/// <summary>Server commands: TIME LASTSAVE SHUTDOWN MONITOR.</summary>
public static class ServerCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("time", Time);
        t.Bind("lastsave", LastSave);
        t.Bind("shutdown", Shutdown);
        t.Bind("monitor", Monitor);
    }

    private static void Time(CommandContext ctx)
    {
        // Inside a script, time stands still at the script's start (Valkey's cached command time).
        long micros = ctx.Server.Scripts.StartUnixMicros ?? (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        ctx.Reply.WriteArray(2);
        ctx.Reply.WriteBulk(micros / 1_000_000);
        ctx.Reply.WriteBulk(micros % 1_000_000);
    }

    private static void LastSave(CommandContext ctx) => ctx.Reply.WriteInteger(ctx.Server.LastSaveUnix);

    /// <summary>Clients that must get one reply per command (transactions, scripts) cannot be turned into monitors or wait for shutdown.</summary>
    private static bool DeniesBlocking(Client c) => c.Has(ClientFlags.Multi) || c.Has(ClientFlags.Fake);

    private static void Monitor(CommandContext ctx)
    {
        var client = ctx.Client;
        if (DeniesBlocking(client))
        {
            ctx.Error("ERR MONITOR isn't allowed for DENY BLOCKING client");
            return;
        }
        // A replica, or a client already monitoring, silently ignores it.
        if (client.Has(ClientFlags.Replica)) return;
        client.Flags |= ClientFlags.Replica | ClientFlags.Monitor;
        ctx.Server.Clients.AddMonitor(client);
        ctx.Reply.WriteOk();
    }

    private static void Shutdown(CommandContext ctx)
    {
        bool nosave = false, save = false, now = false, force = false, abort = false;
        for (int i = 1; i < ctx.ArgCount; i++)
        {
            if (ctx.Args.Is(i, "NOSAVE"u8)) nosave = true;
            else if (ctx.Args.Is(i, "SAVE"u8)) save = true;
            else if (ctx.Args.Is(i, "NOW"u8)) now = true;
            else if (ctx.Args.Is(i, "FORCE"u8)) force = true;
            else if (ctx.Args.Is(i, "ABORT"u8)) abort = true;
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if ((abort && (nosave || save || now || force)) || (nosave && save))
        {
            ctx.SyntaxError();
            return;
        }
        var server = ctx.Server;
        if (abort)
        {
            if (server.Shutdown.Abort()) ctx.Reply.WriteOk();
            else ctx.Error("ERR No shutdown in progress.");
            return;
        }
        if (!now && DeniesBlocking(ctx.Client))
        {
            ctx.Error("ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client");
            return;
        }
        if (!nosave && server.Scripts.TimedOut)
        {
            // A script past its busy threshold: only SHUTDOWN NOSAVE may stop the server.
            ctx.Error(server.Scripts.BusyError);
            return;
        }

        var flags = (nosave ? ShutdownFlags.NoSave : 0) | (save ? ShutdownFlags.Save : 0) | (now ? ShutdownFlags.Now : 0) | (force ? ShutdownFlags.Force : 0);
        switch (server.Shutdown.Begin(flags, ctx.Client, ctx))
        {
            case ShutdownSequence.Outcome.Stopping:
                // Like Valkey, no reply: the connection simply closes as the server goes away.
                ctx.Client.Flags |= ClientFlags.CloseAsap;
                break;
            case ShutdownSequence.Outcome.Waiting:
                // Waits for lagging replicas; answered only if the shutdown fails or is aborted.
                server.Blocking.Block(ctx, [], default, 0);
                break;
            default:
                ctx.Error("ERR Errors trying to SHUTDOWN. Check logs.");
                break;
        }
    }
}
