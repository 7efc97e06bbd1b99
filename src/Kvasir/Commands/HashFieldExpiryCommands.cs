using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// Per-field expiry of hashes, as in Valkey 9's t_hash.c: HEXPIRE HPEXPIRE HEXPIREAT HPEXPIREAT,
/// HTTL HPTTL HEXPIRETIME HPEXPIRETIME, HPERSIST, HGETEX and HSETEX.
/// A field with a TTL turns the hash into the hashtable encoding (OBJECT ENCODING "hashtable", as
/// Valkey 9). Expired fields are never shown: every hash command first deletes the due fields of the
/// hash it touches (<see cref="ReclaimIfDue"/>), and the active expire cycle deletes them in hashes
/// nobody touches (<see cref="ActiveExpire"/>); both propagate HDEL for them, and a hash left
/// empty is deleted. Expire times are absolute unix ms; relative times use the command's clock.
/// </summary>
public static class HashFieldExpiryCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("hexpire", ctx => Expire(ctx, ctx.NowMs, seconds: true));
        t.Bind("hpexpire", ctx => Expire(ctx, ctx.NowMs, seconds: false));
        t.Bind("hexpireat", ctx => Expire(ctx, 0, seconds: true));
        t.Bind("hpexpireat", ctx => Expire(ctx, 0, seconds: false));
        t.Bind("httl", ctx => Ttl(ctx, ctx.NowMs, milliseconds: false));
        t.Bind("hpttl", ctx => Ttl(ctx, ctx.NowMs, milliseconds: true));
        t.Bind("hexpiretime", ctx => Ttl(ctx, 0, milliseconds: false));
        t.Bind("hpexpiretime", ctx => Ttl(ctx, 0, milliseconds: true));
        t.Bind("hpersist", Persist);
        t.Bind("hgetex", GetEx);
        t.Bind("hsetex", SetEx);
    }

    private static readonly byte[] HDel = "HDEL"u8.ToArray();
    private static readonly byte[] HPExpireAt = "HPEXPIREAT"u8.ToArray();
    private static readonly byte[] HPersist = "HPERSIST"u8.ToArray();
    private static readonly byte[] HSetEx = "HSETEX"u8.ToArray();
    private static readonly byte[] Fields = "FIELDS"u8.ToArray();

    private const string NumFieldsError = "ERR numfields should be greater than 0 and match the provided number of fields";

    // ----- reclaiming expired fields -----

    /// <summary>
    /// Deletes the expired fields of the hash at <paramref name="idx"/> before a command looks at it.
    /// Returns false when that left it empty and the key was deleted. Where expired data must not be
    /// deleted (a replica waits for its primary's HDEL) nothing happens.
    /// </summary>
    internal static bool ReclaimIfDue(CommandContext ctx, int idx, HashValue hash)
    {
        var ks = ctx.Server.Keyspace;
        if (!hash.HasVolatileFields || hash.NextFieldDeadline > ks.NowMs || !ks.ExpireDeletes) return true;
        return Reclaim(ctx.Server, ctx.Db, idx, hash);
    }

    /// <summary>
    /// Deletes the due fields and propagates them as one HDEL. Like a key's expiry, this is not a
    /// change of the command's own: the dirty counter is left as it was (a read command is not
    /// propagated because of it).
    /// </summary>
    private static bool Reclaim(KvasirServer server, Database db, int idx, HashValue hash)
    {
        var ks = server.Keyspace;
        long dirty = ks.Dirty;
        long before = db.MemoryAt(idx);
        // Read commands reclaim too: a running snapshot must copy the key out before it changes.
        ks.BeforeKeyChange?.Invoke(db, idx);
        var removed = new List<byte[]>();
        hash.RemoveExpiredFields(ks.NowMs, removed);
        bool alive = true;
        if (removed.Count > 0)
        {
            ks.ExpiredFields += removed.Count;
            if (server.Propagator.Active)
            {
                var argv = new byte[removed.Count + 2][];
                argv[0] = HDel;
                argv[1] = hash.Key.ToArray();
                removed.CopyTo(argv, 2);
                server.Propagator.Add(db.Index, argv);
            }
            alive = hash.Count > 0;
            server.KeyspaceEvents.Notify(KeyspaceEventFlags.Hash, "hexpired"u8, hash.Key, db.Index);
            if (!alive) server.KeyspaceEvents.Notify(KeyspaceEventFlags.Generic, "del"u8, hash.Key, db.Index);
            if (alive) db.ValueEdited(idx, before);
            else db.DeleteAt(idx);
            ks.Dirty = dirty;
        }
        if (alive) ks.VolatileHashes.Track(hash);
        return alive;
    }

    /// <summary>
    /// The hash-field part of the active expire cycle: deletes the due fields of hashes in deadline
    /// order, each as its own propagation unit, until <paramref name="maxHashes"/> were handled.
    /// Runs under the data lock with the clock updated.
    /// </summary>
    public static void ActiveExpire(KvasirServer server, int maxHashes)
    {
        var ks = server.Keyspace;
        if (!ks.ExpireDeletes) return;
        var due = ks.VolatileHashes;
        for (int n = 0; n < maxHashes && due.TryTakeDue(ks.NowMs, out var hash);)
        {
            if (!hash.HasVolatileFields) continue;
            // The queue holds the value, not its place: find the key that still holds this very hash.
            foreach (var db in server.Databases)
            {
                int idx = db.FindRaw(hash.Key);
                if (idx < 0 || !ReferenceEquals(db.ObjectAt(idx), hash)) continue;
                server.Propagator.BeginUnit();
                Reclaim(server, db, idx, hash);
                server.Propagator.EndUnit(touchesArbitraryKeys: true);
                n++;
                break;
            }
        }
    }

    // ----- argument parsing -----

    /// <summary>Index of the first FIELDS token from <paramref name="from"/> (never the last argument), or -1.</summary>
    private static int FindFields(CommandContext ctx, int from)
    {
        for (int i = from; i < ctx.ArgCount - 1; i++)
            if (ctx.ArgIs(i, "FIELDS"u8)) return i;
        return -1;
    }

    /// <summary>The numfields after FIELDS at <paramref name="fieldsAt"/> (0 when there is no FIELDS); false after an integer error.</summary>
    private static bool TryGetNumFields(CommandContext ctx, int fieldsAt, out long count)
    {
        count = 0;
        return fieldsAt < 0 || ctx.TryGetLong(fieldsAt + 1, out count);
    }

    /// <summary>Stores an edited hash (deleting the key when it was emptied) and queues its deadlines.</summary>
    private static void Commit(CommandContext ctx, int idx, HashValue hash, long memoryBefore)
    {
        var db = ctx.Db;
        if (hash.Count == 0) db.DeleteAt(idx);
        else
        {
            if (hash.IsView) db.ReplaceObjectAt(idx, hash);
            else db.ValueEdited(idx, memoryBefore);
            ctx.Server.Keyspace.VolatileHashes.Track(hash);
        }
    }

    /// <summary>Keyspace event of a field-TTL command, followed by "del" when it emptied the hash.</summary>
    private static void Changed(CommandContext ctx, ReadOnlySpan<byte> evt, HashValue hash)
    {
        ctx.Notify(KeyspaceEventFlags.Hash, evt, ctx.Args[1]);
        if (hash.Count == 0) ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[1]);
    }

    /// <summary>[command, key, (head...), fields...] for the propagated form of a command.</summary>
    private static byte[][] Effect(CommandContext ctx, byte[] command, List<byte[]> fields, params byte[][] head)
    {
        var argv = new byte[2 + head.Length + fields.Count][];
        argv[0] = command;
        argv[1] = ctx.Args.ToArray(1);
        head.CopyTo(argv, 2);
        fields.CopyTo(argv, 2 + head.Length);
        return argv;
    }

    // ----- commands -----

    /// <summary>HEXPIRE key time [NX|XX|GT|LT] FIELDS numfields field...: one code per field (-2, 0, 1, 2).</summary>
    private static void Expire(CommandContext ctx, long baseMs, bool seconds)
    {
        int fieldsAt = FindFields(ctx, 3);
        var condition = ExpireCondition.None;
        if (fieldsAt >= 0 && !ExpireCommands.TryParseConditions(ctx, fieldsAt, out condition)) return;
        if (!TryGetNumFields(ctx, fieldsAt, out long count)) return;
        int first = fieldsAt + 2;
        if (fieldsAt < 0 || count <= 0 || count != ctx.ArgCount - first)
        {
            ctx.Error(NumFieldsError);
            return;
        }
        if (!ExpireCommands.TryGetExpireTime(ctx, 2, baseMs, seconds, rejectNegative: true, out long when)) return;
        if (!HashCommands.TryOpen(ctx, LookupFlags.Write, out int idx, out var hash)) return;

        ctx.Reply.WriteArray(count);
        if (hash is null)
        {
            for (long i = 0; i < count; i++) ctx.Reply.WriteInteger(-2);
            return;
        }
        long before = ctx.Db.MemoryAt(idx);
        bool pastDeletes = ctx.Server.Keyspace.ExpireDeletes;
        var deleted = new List<byte[]>();
        var updated = new List<byte[]>();
        for (int i = first; i < ctx.ArgCount; i++)
        {
            int result = hash.SetFieldExpire(ctx.Args[i], when, condition, ctx.NowMs, pastDeletes);
            if (result == 1) updated.Add(ctx.Args.ToArray(i));
            else if (result == 2) deleted.Add(ctx.Args.ToArray(i));
            ctx.Reply.WriteInteger(result);
        }
        int changes = deleted.Count + updated.Count;
        if (changes == 0) return;
        // A TTL already in the past deletes the field, counted as an expiry.
        ctx.Server.Keyspace.ExpiredFields += deleted.Count;
        Commit(ctx, idx, hash, before);
        ctx.AddDirty(changes - 1);
        if (deleted.Count > 0) Changed(ctx, "hexpired"u8, hash);
        if (updated.Count > 0) Changed(ctx, "hexpire"u8, hash);
        if (!ctx.Propagating) return;
        // Deleted fields replay as HDEL, the others as HPEXPIREAT with the absolute time and without
        // the condition (it held here; the replica applies the outcome).
        byte[][]? set = updated.Count > 0 ? Effect(ctx, HPExpireAt, updated, Ms(when), Fields, Ms(updated.Count)) : null;
        byte[][]? del = deleted.Count > 0 ? Effect(ctx, HDel, deleted) : null;
        if (set is not null && del is not null) ctx.AlsoPropagate(del);
        ctx.PropagateAs(set ?? del!);
    }

    private static byte[] Ms(long v) => NumberFormat.LongToBytes(v);

    /// <summary>HTTL / HPTTL / HEXPIRETIME / HPEXPIRETIME key FIELDS numfields field...: -2 no field, -1 no TTL.</summary>
    private static void Ttl(CommandContext ctx, long baseMs, bool milliseconds)
    {
        if (!ctx.TryGetLong(3, out long count)) return;
        if (count <= 0 || count != ctx.ArgCount - 4)
        {
            ctx.SyntaxError();
            return;
        }
        if (!HashCommands.TryOpen(ctx, LookupFlags.None, out _, out var hash)) return;
        ctx.Reply.WriteArray(count);
        for (int i = 4; i < ctx.ArgCount; i++)
        {
            long when = hash is null ? -2 : hash.FieldExpireTime(ctx.Args[i]);
            if (when < 0)
            {
                ctx.Reply.WriteInteger(when);
                continue;
            }
            long left = Math.Max(0, when - baseMs);
            ctx.Reply.WriteInteger(milliseconds ? left : (left + 500) / 1000);
        }
    }

    /// <summary>HPERSIST key FIELDS numfields field...: 1 removed, -1 no TTL, -2 no field.</summary>
    private static void Persist(CommandContext ctx)
    {
        if (!ctx.TryGetLong(3, out long count)) return;
        if (count <= 0 || count != ctx.ArgCount - 4)
        {
            ctx.Error(NumFieldsError);
            return;
        }
        if (!HashCommands.TryOpen(ctx, LookupFlags.Write, out int idx, out var hash)) return;
        ctx.Reply.WriteArray(count);
        long before = hash is null ? 0 : ctx.Db.MemoryAt(idx);
        int changes = 0;
        for (int i = 4; i < ctx.ArgCount; i++)
        {
            int result = hash is null ? -2 : hash.PersistField(ctx.Args[i]);
            if (result == 1) changes++;
            ctx.Reply.WriteInteger(result);
        }
        if (changes == 0) return;
        Commit(ctx, idx, hash!, before);
        ctx.AddDirty(changes - 1);
        Changed(ctx, "hpersist"u8, hash!);
    }

    private enum TtlOption { None, Ex, Px, ExAt, PxAt, Persist, KeepTtl }

    /// <summary>
    /// Parses the time options before FIELDS (HGETEX: EX PX EXAT PXAT PERSIST; HSETEX: the same with
    /// KEEPTTL instead of PERSIST, plus NX XX FNX FXX). At most one time option and one of each pair;
    /// anything else is a syntax error. <paramref name="valueAt"/> is the index of the time argument.
    /// </summary>
    private static bool TryParseTtlOptions(CommandContext ctx, int end, bool forSet, out TtlOption option, out int valueAt,
        out bool nx, out bool xx, out bool fnx, out bool fxx)
    {
        option = TtlOption.None;
        valueAt = -1;
        nx = xx = fnx = fxx = false;
        for (int i = 2; i < end; i++)
        {
            TtlOption found = TtlOption.None;
            if (ctx.ArgIs(i, "EX"u8)) found = TtlOption.Ex;
            else if (ctx.ArgIs(i, "PX"u8)) found = TtlOption.Px;
            else if (ctx.ArgIs(i, "EXAT"u8)) found = TtlOption.ExAt;
            else if (ctx.ArgIs(i, "PXAT"u8)) found = TtlOption.PxAt;
            else if (!forSet && ctx.ArgIs(i, "PERSIST"u8)) found = TtlOption.Persist;
            else if (forSet && ctx.ArgIs(i, "KEEPTTL"u8)) found = TtlOption.KeepTtl;
            else if (forSet && ctx.ArgIs(i, "NX"u8) && !nx && !xx) { nx = true; continue; }
            else if (forSet && ctx.ArgIs(i, "XX"u8) && !nx && !xx) { xx = true; continue; }
            else if (forSet && ctx.ArgIs(i, "FNX"u8) && !fnx && !fxx) { fnx = true; continue; }
            else if (forSet && ctx.ArgIs(i, "FXX"u8) && !fnx && !fxx) { fxx = true; continue; }
            if (found == TtlOption.None || option != TtlOption.None)
            {
                ctx.SyntaxError();
                return false;
            }
            option = found;
            if (found is TtlOption.Persist or TtlOption.KeepTtl) continue;
            if (i + 1 >= end)
            {
                ctx.SyntaxError();
                return false;
            }
            valueAt = ++i;
        }
        return true;
    }

    /// <summary>The absolute time of an EX/PX/EXAT/PXAT option (replies the error itself).</summary>
    private static bool TryGetOptionTime(CommandContext ctx, TtlOption option, int valueAt, out long when)
    {
        long baseMs = option is TtlOption.Ex or TtlOption.Px ? ctx.NowMs : 0;
        bool seconds = option is TtlOption.Ex or TtlOption.ExAt;
        return ExpireCommands.TryGetExpireTime(ctx, valueAt, baseMs, seconds, rejectNegative: true, out when);
    }

    /// <summary>HGETEX key [EX|PX|EXAT|PXAT time | PERSIST] FIELDS numfields field...: the values, then the TTL change.</summary>
    private static void GetEx(CommandContext ctx)
    {
        int fieldsAt = FindFields(ctx, 2);
        TtlOption option = TtlOption.None;
        int valueAt = -1;
        if (fieldsAt >= 0 && !TryParseTtlOptions(ctx, fieldsAt, forSet: false, out option, out valueAt, out _, out _, out _, out _)) return;
        if (!TryGetNumFields(ctx, fieldsAt, out long count)) return;
        int first = fieldsAt + 2;
        if (fieldsAt < 0 || count <= 0 || count != ctx.ArgCount - first)
        {
            ctx.Error(NumFieldsError);
            return;
        }
        // With a time option it edits the hash: a write lookup (a running snapshot copies the key first).
        if (!HashCommands.TryOpen(ctx, option == TtlOption.None ? LookupFlags.None : LookupFlags.Write, out int idx, out var hash)) return;
        long when = -1;
        if (valueAt >= 0 && !TryGetOptionTime(ctx, option, valueAt, out when)) return;
        bool pastDeletes = ctx.Server.Keyspace.ExpireDeletes;
        bool expireNow = valueAt >= 0 && when <= ctx.NowMs && pastDeletes;

        ctx.Reply.WriteArray(count);
        long before = hash is null ? 0 : ctx.Db.MemoryAt(idx);
        var changed = new List<byte[]>();
        for (int i = first; i < ctx.ArgCount; i++)
        {
            var field = ctx.Args[i];
            if (hash is not null && hash.TryGet(field, out var value)) ctx.Reply.WriteBulk(value);
            else ctx.Reply.WriteNull();
            if (hash is null) continue;
            bool done = option switch
            {
                TtlOption.Persist => hash.PersistField(field) == 1,
                TtlOption.None => false,
                _ when expireNow => hash.Delete(field),
                _ => hash.SetFieldExpire(field, when, ExpireCondition.None, ctx.NowMs, pastDeletes) == 1,
            };
            if (done) changed.Add(ctx.Args.ToArray(i));
        }
        if (changed.Count == 0) return;
        if (expireNow) ctx.Server.Keyspace.ExpiredFields += changed.Count;
        Commit(ctx, idx, hash!, before);
        ctx.AddDirty(changed.Count);
        Changed(ctx, expireNow ? "hexpired"u8 : option == TtlOption.Persist ? "hpersist"u8 : "hexpire"u8, hash!);
        // Never replayed as is: the change it made is HDEL, HPEXPIREAT or HPERSIST of the changed fields.
        if (!ctx.Propagating) return;
        if (expireNow) ctx.PropagateAs(Effect(ctx, HDel, changed));
        else if (option == TtlOption.Persist) ctx.PropagateAs(Effect(ctx, HPersist, changed, Fields, Ms(changed.Count)));
        else ctx.PropagateAs(Effect(ctx, HPExpireAt, changed, Ms(when), Fields, Ms(changed.Count)));
    }

    /// <summary>
    /// HSETEX key [NX|XX] [FNX|FXX] [EX|PX|EXAT|PXAT time | KEEPTTL] FIELDS numfields field value...:
    /// 1 when all fields were written (or, with a time already past, deleted), 0 when a condition failed.
    /// </summary>
    private static void SetEx(CommandContext ctx)
    {
        int fieldsAt = FindFields(ctx, 2);
        TtlOption option = TtlOption.None;
        int valueAt = -1;
        bool nx = false, xx = false, fnx = false, fxx = false;
        if (fieldsAt >= 0 && !TryParseTtlOptions(ctx, fieldsAt, forSet: true, out option, out valueAt, out nx, out xx, out fnx, out fxx)) return;
        if (!TryGetNumFields(ctx, fieldsAt, out long count)) return;
        int first = fieldsAt + 2;
        if (fieldsAt < 0 || count <= 0 || count > long.MaxValue / 2 || count * 2 != ctx.ArgCount - first)
        {
            ctx.Error(NumFieldsError);
            return;
        }
        if (!HashCommands.TryOpen(ctx, LookupFlags.Write, out int idx, out var hash)) return;
        long when = -1;
        if (valueAt >= 0 && !TryGetOptionTime(ctx, option, valueAt, out when)) return;
        bool expireNow = valueAt >= 0 && when <= ctx.NowMs && ctx.Server.Keyspace.ExpireDeletes;

        if ((nx && hash is not null) || (xx && hash is null) || (fxx && hash is null))
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        if (hash is not null && (fnx || fxx))
        {
            for (int i = first; i < ctx.ArgCount; i += 2)
            {
                if (hash.Contains(ctx.Args[i]) == fnx)
                {
                    ctx.Reply.WriteInteger(0);
                    return;
                }
            }
        }

        var cfg = ctx.Server.Config;
        if (expireNow)
        {
            // A time already past: the fields are deleted, counted as expired, replayed as HDEL.
            ctx.Server.Keyspace.ExpiredFields += count;
            var deleted = new List<byte[]>();
            if (hash is not null)
            {
                long before = ctx.Db.MemoryAt(idx);
                for (int i = first; i < ctx.ArgCount; i += 2)
                    if (hash.Delete(ctx.Args[i])) deleted.Add(ctx.Args.ToArray(i));
                if (deleted.Count > 0)
                {
                    Commit(ctx, idx, hash, before);
                    ctx.AddDirty(deleted.Count - 1);
                    Changed(ctx, "hexpired"u8, hash);
                    if (ctx.Propagating) ctx.PropagateAs(Effect(ctx, HDel, deleted));
                }
            }
            ctx.Reply.WriteInteger(1);
            return;
        }

        long memoryBefore = hash is null ? 0 : ctx.Db.MemoryAt(idx);
        var target = hash ?? HashValue.Scratch(ctx.Args[1]);
        bool keepTtl = option == TtlOption.KeepTtl;
        for (int i = first; i < ctx.ArgCount; i += 2)
            target.SetWithExpire(ctx.Args[i], ctx.Args[i + 1], when, keepTtl, cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue);
        if (hash is null)
        {
            ctx.Db.AddObject(ctx.Args[1], target);
            ctx.Server.Keyspace.VolatileHashes.Track(target);
        }
        else Commit(ctx, idx, target, memoryBefore);
        ctx.AddDirty(count - 1);
        ctx.Notify(KeyspaceEventFlags.Hash, "hset"u8, ctx.Args[1]);
        if (when >= 0) ctx.Notify(KeyspaceEventFlags.Hash, "hexpire"u8, ctx.Args[1]);
        if (ctx.Propagating)
        {
            // Replayed with an absolute time and without the conditions, which held here.
            var argv = new List<byte[]> { HSetEx, ctx.Args.ToArray(1) };
            if (when >= 0) { argv.Add(Replication.Effects.PxAt); argv.Add(Ms(when)); }
            else if (keepTtl) argv.Add(Replication.Effects.KeepTtl);
            argv.Add(Fields);
            argv.Add(Ms(count));
            for (int i = first; i < ctx.ArgCount; i++) argv.Add(ctx.Args.ToArray(i));
            ctx.PropagateAs(argv.ToArray());
        }
        ctx.Reply.WriteInteger(1);
    }
}
