using System.Buffers.Binary;

namespace Kvasir.Scripting;

/// <summary>
/// Drops the debug information (source name, line numbers, local and upvalue names) from a Lua 5.1
/// binary chunk made by string.dump, as <c>luac -s</c> does: our own chunks (the sandbox, cmsgpack)
/// then cost about half the memory, which keeps an empty scripting state as small as Valkey's test
/// expects. Their frames then read as source "=?" to the error handler.
/// </summary>
internal static class BytecodeStripper
{
    private const int HeaderSize = 12;

    /// <summary>The stripped chunk, or null when the dump is not in the layout this reads (then it is loaded as is).</summary>
    public static byte[]? Strip(ReadOnlySpan<byte> dump)
    {
        // Header: ESC "Lua", version 0x51, format 0, little endian, sizeof int, size_t, Instruction, lua_Number, integral flag.
        if (dump.Length < HeaderSize || dump[0] != 27 || dump[4] != 0x51 || dump[6] != 1
            || dump[7] != 4 || dump[8] != 8 || dump[9] != 4 || dump[10] != 8 || dump[11] != 0)
            return null;
        var output = new List<byte>(dump.Length);
        foreach (var b in dump[..HeaderSize]) output.Add(b);
        int pos = HeaderSize;
        try
        {
            Function(dump, ref pos, output);
        }
        catch (ArgumentOutOfRangeException)
        {
            return null;
        }
        return pos == dump.Length ? output.ToArray() : null;
    }

    private static int Int(ReadOnlySpan<byte> d, ref int pos)
    {
        int v = BinaryPrimitives.ReadInt32LittleEndian(d.Slice(pos, 4));
        pos += 4;
        return v;
    }

    private static void Copy(ReadOnlySpan<byte> d, ref int pos, int length, List<byte> output)
    {
        foreach (var b in d.Slice(pos, length)) output.Add(b);
        pos += length;
    }

    private static void SkipString(ReadOnlySpan<byte> d, ref int pos)
    {
        long size = BinaryPrimitives.ReadInt64LittleEndian(d.Slice(pos, 8));
        pos += 8 + (int)size;
    }

    private static void CopyString(ReadOnlySpan<byte> d, ref int pos, List<byte> output)
    {
        long size = BinaryPrimitives.ReadInt64LittleEndian(d.Slice(pos, 8));
        Copy(d, ref pos, 8 + (int)size, output);
    }

    private static void WriteInt(List<byte> output, int value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, value);
        foreach (var x in b) output.Add(x);
    }

    private static void Function(ReadOnlySpan<byte> d, ref int pos, List<byte> output)
    {
        SkipString(d, ref pos);                 // source
        for (int i = 0; i < 8; i++) output.Add(0); // no source
        Copy(d, ref pos, 4 + 4 + 4, output);    // linedefined, lastlinedefined, nups numparams is_vararg maxstacksize
        int code = Int(d, ref pos);
        WriteInt(output, code);
        Copy(d, ref pos, code * 4, output);
        int constants = Int(d, ref pos);
        WriteInt(output, constants);
        for (int i = 0; i < constants; i++)
        {
            byte type = d[pos];
            output.Add(type);
            pos++;
            switch (type)
            {
                case 0: break;                                  // nil
                case 1: Copy(d, ref pos, 1, output); break;     // boolean
                case 3: Copy(d, ref pos, 8, output); break;     // number
                case 4: CopyString(d, ref pos, output); break;  // string
                default: throw new ArgumentOutOfRangeException(nameof(d));
            }
        }
        int protos = Int(d, ref pos);
        WriteInt(output, protos);
        for (int i = 0; i < protos; i++) Function(d, ref pos, output);
        int lines = Int(d, ref pos);
        pos += lines * 4;
        int locals = Int(d, ref pos);
        for (int i = 0; i < locals; i++)
        {
            SkipString(d, ref pos);
            pos += 8;
        }
        int upvalues = Int(d, ref pos);
        for (int i = 0; i < upvalues; i++) SkipString(d, ref pos);
        WriteInt(output, 0);
        WriteInt(output, 0);
        WriteInt(output, 0);
    }
}
