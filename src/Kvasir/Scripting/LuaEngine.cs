using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Kvasir.Protocol;
using static Kvasir.Scripting.LuaNative;

namespace Kvasir.Scripting;

/// <summary>
/// One Lua 5.4 state with Valkey's sandbox (sandbox.lua) and libraries (libs.lua): EVAL scripts
/// live in one, function libraries in another, as in Valkey. Compiles chunks, runs them in a
/// coroutine (so SCRIPT KILL can stop them by yielding from the count hook), and converts values
/// both ways between Lua and RESP. Used only under the data lock.
/// </summary>
internal sealed unsafe class LuaEngine : IDisposable
{
    private const int NoRef = -1;

    /// <summary>
    /// The engine running a script on this thread (callbacks and hooks reach it through this). Per
    /// thread, not per process: several servers may live in one process (tests, embedding).
    /// </summary>
    [ThreadStatic] private static LuaEngine? s_active;

    private readonly ScriptHost _host;
    private readonly bool _functions;
    private int _runnerRef, _baseRef, _globalsRef, _libraryModeRef;
    private nint _thread;
    private int _threadRef = NoRef;
    private int _runs;
    private ScriptRun? _run;
    private byte[] _argBuffer = new byte[256];
    private readonly CommandArgs _callArgs = new();

    public nint State { get; }

    public LuaEngine(ScriptHost host, bool functions)
    {
        _host = host;
        _functions = functions;
        State = luaL_newstate();
        OpenLibraries(State);
        Initialize();
    }

    /// <summary>Bytes the Lua allocator holds (INFO used_memory_vm_eval / used_memory_vm_functions).</summary>
    public long MemoryBytes => (long)lua_gc(State, GcCount, 0) * 1024 + lua_gc(State, GcCountB, 0);

    public void Dispose() => lua_close(State);

    private void Initialize()
    {
        var L = State;
        lua_createtable(L, 0, 24); // the native table, at 1
        SetFunction(L, "call"u8, &CallCallback);
        SetFunction(L, "rand48"u8, &Rand48Callback);
        SetFunction(L, "rearm"u8, &RearmCallback);
        SetFunction(L, "srand48"u8, &Srand48Callback);
        SetFunction(L, "sha1hex"u8, &Sha1HexCallback);
        SetFunction(L, "log"u8, &LogCallback);
        SetFunction(L, "setresp"u8, &SetRespCallback);
        SetFunction(L, "set_repl"u8, &SetReplCallback);
        SetFunction(L, "acl_check_cmd"u8, &AclCheckCallback);
        SetFunction(L, "register_function"u8, &RegisterFunctionCallback);
        SetFunction(L, "open_library"u8, &OpenLibraryCallback);
        PushAscii(L, KvasirServer.RedisVersion); RawSetField(L, 1, "redis_version"u8);
        lua_pushinteger(L, VersionNumber(KvasirServer.RedisVersion)); RawSetField(L, 1, "redis_version_num"u8);
        PushAscii(L, KvasirServer.ValkeyVersion); RawSetField(L, 1, "valkey_version"u8);
        lua_pushinteger(L, VersionNumber(KvasirServer.ValkeyVersion)); RawSetField(L, 1, "valkey_version_num"u8);

        LoadStripped(L, Resource("sandbox.lua"));
        lua_pushvalue(L, 1);
        PushAscii(L, _functions ? "function" : "eval");
        if (PCall(L, 2, 4, 0) != Ok) throw new InvalidOperationException(ToManagedString(L, -1));
        _libraryModeRef = luaL_ref(L, RegistryIndex);
        _baseRef = luaL_ref(L, RegistryIndex);
        _runnerRef = luaL_ref(L, RegistryIndex);
        _globalsRef = luaL_ref(L, RegistryIndex);
        lua_settop(L, 0);
        lua_gc(L, GcCollect, 0);
    }

