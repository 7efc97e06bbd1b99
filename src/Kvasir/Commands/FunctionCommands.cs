namespace Kvasir.Commands;

/// <summary>
/// FUNCTION and FCALL (Valkey's functions.c). Libraries are kept by <see cref="Scripting.FunctionLibraries"/>
/// and compiled and run by the Lua engine of <see cref="Scripting.ScriptHost"/>.
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
        t.Bind("function|dump", Dump);
        t.Bind("function|restore", Restore);
        t.Bind("fcall", ctx => ctx.Server.Scripts.Fcall(ctx, readOnly: false));
        t.Bind("fcall_ro", ctx => ctx.Server.Scripts.Fcall(ctx, readOnly: true));
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
        ctx.Server.Scripts.FlushLibraries();
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
                r.WriteSet(f.FlagNames.Length);
                foreach (var flag in f.FlagNames) r.WriteBulk(flag);
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
        ctx.Server.Scripts.WriteRunningScript(r);
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
        if (!ctx.Server.Scripts.DeleteLibrary(ctx.Args.ToString(2)))
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

    private static void Kill(CommandContext ctx) => ctx.Server.Scripts.Kill(ctx, isEval: false);

    /// <summary>
    /// The libraries as a DUMP-style payload: one FUNCTION2 record (opcode 245 + the code as an RDB
    /// string) per library, then the RDB version (2 bytes, little endian) and a CRC64 of all that.
    /// </summary>
    private static void Dump(CommandContext ctx)
    {
        var ms = new MemoryStream();
        var output = new Persistence.RdbOutput(ms, compress: false, checksum: false);
        foreach (var lib in ctx.Server.Functions.All)
        {
            output.WriteByte(Persistence.RdbFormat.OpFunction2);
            output.WriteString(System.Text.Encoding.UTF8.GetBytes(lib.Code));
        }
        output.Flush();
        var payload = ms.ToArray().ToList();
        payload.Add((byte)(DumpVersion & 0xff));
        payload.Add((byte)(DumpVersion >> 8));
        ulong crc = Persistence.Crc64.Compute(payload.ToArray());
        for (int i = 0; i < 8; i++) payload.Add((byte)(crc >> (8 * i)));
        ctx.Reply.WriteBulk(payload.ToArray());
    }

    private const int DumpVersion = 11;

    private static void Restore(CommandContext ctx)
    {
        if (ctx.ArgCount > 4)
        {
            HelpText.SubcommandSyntaxError(ctx);
            return;
        }
        string policy = "APPEND";
        if (ctx.ArgCount == 4)
        {
            policy = ctx.Args.ToString(3).ToUpperInvariant();
            if (policy is not ("APPEND" or "REPLACE" or "FLUSH"))
            {
                ctx.Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
                return;
            }
        }
        var data = ctx.Args[2];
        if (data.Length < 10 || !VerifyPayload(data))
        {
            ctx.Error("ERR DUMP payload version or checksum are wrong");
            return;
        }
        var codes = new List<string>();
        string? error = null;
        try
        {
            var input = new Persistence.RdbInput(new MemoryStream(data[..^10].ToArray()));
            while (true)
            {
                int op = input.TryReadByte();
                if (op < 0) break;
                if (op == Persistence.RdbFormat.OpFunctionPreGa) { error = "Pre-GA function format not supported"; break; }
                if (op != Persistence.RdbFormat.OpFunction2) { error = "given type is not a function"; break; }
                codes.Add(System.Text.Encoding.UTF8.GetString(input.ReadString()));
            }
        }
        catch (Exception)
        {
            error = "can not read data type";
        }
        if (error is not null)
        {
            ctx.Error("ERR " + error);
            return;
        }
        var scripts = ctx.Server.Scripts;
        var functions = ctx.Server.Functions;
        // Everything or nothing: on a failure the libraries present before stay as they were.
        var before = functions.All.Select(l => l.Code).ToList();
        if (policy == "FLUSH") scripts.FlushLibraries();
        foreach (var code in codes)
        {
            bool exists = Scripting.FunctionLibraries.TryParseMetadata(code, out _, out var name, out _, out _) && functions.Find(name) is not null;
            if (exists && policy == "APPEND")
            {
                error = $"ERR Library {name} already exists";
                break;
            }
            if (functions.Load(code, replace: policy == "REPLACE", out error) is null) break;
        }
        if (error is not null)
        {
            scripts.FlushLibraries();
            foreach (var code in before) functions.Load(code, replace: true, out _);
            ctx.Error(error);
            return;
        }
        ctx.AddDirty();
        ctx.Reply.WriteOk();
    }

    private static bool VerifyPayload(ReadOnlySpan<byte> data)
    {
        int version = data[^10] | (data[^9] << 8);
        if (version > DumpVersion && version < 80) return false;
        ulong crc = 0;
        for (int i = 0; i < 8; i++) crc |= (ulong)data[data.Length - 8 + i] << (8 * i);
        return crc == 0 || Persistence.Crc64.Compute(data[..^8]) == crc;
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
