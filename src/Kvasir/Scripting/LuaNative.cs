using System.Runtime.InteropServices;

namespace Kvasir.Scripting;

/// <summary>
/// The part of the Lua 5.4 C API the script engine uses, bound straight to the liblua54 that the
/// KeraLua package ships (KeraLua's own wrapper allocates per callback; these calls do not).
/// </summary>
/// <remarks>
/// Lua reports errors with longjmp, which must never cross a managed frame. So managed callbacks
/// never call lua_error (or any API that may raise): they return a status to a Lua wrapper that
/// raises, and the kill of a running script is a yield from the count hook, not an error.
/// </remarks>
internal static unsafe partial class LuaNative
{
    private const string Lib = "lua54";

    public const int RegistryIndex = -1000000 - 1000;
    public const int MultRet = -1;

    public const int TNil = 0, TBoolean = 1, TLightUserData = 2, TNumber = 3, TString = 4, TTable = 5, TFunction = 6;

    public const int Ok = 0, Yield = 1, ErrRun = 2, ErrSyntax = 3, ErrMem = 4, ErrErr = 5;

    public const int MaskCall = 1, MaskRet = 2, MaskLine = 4, MaskCount = 8;

    public const int GcCollect = 2, GcCount = 3, GcCountB = 4, GcStep = 5;

    [LibraryImport(Lib)] public static partial nint luaL_newstate();
    [LibraryImport(Lib)] public static partial void luaL_openlibs(nint L);
    [LibraryImport(Lib)] public static partial void luaL_requiref(nint L, byte* modname, nint openf, int glb);

    /// <summary>Opens the standard libraries scripts may see (not io, package, utf8), as globals.</summary>
    public static void OpenLibraries(nint L)
    {
        var lib = NativeLibrary.Load(Lib, typeof(LuaNative).Assembly, null);
        foreach (var (name, open) in new[] { ("_G", "luaopen_base"), ("coroutine", "luaopen_coroutine"), ("table", "luaopen_table"),
                                            ("string", "luaopen_string"), ("math", "luaopen_math"), ("os", "luaopen_os"), ("debug", "luaopen_debug") })
        {
            var bytes = System.Text.Encoding.ASCII.GetBytes(name + "\0");
            fixed (byte* p = bytes) luaL_requiref(L, p, NativeLibrary.GetExport(lib, open), 1);
            Pop(L, 1);
        }
    }
    [LibraryImport(Lib)] public static partial void lua_close(nint L);
    [LibraryImport(Lib)] public static partial int luaL_loadbufferx(nint L, byte* buff, nuint size, byte* name, byte* mode);
    [LibraryImport(Lib)] public static partial int lua_pcallk(nint L, int nargs, int nresults, int msgh, nint ctx, nint k);
    [LibraryImport(Lib)] public static partial int lua_resume(nint L, nint from, int nargs, int* nresults);
    [LibraryImport(Lib)] public static partial int lua_yieldk(nint L, int nresults, nint ctx, nint k);
    [LibraryImport(Lib)] public static partial int lua_isyieldable(nint L);
    [LibraryImport(Lib)] public static partial nint lua_newthread(nint L);
    [LibraryImport(Lib)] public static partial int lua_closethread(nint L, nint from);
    [LibraryImport(Lib)] public static partial int lua_status(nint L);
    [LibraryImport(Lib)] public static partial void lua_sethook(nint L, delegate* unmanaged<nint, nint, void> f, int mask, int count);
    [LibraryImport(Lib)] public static partial int lua_gc(nint L, int what, int arg);
    [LibraryImport(Lib)] public static partial int lua_getstack(nint L, int level, byte* ar);
    [LibraryImport(Lib)] public static partial int lua_getinfo(nint L, byte* what, byte* ar);
    [LibraryImport(Lib)] public static partial byte* lua_setupvalue(nint L, int funcindex, int n);

