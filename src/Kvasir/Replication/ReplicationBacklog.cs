namespace Kvasir.Replication;

/// <summary>
/// Valkey's replication backlog: the last <c>repl-backlog-size</c> bytes of the replication stream,
/// so a replica whose link dropped can continue (PSYNC +CONTINUE) from the first byte it lacks
/// instead of loading a whole new image. Offsets are those of the stream: byte N of the stream has
/// offset N (the first byte ever fed is offset 1), <see cref="EndOffset"/> is master_repl_offset.
/// The ring grows by doubling up to its size as bytes arrive, so an idle primary does not hold the
/// whole configured size.
/// </summary>
public sealed class ReplicationBacklog
{
    private const int InitialCapacity = 16 * 1024;

    private byte[] _buffer;
    private int _start;       // index of the oldest byte kept, once the ring is full
    private long _size;

    /// <param name="size">repl-backlog-size.</param>
    /// <param name="endOffset">The stream offset the backlog starts after (master_repl_offset now).</param>
    public ReplicationBacklog(long size, long endOffset)
    {
        _size = Math.Max(size, 1);
        _buffer = new byte[(int)Math.Min(_size, InitialCapacity)];
        EndOffset = endOffset;
    }

    /// <summary>Offset of the last byte fed (master_repl_offset).</summary>
    public long EndOffset { get; private set; }

    /// <summary>Bytes kept (repl_backlog_histlen).</summary>
    public long HistoryLength { get; private set; }

    /// <summary>Offset of the oldest byte kept (repl_backlog_first_byte_offset): EndOffset + 1 when empty.</summary>
    public long FirstByteOffset => EndOffset - HistoryLength + 1;

    /// <summary>Bytes of memory the ring holds now (mem_replication_backlog).</summary>
    public long AllocatedBytes => _buffer.Length;

    /// <summary>True when a replica asking for <paramref name="offset"/> (its first missing byte) can continue from here.</summary>
    public bool Covers(long offset) => offset >= FirstByteOffset && offset <= EndOffset + 1;

    public void Append(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        EndOffset += data.Length;
        if (data.Length >= _size)
        {
            // Only the tail fits: the ring becomes exactly that.
            var tail = data[^(int)_size..];
            EnsureCapacity((int)_size);
            tail.CopyTo(_buffer);
            _start = 0;
            HistoryLength = _size;
            return;
        }
        long needed = HistoryLength + data.Length;
        if (needed > _buffer.Length && _buffer.Length < _size) EnsureCapacity((int)Math.Min(_size, Math.Max(needed, (long)_buffer.Length * 2)));
        int capacity = _buffer.Length;
        // Write position: right after the newest byte.
        int write = (int)((_start + HistoryLength) % capacity);
        int first = Math.Min(data.Length, capacity - write);
        data[..first].CopyTo(_buffer.AsSpan(write));
        data[first..].CopyTo(_buffer);
        long kept = HistoryLength + data.Length;
        if (kept > capacity)
        {
            // The oldest bytes were overwritten.
            _start = (int)((_start + (kept - capacity)) % capacity);
            HistoryLength = capacity;
        }
        else
        {
            HistoryLength = kept;
        }
    }

    /// <summary>Writes the kept bytes from stream offset <paramref name="from"/> to the end into <paramref name="sink"/>.</summary>
    public long CopyFrom(long from, Action<ReadOnlyMemory<byte>> sink)
    {
        if (!Covers(from)) throw new ArgumentOutOfRangeException(nameof(from));
        long skip = from - FirstByteOffset;
        long length = HistoryLength - skip;
        if (length == 0) return 0;
        int capacity = _buffer.Length;
        int begin = (int)((_start + skip) % capacity);
        int first = (int)Math.Min(length, capacity - begin);
        sink(_buffer.AsMemory(begin, first));
        if (length > first) sink(_buffer.AsMemory(0, (int)(length - first)));
        return length;
    }

    /// <summary>CONFIG SET repl-backlog-size: keeps the newest bytes that fit the new size.</summary>
    public void Resize(long size)
    {
        size = Math.Max(size, 1);
        if (size == _size) return;
        _size = size;
        long keep = Math.Min(HistoryLength, size);
        var fresh = new byte[(int)Math.Max(Math.Min(size, InitialCapacity), keep)];
        CopyTail(fresh, keep);
        _buffer = fresh;
        _start = 0;
        HistoryLength = keep;
    }

    /// <summary>
    /// Moves every offset by <paramref name="delta"/> (a primary restarted from an RDB with replication
    /// info continues the stream from the offset saved there, Valkey's rebaseReplicationBuffer).
    /// </summary>
    public void Rebase(long delta) => EndOffset += delta;

    private void EnsureCapacity(int capacity)
    {
        if (capacity <= _buffer.Length) return;
        var fresh = new byte[capacity];
        CopyTail(fresh, HistoryLength);
        _buffer = fresh;
        _start = 0;
    }

    /// <summary>Copies the newest <paramref name="count"/> bytes, oldest first, to the start of <paramref name="into"/>.</summary>
    private void CopyTail(byte[] into, long count)
    {
        int capacity = _buffer.Length;
        long skip = HistoryLength - count;
        int at = 0;
        for (long i = 0; i < count;)
        {
            int pos = (int)((_start + skip + i) % capacity);
            int n = (int)Math.Min(count - i, capacity - pos);
            Array.Copy(_buffer, pos, into, at, n);
            at += n;
            i += n;
        }
    }
}
