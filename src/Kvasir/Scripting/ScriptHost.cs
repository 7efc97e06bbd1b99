using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Protocol;

namespace Kvasir.Scripting;

/// <summary>
/// Scripting for the server (Valkey's eval.c, script.c, functions.c): the EVAL script cache and
/// its Lua engine, the function libraries' engine, the script client that runs server.call, and
/// the run context with its checks (flags, read-only, OOM, replica state) and the busy-script
/// machinery (BUSY replies, SCRIPT KILL / FUNCTION KILL). Everything runs under the data lock.
/// </summary>
public sealed class ScriptHost
{
    private readonly ScriptCache _cache = new();
    private LuaEngine? _eval;
    private LuaEngine? _functions;
    private readonly Client _client;
    private readonly CommandContext _clientCtx;
    private readonly ScriptRun _run = new() { Caller = null!, Name = "" };
    private ScriptRun? _current;

    public ScriptHost(KvasirServer server)
    {
        Server = server;
        // The script client: no socket, never listed, replies parsed back into Lua.
        _client = new Client(0, null) { Flags = ClientFlags.Fake, Authenticated = true, Name = "" };
        _clientCtx = new CommandContext(server, _client);
        server.Functions.LoadHandler = LoadLibrary;
        var g = server.Stats.Gauges;
        g["number_of_cached_scripts"] = () => _cache.Count;
        g["used_memory_scripts_eval"] = () => _cache.Memory;
        g["used_memory_vm_eval"] = () => EvalEngine.MemoryBytes;
        g["evicted_scripts"] = () => _cache.Evicted;
        g["number_of_functions"] = () => server.Functions.FunctionCount;
        g["number_of_libraries"] = () => server.Functions.Count;
        g["used_memory_functions"] = () => server.Functions.Memory;
        g["used_memory_vm_functions"] = () => FunctionEngine.MemoryBytes;
    }

    internal KvasirServer Server { get; }

    internal const long Rand48Seed = 0x1234ABCD330EL;

    /// <summary>State of math.random (rand48), as in Valkey never reseeded between scripts.</summary>
    internal long Rand48 = Rand48Seed;

    private LuaEngine EvalEngine => _eval ??= new LuaEngine(this, functions: false);

    private LuaEngine FunctionEngine => _functions ??= new LuaEngine(this, functions: true);

    /// <summary>DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call noscript commands (a test hook of Valkey's).</summary>
    public bool DisableDenyScripts { get; set; }

    /// <summary>Unix time in microseconds when the running script started (TIME inside it), or null.</summary>
    public long? StartUnixMicros => _current?.StartUnixMicros;

    /// <summary>A script (or function) is executing now.</summary>
    public bool Running => _current is not null;

    /// <summary>The client a command really comes from: the script's caller for the script's own client (WAIT inside a script).</summary>
    public Client CallerOf(Client client) => _current is { } run && client == _client ? run.Caller.Client : client;

    /// <summary>The script has run past busy-reply-threshold: other clients get -BUSY until it ends.</summary>
    public bool TimedOut => _current is { TimedOut: true };

    /// <summary>The -BUSY error for commands refused while a script runs too long.</summary>
    public string BusyError => _current is { IsEval: false } ? BusyFunctionError : BusyEvalError;

    private const string BusyEvalError = "BUSY Valkey is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
    private const string BusyFunctionError = "BUSY Valkey is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
    private const string NoScriptError = "NOSCRIPT No matching script.";

    /// <summary>EVAL, EVALSHA, their _RO forms, FCALL, FCALL_RO (checked before the data lock, without a table lookup).</summary>
    public static bool IsScriptCommand(CommandArgs args) => args.Count > 0 && IsScriptName(args[0]);

    public static bool IsScriptName(ReadOnlySpan<byte> name)
    {
        if (name.Length < 4 || name.Length > 10 || (name[0] | 0x20) is not ((byte)'e' or (byte)'f')) return false;
        return Protocol.Ascii.EqualsIgnoreCase(name, "EVAL"u8) || Protocol.Ascii.EqualsIgnoreCase(name, "EVALSHA"u8)
            || Protocol.Ascii.EqualsIgnoreCase(name, "EVAL_RO"u8) || Protocol.Ascii.EqualsIgnoreCase(name, "EVALSHA_RO"u8)
            || Protocol.Ascii.EqualsIgnoreCase(name, "FCALL"u8) || Protocol.Ascii.EqualsIgnoreCase(name, "FCALL_RO"u8);
    }