    /// <summary>
    /// Loads one of our own chunks without its debug information (line tables, local names): it
    /// halves the memory they hold, and their frames read as "=?" to the error handler.
    /// </summary>
    private static void LoadStripped(nint L, byte[] source)
    {
        if (Load(L, "local s = ... local f = assert(load(s, '=kvasir', 't')) return string.dump(f, true)"u8, "=kvasir") != Ok
            || PushBytesAnd(L, source) || PCall(L, 1, 1, 0) != Ok)
            throw new InvalidOperationException(ToManagedString(L, -1));
        var dumped = ToBytes(L, -1).ToArray();
        Pop(L, 1);
        byte* mode = stackalloc byte[2];
        mode[0] = (byte)'b';
        mode[1] = 0;
        byte* name = stackalloc byte[2];
        name[0] = (byte)'?';
        name[1] = 0;
        fixed (byte* code = dumped)
            if (luaL_loadbufferx(L, code, (nuint)dumped.Length, name, mode) != Ok) throw new InvalidOperationException(ToManagedString(L, -1));
    }

    private static bool PushBytesAnd(nint L, byte[] bytes)
    {
        PushBytes(L, bytes);
        return false;
    }

    private static void SetFunction(nint L, ReadOnlySpan<byte> name, delegate* unmanaged<nint, int> fn)
    {
        lua_pushcclosure(L, fn, 0);
        RawSetField(L, 1, name);
    }

    /// <summary>open_library(name): compiles and runs bit.lua, cjson.lua, cmsgpack.lua or struct.lua, returning its table.</summary>
    [UnmanagedCallersOnly]
    private static int OpenLibraryCallback(nint L)
    {
        try
        {
            string name = ToManagedString(L, 1);
            if (name is not ("bit" or "cjson" or "cmsgpack" or "struct")) return 0;
            lua_settop(L, 0);
            // Protected: a failure stays inside lua_pcall's own frame, never reaching this one.
            LoadStripped(L, Resource(name + ".lua"));
            lua_pushlightuserdata(L, 0); // cjson.null is a NULL light userdata, as in lua_cjson
            if (PCall(L, 1, 1, 0) != Ok) lua_createtable(L, 0, 0);
            return 1;
        }
        catch
        {
            lua_settop(L, 0);
            lua_createtable(L, 0, 0);
            return 1;
        }
    }

    private static long VersionNumber(string version)
    {
        var parts = version.Split('.');
        long n = 0;
        foreach (var p in parts.Take(3)) n = (n << 8) | (long.TryParse(p, out var v) ? v : 0);
        return n;
    }

    private static readonly Dictionary<string, byte[]> s_resources = new();

    private static byte[] Resource(string name)
    {
        lock (s_resources)
        {
            if (s_resources.TryGetValue(name, out var bytes)) return bytes;
            using var stream = typeof(LuaEngine).Assembly.GetManifestResourceStream("Kvasir.Scripting." + name)
                               ?? throw new InvalidOperationException("missing resource " + name);
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            return s_resources[name] = ms.ToArray();
        }
    }

    // ----- compiling -----

    /// <summary>Compiles a chunk into a function bound to the sandbox globals; returns its registry reference, or NoRef with the error.</summary>
    public int Compile(ReadOnlySpan<byte> code, string chunkName, out string? error)
    {
        var L = State;
        if (Load(L, code, chunkName) != Ok)
        {
            error = ToManagedString(L, -1);
            lua_settop(L, 0);
            return NoRef;
        }
        lua_rawgeti(L, RegistryIndex, _globalsRef);
        lua_setupvalue(L, -2, 1); // a main chunk's first upvalue is its _ENV
        error = null;
        return luaL_ref(L, RegistryIndex);
    }

    public void Release(int reference)
    {
        if (reference != NoRef) luaL_unref(State, RegistryIndex, reference);
    }

    // ----- running -----

    private nint Thread()
    {
        if (_thread != 0 && lua_status(_thread) == Ok && lua_gettop(_thread) == 0) return _thread;
        DropThread();
        _thread = lua_newthread(State);
        _threadRef = luaL_ref(State, RegistryIndex);
        return _thread;
    }

    private void DropThread()
    {
        if (_threadRef != NoRef) luaL_unref(State, RegistryIndex, _threadRef);
        _threadRef = NoRef;
        _thread = 0;
    }

