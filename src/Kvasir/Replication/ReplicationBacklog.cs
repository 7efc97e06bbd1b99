namespace Kvasir.Replication;

/// <summary>
/// Valkey's replication buffer: the replication stream held once, in a chain of blocks, for the
/// backlog and for every replica. The backlog is its oldest part: at least <c>repl-backlog-size</c>
/// bytes are kept so a replica whose link dropped can continue (PSYNC +CONTINUE) from the first byte
/// it lacks. Replicas read the same blocks through their <see cref="StreamCursor"/>: a slow replica
/// or one waiting for its image holds the blocks from its position on, so the backlog then grows
/// past its size (and a reconnecting replica may continue from that longer history), and shrinks
/// back once the replica catches up or is dropped. Nothing is copied per replica.
/// <para>
/// Offsets are those of the stream: byte N has offset N (the first byte ever fed is offset 1),
/// <see cref="EndOffset"/> is master_repl_offset. Blocks are appended under the data lock; the bytes
/// of a block below its published <see cref="Block.Used"/> never change and a block is never
/// reused, so connections send from them without the lock.
/// </para>
/// </summary>
public sealed class ReplicationBacklog
{
    /// <summary>Valkey's PROTO_REPLY_CHUNK_BYTES: the smallest block.</summary>
    public const int BlockSize = 16 * 1024;

    /// <summary>What a block costs beside its bytes (object headers, the chain), counted as Valkey counts its list node and header.</summary>
    private const int BlockOverhead = 64;

    internal sealed class Block(int capacity, long start)
    {
        public readonly byte[] Data = new byte[capacity];
        /// <summary>Stream offset of Data[0].</summary>
        public long Start = start;
        /// <summary>Bytes written; published after they are (readers outside the lock use Volatile.Read).</summary>
        public int Used;
        public Block? Next;
    }

    private Block _head, _tail;
    private long _size;
    private long _allocated;
    private readonly List<StreamCursor> _cursors = new();

    /// <param name="size">repl-backlog-size.</param>
    /// <param name="endOffset">The stream offset the backlog starts after (master_repl_offset now).</param>
    public ReplicationBacklog(long size, long endOffset)
    {
        _size = Math.Max(size, 1);
        EndOffset = endOffset;
        // An empty first block, so a cursor always has a block to wait on.
        _head = _tail = new Block(0, endOffset + 1);
    }

    /// <summary>Offset of the last byte fed (master_repl_offset).</summary>
    public long EndOffset { get; private set; }

    /// <summary>Offset of the oldest byte kept (repl_backlog_first_byte_offset): EndOffset + 1 when empty.</summary>
    public long FirstByteOffset => _head.Start;

    /// <summary>Bytes kept (repl_backlog_histlen): at least the configured size once that much was fed, more while replicas hold older blocks.</summary>
    public long HistoryLength => EndOffset - _head.Start + 1;

    /// <summary>Memory of every block (mem_total_replication_buffers: the backlog and the replicas' pending output together).</summary>
    public long AllocatedBytes => _allocated;

    /// <summary>The configured size (repl-backlog-size).</summary>
    public long Size => _size;

    /// <summary>True when a replica asking for <paramref name="offset"/> (its first missing byte) can continue from here.</summary>
    public bool Covers(long offset) => offset >= FirstByteOffset && offset <= EndOffset + 1;