    /// <summary>
    /// A command's flags, with EVAL, EVALSHA and FCALL taking theirs from the script's declared flags
    /// (Valkey's evalGetCommandFlags / scriptFlagsToCmdFlags): a no-writes script is no write, so
    /// CLIENT PAUSE WRITE lets it run, and EXEC counts queued scripts that may write as writes.
    /// </summary>
    public CommandFlags EffectiveFlags(CommandDefinition cmd, CommandArgs args)
    {
        if (args.Count < 2 || cmd.Name is not ("eval" or "evalsha" or "fcall")) return cmd.Flags;
        ScriptFlags flags;
        if (cmd.Name == "fcall")
        {
            var function = Server.Functions.FindFunction(args.ToString(1));
            if (function is null) return cmd.Flags;
            flags = function.Flags;
        }
        else if (cmd.Name == "evalsha")
        {
            var script = _cache.Find(args[1]);
            if (script is null) return cmd.Flags;
            flags = script.Flags;
        }
        else
        {
            Span<byte> hash = stackalloc byte[20];
            SHA1.HashData(args[1], hash);
            Span<byte> hex = stackalloc byte[40];
            ScriptCache.ToHex(hash, hex);
            if (_cache.Find(hex) is { } cached) flags = cached.Flags;
            else if (!TryParseShebang(args[1], out flags, out _, out _)) return cmd.Flags;
        }
        if ((flags & ScriptFlags.EvalCompat) != 0) return cmd.Flags;
        var result = cmd.Flags & ~(CommandFlags.Stale | CommandFlags.DenyOom | CommandFlags.Write | CommandFlags.MayReplicate);
        if ((flags & (ScriptFlags.AllowOom | ScriptFlags.NoWrites)) == 0) result |= CommandFlags.DenyOom;
        if ((flags & ScriptFlags.NoWrites) == 0) result |= CommandFlags.Write;
        if ((flags & ScriptFlags.AllowStale) != 0) result |= CommandFlags.Stale;
        return result;
    }

    // ----- EVAL / EVALSHA -----

    public void Eval(CommandContext ctx, bool bySha, bool readOnly)
    {
        FeedMonitors(ctx);
        var args = ctx.Args;
        if (bySha && args[1].Length != 40)
        {
            ctx.Error(NoScriptError);
            return;
        }
        if (!ParseKeyCount(ctx, "ERR value is not an integer or out of range", out long keys)) return;
        ScriptCache.Script? script;
        if (bySha)
        {
            script = _cache.Find(args[1]);
            if (script is null)
            {
                ctx.Error(NoScriptError);
                return;
            }
        }
        else
        {
            script = CreateScript(ctx, args[1], fromEval: true);
            if (script is null) return;
        }
        Execute(ctx, EvalEngine, script.FunctionRef, script.Sha, script.Flags, readOnly, isEval: true, (int)keys);
        _cache.Touch(script);
    }

    private bool ParseKeyCount(CommandContext ctx, string notNumber, out long keys)
    {
        if (!Types.NumberParser.TryParseLong(ctx.Args[2], out keys))
        {
            ctx.Error(notNumber);
            return false;
        }
        if (keys > ctx.ArgCount - 3)
        {
            ctx.Error("ERR Number of keys can't be greater than number of args");
            return false;
        }
        if (keys < 0)
        {
            ctx.Error("ERR Number of keys can't be negative");
            return false;
        }
        return true;
    }

    /// <summary>EVAL and EVALSHA run through MONITOR before their commands, as in Valkey.</summary>
    private void FeedMonitors(CommandContext ctx)
    {
        if (Server.Clients.Monitors.Count > 0)
            Server.Dispatcher.FeedMonitors(ctx.Client, Dispatcher.MonitorArguments(ctx.Args, ctx));
    }

