namespace Kvasir.Types;

/// <summary>One element of a <see cref="SkipList"/>: the member, its score and its tower of levels.</summary>
public sealed class SkipListNode
{
    internal SkipListNode(byte[] member, double score, int levels)
    {
        Member = member;
        Score = score;
        Levels = new SkipListLevel[levels];
    }

    public readonly byte[] Member;
    public double Score { get; internal set; }
    public SkipListNode? Backward { get; internal set; }
    internal readonly SkipListLevel[] Levels;

    public SkipListNode? Next => Levels[0].Forward;
}

internal struct SkipListLevel
{
    public SkipListNode? Forward;

    /// <summary>How many elements the forward link jumps over (1 for neighbours): this is what makes rank O(log n).</summary>
    public long Span;
}

/// <summary>
/// A predicate that holds for a prefix of the sorted order (all elements "before" some point).
/// Struct implementations keep range queries free of delegates and allocations.
/// </summary>
public interface IPrefixPredicate
{
    bool Holds(ReadOnlySpan<byte> member, double score);
}

/// <summary>
/// Valkey's zskiplist: elements ordered by (score, member bytes), with level spans so that the rank
/// of an element and the element at a rank are found in O(log n). Levels are drawn with p = 1/4 up
/// to 32, as in Valkey.
/// </summary>
public sealed class SkipList
{
    public const int MaxLevel = 32;
    private const double P = 0.25;

    private readonly SkipListNode _header = new(Array.Empty<byte>(), 0, MaxLevel);
    private readonly Random _random;
    private int _level = 1;

    public SkipList(Random? random = null) => _random = random ?? Random.Shared;

    public long Length { get; private set; }

    public SkipListNode? First => _header.Levels[0].Forward;

    public SkipListNode? Last { get; private set; }

    /// <summary>Heap bytes of the nodes and level arrays (members excluded).</summary>
    public long NodeBytes { get; private set; }

    // Search paths of one insert or delete. Commands run one at a time per thread, so a per-thread
    // buffer avoids two allocations per update without costing memory per sorted set.
    [ThreadStatic] private static SkipListNode[]? _update;
    [ThreadStatic] private static long[]? _ranks;

    private static SkipListNode[] Scratch() => _update ??= new SkipListNode[MaxLevel];

    private int RandomLevel()
    {
        int level = 1;
        while (level < MaxLevel && _random.NextDouble() < P) level++;
        return level;
    }

    public static int Compare(double scoreA, ReadOnlySpan<byte> memberA, double scoreB, ReadOnlySpan<byte> memberB)
    {
        if (scoreA < scoreB) return -1;
        if (scoreA > scoreB) return 1;
        return memberA.SequenceCompareTo(memberB);
    }

    private static bool Before(SkipListNode node, double score, ReadOnlySpan<byte> member) =>
        node.Score < score || (node.Score == score && node.Member.AsSpan().SequenceCompareTo(member) < 0);

    private static long NodeSize(int levels) => 56 + 24 + 16L * levels;

    /// <summary>Inserts an element that is not present yet. The member array is kept, not copied.</summary>
    public SkipListNode Insert(double score, byte[] member)
    {
        var update = Scratch();
        var ranks = _ranks ??= new long[MaxLevel];
        var x = _header;
        for (int i = _level - 1; i >= 0; i--)
        {
            ranks[i] = i == _level - 1 ? 0 : ranks[i + 1];
            while (x.Levels[i].Forward is { } f && Before(f, score, member))
            {
                ranks[i] += x.Levels[i].Span;
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
                update[i] = _header;
                update[i].Levels[i].Span = Length;
            }
            _level = level;
        }
        var node = new SkipListNode(member, score, level);
        for (int i = 0; i < level; i++)
        {
            node.Levels[i].Forward = update[i].Levels[i].Forward;
            update[i].Levels[i].Forward = node;
            node.Levels[i].Span = update[i].Levels[i].Span - (ranks[0] - ranks[i]);
            update[i].Levels[i].Span = ranks[0] - ranks[i] + 1;
        }
        for (int i = level; i < _level; i++) update[i].Levels[i].Span++;
        node.Backward = update[0] == _header ? null : update[0];
        if (node.Levels[0].Forward is { } next) next.Backward = node;
        else Last = node;
        Length++;
        NodeBytes += NodeSize(level);
        Array.Clear(update); // do not keep nodes of this list reachable from the shared buffer
        return node;
    }

