namespace Kvasir.Commands;

/// <summary>
/// SAVE, and DEBUG RELOAD's work (DEBUG dispatches to <see cref="DebugReload"/>). BGSAVE stays
/// unbound until snapshots can be taken without blocking (docs/PERSISTENCE.md).
/// </summary>
public static class PersistenceCommands
{
    public static void Register(CommandTable t) => t.Bind("save", Save);

    private static void Save(CommandContext ctx)
    {
        if (ctx.Server.Persistence.SaveCommand()) ctx.Reply.WriteOk();
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
        string? error = ctx.Server.Persistence.Reload(save, flush, merge);
        if (error is null) ctx.Reply.WriteOk();
        else ctx.Error(error);
    }
}