    /// <summary>
    /// Runs a compiled script (EVAL: KEYS and ARGV become globals) or a function (FCALL: keys and
    /// args are its two parameters) and writes its result, or its error, to the caller.
    /// </summary>
    public void Run(ScriptRun run, int functionRef, CommandArgs args, int firstKey, int keyCount, int argCount)
    {
        var T = Thread();
        lua_checkstack(T, 8);
        lua_rawgeti(T, RegistryIndex, _runnerRef);
        lua_rawgeti(T, RegistryIndex, functionRef);
        PushArray(T, args, firstKey, keyCount);
        PushArray(T, args, firstKey + keyCount, argCount);
        int nargs = 3;
        if (run.IsEval)
        {
            lua_rawgeti(T, RegistryIndex, _baseRef);
            lua_pushvalue(T, -3);
            RawSetField(T, -2, "KEYS"u8);
            lua_pushvalue(T, -2);
            RawSetField(T, -2, "ARGV"u8);
            Pop(T, 3);
            nargs = 1;
        }
        var previous = s_active;
        s_active = this;
        _run = run;
        long threshold = _host.Server.Config.BusyReplyThreshold;
        lua_sethook(T, threshold > 0 ? &CountHook : null, threshold > 0 ? MaskCount : 0, 100_000);
        int nres;
        int status = lua_resume(T, State, nargs, &nres);
        lua_sethook(T, null, 0, 0);
        s_active = previous;
        _run = null;

        var caller = run.Caller;
        if (status == Ok)
        {
            bool ok = lua_toboolean(T, 1) != 0;
            if (lua_gettop(T) < 2) lua_pushnil(T);
            lua_settop(T, 2);
            if (ok) WriteReply(T, run, caller.Reply);
            else WriteFailure(T, run);
            lua_settop(T, 0);
        }
        else if (status == Yield)
        {
            if (run.Killed)
                ReplyError(run, (run.IsEval ? "ERR Script killed by user with SCRIPT KILL." : "ERR Script killed by user with FUNCTION KILL.")
                                + (run.KillPosition is { } where ? $" script: {run.Name}, on {where}." : ""), ignoreStats: false);
            else ReplyError(run, $"ERR Error running script {run.Name}, attempt to yield from outside a coroutine", ignoreStats: false);
            DropThread();
        }
        else
        {
            string msg = lua_type(T, -1) == TString ? ToManagedString(T, -1) : "execution failure";
            if (msg.Length > 100) msg = msg[..100];
            ReplyError(run, $"ERR Error running script {run.Name}, {msg}", ignoreStats: false);
            DropThread();
        }
        // A small incremental GC step from time to time, as Valkey does every 50 scripts.
        if (++_runs % 50 == 0) lua_gc(State, GcStep, 50);
    }

    private static void PushArray(nint T, CommandArgs args, int first, int count)
    {
        lua_createtable(T, count, 0);
        for (int i = 0; i < count; i++)
        {
            PushBytes(T, args[first + i]);
            lua_rawseti(T, -2, i + 1);
        }
    }

    /// <summary>Runs a library body under the load view of the globals (FUNCTION LOAD). Returns the error message or null.</summary>
    public string? RunLibrary(int chunkRef, ScriptHost.LibraryLoad load)
    {
        var L = State;
        SetLibraryMode(true);
        var T = lua_newthread(L);
        int threadRef = luaL_ref(L, RegistryIndex);
        var previous = s_active;
        s_active = this;
        _host.Loading = load;
        lua_rawgeti(T, RegistryIndex, _runnerRef);
        lua_rawgeti(T, RegistryIndex, chunkRef);
        lua_sethook(T, &LoadHook, MaskCount, 100_000);
        int nres;
        int status = lua_resume(T, L, 1, &nres);
        _host.Loading = null;
        s_active = previous;
        SetLibraryMode(false);
        string? error = null;
        if (status == Yield) error = "ERR FUNCTION LOAD timeout";
        else if (status != Ok) error = "ERR " + (lua_type(T, -1) == TString ? ToManagedString(T, -1) : "execution failure");
        else if (lua_toboolean(T, 1) == 0)
        {
            lua_settop(T, 2);
            error = ErrorMessage(T, withPosition: false, null, out _);
        }
        lua_settop(T, 0);
        luaL_unref(L, RegistryIndex, threadRef);
        return error;
    }

    private void SetLibraryMode(bool on)
    {
        var L = State;
        lua_rawgeti(L, RegistryIndex, _libraryModeRef);
        lua_pushboolean(L, on ? 1 : 0);
        PCall(L, 1, 0, 0);
        lua_settop(L, 0);
    }

    // ----- Lua -> RESP -----

    private void WriteFailure(nint T, ScriptRun run)
    {
        string msg = ErrorMessage(T, withPosition: true, run.Name, out bool ignore);
        ReplyError(run, msg, ignore);
    }

