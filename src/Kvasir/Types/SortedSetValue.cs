using System.Buffers.Binary;
using Kvasir.Keyspace;

namespace Kvasir.Types;

/// <summary>ZADD's options (NX XX GT LT INCR).</summary>
[Flags]
public enum ZAddFlags
{
    None = 0,
    NX = 1,
    XX = 2,
    GT = 4,
    LT = 8,
    Incr = 16,
}

/// <summary>What one <see cref="SortedSetValue.Add"/> did.</summary>
public enum ZAddResult
{
    /// <summary>Nothing changed (NX on an existing member, XX on a missing one, GT/LT refused, same score).</summary>
    Nop,
    Added,
    Updated,
    /// <summary>The score was unchanged although the member was processed (score equal to the current one).</summary>
    Same,
    /// <summary>The resulting score would be NaN (INCR of +inf by -inf): nothing changed.</summary>
    NaN,
}

/// <summary>
/// A sorted set, with Valkey's two encodings and its order (score, then member bytes):
/// <list type="bullet">
/// <item>"listpack" while small (zset-max-listpack-entries / -value): ONE byte array of
/// [varint length][member][8-byte score] entries kept in order;</item>
/// <item>"skiplist" beyond: a <see cref="SkipSet"/>, Valkey's skiplist with spans (O(log n) rank) plus
/// the member → element table for O(1) score lookups, in arrays rather than an object per element.</item>
/// </list>
/// A packed set stores 0 for a score of -0, because Valkey's listpack stores integral scores as
/// integers; the skiplist keeps the sign, as Valkey's does.
/// In the keyspace a sorted set is its own key-table item (<see cref="IKeyEmbeddingValue"/>): the key
/// is the first entry of the packed array (or a field of the skiplist encoding).
/// </summary>
public sealed partial class SortedSetValue : KeyedObject, IDataValue, IKeyEmbeddingValue, IMemberPrefetchSource
{
    private object _data; // byte[] (listpack: [key entry][member entry][8-byte score]...) or SkipSet (skiplist)

    public Keyspace.IPrefetchable? MemberLookups => (_data as SkipSet)?.Members;

    public SortedSetValue() => _data = Array.Empty<byte>();

    public override IDataValue Value => this;

    public override ReadOnlySpan<byte> Key => _data is byte[] lp
        ? (lp.Length == 0 ? default : PackedEntries.ReadEntry(lp, 0, out _))
        : ((SkipSet)_data).Key;

    object IKeyEmbeddingValue.EmbedKey(ReadOnlySpan<byte> key)
    {
        if (_data is SkipSet s)
        {
            if (!s.Key.AsSpan().SequenceEqual(key)) s.Key = key.ToArray();
            return this;
        }
        var lp = (byte[])_data;
        if (lp.Length > 0 && Key.SequenceEqual(key)) return this;
        int start = EntriesStart(lp);
        var next = GC.AllocateUninitializedArray<byte>(PackedEntries.EntrySize(key.Length) + lp.Length - start);
        int w = PackedEntries.WriteEntry(next, key);
        lp.AsSpan(start).CopyTo(next.AsSpan(w));
        _data = next;
        return this;
    }

    /// <summary>Where the member entries of a packed array begin (after the key entry).</summary>
    private static int EntriesStart(byte[] lp) => lp.Length == 0 ? 0 : PackedEntries.Skip(lp, 0);

    /// <summary>Valkey's zsetTypeCreate: starts as a skiplist when the first write is already too big.</summary>
    /// <paramref name="key"/>, when given, is the key it will be stored under (embedded now, so storing
    /// it does not copy the array again).
    public static SortedSetValue Create(long sizeHint, long longestMember, long maxEntries, long maxValue, ReadOnlySpan<byte> key = default)
    {
        var z = new SortedSetValue();
        if (sizeHint > maxEntries || longestMember > maxValue) z._data = new SkipSet((int)Math.Min(sizeHint, 1 << 20)) { Key = key.ToArray() };
        else if (!key.IsEmpty)
        {
            var lp = new byte[PackedEntries.EntrySize(key.Length)];
            PackedEntries.WriteEntry(lp, key);
            z._data = lp;
        }
        return z;
    }

