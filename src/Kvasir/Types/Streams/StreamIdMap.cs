namespace Kvasir.Types.Streams;

/// <summary>
/// An ordered map from stream IDs to values: what Valkey keeps in a rax keyed by 128-bit big-endian
/// IDs (the nodes of a stream, the pending entries of a group or consumer). Two levels: a sorted
/// array of leaves, each a sorted run of up to <see cref="LeafCapacity"/> keys whose arrays grow as
/// needed (a PEL of one entry costs a few dozen bytes). Appends at the end (XADD, XREADGROUP ">")
/// fill the last leaf and then start a new one, so such leaves stay full; removals from the front
/// (trimming, acknowledging in order) drop whole leaves. Positions are <see cref="Cursor"/>s,
/// valid until the next insertion or removal.
/// </summary>
public sealed class StreamIdMap<T>
{
    public const int LeafCapacity = 128;

    private sealed class Leaf
    {
        public StreamId[] Keys;
        public T[] Values;
        public int Count;

        public Leaf(int capacity)
        {
            Keys = new StreamId[capacity];
            Values = new T[capacity];
        }

        /// <summary>Makes room for one more key; returns how many slots were added.</summary>
        public int EnsureRoom()
        {
            if (Count < Keys.Length) return 0;
            int before = Keys.Length;
            int next = Math.Min(LeafCapacity, Keys.Length * 2);
            Array.Resize(ref Keys, next);
            Array.Resize(ref Values, next);
            return next - before;
        }

