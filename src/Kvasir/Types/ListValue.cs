using Kvasir.Protocol;

namespace Kvasir.Types;

/// <summary>
/// The node limits in effect: list-max-listpack-size, and the DEBUG QUICKLIST-PACKED-THRESHOLD test
/// knob (0 = off: an element gets a plain node when it is larger than a node may be).
/// </summary>
public readonly record struct ListLimits(int Fill, long PackedThreshold = 0);

/// <summary>
/// A list value with Valkey's two encodings:
/// <list type="bullet">
/// <item><b>listpack</b>: all elements in one <see cref="PackedNode"/> while the list is within
/// list-max-listpack-size;</item>
/// <item><b>quicklist</b>: past that, a chunked list of packed nodes, each kept within the same limit,
/// with elements too large for a node in a node of their own ("plain" nodes).</item>
/// </list>
/// Node splitting, merging and the conversions in both directions follow Valkey's quicklist and
/// t_list.c rules, so OBJECT ENCODING changes at the same moments it does on Valkey (a list converts
/// back to listpack only when it is down to one node within half the limit, so a list at the
/// boundary does not flip on every push and pop). Nodes live in a ring buffer of structs: pushing
/// and popping at either end is O(1), reaching an index walks nodes from the nearer end.
/// </summary>
public sealed partial class ListValue : IDataValue, IDebugInspectable
{
    private PackedNode _single;      // listpack encoding: the whole list
    private Quicklist? _ql;          // quicklist encoding

    /// <summary>The state only a chunked list needs, kept out of line so a small list is one small object.</summary>
    private sealed class Quicklist
    {
        public PackedNode[] Ring = new PackedNode[4];   // the nodes, head at First
        public int First;
        public int NodeCount;
        public long Count;
        public long BufferBytes;                        // sum of node buffer capacities, for MemoryUsage

        /// <summary>The node limit the list was created with: like Valkey, a chunked list keeps it when
        /// list-max-listpack-size changes (only the conversions follow the current setting).</summary>
        public int Fill;
    }

    private ListLimits NodeLimits(ListLimits current) => current with { Fill = _ql!.Fill };

    public ListValue()
    {
        _single = PackedNode.Create();
    }

    public DataType Type => DataType.List;

    public ValueEncoding Encoding => _ql is null ? ValueEncoding.Listpack : ValueEncoding.Quicklist;

    public bool IsQuicklist => _ql is not null;

    public long Count => _ql is null ? _single.Count : _ql.Count;

    public long MemoryUsage => _ql is null
        ? 48 + 24 + _single.Capacity
        : 48 + 48 + 24 + (long)_ql.Ring.Length * 24 + _ql.BufferBytes + (long)_ql.NodeCount * 24;

    /// <summary>Number of packed nodes (1 for a listpack).</summary>
    public int NodeCount => _ql is null ? 1 : _ql.NodeCount;

    // In the listpack encoding the node itself holds the count and the buffer size.
    private void AddCount(long delta)
    {
        if (_ql is not null) _ql.Count += delta;
    }

    private void AddBytes(long delta)
    {
        if (_ql is not null) _ql.BufferBytes += delta;
    }

    /// <summary>Node <paramref name="i"/> counted from the head (for persistence and diagnostics).</summary>
    public ref readonly PackedNode Node(int i) => ref NodeAt(i);

    private ref PackedNode NodeAt(int i)
    {
        if (_ql is null) return ref _single;
        return ref _ql.Ring[(_ql.First + i) & (_ql.Ring.Length - 1)];
    }

    // ----- the limits of a node (quicklist.c) -----

    private static readonly int[] SizeLevels = { 4096, 8192, 16384, 32768, 65536 };

    /// <summary>Largest multi-element node when the limit is an entry count.</summary>
    private const int SizeSafetyLimit = 8192;

    /// <summary>Valkey's overestimate of one entry's overhead when deciding if it fits a node.</summary>
    private const int EntryOverheadEstimate = 8;

    private static long NegativeFillLimit(int fill)
    {
        long offset = -(long)fill - 1;
        if (offset >= SizeLevels.Length) offset = SizeLevels.Length - 1;
        return SizeLevels[offset];
    }

