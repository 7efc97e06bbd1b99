using System.Text;

namespace Kvasir.Commands;

/// <summary>
/// MODULE (Valkey's module.c command), answered as a Valkey that has no module loaded: Kvasir
/// cannot run Valkey's C modules, so LIST is empty and every LOAD fails with Valkey's error after
/// logging why, as Valkey logs a failed dlopen. LOAD, LOADEX and UNLOAD are protected commands
/// (enable-module-command), checked by the dispatcher.
/// </summary>
public static class ModuleCommands
{
    private const string LoadError = "ERR Error loading the extension. Please check the server logs.";

    public static void Register(CommandTable t)
    {
        t.Bind("module|list", ctx => ctx.Reply.WriteArray(0));
        t.Bind("module|load", Load);
        t.Bind("module|loadex", LoadEx);
        t.Bind("module|unload", Unload);
        t.Bind("module|help", Help);
    }

    private static void Load(CommandContext ctx)
    {
        LogFailedLoad(ctx, ctx.Args.ToString(2));
        ctx.Error(LoadError);
    }

    /// <summary>LOADEX path [CONFIG name value ...] [ARGS ...]: Valkey checks the arguments before loading.</summary>
    private static void LoadEx(CommandContext ctx)
    {
        for (int i = 3; i < ctx.ArgCount; i++)
        {
            if (ctx.ArgIs(i, "CONFIG"u8))
            {
                if (i + 2 >= ctx.ArgCount)
                {
                    ctx.Server.Log.Notice("CONFIG specified without name value pair");
                    ctx.Error(LoadError);
                    return;
                }
                i += 2;
            }
            else if (ctx.ArgIs(i, "ARGS"u8))
            {
                break;
            }
            else
            {
                ctx.Server.Log.Notice($"Syntax Error from arguments to loadex around {ctx.Args.ToString(i)}.");
                ctx.Error(LoadError);
                return;
            }
        }
        LogFailedLoad(ctx, ctx.Args.ToString(2));
        ctx.Error(LoadError);
    }

    private static void LogFailedLoad(CommandContext ctx, string path)
    {
        string reason = File.Exists(path) || Directory.Exists(path)
            ? "Kvasir cannot load Valkey modules (native C extensions)"
            : $"{path}: cannot open shared object file: No such file or directory";
        ctx.Server.Log.Warning($"Module {path} failed to load: {reason}");
    }

    private static void Unload(CommandContext ctx)
    {
        ctx.Server.Log.Warning($"Error unloading module {ctx.Args.ToString(2)}: no such module with that name");
        ctx.Error("ERR Error unloading module: no such module with that name");
    }

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "MODULE",
        "LIST",
        "    Return the loaded modules (always empty: Kvasir runs no Valkey modules).",
        "LOAD <path> [<arg> ...]",
        "    Load the module library at <path> with optional arguments.",
        "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
        "    Load the module library at <path> with module configurations and optional arguments.",
        "UNLOAD <name>",
        "    Unload a module.");
}