    public DataType Type => DataType.ZSet;

    public ValueEncoding Encoding => _data is byte[] ? ValueEncoding.Listpack : ValueEncoding.Skiplist;

    public bool IsPacked => _data is byte[];

    public override long MemoryUsage => _data is byte[] lp ? 32 + PackedEntries.ArrayBytes(lp.Length) : 32 + ((SkipSet)_data).MemoryUsage;

    public long Count
    {
        get
        {
            if (_data is SkipSet s) return s.Length;
            var lp = (byte[])_data;
            int n = 0;
            for (int p = EntriesStart(lp); p < lp.Length; p = PackedEntries.Skip(lp, p) + 8) n++;
            return n;
        }
    }

    // ----- packed helpers -----

    private static double ScoreAt(byte[] lp, int pos) => BinaryPrimitives.ReadDoubleLittleEndian(lp.AsSpan(pos));

    /// <summary>Offset of the member's entry in a packed array, or -1; also its score.</summary>
    private static int FindPacked(byte[] lp, ReadOnlySpan<byte> member, out double score)
    {
        int p = EntriesStart(lp);
        while (p < lp.Length)
        {
            var m = PackedEntries.ReadEntry(lp, p, out int sp);
            if (m.SequenceEqual(member))
            {
                score = ScoreAt(lp, sp);
                return p;
            }
            p = sp + 8;
        }
        score = 0;
        return -1;
    }

    private static byte[] PackedInsert(byte[] lp, double score, ReadOnlySpan<byte> member)
    {
        if (score == 0) score = 0; // listpacks store integral scores as integers: -0 becomes 0
        if (lp.Length == 0) lp = new byte[] { 0 }; // the (empty) key entry
        int p = EntriesStart(lp);
        while (p < lp.Length)
        {
            var m = PackedEntries.ReadEntry(lp, p, out int sp);
            if (SkipSet.Compare(ScoreAt(lp, sp), m, score, member) > 0) break;
            p = sp + 8;
        }
        int size = PackedEntries.EntrySize(member.Length) + 8;
        var next = PackedEntries.Splice(lp, p, p, size);
        int w = p + PackedEntries.WriteEntry(next.AsSpan(p), member);
        BinaryPrimitives.WriteDoubleLittleEndian(next.AsSpan(w), score);
        return next;
    }

    private static byte[] PackedRemoveAt(byte[] lp, int pos)
    {
        int end = PackedEntries.Skip(lp, pos) + 8;
        return PackedEntries.Splice(lp, pos, end, 0);
    }

    // ----- reads -----

    public bool TryGetScore(ReadOnlySpan<byte> member, out double score)
    {
        if (_data is SkipSet s)
        {
            int i = s.Find(member);
            score = i >= 0 ? s.ScoreOf(i) : 0;
            return i >= 0;
        }
        return FindPacked((byte[])_data, member, out score) >= 0;
    }

    /// <summary>0-based rank in ascending order, or -1 when the member is absent.</summary>
    public long Rank(ReadOnlySpan<byte> member, out double score)
    {
        if (_data is SkipSet s)
        {
            int i = s.Find(member);
            if (i < 0)
            {
                score = 0;
                return -1;
            }
            score = s.ScoreOf(i);
            return s.GetRank(score, member) - 1;
        }
        var lp = (byte[])_data;
        long rank = 0;
        int p = EntriesStart(lp);
        while (p < lp.Length)
        {
            var m = PackedEntries.ReadEntry(lp, p, out int sp);
            if (m.SequenceEqual(member))
            {
                score = ScoreAt(lp, sp);
                return rank;
            }
            rank++;
            p = sp + 8;
        }
        score = 0;
        return -1;
    }

