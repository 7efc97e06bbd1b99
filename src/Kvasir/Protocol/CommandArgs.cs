namespace Kvasir.Protocol;

/// <summary>
/// The arguments of one parsed command, as slices of the connection's receive buffer.
/// Nothing is copied: a slice is valid until the connection reads more input, which is why
/// handlers must copy any argument they keep (keys and values stored in the keyspace).
/// One instance per connection is reused for every command.
/// </summary>
public sealed class CommandArgs
{
    private byte[] _buffer = Array.Empty<byte>();
    private int[] _offsets = new int[16];
    private int[] _lengths = new int[16];

    public int Count { get; private set; }

    /// <summary>
    /// The bytes the command took in its connection's input, inline or multibulk (CLUSTER SLOT-STATS
    /// network-bytes-in); 0 for commands that did not come from a connection.
    /// </summary>
    public int WireLength { get; internal set; }

    public ReadOnlySpan<byte> this[int index] => _buffer.AsSpan(_offsets[index], _lengths[index]);

    /// <summary>The argument as a memory slice (for code that must hold it across an await).</summary>
    public ReadOnlyMemory<byte> Memory(int index) => _buffer.AsMemory(_offsets[index], _lengths[index]);

    public byte[] ToArray(int index) => this[index].ToArray();

    public string ToString(int index) => System.Text.Encoding.UTF8.GetString(this[index]);

    internal void Reset(byte[] buffer)
    {
        _buffer = buffer;
        Count = 0;
        WireLength = 0;
    }

    /// <summary>The receive buffer was compacted or replaced; the bytes moved left by <paramref name="delta"/>.</summary>
    internal void Rebase(byte[] buffer, int delta)
    {
        _buffer = buffer;
        for (int i = 0; i < Count; i++) _offsets[i] -= delta;
    }

    internal void AddAbsolute(int offset, int length) => Add(offset, length);

    internal void Add(int offset, int length)
    {
        if (Count == _offsets.Length)
        {
            Array.Resize(ref _offsets, Count * 2);
            Array.Resize(ref _lengths, Count * 2);
        }
        _offsets[Count] = offset;
        _lengths[Count] = length;
        Count++;
    }

    /// <summary>Replaces the arguments with owned copies (used when a command must outlive its buffer,
    /// e.g. queued inside MULTI or rewritten by a handler).</summary>
    public void SetOwned(IReadOnlyList<byte[]> values)
    {
        int total = 0;
        foreach (var v in values) total += v.Length;
        var buf = new byte[total];
        _buffer = buf;
        Count = 0;
        int pos = 0;
        foreach (var v in values)
        {
            v.CopyTo(buf, pos);
            Add(pos, v.Length);
            pos += v.Length;
        }
    }

    public byte[][] ToArrays()
    {
        var result = new byte[Count][];
        for (int i = 0; i < Count; i++) result[i] = ToArray(i);
        return result;
    }

    /// <summary>Case-insensitive ASCII comparison of an argument with a keyword given in upper case.</summary>
    public bool Is(int index, ReadOnlySpan<byte> upperKeyword) => Ascii.EqualsIgnoreCase(this[index], upperKeyword);
}