    /// <summary>Finds or compiles a script body (EVAL, SCRIPT LOAD); null after replying the error when ctx is given.</summary>
    internal ScriptCache.Script? CreateScript(CommandContext? ctx, ReadOnlySpan<byte> body, bool fromEval)
    {
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(body, hash);
        Span<byte> hex = stackalloc byte[40];
        ScriptCache.ToHex(hash, hex);
        var existing = _cache.Find(hex);
        if (existing is not null)
        {
            if (!fromEval) _cache.Promote(existing);
            return existing;
        }
        if (!TryParseShebang(body, out var flags, out int shebangLength, out string? error))
        {
            ctx?.Error("ERR " + error);
            return null;
        }
        var engine = EvalEngine;
        // The shebang line is skipped but its line break kept, so line numbers stay the user's.
        int reference = engine.Compile(body[shebangLength..], "@user_script", out string? compileError);
        if (reference < 0)
        {
            ctx?.Error("ERR Error compiling script (new function): " + compileError);
            return null;
        }
        if (fromEval)
        {
            while (_cache.EvictionCandidate() is { } oldest)
            {
                engine.Release(oldest.FunctionRef);
                _cache.Remove(oldest);
                _cache.Evicted++;
            }
        }
        var script = new ScriptCache.Script { Sha = Encoding.ASCII.GetString(hex), Body = body.ToArray(), Flags = flags, FunctionRef = reference };
        _cache.Add(script, fromEval);
        return script;
    }

    /// <summary>Valkey's evalExtractShebangFlags: "#!lua [flags=a,b]" on the first line; none means compatibility mode.</summary>
    internal static bool TryParseShebang(ReadOnlySpan<byte> body, out ScriptFlags flags, out int length, out string? error)
    {
        flags = ScriptFlags.EvalCompat;
        length = 0;
        error = null;
        if (!body.StartsWith("#!"u8)) return true;
        int newline = body.IndexOf((byte)'\n');
        if (newline < 0)
        {
            error = "Invalid script shebang";
            return false;
        }
        length = newline;
        var parts = Config.ConfigValues.SplitArgs(Encoding.UTF8.GetString(body[..newline]));
        if (parts is null || parts.Count == 0)
        {
            error = "Invalid engine in script shebang";
            return false;
        }
        if (parts[0] != "#!lua")
        {
            error = "Unexpected engine in script shebang: " + parts[0];
            return false;
        }
        flags = ScriptFlags.None;
        for (int i = 1; i < parts.Count; i++)
        {
            if (!parts[i].StartsWith("flags=", StringComparison.Ordinal))
            {
                error = "Unknown lua shebang option: " + parts[i];
                return false;
            }
            string list = parts[i][6..];
            if (list.Length == 0) continue;
            foreach (var name in list.Split(','))
            {
                if (!ScriptFlagNames.TryParse(name, out var flag))
                {
                    error = "Unexpected flag in script shebang: " + name;
                    return false;
                }
                flags |= flag;
            }
        }
        return true;
    }

    // ----- SCRIPT -----

    public bool ScriptExists(ReadOnlySpan<byte> sha) => _cache.Find(sha) is not null;

    public byte[]? ScriptBody(ReadOnlySpan<byte> sha) => _cache.Find(sha)?.Body;

    public string? LoadScript(CommandContext ctx, ReadOnlySpan<byte> body) => CreateScript(ctx, body, fromEval: false)?.Sha;

    /// <summary>SCRIPT FLUSH: forgets every script and starts a fresh Lua state, as Valkey's scriptingReset.</summary>
    public void FlushScripts()
    {
        _cache.Clear();
        _eval?.Dispose();
        _eval = null;
    }

    /// <summary>SCRIPT KILL (isEval) / FUNCTION KILL (Valkey's scriptKill).</summary>
    public void Kill(CommandContext ctx, bool isEval)
    {
        var run = _current;
        if (run is null)
        {
            ctx.Error("NOTBUSY No scripts in execution right now.");
            return;
        }
        if (run.Caller.Client.Has(ClientFlags.Master))
        {
            ctx.Error("UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.");
            return;
        }
        if (run.WriteDirty)
        {
            ctx.Error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the " +
                      "script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
            return;
        }
        if (isEval && !run.IsEval)
        {
            ctx.Error(BusyFunctionError);
            return;
        }
        if (!isEval && run.IsEval)
        {
            ctx.Error(BusyEvalError);
            return;
        }
        run.Killed = true;
        ctx.Reply.WriteOk();
    }

