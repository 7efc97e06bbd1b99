using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>Hash commands (Valkey's t_hash.c).</summary>
public static class HashCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("hset", HSet);
        t.Bind("hmset", HSet);
        t.Bind("hsetnx", HSetNx);
        t.Bind("hget", HGet);
        t.Bind("hmget", HMGet);
        t.Bind("hdel", HDel);
        t.Bind("hexists", HExists);
        t.Bind("hlen", HLen);
        t.Bind("hstrlen", HStrLen);
        t.Bind("hkeys", HKeys);
        t.Bind("hvals", HVals);
        t.Bind("hgetall", HGetAll);
        t.Bind("hincrby", HIncrBy);
        t.Bind("hincrbyfloat", HIncrByFloat);
        t.Bind("hrandfield", HRandField);
        t.Bind("hscan", HScan);
    }

    private static readonly byte[] HSetName = "HSET"u8.ToArray();

    // ----- lookups -----

    /// <summary>Looks a hash up for reading. Returns false after replying WRONGTYPE; <paramref name="hash"/> is null when missing.</summary>
    private static bool TryRead(CommandContext ctx, out HashValue? hash) => TryOpen(ctx, LookupFlags.None, out _, out hash);

    /// <summary>
    /// Looks the hash at argument 1 up, with its expired fields already gone (which may delete it).
    /// Returns false after replying WRONGTYPE; <paramref name="hash"/> is null and idx -1 when there is none.
    /// </summary>
    internal static bool TryOpen(CommandContext ctx, LookupFlags flags, out int idx, out HashValue? hash)
    {
        var db = ctx.Db;
        idx = db.Lookup(ctx.Args[1], flags);
        hash = null;
        if (idx < 0) return true;
        if (db.TypeAt(idx) != DataType.Hash)
        {
            ctx.WrongType();
            return false;
        }
        hash = (HashValue)db.ObjectAt(idx)!;
        if (HashFieldExpiryCommands.ReclaimIfDue(ctx, idx, hash)) return true;
        idx = -1;
        hash = null;
        return true;
    }

    /// <summary>
    /// A hash to write into: the existing one (idx &gt;= 0, with its memory before the edit) or a new
    /// detached one (idx = -1) that <see cref="Commit"/> adds. Returns null after replying WRONGTYPE.
    /// </summary>
    private static HashValue? OpenForWrite(CommandContext ctx, out int idx, out long memoryBefore, bool keyed = true)
    {
        var db = ctx.Db;
        idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        memoryBefore = 0;
        if (idx < 0) return HashValue.Scratch(keyed ? ctx.Args[1] : default);
        if (db.TypeAt(idx) != DataType.Hash)
        {
            ctx.WrongType();
            return null;
        }
        var hash = (HashValue)db.ObjectAt(idx)!;
        if (!HashFieldExpiryCommands.ReclaimIfDue(ctx, idx, hash))
        {
            idx = -1;
            return HashValue.Scratch(keyed ? ctx.Args[1] : default);
        }
        memoryBefore = db.MemoryAt(idx);
        return hash;
    }

    /// <summary>Stores the result of an edit: adds a new hash, stores the (possibly new) array of a
    /// packed one, or re-measures a hashtable edited in place.</summary>
    private static void Commit(CommandContext ctx, HashValue hash, int idx, long memoryBefore)
    {
        if (idx < 0) ctx.Db.AddObject(ctx.Args[1], hash);
        else if (hash.IsView) ctx.Db.ReplaceObjectAt(idx, hash);
        else ctx.Db.ValueEdited(idx, memoryBefore);
    }

    private static readonly byte[] HSetExName = "HSETEX"u8.ToArray();
    private static readonly byte[] FieldsName = "FIELDS"u8.ToArray();
    private static readonly byte[] One = "1"u8.ToArray();

    /// <summary>
    /// How HINCRBY/HINCRBYFLOAT replay their result: HSET, or HSETEX with the field's absolute TTL so
    /// that the replica keeps it (Valkey 9 does the same once the hash has fields with a TTL).
    /// </summary>
    private static void PropagateResult(CommandContext ctx, HashValue hash, ReadOnlySpan<byte> value)
    {
        long when = hash.HasVolatileFields ? hash.FieldExpireTime(ctx.Args[2]) : -1;
        if (when < 0) ctx.PropagateAs(HSetName, ctx.Args.ToArray(1), ctx.Args.ToArray(2), value.ToArray());
        else ctx.PropagateAs(HSetExName, ctx.Args.ToArray(1), Replication.Effects.PxAt, NumberFormat.LongToBytes(when), FieldsName, One, ctx.Args.ToArray(2), value.ToArray());
    }

    // ----- commands -----

    private static void HSet(CommandContext ctx)
    {
        var args = ctx.Args;
        if (args.Count % 2 == 1)
        {
            ctx.WrongArity();
            return;
        }
        var hash = OpenForWrite(ctx, out int idx, out long before, keyed: false);
        if (hash is null) return;
        var cfg = ctx.Server.Config;
        int longest = 0;
        for (int i = 2; i < args.Count; i++) longest = Math.Max(longest, args[i].Length);
        hash.PrepareForWrite((args.Count - 2) / 2, longest, cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue);
        long created = hash.SetPairs(args, 2, cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue, idx < 0 ? args[1] : default);
        Commit(ctx, hash, idx, before);
        ctx.Notify(KeyspaceEventFlags.Hash, "hset"u8, args[1]);
        // Valkey counts one change per pair written.
        if (args.Count > 4) ctx.AddDirty((args.Count - 2) / 2 - 1);
        if (args.Is(0, "HMSET"u8)) ctx.Reply.WriteOk();
        else ctx.Reply.WriteInteger(created);
    }

    private static void HSetNx(CommandContext ctx)
    {
        var hash = OpenForWrite(ctx, out int idx, out long before);
        if (hash is null) return;
        if (hash.Contains(ctx.Args[2]))
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var cfg = ctx.Server.Config;
        hash.PrepareForWrite(1, Math.Max(ctx.Args[2].Length, ctx.Args[3].Length), cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue);
        hash.Set(ctx.Args[2], ctx.Args[3], cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue);
        Commit(ctx, hash, idx, before);
        ctx.Notify(KeyspaceEventFlags.Hash, "hset"u8, ctx.Args[1]);
        ctx.Reply.WriteInteger(1);
    }

    private static void HGet(CommandContext ctx)
    {
        if (!TryRead(ctx, out var hash)) return;
        if (hash is not null && hash.TryGet(ctx.Args[2], out var value)) ctx.Reply.WriteBulk(value);
        else ctx.Reply.WriteNull();
    }

    private static void HMGet(CommandContext ctx)
    {
        if (!TryRead(ctx, out var hash)) return;
        ctx.Reply.WriteArray(ctx.Args.Count - 2);
        for (int i = 2; i < ctx.Args.Count; i++)
        {
            if (hash is not null && hash.TryGet(ctx.Args[i], out var value)) ctx.Reply.WriteBulk(value);
            else ctx.Reply.WriteNull();
        }
    }

    private static void HDel(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        if (db.TypeAt(idx) != DataType.Hash)
        {
            ctx.WrongType();
            return;
        }
        var hash = (HashValue)db.ObjectAt(idx)!;
        long before = db.MemoryAt(idx);
        long deleted = 0;
        bool emptied = false;
        for (int i = 2; i < ctx.Args.Count; i++)
        {
            if (!hash.Delete(ctx.Args[i])) continue;
            deleted++;
            if (hash.Count == 0)
            {
                emptied = true;
                break;
            }
        }
        if (emptied) db.DeleteAt(idx);
        else if (deleted > 0) Commit(ctx, hash, idx, before);
        if (deleted > 0) ctx.Notify(KeyspaceEventFlags.Hash, "hdel"u8, ctx.Args[1]);
        if (emptied) ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[1]);
        if (deleted > 1) ctx.AddDirty(deleted - 1);
        ctx.Reply.WriteInteger(deleted);
    }

    private static void HExists(CommandContext ctx)
    {
        if (!TryRead(ctx, out var hash)) return;
        ctx.Reply.WriteInteger(hash is not null && hash.Contains(ctx.Args[2]) ? 1 : 0);
    }

    private static void HLen(CommandContext ctx)
    {
        if (!TryRead(ctx, out var hash)) return;
        ctx.Reply.WriteInteger(hash?.Count ?? 0);
    }

    private static void HStrLen(CommandContext ctx)
    {
        if (!TryRead(ctx, out var hash)) return;
        ctx.Reply.WriteInteger(hash is not null && hash.TryGet(ctx.Args[2], out var value) ? value.Length : 0);
    }

    private static void HKeys(CommandContext ctx) => GetAll(ctx, keys: true, values: false);

    private static void HVals(CommandContext ctx) => GetAll(ctx, keys: false, values: true);

    private static void HGetAll(CommandContext ctx) => GetAll(ctx, keys: true, values: true);

    private static void GetAll(CommandContext ctx, bool keys, bool values)
    {
        if (!TryRead(ctx, out var hash)) return;
        int count = hash?.Count ?? 0;
        if (keys && values) ctx.Reply.WriteMap(count);
        else ctx.Reply.WriteArray(count);
        if (hash is null) return;
        foreach (var pair in hash)
        {
            if (keys) ctx.Reply.WriteBulk(pair.Field);
            if (values) ctx.Reply.WriteBulk(pair.Value);
        }
    }

    private static void HIncrBy(CommandContext ctx)
    {
        if (!ctx.TryGetLong(3, out long incr)) return;
        var hash = OpenForWrite(ctx, out int idx, out long before);
        if (hash is null) return;
        long current = 0;
        if (hash.TryGet(ctx.Args[2], out var existing) && !NumberParser.TryParseLong(existing, out current))
        {
            ctx.Error("ERR hash value is not an integer");
            return;
        }
        if ((incr < 0 && current < 0 && incr < long.MinValue - current) ||
            (incr > 0 && current > 0 && incr > long.MaxValue - current))
        {
            ctx.Error("ERR increment or decrement would overflow");
            return;
        }
        long result = current + incr;
        Span<byte> text = stackalloc byte[24];
        int n = NumberFormat.FormatLong(result, text);
        var cfg = ctx.Server.Config;
        hash.Set(ctx.Args[2], text.Slice(0, n), cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue, keepTtl: true);
        Commit(ctx, hash, idx, before);
        ctx.Notify(KeyspaceEventFlags.Hash, "hincrby"u8, ctx.Args[1]);
        if (ctx.Propagating && hash.HasVolatileFields) PropagateResult(ctx, hash, text.Slice(0, n));
        ctx.Reply.WriteInteger(result);
    }

    private static void HIncrByFloat(CommandContext ctx)
    {
        if (!LongDouble.TryParse(ctx.Args[3], out var incr))
        {
            ctx.NotFloat();
            return;
        }
        if (!incr.IsFinite)
        {
            ctx.Error("ERR value is NaN or Infinity");
            return;
        }
        var hash = OpenForWrite(ctx, out int idx, out long before);
        if (hash is null) return;
        var current = default(LongDouble);
        if (hash.TryGet(ctx.Args[2], out var existing) && !LongDouble.TryParse(existing, out current))
        {
            ctx.Error("ERR hash value is not a float");
            return;
        }
        var result = current + incr;
        if (!result.IsFinite)
        {
            ctx.Error("ERR increment would produce NaN or Infinity");
            return;
        }
        Span<byte> text = result.HasShortFormat ? stackalloc byte[64] : new byte[LongDouble.MaxChars];
        text = text.Slice(0, result.FormatHuman(text));
        var cfg = ctx.Server.Config;
        hash.Set(ctx.Args[2], text, cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue, keepTtl: true);
        Commit(ctx, hash, idx, before);
        ctx.Notify(KeyspaceEventFlags.Hash, "hincrbyfloat"u8, ctx.Args[1]);
        // Replicas and the AOF get the result, not the addition (its rounding is ours).
        if (ctx.Propagating) PropagateResult(ctx, hash, text);
        ctx.Reply.WriteBulk(text);
    }

    private static void HRandField(CommandContext ctx)
    {
        var args = ctx.Args;
        if (args.Count >= 3)
        {
            if (ctx.TryGetRandomCount("WITHVALUES"u8, out long count, out bool withValues)) RandFieldWithCount(ctx, count, withValues);
            return;
        }
        if (!TryRead(ctx, out var hash)) return;
        if (hash is null)
        {
            ctx.Reply.WriteNull();
            return;
        }
        hash.RandomPair(ctx.Db.Context.Random, out var field, out _);
        ctx.Reply.WriteBulk(field);
    }

    private static void RandFieldWithCount(CommandContext ctx, long l, bool withValues)
    {
        if (!TryRead(ctx, out var hash)) return;
        var reply = ctx.Reply;
        var random = ctx.Db.Context.Random;
        bool resp3 = reply.IsResp3;
        void Emit(ReadOnlySpan<byte> f, ReadOnlySpan<byte> v)
        {
            if (withValues && resp3) reply.WriteArray(2);
            reply.WriteBulk(f);
            if (withValues) reply.WriteBulk(v);
        }
        RandomReply.WithCount(reply, l, withValues, hash?.Count ?? 0,
            count => hash!.RandomPairsWithRepetition(random, count, Emit),
            () =>
            {
                foreach (var pair in hash!) Emit(pair.Field, pair.Value);
            },
            count => hash!.RandomDistinctPairs(random, count, Emit));
    }

    private static void HScan(CommandContext ctx)
    {
        if (!CollectionScan.TryParseCursor(ctx, ctx.Args[2], out ulong cursor)) return;
        if (!TryRead(ctx, out var hash)) return;
        if (hash is null)
        {
            CollectionScan.WriteEmpty(ctx);
            return;
        }
        if (!CollectionScan.TryParseOptions(ctx, 3, isHash: true, out var options)) return;
        var items = new List<byte[]>();
        var pattern = options.Pattern;
        bool onlyKeys = options.OnlyKeys;
        ulong next = hash.Scan(cursor, options.Count, (f, v) =>
        {
            if (pattern is not null && !GlobPattern.Match(pattern, f)) return;
            items.Add(f.ToArray());
            if (!onlyKeys) items.Add(v.ToArray());
        });
        CollectionScan.WriteReply(ctx, next, items);
    }
}
