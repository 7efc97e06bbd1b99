namespace Kvasir.Types;

/// <summary>Sizes of RDB encodings, for DEBUG OBJECT's serializedlength (LZF compression not counted).</summary>
internal static class SerializedSize
{
    /// <summary>An RDB length prefix.</summary>
    public static long Length(long n) => n < 64 ? 1 : n < 16384 ? 2 : n <= uint.MaxValue ? 5 : 9;

    /// <summary>A string as rdbSaveRawString writes it: small integers in 2, 3 or 5 bytes, else prefix + bytes.</summary>
    public static long String(ReadOnlySpan<byte> s)
    {
        if (s.Length <= 11 && NumberParser.TryParseLong(s, out long v))
        {
            if (v >= sbyte.MinValue && v <= sbyte.MaxValue) return 2;
            if (v >= short.MinValue && v <= short.MaxValue) return 3;
            if (v >= int.MinValue && v <= int.MaxValue) return 5;
        }
        return Length(s.Length) + s.Length;
    }

    /// <summary>A blob (a listpack or an intset) saved as one string.</summary>
    public static long Blob(long bytes) => Length(bytes) + bytes;
}