    // ----- FCALL and function libraries -----

    public void Fcall(CommandContext ctx, bool readOnly)
    {
        FeedMonitors(ctx);
        var function = Server.Functions.FindFunction(ctx.Args.ToString(1));
        if (function is null)
        {
            ctx.Error("ERR Function not found");
            return;
        }
        if (!ParseKeyCount(ctx, "ERR Bad number of keys provided", out long keys)) return;
        Execute(ctx, FunctionEngine, function.Ref, function.Name, function.Flags, readOnly, isEval: false, (int)keys);
    }

    /// <summary>The functions being registered by a FUNCTION LOAD in progress.</summary>
    internal sealed class LibraryLoad
    {
        private readonly long _start = Stopwatch.GetTimestamp();
        public readonly List<FunctionLibraries.Function> Functions = new();

        public bool TimedOut() => Stopwatch.GetElapsedTime(_start).TotalMilliseconds > 500;

        public string? Validate(string name)
        {
            if (!FunctionLibraries.IsValidName(name))
                return "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
            foreach (var f in Functions)
                if (f.Name == name) return "ERR Function already exists in the library";
            return null;
        }

        public void Add(string name, string? description, string[] flagNames, int reference)
        {
            var flags = ScriptFlags.None;
            foreach (var n in flagNames)
                if (ScriptFlagNames.TryParse(n, out var f)) flags |= f;
            Functions.Add(new FunctionLibraries.Function { Name = name, Description = description, FlagNames = flagNames, Flags = flags, Ref = reference });
        }
    }

    internal LibraryLoad? Loading { get; set; }

    /// <summary>FUNCTION LOAD (and libraries read from an RDB): returns the library name, or null with the error reply text.</summary>
    public string? LoadLibrary(string code, bool replace, out string? error)
    {
        var registry = Server.Functions;
        if (!FunctionLibraries.TryParseMetadata(code, out string engineName, out string name, out string body, out error)) return null;
        if (!FunctionLibraries.IsValidName(name))
        {
            error = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
            return null;
        }
        if (!string.Equals(engineName, FunctionLibraries.LuaEngineName, StringComparison.OrdinalIgnoreCase))
        {
            error = $"ERR Engine '{engineName}' not found";
            return null;
        }
        var old = registry.Find(name);
        if (old is not null && !replace)
        {
            error = $"ERR Library '{name}' already exists";
            return null;
        }
        var engine = FunctionEngine;
        int chunk = engine.Compile(Encoding.UTF8.GetBytes(body), "@user_function", out string? compileError);
        if (chunk < 0)
        {
            error = "ERR Error compiling function: " + compileError;
            return null;
        }
        var load = new LibraryLoad();
        string? runError = engine.RunLibrary(chunk, load);
        engine.Release(chunk);
        if (runError is null && load.Functions.Count == 0) runError = "No functions registered";
        else if (runError is not null) runError = "Error registering functions: " + runError;
        if (runError is null)
        {
            foreach (var f in load.Functions)
            {
                var existing = registry.FindFunction(f.Name);
                if (existing is not null && existing.Library != old)
                {
                    runError = $"Function {f.Name} already exists";
                    break;
                }
            }
        }
        if (runError is not null)
        {
            foreach (var f in load.Functions) engine.Release(f.Ref);
            error = "ERR " + runError;
            return null;
        }
        if (old is not null) ReleaseLibrary(registry.Remove(name)!);
        registry.Add(new FunctionLibraries.Library(name, FunctionLibraries.LuaEngineName, code, load.Functions));
        return name;
    }

    public bool DeleteLibrary(string name)
    {
        var lib = Server.Functions.Remove(name);
        if (lib is null) return false;
        ReleaseLibrary(lib);
        return true;
    }

    public void FlushLibraries()
    {
        foreach (var lib in Server.Functions.Clear()) ReleaseLibrary(lib);
    }

    private void ReleaseLibrary(FunctionLibraries.Library lib)
    {
        foreach (var f in lib.Functions) _functions?.Release(f.Ref);
    }

