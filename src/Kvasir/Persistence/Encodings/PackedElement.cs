using Kvasir.Types;

namespace Kvasir.Persistence.Encodings;

/// <summary>
/// One element of a compact encoding as stored: either a byte string (a slice of the blob) or an
/// integer the encoding kept in binary. Integers are only turned into text when a consumer needs it.
/// </summary>
public readonly ref struct PackedElement
{
    public readonly ReadOnlySpan<byte> Bytes;
    public readonly long Integer;
    public readonly bool IsInteger;

    public PackedElement(ReadOnlySpan<byte> bytes)
    {
        Bytes = bytes;
        Integer = 0;
        IsInteger = false;
    }

    public PackedElement(long integer)
    {
        Bytes = default;
        Integer = integer;
        IsInteger = true;
    }

    /// <summary>The element as text; integers are formatted into <paramref name="scratch"/> (24 bytes suffice).</summary>
    public ReadOnlySpan<byte> AsSpan(Span<byte> scratch)
    {
        if (!IsInteger) return Bytes;
        int n = NumberFormat.FormatLong(Integer, scratch);
        return scratch.Slice(0, n);
    }

    public byte[] ToArray() => IsInteger ? NumberFormat.LongToBytes(Integer) : Bytes.ToArray();
}