    /// <summary>How many elements, from the lowest, satisfy a predicate that holds for a prefix of the order.</summary>
    public long CountPrefix<TPred>(TPred pred) where TPred : IPrefixPredicate
    {
        if (_data is SkipSet s) return s.CountPrefix(pred);
        var lp = (byte[])_data;
        long n = 0;
        int p = EntriesStart(lp);
        while (p < lp.Length)
        {
            var m = PackedEntries.ReadEntry(lp, p, out int sp);
            if (!pred.Holds(m, ScoreAt(lp, sp))) break;
            n++;
            p = sp + 8;
        }
        return n;
    }

    // ----- interval queries, shaped like Valkey's so that lex ranges over unequal scores (where the
    // order is not by member) give the same answers -----

    private bool ElementMatches<T>(long rank, T spec, bool min) where T : IRangeSpec
    {
        var it = IterateFrom(rank, false);
        it.MoveNext();
        return min ? spec.GteMin(it.Member, it.Score) : spec.LteMax(it.Member, it.Score);
    }

    /// <summary>zzlIsInRange / zslIsInRange: the interval is not empty, the last element is not below it and the first not above it.</summary>
    private bool Overlaps<T>(T spec) where T : IRangeSpec
    {
        long n = Count;
        return !spec.IsEmpty && n > 0 && ElementMatches(n - 1, spec, min: true) && ElementMatches(0, spec, min: false);
    }

    /// <summary>Rank of the first element in the interval (zzlFirstInRange / zslNthInRange(0)), or -1.</summary>
    public long FirstInRange<T>(T spec) where T : IRangeSpec
    {
        if (!Overlaps(spec)) return -1;
        if (_data is SkipSet) return NthInRange(spec, 0);
        var it = IterateFrom(0, false);
        for (long rank = 0; it.MoveNext(); rank++)
        {
            if (!spec.GteMin(it.Member, it.Score)) continue;
            return spec.LteMax(it.Member, it.Score) ? rank : -1;
        }
        return -1;
    }

    /// <summary>Rank of the last element in the interval (zzlLastInRange / zslNthInRange(-1)), or -1.</summary>
    public long LastInRange<T>(T spec) where T : IRangeSpec
    {
        if (!Overlaps(spec)) return -1;
        if (_data is SkipSet) return NthInRange(spec, -1);
        long n = Count;
        var it = IterateFrom(n - 1, true);
        for (long rank = n - 1; it.MoveNext(); rank--)
        {
            if (!spec.LteMax(it.Member, it.Score)) continue;
            return spec.GteMin(it.Member, it.Score) ? rank : -1;
        }
        return -1;
    }

    /// <summary>
    /// Valkey's zslNthInRange: the n-th element of the interval (negative n counts from its end),
    /// located by skiplist descents, or -1.
    /// </summary>
    public long NthInRange<T>(T spec, long n) where T : IRangeSpec
    {
        if (!Overlaps(spec)) return -1;
        long length = Count;
        if (n >= 0)
        {
            long edge = CountPrefix(new BelowRange<T>(spec));
            if (n >= length - edge) return -1;
            return ElementMatches(edge + n, spec, min: false) ? edge + n : -1;
        }
        long last = CountPrefix(new NotAfterRange<T>(spec));
        if (last + n < 0) return -1;
        return ElementMatches(last + n, spec, min: true) ? last + n : -1;
    }

    /// <summary>Where a range deletion starts: the first element in range for a packed set, the skiplist descent position otherwise (Valkey checks nothing more there).</summary>
    public long DeletionStart<T>(T spec) where T : IRangeSpec =>
        _data is SkipSet ? CountPrefix(new BelowRange<T>(spec)) : FirstInRange(spec);

    /// <summary>Walks elements from 0-based <paramref name="rank"/> towards higher (or, reversed, lower) ranks.</summary>
    public Iterator IterateFrom(long rank, bool reverse) => new(this, rank, reverse);

