namespace Kvasir.Types;

/// <summary>
/// A string value that is edited in place (APPEND, SETRANGE, SETBIT, BITFIELD): a buffer with
/// spare capacity so repeated appends are amortised O(1), like Valkey's raw sds strings. Plain SET
/// values stay inline in the key's blob instead (see <see cref="Keyspace.KeyBlob"/>).
/// </summary>
public sealed class RawString : IDataValue
{
    private byte[] _buffer;

    public RawString(ReadOnlySpan<byte> value, int extraCapacity = 0)
    {
        _buffer = new byte[value.Length + extraCapacity];
        value.CopyTo(_buffer);
        Length = value.Length;
    }

    public int Length { get; private set; }

    public DataType Type => DataType.String;
    public ValueEncoding Encoding => ValueEncoding.Raw;
    public long MemoryUsage => 24 + 16 + _buffer.Length;

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    /// <summary>Writable view of the current content.</summary>
    public Span<byte> WritableSpan => _buffer.AsSpan(0, Length);

    public void Append(ReadOnlySpan<byte> data)
    {
        EnsureLength(Length + data.Length);
        data.CopyTo(_buffer.AsSpan(Length - data.Length));
    }

    /// <summary>Sets the length: shorter truncates (clearing the dropped bytes so a later growth still zero-pads), longer zero-pads.</summary>
    public void SetLength(int length)
    {
        if (length >= Length)
        {
            EnsureLength(length);
            return;
        }
        _buffer.AsSpan(length, Length - length).Clear();
        Length = length;
    }

    /// <summary>Grows the string to <paramref name="length"/> bytes, zero-padding (SETRANGE/SETBIT semantics).</summary>
    public void EnsureLength(long length)
    {
        if (length <= Length) return;
        if (length > _buffer.Length)
        {
            // Double while small, then grow by 1 MB steps, like sds.
            long capacity = length < 1024 * 1024 ? length * 2 : length + 1024 * 1024;
            capacity = Math.Min(capacity, Array.MaxLength);
            Array.Resize(ref _buffer, (int)capacity);
        }
        Length = (int)length;
    }
}
