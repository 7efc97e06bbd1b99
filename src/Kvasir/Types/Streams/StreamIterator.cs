namespace Kvasir.Types.Streams;

/// <summary>
/// Walks the entries of a stream between two IDs, forward or backward (Valkey's streamIterator):
/// node by node, decoding each entry of the node's listpack relative to its master entry. Skips
/// deleted entries unless <see cref="SkipTombstones"/> is turned off. Use:
/// <code>
/// var it = new StreamIterator(stream, start, end, reverse);
/// while (it.Next(out var id, out long fields))
///     for (long i = 0; i &lt; fields; i++) { it.Field(out var name, out var value); ... }
/// </code>
/// Returned values point into the node and are valid until the stream changes.
/// </summary>
public struct StreamIterator
{
    private const int FlagDeleted = StreamValue.FlagDeleted;
    private const int FlagSameFields = StreamValue.FlagSameFields;

    private readonly StreamValue _stream;
    private readonly bool _reverse;
    private StreamId _start;
    private StreamId _end;
    private StreamIdMap<byte[]>.Cursor _node;
    private bool _positioned;       // _node is the node to load next (the seek result)
    private byte[]? _lp;
    private int _ele;               // -1: this node is exhausted
    private StreamId _master;
    private long _masterFields;
    private int _masterFieldsStart;
    private int _masterFieldPtr;
    private int _flagsPos;
    private int _entryFlags;
    private long _fieldsLeft;       // fields of the current entry not read by Field yet

    public bool SkipTombstones;

    public StreamIterator(StreamValue stream, StreamId start, StreamId end, bool reverse)
    {
        _stream = stream;
        _reverse = reverse;
        _start = start;
        _end = end;
        SkipTombstones = true;
        Seek();
    }

    /// <summary>The whole stream.</summary>
    public StreamIterator(StreamValue stream, bool reverse) : this(stream, StreamId.Zero, StreamId.Max, reverse) { }

    private void Seek()
    {
        var nodes = _stream.Nodes;
        if (!_reverse)
        {
            if (!_start.IsZero)
            {
                _node = nodes.SeekLessOrEqual(_start);
                if (!_node.Valid) _node = nodes.First();
            }
            else _node = nodes.First();
        }
        else
        {
            // No node at or below the end means no entry at or below it: nothing to visit.
            _node = nodes.SeekLessOrEqual(_end);
        }
        _positioned = true;
        _lp = null;
        _ele = -1;
        _fieldsLeft = 0;
    }

