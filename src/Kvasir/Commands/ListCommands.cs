using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// List commands (Valkey's t_list.c) other than the blocking ones: pushes, pops, ranges, edits,
/// LPOS, LMOVE/RPOPLPUSH and LMPOP. A list emptied by a command is deleted.
/// </summary>
public static class ListCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("lpush", ctx => Push(ctx, head: true, onlyExisting: false));
        t.Bind("rpush", ctx => Push(ctx, head: false, onlyExisting: false));
        t.Bind("lpushx", ctx => Push(ctx, head: true, onlyExisting: true));
        t.Bind("rpushx", ctx => Push(ctx, head: false, onlyExisting: true));
        t.Bind("lpop", ctx => Pop(ctx, head: true));
        t.Bind("rpop", ctx => Pop(ctx, head: false));
        t.Bind("llen", Llen);
        t.Bind("lrange", Lrange);
        t.Bind("lindex", Lindex);
        t.Bind("lset", Lset);
        t.Bind("linsert", Linsert);
        t.Bind("lrem", Lrem);
        t.Bind("ltrim", Ltrim);
        t.Bind("lpos", Lpos);
        t.Bind("lmove", Lmove);
        t.Bind("rpoplpush", Rpoplpush);
        t.Bind("lmpop", Lmpop);
    }

    /// <summary>The node limits: list-max-listpack-size and the DEBUG packed threshold (its 1 GB default
    /// means "not set": elements then get their own node when larger than a node may be).</summary>
    private static readonly byte[] LpopName = "LPOP"u8.ToArray();
    private static readonly byte[] RpopName = "RPOP"u8.ToArray();

    private static ListLimits Fill(CommandContext ctx)
    {
        long threshold = ctx.Server.Debug.QuicklistPackedThreshold;
        return new ListLimits(ctx.Server.Config.ListMaxListpackSize, threshold == 1L << 30 ? 0 : threshold);
    }

    /// <summary>The list at <paramref name="idx"/>, or null after replying WRONGTYPE.</summary>
    private static ListValue? AsList(CommandContext ctx, int idx)
    {
        if (ctx.Db.ObjectAt(idx) is ListValue list) return list;
        ctx.WrongType();
        return null;
    }

    /// <summary>After elements were removed: delete the emptied key, or let the list shrink its encoding.</summary>
    private static void ElementsRemoved(CommandContext ctx, int idx, ListValue list, long memoryBefore, long removed, ReadOnlySpan<byte> key, ReadOnlySpan<byte> evt)
    {
        var db = ctx.Db;
        ctx.Notify(KeyspaceEventFlags.List, evt, key);
        if (list.Count == 0)
        {
            // Settle the accounting of the edit first: the delete subtracts what the value measures now.
            db.ValueResized(idx, memoryBefore);
            db.DeleteAt(idx);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, key);
        }
        else
        {
            list.ConvertAfterShrink(Fill(ctx));
            db.ValueEdited(idx, memoryBefore);
        }
        if (removed > 1) ctx.AddDirty(removed - 1);
    }

    // ----- push -----

    private static void Push(CommandContext ctx, bool head, bool onlyExisting)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        var key = args[1];
        int idx = db.Lookup(key, LookupFlags.Write);
        ListValue? list;
        if (idx >= 0)
        {
            list = AsList(ctx, idx);
            if (list is null) return;
        }
        else
        {
            if (onlyExisting)
            {
                ctx.Reply.WriteInteger(0);
                return;
            }
            list = new ListValue();
        }
        var fill = Fill(ctx);
        long bytes = 0;
        for (int i = 2; i < args.Count; i++) bytes += args[i].Length;
        long before = idx >= 0 ? db.MemoryAt(idx) : 0;
        list.ConvertForGrowth(fill, bytes, args.Count - 2);
        for (int i = 2; i < args.Count; i++) list.Push(args[i], head, fill);
        if (idx >= 0) db.ValueEdited(idx, before);
        else db.AddObject(key, list);
        ctx.Notify(KeyspaceEventFlags.List, head ? "lpush"u8 : "rpush"u8, key);
        if (args.Count > 3) ctx.AddDirty(args.Count - 3);
        ctx.Reply.WriteInteger(list.Count);
    }

    // ----- pop -----

    private static void Pop(CommandContext ctx, bool head)
    {
        if (ctx.ArgCount > 3)
        {
            ctx.WrongArity();
            return;
        }
        bool hasCount = ctx.ArgCount == 3;
        long count = 0;
        if (hasCount && !ctx.TryGetNonNegative(2, null, out count)) return;

        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            if (hasCount) ctx.Reply.WriteNullArray();
            else ctx.Reply.WriteNull();
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null) return;
        if (hasCount && count == 0)
        {
            ctx.Reply.WriteEmptyArray();
            return;
        }
        long before = db.MemoryAt(idx);
        if (!hasCount)
        {
            list.PeekEnd(head).WriteBulk(ctx.Reply);
            list.RemoveEnd(head);
            ElementsRemoved(ctx, idx, list, before, 1, ctx.Args[1], PopEvent(head));
            return;
        }
        long n = PopRangeReply(ctx, list, head, count);
        ElementsRemoved(ctx, idx, list, before, n, ctx.Args[1], PopEvent(head));
    }

    private static ReadOnlySpan<byte> PopEvent(bool head) => head ? "lpop"u8 : "rpop"u8;

    /// <summary>Replies with up to <paramref name="count"/> elements from one end (in pop order) and removes them.</summary>
    private static long PopRangeReply(CommandContext ctx, ListValue list, bool head, long count)
    {
        long len = list.Count;
        long n = Math.Min(count, len);
        list.WriteRange(ctx.Reply, head ? 0 : len - 1, n, reverse: !head);
        list.DeleteRange(head ? 0 : len - n, n);
        return n;
    }

    private static void Lmpop(CommandContext ctx)
    {
        var args = ctx.Args;
        if (!ctx.TryGetInRange(1, 1, long.MaxValue, "numkeys should be greater than 0", out long numKeys)) return;
        if (numKeys > args.Count - 2)
        {
            ctx.SyntaxError();
            return;
        }
        int whereIdx = 2 + (int)numKeys;
        if (!TryParseWhere(ctx, whereIdx, out bool head)) return;
        long count = -1;
        for (int j = whereIdx + 1; j < args.Count; j++)
        {
            bool more = j + 1 < args.Count;
            if (count == -1 && more && args.Is(j, "COUNT"u8))
            {
                j++;
                if (!ctx.TryGetInRange(j, 1, long.MaxValue, "count should be greater than 0", out count)) return;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (count == -1) count = 1;

        var db = ctx.Db;
        for (int k = 2; k < whereIdx; k++)
        {
            int idx = db.Lookup(args[k], LookupFlags.Write);
            if (idx < 0) continue;
            var list = AsList(ctx, idx);
            if (list is null) return;
            if (list.Count == 0) continue;
            long before = db.MemoryAt(idx);
            ctx.Reply.WriteArray(2);
            ctx.Reply.WriteBulk(args[k]);
            // Replayed as the plain pop of the key it took from, with the count it got.
            if (ctx.Propagating) ctx.PropagateAs(head ? LpopName : RpopName, args.ToArray(k), NumberFormat.LongToBytes(Math.Min(count, list.Count)));
            long n = PopRangeReply(ctx, list, head, count);
            ElementsRemoved(ctx, idx, list, before, n, args[k], PopEvent(head));
            return;
        }
        ctx.Reply.WriteNullArray();
    }

    /// <summary>Blocking pops: serves from the non-empty list at <paramref name="idx"/> (key argument
    /// <paramref name="keyArg"/>), as [key, element] when <paramref name="count"/> is -1, else as LMPOP does.</summary>
    internal static void ServeBlockedPop(CommandContext ctx, int keyArg, int idx, bool head, long count)
    {
        var db = ctx.Db;
        var list = (ListValue)db.ObjectAt(idx)!;
        long before = db.MemoryAt(idx);
        var key = ctx.Args.ToArray(keyArg);
        ctx.Reply.WriteArray(2);
        ctx.Reply.WriteBulk(key);
        if (count < 0)
        {
            if (ctx.Propagating) ctx.PropagateAs(head ? LpopName : RpopName, key);
            list.PeekEnd(head).WriteBulk(ctx.Reply);
            list.RemoveEnd(head);
            ElementsRemoved(ctx, idx, list, before, 1, key, PopEvent(head));
            return;
        }
        if (ctx.Propagating) ctx.PropagateAs(head ? LpopName : RpopName, key, NumberFormat.LongToBytes(Math.Min(count, list.Count)));
        long n = PopRangeReply(ctx, list, head, count);
        ElementsRemoved(ctx, idx, list, before, n, key, PopEvent(head));
    }

    // ----- reads -----

    private static void Llen(CommandContext ctx)
    {
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var list = AsList(ctx, idx);
        if (list is not null) ctx.Reply.WriteInteger(list.Count);
    }

    private static void Lindex(CommandContext ctx)
    {
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null || !ctx.TryGetLong(2, out long index)) return;
        if (list.TryGet(index, out var value)) value.WriteBulk(ctx.Reply);
        else ctx.Reply.WriteNull();
    }

    private static void Lrange(CommandContext ctx)
    {
        if (!ctx.TryGetLong(2, out long start) || !ctx.TryGetLong(3, out long end)) return;
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteEmptyArray();
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null) return;
        long len = list.Count;
        if (start < 0) start += len;
        if (end < 0) end += len;
        if (start < 0) start = 0;
        if (start > end || start >= len)
        {
            ctx.Reply.WriteEmptyArray();
            return;
        }
        if (end >= len) end = len - 1;
        list.WriteRange(ctx.Reply, start, end - start + 1, reverse: false);
    }

    private static void Lpos(CommandContext ctx)
    {
        var args = ctx.Args;
        long rank = 1, count = -1, maxLen = 0;
        for (int j = 3; j < args.Count; j++)
        {
            bool more = j + 1 < args.Count;
            if (more && args.Is(j, "RANK"u8))
            {
                j++;
                if (!ctx.TryGetInRange(j, -long.MaxValue, long.MaxValue, null, out rank)) return;
                if (rank == 0)
                {
                    ctx.Error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                    return;
                }
            }
            else if (more && args.Is(j, "COUNT"u8))
            {
                j++;
                if (!ctx.TryGetNonNegative(j, "COUNT can't be negative", out count)) return;
            }
            else if (more && args.Is(j, "MAXLEN"u8))
            {
                j++;
                if (!ctx.TryGetNonNegative(j, "MAXLEN can't be negative", out maxLen)) return;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        bool fromTail = rank < 0;
        if (fromTail) rank = -rank;

        int idx = ctx.Db.Lookup(args[1]);
        if (idx < 0)
        {
            if (count != -1) ctx.Reply.WriteEmptyArray();
            else ctx.Reply.WriteNull();
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null) return;

        var reply = ctx.Reply;
        int deferred = count != -1 ? reply.BeginDeferred() : -1;
        long len = list.Count;
        long found = 0, matches = 0, matchIndex = -1;
        if (list.TrySeek(fromTail ? -1 : 0, out var c))
        {
            var key = new PackedKey(args[2]);
            long index = 0;
            while (maxLen == 0 || index < maxLen)
            {
                if (list.Read(c).Matches(key))
                {
                    matches++;
                    long position = fromTail ? len - index - 1 : index;
                    if (matches >= rank)
                    {
                        if (count == -1)
                        {
                            matchIndex = position;
                            break;
                        }
                        found++;
                        reply.WriteInteger(position);
                        if (count != 0 && matches - rank + 1 >= count) break;
                    }
                }
                index++;
                if (!(fromTail ? list.MovePrevious(ref c) : list.MoveNext(ref c))) break;
            }
        }
        if (count != -1) reply.EndDeferred(deferred, found);
        else if (matchIndex != -1) reply.WriteInteger(matchIndex);
        else reply.WriteNull();
    }

    // ----- edits -----

    private static void Lset(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.NoSuchKey();
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null || !ctx.TryGetLong(2, out long index)) return;
        var value = ctx.Args[3];
        var fill = Fill(ctx);
        long before = db.MemoryAt(idx);
        list.ConvertForGrowth(fill, value.Length, 1);
        if (!list.Set(index, value, fill))
        {
            db.ValueResized(idx, before);
            ctx.OutOfRangeIndex();
            return;
        }
        list.ConvertAfterShrink(fill);
        db.ValueEdited(idx, before);
        ctx.Notify(KeyspaceEventFlags.List, "lset"u8, ctx.Args[1]);
        ctx.Reply.WriteOk();
    }

    private static void Linsert(CommandContext ctx)
    {
        var args = ctx.Args;
        bool after;
        if (args.Is(2, "AFTER"u8)) after = true;
        else if (args.Is(2, "BEFORE"u8)) after = false;
        else
        {
            ctx.SyntaxError();
            return;
        }
        var db = ctx.Db;
        int idx = db.Lookup(args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null) return;
        // Like Valkey, make room for the new element before looking for the pivot.
        var fill = Fill(ctx);
        long before = db.MemoryAt(idx);
        list.ConvertForGrowth(fill, args[4].Length, 1);
        if (!list.TryFind(args[3], out var at))
        {
            db.ValueResized(idx, before);
            ctx.Reply.WriteInteger(-1);
            return;
        }
        list.Insert(at, args[4], after, fill);
        db.ValueEdited(idx, before);
        ctx.Notify(KeyspaceEventFlags.List, "linsert"u8, args[1]);
        ctx.Reply.WriteInteger(list.Count);
    }

    private static void Lrem(CommandContext ctx)
    {
        if (!ctx.TryGetInRange(2, -long.MaxValue, long.MaxValue, null, out long toRemove)) return;
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null) return;
        long before = db.MemoryAt(idx);
        long removed = list.RemoveMatching(ctx.Args[3], toRemove);
        if (removed > 0) ElementsRemoved(ctx, idx, list, before, removed, ctx.Args[1], "lrem"u8);
        ctx.Reply.WriteInteger(removed);
    }

    private static void Ltrim(CommandContext ctx)
    {
        if (!ctx.TryGetLong(2, out long start) || !ctx.TryGetLong(3, out long end)) return;
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteOk();
            return;
        }
        var list = AsList(ctx, idx);
        if (list is null) return;
        long len = list.Count;
        if (start < 0) start += len;
        if (end < 0) end += len;
        if (start < 0) start = 0;
        long ltrim, rtrim;
        if (start > end || start >= len)
        {
            ltrim = len;
            rtrim = 0;
        }
        else
        {
            if (end >= len) end = len - 1;
            ltrim = start;
            rtrim = len - end - 1;
        }
        long before = db.MemoryAt(idx);
        list.DeleteRange(0, ltrim);
        list.DeleteRange(list.Count - rtrim, rtrim);
        ElementsRemoved(ctx, idx, list, before, ltrim + rtrim, ctx.Args[1], "ltrim"u8);
        ctx.Reply.WriteOk();
    }

    // ----- moves -----

    private static bool TryParseWhere(CommandContext ctx, int index, out bool head)
    {
        head = false;
        if (ctx.Args.Is(index, "LEFT"u8)) head = true;
        else if (!ctx.Args.Is(index, "RIGHT"u8))
        {
            ctx.SyntaxError();
            return false;
        }
        return true;
    }

    private static void Lmove(CommandContext ctx)
    {
        if (!TryParseWhere(ctx, 3, out bool fromHead) || !TryParseWhere(ctx, 4, out bool toHead)) return;
        Move(ctx, fromHead, toHead);
    }

    private static void Rpoplpush(CommandContext ctx) => Move(ctx, fromHead: false, toHead: true);

    internal static void Move(CommandContext ctx, bool fromHead, bool toHead)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        int src = db.Lookup(args[1], LookupFlags.Write);
        if (src < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        var source = AsList(ctx, src);
        if (source is null) return;
        if (source.Count == 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        int dst = db.Lookup(args[2], LookupFlags.Write);
        ListValue? target = null;
        if (dst >= 0)
        {
            target = AsList(ctx, dst);
            if (target is null) return;
        }
        var fill = Fill(ctx);
        var keyspace = ctx.Server.Keyspace;
        long dirtyBefore = keyspace.Dirty;
        long srcBefore = db.MemoryAt(src);
        long dstBefore = dst >= 0 && dst != src ? db.MemoryAt(dst) : 0;
        var value = source.Pop(fromHead);

        target ??= new ListValue();
        target.ConvertForGrowth(fill, value.Length, 1);
        target.Push(value, toHead, fill);
        if (dst < 0) db.AddObject(args[2], target);
        else if (dst != src) db.ValueEdited(dst, dstBefore);
        ctx.Notify(KeyspaceEventFlags.List, toHead ? "lpush"u8 : "rpush"u8, args[2]);
        ctx.Reply.WriteBulk(value);

        ElementsRemoved(ctx, src, source, srcBefore, 1, args[1], PopEvent(fromHead));
        // One element moved is one change (Valkey counts the pop only), however many keys it touched.
        keyspace.Dirty = dirtyBefore + 1;
    }
}