    /// <summary>The reply text of an error value: the handler's {err, source, line} table, or a plain string.</summary>
    private static string ErrorMessage(nint T, bool withPosition, string? scriptName, out bool ignoreStats)
    {
        ignoreStats = false;
        if (lua_type(T, -1) != TTable)
            return "ERR " + (lua_isstring(T, -1) != 0 ? ToManagedString(T, -1) : "unknown error");
        string msg = RawGetField(T, -1, "err"u8) == TString ? ToManagedString(T, -1) : "(null)";
        Pop(T, 1);
        if (RawGetField(T, -1, "ignore_error_stats_update"u8) == TBoolean) ignoreStats = lua_toboolean(T, -1) != 0;
        Pop(T, 1);
        if (!withPosition) return msg;
        string? source = null, line = null;
        if (RawGetField(T, -1, "source"u8) == TString) source = ToManagedString(T, -1);
        Pop(T, 1);
        if (RawGetField(T, -1, "line"u8) is TString or TNumber) line = ToManagedString(T, -1);
        Pop(T, 1);
        if (source is not null && line is not null) msg += $" script: {scriptName}, on {source}:{line}.";
        return msg;
    }

    private void ReplyError(ScriptRun run, string message, bool ignoreStats)
    {
        if (ignoreStats) run.Caller.ErrorCountedElsewhere(message);
        else run.Caller.Error(message);
    }

    /// <summary>Converts the value on top of the stack into a reply (Valkey's luaReplyToServerReply) and pops it.</summary>
    private void WriteReply(nint T, ScriptRun run, ReplyWriter w, int depth = 0)
    {
        // Lua 5.1's small C stack stopped Valkey around this depth; here it also bounds our own recursion.
        if (depth > MaxReplyDepth || lua_checkstack(T, 4) == 0)
        {
            ReplyError(run, "ERR reached lua stack limit", false);
            Pop(T, 1);
            return;
        }
        switch (lua_type(T, -1))
        {
            case TString:
                w.WriteBulk(ToBytes(T, -1));
                break;
            case TBoolean:
                bool b = lua_toboolean(T, -1) != 0;
                if (run.Resp == 2)
                {
                    if (b) w.WriteInteger(1);
                    else w.WriteNull();
                }
                else w.WriteBoolean(b);
                break;
            case TNumber:
                w.WriteInteger(lua_isinteger(T, -1) != 0 ? lua_tointegerx(T, -1, null) : Truncate(lua_tonumberx(T, -1, null)));
                break;
            case TTable:
                WriteTable(T, run, w, depth);
                break;
            default:
                w.WriteNull();
                break;
        }
        Pop(T, 1);
    }

    private static long Truncate(double d) => double.IsNaN(d) ? long.MinValue : (long)d;

    private const int MaxReplyDepth = 1000;

    private void WriteTable(nint T, ScriptRun run, ReplyWriter w, int depth)
    {
        if (RawGetField(T, -1, "err"u8) == TString)
        {
            Pop(T, 1);
            string msg = ErrorMessage(T, withPosition: false, null, out bool ignore);
            ReplyError(run, msg, ignore);
            return;
        }
        Pop(T, 1);
        if (RawGetField(T, -1, "ok"u8) == TString)
        {
            var ok = ToBytes(T, -1);
            Span<byte> copy = ok.Length <= 512 ? stackalloc byte[ok.Length] : new byte[ok.Length];
            ok.CopyTo(copy);
            foreach (ref byte c in copy) if (c == '\r' || c == '\n') c = (byte)' ';
            w.WriteSimpleString(copy);
            Pop(T, 1);
            return;
        }
        Pop(T, 1);
        if (RawGetField(T, -1, "double"u8) == TNumber)
        {
            w.WriteDouble(lua_tonumberx(T, -1, null));
            Pop(T, 1);
            return;
        }
        Pop(T, 1);
        if (RawGetField(T, -1, "big_number"u8) == TString)
        {
            string digits = ToManagedString(T, -1).Replace('\r', ' ').Replace('\n', ' ');
            w.WriteBigNumber(digits);
            Pop(T, 1);
            return;
        }
        Pop(T, 1);
        if (RawGetField(T, -1, "verbatim_string"u8) == TTable)
        {
            if (RawGetField(T, -1, "format"u8) == TString)
            {
                string format = ToManagedString(T, -1);
                if (RawGetField(T, -2, "string"u8) == TString)
                {
                    WriteVerbatim(w, ToBytes(T, -1), format);
                    Pop(T, 3);
                    return;
                }
                Pop(T, 1);
            }
            Pop(T, 1);
        }
        Pop(T, 1);
        if (RawGetField(T, -1, "map"u8) == TTable)
        {
            int token = w.BeginDeferred();
            long pairs = 0;
            lua_pushnil(T);
            while (lua_next(T, -2) != 0)
            {
                lua_pushvalue(T, -2);
                WriteReply(T, run, w, depth + 1);
                WriteReply(T, run, w, depth + 1);
                pairs++;
            }
            w.EndDeferred(token, pairs, '%');
            Pop(T, 1);
            return;
        }
        Pop(T, 1);
        if (RawGetField(T, -1, "set"u8) == TTable)
        {
            int token = w.BeginDeferred();
            long count = 0;
            lua_pushnil(T);
            while (lua_next(T, -2) != 0)
            {
                Pop(T, 1);
                lua_pushvalue(T, -1);
                WriteReply(T, run, w, depth + 1);
                count++;
            }
            w.EndDeferred(token, count, '~');
            Pop(T, 1);
            return;
        }
        Pop(T, 1);
        // An array: elements 1..n up to the first nil.
        int arrayToken = w.BeginDeferred();
        long n = 0;
        while (true)
        {
            if (lua_rawgeti(T, -1, n + 1) == TNil)
            {
                Pop(T, 1);
                break;
            }
            WriteReply(T, run, w, depth + 1);
            n++;
        }
        w.EndDeferred(arrayToken, n);
    }