    private void Unlink(SkipListNode x, SkipListNode[] update)
    {
        for (int i = 0; i < _level; i++)
        {
            if (update[i].Levels[i].Forward == x)
            {
                update[i].Levels[i].Span += x.Levels[i].Span - 1;
                update[i].Levels[i].Forward = x.Levels[i].Forward;
            }
            else
            {
                update[i].Levels[i].Span -= 1;
            }
        }
        if (x.Levels[0].Forward is { } next) next.Backward = x.Backward;
        else Last = x.Backward;
        while (_level > 1 && _header.Levels[_level - 1].Forward is null) _level--;
        Length--;
        NodeBytes -= NodeSize(x.Levels.Length);
    }

    /// <summary>Removes the element with this score and member. Returns false when absent.</summary>
    public bool Delete(double score, ReadOnlySpan<byte> member)
    {
        var update = Scratch();
        var x = _header;
        for (int i = _level - 1; i >= 0; i--)
        {
            while (x.Levels[i].Forward is { } f && Before(f, score, member)) x = f;
            update[i] = x;
        }
        var target = x.Levels[0].Forward;
        bool found = target is not null && target.Score == score && target.Member.AsSpan().SequenceEqual(member);
        if (found) Unlink(target!, update);
        Array.Clear(update);
        return found;
    }

    /// <summary>1-based rank of an element known to be present, 0 when absent.</summary>
    public long GetRank(double score, ReadOnlySpan<byte> member)
    {
        long rank = 0;
        var x = _header;
        for (int i = _level - 1; i >= 0; i--)
        {
            while (x.Levels[i].Forward is { } f &&
                   (f.Score < score || (f.Score == score && f.Member.AsSpan().SequenceCompareTo(member) <= 0)))
            {
                rank += x.Levels[i].Span;
                x = f;
            }
            if (x != _header && x.Score == score && x.Member.AsSpan().SequenceEqual(member)) return rank;
        }
        return 0;
    }

    /// <summary>The element at a 1-based rank, or null.</summary>
    public SkipListNode? GetByRank(long rank)
    {
        if (rank < 1 || rank > Length) return null;
        long traversed = 0;
        var x = _header;
        for (int i = _level - 1; i >= 0; i--)
        {
            while (x.Levels[i].Forward is { } f && traversed + x.Levels[i].Span <= rank)
            {
                traversed += x.Levels[i].Span;
                x = f;
            }
            if (traversed == rank) return x;
        }
        return null;
    }

    /// <summary>How many elements, from the first, satisfy a prefix predicate (O(log n)).</summary>
    public long CountPrefix<TPred>(TPred pred) where TPred : IPrefixPredicate
    {
        long rank = 0;
        var x = _header;
        for (int i = _level - 1; i >= 0; i--)
        {
            while (x.Levels[i].Forward is { } f && pred.Holds(f.Member, f.Score))
            {
                rank += x.Levels[i].Span;
                x = f;
            }
        }
        return rank;
    }

    /// <summary>Removes the elements with 1-based ranks in [start, end], handing each to <paramref name="removed"/>.</summary>
    public long DeleteRangeByRank(long start, long end, Action<SkipListNode>? removed)
    {
        var update = new SkipListNode[MaxLevel]; // not the shared scratch: 'removed' may edit other skiplists
        long traversed = 0;
        var x = _header;
        for (int i = _level - 1; i >= 0; i--)
        {
            while (x.Levels[i].Forward is not null && traversed + x.Levels[i].Span < start)
            {
                traversed += x.Levels[i].Span;
                x = x.Levels[i].Forward!;
            }
            update[i] = x;
        }
        traversed++;
        var node = x.Levels[0].Forward;
        long deleted = 0;
        while (node is not null && traversed <= end)
        {
            var next = node.Levels[0].Forward;
            Unlink(node, update);
            removed?.Invoke(node);
            deleted++;
            traversed++;
            node = next;
        }
        return deleted;
    }
}
