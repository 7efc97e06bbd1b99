using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// Set commands (Valkey's t_set.c): membership, random members, moves, the algebra commands and
/// SSCAN. Encodings and their conversions live in <see cref="SetValue"/>; here are the choices
/// Valkey makes per command (which encoding a result starts in, which algorithm SDIFF uses, how
/// SPOP and SRANDMEMBER sample), since they decide the encodings and orders clients observe.
/// </summary>
public static class SetCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("sadd", Sadd);
        t.Bind("srem", Srem);
        t.Bind("sismember", Sismember);
        t.Bind("smismember", Smismember);
        t.Bind("scard", Scard);
        t.Bind("smembers", ctx => Intersect(ctx, 1, ctx.ArgCount - 1, storeAt: -1, cardinalityOnly: false, limit: 0));
        t.Bind("srandmember", Srandmember);
        t.Bind("spop", Spop);
        t.Bind("smove", Smove);
        t.Bind("sinter", ctx => Intersect(ctx, 1, ctx.ArgCount - 1, storeAt: -1, cardinalityOnly: false, limit: 0));
        t.Bind("sintercard", Sintercard);
        t.Bind("sinterstore", ctx => Intersect(ctx, 2, ctx.ArgCount - 2, storeAt: 1, cardinalityOnly: false, limit: 0));
        t.Bind("sunion", ctx => UnionOrDiff(ctx, 1, storeAt: -1, diff: false));
        t.Bind("sunionstore", ctx => UnionOrDiff(ctx, 2, storeAt: 1, diff: false));
        t.Bind("sdiff", ctx => UnionOrDiff(ctx, 1, storeAt: -1, diff: true));
        t.Bind("sdiffstore", ctx => UnionOrDiff(ctx, 2, storeAt: 1, diff: true));
        t.Bind("sscan", Sscan);
    }

    private static SetLimits Limits(CommandContext ctx) => ctx.Server.Config.SetLimits;

    private static Random Rng(CommandContext ctx) => ctx.Db.Context.Random;

    /// <summary>The set at <paramref name="idx"/>, or null after replying WRONGTYPE.</summary>
    private static SetValue? AsSet(CommandContext ctx, int idx)
    {
        if (ctx.Db.ObjectAt(idx) is SetValue set) return set;
        ctx.WrongType();
        return null;
    }

    /// <summary>Deletes a key whose set an edit just emptied (settling the edit's accounting first).</summary>
    private static void DeleteEmptied(Database db, int idx, long memoryBefore)
    {
        db.ValueResized(idx, memoryBefore);
        db.DeleteAt(idx);
    }

    // ----- single-set commands -----

    private static void Sadd(CommandContext ctx)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        var limits = Limits(ctx);
        int idx = db.Lookup(args[1], LookupFlags.Write);
        SetValue? set;
        long before = 0;
        if (idx >= 0)
        {
            set = AsSet(ctx, idx);
            if (set is null) return;
            before = db.MemoryAt(idx);
            set.ConvertForHint(args.Count - 2, limits);
        }
        else set = SetValue.Create(args[2], args.Count - 2, limits);

        long added = 0;
        for (int i = 2; i < args.Count; i++)
            if (set.Add(args[i], limits)) added++;

        if (idx < 0) db.AddObject(args[1], set);
        else if (added > 0) db.ValueEdited(idx, before);
        else db.ValueResized(idx, before);
        if (added > 0) ctx.Notify(KeyspaceEventFlags.Set, "sadd"u8, args[1]);
        if (added > 1) ctx.AddDirty(added - 1);
        ctx.Reply.WriteInteger(added);
    }

    private static void Srem(CommandContext ctx)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        int idx = db.Lookup(args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is null) return;
        long before = db.MemoryAt(idx);
        long deleted = 0;
        bool keyRemoved = false;
        for (int i = 2; i < args.Count; i++)
        {
            if (!set.Remove(args[i])) continue;
            deleted++;
            if (set.Count == 0)
            {
                db.ValueResized(idx, before);
                db.DeleteAt(idx);
                keyRemoved = true;
                break;
            }
        }
        if (deleted > 0)
        {
            if (!keyRemoved) db.ValueEdited(idx, before);
            if (deleted > 1) ctx.AddDirty(deleted - 1);
            ctx.Notify(KeyspaceEventFlags.Set, "srem"u8, args[1]);
            if (keyRemoved) ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, args[1]);
        }
        ctx.Reply.WriteInteger(deleted);
    }

    private static void Sismember(CommandContext ctx)
    {
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is not null) ctx.Reply.WriteInteger(set.Contains(ctx.Args[2]) ? 1 : 0);
    }

    private static void Smismember(CommandContext ctx)
    {
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        SetValue? set = null;
        if (idx >= 0)
        {
            set = AsSet(ctx, idx);
            if (set is null) return;
        }
        var args = ctx.Args;
        ctx.Reply.WriteArray(args.Count - 2);
        for (int i = 2; i < args.Count; i++)
            ctx.Reply.WriteInteger(set is not null && set.Contains(args[i]) ? 1 : 0);
    }

    private static void Scard(CommandContext ctx)
    {
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is not null) ctx.Reply.WriteInteger(set.Count);
    }

    private static void Smove(CommandContext ctx)
    {
        var db = ctx.Db;
        var args = ctx.Args;
        var limits = Limits(ctx);
        int src = db.Lookup(args[1], LookupFlags.Write);
        int dst = db.Lookup(args[2], LookupFlags.Write);
        var member = args[3];
        if (src < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        var source = AsSet(ctx, src);
        if (source is null) return;
        SetValue? target = null;
        if (dst >= 0)
        {
            target = AsSet(ctx, dst);
            if (target is null) return;
        }
        if (src == dst)
        {
            ctx.Reply.WriteInteger(source.Contains(member) ? 1 : 0);
            return;
        }
        long srcBefore = db.MemoryAt(src);
        if (!source.Remove(member))
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        ctx.Notify(KeyspaceEventFlags.Set, "srem"u8, args[1]);
        if (source.Count == 0)
        {
            DeleteEmptied(db, src, srcBefore);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, args[1]);
        }
        else db.ValueEdited(src, srcBefore);

        if (target is null)
        {
            target = SetValue.Create(member, 1, limits);
            target.Add(member, limits);
            db.AddObject(args[2], target);
            ctx.Notify(KeyspaceEventFlags.Set, "sadd"u8, args[2]);
        }
        else
        {
            long dstBefore = db.MemoryAt(dst);
            if (target.Add(member, limits))
            {
                db.ValueEdited(dst, dstBefore);
                ctx.Notify(KeyspaceEventFlags.Set, "sadd"u8, args[2]);
            }
        }
        ctx.Reply.WriteInteger(1);
    }

    // ----- random members -----

    private static void Spop(CommandContext ctx)
    {
        if (ctx.ArgCount == 3)
        {
            SpopWithCount(ctx);
            return;
        }
        if (ctx.ArgCount > 3)
        {
            ctx.SyntaxError();
            return;
        }
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is null) return;
        long before = db.MemoryAt(idx);
        var member = set.PopRandom(Rng(ctx));
        ctx.Notify(KeyspaceEventFlags.Set, "spop"u8, ctx.Args[1]);
        if (ctx.Propagating) ctx.PropagateAs(SremName, ctx.Args.ToArray(1), member);
        ctx.Reply.WriteBulk(member);
        if (set.Count == 0)
        {
            DeleteEmptied(db, idx, before);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[1]);
        }
        else db.ValueEdited(idx, before);
    }

    /// <summary>How much bigger than the count the rest of the set must be for SPOP to pick the popped
    /// members one by one rather than pick the few that stay (Valkey's SPOP_MOVE_STRATEGY_MUL).</summary>
    private const long SpopMoveStrategyMul = 5;

    private static void SpopWithCount(CommandContext ctx)
    {
        if (!ctx.TryGetNonNegative(2, null, out long count)) return;
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx < 0)
        {
            ctx.Reply.WriteSet(0);
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is null) return;
        if (count == 0)
        {
            ctx.Reply.WriteSet(0);
            return;
        }
        var reply = ctx.Reply;
        var rng = Rng(ctx);
        long size = set.Count;
        ctx.Notify(KeyspaceEventFlags.Set, "spop"u8, ctx.Args[1]);
        if (count >= size)
        {
            reply.WriteSet(size);
            foreach (var m in set) m.WriteBulk(reply);
            db.DeleteAt(idx);
            ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[1]);
            if (size > 1) ctx.AddDirty(size - 1);
            if (ctx.Propagating)
                ctx.PropagateAs(ctx.Server.Config.LazyfreeLazyServerDel ? Replication.Effects.Unlink : Replication.Effects.Del, ctx.Args.ToArray(1));
            return;
        }

        long before = db.MemoryAt(idx);
        long remaining = size - count;
        // Replicas get the popped members as SREMs (in batches), never the random SPOP itself.
        var srem = ctx.Propagating ? new SremBatch(ctx) : null;
        reply.WriteSet(count);
        if (set.Encoding == ValueEncoding.Listpack)
        {
            // One pass over the listpack choosing, in order, the members that go (or the ones that stay).
            bool pickPopped = remaining * SpopMoveStrategyMul > count;
            var slots = new List<int>((int)size);
            set.CollectSlots(slots);
            var chosen = SampleInOrder(slots, pickPopped ? count : remaining, rng);
            var popped = pickPopped ? chosen : Complement(slots, chosen);
            foreach (int slot in popped)
            {
                var m = set.ElementAt(slot);
                m.WriteBulk(reply);
                srem?.Add(m.ToArray());
            }
            set.RemoveListpackSlots(popped);
        }
        else if (remaining * SpopMoveStrategyMul > count)
        {
            for (long i = 0; i < count; i++)
            {
                var m = set.PopRandom(rng);
                reply.WriteBulk(m);
                srem?.Add(m);
            }
        }
        else
        {
            // Most of the set goes: move the few survivors to a new set, reply with what is left.
            var limits = Limits(ctx);
            SetValue? kept = null;
            for (long i = 0; i < remaining; i++)
            {
                var m = set.RandomElement(rng);
                kept ??= m.IsInteger ? SetValue.NewIntset() : SetValue.NewListpack();
                kept.Add(m, limits);
                set.Remove(m);
            }
            foreach (var m in set)
            {
                m.WriteBulk(reply);
                srem?.Add(m.ToArray());
            }
            set.TakeContentOf(kept!);
        }
        db.ValueEdited(idx, before);
        if (count > 1) ctx.AddDirty(count - 1);
        if (srem is not null)
        {
            srem.Flush();
            ctx.PreventPropagation();
        }
    }

    private static readonly byte[] SremName = "SREM"u8.ToArray();

    /// <summary>Collects popped members into SREM effects of at most 1024 members each, as Valkey does.</summary>
    private sealed class SremBatch
    {
        private const int MaxMembers = 1024;
        private readonly CommandContext _ctx;
        private readonly byte[] _key;
        private readonly List<byte[]> _argv = new();

        public SremBatch(CommandContext ctx)
        {
            _ctx = ctx;
            _key = ctx.Args.ToArray(1);
            Reset();
        }

        private void Reset()
        {
            _argv.Clear();
            _argv.Add(SremName);
            _argv.Add(_key);
        }

        public void Add(byte[] member)
        {
            _argv.Add(member);
            if (_argv.Count == 2 + MaxMembers) Flush();
        }

        public void Flush()
        {
            if (_argv.Count == 2) return;
            _ctx.AlsoPropagate(_argv.ToArray());
            Reset();
        }
    }

    /// <summary>Chooses <paramref name="k"/> of the slots uniformly, keeping their order (selection sampling).</summary>
    private static List<int> SampleInOrder(List<int> slots, long k, Random rng)
    {
        var chosen = new List<int>((int)k);
        int n = slots.Count;
        for (int i = 0; i < n && k > 0; i++)
        {
            if (rng.NextInt64(n - i) < k)
            {
                chosen.Add(slots[i]);
                k--;
            }
        }
        return chosen;
    }

    private static List<int> Complement(List<int> all, List<int> chosenInOrder)
    {
        var rest = new List<int>(all.Count - chosenInOrder.Count);
        int k = 0;
        foreach (int s in all)
        {
            if (k < chosenInOrder.Count && chosenInOrder[k] == s) k++;
            else rest.Add(s);
        }
        return rest;
    }

    /// <summary>Above this many times the count, SRANDMEMBER draws members one by one instead of
    /// thinning out a copy of the set (Valkey's SRANDMEMBER_SUB_STRATEGY_MUL).</summary>
    private const long SrandmemberSubStrategyMul = 3;

    private static void Srandmember(CommandContext ctx)
    {
        if (ctx.ArgCount == 3)
        {
            SrandmemberWithCount(ctx);
            return;
        }
        if (ctx.ArgCount > 3)
        {
            ctx.SyntaxError();
            return;
        }
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is not null) set.RandomElement(Rng(ctx)).WriteBulk(ctx.Reply);
    }

    private static void SrandmemberWithCount(CommandContext ctx)
    {
        if (!ctx.TryGetInRange(2, -long.MaxValue, long.MaxValue, null, out long l)) return;
        bool unique = l >= 0;
        long count = unique ? l : -l;
        int idx = ctx.Db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteEmptyArray();
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is null) return;
        var reply = ctx.Reply;
        var rng = Rng(ctx);
        long size = set.Count;
        if (count == 0)
        {
            reply.WriteEmptyArray();
            return;
        }

        // Repeats allowed (negative count), or a single member: independent draws.
        if (!unique || count == 1)
        {
            // A huge count stops early once the client is being dropped (output buffer limit), as in Valkey.
            var client = ctx.Client;
            reply.WriteArray(count);
            if (set.Encoding == ValueEncoding.Listpack)
            {
                var all = new List<int>((int)size);
                set.CollectSlots(all);
                for (long i = 0; i < count && !client.Has(Clients.ClientFlags.CloseAsap); i++)
                    set.ElementAt(all[rng.Next(all.Count)]).WriteBulk(reply);
            }
            else
            {
                for (long i = 0; i < count && !client.Has(Clients.ClientFlags.CloseAsap); i++)
                    set.RandomElement(rng).WriteBulk(reply);
            }
            return;
        }

        if (count >= size)
        {
            reply.WriteArray(size);
            foreach (var m in set) m.WriteBulk(reply);
            return;
        }

        var slots = new List<int>((int)Math.Min(size, int.MaxValue));
        if (set.Encoding == ValueEncoding.Listpack)
        {
            set.CollectSlots(slots);
            var chosen = SampleInOrder(slots, count, rng);
            reply.WriteArray(count);
            foreach (int s in chosen) set.ElementAt(s).WriteBulk(reply);
            return;
        }

        if (count * SrandmemberSubStrategyMul > size)
        {
            // Close to the whole set: drop random members from a full list of slots.
            set.CollectSlots(slots);
            while (slots.Count > count)
            {
                int i = rng.Next(slots.Count);
                slots[i] = slots[^1];
                slots.RemoveAt(slots.Count - 1);
            }
            reply.WriteArray(count);
            foreach (int s in slots) set.ElementAt(s).WriteBulk(reply);
            return;
        }

        // A small part of a big set: draw until there are enough distinct members.
        var picked = new HashSet<int>();
        set.RandomSlot(rng); // let a sparse table compact itself before slots are collected
        while (picked.Count < count) picked.Add(set.RandomSlot(rng));
        reply.WriteArray(count);
        foreach (int s in picked) set.ElementAt(s).WriteBulk(reply);
    }

    // ----- algebra -----

    /// <summary>Looks up the sets named by arguments [first, first+n). False after replying WRONGTYPE.
    /// Missing keys give null entries.</summary>
    private static bool LookupSets(CommandContext ctx, int first, int n, SetValue?[] sets)
    {
        var db = ctx.Db;
        for (int j = 0; j < n; j++)
        {
            int idx = db.Lookup(ctx.Args[first + j]);
            if (idx < 0) continue;
            var set = AsSet(ctx, idx);
            if (set is null) return false;
            sets[j] = set;
        }
        return true;
    }

    /// <summary>Stores <paramref name="result"/> at the destination key, or deletes it when the result is empty.</summary>
    private static void StoreResult(CommandContext ctx, int storeAt, SetValue result, ReadOnlySpan<byte> evt)
    {
        var db = ctx.Db;
        if (result.Count > 0)
        {
            db.SetObject(ctx.Args[storeAt], result);
            ctx.Reply.WriteInteger(result.Count);
            ctx.Notify(KeyspaceEventFlags.Set, evt, ctx.Args[storeAt]);
        }
        else
        {
            ctx.Reply.WriteInteger(0);
            if (db.Delete(ctx.Args[storeAt])) ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[storeAt]);
        }
    }

    private static void Sintercard(CommandContext ctx)
    {
        var args = ctx.Args;
        if (!ctx.TryGetInRange(1, 1, long.MaxValue, "numkeys should be greater than 0", out long numKeys)) return;
        if (numKeys > args.Count - 2)
        {
            ctx.Error("ERR Number of keys can't be greater than number of args");
            return;
        }
        long limit = 0;
        for (int j = 2 + (int)numKeys; j < args.Count; j++)
        {
            if (j + 1 < args.Count && args.Is(j, "LIMIT"u8))
            {
                j++;
                if (!ctx.TryGetNonNegative(j, "LIMIT can't be negative", out limit)) return;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        Intersect(ctx, 2, (int)numKeys, storeAt: -1, cardinalityOnly: true, limit: limit);
    }

    private static void Intersect(CommandContext ctx, int first, int n, int storeAt, bool cardinalityOnly, long limit)
    {
        var sets = new SetValue?[n];
        if (!LookupSets(ctx, first, n, sets)) return;
        var reply = ctx.Reply;
        if (Array.IndexOf(sets, null) >= 0)
        {
            // Intersecting with an empty set.
            if (storeAt >= 0)
            {
                if (ctx.Db.Delete(ctx.Args[storeAt])) ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, ctx.Args[storeAt]);
                reply.WriteInteger(0);
            }
            else if (cardinalityOnly) reply.WriteInteger(0);
            else reply.WriteSet(0);
            return;
        }
        Array.Sort(sets, static (a, b) => a!.Count.CompareTo(b!.Count));
        var smallest = sets[0]!;

        var limits = Limits(ctx);
        SetValue? result = null;
        int deferred = -1;
        if (storeAt >= 0) result = smallest.Encoding == ValueEncoding.Intset ? SetValue.NewIntset() : SetValue.NewListpack();
        else if (!cardinalityOnly) deferred = reply.BeginDeferred();

        bool onlyIntegers = true;
        bool fromTable = smallest.Encoding == ValueEncoding.Hashtable;
        long cardinality = 0;
        foreach (var m in smallest)
        {
            int j = 1;
            for (; j < n; j++)
            {
                if (ReferenceEquals(sets[j], smallest)) continue;
                if (!sets[j]!.Contains(m)) break;
            }
            if (j < n) continue;
            if (cardinalityOnly)
            {
                cardinality++;
                if (limit != 0 && cardinality >= limit) break;
            }
            else if (result is null)
            {
                m.WriteBulk(reply);
                cardinality++;
            }
            else
            {
                // Members of a hash table arrive as strings even when they are integers.
                if (!m.IsInteger && onlyIntegers && !(fromTable && Listpack.TryAsInteger(m.Span, out _)))
                    onlyIntegers = false;
                result.Add(m, limits);
            }
        }

        if (cardinalityOnly) reply.WriteInteger(cardinality);
        else if (result is not null)
        {
            if (result.Count > 0 && onlyIntegers) result.ConvertToIntsetIfPossible(limits);
            StoreResult(ctx, storeAt, result, "sinterstore"u8);
        }
        else reply.EndDeferred(deferred, cardinality, '~');
    }

    private static void UnionOrDiff(CommandContext ctx, int first, int storeAt, bool diff)
    {
        int n = ctx.ArgCount - first;
        var sets = new SetValue?[n];
        if (!LookupSets(ctx, first, n, sets)) return;

        // Results to reply with start as an intset only when every input is one; stored results always
        // start as an intset and convert as members arrive, as SADD would.
        bool intsetResult = true;
        bool sameSet = false;
        for (int j = 0; j < n; j++)
        {
            var s = sets[j];
            if (s is null) continue;
            if (storeAt < 0 && s.Encoding != ValueEncoding.Intset) intsetResult = false;
            if (j > 0 && ReferenceEquals(s, sets[0])) sameSet = true;
        }

        // SDIFF: walk the first set checking the others (cheap when they are big), or copy the first
        // set and subtract the others (cheap when they are small), whichever is less work.
        bool walkFirst = true;
        if (diff && sets[0] is not null && !sameSet)
        {
            long walkWork = 0, subtractWork = 0;
            for (int j = 0; j < n; j++)
            {
                if (sets[j] is null) continue;
                walkWork += sets[0]!.Count;
                subtractWork += sets[j]!.Count;
            }
            walkWork /= 2;
            walkFirst = walkWork <= subtractWork;
            if (walkFirst && n > 1)
                Array.Sort(sets, 1, n - 1, Comparer<SetValue?>.Create(static (a, b) => (b?.Count ?? 0).CompareTo(a?.Count ?? 0)));
        }

        var limits = Limits(ctx);
        var result = intsetResult ? SetValue.NewIntset() : SetValue.NewHashtable(0);
        if (!diff)
        {
            foreach (var s in sets)
            {
                if (s is null) continue;
                foreach (var m in s) result.Add(m, limits);
            }
        }
        else if (sameSet || sets[0] is null)
        {
            // Empty: X minus X, or nothing to subtract from.
        }
        else if (walkFirst)
        {
            var head = sets[0]!;
            foreach (var m in head)
            {
                int j = 1;
                for (; j < n; j++)
                {
                    var s = sets[j];
                    if (s is null) continue;
                    if (ReferenceEquals(s, head) || s.Contains(m)) break;
                }
                if (j == n) result.Add(m, limits);
            }
        }
        else
        {
            for (int j = 0; j < n; j++)
            {
                var s = sets[j];
                if (s is null) continue;
                foreach (var m in s)
                {
                    if (j == 0) result.Add(m, limits);
                    else result.Remove(m);
                }
                if (result.Count == 0) break;
            }
        }

        if (storeAt >= 0)
        {
            StoreResult(ctx, storeAt, result, diff ? "sdiffstore"u8 : "sunionstore"u8);
            return;
        }
        var reply = ctx.Reply;
        reply.WriteSet(result.Count);
        foreach (var m in result) m.WriteBulk(reply);
    }

    // ----- SSCAN -----

    private static void Sscan(CommandContext ctx)
    {
        var args = ctx.Args;
        if (!KeyCommands.TryParseCursor(args[2], out ulong cursor))
        {
            ctx.Error("ERR invalid cursor");
            return;
        }
        int idx = ctx.Db.Lookup(args[1]);
        var reply = ctx.Reply;
        if (idx < 0)
        {
            reply.WriteArray(2);
            reply.WriteBulk("0"u8);
            reply.WriteEmptyArray();
            return;
        }
        var set = AsSet(ctx, idx);
        if (set is null) return;

        long count = 10;
        int patternArg = -1;
        for (int i = 3; i < args.Count;)
        {
            int left = args.Count - i;
            if (left >= 2 && args.Is(i, "COUNT"u8))
            {
                if (!ctx.TryGetLong(i + 1, out count)) return;
                if (count < 1)
                {
                    ctx.SyntaxError();
                    return;
                }
                i += 2;
            }
            else if (left >= 2 && args.Is(i, "MATCH"u8))
            {
                patternArg = i + 1;
                i += 2;
            }
            else if (args.Is(i, "NOVALUES"u8))
            {
                ctx.Error("ERR NOVALUES option can only be used in HSCAN");
                return;
            }
            else if (args.Is(i, "NOSCORES"u8))
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
        var pattern = patternArg >= 0 ? args[patternArg] : default;
        bool usePattern = patternArg >= 0 && !(pattern.Length == 1 && pattern[0] == '*');

        var slots = new List<int>();
        if (set.Encoding == ValueEncoding.Hashtable)
        {
            long maxIterations = count * 10;
            do
            {
                cursor = set.ScanStep(cursor, slots);
            } while (cursor != 0 && maxIterations-- > 0 && slots.Count < count);
        }
        else
        {
            set.CollectSlots(slots);
            cursor = 0;
        }

        reply.WriteArray(2);
        Span<byte> digits = stackalloc byte[24];
        System.Buffers.Text.Utf8Formatter.TryFormat(cursor, digits, out int w);
        reply.WriteBulk(digits.Slice(0, w));
        if (!usePattern)
        {
            reply.WriteArray(slots.Count);
            foreach (int s in slots) set.ElementAt(s).WriteBulk(reply);
            return;
        }
        int deferred = reply.BeginDeferred();
        long matched = 0;
        Span<byte> scratch = stackalloc byte[24];
        foreach (int s in slots)
        {
            var m = set.ElementAt(s);
            if (!GlobPattern.Match(pattern, m.AsSpan(scratch))) continue;
            m.WriteBulk(reply);
            matched++;
        }
        reply.EndDeferred(deferred, matched);
    }
}