    private static void NodeLimit(int fill, out long size, out long count)
    {
        size = long.MaxValue;
        count = uint.MaxValue;
        if (fill >= 0) count = fill == 0 ? 1 : fill;
        else size = NegativeFillLimit(fill);
    }

    private static bool ExceedsLimit(int fill, long newSize, long newCount)
    {
        NodeLimit(fill, out long sizeLimit, out long countLimit);
        if (sizeLimit != long.MaxValue) return newSize > sizeLimit;
        if (newSize > SizeSafetyLimit) return true;
        return newCount > countLimit;
    }

    private static bool IsLarge(long size, in ListLimits limits)
    {
        if (limits.PackedThreshold != 0) return size >= limits.PackedThreshold;
        return limits.Fill >= 0 ? size > SizeSafetyLimit : size > NegativeFillLimit(limits.Fill);
    }

    private static bool AllowInsert(in PackedNode node, in ListLimits limits, int size)
    {
        if (node.Plain || IsLarge(size, limits)) return false;
        return !ExceedsLimit(limits.Fill, (long)node.ListpackBytes + size + EntryOverheadEstimate, node.Count + 1);
    }

    private static bool AllowMerge(in PackedNode a, in PackedNode b, int fill)
    {
        if (a.Plain || b.Plain) return false;
        long merged = (long)a.ListpackBytes + b.ListpackBytes - Listpack.HeaderAndEndBytes;
        return !ExceedsLimit(fill, merged, (long)a.Count + b.Count);
    }

    // ----- encoding conversions (t_list.c listTypeTryConversion*) -----

    /// <summary>Before adding <paramref name="addCount"/> elements totalling <paramref name="addBytes"/>:
    /// a listpack that would pass the limit becomes a quicklist.</summary>
    public void ConvertForGrowth(ListLimits limits, long addBytes, long addCount)
    {
        if (_ql is not null) return;
        if (!ExceedsLimit(limits.Fill, _single.ListpackBytes + addBytes, _single.Count + addCount)) return;
        var ql = new Quicklist { Fill = limits.Fill };
        if (_single.Count > 0)
        {
            ql.Ring[0] = _single;
            ql.NodeCount = 1;
            ql.Count = _single.Count;
            ql.BufferBytes = _single.Capacity;
        }
        _ql = ql;
        _single = default;
    }

    /// <summary>After removing elements: a quicklist down to one packed node within half the limit
    /// becomes a listpack again.</summary>
    public void ConvertAfterShrink(ListLimits limits) => TryConvertToListpack(limits, true);

    /// <summary>Picks the encoding for a freshly built list (a quicklist of one small node becomes a listpack).</summary>
    public void ConvertAuto(ListLimits limits)
    {
        if (_ql is null) ConvertForGrowth(limits, 0, 0);
        else TryConvertToListpack(limits, false);
    }

    private void TryConvertToListpack(ListLimits limits, bool shrinking)
    {
        if (_ql is null || _ql.NodeCount != 1) return;
        ref PackedNode head = ref NodeAt(0);
        if (head.Plain) return;
        NodeLimit(limits.Fill, out long sizeLimit, out long countLimit);
        if (shrinking)
        {
            sizeLimit /= 2;
            countLimit /= 2;
        }
        if (head.ListpackBytes > sizeLimit || _ql.Count > countLimit) return;
        _single = head;
        _ql = null;
    }

    // ----- node bookkeeping (quicklist encoding) -----

    private void InsertNode(int at, PackedNode node)
    {
        var q = _ql!;
        var ring = q.Ring;
        if (q.NodeCount == ring.Length)
        {
            var bigger = new PackedNode[ring.Length * 2];
            for (int i = 0; i < q.NodeCount; i++) bigger[i] = ring[(q.First + i) & (ring.Length - 1)];
            q.Ring = ring = bigger;
            q.First = 0;
        }
        int mask = ring.Length - 1;
        if (at < q.NodeCount - at)
        {
            // Shift the nodes before 'at' one slot towards the front.
            q.First = (q.First - 1) & mask;
            for (int i = 0; i < at; i++) ring[(q.First + i) & mask] = ring[(q.First + i + 1) & mask];
        }
        else
        {
            for (int i = q.NodeCount; i > at; i--) ring[(q.First + i) & mask] = ring[(q.First + i - 1) & mask];
        }
        ring[(q.First + at) & mask] = node;
        q.NodeCount++;
        q.BufferBytes += node.Capacity;
    }

