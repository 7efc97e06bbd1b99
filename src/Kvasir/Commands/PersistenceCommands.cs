namespace Kvasir.Commands;

/// <summary>SAVE, BGSAVE, BGREWRITEAOF, and the work of DEBUG RELOAD / LOADAOF (DEBUG dispatches to them).</summary>
public static class PersistenceCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("save", Save);
        t.Bind("bgsave", BgSave);
        t.Bind("bgrewriteaof", BgRewriteAof);
    }

    private static void BgRewriteAof(CommandContext ctx)
    {
        string? status = ctx.Server.Persistence.Aof.BgRewriteCommand(ctx.Client.Has(Clients.ClientFlags.Multi), out string? error);
        if (status is not null) ctx.Reply.WriteSimpleString(status);
        else ctx.Error(error!);
    }

    /// <summary>DEBUG LOADAOF: flush the AOF, empty the data set, load the AOF back.</summary>
    public static void DebugLoadAof(CommandContext ctx)
    {
        // Replaying the file changes the dirty counter; that is loading, not an effect to log again.
        ctx.PreventPropagation();
        string? error = ctx.Server.Persistence.Aof.DebugLoadAof();
        if (error is null) ctx.Reply.WriteOk();
        else ctx.Error(error);
    }

    private static void Save(CommandContext ctx)
    {
        string? error = ctx.Server.Persistence.SaveCommand();
        if (error is null) ctx.Reply.WriteOk();
        else ctx.Error(error);
    }

    /// <summary>BGSAVE [SCHEDULE | CANCEL].</summary>
    private static void BgSave(CommandContext ctx)
    {
        var p = ctx.Server.Persistence;
        bool schedule = false;
        if (ctx.ArgCount > 1)
        {
            if (ctx.ArgCount == 2 && ctx.Args.Is(1, "SCHEDULE"u8)) schedule = true;
            else if (ctx.ArgCount == 2 && ctx.Args.Is(1, "CANCEL"u8))
            {
                if (p.BackgroundSaveInProgress)
                {
                    ctx.Server.Log.Notice("Background saving will be aborted due to user request");
                    p.CancelBackgroundSave("cancelled by user request");
                    ctx.Reply.WriteSimpleString("Background saving cancelled"u8);
                }
                else if (p.CancelScheduledBackgroundSave())
                {
                    ctx.Server.Log.Notice("Scheduled background saving will be cancelled due to user request");
                    ctx.Reply.WriteSimpleString("Scheduled background saving cancelled"u8);
                }
                else ctx.Error("ERR Background saving is currently not in progress or scheduled");
                return;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (p.BackgroundSaveInProgress)
        {
            ctx.Error("ERR Background save already in progress");
            return;
        }
        // An AOF rewrite is a snapshot too, and one runs at a time: wait for it only when asked to.
        if (p.Aof.RewriteInProgress && !schedule && !ctx.Client.Has(Clients.ClientFlags.Multi))
        {
            ctx.Error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
            return;
        }
        // Inside MULTI/EXEC the save starts after the transaction, from the cron (Valkey's in_exec rule).
        if (ctx.Client.Has(Clients.ClientFlags.Multi) || p.Aof.RewriteInProgress)
        {
            p.ScheduleBackgroundSave();
            ctx.Server.Log.Notice(schedule ? "Background saving scheduled due to user request"
                : "Background saving scheduled to run after transaction execution");
            ctx.Reply.WriteSimpleString("Background saving scheduled"u8);
            return;
        }
        if (p.StartBackgroundSave()) ctx.Reply.WriteSimpleString("Background saving started"u8);
        else ctx.Error("ERR");
    }

    /// <summary>DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: save, flush and load the file back.</summary>
    public static void DebugReload(CommandContext ctx)
    {
        bool save = true, flush = true, merge = false;
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            if (ctx.Args.Is(i, "MERGE"u8)) merge = true;
            else if (ctx.Args.Is(i, "NOFLUSH"u8)) flush = false;
            else if (ctx.Args.Is(i, "NOSAVE"u8)) save = false;
            else
            {
                ctx.Error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
                return;
            }
        }
        ctx.PreventPropagation();
        string? error = ctx.Server.Persistence.Reload(save, flush, merge);
        if (error is null) ctx.Reply.WriteOk();
        else ctx.Error(error);
    }
}
