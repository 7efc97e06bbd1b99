using Kvasir.Config;
using System.Buffers.Text;
using Kvasir.Keyspace;
using Kvasir.Protocol;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// Type-agnostic keyspace commands (Valkey's db.c and the OBJECT command of object.c):
/// DEL UNLINK EXISTS TYPE RENAME RENAMENX MOVE COPY KEYS SCAN RANDOMKEY DBSIZE TOUCH OBJECT
/// SWAPDB FLUSHDB FLUSHALL. The TTL family lives in <see cref="ExpireCommands"/>.
/// </summary>
public static class KeyCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("del", Del);
        t.Bind("unlink", Unlink);
        t.Bind("exists", Exists);
        t.Bind("type", Type);
        t.Bind("touch", Touch);
        t.Bind("rename", Rename);
        t.Bind("renamenx", RenameNx);
        t.Bind("move", Move);
        t.Bind("copy", Copy);
        t.Bind("keys", Keys);
        t.Bind("scan", Scan);
        t.Bind("randomkey", RandomKey);
        t.Bind("dbsize", DbSize);
        t.Bind("swapdb", SwapDb);
        t.Bind("flushdb", FlushDb);
        t.Bind("flushall", FlushAll);
        t.Bind("object|encoding", ObjectEncoding);
        t.Bind("object|freq", ObjectFreq);
        t.Bind("object|idletime", ObjectIdleTime);
        t.Bind("object|refcount", ObjectRefCount);
        t.Bind("object|help", ObjectHelp);
    }

    private const string SameObjectError = "ERR source and destination objects are the same";
    private const string DbOutOfRange = "ERR DB index is out of range";

    // Removing a key only drops a reference; what UNLINK (and DEL with lazyfree-lazy-user-del) adds
    // is handing big values to the lazy free worker, as Valkey does (see LazyFree).
    private static void Del(CommandContext ctx) => DeleteKeys(ctx, ctx.Server.Config.LazyfreeLazyUserDel);

    private static void Unlink(CommandContext ctx) => DeleteKeys(ctx, lazy: true);

    private static void DeleteKeys(CommandContext ctx, bool lazy)
    {
        var db = ctx.Db;
        long deleted = 0;
        for (int i = 1; i < ctx.ArgCount; i++)
        {
            int idx = db.Lookup(ctx.Args[i], LookupFlags.Write | LookupFlags.NoTouch);
            if (idx < 0) continue;
            object? item = db.DeleteAt(idx);
            if (lazy) ctx.Server.LazyFree.Release(item);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[i]);
            deleted++;
        }
        ctx.Reply.WriteInteger(deleted);
    }

    private static void Exists(CommandContext ctx)
    {
        var db = ctx.Db;
        long count = 0;
        for (int i = 1; i < ctx.ArgCount; i++)
            if (db.Lookup(ctx.Args[i], LookupFlags.NoTouch) >= 0) count++;
        ctx.Reply.WriteInteger(count);
    }

    private static void Type(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.NoTouch);
        ctx.Reply.WriteSimpleString(idx < 0 ? "none"u8 : DataTypeNames.TypeName(db.TypeAt(idx)));
    }

    private static void Touch(CommandContext ctx)
    {
        var db = ctx.Db;
        long touched = 0;
        for (int i = 1; i < ctx.ArgCount; i++)
            if (db.Lookup(ctx.Args[i]) >= 0) touched++;
        ctx.Reply.WriteInteger(touched);
    }

    // ----- RENAME / RENAMENX / MOVE / COPY -----

    private static void Rename(CommandContext ctx) => RenameGeneric(ctx, nx: false);

    private static void RenameNx(CommandContext ctx) => RenameGeneric(ctx, nx: true);

    private static void RenameGeneric(CommandContext ctx, bool nx)
    {
        var db = ctx.Db;
        var from = ctx.Args[1];
        var to = ctx.Args[2];
        int src = db.Lookup(from, LookupFlags.Write);
        if (src < 0)
        {
            ctx.NoSuchKey();
            return;
        }
        // Renaming a key onto itself changes nothing, but only once it is known to exist.
        if (from.SequenceEqual(to))
        {
            if (nx) ctx.Reply.WriteInteger(0);
            else ctx.Reply.WriteOk();
            return;
        }
        if (db.Lookup(to, LookupFlags.Write) >= 0 && nx)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var ks = ctx.Server.Keyspace;
        long dirty = ks.Dirty;
        var value = db.Detach(src);
        db.Attach(to, value); // replaces the destination, keeps the TTL and LRU of the source
        ks.Dirty = dirty + 1;
        ctx.Notify(KeyspaceEventFlags.Generic, "rename_from"u8, ctx.Args[1]);
        ctx.Notify(KeyspaceEventFlags.Generic, "rename_to"u8, to);
        if (nx) ctx.Reply.WriteInteger(1);
        else ctx.Reply.WriteOk();
    }

    private static void Move(CommandContext ctx)
    {
        if (ctx.Server.Config.ClusterEnabled)
        {
            ctx.Error("ERR MOVE is not allowed in cluster mode");
            return;
        }
        if (!TryGetInt(ctx, 2, null, out int dbid)) return;
        var databases = ctx.Server.Databases;
        if (dbid < 0 || dbid >= databases.Length)
        {
            ctx.Error(DbOutOfRange);
            return;
        }
        var src = ctx.Db;
        var dst = databases[dbid];
        if (src == dst)
        {
            ctx.Error(SameObjectError);
            return;
        }
        var key = ctx.Args[1];
        int idx = src.Lookup(key, LookupFlags.Write);
        if (idx < 0 || dst.Lookup(key, LookupFlags.Write) >= 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var ks = ctx.Server.Keyspace;
        long dirty = ks.Dirty;
        dst.Attach(key, src.Detach(idx));
        ks.Dirty = dirty + 1;
        ctx.Notify(KeyspaceEventFlags.Generic, "move_from"u8, key, src.Index);
        ctx.Notify(KeyspaceEventFlags.Generic, "move_to"u8, key, dst.Index);
        ctx.Reply.WriteInteger(1);
    }

    private static void Copy(CommandContext ctx)
    {
        var src = ctx.Db;
        var dst = src;
        bool replace = false;
        for (int j = 3; j < ctx.ArgCount; j++)
        {
            if (ctx.ArgIs(j, "REPLACE"u8))
            {
                replace = true;
            }
            else if (ctx.ArgIs(j, "DB"u8) && j + 1 < ctx.ArgCount)
            {
                if (!TryGetInt(ctx, j + 1, null, out int dbid)) return;
                if (dbid < 0 || dbid >= ctx.Server.Databases.Length)
                {
                    ctx.Error(DbOutOfRange);
                    return;
                }
                dst = ctx.Server.Databases[dbid];
                j++;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        var key = ctx.Args[1];
        var newKey = ctx.Args[2];
        if (src == dst && key.SequenceEqual(newKey))
        {
            ctx.Error(SameObjectError);
            return;
        }
        int idx = src.Lookup(key);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        int existing = dst.Lookup(newKey, LookupFlags.Write);
        if (existing >= 0 && !replace)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }

        long expire = src.GetExpireAt(idx);
        IDataValue? copy = null;
        var obj = src.ObjectAt(idx);
        if (obj is RawString raw) copy = new RawString(raw.Span);
        else if (obj is not null)
        {
            copy = obj.Duplicate();
            if (copy is null)
            {
                ctx.Error("ERR unknown type object");
                return;
            }
        }

        var ks = ctx.Server.Keyspace;
        long dirty = ks.Dirty;
        // Indexes survive the removal of other keys, so idx still names the source afterwards.
        if (existing >= 0) dst.DeleteAt(existing);
        // The copy is a new value: it gets a fresh LRU/LFU, as Valkey's duplicated object does.
        int at = copy is null ? dst.SetString(newKey, src.StringAt(idx)) : dst.AddObject(newKey, copy);
        if (expire >= 0) dst.SetExpireAt(at, expire);
        ks.VolatileHashes.TrackIfVolatile(copy);
        ks.Dirty = dirty + 1;
        ctx.Notify(KeyspaceEventFlags.Generic, "copy_to"u8, newKey, dst.Index);
        ctx.Reply.WriteInteger(1);
    }

    // ----- KEYS / SCAN / RANDOMKEY / DBSIZE -----

    // Expired keys are skipped but not deleted: KEYS must not change the table it walks.
    private static void Keys(CommandContext ctx)
    {
        var db = ctx.Db;
        var pattern = ctx.Args[1];
        bool all = GlobPattern.MatchesEverything(pattern);
        int token = ctx.Reply.BeginDeferred();
        long n = 0;
        int limit = db.IndexLimit;
        for (int i = 0; i < limit; i++)
        {
            if (!db.IsOccupied(i)) continue;
            var key = db.KeyAt(i);
            if (!all && !GlobPattern.Match(pattern, key)) continue;
            if (db.IsExpiredAt(i)) continue;
            ctx.Reply.WriteBulk(key);
            n++;
        }
        ctx.Reply.EndDeferred(token, n);
    }

    private static void Scan(CommandContext ctx)
    {
        if (!TryParseCursor(ctx.Args[1], out ulong cursor))
        {
            ctx.Error("ERR invalid cursor");
            return;
        }
        long count = 10;
        int patternArg = -1;
        DataType type = DataType.None;
        for (int i = 2; i < ctx.ArgCount;)
        {
            int remaining = ctx.ArgCount - i;
            if (ctx.ArgIs(i, "COUNT"u8) && remaining >= 2)
            {
                if (!NumberParser.TryParseLong(ctx.Args[i + 1], out count))
                {
                    ctx.NotInteger();
                    return;
                }
                if (count < 1)
                {
                    ctx.SyntaxError();
                    return;
                }
                i += 2;
            }
            else if (ctx.ArgIs(i, "MATCH"u8) && remaining >= 2)
            {
                patternArg = GlobPattern.MatchesEverything(ctx.Args[i + 1]) ? -1 : i + 1;
                i += 2;
            }
            else if (ctx.ArgIs(i, "TYPE"u8) && remaining >= 2)
            {
                type = TypeByName(ctx.Args[i + 1]);
                if (type == DataType.None)
                {
                    ctx.Error($"ERR unknown type name '{ctx.Args.ToString(i + 1)}'");
                    return;
                }
                i += 2;
            }
            else if (ctx.ArgIs(i, "NOVALUES"u8))
            {
                ctx.Error("ERR NOVALUES option can only be used in HSCAN");
                return;
            }
            else if (ctx.ArgIs(i, "NOSCORES"u8))
            {
                ctx.Error("ERR NOSCORES option can only be used in ZSCAN");
                return;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        var db = ctx.Db;
        var visited = new List<int>();
        var found = new List<int>();
        // Bounded work per call even on a sparse table: at most COUNT*10 extra buckets.
        long maxIterations = count > long.MaxValue / 10 ? long.MaxValue : count * 10;
        long sampled = 0;
        do
        {
            visited.Clear();
            cursor = db.ScanStep(cursor, visited);
            sampled += visited.Count;
            foreach (int idx in visited)
            {
                if (type != DataType.None && db.TypeAt(idx) != type) continue;
                if (patternArg >= 0 && !GlobPattern.Match(ctx.Args[patternArg], db.KeyAt(idx))) continue;
                found.Add(idx);
            }
        } while (cursor != 0 && maxIterations-- > 0 && sampled < count);

        // Only keys that passed the filters are checked (and lazily deleted) for expiry, as in Valkey.
        int live = 0;
        for (int i = 0; i < found.Count; i++)
            if (!db.ExpireIfNeededAt(found[i])) found[live++] = found[i];

        ctx.Reply.WriteArray(2);
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(cursor, digits, out int len);
        ctx.Reply.WriteBulk(digits.Slice(0, len));
        ctx.Reply.WriteArray(live);
        for (int i = 0; i < live; i++) ctx.Reply.WriteBulk(db.KeyAt(found[i]));
    }

    /// <summary>
    /// Valkey's string2ull for cursors: a strict signed 64-bit integer that is not negative, or else
    /// whatever C's strtoull accepts in full (leading blanks, a sign, up to 2^64-1; a minus sign wraps).
    /// The argument counts as a C string, so it ends at its first NUL byte.
    /// </summary>
    public static bool TryParseCursor(ReadOnlySpan<byte> s, out ulong cursor)
    {
        int nul = s.IndexOf((byte)0);
        if (nul >= 0) s = s.Slice(0, nul);
        if (NumberParser.TryParseLong(s, out long signed))
        {
            cursor = (ulong)signed;
            return signed >= 0;
        }
        cursor = 0;
        int i = 0;
        while (i < s.Length && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-'))
        {
            negative = s[i] == '-';
            i++;
        }
        if (i == s.Length) return false;
        ulong value = 0;
        for (; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9) return false;
            if (value > (ulong.MaxValue - d) / 10) return false; // ERANGE
            value = value * 10 + d;
        }
        cursor = negative ? unchecked(0UL - value) : value;
        return true;
    }

    private static DataType TypeByName(ReadOnlySpan<byte> name)
    {
        if (Ascii.EqualsIgnoreCase(name, "STRING"u8)) return DataType.String;
        if (Ascii.EqualsIgnoreCase(name, "LIST"u8)) return DataType.List;
        if (Ascii.EqualsIgnoreCase(name, "SET"u8)) return DataType.Set;
        if (Ascii.EqualsIgnoreCase(name, "ZSET"u8)) return DataType.ZSet;
        if (Ascii.EqualsIgnoreCase(name, "HASH"u8)) return DataType.Hash;
        if (Ascii.EqualsIgnoreCase(name, "STREAM"u8)) return DataType.Stream;
        return DataType.None;
    }

    private static void RandomKey(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.RandomLiveIndex();
        if (idx < 0) ctx.Reply.WriteNull();
        else ctx.Reply.WriteBulk(db.KeyAt(idx));
    }

    // Counts keys that expired but were not reclaimed yet, like Valkey's DBSIZE.
    private static void DbSize(CommandContext ctx) => ctx.Reply.WriteInteger(ctx.Db.Count);

    // ----- SWAPDB / FLUSHDB / FLUSHALL -----

    private static void SwapDb(CommandContext ctx)
    {
        // Cluster mode has a single database.
        if (ctx.Server.Config.ClusterEnabled)
        {
            ctx.Error("ERR SWAPDB is not allowed in cluster mode");
            return;
        }
        if (!TryGetInt(ctx, 1, "ERR invalid first DB index", out int id1)) return;
        if (!TryGetInt(ctx, 2, "ERR invalid second DB index", out int id2)) return;
        var dbs = ctx.Server.Databases;
        if (id1 < 0 || id1 >= dbs.Length || id2 < 0 || id2 >= dbs.Length)
        {
            ctx.Error(DbOutOfRange);
            return;
        }
        if (id1 != id2) dbs[id1].SwapContents(dbs[id2]);
        // Cached keys are not per database: every tracking client drops its whole cache.
        ctx.Server.Tracking.InvalidateAll();
        ctx.AddDirty();
        ctx.Reply.WriteOk();
    }

    /// <summary>
    /// FLUSHDB/FLUSHALL [SYNC|ASYNC]; without an argument lazyfree-lazy-user-flush decides. SYNC drops
    /// the tables at once; ASYNC hands them to the lazy free worker (lazyfree_pending_objects counts
    /// their keys until it let them go). Returns false after replying a syntax error.
    /// </summary>
    private static bool TryParseFlushMode(CommandContext ctx, out bool async)
    {
        async = ctx.Server.Config.LazyfreeLazyUserFlush;
        if (ctx.ArgCount == 1) return true;
        if (ctx.ArgCount == 2 && ctx.ArgIs(1, "SYNC"u8)) { async = false; return true; }
        if (ctx.ArgCount == 2 && ctx.ArgIs(1, "ASYNC"u8)) { async = true; return true; }
        ctx.SyntaxError();
        return false;
    }

    private static long Flush(CommandContext ctx, Database db, bool async) =>
        async ? db.Clear(ctx.Server.LazyFree.ReleaseTables) : db.Clear();

    private static void FlushDb(CommandContext ctx)
    {
        if (!TryParseFlushMode(ctx, out bool async)) return;
        ctx.Server.Tracking.InvalidateAll();
        ctx.AddDirty(Flush(ctx, ctx.Db, async));
        // Even an empty database's flush reaches replicas and the AOF (Valkey's forceCommandPropagation).
        ctx.ForcePropagation();
        ctx.Reply.WriteOk();
    }

    private static void FlushAll(CommandContext ctx)
    {
        if (!TryParseFlushMode(ctx, out bool async)) return;
        long removed = 0;
        ctx.Server.Tracking.InvalidateAll();
        foreach (var db in ctx.Server.Databases) removed += Flush(ctx, db, async);
        ctx.AddDirty(removed);
        ctx.Server.Keyspace.FlushedAll?.Invoke();
        // Propagated even when nothing was removed or the snapshot it wrote reset the dirty counter.
        ctx.ForcePropagation();
        ctx.Reply.WriteOk();
    }

    // ----- OBJECT -----

    // OBJECT looks keys up without touching their LRU/LFU (it would distort what it reports).
    private static int ObjectLookup(CommandContext ctx)
    {
        int idx = ctx.Db.Lookup(ctx.Args[2], LookupFlags.NoTouch);
        if (idx < 0) ctx.Reply.WriteNull();
        return idx;
    }

    private static void ObjectEncoding(CommandContext ctx)
    {
        int idx = ObjectLookup(ctx);
        if (idx < 0) return;
        ctx.Reply.WriteBulk(DataTypeNames.EncodingName(ctx.Db.EncodingAt(idx)));
    }

    private static void ObjectFreq(CommandContext ctx)
    {
        int idx = ObjectLookup(ctx);
        if (idx < 0) return;
        var ks = ctx.Server.Keyspace;
        if (!ks.UseLfu)
        {
            ctx.Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that " +
                      "when switching between policies at runtime LRU and LFU data will take some time to adjust.");
            return;
        }
        // The counter decays with time even when the key is not accessed; report the decayed value.
        ctx.Reply.WriteInteger(Lfu.Decay(ctx.Db.LruAt(idx), ks));
    }

    private static void ObjectIdleTime(CommandContext ctx)
    {
        int idx = ObjectLookup(ctx);
        if (idx < 0) return;
        var ks = ctx.Server.Keyspace;
        if (ks.UseLfu)
        {
            ctx.Error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when " +
                      "switching between policies at runtime LRU and LFU data will take some time to adjust.");
            return;
        }
        ctx.Reply.WriteInteger(IdleSeconds(ctx.Db.LruAt(idx), ks));
    }

    /// <summary>Seconds since the access recorded in a 24-bit LRU clock value, allowing for one wrap of the clock.</summary>
    public static long IdleSeconds(uint lru, KeyspaceContext ks)
    {
        uint now = ks.LruClock;
        return now >= lru ? now - lru : now + (KeyspaceContext.LruClockMax - lru);
    }

    // Valkey stores small integers as shared objects (refcount INT_MAX) unless an LRU/LFU eviction
    // policy with a memory limit needs a private LRU per value; everything else has one reference.
    private static void ObjectRefCount(CommandContext ctx)
    {
        int idx = ObjectLookup(ctx);
        if (idx < 0) return;
        var db = ctx.Db;
        ctx.Reply.WriteInteger(IsSharedInteger(ctx, db, idx) ? int.MaxValue : 1);
    }

    private static bool IsSharedInteger(CommandContext ctx, Database db, int idx)
    {
        if (db.ObjectAt(idx) is not null || db.EncodingAt(idx) != ValueEncoding.Int) return false;
        var cfg = ctx.Server.Config;
        bool lruOrLfu = cfg.MaxMemoryPolicy.Contains("lru", StringComparison.Ordinal) ||
                        cfg.MaxMemoryPolicy.Contains("lfu", StringComparison.Ordinal);
        if (cfg.MaxMemory != 0 && lruOrLfu) return false;
        return NumberParser.TryParseLong(db.StringAt(idx), out long v) && v >= 0 && v < 10000;
    }

    private static readonly string[] ObjectHelpLines =
    {
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
    };

    private static void ObjectHelp(CommandContext ctx) => WriteHelp(ctx, ObjectHelpLines);

    /// <summary>The reply of a container's HELP subcommand, in Valkey's layout: a header naming the
    /// command as typed (upper-cased), the lines, and the HELP entry itself.</summary>
    internal static void WriteHelp(CommandContext ctx, string[] lines)
    {
        var reply = ctx.Reply;
        reply.WriteArray(lines.Length + 3);
        reply.WriteSimpleString(CommandTable.Upper(ctx.Args[0]) + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        foreach (var line in lines) reply.WriteSimpleString(line);
        reply.WriteSimpleString("HELP"u8);
        reply.WriteSimpleString("    Print this help."u8);
    }

    // ----- shared argument parsing -----

    /// <summary>
    /// Valkey's getIntFromObjectOrReply: a strict 64-bit integer that must fit in 32 bits. On failure
    /// replies <paramref name="message"/>, or Valkey's default errors when it is null.
    /// </summary>
    internal static bool TryGetInt(CommandContext ctx, int index, string? message, out int value)
    {
        value = 0;
        if (!NumberParser.TryParseLong(ctx.Args[index], out long v))
        {
            ctx.Error(message ?? "ERR value is not an integer or out of range");
            return false;
        }
        if (v < int.MinValue || v > int.MaxValue)
        {
            ctx.Error(message ?? "ERR value is out of range, value must between -2147483648 and 2147483647");
            return false;
        }
        value = (int)v;
        return true;
    }
}
