using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// HyperLogLog commands (Valkey's hyperloglog.c). An HLL is an ordinary string value holding
/// Valkey's "HYLL" bytes (see <see cref="HyperLogLog"/>), so GET/SET/DUMP move it between servers.
/// Like Valkey, every command first turns the value into a raw string it may edit in place.
/// </summary>
public static class HyperLogLogCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("pfadd", PfAdd);
        t.Bind("pfcount", PfCount);
        t.Bind("pfmerge", PfMerge);
        t.Bind("pfdebug", PfDebug);
        t.Bind("pfselftest", PfSelfTest);
    }

    /// <summary>Valkey's isHLLObjectOrReply for an existing key: false after replying WRONGTYPE.</summary>
    private static bool CheckHll(CommandContext ctx, int idx)
    {
        var db = ctx.Db;
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return false;
        }
        if (!HyperLogLog.IsValid(db.StringAt(idx)))
        {
            ctx.Error(HyperLogLog.NotHllError);
            return false;
        }
        return true;
    }

    /// <summary>Copies an edited HLL back into the key's raw string.</summary>
    private static void StoreBack(RawString raw, HllBuffer hll)
    {
        raw.SetLength(hll.Length);
        hll.Span.CopyTo(raw.WritableSpan);
    }

    // ----- PFADD -----

    private static void PfAdd(CommandContext ctx)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        long maxBytes = ctx.Server.Config.HllSparseMaxBytes;
        int idx = db.Lookup(args[1], LookupFlags.Write);
        if (idx < 0)
        {
            // A new value is always valid: every add returns 0 or 1.
            var fresh = new HllBuffer(HyperLogLog.CreateEmpty());
            long changes = 0;
            for (int j = 2; j < args.Count; j++)
                if (HyperLogLog.Add(fresh, args[j], maxBytes) == 1) changes++;
            HyperLogLog.InvalidateCache(fresh.Data);
            db.AddObject(args[1], new RawString(fresh.Span));
            ctx.AddDirty(changes);
            ctx.Notify(KeyspaceEventFlags.String, "pfadd"u8, args[1]);
            ctx.Reply.WriteInteger(1);
            return;
        }
        if (!CheckHll(ctx, idx)) return;
        var raw = db.MakeRawString(idx);
        long before = db.MemoryAt(idx);
        long updated = 0;
        bool failed = false;
        if (raw.Span[4] == HyperLogLog.Dense)
        {
            // Dense values have a fixed size: edit the registers in place.
            var regs = raw.WritableSpan.Slice(HyperLogLog.HeaderSize);
            for (int j = 2; j < args.Count; j++)
                if (HyperLogLog.DenseAdd(regs, args[j])) updated++;
        }
        else
        {
            var hll = new HllBuffer(raw.Span);
            for (int j = 2; j < args.Count; j++)
            {
                int r = HyperLogLog.Add(hll, args[j], maxBytes);
                if (r == 1) updated++;
                else if (r < 0)
                {
                    failed = true;
                    break;
                }
            }
            StoreBack(raw, hll);
        }
        if (failed)
        {
            // Valkey keeps what earlier elements changed, without counting it as a write.
            db.ValueResized(idx, before);
            ctx.Error(HyperLogLog.InvalidObjectError);
            return;
        }
        if (updated > 0)
        {
            HyperLogLog.InvalidateCache(raw.WritableSpan);
            db.ValueEdited(idx, before);
            ctx.AddDirty(updated - 1);
            ctx.Notify(KeyspaceEventFlags.String, "pfadd"u8, args[1]);
        }
        else db.ValueResized(idx, before);
        ctx.Reply.WriteInteger(updated > 0 ? 1 : 0);
    }

    // ----- PFCOUNT -----

    private static void PfCount(CommandContext ctx)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        if (args.Count > 2)
        {
            // Several keys: the cardinality of their union, computed on one byte per register.
            var max = new byte[HyperLogLog.Registers];
            for (int j = 1; j < args.Count; j++)
            {
                int i = db.Lookup(args[j]);
                if (i < 0) continue;
                if (!CheckHll(ctx, i)) return;
                if (!HyperLogLog.Merge(max, db.StringAt(i)))
                {
                    ctx.Error(HyperLogLog.InvalidObjectError);
                    return;
                }
            }
            ctx.Reply.WriteInteger((long)HyperLogLog.CountRaw(max));
            return;
        }

        int idx = db.Lookup(args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        if (!CheckHll(ctx, idx)) return;
        var raw = db.MakeRawString(idx);
        ulong card;
        if (HyperLogLog.IsCacheValid(raw.Span))
        {
            card = HyperLogLog.CachedCardinality(raw.Span);
        }
        else
        {
            card = HyperLogLog.Count(raw.Span, out bool invalid);
            if (invalid)
            {
                ctx.Error(HyperLogLog.InvalidObjectError);
                return;
            }
            // A read that writes: the refreshed cache is a change of the string (propagated by Valkey).
            long before = db.MemoryAt(idx);
            HyperLogLog.SetCachedCardinality(raw.WritableSpan, card);
            db.ValueEdited(idx, before);
        }
        ctx.Reply.WriteInteger((long)card);
    }

    // ----- PFMERGE -----

    private static void PfMerge(CommandContext ctx)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        long maxBytes = ctx.Server.Config.HllSparseMaxBytes;
        var max = new byte[HyperLogLog.Registers];
        bool useDense = false;
        for (int j = 1; j < args.Count; j++)
        {
            int i = db.Lookup(args[j]);
            if (i < 0) continue;
            if (!CheckHll(ctx, i)) return;
            var value = db.StringAt(i);
            // One dense input makes the destination dense straight away.
            if (value[4] == HyperLogLog.Dense) useDense = true;
            if (!HyperLogLog.Merge(max, value))
            {
                ctx.Error(HyperLogLog.InvalidObjectError);
                return;
            }
        }

        // The destination was checked above, being the first of the inputs.
        int idx = db.Lookup(args[1], LookupFlags.Write);
        RawString? raw = idx < 0 ? null : db.MakeRawString(idx);
        long before = idx < 0 ? 0 : db.MemoryAt(idx);
        var hll = new HllBuffer(raw is null ? HyperLogLog.CreateEmpty() : raw.Span);
        if (useDense && !HyperLogLog.SparseToDense(hll))
        {
            ctx.Error(HyperLogLog.InvalidObjectError);
            return;
        }
        for (int j = 0; j < HyperLogLog.Registers; j++)
        {
            if (max[j] == 0) continue;
            HyperLogLog.Set(hll, j, max[j], maxBytes);
        }
        HyperLogLog.InvalidateCache(hll.Data);
        if (raw is null)
        {
            db.AddObject(args[1], new RawString(hll.Span));
        }
        else
        {
            StoreBack(raw, hll);
            db.ValueEdited(idx, before);
        }
        // A merge is announced as a mass add, as in Valkey.
        ctx.Notify(KeyspaceEventFlags.String, "pfadd"u8, args[1]);
        ctx.Reply.WriteOk();
    }

    // ----- PFDEBUG / PFSELFTEST -----

    private static void PfDebug(CommandContext ctx)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        string sub = args.ToString(1);
        int idx = db.Lookup(args[2], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Error("ERR The specified key does not exist");
            return;
        }
        if (!CheckHll(ctx, idx)) return;
        var raw = db.MakeRawString(idx);

        if (args.Is(1, "GETREG"u8))
        {
            if (args.Count != 3)
            {
                ArityError(ctx, sub);
                return;
            }
            var hll = new HllBuffer(raw.Span);
            if (hll.Encoding == HyperLogLog.Sparse)
            {
                if (!HyperLogLog.SparseToDense(hll))
                {
                    ctx.Error(HyperLogLog.InvalidObjectError);
                    return;
                }
                // The encoding change is a write (dirty, propagated) but not a modification signal, as in Valkey.
                long before = db.MemoryAt(idx);
                StoreBack(raw, hll);
                db.ValueResized(idx, before);
                ctx.AddDirty();
            }
            var regs = raw.Span.Slice(HyperLogLog.HeaderSize);
            ctx.Reply.WriteArray(HyperLogLog.Registers);
            for (int j = 0; j < HyperLogLog.Registers; j++) ctx.Reply.WriteInteger(HyperLogLog.GetRegister(regs, j));
        }
        else if (args.Is(1, "DECODE"u8))
        {
            if (args.Count != 3)
            {
                ArityError(ctx, sub);
                return;
            }
            if (raw.Span[4] != HyperLogLog.Sparse)
            {
                ctx.Error("ERR HLL encoding is not sparse");
                return;
            }
            ctx.Reply.WriteBulk(HyperLogLog.DecodeSparse(raw.Span));
        }
        else if (args.Is(1, "ENCODING"u8))
        {
            if (args.Count != 3)
            {
                ArityError(ctx, sub);
                return;
            }
            ctx.Reply.WriteSimpleString(raw.Span[4] == HyperLogLog.Dense ? "dense"u8 : "sparse"u8);
        }
        else if (args.Is(1, "TODENSE"u8))
        {
            if (args.Count != 3)
            {
                ArityError(ctx, sub);
                return;
            }
            bool converted = false;
            var hll = new HllBuffer(raw.Span);
            if (hll.Encoding == HyperLogLog.Sparse)
            {
                if (!HyperLogLog.SparseToDense(hll))
                {
                    ctx.Error(HyperLogLog.InvalidObjectError);
                    return;
                }
                long before = db.MemoryAt(idx);
                StoreBack(raw, hll);
                db.ValueResized(idx, before);
                ctx.AddDirty();
                converted = true;
            }
            ctx.Reply.WriteInteger(converted ? 1 : 0);
        }
        else
        {
            ctx.Error($"ERR Unknown PFDEBUG subcommand '{sub}'");
        }
    }

    private static void ArityError(CommandContext ctx, string sub) =>
        ctx.Error($"ERR Wrong number of arguments for the '{sub}' subcommand");

    private static void PfSelfTest(CommandContext ctx)
    {
        string? error = HyperLogLog.SelfTest(ctx.Db.Context.Random, ctx.Server.Config.HllSparseMaxBytes);
        if (error is null) ctx.Reply.WriteOk();
        else ctx.Error(error);
    }
}
