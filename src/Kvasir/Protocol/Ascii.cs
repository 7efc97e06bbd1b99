namespace Kvasir.Protocol;

/// <summary>Small ASCII helpers used on the hot path (no string allocations).</summary>
public static class Ascii
{
    public static bool EqualsIgnoreCase(ReadOnlySpan<byte> value, ReadOnlySpan<byte> upper)
    {
        if (value.Length != upper.Length) return false;
        for (int i = 0; i < value.Length; i++)
        {
            int c = value[i];
            if ((uint)(c - 'a') <= 'z' - 'a') c -= 32;
            if (c != upper[i]) return false;
        }
        return true;
    }

    public static byte ToLower(byte c) => (uint)(c - 'A') <= 'Z' - 'A' ? (byte)(c + 32) : c;

    /// <summary>Lower-cased ASCII copy as a string: for command names and config names only.</summary>
    public static string ToLowerString(ReadOnlySpan<byte> value)
    {
        Span<char> chars = value.Length <= 256 ? stackalloc char[value.Length] : new char[value.Length];
        for (int i = 0; i < value.Length; i++) chars[i] = (char)ToLower(value[i]);
        return new string(chars);
    }
}
