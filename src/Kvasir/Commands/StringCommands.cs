using Kvasir.Replication;
using Kvasir.Clients;
using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// String commands (Valkey's t_string.c): GET, SET and its variants, multi-key MGET/MSET,
/// counters, ranges, APPEND and LCS. Plain values live inline in the key's blob, so GET/SET/INCR
/// of a same-length value touch no allocator; APPEND and SETRANGE switch the key to an editable
/// raw string.
/// </summary>
public static class StringCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("get", Get);
        t.Bind("set", Set);
        t.Bind("setnx", SetNx);
        t.Bind("setex", SetEx);
        t.Bind("psetex", PSetEx);
        t.Bind("mget", MGet);
        t.Bind("mset", MSet);
        t.Bind("msetnx", MSetNx);
        t.Bind("getset", GetSet);
        t.Bind("getdel", GetDel);
        t.Bind("getex", GetEx);
        t.Bind("append", Append);
        t.Bind("strlen", StrLen);
        t.Bind("incr", Incr);
        t.Bind("decr", Decr);
        t.Bind("incrby", IncrBy);
        t.Bind("decrby", DecrBy);
        t.Bind("incrbyfloat", IncrByFloat);
        t.Bind("getrange", GetRange);
        t.Bind("substr", GetRange);
        t.Bind("setrange", SetRange);
        t.Bind("lcs", Lcs);
    }

    // Option flags of SET and GETEX, as in Valkey's parseExtendedStringArgumentsOrReply.
    [Flags]
    private enum SetFlags
    {
        None = 0,
        Nx = 1,
        Xx = 2,
        Ex = 4,
        Px = 8,
        KeepTtl = 16,
        Get = 32,
        ExAt = 64,
        PxAt = 128,
        Persist = 256,
        AnyExpire = Ex | Px | ExAt | PxAt,
    }

    // ----- GET / SET family -----

    private static void Get(CommandContext ctx) => ReplyGet(ctx);

    /// <summary>Valkey's getGenericCommand: replies the value or null; false after a WRONGTYPE error.</summary>
    private static bool ReplyGet(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return true;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return false;
        }
        ctx.Reply.WriteBulk(db.StringAt(idx));
        return true;
    }

    private static void Set(CommandContext ctx)
    {
        if (ctx.ArgCount == 3)
        {
            // The common case: no options, nothing to parse.
            ctx.Db.SetString(ctx.Args[1], ctx.Args[2]);
            ctx.Notify(KeyspaceEventFlags.String, "set"u8, ctx.Args[1]);
            ctx.Reply.WriteOk();
            return;
        }
        if (!ParseExtendedOptions(ctx, isSet: true, out var flags, out int expireArg)) return;
        SetGeneric(ctx, flags, 2, expireArg, okAsInteger: false);
    }

    private static void SetNx(CommandContext ctx) => SetGeneric(ctx, SetFlags.Nx, 2, -1, okAsInteger: true);

    private static void SetEx(CommandContext ctx) => SetGeneric(ctx, SetFlags.Ex, 3, 2, okAsInteger: false);

    private static void PSetEx(CommandContext ctx) => SetGeneric(ctx, SetFlags.Px, 3, 2, okAsInteger: false);

    /// <summary>
    /// Valkey's setGenericCommand. <paramref name="okAsInteger"/> makes the replies :1 / :0 (SETNX)
    /// instead of +OK / null.
    /// </summary>
    private static void SetGeneric(CommandContext ctx, SetFlags flags, int valueArg, int expireArg, bool okAsInteger)
    {
        long whenMs = 0;
        if (expireArg >= 0 && !TryGetExpireTime(ctx, expireArg, flags, out whenMs)) return;

        bool withGet = (flags & SetFlags.Get) != 0;
        if (withGet && !ReplyGet(ctx)) return;

        var db = ctx.Db;
        var key = ctx.Args[1];
        int idx = db.Lookup(key, LookupFlags.Write);
        bool found = idx >= 0;
        if (((flags & SetFlags.Nx) != 0 && found) || ((flags & SetFlags.Xx) != 0 && !found))
        {
            if (!withGet)
            {
                if (okAsInteger) ctx.Reply.WriteInteger(0);
                else ctx.Reply.WriteNull();
            }
            return;
        }

        // A time already in the past: the key would be born expired, so it is simply removed.
        if (expireArg >= 0 && IsAlreadyExpired(ctx, whenMs))
        {
            if (found)
            {
                db.DeleteAt(idx);
                if (ctx.Propagating) ctx.PropagateAs(Effects.ExpiredOverwrite(ctx, key));
                ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, key);
            }
            if (!withGet) ReplyOk(ctx, okAsInteger);
            return;
        }

        bool keepTtl = (flags & SetFlags.KeepTtl) != 0 || expireArg >= 0;
        idx = db.SetString(key, ctx.Args[valueArg], keepTtl);
        ctx.Notify(KeyspaceEventFlags.String, "set"u8, key);
        if (expireArg >= 0)
        {
            db.SetExpireAt(idx, whenMs);
            ctx.AddDirty(-1); // value and TTL are one change, as in Valkey
            // Replicas and the AOF get an absolute time (PXAT as given is already absolute).
            if (ctx.Propagating && (flags & SetFlags.PxAt) == 0)
                ctx.PropagateAs(Effects.SetWithAbsoluteExpire(key, ctx.Args[valueArg], whenMs));
            ctx.Notify(KeyspaceEventFlags.Generic, "expire"u8, key);
        }
        if (!withGet) ReplyOk(ctx, okAsInteger);
        // Without an expire rewrite, SET ... GET replicates without its GET: replicas need no reply.
        else if (expireArg < 0 && ctx.Propagating) ctx.PropagateAs(WithoutGet(ctx));
    }

    private static byte[][] WithoutGet(CommandContext ctx)
    {
        var argv = new List<byte[]>(ctx.ArgCount);
        for (int i = 0; i < ctx.ArgCount; i++)
            if (i < 3 || !ctx.ArgIs(i, "GET"u8)) argv.Add(ctx.Args.ToArray(i));
        return argv.ToArray();
    }

    private static void ReplyOk(CommandContext ctx, bool asInteger)
    {
        if (asInteger) ctx.Reply.WriteInteger(1);
        else ctx.Reply.WriteOk();
    }

    /// <summary>
    /// Parses SET's options (from argument 3) or GETEX's (from argument 2). Conflicting options
    /// and unknown words are a syntax error; a repeated EX/PX/EXAT/PXAT takes the last value.
    /// </summary>
    private static bool ParseExtendedOptions(CommandContext ctx, bool isSet, out SetFlags flags, out int expireArg)
    {
        flags = SetFlags.None;
        expireArg = -1;
        var args = ctx.Args;
        int count = args.Count;
        for (int j = isSet ? 3 : 2; j < count; j++)
        {
            bool hasNext = j < count - 1;
            SetFlags f = flags;
            if (isSet && args.Is(j, "NX"u8) && (f & SetFlags.Xx) == 0) flags |= SetFlags.Nx;
            else if (isSet && args.Is(j, "XX"u8) && (f & SetFlags.Nx) == 0) flags |= SetFlags.Xx;
            else if (isSet && args.Is(j, "GET"u8)) flags |= SetFlags.Get;
            else if (isSet && args.Is(j, "KEEPTTL"u8) && (f & (SetFlags.Persist | SetFlags.AnyExpire)) == 0) flags |= SetFlags.KeepTtl;
            else if (!isSet && args.Is(j, "PERSIST"u8) && (f & (SetFlags.KeepTtl | SetFlags.AnyExpire)) == 0) flags |= SetFlags.Persist;
            else if (hasNext && TryExpireOption(args, j, f, out SetFlags opt))
            {
                flags |= opt;
                expireArg = ++j;
            }
            else
            {
                ctx.SyntaxError();
                return false;
            }
        }
        return true;
    }

    /// <summary>EX/PX/EXAT/PXAT, each refused next to KEEPTTL, PERSIST or a different expire option.</summary>
    private static bool TryExpireOption(Protocol.CommandArgs args, int j, SetFlags current, out SetFlags option)
    {
        if (args.Is(j, "EX"u8)) option = SetFlags.Ex;
        else if (args.Is(j, "PX"u8)) option = SetFlags.Px;
        else if (args.Is(j, "EXAT"u8)) option = SetFlags.ExAt;
        else if (args.Is(j, "PXAT"u8)) option = SetFlags.PxAt;
        else
        {
            option = SetFlags.None;
            return false;
        }
        var conflicts = SetFlags.KeepTtl | SetFlags.Persist | (SetFlags.AnyExpire & ~option);
        return (current & conflicts) == 0;
    }

    /// <summary>
    /// Valkey's getExpireMillisecondsOrReply: the expire argument as an absolute unix time in ms.
    /// Zero, negative and overflowing times are "invalid expire time".
    /// </summary>
    private static bool TryGetExpireTime(CommandContext ctx, int arg, SetFlags flags, out long whenMs)
    {
        if (!ctx.TryGetLong(arg, out whenMs)) return false;
        bool seconds = (flags & (SetFlags.Ex | SetFlags.ExAt)) != 0;
        if (whenMs <= 0 || (seconds && whenMs > long.MaxValue / 1000))
        {
            InvalidExpireTime(ctx);
            return false;
        }
        if (seconds) whenMs *= 1000;
        if ((flags & (SetFlags.Ex | SetFlags.Px)) != 0) whenMs = unchecked(whenMs + ctx.NowMs);
        if (whenMs <= 0)
        {
            InvalidExpireTime(ctx);
            return false;
        }
        return true;
    }

    private static void InvalidExpireTime(CommandContext ctx) =>
        ctx.Error($"ERR invalid expire time in '{ctx.Command.Name}' command");

    /// <summary>
    /// Valkey's checkAlreadyExpired: a time in the past deletes the key at once, except for the
    /// primary's stream on a replica, which waits for the primary's explicit DEL.
    /// </summary>
    private static bool IsAlreadyExpired(CommandContext ctx, long whenMs) =>
        whenMs <= ctx.NowMs && !ctx.Client.Has(ClientFlags.Master) && !ctx.Server.Keyspace.Loading;

    private static void GetEx(CommandContext ctx)
    {
        if (!ParseExtendedOptions(ctx, isSet: false, out var flags, out int expireArg)) return;
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        // The expire time is validated only for an existing string, as Valkey does.
        long whenMs = 0;
        if (expireArg >= 0 && !TryGetExpireTime(ctx, expireArg, flags, out whenMs)) return;

        ctx.Reply.WriteBulk(db.StringAt(idx));

        var key = ctx.Args[1];
        if ((flags & (SetFlags.ExAt | SetFlags.PxAt)) != 0 && IsAlreadyExpired(ctx, whenMs))
        {
            if (ctx.Propagating) ctx.PropagateAs(Effects.ExpiredOverwrite(ctx, key));
            db.DeleteAt(idx);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, key);
        }
        else if (expireArg >= 0)
        {
            db.SetExpireAt(idx, whenMs);
            if (ctx.Propagating) ctx.PropagateAs(Effects.ExpireAt(key, whenMs));
            ctx.Notify(KeyspaceEventFlags.Generic, "expire"u8, key);
        }
        else if ((flags & SetFlags.Persist) != 0 && db.RemoveExpireAt(idx))
        {
            if (ctx.Propagating) ctx.PropagateAs(Effects.Persist, key.ToArray());
            ctx.Notify(KeyspaceEventFlags.Generic, "persist"u8, key);
        }
    }

    private static void GetDel(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        ctx.Reply.WriteBulk(db.StringAt(idx));
        db.DeleteAt(idx);
        if (ctx.Propagating) ctx.PropagateAs(Effects.Del, ctx.Args.ToArray(1));
        ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[1]);
    }

    private static void GetSet(CommandContext ctx)
    {
        if (!ReplyGet(ctx)) return;
        ctx.Db.SetString(ctx.Args[1], ctx.Args[2]);
        ctx.Notify(KeyspaceEventFlags.String, "set"u8, ctx.Args[1]);
        // Replicated as the SET it amounts to, as Valkey does.
        if (ctx.Propagating) ctx.PropagateAs(Effects.Set, ctx.Args.ToArray(1), ctx.Args.ToArray(2));
    }

    private static void MGet(CommandContext ctx)
    {
        var db = ctx.Db;
        int n = ctx.ArgCount - 1;
        ctx.Reply.WriteArray(n);
        for (int j = 1; j <= n; j++)
        {
            int idx = db.Lookup(ctx.Args[j]);
            if (idx < 0 || db.TypeAt(idx) != DataType.String) ctx.Reply.WriteNull();
            else ctx.Reply.WriteBulk(db.StringAt(idx));
        }
    }

    private static void MSet(CommandContext ctx) => MSetGeneric(ctx, nx: false);

    private static void MSetNx(CommandContext ctx) => MSetGeneric(ctx, nx: true);

    private static void MSetGeneric(CommandContext ctx, bool nx)
    {
        int count = ctx.ArgCount;
        if (count % 2 == 0)
        {
            ctx.WrongArity();
            return;
        }
        var db = ctx.Db;
        if (nx)
        {
            for (int j = 1; j < count; j += 2)
            {
                if (db.Lookup(ctx.Args[j], LookupFlags.Write) >= 0)
                {
                    ctx.Reply.WriteInteger(0);
                    return;
                }
            }
        }
        for (int j = 1; j < count; j += 2)
        {
            db.SetString(ctx.Args[j], ctx.Args[j + 1]);
            ctx.Notify(KeyspaceEventFlags.String, "set"u8, ctx.Args[j]);
        }
        if (nx) ctx.Reply.WriteInteger(1);
        else ctx.Reply.WriteOk();
    }

    // ----- counters -----

    private static void Incr(CommandContext ctx) => IncrDecr(ctx, 1);

    private static void Decr(CommandContext ctx) => IncrDecr(ctx, -1);

    private static void IncrBy(CommandContext ctx)
    {
        if (!ctx.TryGetLong(2, out long incr)) return;
        IncrDecr(ctx, incr);
    }

    private static void DecrBy(CommandContext ctx)
    {
        if (!ctx.TryGetLong(2, out long incr)) return;
        if (incr == long.MinValue)
        {
            ctx.Error("ERR decrement would overflow");
            return;
        }
        IncrDecr(ctx, -incr);
    }

    private static void IncrDecr(CommandContext ctx, long incr)
    {
        var db = ctx.Db;
        var key = ctx.Args[1];
        int idx = db.Lookup(key, LookupFlags.Write);
        long value = 0;
        if (idx >= 0)
        {
            if (db.TypeAt(idx) != DataType.String)
            {
                ctx.WrongType();
                return;
            }
            if (!NumberParser.TryParseLong(db.StringAt(idx), out value))
            {
                ctx.NotInteger();
                return;
            }
        }
        if ((incr < 0 && value < 0 && incr < long.MinValue - value) ||
            (incr > 0 && value > 0 && incr > long.MaxValue - value))
        {
            ctx.Error("ERR increment or decrement would overflow");
            return;
        }
        value += incr;
        Span<byte> text = stackalloc byte[24];
        int n = NumberFormat.FormatLong(value, text);
        if (idx >= 0) db.SetStringAt(idx, text.Slice(0, n));
        else db.SetString(key, text.Slice(0, n));
        ctx.Notify(KeyspaceEventFlags.String, "incrby"u8, key);
        ctx.Reply.WriteInteger(value);
    }

    private static void IncrByFloat(CommandContext ctx)
    {
        var db = ctx.Db;
        var key = ctx.Args[1];
        int idx = db.Lookup(key, LookupFlags.Write);
        LongDouble value = LongDouble.Zero;
        if (idx >= 0)
        {
            if (db.TypeAt(idx) != DataType.String)
            {
                ctx.WrongType();
                return;
            }
            if (!LongDouble.TryParse(db.StringAt(idx), out value))
            {
                ctx.NotFloat();
                return;
            }
        }
        if (!LongDouble.TryParse(ctx.Args[2], out var incr))
        {
            ctx.NotFloat();
            return;
        }
        value += incr;
        if (!value.IsFinite)
        {
            ctx.Error("ERR increment would produce NaN or Infinity");
            return;
        }
        Span<byte> text = value.HasShortFormat ? stackalloc byte[64] : new byte[LongDouble.MaxChars];
        int n = value.FormatHuman(text);
        var result = text.Slice(0, n);
        if (idx >= 0) db.SetStringAt(idx, result);
        else db.SetString(key, result);
        ctx.Notify(KeyspaceEventFlags.String, "incrbyfloat"u8, key);
        // Replayed as the resulting value, so float formatting can never make a replica diverge.
        if (ctx.Propagating) ctx.PropagateAs(Effects.Set, key.ToArray(), result.ToArray(), Effects.KeepTtl);
        ctx.Reply.WriteBulk(result);
    }

    // ----- lengths and ranges -----

    /// <summary>Valkey's checkStringLength: a string may not grow past proto-max-bulk-len.</summary>
    internal static bool CheckStringLength(CommandContext ctx, long size, long append)
    {
        if (ctx.Client.MustObey && size + append <= Array.MaxLength) return true;
        long total = unchecked((long)((ulong)size + (ulong)append));
        // Beyond what one managed array holds is refused the same way.
        if (total > ctx.Server.Config.ProtoMaxBulkLen || total < size || total < append || total > Array.MaxLength)
        {
            ctx.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            return false;
        }
        return true;
    }

    private static void Append(CommandContext ctx)
    {
        var db = ctx.Db;
        var key = ctx.Args[1];
        var data = ctx.Args[2];
        int idx = db.Lookup(key, LookupFlags.Write);
        if (idx < 0)
        {
            db.SetString(key, data);
            ctx.Notify(KeyspaceEventFlags.String, "append"u8, key);
            ctx.Reply.WriteInteger(data.Length);
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        if (!CheckStringLength(ctx, db.StringAt(idx).Length, data.Length)) return;
        var raw = db.MakeRawString(idx);
        long before = db.MemoryAt(idx);
        raw.Append(data);
        db.ValueEdited(idx, before);
        ctx.Notify(KeyspaceEventFlags.String, "append"u8, key);
        ctx.Reply.WriteInteger(raw.Length);
    }

    private static void StrLen(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        ctx.Reply.WriteInteger(db.StringAt(idx).Length);
    }

    private static void GetRange(CommandContext ctx)
    {
        if (!ctx.TryGetLong(2, out long start) || !ctx.TryGetLong(3, out long end)) return;
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteBulk(ReadOnlySpan<byte>.Empty);
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        var s = db.StringAt(idx);
        long len = s.Length;
        if (start < 0 && end < 0 && start > end)
        {
            ctx.Reply.WriteBulk(ReadOnlySpan<byte>.Empty);
            return;
        }
        if (start < 0) start = len + start;
        if (end < 0) end = len + end;
        if (start < 0) start = 0;
        if (end < 0) end = 0;
        if ((ulong)end >= (ulong)len) end = len - 1;
        if (start > end || len == 0) ctx.Reply.WriteBulk(ReadOnlySpan<byte>.Empty);
        else ctx.Reply.WriteBulk(s.Slice((int)start, (int)(end - start + 1)));
    }

    private static void SetRange(CommandContext ctx)
    {
        if (!ctx.TryGetLong(2, out long offset)) return;
        if (offset < 0)
        {
            ctx.Error("ERR offset is out of range");
            return;
        }
        var db = ctx.Db;
        var key = ctx.Args[1];
        var data = ctx.Args[3];
        int idx = db.Lookup(key, LookupFlags.Write);
        if (idx < 0)
        {
            if (data.Length == 0)
            {
                ctx.Reply.WriteInteger(0);
                return;
            }
            if (!CheckStringLength(ctx, offset, data.Length)) return;
            var fresh = new RawString(ReadOnlySpan<byte>.Empty, (int)offset + data.Length);
            fresh.EnsureLength(offset + data.Length);
            data.CopyTo(fresh.WritableSpan.Slice((int)offset));
            db.AddObject(key, fresh);
            ctx.Notify(KeyspaceEventFlags.String, "setrange"u8, key);
            ctx.Reply.WriteInteger(fresh.Length);
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        int oldLength = db.StringAt(idx).Length;
        if (data.Length == 0)
        {
            ctx.Reply.WriteInteger(oldLength);
            return;
        }
        if (!CheckStringLength(ctx, offset, data.Length)) return;
        var raw = db.MakeRawString(idx);
        long before = db.MemoryAt(idx);
        raw.EnsureLength(offset + data.Length);
        data.CopyTo(raw.WritableSpan.Slice((int)offset));
        db.ValueEdited(idx, before);
        ctx.Notify(KeyspaceEventFlags.String, "setrange"u8, key);
        ctx.Reply.WriteInteger(raw.Length);
    }

    // ----- LCS -----

    private static void Lcs(CommandContext ctx)
    {
        var db = ctx.Db;
        int ia = db.Lookup(ctx.Args[1]);
        int ib = db.Lookup(ctx.Args[2]);
        if ((ia >= 0 && db.TypeAt(ia) != DataType.String) || (ib >= 0 && db.TypeAt(ib) != DataType.String))
        {
            ctx.Error("ERR The specified keys must contain string values");
            return;
        }

        bool getLen = false, getIdx = false, withMatchLen = false;
        long minMatchLen = 0;
        int count = ctx.ArgCount;
        for (int j = 3; j < count; j++)
        {
            bool moreArgs = j < count - 1;
            if (ctx.ArgIs(j, "IDX"u8)) getIdx = true;
            else if (ctx.ArgIs(j, "LEN"u8)) getLen = true;
            else if (ctx.ArgIs(j, "WITHMATCHLEN"u8)) withMatchLen = true;
            else if (ctx.ArgIs(j, "MINMATCHLEN"u8) && moreArgs)
            {
                if (!ctx.TryGetLong(j + 1, out minMatchLen)) return;
                if (minMatchLen < 0) minMatchLen = 0;
                j++;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (getLen && getIdx)
        {
            ctx.Error("ERR If you want both the length and indexes, please just use IDX.");
            return;
        }

        var a = ia >= 0 ? db.StringAt(ia) : ReadOnlySpan<byte>.Empty;
        var b = ib >= 0 ? db.StringAt(ib) : ReadOnlySpan<byte>.Empty;
        int alen = a.Length, blen = b.Length;
        long cells = (long)(alen + 1) * (blen + 1);
        if (cells > ctx.Server.Config.ProtoMaxBulkLen / sizeof(uint))
        {
            ctx.Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
            return;
        }
        uint[] table;
        try
        {
            if (cells > Array.MaxLength) throw new OutOfMemoryException();
            table = GC.AllocateUninitializedArray<uint>((int)cells);
        }
        catch (OutOfMemoryException)
        {
            ctx.Error("ERR Insufficient memory, failed allocating transient memory for LCS");
            return;
        }

        // table[i*(blen+1)+j] = length of the LCS of a[0..i) and b[0..j).
        int w = blen + 1;
        for (int j = 0; j <= blen; j++) table[j] = 0;
        for (int i = 1; i <= alen; i++)
        {
            int row = i * w, prev = row - w;
            table[row] = 0;
            byte ca = a[i - 1];
            for (int j = 1; j <= blen; j++)
            {
                if (ca == b[j - 1]) table[row + j] = table[prev + j - 1] + 1;
                else
                {
                    uint up = table[prev + j], left = table[row + j - 1];
                    table[row + j] = up > left ? up : left;
                }
            }
        }

        uint total = table[alen * w + blen];
        var reply = ctx.Reply;
        if (getLen)
        {
            reply.WriteInteger(total);
            return;
        }

        // Walk back from the end, collecting the LCS and, for IDX, the matching ranges.
        byte[] result = new byte[total];
        int token = -1;
        long ranges = 0;
        if (getIdx)
        {
            reply.WriteMap(2);
            reply.WriteBulk("matches"u8);
            token = reply.BeginDeferred();
        }
        uint pos = total;
        int ai = alen, bi = blen;
        int aStart = alen, aEnd = 0, bStart = 0, bEnd = 0; // aStart == alen: no range open
        while (ai > 0 && bi > 0)
        {
            bool emit = false;
            if (a[ai - 1] == b[bi - 1])
            {
                result[pos - 1] = a[ai - 1];
                if (aStart == alen)
                {
                    aStart = aEnd = ai - 1;
                    bStart = bEnd = bi - 1;
                }
                else if (aStart == ai && bStart == bi)
                {
                    aStart--;
                    bStart--;
                }
                else emit = true;
                if (aStart == 0 || bStart == 0) emit = true;
                pos--;
                ai--;
                bi--;
            }
            else
            {
                uint up = table[(ai - 1) * w + bi], left = table[ai * w + bi - 1];
                if (up > left) ai--;
                else bi--;
                if (aStart != alen) emit = true;
            }

            if (emit)
            {
                long matchLen = aEnd - aStart + 1;
                if (getIdx && (minMatchLen == 0 || matchLen >= minMatchLen))
                {
                    reply.WriteArray(withMatchLen ? 3 : 2);
                    reply.WriteArray(2);
                    reply.WriteInteger(aStart);
                    reply.WriteInteger(aEnd);
                    reply.WriteArray(2);
                    reply.WriteInteger(bStart);
                    reply.WriteInteger(bEnd);
                    if (withMatchLen) reply.WriteInteger(matchLen);
                    ranges++;
                }
                aStart = alen;
            }
        }

        if (getIdx)
        {
            reply.WriteBulk("len"u8);
            reply.WriteInteger(total);
            reply.EndDeferred(token, ranges);
        }
        else
        {
            reply.WriteBulk(result);
        }
    }
}