    private static void WriteVerbatim(ReplyWriter w, ReadOnlySpan<byte> text, string format)
    {
        if (!w.IsResp3)
        {
            w.WriteBulk(text);
            return;
        }
        Span<byte> header = stackalloc byte[32];
        header[0] = (byte)'=';
        Utf8Formatter.TryFormat(text.Length + 4, header[1..], out int n);
        header[n + 1] = (byte)'\r';
        header[n + 2] = (byte)'\n';
        w.WriteRaw(header[..(n + 3)]);
        Span<byte> fmt = stackalloc byte[4];
        for (int i = 0; i < 3; i++) fmt[i] = i < format.Length ? (byte)format[i] : (byte)' ';
        fmt[3] = (byte)':';
        w.WriteRaw(fmt);
        w.WriteRaw(text);
        w.WriteRaw("\r\n"u8);
    }

    // ----- RESP -> Lua -----

    /// <summary>Pushes the Lua form of one reply (Valkey's redisProtocolToLuaType); returns the position after it.</summary>
    private static int PushReply(nint T, ReadOnlySpan<byte> r, int pos)
    {
        lua_checkstack(T, 4);
        byte kind = r[pos];
        int lineEnd = r[pos..].IndexOf("\r\n"u8) + pos;
        var line = r[(pos + 1)..lineEnd];
        int next = lineEnd + 2;
        switch (kind)
        {
            case (byte)'+':
                lua_createtable(T, 0, 1);
                PushBytes(T, line);
                RawSetField(T, -2, "ok"u8);
                return next;
            case (byte)'-':
                PushErrorTable(T, line, ignoreStats: true);
                return next;
            case (byte)':':
                Utf8Parser.TryParse(line, out long l, out _);
                lua_pushinteger(T, l);
                return next;
            case (byte)'$':
            {
                Utf8Parser.TryParse(line, out int len, out _);
                if (len < 0)
                {
                    lua_pushboolean(T, 0);
                    return next;
                }
                PushBytes(T, r.Slice(next, len));
                return next + len + 2;
            }
            case (byte)'*':
            case (byte)'~':
            case (byte)'%':
            case (byte)'|':
            case (byte)'>':
            {
                Utf8Parser.TryParse(line, out int count, out _);
                if (count < 0)
                {
                    lua_pushboolean(T, 0);
                    return next;
                }
                if (kind == '|')
                {
                    // Attributes are not given to scripts: skip them and read the value they annotate.
                    for (int i = 0; i < count * 2; i++)
                    {
                        next = PushReply(T, r, next);
                        Pop(T, 1);
                    }
                    return PushReply(T, r, next);
                }
                if (kind == '%' || kind == '~')
                {
                    lua_createtable(T, 0, 1);
                    lua_createtable(T, 0, count);
                    for (int i = 0; i < count; i++)
                    {
                        next = PushReply(T, r, next);
                        if (kind == '%') next = PushReply(T, r, next);
                        else lua_pushboolean(T, 1);
                        if (lua_type(T, -2) == TNil) Pop(T, 2);
                        else lua_rawset(T, -3);
                    }
                    RawSetField(T, -2, kind == '%' ? "map"u8 : "set"u8);
                    return next;
                }
                lua_createtable(T, count, 0);
                for (int i = 0; i < count; i++)
                {
                    next = PushReply(T, r, next);
                    lua_rawseti(T, -2, i + 1);
                }
                return next;
            }
            case (byte)'_':
                lua_pushnil(T);
                return next;
            case (byte)'#':
                lua_pushboolean(T, line.Length > 0 && line[0] == 't' ? 1 : 0);
                return next;
            case (byte)',':
            {
                lua_createtable(T, 0, 1);
                lua_pushnumber(T, ParseDouble(line));
                RawSetField(T, -2, "double"u8);
                return next;
            }
            case (byte)'(':
                lua_createtable(T, 0, 1);
                PushBytes(T, line);
                RawSetField(T, -2, "big_number"u8);
                return next;
            case (byte)'=':
            {
                Utf8Parser.TryParse(line, out int len, out _);
                var body = r.Slice(next, len);
                lua_createtable(T, 0, 1);
                lua_createtable(T, 0, 2);
                PushBytes(T, body[..3]);
                RawSetField(T, -2, "format"u8);
                PushBytes(T, body[4..]);
                RawSetField(T, -2, "string"u8);
                RawSetField(T, -2, "verbatim_string"u8);
                return next + len + 2;
            }
            default:
                lua_pushnil(T);
                return r.Length;
        }
    }