    public ref struct Iterator
    {
        private readonly byte[]? _packed;
        private readonly int[]? _offsets;   // entry offsets, for walking a packed set backwards
        private readonly bool _reverse;
        private int _pos;                    // packed forward: next entry offset; packed reverse: next index
        private readonly SkipSet? _skip;
        private int _node;
        private bool _started;

        internal Iterator(SortedSetValue z, long rank, bool reverse)
        {
            _reverse = reverse;
            _started = false;
            Member = default;
            Score = 0;
            _skip = null;
            _node = SkipSet.Nil;
            _offsets = null;
            _pos = 0;
            if (z._data is byte[] lp)
            {
                _packed = lp;
                if (reverse)
                {
                    int n = (int)z.Count;
                    _offsets = new int[n];
                    for (int i = 0, p = EntriesStart(lp); i < n; i++)
                    {
                        _offsets[i] = p;
                        p = PackedEntries.Skip(lp, p) + 8;
                    }
                    _pos = (int)Math.Min(rank, n); // index of the first element to return
                }
                else
                {
                    int p = EntriesStart(lp);
                    for (long i = 0; i < rank && p < lp.Length; i++) p = PackedEntries.Skip(lp, p) + 8;
                    _pos = p;
                }
            }
            else
            {
                _packed = null;
                _skip = (SkipSet)z._data;
                _node = _skip.GetByRank(rank + 1);
            }
        }

        public ReadOnlySpan<byte> Member { get; private set; }
        public double Score { get; private set; }

        public bool MoveNext()
        {
            if (_packed is not null)
            {
                if (_reverse)
                {
                    if (_pos < 0 || _pos >= _offsets!.Length) return false;
                    Member = PackedEntries.ReadEntry(_packed, _offsets[_pos], out int sp);
                    Score = ScoreAt(_packed, sp);
                    _pos--;
                    return true;
                }
                if (_pos >= _packed.Length) return false;
                Member = PackedEntries.ReadEntry(_packed, _pos, out int sp2);
                Score = ScoreAt(_packed, sp2);
                _pos = sp2 + 8;
                return true;
            }
            if (_node == SkipSet.Nil) return false;
            if (_started)
            {
                _node = _reverse ? _skip!.Previous(_node) : _skip!.Next(_node);
                if (_node == SkipSet.Nil) return false;
            }
            _started = true;
            Member = _skip!.MemberOf(_node);
            Score = _skip.ScoreOf(_node);
            return true;
        }
    }

    // ----- writes -----

    /// <summary>Valkey's zsetTypeMaybeConvert: converts up front when a write brings too many or too long members.</summary>
    public void MaybeConvert(long sizeHint, long longestMember, long maxEntries, long maxValue)
    {
        if (_data is byte[] && (sizeHint > maxEntries || longestMember > maxValue)) ConvertToSkiplist(sizeHint);
    }

    /// <summary>
    /// Valkey's zsetAdd: adds or updates one member under ZADD's options. <paramref name="newScore"/>
    /// is the member's score afterwards when it was processed.
    /// </summary>
    public ZAddResult Add(double score, ReadOnlySpan<byte> member, ZAddFlags flags, long maxEntries, long maxValue, out double newScore)
    {
        newScore = score;
        if (double.IsNaN(score)) return ZAddResult.NaN;
        bool incr = (flags & ZAddFlags.Incr) != 0, nx = (flags & ZAddFlags.NX) != 0, xx = (flags & ZAddFlags.XX) != 0;
        bool gt = (flags & ZAddFlags.GT) != 0, lt = (flags & ZAddFlags.LT) != 0;

        if (_data is byte[] lp)
        {
            int pos = FindPacked(lp, member, out double cur);
            if (pos >= 0)
            {
                if (nx) return ZAddResult.Nop;
                if (incr)
                {
                    score += cur;
                    if (double.IsNaN(score)) return ZAddResult.NaN;
                }
                if ((lt && score >= cur) || (gt && score <= cur)) return ZAddResult.Nop;
                newScore = score;
                if (score == cur) return ZAddResult.Same;
                _data = PackedInsert(PackedRemoveAt(lp, pos), score, member);
                return ZAddResult.Updated;
            }
            if (xx) return ZAddResult.Nop;
            if (Count + 1 > maxEntries || member.Length > maxValue)
            {
                ConvertToSkiplist(Count + 1);
            }
            else
            {
                _data = PackedInsert(lp, score, member);
                return ZAddResult.Added;
            }
        }

        var s = (SkipSet)_data;
        int hash = KeyHash.Hash(member);
        int i = s.Find(member, hash);
        if (i >= 0)
        {
            if (nx) return ZAddResult.Nop;
            double cur = s.ScoreOf(i);
            if (incr)
            {
                score += cur;
                if (double.IsNaN(score)) return ZAddResult.NaN;
            }
            if ((lt && score >= cur) || (gt && score <= cur)) return ZAddResult.Nop;
            newScore = score;
            if (score == cur) return ZAddResult.Same;
            s.UpdateScore(i, score);
            return ZAddResult.Updated;
        }
        if (xx) return ZAddResult.Nop;
        s.Add(score, member, hash);
        return ZAddResult.Added;
    }

