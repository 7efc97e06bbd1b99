using Kvasir.Clients;
using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Protocol;
using Kvasir.Types;
using Kvasir.Types.Streams;

namespace Kvasir.Commands;

/// <summary>
/// Stream commands on the entries (Valkey's t_stream.c): XADD, XLEN, XRANGE, XREVRANGE, XDEL,
/// XTRIM, XSETID and XINFO, plus what the read and group commands share: ID parsing with Valkey's
/// errors and the range reply (streamReplyWithRange). XREAD/XREADGROUP are in
/// <see cref="StreamReadCommands"/>, consumer groups in <see cref="StreamGroupCommands"/>.
/// </summary>
public static class StreamCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("xadd", XAdd);
        t.Bind("xlen", XLen);
        t.Bind("xrange", c => XRange(c, reverse: false));
        t.Bind("xrevrange", c => XRange(c, reverse: true));
        t.Bind("xdel", XDel);
        t.Bind("xtrim", XTrim);
        t.Bind("xsetid", XSetId);
        t.Bind("xinfo|stream", XInfoStream);
        t.Bind("xinfo|groups", XInfoGroups);
        t.Bind("xinfo|consumers", XInfoConsumers);
        t.Bind("xinfo|help", XInfoHelp);
    }

    internal const string InvalidId = "ERR Invalid stream ID specified as stream command argument";

    // ----- lookups -----

    /// <summary>Looks a stream up for reading (hits/misses counted). False after replying WRONGTYPE; null when missing.</summary>
    internal static bool TryRead(CommandContext ctx, int keyIndex, out StreamValue? stream)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[keyIndex]);
        stream = null;
        if (idx < 0) return true;
        if (db.TypeAt(idx) != DataType.Stream)
        {
            ctx.WrongType();
            return false;
        }
        stream = (StreamValue)db.ObjectAt(idx)!;
        return true;
    }

    /// <summary>Looks a stream up to change it: its index or -1. False after replying WRONGTYPE.</summary>
    internal static bool TryWrite(CommandContext ctx, int keyIndex, out int idx, out StreamValue? stream)
    {
        var db = ctx.Db;
        idx = db.Lookup(ctx.Args[keyIndex], LookupFlags.Write);
        stream = null;
        if (idx < 0) return true;
        if (db.TypeAt(idx) != DataType.Stream)
        {
            ctx.WrongType();
            return false;
        }
        stream = (StreamValue)db.ObjectAt(idx)!;
        return true;
    }

    /// <summary>
    /// Looks a stream up as Valkey's group commands do (a read lookup: hits and misses count) when they
    /// may still change it: a snapshot being written first takes the key as it is now.
    /// </summary>
    internal static bool TryReadForEdit(CommandContext ctx, int keyIndex, out int idx, out StreamValue? stream)
    {
        var db = ctx.Db;
        idx = db.Lookup(ctx.Args[keyIndex]);
        stream = null;
        if (idx < 0) return true;
        if (db.TypeAt(idx) != DataType.Stream)
        {
            ctx.WrongType();
            return false;
        }
        db.Context.BeforeKeyChange?.Invoke(db, idx);
        stream = (StreamValue)db.ObjectAt(idx)!;
        return true;
    }

    // ----- IDs -----

    /// <summary>streamParseIDOrReply / streamParseStrictIDOrReply.</summary>
    internal static bool TryParseId(CommandContext ctx, int index, ulong missingSeq, bool strict, out StreamId id)
    {
        if (StreamId.TryParse(ctx.Args[index], missingSeq, strict, allowAutoSeq: false, out id, out _)) return true;
        ctx.Error(InvalidId);
        return false;
    }

    /// <summary>streamParseIntervalIDOrReply: "(" makes the bound exclusive (and forbids - and +).</summary>
    internal static bool TryParseIntervalId(CommandContext ctx, int index, ulong missingSeq, out StreamId id, out bool exclusive)
    {
        var arg = ctx.Args[index];
        exclusive = arg.Length > 1 && arg[0] == '(';
        bool ok = exclusive
            ? StreamId.TryParse(arg.Slice(1), missingSeq, strict: true, allowAutoSeq: false, out id, out _)
            : StreamId.TryParse(arg, missingSeq, strict: false, allowAutoSeq: false, out id, out _);
        if (!ok) ctx.Error(InvalidId);
        return ok;
    }

    /// <summary>A start bound: parsed, and moved past itself when exclusive.</summary>
    internal static bool TryParseStart(CommandContext ctx, int index, out StreamId start)
    {
        if (!TryParseIntervalId(ctx, index, 0, out start, out bool exclusive)) return false;
        if (exclusive && !start.TryIncrement(out start))
        {
            ctx.Error("ERR invalid start ID for the interval");
            return false;
        }
        return true;
    }

    /// <summary>An end bound: parsed (a missing sequence is the largest), and moved before itself when exclusive.</summary>
    internal static bool TryParseEnd(CommandContext ctx, int index, out StreamId end)
    {
        if (!TryParseIntervalId(ctx, index, ulong.MaxValue, out end, out bool exclusive)) return false;
        if (exclusive && !end.TryDecrement(out end))
        {
            ctx.Error("ERR invalid end ID for the interval");
            return false;
        }
        return true;
    }

    internal static void WriteId(ReplyWriter w, StreamId id)
    {
        Span<byte> text = stackalloc byte[StreamId.MaxTextLength];
        w.WriteBulk(text.Slice(0, id.Format(text)));
    }

    // ----- the range reply (streamReplyWithRange) -----

    /// <summary>How <see cref="ReplyRange"/> serves a consumer group read.</summary>
    [Flags]
    internal enum RangeFlags
    {
        None = 0,
        /// <summary>XREADGROUP NOACK: nothing goes into the PEL.</summary>
        NoAck = 1,
        /// <summary>Only the entries, no array header (the caller counts them).</summary>
        RawEntries = 2,
        /// <summary>XREADGROUP with an ID: the consumer's own pending entries.</summary>
        History = 4,
    }

    /// <summary>One entry: [id, [field, value, ...]].</summary>
    internal static void WriteEntry(ReplyWriter w, ref StreamIterator it, StreamId id, long fields)
    {
        w.WriteArray(2);
        WriteId(w, id);
        w.WriteArray(fields * 2);
        for (long i = 0; i < fields; i++)
        {
            it.Field(out var field, out var value);
            field.WriteBulk(w);
            value.WriteBulk(w);
        }
    }

    /// <summary>
    /// streamReplyWithRange: replies with the entries in [start, end] (at most <paramref name="count"/>,
    /// 0 = all), forward or backward. With a group and consumer (XREADGROUP), moves the group's last
    /// delivered ID and read counter, puts each entry in the PEL (reassigning it if another consumer
    /// had it) and propagates that as XCLAIM, then the group position as XGROUP SETID. Returns how
    /// many entries were emitted.
    /// </summary>
    internal static long ReplyRange(CommandContext ctx, StreamValue s, StreamId start, StreamId end, long count, bool reverse,
        StreamGroup? group, StreamConsumer? consumer, RangeFlags flags, int keyIndex = -1, int groupIndex = -1)
    {
        if (group is not null && (flags & RangeFlags.History) != 0)
            return ReplyFromConsumerPel(ctx, s, start, end, count, consumer!);
        var w = ctx.Reply;
        int token = (flags & RangeFlags.RawEntries) == 0 ? w.BeginDeferred() : -1;
        long emitted = 0;
        bool propagateLastId = false;
        bool noAck = (flags & RangeFlags.NoAck) != 0;
        long now = ctx.NowMs;
        var it = new StreamIterator(s, start, end, reverse);
        while (it.Next(out var id, out long fields))
        {
            if (group is not null && id > group.LastId)
            {
                if (group.EntriesRead != StreamGroup.InvalidEntriesRead && !s.RangeHasTombstones(id, StreamId.Max))
                    group.EntriesRead++;
                else if (s.EntriesAdded != 0)
                    group.EntriesRead = s.EstimateDistanceFromFirstEverEntry(id);
                group.LastId = id;
                propagateLastId = true;
            }
            WriteEntry(w, ref it, id, fields);

            if (group is not null && !noAck)
            {
                var nack = new PendingEntry(now, consumer);
                if (!group.Pel.TryAdd(id, nack))
                {
                    // Already pending (the group was moved back with SETID): now it is this consumer's.
                    group.Pel.TryGetValue(id, out nack);
                    nack.Consumer?.Pel.Remove(id);
                    nack.Consumer = consumer;
                    nack.DeliveryTime = now;
                    nack.DeliveryCount = 1;
                    consumer!.Pel.TryAdd(id, nack);
                }
                else consumer!.Pel.TryAdd(id, nack);
                consumer.ActiveTime = now;
                PropagateClaim(ctx, keyIndex, groupIndex, group, consumer.Name, id, nack);
            }
            emitted++;
            if (count != 0 && count == emitted) break;
        }
        if (group is not null && propagateLastId) PropagateGroupPosition(ctx, keyIndex, groupIndex, group);
        if (token >= 0) w.EndDeferred(token, emitted);
        return emitted;
    }

    /// <summary>
    /// streamReplyWithRangeFromConsumerPEL: the consumer's pending entries from <paramref name="start"/>;
    /// each delivery is counted again. An entry deleted since comes as [id, nil].
    /// </summary>
    private static long ReplyFromConsumerPel(CommandContext ctx, StreamValue s, StreamId start, StreamId end, long count, StreamConsumer consumer)
    {
        var w = ctx.Reply;
        int token = w.BeginDeferred();
        long emitted = 0;
        long now = ctx.NowMs;
        var pel = consumer.Pel;
        for (var c = pel.SeekGreaterOrEqual(start); c.Valid && (count == 0 || emitted < count); c = pel.Next(c))
        {
            var id = pel.KeyAt(c);
            if (id > end) break;
            var it = new StreamIterator(s, id, id, reverse: false);
            if (it.Next(out var found, out long fields))
            {
                WriteEntry(w, ref it, found, fields);
                var nack = pel.ValueAt(c);
                nack.DeliveryTime = now;
                nack.DeliveryCount++;
            }
            else
            {
                w.WriteArray(2);
                WriteId(w, id);
                w.WriteNullArray();
            }
            emitted++;
        }
        w.EndDeferred(token, emitted);
        return emitted;
    }

    /// <summary>One entry by ID as XCLAIM and XAUTOCLAIM reply it (RAWENTRIES of a one-entry range).</summary>
    internal static bool WriteEntryById(ReplyWriter w, StreamValue s, StreamId id)
    {
        var it = new StreamIterator(s, id, id, reverse: false);
        if (!it.Next(out var found, out long fields)) return false;
        WriteEntry(w, ref it, found, fields);
        return true;
    }

    // ----- propagation of group effects -----

    private static readonly byte[] XClaimName = "XCLAIM"u8.ToArray();
    private static readonly byte[] XGroupName = "XGROUP"u8.ToArray();

    /// <summary>
    /// streamPropagateXCLAIM: XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n FORCE JUSTID LASTID
    /// last-delivered, which a replica or the AOF applies the same whatever it holds.
    /// </summary>
    internal static void PropagateClaim(CommandContext ctx, int keyIndex, int groupIndex, StreamGroup group, ReadOnlySpan<byte> consumer, StreamId id, PendingEntry nack)
    {
        if (!ctx.Propagating || keyIndex < 0) return;
        var p = ctx.Server.Propagator;
        Span<byte> text = stackalloc byte[StreamId.MaxTextLength];
        p.BeginEffect(ctx.Client.DbIndex, 14);
        p.EffectArg(XClaimName);
        p.EffectArg(ctx.Args[keyIndex]);
        p.EffectArg(ctx.Args[groupIndex]);
        p.EffectArg(consumer);
        p.EffectArg("0"u8);
        p.EffectArg(text.Slice(0, id.Format(text)));
        p.EffectArg("TIME"u8);
        p.EffectArg(nack.DeliveryTime);
        p.EffectArg("RETRYCOUNT"u8);
        p.EffectArg(nack.DeliveryCount);
        p.EffectArg("FORCE"u8);
        p.EffectArg("JUSTID"u8);
        p.EffectArg("LASTID"u8);
        p.EffectArg(text.Slice(0, group.LastId.Format(text)));
        p.EndEffect();
    }

    /// <summary>streamPropagateGroupID: XGROUP SETID key group last-delivered ENTRIESREAD n.</summary>
    internal static void PropagateGroupPosition(CommandContext ctx, int keyIndex, int groupIndex, StreamGroup group)
    {
        if (!ctx.Propagating || keyIndex < 0) return;
        var p = ctx.Server.Propagator;
        Span<byte> text = stackalloc byte[StreamId.MaxTextLength];
        p.BeginEffect(ctx.Client.DbIndex, 7);
        p.EffectArg(XGroupName);
        p.EffectArg("SETID"u8);
        p.EffectArg(ctx.Args[keyIndex]);
        p.EffectArg(ctx.Args[groupIndex]);
        p.EffectArg(text.Slice(0, group.LastId.Format(text)));
        p.EffectArg("ENTRIESREAD"u8);
        p.EffectArg(group.EntriesRead);
        p.EndEffect();
    }

    /// <summary>streamPropagateConsumerCreation: XGROUP CREATECONSUMER key group consumer.</summary>
    internal static void PropagateConsumerCreation(CommandContext ctx, int keyIndex, int groupIndex, ReadOnlySpan<byte> consumer)
    {
        if (!ctx.Propagating) return;
        var p = ctx.Server.Propagator;
        p.BeginEffect(ctx.Client.DbIndex, 5);
        p.EffectArg(XGroupName);
        p.EffectArg("CREATECONSUMER"u8);
        p.EffectArg(ctx.Args[keyIndex]);
        p.EffectArg(ctx.Args[groupIndex]);
        p.EffectArg(consumer);
        p.EndEffect();
    }

    // ----- XADD / XTRIM options -----

    /// <summary>The parsed options of XADD and XTRIM (streamAddTrimArgs).</summary>
    private struct AddTrimArgs
    {
        public StreamId Id;
        public bool IdGiven;
        public bool SeqGiven;
        public bool NoMkStream;
        public StreamTrimStrategy Strategy;
        public int StrategyArgIndex;
        public bool Approx;
        public long Limit;
        public long MaxLen;
        public StreamId MinId;
    }

    /// <summary>streamParseAddOrTrimArgsOrReply: the index of XADD's ID argument, or -1 after an error reply.</summary>
    private static int ParseAddOrTrim(CommandContext ctx, bool xadd, out AddTrimArgs a)
    {
        a = default;
        a.SeqGiven = true;
        var args = ctx.Args;
        int argc = args.Count;
        bool limitGiven = false;
        int i = 2;
        for (; i < argc; i++)
        {
            int moreArgs = argc - 1 - i;
            var opt = args[i];
            if (xadd && opt.Length >= 1 && opt[0] == '*' && (opt.Length == 1 || opt[1] == 0))
            {
                break;
            }
            if ((args.Is(i, "MAXLEN"u8) || args.Is(i, "MINID"u8)) && moreArgs > 0)
            {
                bool maxLen = args.Is(i, "MAXLEN"u8);
                if (a.Strategy != StreamTrimStrategy.None)
                {
                    ctx.Error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
                    return -1;
                }
                a.Approx = false;
                var next = args[i + 1];
                if (moreArgs >= 2 && IsSingle(next, (byte)'~'))
                {
                    a.Approx = true;
                    i++;
                }
                else if (moreArgs >= 2 && IsSingle(next, (byte)'=')) i++;
                if (maxLen)
                {
                    if (!ctx.TryGetLong(i + 1, out a.MaxLen)) return -1;
                    if (a.MaxLen < 0)
                    {
                        ctx.Error("ERR The MAXLEN argument must be >= 0.");
                        return -1;
                    }
                    a.Strategy = StreamTrimStrategy.MaxLen;
                }
                else
                {
                    if (!TryParseId(ctx, i + 1, 0, strict: true, out a.MinId)) return -1;
                    a.Strategy = StreamTrimStrategy.MinId;
                }
                i++;
                a.StrategyArgIndex = i;
            }
            else if (args.Is(i, "LIMIT"u8) && moreArgs > 0)
            {
                if (!ctx.TryGetLong(i + 1, out a.Limit)) return -1;
                if (a.Limit < 0)
                {
                    ctx.Error("ERR The LIMIT argument must be >= 0.");
                    return -1;
                }
                limitGiven = true;
                i++;
            }
            else if (xadd && args.Is(i, "NOMKSTREAM"u8))
            {
                a.NoMkStream = true;
            }
            else if (xadd)
            {
                if (!StreamId.TryParse(opt, 0, strict: true, allowAutoSeq: true, out a.Id, out a.SeqGiven))
                {
                    ctx.Error(InvalidId);
                    return -1;
                }
                a.IdGiven = true;
                break;
            }
            else
            {
                ctx.SyntaxError();
                return -1;
            }
        }

        if (a.Limit != 0 && a.Strategy == StreamTrimStrategy.None)
        {
            ctx.Error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy");
            return -1;
        }
        if (!xadd && a.Strategy == StreamTrimStrategy.None)
        {
            ctx.Error("ERR syntax error, XTRIM must be called with a trimming strategy");
            return -1;
        }
        if (ctx.Client.MustObey)
        {
            // The primary (or the AOF) already made the trim exact: never stop early here.
            a.Limit = 0;
        }
        else if (limitGiven)
        {
            if (!a.Approx)
            {
                ctx.Error("ERR syntax error, LIMIT cannot be used without the special ~ option");
                return -1;
            }
        }
        else if (a.Approx)
        {
            // At most 100 nodes of work per call, within sane bounds.
            long perNode = ctx.Server.Config.StreamNodeMaxEntries;
            a.Limit = perNode > 1_000_000 / 100 ? 1_000_000 : 100 * perNode;
            if (a.Limit <= 0) a.Limit = 10_000;
            if (a.Limit > 1_000_000) a.Limit = 1_000_000;
        }
        else a.Limit = 0;
        return i;
    }

    private static bool IsSingle(ReadOnlySpan<byte> arg, byte c) => arg.Length >= 1 && arg[0] == c && (arg.Length == 1 || arg[1] == 0);

    /// <summary>
    /// Propagates XADD or XTRIM as it must replay: with the ID the entry got (<paramref name="id"/>,
    /// empty for XTRIM) and, after an approximate trim, with the exact outcome ("=" and the resulting
    /// length, or the first ID left) so replicas and the AOF end with the same stream. Encoded
    /// straight from the request's arguments, without an argv copy (the stream is always fed while a
    /// replication backlog exists).
    /// </summary>
    private static void PropagateRewritten(CommandContext ctx, StreamValue s, in AddTrimArgs a, int idPos, ReadOnlySpan<byte> id)
    {
        var args = ctx.Args;
        Span<byte> trim = stackalloc byte[StreamId.MaxTextLength];
        int trimLength = 0;
        if (a.Approx)
            trimLength = a.Strategy == StreamTrimStrategy.MaxLen
                ? Types.NumberFormat.FormatLong((long)s.Length, trim)
                : s.EdgeId(first: true, skipTombstones: false).Format(trim);
        var p = ctx.Server.Propagator;
        p.BeginEffect(ctx.Client.DbIndex, args.Count);
        for (int i = 0; i < args.Count; i++)
        {
            if (i == idPos && id.Length > 0) p.EffectArg(id);
            else if (a.Approx && i == a.StrategyArgIndex - 1) p.EffectArg("="u8);
            else if (a.Approx && i == a.StrategyArgIndex) p.EffectArg(trim.Slice(0, trimLength));
            else p.EffectArg(args[i]);
        }
        p.EndEffect();
        ctx.PreventPropagation();
    }

    // ----- XADD -----

    private static void XAdd(CommandContext ctx)
    {
        int idPos = ParseAddOrTrim(ctx, xadd: true, out var a);
        if (idPos < 0) return;
        int fieldPos = idPos + 1;
        var args = ctx.Args;
        int argc = args.Count;
        if (argc - fieldPos < 2 || (argc - fieldPos) % 2 == 1)
        {
            ctx.WrongArity();
            return;
        }
        // Refuse 0-0 before a new stream would be left behind empty.
        if (a.IdGiven && a.SeqGiven && a.Id.IsZero)
        {
            ctx.Error("ERR The ID specified in XADD must be greater than 0-0");
            return;
        }

        var db = ctx.Db;
        if (!TryWrite(ctx, 1, out int idx, out var s)) return;
        if (s is null && a.NoMkStream)
        {
            ctx.Reply.WriteNull();
            return;
        }
        bool created = s is null;
        long memoryBefore = 0;
        if (created) s = new StreamValue();
        else
        {
            memoryBefore = db.MemoryAt(idx);
            if (s!.LastId == StreamId.Max)
            {
                ctx.Error("ERR The stream has exhausted the last possible ID, unable to add more items");
                return;
            }
        }

        var cfg = ctx.Server.Config;
        var result = s!.Append(args, fieldPos, (argc - fieldPos) / 2, a.IdGiven, a.Id, a.SeqGiven, ctx.NowMs,
            cfg.StreamNodeMaxBytes, cfg.StreamNodeMaxEntries, out var id);
        if (result != StreamAppendResult.Added)
        {
            // Valkey creates the key before appending: a refused entry leaves the new stream there, empty.
            if (created) db.AddObject(args[1], s);
            ctx.Error(result == StreamAppendResult.IdTooSmall
                ? "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                : "ERR Elements are too large to be stored");
            return;
        }
        if (created)
        {
            idx = db.AddObject(args[1], s);
            memoryBefore = db.MemoryAt(idx);
        }

        Span<byte> idText = stackalloc byte[StreamId.MaxTextLength];
        int idLen = id.Format(idText);
        ctx.Reply.WriteBulk(idText.Slice(0, idLen));
        ctx.Notify(KeyspaceEventFlags.Stream, "xadd"u8, args[1]);

        if (a.Strategy != StreamTrimStrategy.None && s.Trim(a.Strategy, a.MaxLen, a.MinId, a.Approx, a.Limit) > 0)
            ctx.Notify(KeyspaceEventFlags.Stream, "xtrim"u8, args[1]);
        // A new key was counted (and signalled) when added; an existing one changes now.
        if (created) db.ValueResized(idx, memoryBefore);
        else db.ValueEdited(idx, memoryBefore);

        if (ctx.Propagating && (a.Approx || !a.IdGiven || !a.SeqGiven))
            PropagateRewritten(ctx, s, a, idPos, !a.IdGiven || !a.SeqGiven ? idText.Slice(0, idLen) : default);
    }

    // ----- XLEN / XRANGE / XREVRANGE -----

    private static void XLen(CommandContext ctx)
    {
        if (!TryRead(ctx, 1, out var s)) return;
        ctx.Reply.WriteInteger(s is null ? 0 : (long)s.Length);
    }

    private static void XRange(CommandContext ctx, bool reverse)
    {
        int startArg = reverse ? 3 : 2, endArg = reverse ? 2 : 3;
        if (!TryParseStart(ctx, startArg, out var start)) return;
        if (!TryParseEnd(ctx, endArg, out var end)) return;
        long count = -1;
        var args = ctx.Args;
        for (int j = 4; j < args.Count; j++)
        {
            if (args.Is(j, "COUNT"u8) && j + 1 < args.Count)
            {
                if (!ctx.TryGetLong(j + 1, out count)) return;
                if (count < 0) count = 0;
                j++;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (!TryRead(ctx, 1, out var s)) return;
        if (s is null)
        {
            ctx.Reply.WriteEmptyArray();
            return;
        }
        if (count == 0)
        {
            ctx.Reply.WriteNullArray();
            return;
        }
        ReplyRange(ctx, s, start, end, count == -1 ? 0 : count, reverse, null, null, RangeFlags.None);
    }

    // ----- XDEL / XTRIM -----

    private static void XDel(CommandContext ctx)
    {
        if (!TryWrite(ctx, 1, out int idx, out var s)) return;
        if (s is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var args = ctx.Args;
        int n = args.Count - 2;
        // Every ID is checked before anything is deleted: no half-done XDEL.
        Span<StreamId> ids = n <= 16 ? stackalloc StreamId[n] : new StreamId[n];
        for (int j = 0; j < n; j++)
            if (!TryParseId(ctx, j + 2, 0, strict: true, out ids[j])) return;

        var db = ctx.Db;
        long before = db.MemoryAt(idx);
        long deleted = 0;
        bool firstDeleted = false;
        foreach (var id in ids)
        {
            if (!s.Delete(id)) continue;
            if (id == s.FirstId) firstDeleted = true;
            if (id > s.MaxDeletedId) s.MaxDeletedId = id;
            deleted++;
        }
        if (deleted > 0)
        {
            if (s.Length == 0) s.FirstId = StreamId.Zero;
            else if (firstDeleted) s.FirstId = s.EdgeId(first: true, skipTombstones: true);
            db.ValueEdited(idx, before);
            ctx.Notify(KeyspaceEventFlags.Stream, "xdel"u8, args[1]);
            ctx.AddDirty(deleted - 1);
        }
        ctx.Reply.WriteInteger(deleted);
    }

    private static void XTrim(CommandContext ctx)
    {
        if (ParseAddOrTrim(ctx, xadd: false, out var a) < 0) return;
        if (!TryWrite(ctx, 1, out int idx, out var s)) return;
        if (s is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var db = ctx.Db;
        long before = db.MemoryAt(idx);
        long deleted = s.Trim(a.Strategy, a.MaxLen, a.MinId, a.Approx, a.Limit);
        if (deleted > 0)
        {
            ctx.Notify(KeyspaceEventFlags.Stream, "xtrim"u8, ctx.Args[1]);
            if (a.Approx && ctx.Propagating) PropagateRewritten(ctx, s, a, -1, default);
            db.ValueEdited(idx, before);
            ctx.AddDirty(deleted - 1);
        }
        ctx.Reply.WriteInteger(deleted);
    }

    // ----- XSETID -----

    private static void XSetId(CommandContext ctx)
    {
        var args = ctx.Args;
        if (!TryParseId(ctx, 2, 0, strict: true, out var id)) return;
        long entriesAdded = -1;
        var maxDeleted = StreamId.Zero;
        for (int i = 3; i < args.Count; i += 2)
        {
            int moreArgs = args.Count - 1 - i;
            if (args.Is(i, "ENTRIESADDED"u8) && moreArgs > 0)
            {
                if (!ctx.TryGetLong(i + 1, out entriesAdded)) return;
                if (entriesAdded < 0)
                {
                    ctx.Error("ERR entries_added must be positive");
                    return;
                }
            }
            else if (args.Is(i, "MAXDELETEDID"u8) && moreArgs > 0)
            {
                if (!TryParseId(ctx, i + 1, 0, strict: true, out maxDeleted)) return;
                if (id < maxDeleted)
                {
                    ctx.Error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
                    return;
                }
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        if (!TryWrite(ctx, 1, out int idx, out var s)) return;
        if (s is null)
        {
            ctx.NoSuchKey();
            return;
        }
        if (id < s.MaxDeletedId)
        {
            ctx.Error("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id");
            return;
        }
        if (s.Length > 0)
        {
            if (id < s.LastValidId())
            {
                ctx.Error("ERR The ID specified in XSETID is smaller than the target stream top item");
                return;
            }
            if (entriesAdded != -1 && s.Length > (ulong)entriesAdded)
            {
                ctx.Error("ERR The entries_added specified in XSETID is smaller than the target stream length");
                return;
            }
        }
        s.LastId = id;
        if (entriesAdded != -1) s.EntriesAdded = (ulong)entriesAdded;
        if (!maxDeleted.IsZero) s.MaxDeletedId = maxDeleted;
        ctx.Reply.WriteOk();
        ctx.AddDirty();
        ctx.Notify(KeyspaceEventFlags.Stream, "xsetid"u8, args[1]);
    }

    // ----- XINFO -----

    private static void XInfoHelp(CommandContext ctx) => HelpText.Write(ctx, "XINFO",
        "CONSUMERS <key> <groupname>",
        "    The consumers of the group, with their pending count and idle times.",
        "GROUPS <key>",
        "    The consumer groups of the stream.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    The stream's summary, or with FULL its entries, groups, consumers and PELs.");

    /// <summary>XINFO's lookup: ERR no such key when missing.</summary>
    private static bool TryInfoLookup(CommandContext ctx, out StreamValue s)
    {
        s = null!;
        if (!TryRead(ctx, 2, out var found)) return false;
        if (found is null)
        {
            ctx.NoSuchKey();
            return false;
        }
        s = found;
        return true;
    }

    private static void XInfoStream(CommandContext ctx)
    {
        if (!TryInfoLookup(ctx, out var s)) return;
        var args = ctx.Args;
        int optc = args.Count - 3;
        bool full = optc > 0;
        long count = 10;
        if (full)
        {
            if ((optc != 1 && optc != 3) || !args.Is(3, "FULL"u8) || (optc == 3 && !args.Is(4, "COUNT"u8)))
            {
                HelpText.SubcommandSyntaxError(ctx);
                return;
            }
            if (optc == 3)
            {
                if (!ctx.TryGetLong(5, out count)) return;
                if (count < 0) count = 10;
            }
        }

        var w = ctx.Reply;
        w.WriteMap(full ? 9 : 10);
        w.WriteBulk("length"u8);
        w.WriteInteger((long)s.Length);
        w.WriteBulk("radix-tree-keys"u8);
        w.WriteInteger(s.NodeCount);
        w.WriteBulk("radix-tree-nodes"u8);
        w.WriteInteger(s.RadixTreeNodes());
        w.WriteBulk("last-generated-id"u8);
        WriteId(w, s.LastId);
        w.WriteBulk("max-deleted-entry-id"u8);
        WriteId(w, s.MaxDeletedId);
        w.WriteBulk("entries-added"u8);
        w.WriteInteger((long)s.EntriesAdded);
        w.WriteBulk("recorded-first-entry-id"u8);
        WriteId(w, s.FirstId);

        if (!full)
        {
            w.WriteBulk("groups"u8);
            w.WriteInteger(s.GroupCount);
            w.WriteBulk("first-entry"u8);
            if (ReplyRange(ctx, s, StreamId.Zero, StreamId.Max, 1, false, null, null, RangeFlags.RawEntries) == 0) w.WriteNull();
            w.WriteBulk("last-entry"u8);
            if (ReplyRange(ctx, s, StreamId.Zero, StreamId.Max, 1, true, null, null, RangeFlags.RawEntries) == 0) w.WriteNull();
            return;
        }

        w.WriteBulk("entries"u8);
        ReplyRange(ctx, s, StreamId.Zero, StreamId.Max, count, false, null, null, RangeFlags.None);
        w.WriteBulk("groups"u8);
        var groups = s.Groups;
        int groupCount = groups?.Count ?? 0;
        w.WriteArray(groupCount);
        for (int g = 0; g < groupCount; g++)
        {
            var group = groups!.ValueAt(g);
            w.WriteMap(7);
            w.WriteBulk("name"u8);
            w.WriteBulk(groups.NameAt(g));
            w.WriteBulk("last-delivered-id"u8);
            WriteId(w, group.LastId);
            w.WriteBulk("entries-read"u8);
            WriteEntriesRead(w, group);
            w.WriteBulk("lag"u8);
            WriteLag(w, s, group);
            w.WriteBulk("pel-count"u8);
            w.WriteInteger(group.Pel.Count);
            w.WriteBulk("pending"u8);
            int token = w.BeginDeferred();
            long n = 0;
            foreach (var kv in group.Pel)
            {
                if (count != 0 && n >= count) break;
                w.WriteArray(4);
                WriteId(w, kv.Key);
                w.WriteBulk(kv.Value.Consumer!.Name);
                w.WriteInteger(kv.Value.DeliveryTime);
                w.WriteInteger(kv.Value.DeliveryCount);
                n++;
            }
            w.EndDeferred(token, n);
            w.WriteBulk("consumers"u8);
            w.WriteArray(group.Consumers.Count);
            for (int i = 0; i < group.Consumers.Count; i++)
            {
                var consumer = group.Consumers.ValueAt(i);
                w.WriteMap(5);
                w.WriteBulk("name"u8);
                w.WriteBulk(consumer.Name);
                w.WriteBulk("seen-time"u8);
                w.WriteInteger(consumer.SeenTime);
                w.WriteBulk("active-time"u8);
                w.WriteInteger(consumer.ActiveTime);
                w.WriteBulk("pel-count"u8);
                w.WriteInteger(consumer.Pel.Count);
                w.WriteBulk("pending"u8);
                int ctoken = w.BeginDeferred();
                long cn = 0;
                foreach (var kv in consumer.Pel)
                {
                    if (count != 0 && cn >= count) break;
                    w.WriteArray(3);
                    WriteId(w, kv.Key);
                    w.WriteInteger(kv.Value.DeliveryTime);
                    w.WriteInteger(kv.Value.DeliveryCount);
                    cn++;
                }
                w.EndDeferred(ctoken, cn);
            }
        }
    }

    internal static void WriteEntriesRead(ReplyWriter w, StreamGroup group)
    {
        if (group.EntriesRead != StreamGroup.InvalidEntriesRead) w.WriteInteger(group.EntriesRead);
        else w.WriteNull();
    }

    internal static void WriteLag(ReplyWriter w, StreamValue s, StreamGroup group)
    {
        if (s.TryGetLag(group, out long lag)) w.WriteInteger(lag);
        else w.WriteNull();
    }

    private static void XInfoGroups(CommandContext ctx)
    {
        if (!TryInfoLookup(ctx, out var s)) return;
        var w = ctx.Reply;
        var groups = s.Groups;
        int n = groups?.Count ?? 0;
        w.WriteArray(n);
        for (int g = 0; g < n; g++)
        {
            var group = groups!.ValueAt(g);
            w.WriteMap(6);
            w.WriteBulk("name"u8);
            w.WriteBulk(groups.NameAt(g));
            w.WriteBulk("consumers"u8);
            w.WriteInteger(group.Consumers.Count);
            w.WriteBulk("pending"u8);
            w.WriteInteger(group.Pel.Count);
            w.WriteBulk("last-delivered-id"u8);
            WriteId(w, group.LastId);
            w.WriteBulk("entries-read"u8);
            WriteEntriesRead(w, group);
            w.WriteBulk("lag"u8);
            WriteLag(w, s, group);
        }
    }

    private static void XInfoConsumers(CommandContext ctx)
    {
        if (!TryInfoLookup(ctx, out var s)) return;
        var group = s.LookupGroup(ctx.Args[3]);
        if (group is null)
        {
            ctx.Error($"NOGROUP No such consumer group '{ctx.Args.ToString(3)}' for key name '{ctx.Args.ToString(2)}'");
            return;
        }
        var w = ctx.Reply;
        long now = ctx.NowMs;
        w.WriteArray(group.Consumers.Count);
        for (int i = 0; i < group.Consumers.Count; i++)
        {
            var consumer = group.Consumers.ValueAt(i);
            long inactive = consumer.ActiveTime != -1 ? now - consumer.ActiveTime : -1;
            long idle = Math.Max(0, now - consumer.SeenTime);
            w.WriteMap(4);
            w.WriteBulk("name"u8);
            w.WriteBulk(consumer.Name);
            w.WriteBulk("pending"u8);
            w.WriteInteger(consumer.Pel.Count);
            w.WriteBulk("idle"u8);
            w.WriteInteger(idle);
            w.WriteBulk("inactive"u8);
            w.WriteInteger(inactive);
        }
    }
}
