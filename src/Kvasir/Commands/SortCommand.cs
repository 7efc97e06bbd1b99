using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// SORT and SORT_RO (Valkey's sort.c): sorts a list, set or sorted set numerically or
/// lexicographically, by its elements or by external keys / hash fields named by a pattern,
/// returning the elements or values fetched through GET patterns, or storing them as a list.
/// </summary>
public static class SortCommand
{
    public static void Register(CommandTable t)
    {
        t.Bind("sort", c => Sort(c, readOnly: false));
        t.Bind("sort_ro", c => Sort(c, readOnly: true));
    }

    /// <summary>One element to sort: its value and what it sorts by.</summary>
    private struct Item
    {
        public byte[] Value;
        public double Score;
        /// <summary>The BY value for ALPHA sorting by a pattern (null when the key or field is missing).</summary>
        public byte[]? CompareBy;
    }

    private static void Sort(CommandContext ctx, bool readOnly)
    {
        var args = ctx.Args;
        bool desc = false, alpha = false, dontSort = false;
        long limitStart = 0, limitCount = -1;
        byte[]? sortBy = null, storeKey = null;
        var getPatterns = new List<byte[]>();
        // BY and GET patterns read arbitrary keys: only a user with read access to every key may use them.
        var user = ctx.Client.User;
        bool fullKeyAccess = user is null || user.Unrestricted ||
                             ctx.Server.Acl.AllowsWithUnrestrictedKeys(user, ctx.Command, args, Security.KeyPermission.Read);

        for (int j = 2; j < args.Count; j++)
        {
            int left = args.Count - j - 1;
            if (args.Is(j, "ASC"u8)) desc = false;
            else if (args.Is(j, "DESC"u8)) desc = true;
            else if (args.Is(j, "ALPHA"u8)) alpha = true;
            else if (args.Is(j, "LIMIT"u8) && left >= 2)
            {
                if (!ctx.TryGetLong(j + 1, out limitStart) || !ctx.TryGetLong(j + 2, out limitCount)) return;
                j += 2;
            }
            else if (!readOnly && args.Is(j, "STORE"u8) && left >= 1)
            {
                storeKey = args.ToArray(j + 1);
                j++;
            }
            else if (args.Is(j, "BY"u8) && left >= 1)
            {
                sortBy = args.ToArray(j + 1);
                // A pattern without '*' names no per-element key: nothing to sort by.
                if (CString(sortBy).IndexOf((byte)'*') < 0) dontSort = true;
                else if (!fullKeyAccess)
                {
                    ctx.Error("ERR BY option of SORT denied due to insufficient ACL permissions.");
                    return;
                }
                j++;
            }
            else if (args.Is(j, "GET"u8) && left >= 1)
            {
                if (!fullKeyAccess)
                {
                    ctx.Error("ERR GET option of SORT denied due to insufficient ACL permissions.");
                    return;
                }
                getPatterns.Add(args.ToArray(j + 1));
                j++;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        var db = ctx.Db;
        int idx = db.Lookup(args[1]);
        IDataValue? source = null;
        if (idx >= 0)
        {
            var type = db.TypeAt(idx);
            if (type != DataType.Set && type != DataType.List && type != DataType.ZSet)
            {
                ctx.WrongType();
                return;
            }
            source = db.ObjectAt(idx);
        }

        // BY <constant> on a set has no native order to keep: a stored result (or one a script sees)
        // must still be deterministic (for replicas and the AOF), so it is sorted lexicographically instead.
        if (dontSort && source is SetValue && (storeKey is not null || ctx.Client.Has(Clients.ClientFlags.Fake)))
        {
            dontSort = false;
            alpha = true;
            sortBy = null;
        }

        // Valkey sorts sorted sets through their skiplist and converts the value for good.
        if (source is SortedSetValue zsetToConvert && zsetToConvert.IsPacked)
        {
            long before = db.MemoryAt(idx);
            zsetToConvert.ConvertToSkiplist(zsetToConvert.Count);
            db.ValueResized(idx, before);
        }

        long vectorLen = source switch
        {
            ListValue l => l.Count,
            SetValue s => s.Count,
            SortedSetValue z => z.Count,
            _ => 0,
        };

        long start = Math.Min(Math.Max(limitStart, 0), vectorLen);
        limitCount = Math.Min(Math.Max(limitCount, -1), vectorLen);
        long end = limitCount < 0 ? vectorLen - 1 : start + limitCount - 1;
        if (start >= vectorLen)
        {
            start = vectorLen - 1;
            end = vectorLen - 2;
        }
        if (end >= vectorLen) end = vectorLen - 1;

        // Lists and sorted sets in native order only load the requested window.
        bool loadWindow = (source is SortedSetValue || source is ListValue) && dontSort;
        var items = new List<Item>();
        if (loadWindow)
        {
            if (end >= start) LoadWindow(source!, start, end - start + 1, desc, items);
            end -= start;
            start = 0;
        }
        else if (source is not null)
        {
            LoadAll(source, items);
        }

        bool conversionError = false;
        if (!dontSort)
        {
            var vector = items.ToArray();
            for (int j = 0; j < vector.Length; j++)
            {
                ReadOnlySpan<byte> by;
                if (sortBy is not null)
                {
                    if (!LookupByPattern(ctx, sortBy, vector[j].Value, out by)) continue;
                }
                else by = vector[j].Value;

                if (alpha)
                {
                    if (sortBy is not null) vector[j].CompareBy = by.ToArray();
                }
                else if (!TryParseScore(by, out vector[j].Score))
                {
                    conversionError = true;
                }
            }
            Comparison<Item> compare = alpha
                ? sortBy is not null
                    ? (a, b) => CompareByValues(a, b, storeKey is not null)
                    : (a, b) => storeKey is not null ? Binary(a.Value, b.Value) : Collate(a.Value, b.Value)
                : (a, b) =>
                {
                    if (a.Score > b.Score) return 1;
                    if (a.Score < b.Score) return -1;
                    // Equal scores fall back to the elements, so the result is deterministic.
                    return Binary(a.Value, b.Value);
                };
            Comparison<Item> ordered = desc ? (a, b) => -compare(a, b) : compare;
            // Valkey: its partial quicksort when BY and LIMIT narrow the output, else qsort (stable here).
            if (sortBy is not null && (start != 0 || end != vector.Length - 1))
                CSort.PartialQuickSort(vector, ordered, (int)start, (int)end);
            else CSort.MergeSort(vector, ordered);
            items = new List<Item>(vector);
        }

        long outputLen = getPatterns.Count > 0 ? getPatterns.Count * (end - start + 1) : end - start + 1;
        if (conversionError)
        {
            ctx.Error("ERR One or more scores can't be converted into double");
            return;
        }

        if (storeKey is null)
        {
            var reply = ctx.Reply;
            reply.WriteArray(outputLen);
            for (long j = start; j <= end; j++)
            {
                var value = items[(int)j].Value;
                if (getPatterns.Count == 0) reply.WriteBulk(value);
                foreach (var pattern in getPatterns)
                {
                    if (LookupByPattern(ctx, pattern, value, out var got)) reply.WriteBulk(got);
                    else reply.WriteNull();
                }
            }
            return;
        }

        var fill = ListFill(ctx);
        var stored = new ListValue();
        var toPush = new List<byte[]>();
        long bytes = 0;
        for (long j = start; j <= end; j++)
        {
            var value = items[(int)j].Value;
            if (getPatterns.Count == 0) toPush.Add(value);
            foreach (var pattern in getPatterns)
                toPush.Add(LookupByPattern(ctx, pattern, value, out var got) ? got.ToArray() : Array.Empty<byte>());
        }
        foreach (var v in toPush) bytes += v.Length;
        if (outputLen > 0)
        {
            stored.ConvertForGrowth(fill, bytes, toPush.Count);
            foreach (var v in toPush) stored.Push(v, head: false, fill);
            stored.ConvertAuto(fill);
            db.SetObject(storeKey, stored);
            ctx.AddDirty(outputLen - 1);
            ctx.Notify(KeyspaceEventFlags.List, "sortstore"u8, storeKey);
        }
        else
        {
            int dst = db.Lookup(storeKey, LookupFlags.Write | LookupFlags.NoTouch);
            if (dst >= 0)
            {
                db.DeleteAt(dst);
                ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, storeKey);
            }
        }
        ctx.Reply.WriteInteger(outputLen);
    }

    private static ListLimits ListFill(CommandContext ctx)
    {
        long threshold = ctx.Server.Debug.QuicklistPackedThreshold;
        return new ListLimits(ctx.Server.Config.ListMaxListpackSize, threshold == 1L << 30 ? 0 : threshold);
    }

    // ----- loading -----

    private static void LoadAll(IDataValue source, List<Item> items)
    {
        switch (source)
        {
            case ListValue list:
                if (list.Count > 0 && list.TrySeek(0, out var c))
                {
                    do items.Add(new Item { Value = list.Read(c).ToArray() });
                    while (list.MoveNext(ref c));
                }
                break;
            case SetValue set:
                foreach (var m in set) items.Add(new Item { Value = m.ToArray() });
                break;
            case SortedSetValue zset:
                var it = zset.IterateFrom(0, false);
                while (it.MoveNext()) items.Add(new Item { Value = it.Member.ToArray() });
                break;
        }
    }

    /// <summary><paramref name="count"/> elements from position <paramref name="start"/> in native order (from the tail when descending).</summary>
    private static void LoadWindow(IDataValue source, long start, long count, bool desc, List<Item> items)
    {
        if (source is ListValue list)
        {
            if (!list.TrySeek(desc ? list.Count - start - 1 : start, out var c)) return;
            do items.Add(new Item { Value = list.Read(c).ToArray() });
            while (items.Count < count && (desc ? list.MovePrevious(ref c) : list.MoveNext(ref c)));
            return;
        }
        var zset = (SortedSetValue)source;
        var it = zset.IterateFrom(desc ? zset.Count - 1 - start : start, desc);
        while (items.Count < count && it.MoveNext()) items.Add(new Item { Value = it.Member.ToArray() });
    }

    // ----- patterns -----

    /// <summary>A byte string as C sees it: up to its first NUL.</summary>
    private static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> s)
    {
        int nul = s.IndexOf((byte)0);
        return nul < 0 ? s : s.Slice(0, nul);
    }

