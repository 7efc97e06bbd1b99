using System.Reflection;
using System.Runtime.InteropServices;

namespace Kvasir.Scripting;

/// <summary>
/// The part of the Lua 5.1 C API the script engine uses, bound to the system's Lua 5.1.5
/// (Debian's liblua5.1-0), the interpreter Valkey embeds.
/// </summary>
/// <remarks>
/// Lua reports errors with longjmp, which must never cross a managed frame. So managed callbacks
/// never call lua_error (or any API that may raise): they return a status to a Lua wrapper that
/// raises. A killed script is stopped by making <c>lua_error</c> itself the count hook, so the
/// error starts in native code (see <see cref="LuaEngine"/>).
/// </remarks>
internal static unsafe partial class LuaNative
{
    private const string Lib = "lua5.1";

    /// <summary>What to install when the library is missing (the message names it).</summary>
    public const string MissingLibraryHelp =
        "Lua 5.1 is needed for EVAL and FUNCTION: install Debian's liblua5.1-0 (apt-get install liblua5.1-0 lua-cjson)";

    public const int RegistryIndex = -10000;
    public const int EnvironIndex = -10001;
    public const int GlobalsIndex = -10002;
    public const int MultRet = -1;

    public const int TNil = 0, TBoolean = 1, TLightUserData = 2, TNumber = 3, TString = 4, TTable = 5, TFunction = 6;

    public const int Ok = 0, Yield = 1, ErrRun = 2, ErrSyntax = 3, ErrMem = 4, ErrErr = 5;

    public const int MaskCall = 1, MaskRet = 2, MaskLine = 4, MaskCount = 8;

    public const int GcCollect = 2, GcCount = 3, GcCountB = 4, GcStep = 5;

    // lua_Debug of 5.1 on 64-bit: event, name, namewhat, what, source, currentline, ...
    public const int DebugSourceOffset = 32, DebugCurrentLineOffset = 40, DebugSize = 256;

    private static nint s_handle;
    private static string? s_loadError;

    static LuaNative() => NativeLibrary.SetDllImportResolver(typeof(LuaNative).Assembly, Resolve);

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name == Lib ? Handle() : 0;

    /// <summary>
    /// Loads liblua5.1 once, with RTLD_GLOBAL: lua-cjson's module resolves the Lua API from the
    /// process's global symbols, as it does under the lua5.1 interpreter.
    /// </summary>
    public static nint Handle()
    {
        if (s_handle != 0) return s_handle;
        lock (typeof(LuaNative))
        {
            if (s_handle != 0) return s_handle;
            if (s_loadError is not null) throw new DllNotFoundException(s_loadError);
            foreach (var file in Candidates("liblua5.1.so.0", "liblua5.1.so", "liblua5.1.dylib"))
            {
                nint h = OpenGlobal(file);
                if (h != 0) return s_handle = h;
            }
            s_loadError = MissingLibraryHelp;
            throw new DllNotFoundException(s_loadError);
        }
    }

    /// <summary>True when Lua 5.1 can be loaded (the server checks this at start).</summary>
    public static bool TryLoad(out string? error)
    {
        try
        {
            Handle();
            error = null;
            return true;
        }
        catch (DllNotFoundException e)
        {
            error = e.Message;
            return false;
        }
    }

    /// <summary>Our own directory first (a published Kvasir carries its copy), then the system's search path.</summary>
    private static IEnumerable<string> Candidates(params string[] names)
    {
        string here = AppContext.BaseDirectory;
        foreach (var n in names) yield return Path.Combine(here, n);
        foreach (var n in names) yield return n;
    }

