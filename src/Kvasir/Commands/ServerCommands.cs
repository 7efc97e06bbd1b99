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
        if (abort)
        {
            // Shutdown never waits here (there are no lagging replicas to wait for), so none can be in progress.
            ctx.Error("ERR No shutdown in progress.");
            return;
        }
        if (!now && DeniesBlocking(ctx.Client))
        {
            ctx.Error("ERR SHUTDOWN without NOW or ABORT isn't allowed for DENY BLOCKING client");
            return;
        }

        var server = ctx.Server;
        var log = server.Log;
        log.Notice($"User requested shutdown... (user request from 'id={ctx.Client.Id} addr={ctx.Client.RemoteAddress} laddr={ctx.Client.LocalAddress} name={ctx.Client.Name}')");
        if (!nosave)
        {
            // Without a persistence subsystem there is nothing that could honour an explicit SAVE.
            bool saved = server.ShutdownSave is { } saver ? saver(save) : !save;
            if (!saved)
            {
                if (force) log.Warning("Error trying to save the DB. Exit anyway.");
                else
                {
                    log.Warning("Error trying to save the DB, can't exit.");
                    log.Warning("Errors trying to shut down the server. Check the logs for more information.");
                    ctx.Error("ERR Errors trying to SHUTDOWN. Check logs.");
                    return;
                }
            }
        }
        if (server.Config.PidFile.Length > 0)
        {
            log.Notice("Removing the pid file.");
            try { File.Delete(server.Config.PidFile); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
        log.Warning("Kvasir is now ready to exit, bye bye...");
        // Like Valkey, no reply: the connection simply closes as the server goes away.
        ctx.Client.Flags |= ClientFlags.CloseAsap;
        server.RequestStop();
    }
}