    private void RemoveNode(int at)
    {
        var q = _ql!;
        var ring = q.Ring;
        int mask = ring.Length - 1;
        q.BufferBytes -= ring[(q.First + at) & mask].Capacity;
        if (at < q.NodeCount - 1 - at)
        {
            for (int i = at; i > 0; i--) ring[(q.First + i) & mask] = ring[(q.First + i - 1) & mask];
            ring[q.First] = default;
            q.First = (q.First + 1) & mask;
        }
        else
        {
            for (int i = at; i < q.NodeCount - 1; i++) ring[(q.First + i) & mask] = ring[(q.First + i + 1) & mask];
            ring[(q.First + q.NodeCount - 1) & mask] = default;
        }
        q.NodeCount--;
        if (ring.Length > 8 && q.NodeCount * 4 < ring.Length)
        {
            var smaller = new PackedNode[ring.Length / 2];
            for (int i = 0; i < q.NodeCount; i++) smaller[i] = ring[(q.First + i) & mask];
            q.Ring = smaller;
            q.First = 0;
        }
    }

    private static PackedNode NewNode(ReadOnlySpan<byte> value, bool plain)
    {
        var n = PackedNode.Create();
        n.Plain = plain;
        n.PushTail(value);
        if (plain) n.TrimExcess();
        return n;
    }

    // ----- push and pop -----

    public void Push(ReadOnlySpan<byte> value, bool head, ListLimits limits)
    {
        AddCount(1);
        if (_ql is null)
        {
            int cap = _single.Capacity;
            if (head) _single.PushHead(value);
            else _single.PushTail(value);
            AddBytes(_single.Capacity - cap);
            return;
        }
        limits = NodeLimits(limits);
        int size = value.Length;
        if (IsLarge(size, limits))
        {
            InsertNode(head ? 0 : _ql!.NodeCount, NewNode(value, true));
            return;
        }
        int end = head ? 0 : _ql!.NodeCount - 1;
        if (_ql!.NodeCount > 0 && AllowInsert(NodeAt(end), limits, size))
        {
            ref PackedNode n = ref NodeAt(end);
            int cap = n.Capacity;
            // An end node filling up under a byte limit (the default list-max-listpack-size -2) grows by
            // doubling, then to the limit: growing by a quarter at a time, pushes allocated five bytes of
            // garbage per byte kept (1M RPUSH: 75 B allocated per 7-byte element).
            if (limits.Fill < 0)
                n.ReserveForPush(Listpack.EntrySize(value), head, (int)NegativeFillLimit(limits.Fill) - Listpack.HeaderAndEndBytes);
            if (head) n.PushHead(value);
            else n.PushTail(value);
            AddBytes(n.Capacity - cap);
            return;
        }
        if (_ql!.NodeCount > 0)
        {
            // The old end node stops growing: give back its spare room, unless that is a sliver (a node
            // filled to its byte limit).
            ref PackedNode old = ref NodeAt(end);
            int cap = old.Capacity;
            old.TrimExcess(cap / 16);
            AddBytes(old.Capacity - cap);
        }
        InsertNode(head ? 0 : _ql!.NodeCount, NewNode(value, false));
    }

    /// <summary>The element at the head or tail (the list must not be empty).</summary>
    public PackedValue PeekEnd(bool head)
    {
        ref PackedNode n = ref NodeAt(head ? 0 : NodeCount - 1);
        return n.Read(head ? n.First : n.Last);
    }