    private static double ParseDouble(ReadOnlySpan<byte> text)
    {
        if (text.SequenceEqual("inf"u8)) return double.PositiveInfinity;
        if (text.SequenceEqual("-inf"u8)) return double.NegativeInfinity;
        if (text.SequenceEqual("nan"u8)) return double.NaN;
        return Utf8Parser.TryParse(text, out double d, out _) ? d : 0;
    }

    /// <summary>Pushes {err = "CODE msg"} from an error line ("-CODE msg" without the dash, or a bare message).</summary>
    private static void PushErrorTable(nint T, ReadOnlySpan<byte> error, bool ignoreStats)
    {
        lua_createtable(T, 0, 2);
        PushBytes(T, error);
        RawSetField(T, -2, "err"u8);
        if (ignoreStats)
        {
            lua_pushboolean(T, 1);
            RawSetField(T, -2, "ignore_error_stats_update"u8);
        }
    }

    // ----- callbacks from Lua (never raise: see LuaNative) -----

    [UnmanagedCallersOnly]
    private static int CallCallback(nint L)
    {
        try
        {
            var engine = s_active;
            if (engine?._run is null)
            {
                PushErrorTable(L, "ERR server.call can only be used while a script runs"u8, false);
                lua_pushboolean(L, 1);
                return 2;
            }
            return engine.OnCall(L);
        }
        catch (Exception e)
        {
            s_active?._host.Server.Log.Warning("Internal error in a command called from a script: " + e);
            lua_settop(L, 0);
            PushErrorTable(L, System.Text.Encoding.UTF8.GetBytes("ERR " + e.Message), false);
            lua_pushboolean(L, 1);
            return 2;
        }
    }

    private int OnCall(nint L)
    {
        int argc = lua_gettop(L);
        if (argc == 0)
        {
            PushErrorTable(L, "ERR Please specify at least one argument for this call"u8, false);
            lua_pushboolean(L, 1);
            return 2;
        }
        if (!CollectArguments(L, argc))
        {
            lua_settop(L, 0);
            PushErrorTable(L, "ERR Command arguments must be strings or integers"u8, false);
            lua_pushboolean(L, 1);
            return 2;
        }
        lua_settop(L, 0);
        var reply = _host.CallFromScript(_run!, _callArgs, out string? refusal);
        if (refusal is not null)
        {
            PushErrorTable(L, System.Text.Encoding.UTF8.GetBytes(refusal), true);
            lua_pushboolean(L, 1);
            return 2;
        }
        lua_checkstack(L, 4);
        bool failed = reply.Length > 0 && reply[0] == '-';
        if (reply.Length == 0) lua_pushnil(L);
        else PushReply(L, reply, 0);
        _host.ReplyConsumed();
        lua_pushboolean(L, failed ? 1 : 0);
        return 2;
    }

