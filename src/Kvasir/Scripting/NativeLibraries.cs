using System.Buffers.Binary;
using System.Runtime.InteropServices;
using static Kvasir.Scripting.LuaNative;

namespace Kvasir.Scripting;

/// <summary>
/// Valkey's <c>bit</c> (LuaBitOp 1.0.2 with Valkey's tohex fix) and <c>struct</c> (Roberto
/// Ierusalimschy's struct) libraries, written against the Lua 5.1 stack. Debian's lua-bitop still
/// overruns its buffer in <c>bit.tohex(x, -2147483648)</c>, which Valkey fixed, so both are ours.
/// </summary>
/// <remarks>
/// A managed function must not raise a Lua error (see <see cref="LuaNative"/>): on bad input these
/// return nil and the message, and the sandbox's wrapper raises it at the caller's line.
/// </remarks>
internal static unsafe class NativeLibraries
{
    /// <summary>Pushes a table of the bit functions.</summary>
    public static void PushBit(nint L)
    {
        lua_createtable(L, 0, 12);
        Set(L, "tobit"u8, &BitToBit);
        Set(L, "bnot"u8, &BitNot);
        Set(L, "band"u8, &BitAnd);
        Set(L, "bor"u8, &BitOr);
        Set(L, "bxor"u8, &BitXor);
        Set(L, "lshift"u8, &BitLShift);
        Set(L, "rshift"u8, &BitRShift);
        Set(L, "arshift"u8, &BitARShift);
        Set(L, "rol"u8, &BitRol);
        Set(L, "ror"u8, &BitRor);
        Set(L, "bswap"u8, &BitSwap);
        Set(L, "tohex"u8, &BitToHex);
    }

    /// <summary>Pushes a table of the struct functions.</summary>
    public static void PushStruct(nint L)
    {
        lua_createtable(L, 0, 3);
        Set(L, "pack"u8, &StructPack);
        Set(L, "unpack"u8, &StructUnpack);
        Set(L, "size"u8, &StructSize);
    }

    /// <summary>
    /// True when these functions raise their errors themselves, as C functions (through
    /// <see cref="RaisingThunk"/>, x86-64); otherwise they answer nil and the message, and the
    /// sandbox raises it.
    /// </summary>
    public static readonly bool Raising = RaisingThunk.Create((nint)(delegate* unmanaged<nint, int>)&BitToBit) != 0;

    private static void Set(nint L, ReadOnlySpan<byte> name, delegate* unmanaged<nint, int> fn)
    {
        nint thunk = Raising ? RaisingThunk.Create((nint)fn) : 0;
        if (thunk != 0) lua_pushcclosure(L, thunk, 0);
        else PushFunction(L, fn);
        RawSetField(L, -2, name);
    }

    /// <summary>The error of a bad call: raised with the caller's position in front, as luaL_error does.</summary>
    private static int Fail(nint L, string message)
    {
        lua_settop(L, 0);
        if (Raising)
        {
            luaL_where(L, 1);
            PushAscii(L, message);
            lua_concat(L, 2);
            return -1;
        }
        lua_pushnil(L);
        PushAscii(L, message);
        return 2;
    }

    private static string TypeName(nint L, int idx) => lua_type(L, idx) switch
    {
        -1 => "no value",
        TNil => "nil",
        TBoolean => "boolean",
        TLightUserData => "userdata",
        TNumber => "number",
        TString => "string",
        TTable => "table",
        TFunction => "function",
        7 => "userdata",
        8 => "thread",
        _ => "?",
    };

    private static string ArgError(int arg, string function, string message) => $"bad argument #{arg} to '{function}' ({message})";

    private static string TypeError(nint L, int arg, string function, string expected) =>
        ArgError(arg, function, $"{expected} expected, got {TypeName(L, arg)}");

    // ----- bit -----

    /// <summary>LuaBitOp's conversion: the low 32 bits of n + 2^52 + 2^51 (round to nearest even, wrap).</summary>
    private static bool Arg(nint L, int idx, string function, out uint bits, out string? error)
    {
        double n = lua_tonumber(L, idx) + 6755399441055744.0;
        bits = (uint)BitConverter.DoubleToInt64Bits(n);
        error = null;
        if (bits == 0 && lua_isnumber(L, idx) == 0)
        {
            error = TypeError(L, idx, function, "number");
            return false;
        }
        return true;
    }

    private static int Result(nint L, uint b)
    {
        lua_settop(L, 0);
        lua_pushnumber(L, (int)b);
        return 1;
    }

    [UnmanagedCallersOnly]
    private static int BitToBit(nint L) => Arg(L, 1, "tobit", out uint b, out var e) ? Result(L, b) : Fail(L, e!);