    [LibraryImport(Lib)] public static partial int lua_gettop(nint L);
    [LibraryImport(Lib)] public static partial void lua_settop(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_pushvalue(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_rotate(nint L, int idx, int n);
    [LibraryImport(Lib)] public static partial void lua_copy(nint L, int from, int to);
    [LibraryImport(Lib)] public static partial int lua_checkstack(nint L, int n);
    [LibraryImport(Lib)] public static partial void lua_xmove(nint from, nint to, int n);

    [LibraryImport(Lib)] public static partial int lua_type(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_isinteger(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_isstring(nint L, int idx);
    [LibraryImport(Lib)] public static partial double lua_tonumberx(nint L, int idx, int* isnum);
    [LibraryImport(Lib)] public static partial long lua_tointegerx(nint L, int idx, int* isnum);
    [LibraryImport(Lib)] public static partial int lua_toboolean(nint L, int idx);
    [LibraryImport(Lib)] public static partial byte* lua_tolstring(nint L, int idx, nuint* len);
    [LibraryImport(Lib)] public static partial nint lua_touserdata(nint L, int idx);
    [LibraryImport(Lib)] public static partial nint lua_tothread(nint L, int idx);
    [LibraryImport(Lib)] public static partial byte* lua_getupvalue(nint L, int funcindex, int n);
    [LibraryImport(Lib)] public static partial ulong lua_rawlen(nint L, int idx);

    [LibraryImport(Lib)] public static partial void lua_pushnil(nint L);
    [LibraryImport(Lib)] public static partial void lua_pushnumber(nint L, double n);
    [LibraryImport(Lib)] public static partial void lua_pushinteger(nint L, long n);
    [LibraryImport(Lib)] public static partial byte* lua_pushlstring(nint L, byte* s, nuint len);
    [LibraryImport(Lib)] public static partial void lua_pushcclosure(nint L, delegate* unmanaged<nint, int> fn, int n);
    [LibraryImport(Lib)] public static partial void lua_pushboolean(nint L, int b);
    [LibraryImport(Lib)] public static partial void lua_pushlightuserdata(nint L, nint p);

    [LibraryImport(Lib)] public static partial int lua_rawget(nint L, int idx);
    [LibraryImport(Lib)] public static partial int lua_rawgeti(nint L, int idx, long n);
    [LibraryImport(Lib)] public static partial void lua_createtable(nint L, int narr, int nrec);
    [LibraryImport(Lib)] public static partial void lua_rawset(nint L, int idx);
    [LibraryImport(Lib)] public static partial void lua_rawseti(nint L, int idx, long n);
    [LibraryImport(Lib)] public static partial int lua_next(nint L, int idx);
    [LibraryImport(Lib)] public static partial int luaL_ref(nint L, int t);
    [LibraryImport(Lib)] public static partial void luaL_unref(nint L, int t, int r);

    // ----- macros of lua.h -----

    public static void Pop(nint L, int n) => lua_settop(L, -n - 1);

    public static void NewTable(nint L) => lua_createtable(L, 0, 0);

    public static void Remove(nint L, int idx)
    {
        lua_rotate(L, idx, -1);
        Pop(L, 1);
    }

    public static void Insert(nint L, int idx) => lua_rotate(L, idx, 1);

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

    /// <summary>Raw t[key] for a string key, pushed on the stack; returns its type.</summary>
    public static int RawGetField(nint L, int idx, ReadOnlySpan<byte> key)
    {
        int abs = idx < 0 && idx > RegistryIndex ? lua_gettop(L) + idx + 1 : idx;
        PushBytes(L, key);
        return lua_rawget(L, abs);
    }

    /// <summary>Raw t[key] = value on top (popped).</summary>
    public static void RawSetField(nint L, int idx, ReadOnlySpan<byte> key)
    {
        int abs = idx < 0 && idx > RegistryIndex ? lua_gettop(L) + idx + 1 : idx;
        PushBytes(L, key);
        Insert(L, -2);
        lua_rawset(L, abs);
    }

    public static int Load(nint L, ReadOnlySpan<byte> code, string chunkName)
    {
        Span<byte> name = stackalloc byte[chunkName.Length + 1];
        System.Text.Encoding.ASCII.GetBytes(chunkName, name);
        name[^1] = 0;
        ReadOnlySpan<byte> mode = "t\0"u8;
        fixed (byte* c = code)
        fixed (byte* n = name)
        fixed (byte* m = mode)
            return luaL_loadbufferx(L, c == null ? (byte*)1 : c, (nuint)code.Length, n, m);
    }

    public static int PCall(nint L, int nargs, int nresults, int msgh) => lua_pcallk(L, nargs, nresults, msgh, 0, 0);
}