    /// <summary>
    /// Valkey's lookupKeyByPattern: "#" is the element itself; otherwise the first '*' is replaced by
    /// the element to name a key, whose string value is the result, or with "-&gt;field" after the '*',
    /// that field of the hash at that key. False when there is no such value (or no '*').
    /// </summary>
    private static bool LookupByPattern(CommandContext ctx, byte[] pattern, byte[] subst, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (pattern.Length > 0 && pattern[0] == '#' && (pattern.Length == 1 || pattern[1] == 0))
        {
            value = subst;
            return true;
        }
        var text = CString(pattern);
        int star = text.IndexOf((byte)'*');
        if (star < 0) return false;
        int fieldLen = 0;
        int arrow = text.Slice(star + 1).IndexOf("->"u8);
        if (arrow >= 0)
        {
            arrow += star + 1;
            // "->" at the very end names no field: the arrow is then part of the key name.
            if (arrow + 2 < text.Length) fieldLen = pattern.Length - arrow - 2;
            else arrow = -1;
        }
        int postfixLen = pattern.Length - (star + 1) - (fieldLen > 0 ? fieldLen + 2 : 0);
        var key = new byte[star + subst.Length + postfixLen];
        pattern.AsSpan(0, star).CopyTo(key);
        subst.CopyTo(key, star);
        pattern.AsSpan(star + 1, postfixLen).CopyTo(key.AsSpan(star + subst.Length));

        var db = ctx.Db;
        int idx = db.Lookup(key);
        if (idx < 0) return false;
        if (fieldLen > 0)
        {
            if (db.ObjectAt(idx) is not HashValue hash) return false;
            return hash.TryGet(pattern.AsSpan(arrow + 2, fieldLen), out value);
        }
        if (db.TypeAt(idx) != DataType.String) return false;
        value = db.StringAt(idx);
        return true;
    }

    // ----- comparing -----

    /// <summary>The value read as strtod reads a C string: it must be consumed entirely, not overflow and not be NaN.</summary>
    private static bool TryParseScore(ReadOnlySpan<byte> s, out double score)
    {
        s = CString(s);
        score = 0;
        var scan = CFloat.ScanNumber(s);
        if (scan.Kind == CFloat.Kind.None) return s.Length == 0;
        score = CFloat.ToDouble(scan, s, out bool erange);
        return scan.End == s.Length && !erange && !double.IsNaN(score);
    }

    /// <summary>memcmp order, shorter first on a common prefix (compareStringObjects).</summary>
    private static int Binary(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);

    /// <summary>strcoll in the C locale: byte order of the texts up to their first NUL.</summary>
    private static int Collate(byte[] a, byte[] b) => CString(a).SequenceCompareTo(CString(b));

    private static int CompareByValues(in Item a, in Item b, bool store)
    {
        if (a.CompareBy is null || b.CompareBy is null)
        {
            if (a.CompareBy is null && b.CompareBy is null) return 0;
            return a.CompareBy is null ? -1 : 1;
        }
        return store ? Binary(a.CompareBy, b.CompareBy) : Collate(a.CompareBy, b.CompareBy);
    }
}