    [UnmanagedCallersOnly]
    private static int BitNot(nint L) => Arg(L, 1, "bnot", out uint b, out var e) ? Result(L, ~b) : Fail(L, e!);

    private static int Fold(nint L, string name, int op)
    {
        if (!Arg(L, 1, name, out uint b, out var e)) return Fail(L, e!);
        for (int i = lua_gettop(L); i > 1; i--)
        {
            if (!Arg(L, i, name, out uint x, out e)) return Fail(L, e!);
            b = op switch { 0 => b & x, 1 => b | x, _ => b ^ x };
        }
        return Result(L, b);
    }

    [UnmanagedCallersOnly] private static int BitAnd(nint L) => Fold(L, "band", 0);
    [UnmanagedCallersOnly] private static int BitOr(nint L) => Fold(L, "bor", 1);
    [UnmanagedCallersOnly] private static int BitXor(nint L) => Fold(L, "bxor", 2);

    private static int Shift(nint L, string name, int op)
    {
        if (!Arg(L, 1, name, out uint b, out var e) || !Arg(L, 2, name, out uint n, out e)) return Fail(L, e!);
        int s = (int)(n & 31);
        uint r = op switch
        {
            0 => b << s,
            1 => b >> s,
            2 => (uint)((int)b >> s),
            3 => (b << s) | (b >> (32 - s)),
            _ => (b << (32 - s)) | (b >> s),
        };
        return Result(L, r);
    }

    [UnmanagedCallersOnly] private static int BitLShift(nint L) => Shift(L, "lshift", 0);
    [UnmanagedCallersOnly] private static int BitRShift(nint L) => Shift(L, "rshift", 1);
    [UnmanagedCallersOnly] private static int BitARShift(nint L) => Shift(L, "arshift", 2);
    [UnmanagedCallersOnly] private static int BitRol(nint L) => Shift(L, "rol", 3);
    [UnmanagedCallersOnly] private static int BitRor(nint L) => Shift(L, "ror", 4);

    [UnmanagedCallersOnly]
    private static int BitSwap(nint L) =>
        Arg(L, 1, "bswap", out uint b, out var e) ? Result(L, BinaryPrimitives.ReverseEndianness(b)) : Fail(L, e!);

    [UnmanagedCallersOnly]
    private static int BitToHex(nint L)
    {
        if (!Arg(L, 1, "tohex", out uint b, out var e)) return Fail(L, e!);
        int n = 8;
        if (lua_type(L, 2) != -1)
        {
            if (!Arg(L, 2, "tohex", out uint bn, out e)) return Fail(L, e!);
            n = (int)bn;
        }
        string digits = "0123456789abcdef";
        if (n == int.MinValue) n = int.MinValue + 1;
        if (n < 0)
        {
            n = -n;
            digits = "0123456789ABCDEF";
        }
        if (n > 8) n = 8;
        Span<byte> buf = stackalloc byte[8];
        for (int i = n; --i >= 0;)
        {
            buf[i] = (byte)digits[(int)(b & 15)];
            b >>= 4;
        }
        lua_settop(L, 0);
        PushBytes(L, buf[..n]);
        return 1;
    }

    // ----- struct -----

    private const int MaxIntSize = 32;

    private struct Header
    {
        public bool Big;
        public int Align;
    }

    private sealed class StructError(string message) : Exception(message);

    private static int GetNum(ReadOnlySpan<byte> fmt, ref int i, int df)
    {
        if (i >= fmt.Length || !char.IsAsciiDigit((char)fmt[i])) return df;
        int a = 0;
        do
        {
            int d = fmt[i] - '0';
            if (a > int.MaxValue / 10 || a * 10 > int.MaxValue - d) throw new StructError("integral size overflow");
            a = a * 10 + d;
            i++;
        } while (i < fmt.Length && char.IsAsciiDigit((char)fmt[i]));
        return a;
    }

    private static int OptSize(byte opt, ReadOnlySpan<byte> fmt, ref int i)
    {
        switch ((char)opt)
        {
            case 'B': case 'b': case 'x': return 1;
            case 'H': case 'h': return 2;
            case 'L': case 'l': case 'T': case 'd': return 8;
            case 'f': return 4;
            case 'c': return GetNum(fmt, ref i, 1);
            case 'i': case 'I':
                int sz = GetNum(fmt, ref i, 4);
                if (sz > MaxIntSize) throw new StructError($"integral size {sz} is larger than limit of {MaxIntSize}");
                return sz;
            default: return 0;
        }
    }

    private static int ToAlign(long len, in Header h, byte opt, int size)
    {
        if (size <= 1 || opt == 'c') return 0;
        if (size > h.Align) size = h.Align;
        return (int)((size - (len & (size - 1))) & (size - 1));
    }

