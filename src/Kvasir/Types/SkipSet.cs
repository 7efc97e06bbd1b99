using System.Runtime.CompilerServices;

namespace Kvasir.Types;

/// <summary>
/// A predicate that holds for a prefix of the sorted order (all elements "before" some point).
/// Struct implementations keep range queries free of delegates and allocations.
/// </summary>
public interface IPrefixPredicate
{
    bool Holds(ReadOnlySpan<byte> member, double score);
}

/// <summary>
/// The "skiplist" encoding of a sorted set: Valkey's zskiplist (elements ordered by score, then member
/// bytes; level spans so that the rank of an element and the element at a rank are found in O(log n);
/// levels drawn with p = 1/4 up to 32) plus its member → element dict, built without an object per
/// element. The members live in a <see cref="MemberTable"/> (shared slabs, a 12-byte entry each), and
/// an element IS its member's entry index: its skiplist node is the 24-byte struct at that index in
/// pages of nodes (score, backward link, level-0 forward link, level count, and where its higher levels
/// are in a shared pool of (forward, span) pairs; three nodes in four have none). The level-0 span is
/// 1 to a next element and 0 at the end, so it is implied, not stored. 1M elements: ~58 bytes each,
/// where a node object, its level array, a member array and a dict entry took ~160 (Valkey 8: ~94).
/// Element indexes stay valid until the element is removed.
/// </summary>
internal sealed class SkipSet
{
    public const int MaxLevel = 32;
    private const double P = 0.25;

    /// <summary>"No element" (the end of a list, or no backward element).</summary>
    public const int Nil = -1;
    private const int Head = -2;

    private const int PageShift = 11;              // 2048 nodes of 24 bytes: 48 KB, below the large object heap
    private const int PageSize = 1 << PageShift;
    private const int PageMask = PageSize - 1;

    private struct Node
    {
        public double Score;
        public int Backward;
        public int Forward0;
        public int Upper;   // offset of levels 1.. in _upper (pairs: forward, span)
        public int Levels;
    }

    private readonly MemberTable _members;
    private Node[][] _nodes = new Node[4][];
    private int _nodeCapacity;
    private int[] _upper = new int[16];
    private int _upperUsed;
    private readonly int[] _upperFree = new int[MaxLevel + 1]; // per level count: offset + 1 of a free block, chained through its first int
    private readonly int[] _headForward = new int[MaxLevel];
    private readonly int[] _headSpan = new int[MaxLevel];
    private readonly Random _random;
    private int _level = 1;

    /// <summary>The key of the sorted set in the keyspace (empty when detached).</summary>
    public byte[] Key = Array.Empty<byte>();

    public SkipSet(int capacity, Random? random = null)
    {
        _members = new MemberTable(capacity);
        _random = random ?? Random.Shared;
        Array.Fill(_headForward, Nil);
    }

    public long Length { get; private set; }

    public int First => _headForward[0];

    public int Last { get; private set; } = Nil;

    /// <summary>The member → element table (lookups, random picks, ZSCAN's cursor).</summary>
    public MemberTable Members => _members;

    public long MemoryUsage =>
        48 + 48 + 24 * 2 + 8 * MaxLevel * 2 + PackedEntries.ArrayBytes(Key.Length) + _members.MemoryBytes +
        (long)_nodeCapacity * Unsafe.SizeOf<Node>() + (long)_nodes.Length * 8 + (long)_upper.Length * 4;

    // ----- element access -----

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Node N(int i) => ref _nodes[i >> PageShift][i & PageMask];

    public double ScoreOf(int element) => N(element).Score;

    public ReadOnlySpan<byte> MemberOf(int element) => _members.MemberAt(element).Span;

    public PackedValue MemberValueOf(int element) => _members.MemberAt(element);

    public int Next(int element) => N(element).Forward0;

    public int Previous(int element) => N(element).Backward;

    /// <summary>The element whose member is <paramref name="member"/>, or <see cref="Nil"/>.</summary>
    public int Find(ReadOnlySpan<byte> member) => _members.Find(member);

    public int Find(ReadOnlySpan<byte> member, int hash) => _members.Find(member, hash);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Forward(int x, int level)
    {
        if (x == Head) return _headForward[level];
        ref Node n = ref N(x);
        return level == 0 ? n.Forward0 : _upper[n.Upper + 2 * (level - 1)];
    }

