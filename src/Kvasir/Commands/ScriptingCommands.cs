namespace Kvasir.Commands;

/// <summary>
/// EVAL, EVALSHA, their _RO forms and SCRIPT (Valkey's eval.c); the engine, cache and checks live
/// in <see cref="Scripting.ScriptHost"/>. SCRIPT DEBUG is left unbound: there is no Lua debugger.
/// </summary>
public static class ScriptingCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("eval", ctx => ctx.Server.Scripts.Eval(ctx, bySha: false, readOnly: false));
        t.Bind("eval_ro", ctx => ctx.Server.Scripts.Eval(ctx, bySha: false, readOnly: true));
        t.Bind("evalsha", ctx => ctx.Server.Scripts.Eval(ctx, bySha: true, readOnly: false));
        t.Bind("evalsha_ro", ctx => ctx.Server.Scripts.Eval(ctx, bySha: true, readOnly: true));
        t.Bind("script|load", Load);
        t.Bind("script|exists", Exists);
        t.Bind("script|flush", Flush);
        t.Bind("script|kill", ctx => ctx.Server.Scripts.Kill(ctx, isEval: true));
        t.Bind("script|show", Show);
        t.Bind("script|help", Help);
    }

    private static void Load(CommandContext ctx)
    {
        var sha = ctx.Server.Scripts.LoadScript(ctx, ctx.Args[2]);
        if (sha is not null) ctx.Reply.WriteBulk(sha);
    }

    private static void Exists(CommandContext ctx)
    {
        var scripts = ctx.Server.Scripts;
        ctx.Reply.WriteArray(ctx.ArgCount - 2);
        for (int i = 2; i < ctx.ArgCount; i++) ctx.Reply.WriteInteger(scripts.ScriptExists(ctx.Args[i]) ? 1 : 0);
    }

    private static void Flush(CommandContext ctx)
    {
        // ASYNC and SYNC free the same way here: the Lua state is closed at once.
        if (ctx.ArgCount > 3 || (ctx.ArgCount == 3 && !ctx.ArgIs(2, "SYNC"u8) && !ctx.ArgIs(2, "ASYNC"u8)))
        {
            ctx.Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            return;
        }
        ctx.Server.Scripts.FlushScripts();
        ctx.Reply.WriteOk();
    }

    private static void Show(CommandContext ctx)
    {
        var body = ctx.Server.Scripts.ScriptBody(ctx.Args[2]);
        if (body is null) ctx.Error("NOSCRIPT No matching script.");
        else ctx.Reply.WriteBulk(body);
    }

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "SCRIPT",
        "EXISTS <sha1> [<sha1> ...]",
        "    For each SHA1, 1 if that script is cached, else 0.",
        "FLUSH [ASYNC|SYNC]",
        "    Forget every cached script (and reset the Lua state).",
        "KILL",
        "    Stop the running script, if it has not written anything yet.",
        "LOAD <script>",
        "    Cache a script without running it; replies its SHA1.",
        "SHOW <sha1>",
        "    The source of a cached script.");
}
