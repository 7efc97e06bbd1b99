namespace Kvasir.Commands;

/// <summary>
/// FUNCTION and FCALL (Valkey's functions.c). The library registry is real; no script engine is
/// registered yet, so FUNCTION LOAD reports the missing engine and FCALL finds no function.
/// </summary>
public static class FunctionCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("function|flush", Flush);
        t.Bind("function|list", List);
        t.Bind("function|stats", Stats);
        t.Bind("function|delete", Delete);
        t.Bind("function|load", Load);
        t.Bind("function|kill", Kill);
        t.Bind("function|help", Help);
        t.Bind("fcall", Fcall);
        t.Bind("fcall_ro", Fcall);
    }

    private static void Flush(CommandContext ctx)
    {
        if (ctx.ArgCount > 3)
        {
            ctx.Error("ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.");
            return;
        }
        if (ctx.ArgCount == 3 && !ctx.ArgIs(2, "SYNC"u8) && !ctx.ArgIs(2, "ASYNC"u8))
        {
            ctx.Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
            return;
        }
        ctx.Server.Functions.Clear();
        ctx.AddDirty();
        ctx.Reply.WriteOk();
    }

    private static void List(CommandContext ctx)
    {
        bool withCode = false;
        string? pattern = null;
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            if (ctx.ArgIs(i, "WITHCODE"u8) && !withCode)
            {
                withCode = true;
                continue;
            }
            if (ctx.ArgIs(i, "LIBRARYNAME"u8) && pattern is null)
            {
                if (i + 1 >= ctx.ArgCount)
                {
                    ctx.Error("ERR library name argument was not given");
                    return;
                }
                pattern = ctx.Args.ToString(++i);
                continue;
            }
            ctx.Error("ERR Unknown argument " + ctx.Args.ToString(i));
            return;
        }
        var libs = ctx.Server.Functions.All
            .Where(l => pattern is null || Types.GlobPattern.Match(pattern, l.Name))
            .ToList();
        var r = ctx.Reply;
        r.WriteArray(libs.Count);
        foreach (var lib in libs)
        {
            r.WriteMap(withCode ? 4 : 3);
            r.WriteBulk("library_name");
            r.WriteBulk(lib.Name);
            r.WriteBulk("engine");
            r.WriteBulk(lib.Engine);
            r.WriteBulk("functions");
            r.WriteArray(lib.Functions.Count);
            foreach (var f in lib.Functions)
            {
                r.WriteMap(3);
                r.WriteBulk("name");
                r.WriteBulk(f.Name);
                r.WriteBulk("description");
                if (f.Description is null) r.WriteNull();
                else r.WriteBulk(f.Description);
                r.WriteBulk("flags");
                r.WriteSet(f.Flags.Length);
                foreach (var flag in f.Flags) r.WriteBulk(flag);
            }
            if (withCode)
            {
                r.WriteBulk("library_code");
                r.WriteBulk(lib.Code);
            }
        }
    }

    private static void Stats(CommandContext ctx)
    {
        var r = ctx.Reply;
        var functions = ctx.Server.Functions;
        r.WriteMap(2);
        r.WriteBulk("running_script");
        r.WriteNull();
        r.WriteBulk("engines");
        r.WriteMap(functions.Engines.Count);
        foreach (var engine in functions.Engines)
        {
            r.WriteBulk(engine);
            r.WriteMap(2);
            r.WriteBulk("libraries_count");
            r.WriteInteger(functions.All.Count(l => l.Engine == engine));
            r.WriteBulk("functions_count");
            r.WriteInteger(functions.All.Where(l => l.Engine == engine).Sum(l => l.Functions.Count));
        }
    }

    private static void Delete(CommandContext ctx)
    {
        if (!ctx.Server.Functions.Delete(ctx.Args.ToString(2)))
        {
            ctx.Error("ERR Library not found");
            return;
        }
        ctx.AddDirty();
        ctx.Reply.WriteOk();
    }

    private static void Load(CommandContext ctx)
    {
        bool replace = false;
        int pos = 2;
        while (pos < ctx.ArgCount - 1)
        {
            if (ctx.ArgIs(pos, "REPLACE"u8))
            {
                replace = true;
                pos++;
                continue;
            }
            ctx.Error("ERR Unknown option given: " + ctx.Args.ToString(pos));
            return;
        }
        if (pos >= ctx.ArgCount)
        {
            ctx.Error("ERR Function code is missing");
            return;
        }
        var name = ctx.Server.Functions.Load(ctx.Args.ToString(pos), replace, out string? error);
        if (name is null)
        {
            ctx.Error(error!);
            return;
        }
        ctx.AddDirty();
        ctx.Reply.WriteBulk(name);
    }

    private static void Kill(CommandContext ctx) => ctx.Error("NOTBUSY No scripts in execution right now.");

    private static void Fcall(CommandContext ctx)
    {
        // Without a script engine no library can be loaded, so no function is ever found.
        if (ctx.Server.Functions.FindFunction(ctx.Args.ToString(1)) is null) ctx.Error("ERR Function not found");
    }

    private static void Help(CommandContext ctx)
    {
        string[] lines =
        {
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Load a library of functions (needs a script engine; none is available yet).",
            "DELETE <LIBRARY NAME>",
            "    Delete a library and its functions.",
            "KILL",
            "    Kill the function that is running now.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete every library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    List the libraries, optionally filtered by name and with their code.",
            "STATS",
            "    Show the running function and per-engine counts.",
            "HELP",
            "    Print this help.",
        };
        ctx.Reply.WriteArray(lines.Length);
        foreach (var l in lines) ctx.Reply.WriteSimpleString(l);
    }
}