    /// <summary>FUNCTION STATS running_script: name, command and duration of the script running now.</summary>
    public void WriteRunningScript(ReplyWriter r)
    {
        var run = _current;
        if (run is null)
        {
            r.WriteNull();
            return;
        }
        r.WriteMap(3);
        r.WriteBulk("name");
        r.WriteBulk(run.Name);
        r.WriteBulk("command");
        var args = run.Caller.Args;
        r.WriteArray(args.Count);
        for (int i = 0; i < args.Count; i++) r.WriteBulk(args[i]);
        r.WriteBulk("duration_ms");
        r.WriteInteger((long)Stopwatch.GetElapsedTime(run.StartTicks).TotalMilliseconds);
    }

    // ----- running -----

    private void Execute(CommandContext ctx, LuaEngine engine, int functionRef, string name, ScriptFlags flags, bool readOnly, bool isEval, int keys)
    {
        if (PrepareError(ctx, flags, readOnly) is { } refusal)
        {
            ctx.Error(refusal);
            return;
        }
        bool compat = (flags & ScriptFlags.EvalCompat) != 0;
        var run = _run;
        run.Caller = ctx;
        run.Name = name;
        run.IsEval = isEval;
        run.Flags = flags;
        run.ReadOnly = readOnly || (!compat && (flags & ScriptFlags.NoWrites) != 0);
        run.AllowOom = !compat && (flags & ScriptFlags.AllowOom) != 0;
        run.WriteDirty = false;
        run.OomAtStart = Server.Dispatcher.PreCommandOom;
        run.StartTicks = Stopwatch.GetTimestamp();
        run.StartUnixMicros = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        run.TimedOut = false;
        run.Killed = false;
        run.KillPosition = null;
        run.Resp = 2;
        run.ReplFlags = 3;
        run.Slot = ctx.Client.Slot;
        run.AllowCrossSlot = compat || (flags & ScriptFlags.AllowCrossSlot) != 0;
        _client.DbIndex = ctx.Client.DbIndex;
        _client.User = ctx.Client.User;
        // The slow log shows the commands a script ran with its caller's address and name.
        _client.RemoteAddress = ctx.Client.RemoteAddress;
        _client.Name = ctx.Client.Name;
        if (ctx.Client.Has(ClientFlags.Multi)) _client.Flags |= ClientFlags.Multi;
        _current = run;
        try
        {
            engine.Run(run, functionRef, ctx.Args, 3, keys, ctx.ArgCount - 3 - keys);
        }
        finally
        {
            _current = null;
            _client.Flags &= ~ClientFlags.Multi;
            _client.Reply.Clear();
            // The script's commands were propagated one by one (a MULTI/EXEC unit); EVAL itself is not.
            ctx.PreventPropagation();
        }
    }

    /// <summary>Valkey's scriptPrepareForRun checks; the refusal text, or null.</summary>
    private string? PrepareError(CommandContext ctx, ScriptFlags flags, bool readOnly)
    {
        if ((flags & ScriptFlags.EvalCompat) != 0) return null;
        var cfg = Server.Config;
        if ((flags & ScriptFlags.NoCluster) != 0 && cfg.ClusterEnabled) return "ERR Can not run script on cluster, 'no-cluster' flag is set.";
        bool obey = ctx.Client.Has(ClientFlags.Master);
        if ((flags & ScriptFlags.NoWrites) == 0)
        {
            if (cfg.ReplicaOfHost.Length > 0 && cfg.ReplicaReadOnly && !obey) return "READONLY Can not run script with write flag on readonly replica";
            if (readOnly) return "ERR Can not execute a script with write flag using *_ro command.";
            if (!Server.Dispatcher.HasEnoughGoodReplicas()) return "NOREPLICAS Not enough good replicas to write.";
        }
        if ((flags & (ScriptFlags.AllowOom | ScriptFlags.NoWrites)) == 0 && !obey && Server.Dispatcher.PreCommandOom)
            return "OOM allow-oom flag is not set on the script, can not run it when used memory > 'maxmemory'";
        return null;
    }