    private static nint OpenGlobal(string file)
    {
        if (OperatingSystem.IsWindows()) return NativeLibrary.TryLoad(file, out var w) ? w : 0;
        if (file.Contains('/') && !File.Exists(file)) return 0;
        const int RtldNow = 2, RtldGlobal = 0x100;
        try
        {
            return dlopen(file, RtldNow | RtldGlobal);
        }
        catch (EntryPointNotFoundException)
        {
            return NativeLibrary.TryLoad(file, out var h) ? h : 0;
        }
        catch (DllNotFoundException)
        {
            return NativeLibrary.TryLoad(file, out var h) ? h : 0;
        }
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint dlopen(string file, int mode);

    /// <summary>A C module's open function (luaopen_x) from a library of the system, or 0 when it is not installed.</summary>
    public static nint OpenModule(string symbol, params string[] files)
    {
        Handle();
        foreach (var file in Candidates(files))
        {
            nint h = OpenGlobal(file);
            if (h != 0 && NativeLibrary.TryGetExport(h, symbol, out var fn)) return fn;
        }
        return 0;
    }

    /// <summary>The address of lua_error, installed as the count hook to raise from native code.</summary>
    public static nint ErrorFunction => s_error != 0 ? s_error : s_error = NativeLibrary.GetExport(Handle(), "lua_error");

    private static nint s_error;

    [LibraryImport(Lib)] public static partial nint luaL_newstate();
    [LibraryImport(Lib)] public static partial void lua_close(nint L);
    [LibraryImport(Lib)] public static partial int luaL_loadbuffer(nint L, byte* buff, nuint size, byte* name);
    [LibraryImport(Lib)] public static partial int lua_pcall(nint L, int nargs, int nresults, int errfunc);
    [LibraryImport(Lib)] public static partial int lua_cpcall(nint L, nint func, nint ud);
    [LibraryImport(Lib)] public static partial int lua_sethook(nint L, nint f, int mask, int count);
    [LibraryImport(Lib)] public static partial int lua_gc(nint L, int what, int arg);
    [LibraryImport(Lib)] public static partial int lua_getstack(nint L, int level, byte* ar);
    [LibraryImport(Lib)] public static partial int lua_getinfo(nint L, byte* what, byte* ar);
    [LibraryImport(Lib)] public static partial int lua_setfenv(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_getfenv(nint L, int idx);

    [LibraryImport(Lib)] public static partial int lua_gettop(nint L);
    [LibraryImport(Lib)] public static partial void lua_settop(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_pushvalue(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_remove(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_insert(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_replace(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_checkstack(nint L, int n);

    [LibraryImport(Lib)] public static partial int lua_type(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_isstring(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_isnumber(nint L, int idx);
    [LibraryImport(Lib)] public static partial nint lua_tothread(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_status(nint L);
    [LibraryImport(Lib)] public static partial void lua_xmove(nint from, nint to, int n);
    [LibraryImport(Lib)] public static partial nint lua_newthread(nint L);
    [LibraryImport(Lib)] public static partial byte* lua_getupvalue(nint L, int funcindex, int n);
    [LibraryImport(Lib)] public static partial byte* lua_setupvalue(nint L, int funcindex, int n);
    [LibraryImport(Lib)] public static partial int lua_iscfunction(nint L, int idx);
    [LibraryImport(Lib)] public static partial double lua_tonumber(nint L, int idx);
    [LibraryImport(Lib)] public static partial nint lua_tointeger(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_toboolean(nint L, int idx);
    [LibraryImport(Lib)] public static partial byte* lua_tolstring(nint L, int idx, nuint* len);
    [LibraryImport(Lib)] public static partial nuint lua_objlen(nint L, int idx);

    [LibraryImport(Lib)] public static partial void lua_pushnil(nint L);
    [LibraryImport(Lib)] public static partial void lua_pushnumber(nint L, double n);
    [LibraryImport(Lib)] public static partial void lua_pushinteger(nint L, nint n);
    [LibraryImport(Lib)] public static partial void lua_pushlstring(nint L, byte* s, nuint len);
    [LibraryImport(Lib)] public static partial void lua_pushcclosure(nint L, nint fn, int n);
    [LibraryImport(Lib)] public static partial void lua_pushboolean(nint L, int b);
    [LibraryImport(Lib)] public static partial void lua_pushlightuserdata(nint L, nint p);

    [LibraryImport(Lib)] public static partial void lua_rawget(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_rawgeti(nint L, int idx, int n);
    [LibraryImport(Lib)] public static partial void lua_createtable(nint L, int narr, int nrec);
    [LibraryImport(Lib)] public static partial void lua_rawset(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_rawseti(nint L, int idx, int n);
    [LibraryImport(Lib)] public static partial int lua_next(nint L, int idx);
    [LibraryImport(Lib)] public static partial void luaL_where(nint L, int level);
    [LibraryImport(Lib)] public static partial void lua_concat(nint L, int n);
    [LibraryImport(Lib)] public static partial int luaL_ref(nint L, int t);
    [LibraryImport(Lib)] public static partial void luaL_unref(nint L, int t, int r);

    // ----- macros of lua.h -----

    public static void Pop(nint L, int n) => lua_settop(L, -n - 1);

    public static void NewTable(nint L) => lua_createtable(L, 0, 0);

    public static void Remove(nint L, int idx) => lua_remove(L, idx);

    public static void Insert(nint L, int idx) => lua_insert(L, idx);

    public static void PushFunction(nint L, delegate* unmanaged<nint, int> fn) => lua_pushcclosure(L, (nint)fn, 0);

    public static int RawGetI(nint L, int idx, int n)
    {
        lua_rawgeti(L, idx, n);
        return lua_type(L, -1);
    }

    public static void PushBytes(nint L, ReadOnlySpan<byte> s)
    {
        fixed (byte* p = s) lua_pushlstring(L, p == null ? (byte*)1 : p, (nuint)s.Length);
    }

    public static void PushAscii(nint L, string s)
    {
        Span<byte> buf = s.Length <= 256 ? stackalloc byte[s.Length * 3] : new byte[s.Length * 3];
        int n = System.Text.Encoding.UTF8.GetBytes(s, buf);
        PushBytes(L, buf[..n]);
    }

    /// <summary>The string (or number, converted in place) at <paramref name="idx"/>; empty when neither.</summary>
    public static ReadOnlySpan<byte> ToBytes(nint L, int idx)
    {
        nuint len;
        byte* p = lua_tolstring(L, idx, &len);
        return p == null ? default : new ReadOnlySpan<byte>(p, (int)len);
    }

    public static string ToManagedString(nint L, int idx) => System.Text.Encoding.UTF8.GetString(ToBytes(L, idx));

    private static int Absolute(nint L, int idx) => idx < 0 && idx > RegistryIndex ? lua_gettop(L) + idx + 1 : idx;

    /// <summary>Raw t[key] for a string key, pushed on the stack; returns its type.</summary>
    public static int RawGetField(nint L, int idx, ReadOnlySpan<byte> key)
    {
        int abs = Absolute(L, idx);
        PushBytes(L, key);
        lua_rawget(L, abs);
        return lua_type(L, -1);
    }

    /// <summary>Raw t[key] = value on top (popped).</summary>
    public static void RawSetField(nint L, int idx, ReadOnlySpan<byte> key)
    {
        int abs = Absolute(L, idx);
        PushBytes(L, key);
        Insert(L, -2);
        lua_rawset(L, abs);
    }

    public static int Load(nint L, ReadOnlySpan<byte> code, string chunkName)
    {
        Span<byte> name = stackalloc byte[chunkName.Length + 1];
        System.Text.Encoding.ASCII.GetBytes(chunkName, name);
        name[^1] = 0;
        fixed (byte* c = code)
        fixed (byte* n = name)
            return luaL_loadbuffer(L, c == null ? (byte*)1 : c, (nuint)code.Length, n);
    }

    public static int PCall(nint L, int nargs, int nresults, int msgh) => lua_pcall(L, nargs, nresults, msgh);

    /// <summary>Calls a C open function (luaopen_x) protected, as Lua 5.1 wants; leaves its result on the stack.</summary>
    public static int OpenLibrary(nint L, nint open, string name)
    {
        lua_pushcclosure(L, open, 0);
        PushAscii(L, name);
        return lua_pcall(L, 1, 1, 0);
    }
}