    /// <summary>Copies the call's arguments (strings, or numbers formatted as Valkey does) into the reusable argument vector.</summary>
    private bool CollectArguments(nint L, int argc)
    {
        _callArgs.Reset(_argBuffer);
        int used = 0;
        Span<byte> number = stackalloc byte[40];
        for (int i = 1; i <= argc; i++)
        {
            ReadOnlySpan<byte> value;
            int type = lua_type(L, i);
            if (type == TNumber)
            {
                int n;
                if (lua_isinteger(L, i) != 0) Utf8Formatter.TryFormat(lua_tointegerx(L, i, null), number, out n);
                else n = FormatNumber(lua_tonumberx(L, i, null), number);
                value = number[..n];
            }
            else if (type == TString) value = ToBytes(L, i);
            else return false;
            if (used + value.Length > _argBuffer.Length)
            {
                Array.Resize(ref _argBuffer, Math.Max(_argBuffer.Length * 2, used + value.Length));
                _callArgs.Rebase(_argBuffer, 0);
            }
            value.CopyTo(_argBuffer.AsSpan(used));
            _callArgs.Add(used, value.Length);
            used += value.Length;
        }
        return true;
    }

    /// <summary>A float argument: as an integer when it is one (1e9 must reach the command as 1000000000), else shortest round-trip.</summary>
    internal static int FormatNumber(double d, Span<byte> dest)
    {
        if (d == Math.Floor(d) && d >= -9.2233720368547758e18 && d < 9.2233720368547758e18)
        {
            Utf8Formatter.TryFormat((long)d, dest, out int n);
            return n;
        }
        string s = d.ToString("R", System.Globalization.CultureInfo.InvariantCulture)
            .Replace("E+", "e+").Replace("E-", "e-");
        if (double.IsPositiveInfinity(d)) s = "inf";
        else if (double.IsNegativeInfinity(d)) s = "-inf";
        else if (double.IsNaN(d)) s = "nan";
        return System.Text.Encoding.ASCII.GetBytes(s, dest);
    }

    /// <summary>rearm(wrap, f): a coroutine.wrap function whose coroutine died of an error gets f back as its body.</summary>
    [UnmanagedCallersOnly]
    private static int RearmCallback(nint L)
    {
        if (lua_getupvalue(L, 1, 1) == null) return 0;
        nint co = lua_tothread(L, -1);
        Pop(L, 1);
        if (co == 0 || lua_status(co) != Ok || lua_gettop(co) != 0) return 0;
        lua_pushvalue(L, 2);
        lua_xmove(L, co, 1);
        return 0;
    }

    /// <summary>Valkey's rand48 generator, shared by every script of the server since start (math.random is deterministic).</summary>
    private static ref long Rand48State => ref s_active is null ? ref s_noRand48 : ref s_active._host.Rand48;

    private static long s_noRand48 = ScriptHost.Rand48Seed;

    [UnmanagedCallersOnly]
    private static int Rand48Callback(nint L)
    {
        ref long state = ref Rand48State;
        state = (state * 0x5DEECE66DL + 0xB) & 0xFFFF_FFFF_FFFFL;
        lua_pushinteger(L, (int)(state >> 17));
        return 1;
    }