    /// <summary>The next entry in range: its ID and number of fields; false at the end.</summary>
    public bool Next(out StreamId id, out long numFields)
    {
        var nodes = _stream.Nodes;
        while (true)
        {
            if (_lp is null || _ele < 0)
            {
                if (!_positioned)
                {
                    if (!_node.Valid) break;
                    _node = _reverse ? nodes.Previous(_node) : nodes.Next(_node);
                }
                _positioned = false;
                if (!_node.Valid) break;
                _master = nodes.KeyAt(_node);
                _lp = nodes.ValueAt(_node);
                int p = StreamListpack.First(_lp);          // live count
                p = StreamListpack.Next(_lp, p);             // deleted count
                p = StreamListpack.Next(_lp, p);             // master fields count
                _masterFields = StreamListpack.GetInteger(_lp, p);
                p = StreamListpack.Next(_lp, p);             // first master field (or the terminator)
                _masterFieldsStart = p;
                if (!_reverse)
                {
                    for (long i = 0; i < _masterFields; i++) p = StreamListpack.Next(_lp, p);
                    _ele = p;                                // the master terminator
                }
                else
                {
                    _ele = StreamListpack.Last(_lp);         // lp-count of the last entry
                }
                _fieldsLeft = 0;
            }
            else
            {
                SkipUnreadFields();
                if (_reverse)
                {
                    // From the previous emitted entry's lp-count to the one before it.
                    long lpCount = StreamListpack.GetInteger(_lp, _ele);
                    while (lpCount-- > 0) _ele = StreamListpack.Previous(_lp, _ele);
                    _ele = StreamListpack.Previous(_lp, _ele);
                }
            }

            while (true)
            {
                if (!_reverse)
                {
                    _ele = StreamListpack.Next(_lp, _ele);
                    if (_ele < 0) break;
                }
                else
                {
                    long lpCount = StreamListpack.GetInteger(_lp, _ele);
                    if (lpCount == 0)
                    {
                        _lp = null;
                        _ele = -1;
                        break;
                    }
                    while (lpCount-- > 0) _ele = StreamListpack.Previous(_lp, _ele);
                }

                _flagsPos = _ele;
                int flags = (int)StreamListpack.GetInteger(_lp, _ele);
                _ele = StreamListpack.Next(_lp, _ele);
                ulong ms = _master.Ms + (ulong)StreamListpack.GetInteger(_lp, _ele);
                _ele = StreamListpack.Next(_lp, _ele);
                ulong seq = _master.Seq + (ulong)StreamListpack.GetInteger(_lp, _ele);
                _ele = StreamListpack.Next(_lp, _ele);
                id = new StreamId(ms, seq);
                if ((flags & FlagSameFields) != 0) numFields = _masterFields;
                else
                {
                    numFields = StreamListpack.GetInteger(_lp, _ele);
                    _ele = StreamListpack.Next(_lp, _ele);
                }

                bool visible = !SkipTombstones || (flags & FlagDeleted) == 0;
                if (!_reverse)
                {
                    if (id >= _start && visible)
                    {
                        if (id > _end) goto done;
                        Emit(flags, numFields);
                        return true;
                    }
                }
                else if (id <= _end && visible)
                {
                    if (id < _start) goto done;
                    Emit(flags, numFields);
                    return true;
                }

                // Not emitted: skip its fields (forward) or step back to the previous lp-count (reverse).
                if (!_reverse)
                {
                    long discard = (flags & FlagSameFields) != 0 ? numFields : numFields * 2;
                    for (long i = 0; i < discard; i++) _ele = StreamListpack.Next(_lp, _ele);
                }
                else
                {
                    _ele = StreamListpack.Previous(_lp, _flagsPos);
                }
            }
        }
    done:
        _lp = null;
        _ele = -1;
        _node = StreamIdMap<byte[]>.Cursor.None;
        _positioned = false;
        id = default;
        numFields = 0;
        return false;
    }

    private void Emit(int flags, long numFields)
    {
        _entryFlags = flags;
        _fieldsLeft = numFields;
        if ((flags & FlagSameFields) != 0) _masterFieldPtr = _masterFieldsStart;
    }

    /// <summary>Moves past the fields of the current entry the caller did not read, onto its lp-count.</summary>
    private void SkipUnreadFields()
    {
        long elements = (_entryFlags & FlagSameFields) != 0 ? _fieldsLeft : _fieldsLeft * 2;
        for (long i = 0; i < elements; i++) _ele = StreamListpack.Next(_lp!, _ele);
        _fieldsLeft = 0;
    }

    /// <summary>The next field and value of the entry <see cref="Next"/> returned.</summary>
    public void Field(out PackedValue field, out PackedValue value)
    {
        var lp = _lp!;
        if ((_entryFlags & FlagSameFields) != 0)
        {
            field = StreamListpack.Get(lp, _masterFieldPtr);
            _masterFieldPtr = StreamListpack.Next(lp, _masterFieldPtr);
        }
        else
        {
            field = StreamListpack.Get(lp, _ele);
            _ele = StreamListpack.Next(lp, _ele);
        }
        value = StreamListpack.Get(lp, _ele);
        _ele = StreamListpack.Next(lp, _ele);
        _fieldsLeft--;
    }

    /// <summary>
    /// Deletes the entry <see cref="Next"/> returned (streamIteratorRemoveEntry): flags it deleted and
    /// updates the node's counters, or drops the node when it was its last live entry. The
    /// iterator then continues after (or, backward, before) it.
    /// </summary>
    public void RemoveCurrent(StreamId current)
    {
        _stream.MarkDeleted(_node, _flagsPos);
        if (_reverse) _end = current;
        else _start = current;
        Seek();
    }
}
