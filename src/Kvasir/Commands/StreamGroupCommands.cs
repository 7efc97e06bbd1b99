using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;
using Kvasir.Types.Streams;

namespace Kvasir.Commands;

/// <summary>
/// Consumer group commands (Valkey's t_stream.c): XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
/// Group state (positions, PELs, consumers) changes without the key counting as written for
/// WATCH, as in Valkey; memory and the change counter still follow. Claims propagate as the
/// idempotent XCLAIM ... FORCE JUSTID form, never as the command that was sent.
/// </summary>
public static class StreamGroupCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("xgroup|create", c => XGroup(c, Sub.Create));
        t.Bind("xgroup|setid", c => XGroup(c, Sub.SetId));
        t.Bind("xgroup|destroy", c => XGroup(c, Sub.Destroy));
        t.Bind("xgroup|createconsumer", c => XGroup(c, Sub.CreateConsumer));
        t.Bind("xgroup|delconsumer", c => XGroup(c, Sub.DelConsumer));
        t.Bind("xgroup|help", XGroupHelp);
        t.Bind("xack", XAck);
        t.Bind("xpending", XPending);
        t.Bind("xclaim", XClaim);
        t.Bind("xautoclaim", XAutoClaim);
    }

    private enum Sub { Create, SetId, Destroy, CreateConsumer, DelConsumer }

    private const int StackIds = 8;

    private static void XGroupHelp(CommandContext ctx) => HelpText.Write(ctx, "XGROUP",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a consumer group starting after <id> ($: the stream's last ID). Options:",
        "    * MKSTREAM",
        "      Create an empty stream when the key does not exist.",
        "    * ENTRIESREAD entries_read",
        "      The group's read counter (used by replication and the AOF).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Add a consumer to the group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove a consumer and its pending entries.",
        "DESTROY <key> <groupname>",
        "    Remove the group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Move the group's last delivered ID (and its read counter).");

    internal static string NoGroup(CommandContext ctx, int groupIndex, int keyIndex) =>
        $"NOGROUP No such consumer group '{ctx.Args.ToString(groupIndex)}' for key name '{ctx.Args.ToString(keyIndex)}'";

    private static void XGroup(CommandContext ctx, Sub sub)
    {
        var args = ctx.Args;
        int argc = args.Count;
        bool mkStream = false;
        long entriesRead = StreamGroup.InvalidEntriesRead;
        for (int i = 5; i < argc;)
        {
            if (sub == Sub.Create && args.Is(i, "MKSTREAM"u8))
            {
                mkStream = true;
                i++;
            }
            else if ((sub == Sub.Create || sub == Sub.SetId) && args.Is(i, "ENTRIESREAD"u8) && i + 1 < argc)
            {
                if (!ctx.TryGetLong(i + 1, out entriesRead)) return;
                if (entriesRead < 0 && entriesRead != StreamGroup.InvalidEntriesRead)
                {
                    ctx.Error("ERR value for ENTRIESREAD must be positive or -1");
                    return;
                }
                i += 2;
            }
            else
            {
                HelpText.SubcommandSyntaxError(ctx);
                return;
            }
        }

        var db = ctx.Db;
        int idx = db.Lookup(args[2], LookupFlags.Write);
        StreamValue? s = null;
        if (idx >= 0)
        {
            if (db.TypeAt(idx) != DataType.Stream)
            {
                ctx.WrongType();
                return;
            }
            s = (StreamValue)db.ObjectAt(idx)!;
        }
        StreamGroup? group = null;
        if (!mkStream)
        {
            if (s is null)
            {
                ctx.Error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
                return;
            }
            group = s.LookupGroup(args[3]);
            if (group is null && sub is Sub.SetId or Sub.CreateConsumer or Sub.DelConsumer)
            {
                ctx.Error(NoGroup(ctx, 3, 2));
                return;
            }
        }

        long before = idx >= 0 ? db.MemoryAt(idx) : 0;
        switch (sub)
        {
            case Sub.Create when argc >= 5 && argc <= 8:
            {
                StreamId id;
                if (args[4].Length == 1 && args[4][0] == '$') id = s?.LastId ?? StreamId.Zero;
                else if (!StreamCommands.TryParseId(ctx, 4, 0, strict: true, out id)) return;
                if (s is null)
                {
                    s = new StreamValue();
                    idx = db.AddObject(args[2], s);
                    before = db.MemoryAt(idx);
                }
                if (s.CreateGroup(args[3], id, entriesRead) is null)
                {
                    ctx.Error("BUSYGROUP Consumer Group name already exists");
                    return;
                }
                ctx.Reply.WriteOk();
                ctx.AddDirty();
                ctx.Notify(KeyspaceEventFlags.Stream, "xgroup-create"u8, args[2]);
                break;
            }
            case Sub.SetId when argc == 5 || argc == 7:
            {
                StreamId id;
                if (args[4].Length == 1 && args[4][0] == '$') id = s!.LastId;
                else if (!StreamCommands.TryParseId(ctx, 4, 0, strict: false, out id)) return;
                group!.LastId = id;
                group.EntriesRead = entriesRead;
                ctx.Reply.WriteOk();
                ctx.AddDirty();
                ctx.Notify(KeyspaceEventFlags.Stream, "xgroup-setid"u8, args[2]);
                break;
            }
            case Sub.Destroy when argc == 4:
                if (group is null)
                {
                    ctx.Reply.WriteInteger(0);
                    return;
                }
                s!.DestroyGroup(args[3]);
                ctx.Reply.WriteInteger(1);
                ctx.AddDirty();
                ctx.Notify(KeyspaceEventFlags.Stream, "xgroup-destroy"u8, args[2]);
                // XREADGROUP clients waiting on the group learn that it is gone.
                ctx.Server.Blocking.SignalReady(db, args[2]);
                break;
            case Sub.CreateConsumer when argc == 5:
            {
                var created = group!.CreateConsumer(args[4], ctx.NowMs);
                if (created is not null)
                {
                    ctx.AddDirty();
                    ctx.Notify(KeyspaceEventFlags.Stream, "xgroup-createconsumer"u8, args[2]);
                }
                ctx.Reply.WriteInteger(created is null ? 0 : 1);
                break;
            }
            case Sub.DelConsumer when argc == 5:
            {
                long pending = 0;
                var consumer = group!.LookupConsumer(args[4]);
                if (consumer is not null)
                {
                    pending = group.DeleteConsumer(consumer);
                    ctx.AddDirty();
                    ctx.Notify(KeyspaceEventFlags.Stream, "xgroup-delconsumer"u8, args[2]);
                }
                ctx.Reply.WriteInteger(pending);
                break;
            }
            default:
                HelpText.SubcommandSyntaxError(ctx);
                return;
        }
        if (idx >= 0) db.ValueResized(idx, before);
    }

    // ----- XACK -----

    private static void XAck(CommandContext ctx)
    {
        if (!StreamCommands.TryReadForEdit(ctx, 1, out int idx, out var s)) return;
        var group = s?.LookupGroup(ctx.Args[2]);
        if (group is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var args = ctx.Args;
        int n = args.Count - 3;
        // All or nothing: every ID is checked first.
        Span<StreamId> ids = n <= StackIds ? stackalloc StreamId[n] : new StreamId[n];
        for (int j = 0; j < n; j++)
            if (!StreamCommands.TryParseId(ctx, j + 3, 0, strict: true, out ids[j])) return;
        var db = ctx.Db;
        long before = db.MemoryAt(idx);
        long acknowledged = 0;
        foreach (var id in ids)
        {
            if (!group.Pel.Remove(id, out var nack)) continue;
            nack.Consumer?.Pel.Remove(id);
            acknowledged++;
        }
        if (acknowledged > 0)
        {
            ctx.AddDirty(acknowledged);
            db.ValueResized(idx, before);
        }
        ctx.Reply.WriteInteger(acknowledged);
    }

    // ----- XPENDING -----

    private static void XPending(CommandContext ctx)
    {
        var args = ctx.Args;
        int argc = args.Count;
        bool summary = argc == 3;
        long count = 0, minIdle = 0;
        StreamId start = default, end = default;
        int consumerIndex = -1;
        if (argc != 3 && (argc < 6 || argc > 9))
        {
            ctx.SyntaxError();
            return;
        }
        if (argc >= 6)
        {
            int startIdx = 3;
            if (args.Is(3, "IDLE"u8))
            {
                if (!ctx.TryGetLong(4, out minIdle)) return;
                if (argc < 8)
                {
                    ctx.SyntaxError();
                    return;
                }
                startIdx += 2;
            }
            if (!ctx.TryGetLong(startIdx + 2, out count)) return;
            if (count < 0) count = 0;
            if (!StreamCommands.TryParseStart(ctx, startIdx, out start)) return;
            if (!StreamCommands.TryParseEnd(ctx, startIdx + 1, out end)) return;
            if (startIdx + 3 < argc) consumerIndex = startIdx + 3;
        }

        if (!StreamCommands.TryRead(ctx, 1, out var s)) return;
        var group = s?.LookupGroup(args[2]);
        if (group is null)
        {
            ctx.Error($"NOGROUP No such key '{args.ToString(1)}' or consumer group '{args.ToString(2)}'");
            return;
        }

        var w = ctx.Reply;
        if (summary)
        {
            w.WriteArray(4);
            w.WriteInteger(group.Pel.Count);
            if (group.Pel.Count == 0)
            {
                w.WriteNull();
                w.WriteNull();
                w.WriteNullArray();
                return;
            }
            StreamCommands.WriteId(w, group.Pel.FirstKey);
            StreamCommands.WriteId(w, group.Pel.LastKey);
            int token = w.BeginDeferred();
            long n = 0;
            for (int i = 0; i < group.Consumers.Count; i++)
            {
                var consumer = group.Consumers.ValueAt(i);
                if (consumer.Pel.Count == 0) continue;
                w.WriteArray(2);
                w.WriteBulk(consumer.Name);
                w.WriteBulk(consumer.Pel.Count);
                n++;
            }
            w.EndDeferred(token, n);
            return;
        }

        var pel = group.Pel;
        if (consumerIndex >= 0)
        {
            var consumer = group.LookupConsumer(args[consumerIndex]);
            if (consumer is null)
            {
                w.WriteEmptyArray();
                return;
            }
            pel = consumer.Pel;
        }
        long now = ctx.NowMs;
        int listToken = w.BeginDeferred();
        long emitted = 0;
        for (var c = pel.SeekGreaterOrEqual(start); count > 0 && c.Valid; c = pel.Next(c))
        {
            var id = pel.KeyAt(c);
            if (id > end) break;
            var nack = pel.ValueAt(c);
            if (minIdle != 0 && now - nack.DeliveryTime < minIdle) continue;
            emitted++;
            count--;
            w.WriteArray(4);
            StreamCommands.WriteId(w, id);
            w.WriteBulk(nack.Consumer!.Name);
            w.WriteInteger(Math.Max(0, now - nack.DeliveryTime));
            w.WriteInteger(nack.DeliveryCount);
        }
        w.EndDeferred(listToken, emitted);
    }

    // ----- XCLAIM -----

    private static void XClaim(CommandContext ctx)
    {
        var args = ctx.Args;
        int argc = args.Count;
        if (!StreamCommands.TryReadForEdit(ctx, 1, out int idx, out var s)) return;
        var group = s?.LookupGroup(args[2]);
        if (group is null)
        {
            ctx.Error($"NOGROUP No such key '{args.ToString(1)}' or consumer group '{args.ToString(2)}'");
            return;
        }
        if (!NumberParser.TryParseLong(args[4], out long minIdle))
        {
            ctx.Error("ERR Invalid min-idle-time argument for XCLAIM");
            return;
        }
        if (minIdle < 0) minIdle = 0;

        // IDs first, up to the first argument that is not one: the options follow.
        int idCount = 0;
        Span<StreamId> stackIds = stackalloc StreamId[StackIds];
        StreamId[]? heapIds = argc - 5 > StackIds ? new StreamId[argc - 5] : null;
        Span<StreamId> ids = heapIds ?? stackIds;
        int j = 5;
        for (; j < argc; j++)
        {
            if (!StreamId.TryParse(args[j], 0, strict: true, allowAutoSeq: false, out ids[idCount], out _)) break;
            idCount++;
        }

        long now = ctx.NowMs;
        long retryCount = -1, deliveryTime = -1;
        bool force = false, justId = false;
        var lastId = StreamId.Zero;
        for (; j < argc; j++)
        {
            int moreArgs = argc - 1 - j;
            if (args.Is(j, "FORCE"u8)) force = true;
            else if (args.Is(j, "JUSTID"u8)) justId = true;
            else if (args.Is(j, "IDLE"u8) && moreArgs > 0)
            {
                j++;
                if (!NumberParser.TryParseLong(args[j], out deliveryTime))
                {
                    ctx.Error("ERR Invalid IDLE option argument for XCLAIM");
                    return;
                }
                deliveryTime = now - deliveryTime;
            }
            else if (args.Is(j, "TIME"u8) && moreArgs > 0)
            {
                j++;
                if (!NumberParser.TryParseLong(args[j], out deliveryTime))
                {
                    ctx.Error("ERR Invalid TIME option argument for XCLAIM");
                    return;
                }
            }
            else if (args.Is(j, "RETRYCOUNT"u8) && moreArgs > 0)
            {
                j++;
                if (!NumberParser.TryParseLong(args[j], out retryCount))
                {
                    ctx.Error("ERR Invalid RETRYCOUNT option argument for XCLAIM");
                    return;
                }
            }
            else if (args.Is(j, "LASTID"u8) && moreArgs > 0)
            {
                j++;
                if (!StreamCommands.TryParseId(ctx, j, 0, strict: true, out lastId)) return;
            }
            else
            {
                ctx.Error($"ERR Unrecognized XCLAIM option '{args.ToString(j)}'");
                return;
            }
        }

        var db = ctx.Db;
        long before = db.MemoryAt(idx);
        bool propagateLastId = false;
        if (lastId > group!.LastId)
        {
            group.LastId = lastId;
            propagateLastId = true;
        }
        // A delivery time in the future or before the epoch is taken as now rather than refused.
        if (deliveryTime != -1)
        {
            if (deliveryTime < 0 || deliveryTime > now) deliveryTime = now;
        }
        else deliveryTime = now;

        var consumer = LookupOrCreateConsumer(ctx, group, 3, 1);
        consumer.SeenTime = now;

        var w = ctx.Reply;
        int token = w.BeginDeferred();
        long claimed = 0;
        for (int k = 0; k < idCount; k++)
        {
            var id = ids[k];
            int argIndex = 5 + k;
            group.Pel.TryGetValue(id, out var nack);
            if (!s!.EntryExists(id))
            {
                // The entry is gone: drop it from the PEL, and tell replicas so.
                if (nack is not null)
                {
                    StreamCommands.PropagateClaim(ctx, 1, 2, group, nack.Consumer!.Name, id, nack);
                    propagateLastId = false;
                    ctx.AddDirty();
                    group.RemovePending(id, nack);
                }
                continue;
            }
            if (force && nack is null)
            {
                nack = new PendingEntry(now, null);
                group.Pel.TryAdd(id, nack);
            }
            if (nack is null) continue;
            // A FORCE-created entry has no owner yet and is claimed whatever its idle time.
            if (nack.Consumer is not null && minIdle != 0 && now - nack.DeliveryTime < minIdle) continue;
            if (nack.Consumer != consumer) nack.Consumer?.Pel.Remove(id);
            nack.DeliveryTime = deliveryTime;
            if (retryCount >= 0) nack.DeliveryCount = retryCount;
            else if (!justId) nack.DeliveryCount++;
            if (nack.Consumer != consumer)
            {
                consumer.Pel.TryAdd(id, nack);
                nack.Consumer = consumer;
            }
            if (justId) StreamCommands.WriteId(w, id);
            else StreamCommands.WriteEntryById(w, s, id);
            claimed++;
            consumer.ActiveTime = now;
            StreamCommands.PropagateClaim(ctx, 1, 2, group, consumer.Name, id, nack);
            propagateLastId = false;
            ctx.AddDirty();
        }
        if (propagateLastId)
        {
            StreamCommands.PropagateGroupPosition(ctx, 1, 2, group);
            ctx.AddDirty();
        }
        w.EndDeferred(token, claimed);
        ctx.PreventPropagation();
        db.ValueResized(idx, before);
    }

    /// <summary>The consumer named by argument <paramref name="index"/>, created (counted and notified) when new.</summary>
    private static StreamConsumer LookupOrCreateConsumer(CommandContext ctx, StreamGroup group, int index, int keyIndex)
    {
        var consumer = group.LookupConsumer(ctx.Args[index]);
        if (consumer is not null) return consumer;
        consumer = group.CreateConsumer(ctx.Args[index], ctx.NowMs)!;
        ctx.AddDirty();
        ctx.Notify(KeyspaceEventFlags.Stream, "xgroup-createconsumer"u8, ctx.Args[keyIndex]);
        return consumer;
    }

    // ----- XAUTOCLAIM -----

    private const int AttemptsFactor = 10;

    private static void XAutoClaim(CommandContext ctx)
    {
        var args = ctx.Args;
        int argc = args.Count;
        if (!NumberParser.TryParseLong(args[4], out long minIdle))
        {
            ctx.Error("ERR Invalid min-idle-time argument for XAUTOCLAIM");
            return;
        }
        if (minIdle < 0) minIdle = 0;
        if (!StreamCommands.TryParseStart(ctx, 5, out var start)) return;
        long count = 100;
        bool justId = false;
        for (int j = 6; j < argc; j++)
        {
            int moreArgs = argc - 1 - j;
            if (args.Is(j, "COUNT"u8) && moreArgs > 0)
            {
                // COUNT times the attempts factor (and the ID array) must not overflow.
                long maxCount = long.MaxValue / Math.Max(16, AttemptsFactor);
                if (!ctx.TryGetInRange(j + 1, 1, maxCount, "COUNT must be > 0", out count)) return;
                j++;
            }
            else if (args.Is(j, "JUSTID"u8)) justId = true;
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        if (!StreamCommands.TryReadForEdit(ctx, 1, out int idx, out var s)) return;
        var group = s?.LookupGroup(args[2]);
        if (group is null)
        {
            ctx.Error($"NOGROUP No such key '{args.ToString(1)}' or consumer group '{args.ToString(2)}'");
            return;
        }
        if (count > 1L << 36)
        {
            // Valkey cannot allocate its array of deleted IDs (16 bytes per COUNT) for such a COUNT.
            ctx.Error("ERR Insufficient memory, failed allocating transient memory, COUNT too high.");
            return;
        }

        var db = ctx.Db;
        long before = db.MemoryAt(idx);
        var consumer = LookupOrCreateConsumer(ctx, group!, 3, 1);
        long now = ctx.NowMs;
        consumer.SeenTime = now;
        long attempts = count * AttemptsFactor;

        // Claim first, reply after: the cursor leads the reply but is known only at the end.
        var claimedIds = new List<StreamId>();
        var deleted = new List<StreamId>();
        var pel = group!.Pel;
        var c = pel.SeekGreaterOrEqual(start);
        while (attempts-- > 0 && count > 0 && c.Valid)
        {
            var id = pel.KeyAt(c);
            var nack = pel.ValueAt(c);
            if (!s!.EntryExists(id))
            {
                StreamCommands.PropagateClaim(ctx, 1, 2, group, nack.Consumer!.Name, id, nack);
                ctx.AddDirty();
                group.RemovePending(id, nack);
                deleted.Add(id);
                c = pel.SeekGreaterOrEqual(id);
                count--;
                continue;
            }
            if (minIdle != 0 && now - nack.DeliveryTime < minIdle)
            {
                c = pel.Next(c);
                continue;
            }
            if (nack.Consumer != consumer) nack.Consumer?.Pel.Remove(id);
            nack.DeliveryTime = now;
            if (!justId) nack.DeliveryCount++;
            if (nack.Consumer != consumer)
            {
                consumer.Pel.TryAdd(id, nack);
                nack.Consumer = consumer;
            }
            claimedIds.Add(id);
            count--;
            consumer.ActiveTime = now;
            StreamCommands.PropagateClaim(ctx, 1, 2, group, consumer.Name, id, nack);
            ctx.AddDirty();
            c = pel.Next(c);
        }
        var next = c.Valid ? pel.KeyAt(c) : StreamId.Zero;

        var w = ctx.Reply;
        w.WriteArray(3);
        StreamCommands.WriteId(w, next);
        w.WriteArray(claimedIds.Count);
        foreach (var id in claimedIds)
        {
            if (justId) StreamCommands.WriteId(w, id);
            else StreamCommands.WriteEntryById(w, s!, id);
        }
        w.WriteArray(deleted.Count);
        foreach (var id in deleted) StreamCommands.WriteId(w, id);
        ctx.PreventPropagation();
        db.ValueResized(idx, before);
    }
}
