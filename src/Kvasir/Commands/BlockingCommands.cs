using Kvasir.Clients;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// The blocking pops (Valkey's BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP)
/// and CLIENT UNBLOCK. A command that finds data serves like its non-blocking form. One that finds
/// none registers the client in <see cref="BlockingRegistry"/> and leaves it suspended: the
/// dispatcher re-runs it when a key it waits on is written, or answers the timeout/unblock instead.
/// Inside MULTI/EXEC and scripts nothing waits: the empty answer comes at once.
/// </summary>
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

    public enum Retry { Run, Wait, Replied }

    /// <summary>
    /// For a client waiting in a blocking command that its connection retries: keep waiting, end
    /// the wait with the timeout or CLIENT UNBLOCK answer, or run the command again (a key it waits
    /// on was written).
    /// </summary>
    public static Retry CheckRetry(CommandContext ctx)
    {
        var client = ctx.Client;
        var state = client.Blocking!;
        var registry = ctx.Server.Blocking;
        if (state.Outcome == BlockOutcome.Error)
        {
            registry.Unblock(client);
            ctx.Error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            return Retry.Replied;
        }
        if (state.Outcome == BlockOutcome.Timeout ||
            (state.DeadlineMs != 0 && state.DeadlineMs <= DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()))
        {
            registry.Unblock(client);
            ctx.Reply.WriteNullArray();
            return Retry.Replied;
        }
        return state.Ready ? Retry.Run : Retry.Wait;
    }

    /// <summary>Valkey's getTimeoutFromObjectOrReply in seconds: the deadline in unix ms, 0 for none.</summary>
    private static bool TryGetDeadline(CommandContext ctx, int index, out long deadline)
    {
        deadline = 0;
        // A retry keeps the deadline it computed when it first blocked.
        if (ctx.Client.Blocking is { } state)
        {
            deadline = state.DeadlineMs;
            return true;
        }
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
        long t = (long)Math.Ceiling(ms);
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
    private static bool MayNotBlock(Client c) =>
        c.Has(ClientFlags.Multi) || c.ExecArgvMemory >= 0 || c.Has(ClientFlags.Fake) || c.Transport is null;

    /// <summary>
    /// Looks at keys [first, end) (step 1) for a non-empty value of <paramref name="type"/>. Returns
    /// its argument index and sets <paramref name="idx"/>; -1 when none. On the first run a key of
    /// another type is a WRONGTYPE error (-2); on a retry it only counts as empty, as Valkey serves
    /// a woken client only when the key now has the type it waits for.
    /// </summary>
    private static int FindData(CommandContext ctx, int first, int end, DataType type, out int idx)
    {
        var db = ctx.Db;
        bool retry = ctx.Client.Blocking is not null;
        if (retry)
        {
            // Run the command like Valkey's re-execution does only when one key has the awaited type.
            bool any = false;
            for (int k = first; k < end && !any; k++)
            {
                int i = db.Lookup(ctx.Args[k], LookupFlags.Write);
                any = i >= 0 && db.TypeAt(i) == type;
            }
            if (!any)
            {
                idx = -1;
                return -1;
            }
        }
        for (int k = first; k < end; k++)
        {
            idx = db.Lookup(ctx.Args[k], LookupFlags.Write);
            if (idx < 0) continue;
            if (db.TypeAt(idx) != type)
            {
                ctx.WrongType();
                return -2;
            }
            // Data just written for a woken waiter that has not run yet is not ours to take.
            if (!retry && !MayNotBlock(ctx.Client) && ctx.Server.Blocking.HasWokenWaiter(ctx.Client.DbIndex, ctx.Args[k]))
            {
                idx = -1;
                return -1;
            }
            return k;
        }
        idx = -1;
        return -1;
    }

    /// <summary>No data: wait (or, where waiting is not allowed, answer <paramref name="noWait"/> now).</summary>
    private static void BlockOrAnswer(CommandContext ctx, int first, int end, long deadline, Action<CommandContext> noWait)
    {
        var client = ctx.Client;
        if (client.Blocking is { } state)
        {
            // Woken, but someone else took the data: wait again in the same place.
            state.Ready = false;
            return;
        }
        if (MayNotBlock(client))
        {
            noWait(ctx);
            return;
        }
        var keys = new string[end - first];
        for (int k = first; k < end; k++) keys[k - first] = BlockingRegistry.KeyString(ctx.Args[k]);
        ctx.Server.Blocking.Block(client, client.DbIndex, keys, deadline);
    }

    /// <summary>
    /// The common path of every blocking command: the argument index of a key holding data to serve
    /// (the client is no longer blocked), or -1 when the command is already answered: a WRONGTYPE
    /// error, or no data so the client waits (or gets <paramref name="noWait"/> where it may not).
    /// </summary>
    private static int ServeOrBlock(CommandContext ctx, int first, int end, DataType type, long deadline, Action<CommandContext> noWait, out int idx)
    {
        int k = FindData(ctx, first, end, type, out idx);
        if (k == -1)
        {
            BlockOrAnswer(ctx, first, end, deadline, noWait);
            return -1;
        }
        Served(ctx);
        return k < 0 ? -1 : k;
    }

    private static void Served(CommandContext ctx)
    {
        if (ctx.Client.Blocking is not null) ctx.Server.Blocking.Unblock(ctx.Client);
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
        var outcome = BlockOutcome.Timeout;
        if (args.Count == 4)
        {
            if (args.Is(3, "ERROR"u8)) outcome = BlockOutcome.Error;
            else if (!args.Is(3, "TIMEOUT"u8))
            {
                ctx.Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
                return;
            }
        }
        if (!ctx.TryGetLong(2, out long id)) return;
        var target = ctx.Server.Clients.Find(id);
        ctx.Reply.WriteInteger(target is not null && ctx.Server.Blocking.RequestUnblock(target, outcome) ? 1 : 0);
    }
}
