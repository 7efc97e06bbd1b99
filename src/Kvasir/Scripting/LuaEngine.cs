using System.Buffers.Text;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Kvasir.Protocol;
using static Kvasir.Scripting.LuaNative;

namespace Kvasir.Scripting;

/// <summary>
/// One Lua 5.1 state with Valkey's sandbox (sandbox.lua) and libraries (lua-cjson, bit and struct
/// in <see cref="NativeLibraries"/>, cmsgpack.lua): EVAL scripts live in one, function libraries in
/// another, as in Valkey. Compiles chunks, runs them under the sandbox's error handler, and
/// converts values both ways between Lua and RESP. Used only under the data lock.
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
    private int _handlerRef, _baseRef, _globalsRef, _libraryModeRef;
    private int _runs;
    private ScriptRun? _run;
    /// <summary>Why the running chunk is being stopped (kill, load timeout); the error handler reports it.</summary>
    private string? _stopMessage;
    private byte[] _argBuffer = new byte[256];
    private readonly CommandArgs _callArgs = new();

    public nint State { get; }

    public LuaEngine(ScriptHost host, bool functions)
    {
        _host = host;
        _functions = functions;
        State = luaL_newstate();
        if (State == 0) throw new InvalidOperationException("cannot create a Lua state (out of memory)");
        Initialize();
    }

    /// <summary>Bytes the Lua allocator holds (INFO used_memory_vm_eval / used_memory_vm_functions).</summary>
    public long MemoryBytes => (long)lua_gc(State, GcCount, 0) * 1024 + lua_gc(State, GcCountB, 0);

    public void Dispose() => lua_close(State);

    /// <summary>lua-cjson's open function, or 0 with the reason when the module is not installed.</summary>
    private static nint CjsonOpen() =>
        OpenModule("luaopen_cjson", "liblua5.1-cjson.so.0", "liblua5.1-cjson.so", "/usr/lib/x86_64-linux-gnu/lua/5.1/cjson.so",
                   "/usr/lib/aarch64-linux-gnu/lua/5.1/cjson.so", "/usr/local/lib/lua/5.1/cjson.so");

    /// <summary>Checks that Lua 5.1 and lua-cjson can be loaded; the message names what to install.</summary>
    public static bool Available(out string? error)
    {
        if (!TryLoad(out error)) return false;
        if (CjsonOpen() == 0)
        {
            error = MissingLibraryHelp;
            return false;
        }
        return true;
    }

    private void Initialize()
    {
        var L = State;
        // The standard libraries scripts may see (no io, no package); os only lends its clock.
        nint lib = Handle();
        foreach (var (name, open) in new[] { ("", "luaopen_base"), ("table", "luaopen_table"), ("string", "luaopen_string"),
                                            ("math", "luaopen_math"), ("os", "luaopen_os"), ("debug", "luaopen_debug") })
        {
            if (OpenLibrary(L, NativeLibrary.GetExport(lib, open), name) != Ok) throw new InvalidOperationException(ToManagedString(L, -1));
            lua_settop(L, 0);
        }
        nint cjson = CjsonOpen();
        if (cjson == 0) throw new DllNotFoundException(MissingLibraryHelp);

        lua_createtable(L, 0, 24); // the native table, at 1
        SetFunction(L, "call"u8, &CallCallback);
        nint raisingCall = RaisingThunk.Create((nint)(delegate* unmanaged<nint, int>)&RaisingCallCallback);
        if (raisingCall != 0)
        {
            lua_pushcclosure(L, raisingCall, 0);
            RawSetField(L, 1, "raising_call"u8);
        }
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
        SetFunction(L, "killed"u8, &KilledCallback);
        lua_pushboolean(L, NativeLibraries.Raising ? 1 : 0); RawSetField(L, 1, "raising_libraries"u8);
        NativeLibraries.PushBit(L); RawSetField(L, 1, "bit"u8);
        NativeLibraries.PushStruct(L); RawSetField(L, 1, "struct"u8);
        if (OpenLibrary(L, cjson, "cjson") != Ok) throw new InvalidOperationException(ToManagedString(L, -1));
        RawSetField(L, 1, "cjson"u8);
        PushAscii(L, KvasirServer.RedisVersion); RawSetField(L, 1, "redis_version"u8);
        lua_pushnumber(L, VersionNumber(KvasirServer.RedisVersion)); RawSetField(L, 1, "redis_version_num"u8);
        PushAscii(L, KvasirServer.ValkeyVersion); RawSetField(L, 1, "valkey_version"u8);
        lua_pushnumber(L, VersionNumber(KvasirServer.ValkeyVersion)); RawSetField(L, 1, "valkey_version_num"u8);

        // string.dump, for LoadChunk; the globals it was found in are emptied below.
        lua_pushvalue(L, GlobalsIndex);
        RawGetField(L, -1, "string"u8);
        RawGetField(L, -1, "dump"u8);
        _dumpRef = luaL_ref(L, RegistryIndex);
        Pop(L, 2);
        if (LoadChunk(L, Resource("sandbox.lua"), _dumpRef) != Ok) throw new InvalidOperationException(ToManagedString(L, -1));
        lua_pushvalue(L, 1);
        PushAscii(L, _functions ? "function" : "eval");
        if (PCall(L, 2, 4, 0) != Ok) throw new InvalidOperationException(ToManagedString(L, -1));
        _libraryModeRef = luaL_ref(L, RegistryIndex);
        _baseRef = luaL_ref(L, RegistryIndex);
        _handlerRef = luaL_ref(L, RegistryIndex);
        // The table the libraries were opened in (debug, loadfile, the whole os...) is emptied: the
        // sandbox kept what it needs, and C functions still name it as their environment.
        lua_pushvalue(L, GlobalsIndex);
        ClearTable(L, lua_gettop(L));
        Pop(L, 1);
        // Chunks compiled from now on (EVAL bodies, loadstring) see the scripts' globals; so does getfenv(0).
        lua_pushvalue(L, -1);
        lua_replace(L, GlobalsIndex);
        _globalsRef = luaL_ref(L, RegistryIndex);
        lua_settop(L, 0);
        lua_gc(L, GcCollect, 0);
    }

    private static void ClearTable(nint L, int idx)
    {
        while (true)
        {
            lua_pushnil(L);
            if (lua_next(L, idx) == 0) return;
            Pop(L, 1);
            lua_pushnil(L);
            lua_rawset(L, idx);
        }
    }

    /// <summary>
    /// Loads one of our own chunks without its debug information (<see cref="BytecodeStripper"/>):
    /// it halves the memory they hold. Their frames read as "=?" to the error handler.
    /// </summary>
    private static int LoadChunk(nint L, byte[] source, int dumpRef)
    {
        int status = Load(L, source, "=kvasir");
        if (status != Ok) return status;
        lua_rawgeti(L, RegistryIndex, dumpRef);
        if (lua_type(L, -1) != TFunction)
        {
            Pop(L, 1);
            return Ok;
        }
        lua_pushvalue(L, -2);
        if (PCall(L, 1, 1, 0) != Ok)
        {
            Pop(L, 1);
            return Ok;
        }
        var stripped = BytecodeStripper.Strip(ToBytes(L, -1));
        Pop(L, 1);
        if (stripped is null) return Ok;
        fixed (byte* code = stripped)
        fixed (byte* name = "=?\0"u8)
        {
            if (luaL_loadbuffer(L, code, (nuint)stripped.Length, name) != Ok)
            {
                Pop(L, 1);
                return Ok;
            }
        }
        Remove(L, -2);
        return Ok;
    }

    /// <summary>string.dump, kept in the registry (the globals it came from are emptied).</summary>
    private int _dumpRef = NoRef;

    private static void SetFunction(nint L, ReadOnlySpan<byte> name, delegate* unmanaged<nint, int> fn)
    {
        PushFunction(L, fn);
        RawSetField(L, 1, name);
    }

    /// <summary>open_library(name): compiles and runs cmsgpack.lua (given the struct primitives), returning its table.</summary>
    [UnmanagedCallersOnly]
    private static int OpenLibraryCallback(nint L)
    {
        try
        {
            string name = ToManagedString(L, 1);
            if (name is not "cmsgpack") return 0;
            lua_settop(L, 0);
            // Protected: a failure stays inside lua_pcall's own frame, never reaching this one.
            if (LoadChunk(L, Resource(name + ".lua"), s_active?._dumpRef ?? NoRef) != Ok)
            {
                lua_settop(L, 0);
                lua_createtable(L, 0, 0);
                return 1;
            }
            NativeLibraries.PushStruct(L);
            if (PCall(L, 1, 1, 0) != Ok)
            {
                lua_settop(L, 0);
                lua_createtable(L, 0, 0);
            }
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
        // Valkey's parser reads every chunk as text: a binary chunk fails at its first byte.
        byte[]? text = null;
        if (code.Length > 0 && code[0] == 27)
        {
            text = new byte[code.Length + 1];
            text[0] = (byte)' ';
            code.CopyTo(text.AsSpan(1));
        }
        if (Load(L, text ?? code, chunkName) != Ok)
        {
            error = ToManagedString(L, -1);
            lua_settop(L, 0);
            return NoRef;
        }
        lua_rawgeti(L, RegistryIndex, _globalsRef);
        lua_setfenv(L, -2);
        error = null;
        return luaL_ref(L, RegistryIndex);
    }

    public void Release(int reference)
    {
        if (reference != NoRef) luaL_unref(State, RegistryIndex, reference);
    }

    // ----- running -----

    private static nint CountHookPointer => (nint)(delegate* unmanaged<nint, nint, void>)&CountHook;
    private static nint LoadHookPointer => (nint)(delegate* unmanaged<nint, nint, void>)&LoadHook;

    /// <summary>
    /// Runs a compiled script (EVAL: KEYS and ARGV become globals) or a function (FCALL: keys and
    /// args are its two parameters) and writes its result, or its error, to the caller.
    /// </summary>
    public void Run(ScriptRun run, int functionRef, CommandArgs args, int firstKey, int keyCount, int argCount)
    {
        var L = State;
        lua_settop(L, 0);
        lua_checkstack(L, 8);
        lua_rawgeti(L, RegistryIndex, _handlerRef);
        lua_rawgeti(L, RegistryIndex, functionRef);
        int nargs = 2;
        if (run.IsEval)
        {
            lua_rawgeti(L, RegistryIndex, _baseRef);
            PushArray(L, args, firstKey, keyCount);
            RawSetField(L, -2, "KEYS"u8);
            PushArray(L, args, firstKey + keyCount, argCount);
            RawSetField(L, -2, "ARGV"u8);
            Pop(L, 1);
            nargs = 0;
        }
        else
        {
            PushArray(L, args, firstKey, keyCount);
            PushArray(L, args, firstKey + keyCount, argCount);
        }
        var previous = s_active;
        s_active = this;
        _run = run;
        _stopMessage = null;
        long threshold = _host.Server.Config.BusyReplyThreshold;
        lua_sethook(L, threshold > 0 ? CountHookPointer : 0, threshold > 0 ? MaskCount : 0, 100_000);
        int status = lua_pcall(L, nargs, 1, 1);
        lua_sethook(L, 0, 0, 0);
        s_active = previous;
        _run = null;
        _stopMessage = null;
        // setfenv(0, t) in a script must not change what the next script compiles against.
        lua_rawgeti(L, RegistryIndex, _globalsRef);
        lua_replace(L, GlobalsIndex);

        if (status == Ok) WriteReply(L, run, run.Caller.Reply);
        else if (status == ErrRun && lua_type(L, -1) == TTable) WriteFailure(L, run);
        else
        {
            string msg = status == ErrMem ? "not enough memory"
                : status == ErrErr ? "error in error handling"
                : lua_type(L, -1) == TString ? ToManagedString(L, -1) : "execution failure";
            if (msg.Length > 100) msg = msg[..100];
            ReplyError(run, $"ERR Error running script {run.Name}, {msg}", ignoreStats: false);
        }
        lua_settop(L, 0);
        // A small incremental GC step from time to time, as Valkey does every 50 scripts.
        if (++_runs % 50 == 0) lua_gc(L, GcStep, 50);
    }

    private static void PushArray(nint L, CommandArgs args, int first, int count)
    {
        lua_createtable(L, count, 0);
        for (int i = 0; i < count; i++)
        {
            PushBytes(L, args[first + i]);
            lua_rawseti(L, -2, i + 1);
        }
    }

    /// <summary>Runs a library body under the load view of the globals (FUNCTION LOAD). Returns the error message or null.</summary>
    public string? RunLibrary(int chunkRef, ScriptHost.LibraryLoad load)
    {
        var L = State;
        lua_settop(L, 0);
        SetLibraryMode(true);
        var previous = s_active;
        s_active = this;
        _host.Loading = load;
        _stopMessage = null;
        lua_rawgeti(L, RegistryIndex, _handlerRef);
        lua_rawgeti(L, RegistryIndex, chunkRef);
        lua_sethook(L, LoadHookPointer, MaskCount, 100_000);
        int status = lua_pcall(L, 0, 0, 1);
        lua_sethook(L, 0, 0, 0);
        _host.Loading = null;
        s_active = previous;
        _stopMessage = null;
        lua_rawgeti(L, RegistryIndex, _globalsRef);
        lua_replace(L, GlobalsIndex);
        SetLibraryMode(false);
        string? error = null;
        if (status == ErrRun && lua_type(L, -1) == TTable) error = ErrorMessage(L, withPosition: false, null, out _);
        else if (status != Ok) error = "ERR " + (lua_type(L, -1) == TString ? ToManagedString(L, -1) : "execution failure");
        lua_settop(L, 0);
        return error;
    }

    private void SetLibraryMode(bool on)
    {
        var L = State;
        int top = lua_gettop(L);
        lua_rawgeti(L, RegistryIndex, _libraryModeRef);
        lua_pushboolean(L, on ? 1 : 0);
        PCall(L, 1, 0, 0);
        lua_settop(L, top);
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
                w.WriteInteger(Truncate(lua_tonumber(T, -1)));
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

    /// <summary>C's (long long) cast on x86-64: NaN and out-of-range values become LLONG_MIN, as Valkey replies.</summary>
    private static long Truncate(double d) => d >= -9.2233720368547758e18 && d < 9.2233720368547758e18 ? (long)d : long.MinValue;

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
            w.WriteDouble(lua_tonumber(T, -1));
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
            if (RawGetI(T, -1, (int)n + 1) == TNil)
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
                lua_pushnumber(T, l);
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

    /// <summary>server.call as a C function (through <see cref="RaisingThunk"/>): -1 raises the error table on top.</summary>
    [UnmanagedCallersOnly]
    private static int RaisingCallCallback(nint L)
    {
        int failed;
        try
        {
            var engine = s_active;
            if (engine?._run is null)
            {
                lua_settop(L, 0);
                PushErrorTable(L, "ERR server.call can only be used while a script runs"u8, false);
                return -1;
            }
            engine.OnCall(L);
            failed = lua_toboolean(L, -1);
            Pop(L, 1);
        }
        catch (Exception e)
        {
            s_active?._host.Server.Log.Warning("Internal error in a command called from a script: " + e);
            lua_settop(L, 0);
            PushErrorTable(L, System.Text.Encoding.UTF8.GetBytes("ERR " + e.Message), false);
            return -1;
        }
        return failed != 0 ? -1 : 1;
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
                n = FormatNumber(lua_tonumber(L, i), number);
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

    /// <summary>
    /// A number argument as Valkey writes it: an integer when it is one within ±2^62 (1e9 must reach
    /// the command as 1000000000), else the shortest digits that read back the same number laid out
    /// as fpconv_dtoa does (1e+21, 1.5e-7, 9223372036854776000, inf, -nan).
    /// </summary>
    internal static int FormatNumber(double d, Span<byte> dest)
    {
        if (d >= -4.611686018427387904e18 && d <= 4.611686018427387904e18 && d == Math.Floor(d))
        {
            Utf8Formatter.TryFormat((long)d, dest, out int n);
            return n;
        }
        int len = 0;
        bool neg = BitConverter.DoubleToInt64Bits(d) < 0;
        if (neg) dest[len++] = (byte)'-';
        if (double.IsNaN(d) || double.IsInfinity(d))
        {
            (double.IsNaN(d) ? "nan"u8 : "inf"u8).CopyTo(dest[len..]);
            return len + 3;
        }
        // Shortest round-trip digits and exponent K (value = digits * 10^K).
        string r = Math.Abs(d).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        int e = r.IndexOfAny(['E', 'e']);
        string mantissa = e < 0 ? r : r[..e];
        int exp10 = e < 0 ? 0 : int.Parse(r[(e + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa[..dot] + mantissa[(dot + 1)..];
        int k = exp10 - (dot < 0 ? 0 : mantissa.Length - dot - 1);
        int lead = 0;
        while (lead < digits.Length - 1 && digits[lead] == '0') lead++;
        digits = digits[lead..];
        int trail = digits.Length;
        while (trail > 1 && digits[trail - 1] == '0') { trail--; k++; }
        digits = digits[..trail];
        int nd = digits.Length;
        int absExp = Math.Abs(k + nd - 1);
        var sb = new System.Text.StringBuilder(32);
        if (k >= 0 && absExp < nd + 7)
        {
            sb.Append(digits).Append('0', k);
        }
        else if (k < 0 && (k > -7 || absExp < 4))
        {
            int offset = nd - Math.Abs(k);
            if (offset <= 0) sb.Append("0.").Append('0', -offset).Append(digits);
            else sb.Append(digits, 0, offset).Append('.').Append(digits, offset, nd - offset);
        }
        else
        {
            int shown = Math.Min(nd, 18 - (neg ? 1 : 0));
            sb.Append(digits[0]);
            if (shown > 1) sb.Append('.').Append(digits, 1, shown - 1);
            sb.Append('e').Append(k + nd - 1 < 0 ? '-' : '+').Append(absExp);
        }
        foreach (char c in sb.ToString()) dest[len++] = (byte)c;
        return len;
    }

    /// <summary>
    /// rearm(wrap, f): a coroutine.wrap function whose coroutine died of an error gets a fresh
    /// coroutine running f (Lua 5.1 cannot reset a dead one).
    /// </summary>
    [UnmanagedCallersOnly]
    private static int RearmCallback(nint L)
    {
        if (lua_iscfunction(L, 1) == 0 || lua_type(L, 2) != TFunction) return 0;
        nint co = lua_newthread(L);
        // A new thread inherits the running one's hook, which may be the kill hook: not this one.
        lua_sethook(co, 0, 0, 0);
        lua_pushvalue(L, 2);
        lua_xmove(L, co, 1);
        if (lua_setupvalue(L, 1, 1) == null) Pop(L, 1);
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
        lua_pushnumber(L, (int)(state >> 17));
        return 1;
    }

    [UnmanagedCallersOnly]
    private static int Srand48Callback(nint L)
    {
        int seed = (int)lua_tointeger(L, 1);
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
            int level = (int)lua_tointeger(L, 1);
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
        if (s_active?._run is { } run) run.Resp = (int)lua_tointeger(L, 1);
        return 0;
    }

    [UnmanagedCallersOnly]
    private static int SetReplCallback(nint L)
    {
        if (s_active?._run is { } run) run.ReplFlags = (int)lua_tointeger(L, 1);
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

    /// <summary>killed(): the message of the stop in progress (SCRIPT KILL, FUNCTION LOAD timeout), for the error handler.</summary>
    [UnmanagedCallersOnly]
    private static int KilledCallback(nint L)
    {
        var message = s_active?._stopMessage;
        if (message is null) return 0;
        PushAscii(L, message);
        return 1;
    }

    // ----- hooks -----

    /// <summary>
    /// Stops the running chunk: from the next instruction on, lua_error itself is the hook, so the
    /// error starts in native code and no managed frame is crossed. A pcall in the script catches it
    /// once, and the next instruction raises again (Valkey re-raises on every line likewise).
    /// </summary>
    private void Stop(nint L, string message)
    {
        _stopMessage ??= message;
        lua_sethook(L, ErrorFunction, MaskCount, 1);
    }

    [UnmanagedCallersOnly]
    private static void CountHook(nint L, nint ar)
    {
        try
        {
            var engine = s_active;
            var run = engine?._run;
            if (run is null) return;
            engine!._host.CheckBusy(run);
            if (run.Killed)
                engine.Stop(L, run.IsEval ? "ERR Script killed by user with SCRIPT KILL." : "ERR Script killed by user with FUNCTION KILL.");
        }
        catch
        {
            // Nothing may escape into Lua.
        }
    }

    [UnmanagedCallersOnly]
    private static void LoadHook(nint L, nint ar)
    {
        try
        {
            // FUNCTION LOAD may take at most 500 ms: a library body should only register functions.
            var engine = s_active;
            var load = engine?._host.Loading;
            if (load is not null && load.TimedOut()) engine!.Stop(L, "ERR FUNCTION LOAD timeout");
        }
        catch
        {
            // Nothing may escape into Lua.
        }
    }
}