    private void SetForward(int x, int level, int to)
    {
        if (x == Head) _headForward[level] = to;
        else if (level == 0) N(x).Forward0 = to;
        else _upper[N(x).Upper + 2 * (level - 1)] = to;
    }

    /// <summary>How many elements the forward link at <paramref name="level"/> jumps over (level 0: 1, or 0 at the end).</summary>
    private int Span(int x, int level)
    {
        if (level == 0) return Forward(x, 0) == Nil ? 0 : 1;
        return x == Head ? _headSpan[level] : _upper[N(x).Upper + 2 * (level - 1) + 1];
    }

    private void SetSpan(int x, int level, int span)
    {
        if (level == 0) return; // implied by the forward link
        if (x == Head) _headSpan[level] = span;
        else _upper[N(x).Upper + 2 * (level - 1) + 1] = span;
    }

    public static int Compare(double scoreA, ReadOnlySpan<byte> memberA, double scoreB, ReadOnlySpan<byte> memberB)
    {
        if (scoreA < scoreB) return -1;
        if (scoreA > scoreB) return 1;
        return memberA.SequenceCompareTo(memberB);
    }

    private bool Before(int x, double score, ReadOnlySpan<byte> member)
    {
        double s = N(x).Score;
        return s < score || (s == score && MemberOf(x).SequenceCompareTo(member) < 0);
    }

    private int RandomLevel()
    {
        int level = 1;
        while (level < MaxLevel && _random.NextDouble() < P) level++;
        return level;
    }

    // ----- node storage -----

    private void EnsureNode(int index)
    {
        while (index >= _nodeCapacity)
        {
            int page = _nodeCapacity >> PageShift;
            if (page == _nodes.Length) Array.Resize(ref _nodes, _nodes.Length * 2);
            _nodes[page] = new Node[PageSize];
            _nodeCapacity += PageSize;
        }
    }

    private int AllocateUpper(int levels)
    {
        if (levels <= 1) return 0;
        int size = 2 * (levels - 1);
        int free = _upperFree[levels];
        if (free != 0)
        {
            _upperFree[levels] = _upper[free - 1];
            return free - 1;
        }
        if (_upperUsed + size > _upper.Length) Array.Resize(ref _upper, Math.Max(_upper.Length * 2, _upperUsed + size));
        int offset = _upperUsed;
        _upperUsed += size;
        return offset;
    }

    private void FreeUpper(int offset, int levels)
    {
        if (levels <= 1) return;
        _upper[offset] = _upperFree[levels];
        _upperFree[levels] = offset + 1;
    }

    // Search paths of one insert or delete. Commands run one at a time per thread, so per-thread
    // buffers avoid two allocations per update without costing memory per sorted set.
    [ThreadStatic] private static int[]? t_update;
    [ThreadStatic] private static int[]? t_ranks;

    // ----- updates -----

    /// <summary>Adds a member known not to be present (its bytes are copied). Returns its element.</summary>
    public int Add(double score, ReadOnlySpan<byte> member, int hash)
    {
        int element = _members.Add(member, hash);
        EnsureNode(element);
        Link(element, score, member);
        return element;
    }

    /// <summary>Moves an element to a new score (ZADD, ZINCRBY on an existing member).</summary>
    public void UpdateScore(int element, double score)
    {
        var member = MemberOf(element);
        Unlink(element, SearchPath(N(element).Score, member));
        Link(element, score, member);
    }

    /// <summary>Removes the element of <paramref name="member"/>. Returns false when absent.</summary>
    public bool Remove(ReadOnlySpan<byte> member)
    {
        int element = _members.Find(member);
        if (element < 0) return false;
        Unlink(element, SearchPath(N(element).Score, member));
        _members.RemoveAt(element);
        return true;
    }

    /// <summary>The last element before (score, member) at each level, in a per-thread buffer.</summary>
    private int[] SearchPath(double score, ReadOnlySpan<byte> member)
    {
        var update = t_update ??= new int[MaxLevel];
        int x = Head;
        for (int i = _level - 1; i >= 0; i--)
        {
            int f;
            while ((f = Forward(x, i)) != Nil && Before(f, score, member)) x = f;
            update[i] = x;
        }
        return update;
    }