    /// <summary>The command named by a script's arguments (subcommands resolved), or null when unknown.</summary>
    /// <remarks>Commands Valkey has but Kvasir does not implement are returned too: arity and the
    /// noscript flag are checked before they are reported unknown, as Valkey would refuse them.</remarks>
    internal CommandDefinition? ResolveCommand(CommandArgs args)
    {
        var cmd = Server.Commands.Find(args[0]) ?? Server.Commands.FindByFullName(Protocol.Ascii.ToLowerString(args[0]));
        if (cmd is null || !cmd.IsContainer || args.Count < 2) return cmd;
        return cmd.Subcommands!.GetValueOrDefault(Protocol.Ascii.ToLowerString(args[1]));
    }

    /// <summary>
    /// server.call / server.pcall: Valkey's scriptCall checks, then the command through the
    /// Dispatcher's Call (stats, slowlog, MONITOR, propagation as part of the script's unit; no
    /// blocked client is woken before the script ends). Returns the raw reply, or a refusal.
    /// </summary>
    internal ReadOnlySpan<byte> CallFromScript(ScriptRun run, CommandArgs args, out string? refusal)
    {
        refusal = null;
        var cmd = ResolveCommand(args);
        if (cmd is null) return Refuse(null, "ERR Unknown command called from script", out refusal);
        if ((cmd.Arity > 0 && args.Count != cmd.Arity) || args.Count < -cmd.Arity || (cmd.IsContainer && cmd.Handler is null))
            return Refuse(cmd, "ERR Wrong number of args calling command from script", out refusal);
        if (cmd.Has(CommandFlags.NoScript) && !DisableDenyScripts) return Refuse(cmd, "ERR This Redis command is not allowed from script", out refusal);
        // server.call obeys the caller's user, as if the caller had sent the command itself.
        if (run.Caller.Client.User is { Unrestricted: false } user && !run.Caller.Client.Has(ClientFlags.Master))
        {
            var acl = Server.Acl;
            var denial = acl.Check(user, cmd, args, out int position);
            if (denial != Security.AclDenial.None)
            {
                acl.LogDenial(run.Caller, user, denial, Security.AclLogContext.Lua, cmd, args, position);
                return Refuse(cmd, "ERR ACL failure in script: " + Security.AccessControl.DenialMessage(denial, user, cmd, "", verbose: false), out refusal);
            }
        }
        bool write = cmd.Has(CommandFlags.Write);
        if (run.ReadOnly && (write || cmd.Has(CommandFlags.MayReplicate)))
            return Refuse(cmd, "ERR Write commands are not allowed from read-only scripts.", out refusal);
        if (cmd.Handler is null) return Refuse(null, "ERR Unknown command called from script", out refusal);
        var cfg = Server.Config;
        bool obey = run.Caller.Client.MustObey;
        if (write && !run.WriteDirty)
        {
            if (cfg.ReplicaOfHost.Length > 0 && cfg.ReplicaReadOnly && !obey)
                return Refuse(cmd, "READONLY You can't write against a read only replica.", out refusal);
            if (!Server.Dispatcher.HasEnoughGoodReplicas())
                return Refuse(cmd, "NOREPLICAS Not enough good replicas to write.", out refusal);
        }
        if (!run.AllowOom && cfg.MaxMemory > 0 && !obey && !run.WriteDirty && run.OomAtStart && cmd.Has(CommandFlags.DenyOom))
            return Refuse(cmd, "OOM command not allowed when used memory > 'maxmemory'.", out refusal);
        if (write) run.WriteDirty = true;
        if (Server.Cluster is { } cluster && !obey && ClusterRefusal(cluster, run, cmd, args) is { } clusterError)
            return Refuse(cmd, clusterError, out refusal);

        var reply = _client.Reply;
        reply.Clear();
        reply.Protocol = run.Resp;
        reply.Enabled = true;
        // redis.set_repl without REPL_REPLICA: the command's effects do not reach replicas (there is
        // no AOF yet, so REPL_AOF alone propagates nothing either).
        var propagator = Server.Propagator;
        bool wasMuted = propagator.Muted;
        propagator.Muted = (run.ReplFlags & 2) == 0;
        try
        {
            Server.Dispatcher.Call(_clientCtx, cmd, args);
            // Valkey counts a command a script runs in the tot-cmds of the client running the script.
            run.Caller.Client.TotalCommands++;
        }
        finally
        {
            propagator.Muted = wasMuted;
        }
        return reply.WrittenSpan;
    }