    private static void ControlOptions(byte opt, ReadOnlySpan<byte> fmt, ref int i, ref Header h, string function)
    {
        switch ((char)opt)
        {
            case ' ': return;
            case '>': h.Big = true; return;
            case '<': h.Big = false; return;
            case '!':
                int a = GetNum(fmt, ref i, 8);
                if (a == 0 || (a & (a - 1)) != 0) throw new StructError($"alignment {a} is not a power of 2");
                h.Align = a;
                return;
            default:
                throw new StructError(ArgError(1, function, $"invalid format option '{(char)opt}'"));
        }
    }

    private static bool CheckFormat(nint L, string function, out byte[] fmt, out string? error)
    {
        error = null;
        fmt = Array.Empty<byte>();
        int t = lua_type(L, 1);
        if (t != TString && t != TNumber)
        {
            error = TypeError(L, 1, function, "string");
            return false;
        }
        var s = ToBytes(L, 1);
        int nul = s.IndexOf((byte)0);
        fmt = (nul >= 0 ? s[..nul] : s).ToArray();
        return true;
    }

    [UnmanagedCallersOnly]
    private static int StructPack(nint L)
    {
        try
        {
            if (!CheckFormat(L, "pack", out var fmt, out var err)) return Fail(L, err!);
            var h = new Header { Big = false, Align = 1 };
            int arg = 2;
            long total = 0;
            var output = new List<byte>(64);
            Span<byte> buf = stackalloc byte[MaxIntSize];
            int i = 0;
            while (i < fmt.Length)
            {
                byte opt = fmt[i++];
                int size = OptSize(opt, fmt, ref i);
                int toAlign = ToAlign(total, h, opt, size);
                total += toAlign;
                while (toAlign-- > 0) output.Add(0);
                switch ((char)opt)
                {
                    case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I':
                    {
                        if (!CheckNumber(L, arg, "pack", out double n, out err)) return Fail(L, err!);
                        arg++;
                        ulong value = n < 0 ? (ulong)(long)n : (ulong)n;
                        buf[..size].Clear();
                        if (!h.Big)
                            for (int k = 0; k < size; k++) { buf[k] = (byte)value; value = k < 7 ? value >> 8 : 0; }
                        else
                            for (int k = size - 1; k >= 0; k--) { buf[k] = (byte)value; value = size - 1 - k < 7 ? value >> 8 : 0; }
                        foreach (var x in buf[..size]) output.Add(x);
                        break;
                    }
                    case 'x':
                        output.Add(0);
                        break;
                    case 'f':
                    {
                        if (!CheckNumber(L, arg, "pack", out double n, out err)) return Fail(L, err!);
                        arg++;
                        if (h.Big) BinaryPrimitives.WriteSingleBigEndian(buf, (float)n);
                        else BinaryPrimitives.WriteSingleLittleEndian(buf, (float)n);
                        foreach (var x in buf[..4]) output.Add(x);
                        break;
                    }
                    case 'd':
                    {
                        if (!CheckNumber(L, arg, "pack", out double n, out err)) return Fail(L, err!);
                        arg++;
                        if (h.Big) BinaryPrimitives.WriteDoubleBigEndian(buf, n);
                        else BinaryPrimitives.WriteDoubleLittleEndian(buf, n);
                        foreach (var x in buf[..8]) output.Add(x);
                        break;
                    }
                    case 'c': case 's':
                    {
                        int t = lua_type(L, arg);
                        if (t != TString && t != TNumber) return Fail(L, TypeError(L, arg, "pack", "string"));
                        var s = ToBytes(L, arg);
                        arg++;
                        if (size == 0) size = s.Length;
                        if (s.Length < size) return Fail(L, ArgError(arg, "pack", "string too short"));
                        foreach (var x in s[..size]) output.Add(x);
                        if (opt == 's')
                        {
                            output.Add(0);
                            size++;
                        }
                        break;
                    }
                    default:
                        ControlOptions(opt, fmt, ref i, ref h, "pack");
                        break;
                }
                total += size;
            }
            lua_settop(L, 0);
            PushBytes(L, CollectionsMarshal.AsSpan(output));
            return 1;
        }
        catch (Exception e)
        {
            return Fail(L, e.Message);
        }
    }

    private static bool CheckNumber(nint L, int arg, string function, out double n, out string? error)
    {
        error = null;
        n = lua_tonumber(L, arg);
        if (n == 0 && lua_isnumber(L, arg) == 0)
        {
            error = TypeError(L, arg, function, "number");
            return false;
        }
        return true;
    }