    private void Link(int element, double score, ReadOnlySpan<byte> member)
    {
        var update = t_update ??= new int[MaxLevel];
        var ranks = t_ranks ??= new int[MaxLevel];
        int x = Head;
        for (int i = _level - 1; i >= 0; i--)
        {
            ranks[i] = i == _level - 1 ? 0 : ranks[i + 1];
            int f;
            while ((f = Forward(x, i)) != Nil && Before(f, score, member))
            {
                ranks[i] += Span(x, i);
                x = f;
            }
            update[i] = x;
        }
        int level = RandomLevel();
        if (level > _level)
        {
            for (int i = _level; i < level; i++)
            {
                ranks[i] = 0;
                update[i] = Head;
                _headSpan[i] = (int)Length;
            }
            _level = level;
        }
        ref Node n = ref N(element);
        n.Score = score;
        n.Levels = level;
        n.Upper = AllocateUpper(level);
        for (int i = 0; i < level; i++)
        {
            int u = update[i];
            SetForward(element, i, Forward(u, i));
            SetForward(u, i, element);
            SetSpan(element, i, Span(u, i) - (ranks[0] - ranks[i]));
            SetSpan(u, i, ranks[0] - ranks[i] + 1);
        }
        for (int i = level; i < _level; i++) SetSpan(update[i], i, Span(update[i], i) + 1);
        n = ref N(element);
        n.Backward = update[0] == Head ? Nil : update[0];
        if (n.Forward0 != Nil) N(n.Forward0).Backward = element;
        else Last = element;
        Length++;
    }

    private void Unlink(int x, int[] update)
    {
        ref Node n = ref N(x);
        for (int i = 0; i < _level; i++)
        {
            int u = update[i];
            if (Forward(u, i) == x)
            {
                SetSpan(u, i, Span(u, i) + Span(x, i) - 1);
                SetForward(u, i, Forward(x, i));
            }
            else
            {
                SetSpan(u, i, Span(u, i) - 1);
            }
        }
        n = ref N(x);
        if (n.Forward0 != Nil) N(n.Forward0).Backward = n.Backward;
        else Last = n.Backward;
        while (_level > 1 && _headForward[_level - 1] == Nil) _level--;
        Length--;
        FreeUpper(n.Upper, n.Levels);
        n = default;
    }

    // ----- queries -----

    /// <summary>1-based rank of an element, 0 when (score, member) is absent.</summary>
    public long GetRank(double score, ReadOnlySpan<byte> member)
    {
        long rank = 0;
        int x = Head;
        for (int i = _level - 1; i >= 0; i--)
        {
            int f;
            while ((f = Forward(x, i)) != Nil &&
                   (N(f).Score < score || (N(f).Score == score && MemberOf(f).SequenceCompareTo(member) <= 0)))
            {
                rank += Span(x, i);
                x = f;
            }
            if (x != Head && N(x).Score == score && MemberOf(x).SequenceEqual(member)) return rank;
        }
        return 0;
    }

    /// <summary>The element at a 1-based rank, or <see cref="Nil"/>.</summary>
    public int GetByRank(long rank)
    {
        if (rank < 1 || rank > Length) return Nil;
        long traversed = 0;
        int x = Head;
        for (int i = _level - 1; i >= 0; i--)
        {
            int f;
            while ((f = Forward(x, i)) != Nil && traversed + Span(x, i) <= rank)
            {
                traversed += Span(x, i);
                x = f;
            }
            if (traversed == rank) return x;
        }
        return Nil;
    }

    /// <summary>How many elements, from the first, satisfy a prefix predicate (O(log n)).</summary>
    public long CountPrefix<TPred>(TPred pred) where TPred : IPrefixPredicate
    {
        long rank = 0;
        int x = Head;
        for (int i = _level - 1; i >= 0; i--)
        {
            int f;
            while ((f = Forward(x, i)) != Nil && pred.Holds(MemberOf(f), N(f).Score))
            {
                rank += Span(x, i);
                x = f;
            }
        }
        return rank;
    }

    /// <summary>Removes the elements with 1-based ranks in [start, end]; returns how many.</summary>
    public long RemoveRangeByRank(long start, long end)
    {
        var update = new int[MaxLevel];
        long traversed = 0;
        int x = Head;
        for (int i = _level - 1; i >= 0; i--)
        {
            int f;
            while ((f = Forward(x, i)) != Nil && traversed + Span(x, i) < start)
            {
                traversed += Span(x, i);
                x = f;
            }
            update[i] = x;
        }
        traversed++;
        int node = Forward(x, 0);
        long deleted = 0;
        while (node != Nil && traversed <= end)
        {
            int next = N(node).Forward0;
            Unlink(node, update);
            _members.RemoveAt(node);
            deleted++;
            traversed++;
            node = next;
        }
        return deleted;
    }
}