    /// <summary>
    /// Cluster mode: a script may only touch keys served here, all in one slot unless it allows
    /// cross-slot keys (Valkey's scriptVerifyClusterState). The refusal text, or null.
    /// </summary>
    private string? ClusterRefusal(Cluster.ClusterState cluster, ScriptRun run, CommandDefinition cmd, CommandArgs args)
    {
        // The script client acts with the caller's READONLY and ASKING.
        var caller = run.Caller.Client;
        const ClientFlags routing = ClientFlags.ReadOnly | ClientFlags.Asking;
        _client.Flags = (_client.Flags & ~routing) | (caller.Flags & routing);
        var node = cluster.GetNodeByQuery(_client, cmd, args, out int slot, out var redirect);
        if (node is null || !node.IsMyself)
        {
            return redirect switch
            {
                Cluster.Redirect.DownReadOnlyState => "ERR Script attempted to execute a write command while the cluster is down and readonly",
                Cluster.Redirect.DownState => "ERR Script attempted to execute a command while the cluster is down",
                Cluster.Redirect.CrossSlot => $"ERR Command '{cmd.Name}' in script attempted to access keys that don't hash to the same slot",
                Cluster.Redirect.Unstable => $"ERR Unable to execute command '{cmd.Name}' in script because undeclared keys were accessed during rehashing of the slot",
                Cluster.Redirect.DownUnbound => "ERR Script attempted to access a slot not served",
                _ => "ERR Script attempted to access a non local key in a cluster node",
            };
        }
        if (slot != -1 && !run.AllowCrossSlot)
        {
            if (run.Slot == -1) run.Slot = slot;
            else if (run.Slot != slot) return "ERR Script attempted to access keys that do not hash to the same slot";
        }
        _client.Slot = slot;
        // The script counts for its one slot in CLUSTER SLOT-STATS; one that may cross slots counts
        // for none once it ran a command (Valkey's clusterSlotStatsInvalidateSlotIfApplicable).
        caller.Slot = run.AllowCrossSlot ? -1 : run.Slot;
        return null;
    }

    /// <summary>server.acl_check_cmd: whether the script's caller may run the command with these arguments.</summary>
    internal bool CallerMayRun(ScriptRun run, CommandDefinition cmd, CommandArgs args) =>
        run.Caller.Client.User is not { } user || Server.Acl.Check(user, cmd, args, out _) == Security.AclDenial.None;

    private ReadOnlySpan<byte> Refuse(CommandDefinition? cmd, string message, out string refusal)
    {
        if (cmd is not null) cmd.RejectedCalls++;
        Server.Stats.CountError(message);
        refusal = message;
        return default;
    }

    internal void ReplyConsumed() => _client.Reply.Clear();

    /// <summary>
    /// From the count hook: past busy-reply-threshold the script is "timed out" and, like Valkey's
    /// processEventsWhileBlocked, lets other clients in: the data lock is released for a moment so
    /// their commands run; the Dispatcher answers them -BUSY except the allow-busy ones (SCRIPT
    /// KILL, FUNCTION KILL, FUNCTION STATS, SHUTDOWN...).
    /// </summary>
    internal void CheckBusy(ScriptRun run)
    {
        if (!run.TimedOut)
        {
            long elapsed = (long)Stopwatch.GetElapsedTime(run.StartTicks).TotalMilliseconds;
            if (elapsed < Server.Config.BusyReplyThreshold) return;
            Server.Log.Warning($"Slow script detected: still in execution after {elapsed} milliseconds. You can try killing the script " +
                               $"using the {(run.IsEval ? "SCRIPT KILL" : "FUNCTION KILL")} command. Script name is: {run.Name}.");
            run.TimedOut = true;
        }
        var dataLock = Server.DataLock;
        if (!dataLock.IsHeldByCurrentThread) return;
        long now = Server.Keyspace.NowMs;
        dataLock.Exit();
        try
        {
            // Long enough for a woken waiter to be scheduled and take the lock even on a busy machine;
            // the script has overrun its time already, its speed matters less than being killable.
            Thread.Sleep(2);
        }
        finally
        {
            dataLock.Enter();
        }
        // Others ran commands meanwhile: the script keeps its own time snapshot.
        Server.Keyspace.NowMs = now;
        Server.Clock.BeginBatch();
    }
}