    public void RemoveEnd(bool head)
    {
        int ni = head ? 0 : NodeCount - 1;
        ref PackedNode n = ref NodeAt(ni);
        int cap = n.Capacity;
        if (head) n.RemoveHead();
        else n.RemoveTail();
        AddBytes(n.Capacity - cap);
        AddCount(-1);
        if (_ql is not null && n.Count == 0) RemoveNode(ni);
    }

    /// <summary>Removes and returns the head or tail element.</summary>
    public byte[] Pop(bool head)
    {
        var v = PeekEnd(head).ToArray();
        RemoveEnd(head);
        return v;
    }

    // ----- positions -----

    /// <summary>A position inside the list: node number and byte offset of an entry in that node.</summary>
    public struct Cursor
    {
        public int Node;
        public int Pos;
        /// <summary>Index of the entry inside its node.</summary>
        public int Offset;
    }

    /// <summary>Turns an index (negative counts from the tail) into a cursor; false when out of range.</summary>
    public bool TrySeek(long index, out Cursor c)
    {
        c = default;
        if (index < 0) index += Count;
        if (index < 0 || index >= Count) return false;
        int nodes = NodeCount;
        if (index < Count / 2 + 1)
        {
            long skipped = 0;
            for (int i = 0; i < nodes; i++)
            {
                ref PackedNode n = ref NodeAt(i);
                if (index < skipped + n.Count)
                {
                    c.Node = i;
                    c.Offset = (int)(index - skipped);
                    c.Pos = n.Seek(c.Offset);
                    return true;
                }
                skipped += n.Count;
            }
        }
        else
        {
            long start = Count;
            for (int i = nodes - 1; i >= 0; i--)
            {
                ref PackedNode n = ref NodeAt(i);
                start -= n.Count;
                if (index >= start)
                {
                    c.Node = i;
                    c.Offset = (int)(index - start);
                    c.Pos = n.Seek(c.Offset);
                    return true;
                }
            }
        }
        return false;
    }

    public PackedValue Read(in Cursor c) => NodeAt(c.Node).Read(c.Pos);

    /// <summary>Moves towards the tail; false past the last element.</summary>
    public bool MoveNext(ref Cursor c)
    {
        ref PackedNode n = ref NodeAt(c.Node);
        int p = n.Next(c.Pos);
        if (p < n.Tail)
        {
            c.Pos = p;
            c.Offset++;
            return true;
        }
        if (c.Node + 1 >= NodeCount) return false;
        c.Node++;
        c.Pos = NodeAt(c.Node).First;
        c.Offset = 0;
        return true;
    }

    /// <summary>Moves towards the head; false before the first element.</summary>
    public bool MovePrevious(ref Cursor c)
    {
        ref PackedNode n = ref NodeAt(c.Node);
        int p = n.Previous(c.Pos);
        if (p >= 0)
        {
            c.Pos = p;
            c.Offset--;
            return true;
        }
        if (c.Node == 0) return false;
        c.Node--;
        ref PackedNode prev = ref NodeAt(c.Node);
        c.Pos = prev.Last;
        c.Offset = prev.Count - 1;
        return true;
    }

    public bool TryGet(long index, out PackedValue value)
    {
        if (!TrySeek(index, out var c))
        {
            value = default;
            return false;
        }
        value = Read(c);
        return true;
    }

    /// <summary>Writes <paramref name="n"/> elements starting at index <paramref name="from"/> (0-based, in range)
    /// as an array reply, towards the head when <paramref name="reverse"/>.</summary>
    public void WriteRange(ReplyWriter w, long from, long n, bool reverse)
    {
        w.WriteArray(n);
        if (n == 0 || !TrySeek(from, out var c)) return;
        while (true)
        {
            Read(c).WriteBulk(w);
            if (--n == 0) break;
            if (!(reverse ? MovePrevious(ref c) : MoveNext(ref c))) break;
        }
    }

    // ----- edits -----