    [UnmanagedCallersOnly]
    private static int Srand48Callback(nint L)
    {
        int seed = (int)lua_tointegerx(L, 1, null);
        Rand48State = (((long)(uint)seed) << 16) | 0x330E;
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int Sha1HexCallback(nint L)
    {
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(ToBytes(L, 1), hash);
        Span<byte> hex = stackalloc byte[40];
        ScriptCache.ToHex(hash, hex);
        PushBytes(L, hex);
        return 1;
    }

    [UnmanagedCallersOnly]
    private static int LogCallback(nint L)
    {
        try
        {
            var log = s_active?._host.Server.Log;
            if (log is null) return 0;
            int level = (int)lua_tointegerx(L, 1, null);
            string message = ToManagedString(L, 2);
            switch (level)
            {
                case 0: log.Debug(message); break;
                case 1: log.Verbose(message); break;
                case 2: log.Notice(message); break;
                default: log.Warning(message); break;
            }
        }
        catch
        {
            // A log line that cannot be written is not the script's failure.
        }
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int SetRespCallback(nint L)
    {
        if (s_active?._run is { } run) run.Resp = (int)lua_tointegerx(L, 1, null);
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int SetReplCallback(nint L)
    {
        if (s_active?._run is { } run) run.ReplFlags = (int)lua_tointegerx(L, 1, null);
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int AclCheckCallback(nint L)
    {
        try
        {
            var engine = s_active!;
            int argc = lua_gettop(L);
            if (argc == 0 || !engine.CollectArguments(L, argc))
            {
                lua_settop(L, 0);
                PushErrorTable(L, argc == 0 ? "ERR Please specify at least one argument for this call"u8 : "ERR Command arguments must be strings or integers"u8, false);
                lua_pushboolean(L, 1);
                return 2;
            }
            lua_settop(L, 0);
            var cmd = engine._host.ResolveCommand(engine._callArgs);
            if (cmd is null)
            {
                PushErrorTable(L, "ERR Invalid command passed to server.acl_check_cmd()"u8, false);
                lua_pushboolean(L, 1);
                return 2;
            }
            lua_pushboolean(L, engine._host.CallerMayRun(engine._run!, cmd, engine._callArgs) ? 1 : 0);
            lua_pushboolean(L, 0);
            return 2;
        }
        catch (Exception e)
        {
            lua_settop(L, 0);
            PushErrorTable(L, System.Text.Encoding.UTF8.GetBytes("ERR " + e.Message), false);
            lua_pushboolean(L, 1);
            return 2;
        }
    }

    [UnmanagedCallersOnly]
    private static int RegisterFunctionCallback(nint L)
    {
        try
        {
            var engine = s_active!;
            var load = engine._host.Loading;
            if (load is null)
            {
                PushAscii(L, "ERR server.register_function can only be called on FUNCTION LOAD command");
                return 1;
            }
            string name = ToManagedString(L, 1);
            string? description = lua_type(L, 3) == TString ? ToManagedString(L, 3) : null;
            string flags = ToManagedString(L, 4);
            string? error = load.Validate(name);
            if (error is not null)
            {
                PushAscii(L, error);
                return 1;
            }
            lua_pushvalue(L, 2);
            int reference = luaL_ref(L, RegistryIndex);
            load.Add(name, description, flags.Length == 0 ? Array.Empty<string>() : flags.Split(' '), reference);
            lua_pushnil(L);
            return 1;
        }
        catch (Exception e)
        {
            PushAscii(L, "ERR " + e.Message);
            return 1;
        }
    }

    // ----- hooks -----

    [UnmanagedCallersOnly]
    private static void CountHook(nint L, nint ar)
    {
        try
        {
            var engine = s_active;
            var run = engine?._run;
            if (run is null) return;
            engine!._host.CheckBusy(run);
            if (run.Killed && lua_isyieldable(L) != 0)
            {
                run.KillPosition ??= UserPosition(L);
                // Yield from the hook: the coroutine stops here and the engine reports the kill.
                // pcall inside the script cannot catch this, unlike an error.
                lua_yieldk(L, 0, 0, 0);
            }
        }
        catch
        {
            // Nothing may escape into Lua.
        }
    }

    [UnmanagedCallersOnly]
    private static void LoadHook(nint L, nint ar)
    {
        // FUNCTION LOAD may take at most 500 ms: a library body should only register functions.
        var load = s_active?._host.Loading;
        if (load is not null && load.TimedOut() && lua_isyieldable(L) != 0) lua_yieldk(L, 0, 0, 0);
    }

    /// <summary>"@user_script:LINE" of the innermost user frame, for the kill message.</summary>
    private static string? UserPosition(nint L)
    {
        byte* ar = stackalloc byte[512];
        byte* what = stackalloc byte[3];
        what[0] = (byte)'S'; what[1] = (byte)'l'; what[2] = 0;
        for (int level = 0; lua_getstack(L, level, ar) != 0; level++)
        {
            if (lua_getinfo(L, what, ar) == 0) break;
            // lua_Debug: event, name, namewhat, what, source, srclen, currentline (64-bit layout).
            byte* source = *(byte**)(ar + 32);
            int line = *(int*)(ar + 48);
            if (source == null) continue;
            var src = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(source);
            if (src.Length > 0 && src[0] == '@') return System.Text.Encoding.UTF8.GetString(src) + ":" + line;
        }
        return null;
    }
}
