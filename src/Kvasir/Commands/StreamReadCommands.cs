using Kvasir.Clients;
using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Protocol;
using Kvasir.Types;
using Kvasir.Types.Streams;

namespace Kvasir.Commands;

/// <summary>
/// XREAD and XREADGROUP (Valkey's xreadCommand): serve what the streams already hold, or wait.
/// A waiting client is registered in <see cref="BlockingRegistry"/> like BLPOP and its command
/// runs again after a write to one of its streams; "$" is replaced by the stream's last ID when it
/// first blocks, so the run after a write sees only what came after. XREADGROUP also wakes when
/// its stream is deleted, replaced or loses its group, and then answers the error that says so.
/// The command never propagates itself: XREADGROUP propagates its effects (XCLAIM per delivered
/// entry, XGROUP SETID for the group position, XGROUP CREATECONSUMER for NOACK reads).
/// </summary>
public static class StreamReadCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("xread", c => XRead(c, xreadgroup: false));
        t.Bind("xreadgroup", c => XRead(c, xreadgroup: true));
    }

    private const int StackIds = 8;

    private static void XRead(CommandContext ctx, bool xreadgroup)
    {
        ctx.PreventPropagation();
        var args = ctx.Args;
        int argc = args.Count;
        long deadline = -1;
        long count = 0;
        int streamsArg = 0, streamsCount = 0;
        bool noAck = false;
        int groupIndex = -1, consumerIndex = -1;

        for (int i = 1; i < argc; i++)
        {
            int moreArgs = argc - i - 1;
            if (args.Is(i, "BLOCK"u8) && moreArgs > 0)
            {
                i++;
                if (!BlockingCommands.TryGetDeadline(ctx, i, TimeUnit.Milliseconds, out deadline)) return;
            }
            else if (args.Is(i, "COUNT"u8) && moreArgs > 0)
            {
                i++;
                if (!ctx.TryGetLong(i, out count)) return;
                if (count < 0) count = 0;
            }
            else if (args.Is(i, "STREAMS"u8) && moreArgs > 0)
            {
                streamsArg = i + 1;
                streamsCount = argc - streamsArg;
                if (streamsCount % 2 != 0)
                {
                    ctx.Error(xreadgroup
                        ? "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."
                        : "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.");
                    return;
                }
                streamsCount /= 2;
                break;
            }
            else if (args.Is(i, "GROUP"u8) && moreArgs >= 2)
            {
                if (!xreadgroup)
                {
                    ctx.Error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
                    return;
                }
                groupIndex = i + 1;
                consumerIndex = i + 2;
                i += 2;
            }
            else if (args.Is(i, "NOACK"u8))
            {
                if (!xreadgroup)
                {
                    ctx.Error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
                    return;
                }
                noAck = true;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (streamsArg == 0)
        {
            ctx.SyntaxError();
            return;
        }
        if (xreadgroup && groupIndex < 0)
        {
            ctx.Error("ERR Missing GROUP option for XREADGROUP");
            return;
        }

        var db = ctx.Db;
        Span<StreamId> ids = streamsCount <= StackIds ? stackalloc StreamId[streamsCount] : new StreamId[streamsCount];
        bool rewriteDollar = false;
        for (int i = streamsArg + streamsCount; i < argc; i++)
        {
            int n = i - streamsArg - streamsCount;
            var key = args[i - streamsCount];
            int idx = db.Lookup(key);
            if (idx >= 0 && db.TypeAt(idx) != DataType.Stream)
            {
                ctx.WrongType();
                return;
            }
            var s = idx >= 0 ? (StreamValue)db.ObjectAt(idx)! : null;
            if (groupIndex >= 0 && s?.LookupGroup(args[groupIndex]) is null)
            {
                ctx.Error($"NOGROUP No such key '{args.ToString(i - streamsCount)}' or consumer group '{args.ToString(groupIndex)}' in XREADGROUP with GROUP option");
                return;
            }
            var arg = args[i];
            if (arg.Length == 1 && arg[0] == '$')
            {
                if (xreadgroup)
                {
                    ctx.Error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
                    return;
                }
                ids[n] = s?.LastId ?? StreamId.Zero;
                rewriteDollar = true;
            }
            else if (arg.Length == 1 && arg[0] == '+')
            {
                if (xreadgroup)
                {
                    ctx.Error("ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set.");
                    return;
                }
                ids[n] = StreamId.Zero;
                if (s is not null && !s.LastId.TryDecrement(out ids[n]))
                {
                    ctx.Error("ERR the stream last element ID is 0-0");
                    return;
                }
            }
            else if (arg.Length == 1 && arg[0] == '>')
            {
                if (!xreadgroup)
                {
                    ctx.Error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
                    return;
                }
                // The largest ID marks ">": the group's position is taken when serving.
                ids[n] = StreamId.Max;
            }
            else if (!StreamCommands.TryParseId(ctx, i, 0, strict: true, out ids[n])) return;
        }

        // Serve what is there now.
        var w = ctx.Reply;
        long served = 0;
        int token = -1;
        for (int n = 0; n < streamsCount; n++)
        {
            int keyIndex = streamsArg + n;
            int idx = db.Lookup(args[keyIndex]);
            if (idx < 0) continue;
            var s = (StreamValue)db.ObjectAt(idx)!;
            var gt = ids[n];
            bool serve = false, history = false;
            StreamGroup? group = null;
            StreamConsumer? consumer = null;
            long memoryBefore = 0;
            if (xreadgroup)
            {
                db.Context.BeforeKeyChange?.Invoke(db, idx);
                memoryBefore = db.MemoryAt(idx);
                group = s.LookupGroup(args[groupIndex])!;
                if (gt != StreamId.Max)
                {
                    // An explicit ID reads the consumer's own history, even when it is empty.
                    serve = true;
                    history = true;
                }
                else if (s.Length > 0 && s.LastValidId() > group.LastId)
                {
                    serve = true;
                    gt = group.LastId;
                }
                consumer = group.LookupConsumer(args[consumerIndex]);
                if (consumer is null)
                {
                    consumer = group.CreateConsumer(args[consumerIndex], ctx.NowMs)!;
                    ctx.AddDirty();
                    ctx.Notify(KeyspaceEventFlags.Stream, "xgroup-createconsumer"u8, args[keyIndex]);
                    if (noAck) StreamCommands.PropagateConsumerCreation(ctx, keyIndex, groupIndex, consumer.Name);
                }
                consumer.SeenTime = ctx.NowMs;
            }
            else if (s.Length > 0 && s.LastValidId() > gt)
            {
                serve = true;
            }

            if (serve)
            {
                if (served++ == 0) token = w.BeginDeferred();
                gt.TryIncrement(out var start);
                if (!w.IsResp3) w.WriteArray(2);
                w.WriteBulk(args[keyIndex]);
                var flags = StreamCommands.RangeFlags.None;
                if (noAck) flags |= StreamCommands.RangeFlags.NoAck;
                if (history) flags |= StreamCommands.RangeFlags.History;
                StreamCommands.ReplyRange(ctx, s, start, StreamId.Max, count, false, group, consumer, flags, keyIndex, groupIndex);
                if (xreadgroup) ctx.AddDirty();
            }
            // Group reads change the group, never the entries: no write signal, only memory.
            if (xreadgroup) db.ValueResized(idx, memoryBefore);
        }
        if (served > 0)
        {
            w.EndDeferred(token, served, w.IsResp3 ? '%' : '*');
            return;
        }

        if (deadline != -1)
        {
            if (BlockingCommands.MayNotBlock(ctx.Client))
            {
                w.WriteNullArray();
                return;
            }
            var keys = new string[streamsCount];
            for (int n = 0; n < streamsCount; n++) keys[n] = BlockingRegistry.KeyString(args[streamsArg + n]);
            // "$" becomes the ID it stood for, or the run after a write would wait for yet newer entries.
            CommandArgs? owned = null;
            if (rewriteDollar)
            {
                var argv = args.ToArrays();
                for (int n = 0; n < streamsCount; n++)
                {
                    int at = streamsArg + streamsCount + n;
                    if (argv[at].Length == 1 && argv[at][0] == '$') argv[at] = ids[n].ToBytes();
                }
                owned = new CommandArgs();
                owned.SetOwned(argv);
            }
            ctx.Server.Blocking.Block(ctx, keys, DataType.Stream, deadline, owned, unblockOnNoKey: xreadgroup);
            return;
        }
        w.WriteNullArray();
    }
}