    /// <summary>Removes a member. Returns false when it was absent.</summary>
    public bool Remove(ReadOnlySpan<byte> member)
    {
        if (_data is SkipSet s) return s.Remove(member);
        var lp = (byte[])_data;
        int pos = FindPacked(lp, member, out _);
        if (pos < 0) return false;
        _data = PackedRemoveAt(lp, pos);
        return true;
    }

    /// <summary>Removes the elements with 0-based ranks in [start, end]; returns how many.</summary>
    public long RemoveRange(long start, long end)
    {
        if (start > end) return 0;
        if (_data is SkipSet s) return s.RemoveRangeByRank(start + 1, end + 1);
        var lp = (byte[])_data;
        int p = EntriesStart(lp);
        long i = 0;
        for (; i < start && p < lp.Length; i++) p = PackedEntries.Skip(lp, p) + 8;
        int from = p;
        long removed = 0;
        for (; i <= end && p < lp.Length; i++, removed++) p = PackedEntries.Skip(lp, p) + 8;
        _data = PackedEntries.Splice(lp, from, p, 0);
        return removed;
    }

    public void ConvertToSkiplist(long sizeHint = 0)
    {
        if (_data is not byte[] lp) return;
        var s = new SkipSet((int)Math.Clamp(sizeHint, 4, 1 << 20)) { Key = Key.ToArray() };
        int p = EntriesStart(lp);
        while (p < lp.Length)
        {
            var m = PackedEntries.ReadEntry(lp, p, out int sp);
            s.Add(ScoreAt(lp, sp), m, KeyHash.Hash(m));
            p = sp + 8;
        }
        _data = s;
    }

    /// <summary>Valkey's zsetConvertToListpackIfNeeded (for the results of store commands).</summary>
    public void ConvertToPackedIfFits(long maxEntries, long maxValue)
    {
        if (_data is not SkipSet s) return;
        if (s.Length > maxEntries) return;
        long total = 0;
        for (int n = s.First; n != SkipSet.Nil; n = s.Next(n))
        {
            int length = s.MemberOf(n).Length;
            if (length > maxValue) return;
            total += PackedEntries.EntrySize(length) + 8;
        }
        total += PackedEntries.EntrySize(s.Key.Length);
        if (total > int.MaxValue / 2) return;
        var lp = new byte[total];
        int w = PackedEntries.WriteEntry(lp, s.Key);
        for (int n = s.First; n != SkipSet.Nil; n = s.Next(n))
        {
            w += PackedEntries.WriteEntry(lp.AsSpan(w), s.MemberOf(n));
            double score = s.ScoreOf(n);
            BinaryPrimitives.WriteDoubleLittleEndian(lp.AsSpan(w), score == 0 ? 0 : score);
            w += 8;
        }
        _data = lp;
    }

    // ----- random, scan, copy -----

    /// <summary>A uniformly chosen element (the set must not be empty).</summary>
    public void RandomElement(Random random, out ReadOnlySpan<byte> member, out double score)
    {
        if (_data is SkipSet s)
        {
            int e = s.Members.RandomIndex(random);
            member = s.MemberOf(e);
            score = s.ScoreOf(e);
            return;
        }
        var it = IterateFrom(random.NextInt64(Count), false);
        it.MoveNext();
        member = it.Member;
        score = it.Score;
    }