    /// <summary>Appends to the stream (under the data lock), then lets go of blocks nobody needs.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0) return;
        var tail = _tail;
        int room = tail.Data.Length - tail.Used;
        int first = Math.Min(room, data.Length);
        if (first > 0)
        {
            data[..first].CopyTo(tail.Data.AsSpan(tail.Used));
            Volatile.Write(ref tail.Used, tail.Used + first);
        }
        var rest = data[first..];
        // Blocks of at least 16 KB (small writes fill them) and at most a sixteenth of the backlog
        // (Valkey's rule): a big write spans several, so the backlog can let go of most of it
        // instead of holding one huge block for its last bytes.
        int limit = (int)Math.Clamp(_size / 16, BlockSize, int.MaxValue / 2);
        while (rest.Length > 0)
        {
            var block = new Block(Math.Min(Math.Max(rest.Length, BlockSize), limit), tail.Start + tail.Used);
            int n = Math.Min(rest.Length, block.Data.Length);
            rest[..n].CopyTo(block.Data);
            block.Used = n;
            rest = rest[n..];
            _allocated += block.Data.Length + BlockOverhead;
            // Linked once complete: a reader that sees Next finds its bytes.
            Volatile.Write(ref tail.Next, block);
            _tail = tail = block;
        }
        EndOffset += data.Length;
        Trim();
    }

    /// <summary>
    /// Drops the oldest blocks while the rest still holds the configured size and no cursor is in
    /// them (Valkey's incrementalTrimReplicationBacklog). The last block always stays.
    /// </summary>
    public void Trim()
    {
        while (_head != _tail)
        {
            // The empty block a new backlog starts with goes as soon as there is another.
            if (_head.Used == 0)
            {
                _head = _head.Next!;
                continue;
            }
            if (HistoryLength - _head.Used <= _size) break;
            if (MinCursorOffset() < _head.Start + _head.Used) break;
            _allocated -= _head.Data.Length + BlockOverhead;
            // The dropped block keeps its Next: a sender that has just finished it still finds its way on.
            _head = _head.Next!;
        }
    }

    private long MinCursorOffset()
    {
        long min = long.MaxValue;
        foreach (var c in _cursors) min = Math.Min(min, c.Offset);
        return min;
    }

    /// <summary>A reader of the stream from <paramref name="offset"/> on (which must be <see cref="Covers">covered</see>), holding the blocks from there.</summary>
    public StreamCursor OpenCursor(long offset)
    {
        if (!Covers(offset)) throw new ArgumentOutOfRangeException(nameof(offset));
        var block = _head;
        while (block.Next is { } next && next.Start <= offset) block = next;
        var cursor = new StreamCursor(this, block, (int)(offset - block.Start), offset);
        _cursors.Add(cursor);
        return cursor;
    }

    /// <summary>A cursor is done (its replica left or continues elsewhere): its blocks may go.</summary>
    internal void CloseCursor(StreamCursor cursor)
    {
        if (_cursors.Remove(cursor)) Trim();
    }

    /// <summary>Bytes from <paramref name="offset"/> to the end.</summary>
    public long PendingFrom(long offset) => Math.Max(0, EndOffset + 1 - offset);

    /// <summary>Writes the kept bytes from stream offset <paramref name="from"/> to the end into <paramref name="sink"/>.</summary>
    public long CopyFrom(long from, Action<ReadOnlyMemory<byte>> sink)
    {
        if (!Covers(from)) throw new ArgumentOutOfRangeException(nameof(from));
        long total = 0;
        for (var b = _head; b is not null; b = b.Next)
        {
            long end = b.Start + b.Used;
            if (end <= from || b.Used == 0) continue;
            int at = (int)Math.Max(0, from - b.Start);
            sink(b.Data.AsMemory(at, b.Used - at));
            total += b.Used - at;
        }
        return total;
    }

    /// <summary>CONFIG SET repl-backlog-size: older blocks go once the rest holds the new size.</summary>
    public void Resize(long size)
    {
        _size = Math.Max(size, 1);
        Trim();
    }

    /// <summary>
    /// Moves every offset by <paramref name="delta"/> (a primary restarted from an RDB with replication
    /// info continues the stream from the offset saved there, Valkey's rebaseReplicationBuffer).
    /// </summary>
    public void Rebase(long delta)
    {
        EndOffset += delta;
        for (var b = _head; b is not null; b = b.Next) b.Start += delta;
        foreach (var c in _cursors) c.Rebase(delta);
    }
}
