using Kvasir.Config;
using System.Globalization;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>Sorted set commands (Valkey's t_zset.c), except the blocking pops.</summary>
public static class SortedSetCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("zadd", ZAdd);
        t.Bind("zincrby", ZIncrBy);
        t.Bind("zrem", ZRem);
        t.Bind("zcard", ZCard);
        t.Bind("zcount", ZCount);
        t.Bind("zlexcount", ZLexCount);
        t.Bind("zscore", ZScore);
        t.Bind("zmscore", ZMScore);
        t.Bind("zrank", c => ZRank(c, reverse: false));
        t.Bind("zrevrank", c => ZRank(c, reverse: true));
        t.Bind("zrange", c => RangeGeneric(c, 1, store: false, RangeType.Auto, Direction.Auto));
        t.Bind("zrangestore", c => RangeGeneric(c, 2, store: true, RangeType.Auto, Direction.Auto));
        t.Bind("zrevrange", c => RangeGeneric(c, 1, store: false, RangeType.Rank, Direction.Reverse));
        t.Bind("zrangebyscore", c => RangeGeneric(c, 1, store: false, RangeType.Score, Direction.Forward));
        t.Bind("zrevrangebyscore", c => RangeGeneric(c, 1, store: false, RangeType.Score, Direction.Reverse));
        t.Bind("zrangebylex", c => RangeGeneric(c, 1, store: false, RangeType.Lex, Direction.Forward));
        t.Bind("zrevrangebylex", c => RangeGeneric(c, 1, store: false, RangeType.Lex, Direction.Reverse));
        t.Bind("zremrangebyrank", c => RemoveRange(c, RangeType.Rank));
        t.Bind("zremrangebyscore", c => RemoveRange(c, RangeType.Score));
        t.Bind("zremrangebylex", c => RemoveRange(c, RangeType.Lex));
        t.Bind("zpopmin", c => ZPopMinMax(c, max: false));
        t.Bind("zpopmax", c => ZPopMinMax(c, max: true));
        t.Bind("zmpop", ZMPop);
        t.Bind("zrandmember", ZRandMember);
        t.Bind("zunion", c => SetOperation(c, null, 1, SetOp.Union, cardinalityOnly: false));
        t.Bind("zinter", c => SetOperation(c, null, 1, SetOp.Inter, cardinalityOnly: false));
        t.Bind("zdiff", c => SetOperation(c, null, 1, SetOp.Diff, cardinalityOnly: false));
        t.Bind("zintercard", c => SetOperation(c, null, 1, SetOp.Inter, cardinalityOnly: true));
        t.Bind("zunionstore", c => SetOperation(c, c.Args.ToArray(1), 2, SetOp.Union, cardinalityOnly: false));
        t.Bind("zinterstore", c => SetOperation(c, c.Args.ToArray(1), 2, SetOp.Inter, cardinalityOnly: false));
        t.Bind("zdiffstore", c => SetOperation(c, c.Args.ToArray(1), 2, SetOp.Diff, cardinalityOnly: false));
        t.Bind("zscan", ZScan);
    }

    internal static readonly byte[] ZPopMinName = "ZPOPMIN"u8.ToArray();
    internal static readonly byte[] ZPopMaxName = "ZPOPMAX"u8.ToArray();

    // ----- lookups and shared replies -----

    /// <summary>Looks a sorted set up for reading. Returns false after replying WRONGTYPE; null when missing.</summary>
    internal static bool TryRead(CommandContext ctx, int keyIndex, out SortedSetValue? zset)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[keyIndex]);
        zset = null;
        if (idx < 0) return true;
        if (db.TypeAt(idx) != DataType.ZSet)
        {
            ctx.WrongType();
            return false;
        }
        zset = (SortedSetValue)db.ObjectAt(idx)!;
        return true;
    }

    /// <summary>Looks a sorted set up for writing: index or -1, false after replying WRONGTYPE.</summary>
    internal static bool TryWrite(CommandContext ctx, ReadOnlySpan<byte> key, out int idx, out SortedSetValue? zset)
    {
        var db = ctx.Db;
        idx = db.Lookup(key, LookupFlags.Write);
        zset = null;
        if (idx < 0) return true;
        if (db.TypeAt(idx) != DataType.ZSet)
        {
            ctx.WrongType();
            return false;
        }
        zset = (SortedSetValue)db.ObjectAt(idx)!;
        return true;
    }

    /// <summary>After removing elements: deletes the key when it became empty, else re-measures it.</summary>
    private static void AfterRemoval(CommandContext ctx, int idx, SortedSetValue zset, long memoryBefore, ReadOnlySpan<byte> key, ReadOnlySpan<byte> evt)
    {
        var db = ctx.Db;
        ctx.Notify(KeyspaceEventFlags.Zset, evt, key);
        if (zset.Count == 0)
        {
            db.DeleteAt(idx);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, key);
        }
        else db.ValueEdited(idx, memoryBefore);
    }

    /// <summary>Valkey's getLongFromObjectOrReply for an argument.</summary>
    private static bool TryGetLong(CommandContext ctx, int index, out long value) => ctx.TryGetLong(index, out value);

    /// <summary>Valkey's getRangeLongFromObjectOrReply with a custom message for both failures.</summary>
    private static bool TryGetRangeLong(CommandContext ctx, int index, long min, long max, string message, out long value)
    {
        if (NumberParser.TryParseLong(ctx.Args[index], out value) && value >= min && value <= max) return true;
        ctx.Error(message);
        return false;
    }

    // ----- ZADD / ZINCRBY -----

    private static void ZAdd(CommandContext ctx) => AddGeneric(ctx, ZAddFlags.None);

    private static void ZIncrBy(CommandContext ctx) => AddGeneric(ctx, ZAddFlags.Incr);

    private static void AddGeneric(CommandContext ctx, ZAddFlags flags)
    {
        var args = ctx.Args;
        bool ch = false;
        int scoreIdx = 2;
        for (; scoreIdx < args.Count; scoreIdx++)
        {
            if (args.Is(scoreIdx, "NX"u8)) flags |= ZAddFlags.NX;
            else if (args.Is(scoreIdx, "XX"u8)) flags |= ZAddFlags.XX;
            else if (args.Is(scoreIdx, "CH"u8)) ch = true;
            else if (args.Is(scoreIdx, "INCR"u8)) flags |= ZAddFlags.Incr;
            else if (args.Is(scoreIdx, "GT"u8)) flags |= ZAddFlags.GT;
            else if (args.Is(scoreIdx, "LT"u8)) flags |= ZAddFlags.LT;
            else break;
        }
        bool incr = (flags & ZAddFlags.Incr) != 0, nx = (flags & ZAddFlags.NX) != 0, xx = (flags & ZAddFlags.XX) != 0;
        bool gt = (flags & ZAddFlags.GT) != 0, lt = (flags & ZAddFlags.LT) != 0;
        int elements = args.Count - scoreIdx;
        if (elements % 2 != 0 || elements == 0)
        {
            ctx.SyntaxError();
            return;
        }
        elements /= 2;
        if (nx && xx)
        {
            ctx.Error("ERR XX and NX options at the same time are not compatible");
            return;
        }
        if ((gt && nx) || (lt && nx) || (gt && lt))
        {
            ctx.Error("ERR GT, LT, and/or NX options at the same time are not compatible");
            return;
        }
        if (incr && elements > 1)
        {
            ctx.Error("ERR INCR option supports a single increment-element pair");
            return;
        }

        // Every score is parsed before anything changes: the command applies fully or not at all.
        Span<double> scores = elements <= 64 ? stackalloc double[elements] : new double[elements];
        long longest = 0;
        for (int j = 0; j < elements; j++)
        {
            if (!CFloat.TryParseStrict(args[scoreIdx + 2 * j], out scores[j]))
            {
                ctx.NotFloat();
                return;
            }
            longest = Math.Max(longest, args[scoreIdx + 2 * j + 1].Length);
        }

        var db = ctx.Db;
        var cfg = ctx.Server.Config;
        if (!TryWrite(ctx, args[1], out int idx, out var zset)) return;
        long before = 0;
        bool created = false;
        long added = 0, updated = 0, processed = 0;
        double score = 0;
        if (zset is null)
        {
            if (xx)
            {
                ReplyAdd(ctx, incr, ch, processed, score, added, updated);
                return;
            }
            zset = SortedSetValue.Create(elements, longest, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue, args[1]);
            created = true;
        }
        else
        {
            before = db.MemoryAt(idx);
            zset.MaybeConvert(elements, longest, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue);
        }

        bool nanError = false;
        for (int j = 0; j < elements; j++)
        {
            var result = zset.Add(scores[j], args[scoreIdx + 2 * j + 1], flags, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue, out double newScore);
            if (result == ZAddResult.NaN)
            {
                nanError = true;
                break;
            }
            if (result == ZAddResult.Added) added++;
            if (result == ZAddResult.Updated) updated++;
            if (result != ZAddResult.Nop) processed++;
            score = newScore;
        }

        if (created)
        {
            if (zset.Count > 0) db.AddObject(args[1], zset);
        }
        else if (added + updated > 0)
        {
            db.ValueEdited(idx, before);
        }
        else
        {
            db.ValueResized(idx, before); // an up-front conversion may have happened without a change
        }
        if (added + updated > 1) ctx.AddDirty(added + updated - 1);
        if (added + updated > 0) ctx.Notify(KeyspaceEventFlags.Zset, incr ? "zincr"u8 : "zadd"u8, args[1]);
        if (nanError)
        {
            ctx.Error("ERR resulting score is not a number (NaN)");
            return;
        }
        ReplyAdd(ctx, incr, ch, processed, score, added, updated);
    }

    private static void ReplyAdd(CommandContext ctx, bool incr, bool ch, long processed, double score, long added, long updated)
    {
        if (incr)
        {
            if (processed > 0) ctx.Reply.WriteDouble(score);
            else ctx.Reply.WriteNull();
        }
        else
        {
            ctx.Reply.WriteInteger(ch ? added + updated : added);
        }
    }

    // ----- simple reads and ZREM -----

    private static void ZRem(CommandContext ctx)
    {
        if (!TryWrite(ctx, ctx.Args[1], out int idx, out var zset)) return;
        if (zset is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var db = ctx.Db;
        long before = db.MemoryAt(idx);
        long deleted = 0;
        for (int j = 2; j < ctx.Args.Count; j++)
        {
            if (zset.Remove(ctx.Args[j])) deleted++;
            if (zset.Count == 0) break;
        }
        if (deleted > 0) AfterRemoval(ctx, idx, zset, before, ctx.Args[1], "zrem"u8);
        if (deleted > 1) ctx.AddDirty(deleted - 1);
        ctx.Reply.WriteInteger(deleted);
    }

    private static void ZCard(CommandContext ctx)
    {
        if (!TryRead(ctx, 1, out var zset)) return;
        ctx.Reply.WriteInteger(zset?.Count ?? 0);
    }

    private static void ZScore(CommandContext ctx)
    {
        if (!TryRead(ctx, 1, out var zset)) return;
        if (zset is not null && zset.TryGetScore(ctx.Args[2], out double score)) ctx.Reply.WriteDouble(score);
        else ctx.Reply.WriteNull();
    }

    private static void ZMScore(CommandContext ctx)
    {
        if (!TryRead(ctx, 1, out var zset)) return;
        ctx.Reply.WriteArray(ctx.Args.Count - 2);
        for (int j = 2; j < ctx.Args.Count; j++)
        {
            if (zset is not null && zset.TryGetScore(ctx.Args[j], out double score)) ctx.Reply.WriteDouble(score);
            else ctx.Reply.WriteNull();
        }
    }

    private static void ZRank(CommandContext ctx, bool reverse)
    {
        var args = ctx.Args;
        if (args.Count > 4)
        {
            ctx.WrongArity();
            return;
        }
        bool withScore = false;
        if (args.Count > 3)
        {
            if (!args.Is(3, "WITHSCORE"u8))
            {
                ctx.SyntaxError();
                return;
            }
            withScore = true;
        }
        if (!TryRead(ctx, 1, out var zset)) return;
        double score = 0;
        long rank = zset is null ? -1 : zset.Rank(args[2], out score);
        if (rank < 0)
        {
            if (withScore) ctx.Reply.WriteNullArray();
            else ctx.Reply.WriteNull();
            return;
        }
        if (reverse) rank = zset!.Count - 1 - rank;
        if (withScore) ctx.Reply.WriteArray(2);
        ctx.Reply.WriteInteger(rank);
        if (withScore) ctx.Reply.WriteDouble(score);
    }

    private static void ZCount(CommandContext ctx)
    {
        if (!ScoreRange.TryParse(ctx.Args[2], ctx.Args[3], out var range))
        {
            ctx.Error("ERR min or max is not a float");
            return;
        }
        if (!TryRead(ctx, 1, out var zset)) return;
        if (zset is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        ctx.Reply.WriteInteger(CountInRange(zset, range));
    }

    private static void ZLexCount(CommandContext ctx)
    {
        if (!LexRange.TryParse(ctx.Args[2], ctx.Args[3], out var range))
        {
            ctx.Error("ERR min or max not valid string range item");
            return;
        }
        if (!TryRead(ctx, 1, out var zset)) return;
        if (zset is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        ctx.Reply.WriteInteger(CountInRange(zset, range));
    }

    /// <summary>
    /// ZCOUNT / ZLEXCOUNT as Valkey computes them: from the first element in range, counting while
    /// elements stay below the maximum (packed), or from the ranks of the first and last elements in
    /// range (skiplist).
    /// </summary>
    private static long CountInRange<T>(SortedSetValue zset, T spec) where T : IRangeSpec
    {
        if (zset.IsPacked)
        {
            long first = zset.FirstInRange(spec);
            if (first < 0) return 0;
            long count = 0;
            var it = zset.IterateFrom(first, false);
            while (it.MoveNext() && spec.LteMax(it.Member, it.Score)) count++;
            return count;
        }
        long f = zset.NthInRange(spec, 0);
        if (f < 0) return 0;
        long length = zset.Count;
        long n = length - f;
        long l = zset.NthInRange(spec, -1);
        if (l >= 0) n -= length - 1 - l;
        return n;
    }

    // ----- ranges -----

    private enum RangeType { Auto, Rank, Score, Lex }

    private enum Direction { Auto, Forward, Reverse }

    /// <summary>Where range results go: the client (ZRANGE...) or a new sorted set (ZRANGESTORE).</summary>
    private struct RangeOutput
    {
        private readonly CommandContext _ctx;
        private readonly byte[]? _storeKey;
        private SortedSetValue? _dst;
        private int _deferred;
        public bool WithScores;
        public long Count;

        public RangeOutput(CommandContext ctx, byte[]? storeKey)
        {
            _ctx = ctx;
            _storeKey = storeKey;
            _dst = null;
            _deferred = -1;
            WithScores = storeKey is not null;
            Count = 0;
        }

        /// <summary>Starts the result; <paramref name="length"/> is its size when known, else -1.</summary>
        public void Begin(long length)
        {
            if (_storeKey is not null)
            {
                var cfg = _ctx.Server.Config;
                _dst = SortedSetValue.Create(Math.Max(length, 0), 0, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue);
                return;
            }
            if (length > 0) _ctx.Reply.WriteArray(WithScores && !_ctx.Reply.IsResp3 ? length * 2 : length);
            else _deferred = _ctx.Reply.BeginDeferred();
        }

        public void Emit(ReadOnlySpan<byte> member, double score)
        {
            Count++;
            if (_dst is not null)
            {
                var cfg = _ctx.Server.Config;
                _dst.Add(score, member, ZAddFlags.None, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue, out _);
                return;
            }
            var reply = _ctx.Reply;
            if (WithScores && reply.IsResp3) reply.WriteArray(2);
            reply.WriteBulk(member);
            if (WithScores) reply.WriteDouble(score);
        }

        public void Finish()
        {
            if (_storeKey is not null)
            {
                StoreResult(_ctx, _storeKey, Count > 0 ? _dst : null, "zrangestore"u8);
                return;
            }
            _ctx.Reply.EndDeferred(_deferred, WithScores && !_ctx.Reply.IsResp3 ? Count * 2 : Count);
        }
    }

    /// <summary>Stores a computed sorted set at a destination (replacing it and its TTL), or deletes the destination when empty; replies the size.</summary>
    internal static void StoreResult(CommandContext ctx, byte[] key, SortedSetValue? result, ReadOnlySpan<byte> evt)
    {
        var db = ctx.Db;
        if (result is not null && result.Count > 0)
        {
            db.SetObject(key, result);
            ctx.Reply.WriteInteger(result.Count);
            ctx.Notify(KeyspaceEventFlags.Zset, evt, key);
            return;
        }
        ctx.Reply.WriteInteger(0);
        int idx = db.Lookup(key, LookupFlags.Write | LookupFlags.NoTouch);
        if (idx < 0) return;
        db.DeleteAt(idx);
        ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, key);
    }

    /// <summary>
    /// ZRANGE, ZRANGESTORE and the older Z[REV]RANGE[BYSCORE|BYLEX] forms (Valkey's zrangeGenericCommand):
    /// &lt;src&gt; &lt;min&gt; &lt;max&gt; [BYSCORE|BYLEX] [REV] [WITHSCORES] [LIMIT offset count].
    /// </summary>
    private static void RangeGeneric(CommandContext ctx, int keyIndex, bool store, RangeType type, Direction direction)
    {
        var args = ctx.Args;
        int minIdx = keyIndex + 1, maxIdx = keyIndex + 2;
        bool withScores = false;
        long offset = 0, limit = -1;
        for (int j = keyIndex + 3; j < args.Count; j++)
        {
            int left = args.Count - j - 1;
            if (!store && args.Is(j, "WITHSCORES"u8)) withScores = true;
            else if (args.Is(j, "LIMIT"u8) && left >= 2)
            {
                if (!TryGetLong(ctx, j + 1, out offset) || !TryGetLong(ctx, j + 2, out limit)) return;
                j += 2;
            }
            else if (direction == Direction.Auto && args.Is(j, "REV"u8)) direction = Direction.Reverse;
            else if (type == RangeType.Auto && args.Is(j, "BYLEX"u8)) type = RangeType.Lex;
            else if (type == RangeType.Auto && args.Is(j, "BYSCORE"u8)) type = RangeType.Score;
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (direction == Direction.Auto) direction = Direction.Forward;
        if (type == RangeType.Auto) type = RangeType.Rank;
        if (limit != -1 && type == RangeType.Rank)
        {
            ctx.Error("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX");
            return;
        }
        if (withScores && type == RangeType.Lex)
        {
            ctx.Error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
            return;
        }
        bool reverse = direction == Direction.Reverse;
        if (reverse && type != RangeType.Rank) (minIdx, maxIdx) = (maxIdx, minIdx);

        long start = 0, end = 0;
        ScoreRange scoreRange = default;
        LexRange lexRange = default;
        switch (type)
        {
            case RangeType.Rank:
                if (!TryGetLong(ctx, minIdx, out start) || !TryGetLong(ctx, maxIdx, out end)) return;
                break;
            case RangeType.Score:
                if (!ScoreRange.TryParse(args[minIdx], args[maxIdx], out scoreRange))
                {
                    ctx.Error("ERR min or max is not a float");
                    return;
                }
                break;
            case RangeType.Lex:
                if (!LexRange.TryParse(args[minIdx], args[maxIdx], out lexRange))
                {
                    ctx.Error("ERR min or max not valid string range item");
                    return;
                }
                break;
        }

        var output = new RangeOutput(ctx, store ? args.ToArray(1) : null);
        if (withScores) output.WithScores = true;
        if (!TryRead(ctx, keyIndex, out var zset)) return;
        if (zset is null)
        {
            if (store)
            {
                output.Begin(-1);
                output.Finish();
            }
            else
            {
                ctx.Reply.WriteArray(0);
            }
            return;
        }

        switch (type)
        {
            case RangeType.Rank:
                EmitRankRange(zset, start, end, reverse, ref output);
                break;
            case RangeType.Score:
                EmitRange(zset, scoreRange, offset, limit, reverse, ref output);
                break;
            case RangeType.Lex:
                EmitRange(zset, lexRange, offset, limit, reverse, ref output);
                break;
        }
    }

    /// <summary>Normalises ZRANGE-style indexes (negative from the end). False when the range is empty.</summary>
    private static bool ClampRankRange(long length, ref long start, ref long end)
    {
        if (start < 0) start = length + start;
        if (end < 0) end = length + end;
        if (start < 0) start = 0;
        if (start > end || start >= length) return false;
        if (end >= length) end = length - 1;
        return true;
    }

    private static void EmitRankRange(SortedSetValue zset, long start, long end, bool reverse, ref RangeOutput output)
    {
        long length = zset.Count;
        if (!ClampRankRange(length, ref start, ref end))
        {
            output.Begin(0);
            output.Finish();
            return;
        }
        long n = end - start + 1;
        output.Begin(n);
        var it = zset.IterateFrom(reverse ? length - 1 - start : start, reverse);
        while (n-- > 0 && it.MoveNext()) output.Emit(it.Member, it.Score);
        output.Finish();
    }

    /// <summary>
    /// Emits the elements of a score or lex interval after LIMIT's offset, at most
    /// <paramref name="limit"/> of them (negative: all), the way Valkey walks: from the first (last,
    /// reversed) element in range, while elements stay within the far end. A packed set skips
    /// <paramref name="offset"/> elements (a negative one runs off the end: nothing); a skiplist
    /// starts at zslNthInRange(offset), where a negative offset counts from the far end.
    /// </summary>
    private static void EmitRange<T>(SortedSetValue zset, T spec, long offset, long limit, bool reverse, ref RangeOutput output)
        where T : IRangeSpec
    {
        output.Begin(-1);
        long length = zset.Count;
        long start = -1;
        if (zset.IsPacked)
        {
            if (offset >= 0)
            {
                long first = reverse ? zset.LastInRange(spec) : zset.FirstInRange(spec);
                if (first >= 0) start = reverse ? first - offset : (offset < length - first ? first + offset : -1);
            }
        }
        else
        {
            long n = !reverse ? offset : offset == long.MinValue ? long.MaxValue : -offset - 1;
            start = zset.NthInRange(spec, n);
        }
        if (start >= 0 && start < length)
        {
            var it = zset.IterateFrom(start, reverse);
            while (limit-- != 0 && it.MoveNext())
            {
                if (reverse ? !spec.GteMin(it.Member, it.Score) : !spec.LteMax(it.Member, it.Score)) break;
                output.Emit(it.Member, it.Score);
            }
        }
        output.Finish();
    }

    // ----- ZREMRANGEBY* -----

    private static void RemoveRange(CommandContext ctx, RangeType type)
    {
        long start = 0, end = 0;
        ScoreRange scoreRange = default;
        LexRange lexRange = default;
        switch (type)
        {
            case RangeType.Rank:
                if (!TryGetLong(ctx, 2, out start) || !TryGetLong(ctx, 3, out end)) return;
                break;
            case RangeType.Score:
                if (!ScoreRange.TryParse(ctx.Args[2], ctx.Args[3], out scoreRange))
                {
                    ctx.Error("ERR min or max is not a float");
                    return;
                }
                break;
            default:
                if (!LexRange.TryParse(ctx.Args[2], ctx.Args[3], out lexRange))
                {
                    ctx.Error("ERR min or max not valid string range item");
                    return;
                }
                break;
        }
        if (!TryWrite(ctx, ctx.Args[1], out int idx, out var zset)) return;
        if (zset is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        switch (type)
        {
            case RangeType.Rank:
                if (!ClampRankRange(zset.Count, ref start, ref end))
                {
                    ctx.Reply.WriteInteger(0);
                    return;
                }
                break;
            case RangeType.Score:
                DeletionSpan(zset, scoreRange, out start, out end);
                break;
            default:
                DeletionSpan(zset, lexRange, out start, out end);
                break;
        }
        var db = ctx.Db;
        long before = db.MemoryAt(idx);
        long deleted = zset.RemoveRange(start, end);
        if (deleted > 0)
            AfterRemoval(ctx, idx, zset, before, ctx.Args[1],
                type == RangeType.Rank ? "zremrangebyrank"u8 : type == RangeType.Score ? "zremrangebyscore"u8 : "zremrangebylex"u8);
        if (deleted > 1) ctx.AddDirty(deleted - 1);
        ctx.Reply.WriteInteger(deleted);
    }

    /// <summary>The ranks a ZREMRANGEBYSCORE/LEX deletes: from the deletion start while elements stay within the maximum.</summary>
    private static void DeletionSpan<T>(SortedSetValue zset, T spec, out long start, out long end) where T : IRangeSpec
    {
        start = zset.DeletionStart(spec);
        end = start - 1;
        if (start < 0) return;
        var it = zset.IterateFrom(start, false);
        while (it.MoveNext() && spec.LteMax(it.Member, it.Score)) end++;
    }

    // ----- pops -----

    private static void ZPopMinMax(CommandContext ctx, bool max)
    {
        if (ctx.Args.Count > 3)
        {
            ctx.SyntaxError();
            return;
        }
        long count = -1;
        if (ctx.Args.Count == 3)
        {
            if (!NumberParser.TryParseLong(ctx.Args[2], out count))
            {
                ctx.NotInteger();
                return;
            }
            if (count < 0)
            {
                ctx.Error("ERR value is out of range, must be positive");
                return;
            }
        }
        bool nested = ctx.Reply.IsResp3 && count != -1;
        Pop(ctx, 1, 1, max, emitKey: false, count, nested, nullWhenEmpty: false);
    }

    /// <summary>Valkey's genericZpopCommand over keys [first, first+keyCount): pops from the first existing sorted set.</summary>
    internal static void Pop(CommandContext ctx, int first, int keyCount, bool max, bool emitKey, long count, bool nested, bool nullWhenEmpty)
    {
        var db = ctx.Db;
        int idx = -1;
        SortedSetValue? zset = null;
        int keyIdx = first;
        for (int k = 0; k < keyCount; k++)
        {
            keyIdx = first + k;
            if (!TryWrite(ctx, ctx.Args[keyIdx], out idx, out zset)) return;
            if (zset is not null) break;
        }
        var reply = ctx.Reply;
        if (zset is null)
        {
            if (nullWhenEmpty) reply.WriteNullArray();
            else reply.WriteArray(0);
            return;
        }
        if (count == 0)
        {
            reply.WriteArray(0);
            return;
        }
        if (count == -1) count = 1;
        long length = zset.Count;
        long n = Math.Min(count, length);
        if (!nested && !emitKey) reply.WriteArray(n * 2);
        else if (nested && !emitKey) reply.WriteArray(n);
        else if (!nested && emitKey)
        {
            reply.WriteArray(n * 2 + 1);
            reply.WriteBulk(ctx.Args[keyIdx]);
        }
        else
        {
            reply.WriteArray(2);
            reply.WriteBulk(ctx.Args[keyIdx]);
            reply.WriteArray(n);
        }
        long before = db.MemoryAt(idx);
        var it = zset.IterateFrom(max ? length - 1 : 0, max);
        for (long i = 0; i < n && it.MoveNext(); i++)
        {
            if (nested) reply.WriteArray(2);
            reply.WriteBulk(it.Member);
            reply.WriteDouble(it.Score);
        }
        if (max) zset.RemoveRange(length - n, length - 1);
        else zset.RemoveRange(0, n - 1);
        // ZMPOP replicates as the ZPOPMIN/ZPOPMAX with COUNT that it amounted to.
        if (emitKey && ctx.Propagating)
            ctx.PropagateAs(max ? ZPopMaxName : ZPopMinName, ctx.Args.ToArray(keyIdx), NumberFormat.LongToBytes(n));
        AfterRemoval(ctx, idx, zset, before, ctx.Args[keyIdx], max ? "zpopmax"u8 : "zpopmin"u8);
        if (n > 1) ctx.AddDirty(n - 1); // one change per popped element, as Valkey counts
    }

    private static void ZMPop(CommandContext ctx)
    {
        var args = ctx.Args;
        if (!TryGetRangeLong(ctx, 1, 1, long.MaxValue, "ERR numkeys should be greater than 0", out long numKeys)) return;
        if (numKeys >= args.Count - 2)
        {
            ctx.SyntaxError();
            return;
        }
        int whereIdx = 2 + (int)numKeys;
        bool max;
        if (args.Is(whereIdx, "MIN"u8)) max = false;
        else if (args.Is(whereIdx, "MAX"u8)) max = true;
        else
        {
            ctx.SyntaxError();
            return;
        }
        long count = -1;
        for (int j = whereIdx + 1; j < args.Count; j++)
        {
            int moreArgs = args.Count - 1 - j;
            if (count == -1 && args.Is(j, "COUNT"u8) && moreArgs > 0)
            {
                j++;
                if (!TryGetRangeLong(ctx, j, 1, long.MaxValue, "ERR count should be greater than 0", out count)) return;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (count == -1) count = 1;
        Pop(ctx, 2, (int)numKeys, max, emitKey: true, count, nested: true, nullWhenEmpty: true);
    }

    // ----- ZRANDMEMBER -----

    private static void ZRandMember(CommandContext ctx)
    {
        var args = ctx.Args;
        if (args.Count >= 3)
        {
            if (ctx.TryGetRandomCount("WITHSCORES"u8, out long count, out bool withScores)) RandMemberWithCount(ctx, count, withScores);
            return;
        }
        if (!TryRead(ctx, 1, out var zset)) return;
        if (zset is null)
        {
            ctx.Reply.WriteNull();
            return;
        }
        zset.RandomElement(ctx.Db.Context.Random, out var member, out _);
        ctx.Reply.WriteBulk(member);
    }

    private static void RandMemberWithCount(CommandContext ctx, long l, bool withScores)
    {
        if (!TryRead(ctx, 1, out var zset)) return;
        var reply = ctx.Reply;
        var random = ctx.Db.Context.Random;
        bool resp3 = reply.IsResp3;
        void Emit(ReadOnlySpan<byte> m, double s)
        {
            if (withScores && resp3) reply.WriteArray(2);
            reply.WriteBulk(m);
            if (withScores) reply.WriteDouble(s);
        }
        RandomReply.WithCount(reply, l, withScores, zset?.Count ?? 0,
            count => zset!.RandomWithRepetition(random, count, Emit),
            () =>
            {
                var it = zset!.IterateFrom(zset.Count - 1, true);
                while (it.MoveNext()) Emit(it.Member, it.Score);
            },
            count => zset!.RandomDistinct(random, count, Emit));
    }

    // ----- ZUNION / ZINTER / ZDIFF / ZINTERCARD and their STORE forms -----

    private enum SetOp { Union, Inter, Diff }

    private enum Aggregate { Sum, Min, Max }

    /// <summary>One input of a set operation: a sorted set, a plain set (every score 1), or nothing (missing key).</summary>
    private sealed class Operand
    {
        public SortedSetValue? ZSet;
        public SetValue? Set;
        public double Weight = 1;

        public object? Subject => (object?)ZSet ?? Set;

        public long Count => ZSet?.Count ?? Set?.Count ?? 0;

        public bool TryGetScore(ReadOnlySpan<byte> member, out double score)
        {
            if (ZSet is not null) return ZSet.TryGetScore(member, out score);
            score = 1;
            return Set is not null && Set.Contains(member);
        }

        public void ForEach(Action<ReadOnlySpan<byte>, double> visit)
        {
            if (ZSet is not null)
            {
                // Highest first, the order Valkey's zuiNext walks a sorted set in.
                var it = ZSet.IterateFrom(ZSet.Count - 1, true);
                while (it.MoveNext()) visit(it.Member, it.Score);
                return;
            }
            if (Set is null) return;
            Span<byte> scratch = stackalloc byte[24];
            foreach (var member in Set) visit(member.AsSpan(scratch), 1);
        }
    }

    private static void SetOperation(CommandContext ctx, byte[]? dstKey, int numKeysIndex, SetOp op, bool cardinalityOnly)
    {
        var args = ctx.Args;
        if (!TryGetLong(ctx, numKeysIndex, out long setNum)) return;
        if (setNum < 1)
        {
            ctx.Error($"ERR at least 1 input key is needed for '{ctx.Command.Name}' command");
            return;
        }
        if (setNum > args.Count - (numKeysIndex + 1))
        {
            ctx.SyntaxError();
            return;
        }
        var db = ctx.Db;
        var src = new Operand[setNum];
        int j = numKeysIndex + 1;
        for (int i = 0; i < setNum; i++, j++)
        {
            src[i] = new Operand();
            int idx = db.Lookup(args[j]);
            if (idx < 0) continue;
            var type = db.TypeAt(idx);
            if (type == DataType.ZSet) src[i].ZSet = (SortedSetValue)db.ObjectAt(idx)!;
            else if (type == DataType.Set) src[i].Set = (SetValue)db.ObjectAt(idx)!;
            else
            {
                ctx.WrongType();
                return;
            }
        }

        var aggregate = Aggregate.Sum;
        bool withScores = false;
        long limit = 0;
        int remaining = args.Count - j;
        while (remaining > 0)
        {
            if (op != SetOp.Diff && !cardinalityOnly && remaining >= setNum + 1 && args.Is(j, "WEIGHTS"u8))
            {
                j++;
                remaining--;
                for (int i = 0; i < setNum; i++, j++, remaining--)
                {
                    if (!CFloat.TryParseStrict(args[j], out src[i].Weight))
                    {
                        ctx.Error("ERR weight value is not a float");
                        return;
                    }
                }
            }
            else if (op != SetOp.Diff && !cardinalityOnly && remaining >= 2 && args.Is(j, "AGGREGATE"u8))
            {
                j++;
                remaining--;
                if (args.Is(j, "SUM"u8)) aggregate = Aggregate.Sum;
                else if (args.Is(j, "MIN"u8)) aggregate = Aggregate.Min;
                else if (args.Is(j, "MAX"u8)) aggregate = Aggregate.Max;
                else
                {
                    ctx.SyntaxError();
                    return;
                }
                j++;
                remaining--;
            }
            else if (remaining >= 1 && dstKey is null && !cardinalityOnly && args.Is(j, "WITHSCORES"u8))
            {
                j++;
                remaining--;
                withScores = true;
            }
            else if (cardinalityOnly && remaining >= 2 && args.Is(j, "LIMIT"u8))
            {
                j++;
                remaining--;
                if (!TryGetRangeLong(ctx, j, 0, long.MaxValue, "ERR LIMIT can't be negative", out limit)) return;
                j++;
                remaining--;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        // Smallest inputs first (intersection walks the smallest one).
        if (op != SetOp.Diff)
        {
            var counts = new long[src.Length];
            for (int i = 0; i < src.Length; i++) counts[i] = src[i].Count;
            var order = Enumerable.Range(0, src.Length).OrderBy(i => counts[i]).ToArray();
            src = order.Select(i => src[i]).ToArray();
        }

        var cfg = ctx.Server.Config;
        // The result is built as a skiplist (ordered, with member lookups), pre-sized like Valkey's:
        // a union is at least as large as its largest input.
        var result = new SortedSetValue();
        result.ConvertToSkiplist(op == SetOp.Union ? src[^1].Count : 0);
        long cardinality = 0;
        long maxLength = 0;

        if (op == SetOp.Inter)
        {
            if (src[0].Count > 0)
            {
                bool stop = false;
                src[0].ForEach((member, s0) =>
                {
                    if (stop) return;
                    double score = src[0].Weight * s0;
                    if (double.IsNaN(score)) score = 0;
                    int k;
                    for (k = 1; k < src.Length; k++)
                    {
                        double value;
                        if (ReferenceEquals(src[k].Subject, src[0].Subject)) value = s0 * src[k].Weight;
                        else if (src[k].TryGetScore(member, out value)) value *= src[k].Weight;
                        else break;
                        Accumulate(ref score, value, aggregate);
                    }
                    if (k != src.Length) return;
                    if (cardinalityOnly)
                    {
                        cardinality++;
                        if (limit > 0 && cardinality >= limit) stop = true;
                        return;
                    }
                    result.Add(score, member, ZAddFlags.None, 0, 0, out _);
                    maxLength = Math.Max(maxLength, member.Length);
                });
            }
        }
        else if (op == SetOp.Union)
        {
            var scores = new Dictionary<byte[], double>(ByteArrayComparer.Instance);
            var lookup = scores.GetAlternateLookup<ReadOnlySpan<byte>>();
            foreach (var operand in src)
            {
                if (operand.Count == 0) continue;
                operand.ForEach((member, s) =>
                {
                    double score = operand.Weight * s;
                    if (double.IsNaN(score)) score = 0;
                    if (lookup.TryGetValue(member, out double existing))
                    {
                        Accumulate(ref existing, score, aggregate);
                        lookup[member] = existing;
                    }
                    else
                    {
                        lookup[member] = score;
                        maxLength = Math.Max(maxLength, member.Length);
                    }
                });
            }
            foreach (var (member, score) in scores) result.Add(score, member, ZAddFlags.None, 0, 0, out _);
        }
        else
        {
            src[0].ForEach((member, s0) =>
            {
                for (int k = 1; k < src.Length; k++)
                    if (src[k].TryGetScore(member, out _)) return;
                result.Add(s0, member, ZAddFlags.None, 0, 0, out _);
                maxLength = Math.Max(maxLength, member.Length);
            });
        }

        if (dstKey is not null)
        {
            if (result.Count > 0) result.ConvertToPackedIfFits(cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue);
            StoreResult(ctx, dstKey, result, op == SetOp.Union ? "zunionstore"u8 : op == SetOp.Inter ? "zinterstore"u8 : "zdiffstore"u8);
            return;
        }
        if (cardinalityOnly)
        {
            ctx.Reply.WriteInteger(cardinality);
            return;
        }
        var reply = ctx.Reply;
        long length = result.Count;
        reply.WriteArray(withScores && !reply.IsResp3 ? length * 2 : length);
        var it = result.IterateFrom(0, false);
        while (it.MoveNext())
        {
            if (withScores && reply.IsResp3) reply.WriteArray(2);
            reply.WriteBulk(it.Member);
            if (withScores) reply.WriteDouble(it.Score);
        }
    }

    private static void Accumulate(ref double target, double value, Aggregate aggregate)
    {
        switch (aggregate)
        {
            case Aggregate.Sum:
                target += value;
                if (double.IsNaN(target)) target = 0;
                break;
            case Aggregate.Min:
                target = value < target ? value : target;
                break;
            case Aggregate.Max:
                target = value > target ? value : target;
                break;
        }
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj) => KeyHash.Hash(obj);

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate) => KeyHash.Hash(alternate);

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }

    // ----- ZSCAN -----

    private static void ZScan(CommandContext ctx)
    {
        if (!CollectionScan.TryParseCursor(ctx, ctx.Args[2], out ulong cursor)) return;
        if (!TryRead(ctx, 1, out var zset)) return;
        if (zset is null)
        {
            CollectionScan.WriteEmpty(ctx);
            return;
        }
        if (!CollectionScan.TryParseOptions(ctx, 3, isHash: false, out var options)) return;
        var items = new List<byte[]>();
        var pattern = options.Pattern;
        bool onlyKeys = options.OnlyKeys;
        bool packed = zset.IsPacked;
        ulong next = zset.Scan(cursor, options.Count, (m, s) =>
        {
            if (pattern is not null && !GlobPattern.Match(pattern, m)) return;
            items.Add(m.ToArray());
            if (onlyKeys) return;
            // A listpack holds the score as text written by d2string; the skiplist path prints "%.17Lg".
            items.Add(packed ? NumberFormat.DoubleToBytes(s) : FormatG17(s));
        });
        CollectionScan.WriteReply(ctx, next, items);
    }

    /// <summary>printf("%.17g") of a double, as Valkey's ld2string in LD_STR_AUTO mode prints skiplist scores.</summary>
    private static byte[] FormatG17(double v)
    {
        if (double.IsPositiveInfinity(v)) return "inf"u8.ToArray();
        if (double.IsNegativeInfinity(v)) return "-inf"u8.ToArray();
        if (double.IsNaN(v)) return "nan"u8.ToArray();
        if (v == 0) return double.IsNegative(v) ? "-0"u8.ToArray() : "0"u8.ToArray();
        string s = v.ToString("G17", CultureInfo.InvariantCulture).Replace('E', 'e');
        return System.Text.Encoding.ASCII.GetBytes(s);
    }
}