    [UnmanagedCallersOnly]
    private static int StructUnpack(nint L)
    {
        try
        {
            if (!CheckFormat(L, "unpack", out var fmt, out var err)) return Fail(L, err!);
            int dt = lua_type(L, 2);
            if (dt != TString && dt != TNumber) return Fail(L, TypeError(L, 2, "unpack", "string"));
            // The string stays on the stack (below the results) for the whole call: no copy.
            var whole = ToBytes(L, 2);
            fixed (byte* start = whole)
            {
            var data = new Span<byte>(start, whole.Length);
            long pos = 1;
            int pt = lua_type(L, 3);
            if (pt != -1 && pt != TNil)
            {
                if (!CheckNumber(L, 3, "unpack", out double p, out err)) return Fail(L, err!);
                pos = (long)p;
            }
            if (pos <= 0) return Fail(L, ArgError(3, "unpack", "offset must be 1 or greater"));
            pos--;
            long ld = data.Length;
            var h = new Header { Big = false, Align = 1 };
            lua_settop(L, 3);
            int n = 0;
            int i = 0;
            while (i < fmt.Length)
            {
                byte opt = fmt[i++];
                long size = OptSize(opt, fmt, ref i);
                pos += ToAlign(pos, h, opt, (int)size);
                if (!(size <= ld && pos <= ld - size)) return Fail(L, ArgError(2, "unpack", "data string too short"));
                if (lua_checkstack(L, 2) == 0) return Fail(L, "stack overflow (too many results)");
                switch ((char)opt)
                {
                    case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I':
                    {
                        ulong l = 0;
                        if (h.Big) for (int k = 0; k < size; k++) l = (l << 8) | data[(int)(pos + k)];
                        else for (long k = size - 1; k >= 0; k--) l = (l << 8) | data[(int)(pos + k)];
                        double res;
                        if (char.IsAsciiLetterLower((char)opt))
                        {
                            ulong mask = size * 8 - 1 >= 64 ? 0 : ~0UL << (int)(size * 8 - 1);
                            if ((l & mask) != 0) l |= mask;
                            res = (long)l;
                        }
                        else res = l;
                        lua_pushnumber(L, res);
                        n++;
                        break;
                    }
                    case 'x':
                        break;
                    case 'f':
                        lua_pushnumber(L, h.Big ? BinaryPrimitives.ReadSingleBigEndian(data[(int)pos..]) : BinaryPrimitives.ReadSingleLittleEndian(data[(int)pos..]));
                        n++;
                        break;
                    case 'd':
                        lua_pushnumber(L, h.Big ? BinaryPrimitives.ReadDoubleBigEndian(data[(int)pos..]) : BinaryPrimitives.ReadDoubleLittleEndian(data[(int)pos..]));
                        n++;
                        break;
                    case 'c':
                        if (size == 0)
                        {
                            if (n == 0 || lua_type(L, -1) != TNumber) return Fail(L, "format 'c0' needs a previous size");
                            size = (long)lua_tonumber(L, -1);
                            Pop(L, 1);
                            n--;
                            if (!(size <= ld && pos <= ld - size)) return Fail(L, ArgError(2, "unpack", "data string too short"));
                        }
                        PushBytes(L, data.Slice((int)pos, (int)size));
                        n++;
                        break;
                    case 's':
                    {
                        int e = data[(int)pos..].IndexOf((byte)0);
                        if (e < 0) return Fail(L, "unfinished string in data");
                        size = e + 1;
                        PushBytes(L, data.Slice((int)pos, (int)size - 1));
                        n++;
                        break;
                    }
                    default:
                        ControlOptions(opt, fmt, ref i, ref h, "unpack");
                        break;
                }
                pos += size;
            }
            lua_pushnumber(L, pos + 1);
            return n + 1;
            }
        }
        catch (Exception e)
        {
            return Fail(L, e.Message);
        }
    }

    [UnmanagedCallersOnly]
    private static int StructSize(nint L)
    {
        try
        {
            if (!CheckFormat(L, "size", out var fmt, out var err)) return Fail(L, err!);
            var h = new Header { Big = false, Align = 1 };
            long pos = 0;
            int i = 0;
            while (i < fmt.Length)
            {
                byte opt = fmt[i++];
                int size = OptSize(opt, fmt, ref i);
                pos += ToAlign(pos, h, opt, size);
                if (opt == 's') return Fail(L, ArgError(1, "size", "option 's' has no fixed size"));
                if (opt == 'c' && size == 0) return Fail(L, ArgError(1, "size", "option 'c0' has no fixed size"));
                if (!char.IsAsciiLetterOrDigit((char)opt)) ControlOptions(opt, fmt, ref i, ref h, "size");
                pos += size;
            }
            lua_settop(L, 0);
            lua_pushnumber(L, pos);
            return 1;
        }
        catch (Exception e)
        {
            return Fail(L, e.Message);
        }
    }
}