    /// <summary>LSET: replaces the element at <paramref name="index"/>; false when out of range.</summary>
    public bool Set(long index, ReadOnlySpan<byte> value, ListLimits limits)
    {
        if (!TrySeek(index, out var c)) return false;
        if (_ql is null)
        {
            int cap = _single.Capacity;
            _single.Replace(c.Pos, value);
            AddBytes(_single.Capacity - cap);
            return true;
        }
        limits = NodeLimits(limits);
        ref PackedNode node = ref NodeAt(c.Node);
        int size = value.Length;
        bool large = IsLarge(size, limits);
        if (!node.Plain && !large)
        {
            int cap = node.Capacity;
            node.Replace(c.Pos, value);
            AddBytes(node.Capacity - cap);
            return true;
        }
        if (node.Plain)
        {
            if (large)
            {
                AddBytes(-node.Capacity);
                node = NewNode(value, true);
                AddBytes(node.Capacity);
            }
            else
            {
                // The small value goes where a packed neighbour can take it; the plain node goes away.
                InsertNear(c, value, true, limits);
                AddCount(-1);
                RemoveNode(c.Node);
            }
            return true;
        }
        // A large value into a packed node: it gets a plain node of its own at that position.
        int ni = c.Node;
        bool hasTail = c.Offset != node.Count - 1;
        PackedNode tail = default;
        if (hasTail)
        {
            int cap = node.Capacity;
            tail = node.SplitOff(c.Offset + 1);
            AddBytes(node.Capacity - cap);
        }
        InsertNode(ni + 1, NewNode(value, true));
        if (hasTail) InsertNode(ni + 2, tail);
        ref PackedNode orig = ref NodeAt(ni);
        if (orig.Count == 1)
        {
            RemoveNode(ni);
        }
        else
        {
            int cap = orig.Capacity;
            orig.RemoveTail();
            AddBytes(orig.Capacity - cap);
            MergeAround(ni + 1, limits);
        }
        return true;
    }

    /// <summary>Finds the first element (from the head) equal to <paramref name="value"/>.</summary>
    public bool TryFind(ReadOnlySpan<byte> value, out Cursor c)
    {
        if (Count == 0 || !TrySeek(0, out c))
        {
            c = default;
            return false;
        }
        var key = new PackedKey(value);
        do
        {
            if (Read(c).Matches(key)) return true;
        } while (MoveNext(ref c));
        return false;
    }

    /// <summary>LINSERT: inserts <paramref name="value"/> before or after the element at <paramref name="c"/>.
    /// The cursor must come from the current state of the list.</summary>
    public void Insert(in Cursor c, ReadOnlySpan<byte> value, bool after, ListLimits limits) => InsertNear(c, value, after, limits);

    /// <summary>Inserts next to the element at <paramref name="c"/> (quicklist.c _quicklistInsert).</summary>
    private void InsertNear(Cursor c, ReadOnlySpan<byte> value, bool after, ListLimits limits)
    {
        AddCount(1);
        if (_ql is null)
        {
            int cap = _single.Capacity;
            _single.InsertAt(after ? _single.Next(c.Pos) : c.Pos, value);
            AddBytes(_single.Capacity - cap);
            return;
        }
        limits = NodeLimits(limits);
        int ni = c.Node;
        ref PackedNode node = ref NodeAt(ni);
        int size = value.Length;
        bool full = !AllowInsert(node, limits, size);
        bool atTail = after && c.Offset == node.Count - 1;
        bool atHead = !after && c.Offset == 0;
        bool availNext = atTail && ni + 1 < _ql!.NodeCount && AllowInsert(NodeAt(ni + 1), limits, size);
        bool availPrev = atHead && ni > 0 && AllowInsert(NodeAt(ni - 1), limits, size);

        if (IsLarge(size, limits))
        {
            if (node.Plain || atTail || atHead)
            {
                InsertNode(after ? ni + 1 : ni, NewNode(value, true));
            }
            else
            {
                int cap = node.Capacity;
                var right = node.SplitOff(after ? c.Offset + 1 : c.Offset);
                AddBytes(node.Capacity - cap);
                InsertNode(ni + 1, NewNode(value, true));
                InsertNode(ni + 2, right);
            }
            return;
        }

        if (!full)
        {
            int cap = node.Capacity;
            node.InsertAt(after ? node.Next(c.Pos) : c.Pos, value);
            AddBytes(node.Capacity - cap);
        }
        else if (atTail && availNext)
        {
            ref PackedNode next = ref NodeAt(ni + 1);
            int cap = next.Capacity;
            next.PushHead(value);
            AddBytes(next.Capacity - cap);
        }
        else if (atHead && availPrev)
        {
            ref PackedNode prev = ref NodeAt(ni - 1);
            int cap = prev.Capacity;
            prev.PushTail(value);
            AddBytes(prev.Capacity - cap);
        }
        else if (atTail || atHead)
        {
            InsertNode(after ? ni + 1 : ni, NewNode(value, false));
        }
        else
        {
            // Split the full node at the insertion point; the new element joins the half on its side.
            int cap = node.Capacity;
            var right = node.SplitOff(after ? c.Offset + 1 : c.Offset);
            AddBytes(node.Capacity - cap);
            if (after) right.PushHead(value);
            else
            {
                cap = node.Capacity;
                node.PushTail(value);
                AddBytes(node.Capacity - cap);
            }
            InsertNode(ni + 1, right);
            MergeAround(after ? ni : ni + 1, limits);
        }
    }

