using Kvasir.Config;
using Kvasir.Replication;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// Key expiry commands (Valkey's expire.c): EXPIRE PEXPIRE EXPIREAT PEXPIREAT with NX XX GT LT,
/// TTL PTTL EXPIRETIME PEXPIRETIME and PERSIST. Expire times are absolute unix milliseconds;
/// relative times are taken from the command's time snapshot so a MULTI block or a script sees
/// one clock.
/// </summary>
public static class ExpireCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("expire", ctx => ExpireGeneric(ctx, ctx.NowMs, seconds: true));
        t.Bind("pexpire", ctx => ExpireGeneric(ctx, ctx.NowMs, seconds: false));
        t.Bind("expireat", ctx => ExpireGeneric(ctx, 0, seconds: true));
        t.Bind("pexpireat", ctx => ExpireGeneric(ctx, 0, seconds: false));
        t.Bind("ttl", ctx => TtlGeneric(ctx, milliseconds: false, absolute: false));
        t.Bind("pttl", ctx => TtlGeneric(ctx, milliseconds: true, absolute: false));
        t.Bind("expiretime", ctx => TtlGeneric(ctx, milliseconds: false, absolute: true));
        t.Bind("pexpiretime", ctx => TtlGeneric(ctx, milliseconds: true, absolute: true));
        t.Bind("persist", Persist);
    }

    /// <summary>Parses NX XX GT LT from argument 3 up to (not including) <paramref name="end"/>; replies the error itself.</summary>
    internal static bool TryParseConditions(CommandContext ctx, int end, out ExpireCondition flags)
    {
        flags = ExpireCondition.None;
        for (int j = 3; j < end; j++)
        {
            if (ctx.ArgIs(j, "NX"u8)) flags |= ExpireCondition.Nx;
            else if (ctx.ArgIs(j, "XX"u8)) flags |= ExpireCondition.Xx;
            else if (ctx.ArgIs(j, "GT"u8)) flags |= ExpireCondition.Gt;
            else if (ctx.ArgIs(j, "LT"u8)) flags |= ExpireCondition.Lt;
            else
            {
                ctx.Error($"ERR Unsupported option {ctx.Args.ToString(j)}");
                return false;
            }
        }
        if ((flags & ExpireCondition.Nx) != 0 && (flags & (ExpireCondition.Xx | ExpireCondition.Gt | ExpireCondition.Lt)) != 0)
        {
            ctx.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
            return false;
        }
        if ((flags & (ExpireCondition.Gt | ExpireCondition.Lt)) == (ExpireCondition.Gt | ExpireCondition.Lt))
        {
            ctx.Error("ERR GT and LT options at the same time are not compatible");
            return false;
        }
        return true;
    }

    private static void InvalidExpireTime(CommandContext ctx) =>
        ctx.Error($"ERR invalid expire time in '{ctx.Command.Name}' command");

    /// <summary>
    /// Valkey's convertExpireArgumentToUnixTime: argument <paramref name="index"/> (seconds or ms,
    /// relative to <paramref name="baseMs"/> or absolute when it is 0) as unix ms. Replies the error
    /// itself: not an integer, or "invalid expire time" on overflow and, when
    /// <paramref name="rejectNegative"/> (the hash field commands), for a negative value.
    /// </summary>
    internal static bool TryGetExpireTime(CommandContext ctx, int index, long baseMs, bool seconds, bool rejectNegative, out long when)
    {
        if (!ctx.TryGetLong(index, out when)) return false;
        if (rejectNegative && when < 0)
        {
            InvalidExpireTime(ctx);
            return false;
        }
        if (seconds)
        {
            if (when > long.MaxValue / 1000 || when < long.MinValue / 1000)
            {
                InvalidExpireTime(ctx);
                return false;
            }
            when *= 1000;
        }
        if (when > long.MaxValue - baseMs)
        {
            InvalidExpireTime(ctx);
            return false;
        }
        when += baseMs;
        return true;
    }

    private static void ExpireGeneric(CommandContext ctx, long baseMs, bool seconds)
    {
        // Options are validated before the time, matching Valkey's order of errors.
        if (!TryParseConditions(ctx, ctx.ArgCount, out var flags)) return;
        if (!TryGetExpireTime(ctx, 2, baseMs, seconds, rejectNegative: false, out long when)) return;

        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        if (flags != ExpireCondition.None)
        {
            long current = db.GetExpireAt(idx);
            if (flags.Refuses(current, when))
            {
                ctx.Reply.WriteInteger(0);
                return;
            }
        }

        // A time in the past deletes the key at once (an ordinary delete, not an expiry), except where
        // deletion of expired keys is suspended (a replica keeps it until its primary deletes it) or an
        // AOF is being loaded (Valkey's checkAlreadyExpired).
        if (when <= ctx.NowMs && ctx.Server.Keyspace.ExpireDeletes && !ctx.Server.Keyspace.Loading)
        {
            if (ctx.Propagating) ctx.PropagateAs(Effects.ExpiredOverwrite(ctx, ctx.Args[1]));
            db.DeleteAt(idx);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[1]);
        }
        else
        {
            db.SetExpireAt(idx, when);
            // Every form of EXPIRE is replayed as an absolute PEXPIREAT.
            if (ctx.Propagating) ctx.PropagateAs(Effects.ExpireAt(ctx.Args[1], when));
            ctx.Notify(KeyspaceEventFlags.Generic, "expire"u8, ctx.Args[1]);
        }
        ctx.Reply.WriteInteger(1);
    }

    private static void TtlGeneric(CommandContext ctx, bool milliseconds, bool absolute)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.NoTouch);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(-2);
            return;
        }
        long expire = db.GetExpireAt(idx);
        if (expire == -1)
        {
            ctx.Reply.WriteInteger(-1);
            return;
        }
        long ttl = absolute ? expire : expire - ctx.NowMs;
        if (ttl < 0) ttl = 0;
        // Rounded to the nearest second without overflowing near the largest expire time.
        ctx.Reply.WriteInteger(milliseconds ? ttl : (long)(((ulong)ttl + 500) / 1000));
    }

    private static void Persist(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        bool removed = idx >= 0 && db.RemoveExpireAt(idx);
        if (removed) ctx.Notify(KeyspaceEventFlags.Generic, "persist"u8, ctx.Args[1]);
        ctx.Reply.WriteInteger(removed ? 1 : 0);
    }
}
