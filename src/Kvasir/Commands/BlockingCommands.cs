using Kvasir.Clients;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// The blocking pops (Valkey's BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP)
/// and CLIENT UNBLOCK. A command that finds data serves like its non-blocking form. One that finds
/// none registers the client in <see cref="BlockingRegistry"/> and its connection stays suspended:
/// the registry runs the command again right after a write makes a key it waits on hold data, or
/// answers the timeout / CLIENT UNBLOCK itself. Inside MULTI/EXEC and scripts nothing waits: the
/// empty answer comes at once.
/// </summary>
/// <summary>The unit a timeout argument is given in.</summary>
public enum TimeUnit { Seconds, Milliseconds }

public static class BlockingCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("blpop", ctx => ListPop(ctx, head: true));
        t.Bind("brpop", ctx => ListPop(ctx, head: false));
        t.Bind("blmove", Blmove);
        t.Bind("brpoplpush", Brpoplpush);
        t.Bind("blmpop", Blmpop);
        t.Bind("bzpopmin", ctx => ZsetPop(ctx, max: false));
        t.Bind("bzpopmax", ctx => ZsetPop(ctx, max: true));
        t.Bind("bzmpop", Bzmpop);
        t.Bind("client|unblock", ClientUnblock);
    }

    private static readonly byte[] LmoveName = "LMOVE"u8.ToArray();
    private static readonly byte[] RpoplpushName = "RPOPLPUSH"u8.ToArray();

    /// <summary>Valkey's getTimeoutFromObjectOrReply in seconds: the deadline in unix ms, 0 for none.</summary>
    private static bool TryGetDeadline(CommandContext ctx, int index, out long deadline) =>
        TryGetDeadline(ctx, index, TimeUnit.Seconds, out deadline);

    /// <summary>
    /// Valkey's getTimeoutFromObjectOrReply: seconds as a float (blocking pops), or whole
    /// milliseconds (WAIT, WAITAOF); the deadline in unix ms, 0 for none.
    /// </summary>
    public static bool TryGetDeadline(CommandContext ctx, int index, TimeUnit unit, out long deadline)
    {
        deadline = 0;
        // Run again after a write: the wait keeps the deadline it had when it first blocked.
        if (ctx.Reprocessing is { } state)
        {
            deadline = state.DeadlineMs;
            return true;
        }
        long t;
        if (unit == TimeUnit.Milliseconds)
        {
            if (!Types.NumberParser.TryParseLong(ctx.Args[index], out t))
            {
                ctx.Error("ERR timeout is not an integer or out of range");
                return false;
            }
        }
        else
        {
            if (!LongDouble.TryParse(ctx.Args[index], out var parsed))
            {
                ctx.Error("ERR timeout is not a float or out of range");
                return false;
            }
            double ms = parsed.ToDouble() * 1000.0;
            if (ms > long.MaxValue)
            {
                ctx.Error("ERR timeout is out of range");
                return false;
            }
            t = (long)Math.Ceiling(ms);
        }
        if (t < 0)
        {
            ctx.Error("ERR timeout is negative");
            return false;
        }
        if (t > 0)
        {
            long now = ctx.NowMs;
            if (t > long.MaxValue - now)
            {
                ctx.Error("ERR timeout is out of range");
                return false;
            }
            t += now;
        }
        deadline = t;
        return true;
    }

    /// <summary>MULTI/EXEC, scripts and internal clients cannot wait (Valkey's CLIENT_DENY_BLOCKING).</summary>
    internal static bool MayNotBlock(Client c) =>
        c.Has(ClientFlags.Multi) || c.ExecArgvMemory >= 0 || c.Has(ClientFlags.Fake) || c.Transport is null;

    /// <summary>
    /// The common path of every blocking command: the argument index of the first key in [first, end)
    /// holding a value (the handler serves from it), or -1 when the command is already answered: a
    /// WRONGTYPE error (a key of another type comes first), or no data so the client waits (or gets
    /// <paramref name="noWait"/> where it may not).
    /// </summary>
    private static int ServeOrBlock(CommandContext ctx, int first, int end, DataType type, long deadline, Action<CommandContext> noWait, out int idx)
    {
        var db = ctx.Db;
        for (int k = first; k < end; k++)
        {
            idx = db.Lookup(ctx.Args[k], LookupFlags.Write);
            if (idx < 0) continue;
            if (db.TypeAt(idx) == type) return k;
            ctx.WrongType();
            return -1;
        }
        idx = -1;
        if (MayNotBlock(ctx.Client))
        {
            noWait(ctx);
            return -1;
        }
        var keys = new string[end - first];
        for (int k = first; k < end; k++) keys[k - first] = BlockingRegistry.KeyString(ctx.Args[k]);
        ctx.Server.Blocking.Block(ctx, keys, type, deadline);
        return -1;
    }

    private static readonly Action<CommandContext> NullArray = c => c.Reply.WriteNullArray();
    private static readonly Action<CommandContext> NullBulk = c => c.Reply.WriteNull();

    // ----- lists -----

    private static void ListPop(CommandContext ctx, bool head)
    {
        int end = ctx.Args.Count - 1;
        if (!TryGetDeadline(ctx, end, out long deadline)) return;
        int k = ServeOrBlock(ctx, 1, end, DataType.List, deadline, NullArray, out int idx);
        if (k < 0) return;
        ListCommands.ServeBlockedPop(ctx, k, idx, head, -1);
    }

    private static bool TryParseWhere(CommandContext ctx, int index, out bool head)
    {
        head = ctx.Args.Is(index, "LEFT"u8);
        if (head || ctx.Args.Is(index, "RIGHT"u8)) return true;
        ctx.SyntaxError();
        return false;
    }

    private static void Blmove(CommandContext ctx)
    {
        if (!TryParseWhere(ctx, 3, out bool fromHead) || !TryParseWhere(ctx, 4, out bool toHead)) return;
        if (!TryGetDeadline(ctx, 5, out long deadline)) return;
        Move(ctx, fromHead, toHead, deadline, LmoveName);
    }

    private static void Brpoplpush(CommandContext ctx)
    {
        if (!TryGetDeadline(ctx, 3, out long deadline)) return;
        Move(ctx, fromHead: false, toHead: true, deadline, RpoplpushName);
    }

    private static void Move(CommandContext ctx, bool fromHead, bool toHead, long deadline, byte[] plainName)
    {
        int k = ServeOrBlock(ctx, 1, 2, DataType.List, deadline, NullBulk, out _);
        if (k < 0) return;
        if (ctx.Propagating)
        {
            var a = ctx.Args;
            if (plainName == LmoveName) ctx.PropagateAs(LmoveName, a.ToArray(1), a.ToArray(2), a.ToArray(3), a.ToArray(4));
            else ctx.PropagateAs(RpoplpushName, a.ToArray(1), a.ToArray(2));
        }
        ListCommands.Move(ctx, fromHead, toHead);
    }

    private static void Blmpop(CommandContext ctx)
    {
        var args = ctx.Args;
        if (!TryGetDeadline(ctx, 1, out long deadline)) return;
        if (!ctx.TryGetInRange(2, 1, long.MaxValue, "numkeys should be greater than 0", out long numKeys)) return;
        if (numKeys > args.Count - 4)
        {
            ctx.SyntaxError();
            return;
        }
        int whereIdx = 3 + (int)numKeys;
        if (!TryParseWhere(ctx, whereIdx, out bool head)) return;
        if (!TryParseCount(ctx, whereIdx + 1, out long count)) return;
        int k = ServeOrBlock(ctx, 3, whereIdx, DataType.List, deadline, NullArray, out int idx);
        if (k < 0) return;
        ListCommands.ServeBlockedPop(ctx, k, idx, head, count);
    }

    /// <summary>The optional "COUNT n" of BLMPOP/BZMPOP (1 when absent).</summary>
    private static bool TryParseCount(CommandContext ctx, int from, out long count)
    {
        var args = ctx.Args;
        count = -1;
        for (int j = from; j < args.Count; j++)
        {
            if (count == -1 && j + 1 < args.Count && args.Is(j, "COUNT"u8))
            {
                j++;
                if (!ctx.TryGetInRange(j, 1, long.MaxValue, "count should be greater than 0", out count)) return false;
            }
            else
            {
                ctx.SyntaxError();
                return false;
            }
        }
        if (count == -1) count = 1;
        return true;
    }

    // ----- sorted sets -----

    private static void ZsetPop(CommandContext ctx, bool max)
    {
        int end = ctx.Args.Count - 1;
        if (!TryGetDeadline(ctx, end, out long deadline)) return;
        int k = ServeOrBlock(ctx, 1, end, DataType.ZSet, deadline, NullArray, out _);
        if (k < 0) return;
        SortedSetCommands.Pop(ctx, k, 1, max, emitKey: true, -1, nested: false, nullWhenEmpty: true);
        // Replicated as the plain pop of one element, without a count (as Valkey does).
        if (ctx.Propagating) ctx.PropagateAs(max ? SortedSetCommands.ZPopMaxName : SortedSetCommands.ZPopMinName, ctx.Args.ToArray(k));
    }

    private static void Bzmpop(CommandContext ctx)
    {
        var args = ctx.Args;
        if (!TryGetDeadline(ctx, 1, out long deadline)) return;
        if (!ctx.TryGetInRange(2, 1, long.MaxValue, "numkeys should be greater than 0", out long numKeys)) return;
        if (numKeys >= args.Count - 3)
        {
            ctx.SyntaxError();
            return;
        }
        int whereIdx = 3 + (int)numKeys;
        bool max;
        if (args.Is(whereIdx, "MIN"u8)) max = false;
        else if (args.Is(whereIdx, "MAX"u8)) max = true;
        else
        {
            ctx.SyntaxError();
            return;
        }
        if (!TryParseCount(ctx, whereIdx + 1, out long count)) return;
        int k = ServeOrBlock(ctx, 3, whereIdx, DataType.ZSet, deadline, NullArray, out _);
        if (k < 0) return;
        SortedSetCommands.Pop(ctx, k, 1, max, emitKey: true, count, nested: true, nullWhenEmpty: true);
    }

    // ----- CLIENT UNBLOCK -----

    private static void ClientUnblock(CommandContext ctx)
    {
        var args = ctx.Args;
        if (args.Count > 4)
        {
            ctx.Error("ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.");
            return;
        }
        bool error = false;
        if (args.Count == 4)
        {
            if (args.Is(3, "ERROR"u8)) error = true;
            else if (!args.Is(3, "TIMEOUT"u8))
            {
                ctx.Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
                return;
            }
        }
        if (!ctx.TryGetLong(2, out long id)) return;
        var target = ctx.Server.Clients.Find(id);
        if (target?.Blocking is null)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        // The waiter is answered now, before this reply, as in Valkey.
        if (error) ctx.Server.Blocking.FailWith(target, "UNBLOCKED client unblocked via CLIENT UNBLOCK");
        else ctx.Server.Blocking.TimeOut(target);
        ctx.Reply.WriteInteger(1);
    }
}
