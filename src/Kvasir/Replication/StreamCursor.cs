namespace Kvasir.Replication;

/// <summary>
/// One replica's position in the shared replication buffer (<see cref="ReplicationBacklog"/>),
/// Valkey's ref_repl_buf_node and ref_block_pos. While a replica waits for its image the cursor only
/// holds the stream from its snapshot point; once the replica streams, its connection sends from the
/// cursor and moves it on. Opened and closed under the data lock; read and advanced by the one
/// connection sending it, without the lock (the blocks it reads never change below their published
/// length, and the backlog only drops blocks every cursor has passed).
/// </summary>
public sealed class StreamCursor
{
    private readonly ReplicationBacklog _owner;
    private ReplicationBacklog.Block _block;
    private int _pos;
    private long _offset;

    internal StreamCursor(ReplicationBacklog owner, ReplicationBacklog.Block block, int pos, long offset)
    {
        _owner = owner;
        _block = block;
        _pos = pos;
        _offset = offset;
    }

    /// <summary>The next stream offset to send.</summary>
    public long Offset => Volatile.Read(ref _offset);

    /// <summary>The backlog this cursor reads.</summary>
    public ReplicationBacklog Owner => _owner;

    /// <summary>Stream bytes fed and not yet sent (under the data lock): the replica's share of the output buffer.</summary>
    public long Pending => _owner.PendingFrom(Offset);

    /// <summary>
    /// The sender: the next bytes to send up to stream offset <paramref name="end"/>, without the
    /// lock; false when everything up to there is sent.
    /// </summary>
    public bool TryGetPending(long end, out ReadOnlyMemory<byte> segment)
    {
        while (true)
        {
            long left = end - _offset + 1;
            if (left <= 0)
            {
                segment = default;
                return false;
            }
            var block = _block;
            int used = Volatile.Read(ref block.Used);
            if (_pos < used)
            {
                segment = block.Data.AsMemory(_pos, (int)Math.Min(used - _pos, left));
                return true;
            }
            var next = Volatile.Read(ref block.Next);
            if (next is null)
            {
                segment = default;
                return false;
            }
            // More may have been written into this block before the next one was linked.
            if (_pos < Volatile.Read(ref block.Used)) continue;
            _block = next;
            _pos = 0;
        }
    }

    /// <summary>The sender: <paramref name="count"/> bytes of the last segment went out.</summary>
    public void Advance(int count)
    {
        _pos += count;
        Volatile.Write(ref _offset, _offset + count);
    }

    internal void Rebase(long delta) => _offset += delta;

    /// <summary>Lets go of the blocks (under the data lock).</summary>
    public void Close() => _owner.CloseCursor(this);
}