    /// <summary>Merges the neighbourhood of node <paramref name="center"/> where the limits allow
    /// (quicklist.c _quicklistMergeNodes): prev-prev with prev, next with next-next, then center with
    /// each neighbour.</summary>
    private void MergeAround(int center, ListLimits limits)
    {
        if (center >= 2 && AllowMerge(NodeAt(center - 1), NodeAt(center - 2), limits.Fill))
        {
            MergeNodes(center - 2);
            center--;
        }
        if (center + 2 < _ql!.NodeCount && AllowMerge(NodeAt(center + 1), NodeAt(center + 2), limits.Fill))
            MergeNodes(center + 1);
        int target = center;
        if (center >= 1 && AllowMerge(NodeAt(center), NodeAt(center - 1), limits.Fill))
        {
            MergeNodes(center - 1);
            target = center - 1;
        }
        if (target + 1 < _ql!.NodeCount && AllowMerge(NodeAt(target), NodeAt(target + 1), limits.Fill))
            MergeNodes(target);
    }

    /// <summary>Joins node <paramref name="left"/> and the one after it into one node at <paramref name="left"/>,
    /// growing the larger of the two buffers.</summary>
    private void MergeNodes(int left)
    {
        ref PackedNode a = ref NodeAt(left);
        ref PackedNode b = ref NodeAt(left + 1);
        long before = a.Capacity + b.Capacity;
        if (a.UsedBytes >= b.UsedBytes) a.AppendAll(b);
        else
        {
            b.PrependAll(a);
            a = b;
        }
        b = PackedNode.Create();
        AddBytes(a.Capacity - before);
        RemoveNode(left + 1);
    }

    /// <summary>LREM: removes up to |count| elements equal to <paramref name="value"/> (all when 0),
    /// scanning from the tail when <paramref name="count"/> is negative. Returns how many.</summary>
    public long RemoveMatching(ReadOnlySpan<byte> value, long count)
    {
        if (Count == 0) return 0;
        var key = new PackedKey(value);
        bool fromTail = count < 0;
        long limit = count < 0 ? -count : count;
        long removed = 0;
        int ni = fromTail ? NodeCount - 1 : 0;
        while (ni >= 0 && ni < NodeCount)
        {
            ref PackedNode n = ref NodeAt(ni);
            int cap = n.Capacity;
            int before = n.Count;
            if (!fromTail)
            {
                int pos = n.First;
                while (pos < n.Tail && n.Count > 0)
                {
                    if (n.Read(pos).Matches(key))
                    {
                        pos = n.DeleteAt(pos);
                        removed++;
                        if (limit != 0 && removed == limit) break;
                    }
                    else pos = n.Next(pos);
                }
            }
            else
            {
                int pos = n.Last;
                while (pos >= 0 && n.Count > 0)
                {
                    if (n.Read(pos).Matches(key))
                    {
                        int next = n.DeleteAt(pos);
                        removed++;
                        if (limit != 0 && removed == limit) break;
                        pos = n.Count == 0 ? -1 : n.Previous(next);
                    }
                    else pos = n.Previous(pos);
                }
            }
            AddBytes(n.Capacity - cap);
            AddCount(-(before - n.Count));
            bool emptied = n.Count == 0 && _ql is not null;
            if (emptied) RemoveNode(ni);
            if (limit != 0 && removed == limit) break;
            if (fromTail) ni--;
            else if (!emptied) ni++;
        }
        return removed;
    }