        /// <summary>Index of the first key >= id (Count when none).</summary>
        public int LowerBound(StreamId id)
        {
            int lo = 0, hi = Count;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (Keys[mid].CompareTo(id) < 0) lo = mid + 1;
                else hi = mid;
            }
            return lo;
        }
    }

    private Leaf[] _leaves = Array.Empty<Leaf>();
    private int _leafCount;
    private long _slots; // sum of the leaves' array capacities, for an O(1) memory figure

    /// <summary>A position in the map: leaf and slot. <see cref="Valid"/> is false past either end.</summary>
    public readonly record struct Cursor(int Leaf, int Slot)
    {
        public bool Valid => Leaf >= 0;
        public static readonly Cursor None = new(-1, 0);
    }

    public long Count { get; private set; }

    /// <summary>Leaves in use (for memory estimates).</summary>
    public int LeafCount => _leafCount;

    /// <summary>Bytes of the map's own arrays (not counting what values reference).</summary>
    public long OverheadBytes => 40 + 8L * _leaves.Length + 88L * _leafCount + _slots * (16L + ValueSize);

    private static readonly int ValueSize = typeof(T).IsValueType ? System.Runtime.CompilerServices.Unsafe.SizeOf<T>() : 8;

    /// <summary>Index of the leaf that holds (or would hold) <paramref name="id"/>: the last one whose first key is <= id.</summary>
    private int LeafFor(StreamId id)
    {
        int lo = 0, hi = _leafCount - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (_leaves[mid].Keys[0].CompareTo(id) <= 0) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    public bool TryGetValue(StreamId id, out T value)
    {
        if (_leafCount > 0)
        {
            var leaf = _leaves[LeafFor(id)];
            int i = leaf.LowerBound(id);
            if (i < leaf.Count && leaf.Keys[i] == id)
            {
                value = leaf.Values[i];
                return true;
            }
        }
        value = default!;
        return false;
    }

    public bool ContainsKey(StreamId id) => TryGetValue(id, out _);

    /// <summary>Adds a key that is not present; false (nothing changed) when it is (raxTryInsert).</summary>
    public bool TryAdd(StreamId id, T value)
    {
        if (_leafCount == 0)
        {
            var first = new Leaf(4);
            first.Keys[0] = id;
            first.Values[0] = value;
            first.Count = 1;
            InsertLeaf(0, first);
            Count = 1;
            return true;
        }
        int li = LeafFor(id);
        var leaf = _leaves[li];
        int slot = leaf.LowerBound(id);
        if (slot < leaf.Count && leaf.Keys[slot] == id) return false;
        if (leaf.Count == LeafCapacity)
        {
            if (slot == leaf.Count && li == _leafCount - 1)
            {
                // Appending past the last full leaf: start a new one, keeping this one full. Appends
                // will fill it too, so it gets its full size at once (no regrowth garbage).
                var next = new Leaf(LeafCapacity);
                next.Keys[0] = id;
                next.Values[0] = value;
                next.Count = 1;
                InsertLeaf(_leafCount, next);
                Count++;
                return true;
            }
            Split(li);
            if (slot > _leaves[li].Count)
            {
                slot -= _leaves[li].Count;
                li++;
            }
            leaf = _leaves[li];
        }
        _slots += leaf.EnsureRoom();
        Array.Copy(leaf.Keys, slot, leaf.Keys, slot + 1, leaf.Count - slot);
        Array.Copy(leaf.Values, slot, leaf.Values, slot + 1, leaf.Count - slot);
        leaf.Keys[slot] = id;
        leaf.Values[slot] = value;
        leaf.Count++;
        Count++;
        return true;
    }

    /// <summary>Adds or replaces (raxInsert).</summary>
    public void Set(StreamId id, T value)
    {
        var c = Find(id);
        if (c.Valid) _leaves[c.Leaf].Values[c.Slot] = value;
        else TryAdd(id, value);
    }

    public bool Remove(StreamId id) => Remove(id, out _);

    public bool Remove(StreamId id, out T value)
    {
        var c = Find(id);
        if (!c.Valid)
        {
            value = default!;
            return false;
        }
        value = _leaves[c.Leaf].Values[c.Slot];
        RemoveAt(c);
        return true;
    }

    public void RemoveAt(Cursor c)
    {
        var leaf = _leaves[c.Leaf];
        int tail = leaf.Count - c.Slot - 1;
        Array.Copy(leaf.Keys, c.Slot + 1, leaf.Keys, c.Slot, tail);
        Array.Copy(leaf.Values, c.Slot + 1, leaf.Values, c.Slot, tail);
        leaf.Count--;
        leaf.Values[leaf.Count] = default!;
        Count--;
        if (leaf.Count == 0) RemoveLeaf(c.Leaf);
        else if (leaf.Count < LeafCapacity / 4 && leaf.Keys.Length > 8)
        {
            // Shrink a leaf that lost most of its keys (trimmed PELs) so memory follows content.
            int cap = Math.Max(8, leaf.Count * 2);
            _slots += cap - leaf.Keys.Length;
            Array.Resize(ref leaf.Keys, cap);
            Array.Resize(ref leaf.Values, cap);
        }
    }

    public void Clear()
    {
        _leaves = Array.Empty<Leaf>();
        _leafCount = 0;
        _slots = 0;
        Count = 0;
    }

    // ----- cursors -----

    public Cursor Find(StreamId id)
    {
        if (_leafCount == 0) return Cursor.None;
        int li = LeafFor(id);
        var leaf = _leaves[li];
        int i = leaf.LowerBound(id);
        return i < leaf.Count && leaf.Keys[i] == id ? new Cursor(li, i) : Cursor.None;
    }

    public Cursor First() => _leafCount == 0 ? Cursor.None : new Cursor(0, 0);

    public Cursor Last() => _leafCount == 0 ? Cursor.None : new Cursor(_leafCount - 1, _leaves[_leafCount - 1].Count - 1);

    /// <summary>The first key >= id (raxSeek ">=").</summary>
    public Cursor SeekGreaterOrEqual(StreamId id)
    {
        if (_leafCount == 0) return Cursor.None;
        int li = LeafFor(id);
        int i = _leaves[li].LowerBound(id);
        if (i < _leaves[li].Count) return new Cursor(li, i);
        return li + 1 < _leafCount ? new Cursor(li + 1, 0) : Cursor.None;
    }

    /// <summary>The last key <= id (raxSeek "<=").</summary>
    public Cursor SeekLessOrEqual(StreamId id)
    {
        if (_leafCount == 0) return Cursor.None;
        int li = LeafFor(id);
        var leaf = _leaves[li];
        int i = leaf.LowerBound(id);
        if (i < leaf.Count && leaf.Keys[i] == id) return new Cursor(li, i);
        if (i > 0) return new Cursor(li, i - 1);
        return Cursor.None; // li is 0 here: every key is greater
    }

    public Cursor Next(Cursor c)
    {
        if (!c.Valid) return c;
        if (c.Slot + 1 < _leaves[c.Leaf].Count) return new Cursor(c.Leaf, c.Slot + 1);
        return c.Leaf + 1 < _leafCount ? new Cursor(c.Leaf + 1, 0) : Cursor.None;
    }

    public Cursor Previous(Cursor c)
    {
        if (!c.Valid) return c;
        if (c.Slot > 0) return new Cursor(c.Leaf, c.Slot - 1);
        return c.Leaf > 0 ? new Cursor(c.Leaf - 1, _leaves[c.Leaf - 1].Count - 1) : Cursor.None;
    }

    public StreamId KeyAt(Cursor c) => _leaves[c.Leaf].Keys[c.Slot];

    public ref T ValueAt(Cursor c) => ref _leaves[c.Leaf].Values[c.Slot];

    public StreamId FirstKey => _leaves[0].Keys[0];

    public StreamId LastKey => _leaves[_leafCount - 1].Keys[_leaves[_leafCount - 1].Count - 1];

    /// <summary>Visits every entry in order.</summary>
    public Enumerator GetEnumerator() => new(this);

    public struct Enumerator
    {
        private readonly StreamIdMap<T> _map;
        private Cursor _next;
        private Cursor _current;

        internal Enumerator(StreamIdMap<T> map)
        {
            _map = map;
            _next = map.First();
            _current = Cursor.None;
        }

        public bool MoveNext()
        {
            if (!_next.Valid) return false;
            _current = _next;
            _next = _map.Next(_next);
            return true;
        }

        public readonly KeyValuePair<StreamId, T> Current => new(_map.KeyAt(_current), _map.ValueAt(_current));
    }

    // ----- leaf array -----

    private void InsertLeaf(int at, Leaf leaf)
    {
        if (_leafCount == _leaves.Length) Array.Resize(ref _leaves, Math.Max(4, _leaves.Length * 2));
        Array.Copy(_leaves, at, _leaves, at + 1, _leafCount - at);
        _leaves[at] = leaf;
        _leafCount++;
        _slots += leaf.Keys.Length;
    }

    private void RemoveLeaf(int at)
    {
        _slots -= _leaves[at].Keys.Length;
        Array.Copy(_leaves, at + 1, _leaves, at, _leafCount - at - 1);
        _leafCount--;
        _leaves[_leafCount] = null!;
        if (_leafCount == 0) _leaves = Array.Empty<Leaf>();
        else if (_leafCount < _leaves.Length / 4 && _leaves.Length > 16) Array.Resize(ref _leaves, _leaves.Length / 2);
    }

    private void Split(int li)
    {
        var leaf = _leaves[li];
        int half = leaf.Count / 2;
        var right = new Leaf(LeafCapacity);
        int moved = leaf.Count - half;
        Array.Copy(leaf.Keys, half, right.Keys, 0, moved);
        Array.Copy(leaf.Values, half, right.Values, 0, moved);
        Array.Clear(leaf.Values, half, moved);
        right.Count = moved;
        leaf.Count = half;
        InsertLeaf(li + 1, right);
    }
}