    /// <summary>Elements picked uniformly with repetition (ZRANDMEMBER with a negative count).</summary>
    public void RandomWithRepetition(Random random, long count, Action<ReadOnlySpan<byte>, double> emit)
    {
        if (_data is SkipSet s)
        {
            for (long i = 0; i < count; i++)
            {
                int e = s.Members.RandomIndex(random);
                emit(s.MemberOf(e), s.ScoreOf(e));
            }
            return;
        }
        var lp = (byte[])_data;
        int n = (int)Count;
        var offsets = new int[n];
        for (int i = 0, p = EntriesStart(lp); i < n; i++)
        {
            offsets[i] = p;
            p = PackedEntries.Skip(lp, p) + 8;
        }
        for (long i = 0; i < count; i++)
        {
            var m = PackedEntries.ReadEntry(lp, offsets[random.Next(n)], out int sp);
            emit(m, ScoreAt(lp, sp));
        }
    }

    /// <summary>
    /// <paramref name="count"/> distinct elements (count &lt; Count), with Valkey's ZRANDMEMBER strategies:
    /// selection sampling in order for a packed set; for a skiplist, dropping random elements from a
    /// full copy when most are wanted, else picking until enough distinct ones.
    /// </summary>
    public void RandomDistinct(Random random, long count, Action<ReadOnlySpan<byte>, double> emit)
    {
        if (_data is byte[] lp)
        {
            long remaining = Count, needed = count;
            int p = EntriesStart(lp);
            while (needed > 0)
            {
                var m = PackedEntries.ReadEntry(lp, p, out int sp);
                double sc = ScoreAt(lp, sp);
                p = sp + 8;
                if (RandomPicks.TakeNext(random, remaining, needed))
                {
                    emit(m, sc);
                    needed--;
                }
                remaining--;
            }
            return;
        }
        var skip = (SkipSet)_data;
        RandomPicks.DistinctSlots(skip.Members, random, count, i => emit(skip.MemberOf(i), skip.ScoreOf(i)));
    }

    /// <summary>
    /// One ZSCAN step: a packed set returns everything (cursor 0); a skiplist walks its member table's
    /// buckets with the reverse-binary cursor until about <paramref name="count"/> elements were seen.
    /// </summary>
    public ulong Scan(ulong cursor, long count, Action<ReadOnlySpan<byte>, double> visit)
    {
        if (_data is byte[] lp)
        {
            int p = EntriesStart(lp);
            while (p < lp.Length)
            {
                var m = PackedEntries.ReadEntry(lp, p, out int sp);
                visit(m, ScoreAt(lp, sp));
                p = sp + 8;
            }
            return 0;
        }
        var skip = (SkipSet)_data;
        long sampled = 0, maxIterations = count * 10;
        var buffer = new List<int>();
        do
        {
            buffer.Clear();
            cursor = skip.Members.ScanBucket(cursor, buffer);
            foreach (int i in buffer)
            {
                visit(skip.MemberOf(i), skip.ScoreOf(i));
                sampled++;
            }
        } while (cursor != 0 && maxIterations-- > 0 && sampled < count);
        return cursor;
    }

    public IDataValue? Duplicate() => Clone();

    /// <summary>A copy with the same encoding (COPY).</summary>
    public SortedSetValue Clone()
    {
        var copy = new SortedSetValue();
        if (_data is byte[] lp)
        {
            copy._data = lp.Length == 0 ? lp : (byte[])lp.Clone();
            return copy;
        }
        var src = (SkipSet)_data;
        var s = new SkipSet((int)Math.Min(src.Length, 1 << 20));
        // From the highest down, so each insert stops at the head.
        for (int n = src.Last; n != SkipSet.Nil; n = src.Previous(n))
        {
            var m = src.MemberOf(n);
            s.Add(src.ScoreOf(n), m, KeyHash.Hash(m));
        }
        copy._data = s;
        return copy;
    }

    /// <summary>True when <paramref name="member"/> is an element (for set algebra lookups).</summary>
    public bool Contains(ReadOnlySpan<byte> member) => TryGetScore(member, out _);
}