    /// <summary>Removes <paramref name="n"/> elements starting at index <paramref name="start"/> (0-based, in range).</summary>
    public void DeleteRange(long start, long n)
    {
        if (n <= 0 || start < 0 || start >= Count) return;
        if (n > Count - start) n = Count - start;
        if (_ql is null)
        {
            int cap = _single.Capacity;
            _single.DeleteRange((int)start, (int)n);
            AddBytes(_single.Capacity - cap);
            AddCount(-n);
            return;
        }
        TrySeek(start, out var c);
        int ni = c.Node;
        int offset = c.Offset;
        long extent = n;
        while (extent > 0 && ni < _ql!.NodeCount)
        {
            ref PackedNode node = ref NodeAt(ni);
            long del;
            if (offset == 0 && extent >= node.Count)
            {
                del = node.Count;
                RemoveNode(ni);
            }
            else
            {
                del = Math.Min(node.Count - offset, extent);
                int cap = node.Capacity;
                node.DeleteRange(offset, (int)del);
                AddBytes(node.Capacity - cap);
                if (node.Count == 0) RemoveNode(ni);
                else ni++;
            }
            AddCount(-del);
            extent -= del;
            offset = 0;
        }
    }

    /// <summary>A deep copy with the same encoding and node layout (COPY).</summary>
    /// <summary>As RDB saves a list: the node count, then each node as its container type and listpack blob.</summary>
    public long SerializedLength
    {
        get
        {
            long size = SerializedSize.Length(NodeCount);
            for (int i = 0; i < NodeCount; i++)
            {
                ref PackedNode n = ref NodeAt(i);
                size += 1 + (n.Plain ? SerializedSize.Blob(PlainLength(n)) : SerializedSize.Blob(n.ListpackBytes));
            }
            return size;
        }
    }

    private static long PlainLength(in PackedNode n) => n.Read(n.First).TextLength;

    /// <summary>DEBUG OBJECT's quicklist fields.</summary>
    public string DebugDetails(bool fast)
    {
        if (_ql is null) return "";
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.Append(" ql_nodes:").Append(_ql.NodeCount.ToString(inv));
        sb.Append(" ql_avg_node:").Append(((double)_ql.Count / _ql.NodeCount).ToString("F2", inv));
        sb.Append(" ql_listpack_max:").Append(_ql.Fill.ToString(inv));
        sb.Append(" ql_compressed:0");
        if (!fast)
        {
            long total = 0;
            for (int i = 0; i < _ql.NodeCount; i++)
            {
                ref PackedNode n = ref NodeAt(i);
                total += n.Plain ? PlainLength(n) : n.ListpackBytes;
            }
            sb.Append(" ql_uncompressed_size:").Append(total.ToString(inv));
        }
        return sb.ToString();
    }

    /// <summary>COPY: a deep copy with the same encoding.</summary>
    public IDataValue? Duplicate() => Clone();

    public ListValue Clone()
    {
        var copy = new ListValue();
        if (_ql is null)
        {
            copy._single = _single.Clone();
            return copy;
        }
        var q = new Quicklist();
        int size = 4;
        while (size < _ql.NodeCount) size *= 2;
        q.Ring = new PackedNode[size];
        for (int i = 0; i < _ql.NodeCount; i++)
        {
            q.Ring[i] = NodeAt(i).Clone();
            q.BufferBytes += q.Ring[i].Capacity;
        }
        q.NodeCount = _ql.NodeCount;
        q.Count = _ql.Count;
        q.Fill = _ql.Fill;
        copy._single = default;
        copy._ql = q;
        return copy;
    }
}
