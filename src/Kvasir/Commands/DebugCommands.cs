using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// DEBUG: diagnostics and knobs that Valkey's test suite and operators rely on. Only runs where
/// enable-debug-command allows it (the dispatcher checks). Subcommands that need subsystems
/// Kvasir does not have yet (cluster packet filters...) are not offered.
/// </summary>
public static class DebugCommands
{
    public static void Register(CommandTable t) => t.Bind("debug", Debug);

    private static void Debug(CommandContext ctx)
    {
        int argc = ctx.ArgCount;
        var a = ctx.Args;
        if (argc == 2 && a.Is(1, "HELP"u8)) Help(ctx);
        else if (argc == 3 && a.Is(1, "SLEEP"u8)) Sleep(ctx);
        else if (argc == 3 && a.Is(1, "SET-ACTIVE-EXPIRE"u8))
        {
            ctx.Server.ActiveExpireEnabled = AtoI(a[2]) != 0;
            ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "SET-DISABLE-DENY-SCRIPTS"u8))
        {
            // Lets scripts call noscript commands (Valkey's test hook, e.g. DEBUG PROTOCOL from Lua).
            ctx.Server.Scripts.DisableDenyScripts = AtoI(a[2]) != 0;
            ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "PAUSE-CRON"u8))
        {
            ctx.Server.CronPaused = AtoI(a[2]) != 0;
            ctx.Reply.WriteOk();
        }
        else if ((argc == 3 || argc == 4) && a.Is(1, "OBJECT"u8)) Object(ctx);
        else if (argc == 2 && a.Is(1, "DIGEST"u8)) Digest(ctx);
        else if (argc >= 2 && a.Is(1, "RELOAD"u8)) PersistenceCommands.DebugReload(ctx);
        else if (argc == 2 && a.Is(1, "LOADAOF"u8)) PersistenceCommands.DebugLoadAof(ctx);
        else if (argc == 3 && a.Is(1, "AOF-FLUSH-SLEEP"u8))
        {
            ctx.Server.Persistence.Aof.FlushSleepMicros = (int)AtoI(a[2]);
            ctx.Reply.WriteOk();
        }
        else if (argc >= 2 && a.Is(1, "DIGEST-VALUE"u8)) DigestValue(ctx);
        else if (argc == 3 && a.Is(1, "PROTOCOL"u8)) Protocol(ctx);
        else if (argc >= 3 && argc <= 5 && a.Is(1, "POPULATE"u8)) Populate(ctx);
        else if (argc == 2 && a.Is(1, "CHANGE-REPL-ID"u8))
        {
            ctx.Server.Log.Notice("Changing replication IDs after receiving DEBUG change-repl-id");
            ctx.Server.Replication.ResetIds();
            ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "PAUSE-AFTER-FORK"u8))
        {
            ctx.Server.Debug.PauseAfterFork = AtoI(a[2]) != 0;
            ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "DELAY-RDB-CLIENT-FREE-SECONDS"u8))
        {
            if (!ctx.TryGetLong(2, out long seconds)) return;
            ctx.Server.Replication.RdbClientGraceSeconds = (int)Math.Clamp(seconds, 0, int.MaxValue);
            ctx.Reply.WriteOk();
        }
        else if (argc >= 3 && a.Is(1, "REPLICATE"u8))
        {
            // A command sent to the replicas as if propagated, without running here (divergence tests).
            var w = new Protocol.ReplyWriter();
            w.WriteArray(argc - 2);
            for (int i = 2; i < argc; i++) w.WriteBulk(a[i]);
            if (!ctx.Server.Replication.IsReplica) ctx.Server.Replication.Feed(w.WrittenSpan);
            w.Release();
            ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "QUICKLIST-PACKED-THRESHOLD"u8)) PackedThreshold(ctx);
        else if (argc == 3 && a.Is(1, "SET-SKIP-CHECKSUM-VALIDATION"u8))
        {
            ctx.Server.Debug.SkipChecksumValidation = AtoI(a[2]) != 0;
            ctx.Reply.WriteOk();
        }
        else if (argc == 4 && a.Is(1, "REPLYBUFFER"u8)) ReplyBuffer(ctx);
        else if (argc == 3 && (a.Is(1, "LISTPACK"u8) || a.Is(1, "QUICKLIST"u8)) || argc == 4 && a.Is(1, "QUICKLIST"u8)) Structure(ctx);
        else if (argc == 2 && a.Is(1, "STRINGMATCH-TEST"u8))
        {
            StringMatchFuzz();
            ctx.Reply.WriteSimpleString("Apparently the server did not crash: test passed"u8);
        }
        else if (argc == 3 && a.Is(1, "DROP-CLUSTER-PACKET-FILTER"u8))
        {
            if (!ctx.TryGetLong(2, out long type)) return;
            if (ctx.Server.Cluster is { } cluster) cluster.DropPacketFilter = (int)Math.Clamp(type, int.MinValue, int.MaxValue);
            ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "CLOSE-CLUSTER-LINK-ON-PACKET-DROP"u8))
        {
            if (ctx.Server.Cluster is { } cluster) cluster.CloseLinkOnPacketDrop = AtoI(a[2]) != 0;
            ctx.Reply.WriteOk();
        }
        else if (argc == 5 && a.Is(1, "CLUSTERLINK"u8) && a.Is(2, "KILL"u8))
        {
            if (ctx.Server.Cluster is not { } cluster)
            {
                ctx.Error("ERR Debug option only available for cluster mode enabled setup!");
                return;
            }
            if (cluster.KillLinks(a.ToString(3), a.ToString(4)) is { } error) ctx.Error(error);
            else ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "LOG"u8))
        {
            ctx.Server.Log.Warning("DEBUG LOG: " + a.ToString(2));
            ctx.Reply.WriteOk();
        }
        else if (argc == 3 && a.Is(1, "ERROR"u8))
        {
            // The given text is the whole error line, code included; it is not an error of the command itself.
            ctx.Reply.WriteError(a.ToString(2));
        }
        else HelpText.SubcommandSyntaxError(ctx);
    }

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "DEBUG",
        "AOF-FLUSH-SLEEP <microsec>",
        "    Sleep before each write of the AOF buffer (for tests).",
        "CHANGE-REPL-ID",
        "    Give the server new replication ids (for replication tests only).",
        "PAUSE-AFTER-FORK <0|1>",
        "    Stop the process (SIGSTOP) after starting an image for replicas, and before a dual-channel PSYNC.",
        "DELAY-RDB-CLIENT-FREE-SECONDS <seconds>",
        "    How long a dual-channel sync's image channel is remembered after it went away.",
        "REPLICATE <string> ...",
        "    Send a command to the replicas without executing it (for replication tests only).",
        "CLUSTERLINK KILL <to|from|all> <node-id>",
        "    Kills the link based on the direction to/from (both) with the provided node.",
        "CLOSE-CLUSTER-LINK-ON-PACKET-DROP <0|1>",
        "    This is valid only when DROP-CLUSTER-PACKET-FILTER is set to a valid packet type.",
        "    When set to 1, the cluster link is closed after dropping a packet based on the filter.",
        "DIGEST",
        "    A hex signature of the whole dataset.",
        "DROP-CLUSTER-PACKET-FILTER <packet-type>",
        "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
        "DIGEST-VALUE <key> [<key> ...]",
        "    A hex signature of the value of each key.",
        "ERROR <string>",
        "    Reply with <string> as an error (helps testing clients).",
        "LOG <message>",
        "    Write <message> to the server log.",
        "LOADAOF",
        "    Flush the AOF buffers on disk and reload the AOF in memory.",
        "LISTPACK <key>",
        "    Describe the listpack holding the value of <key> on standard output.",
        "OBJECT <key> [fast]",
        "    Low level information about <key> and its value; 'fast' skips the costly fields.",
        "PAUSE-CRON <0|1>",
        "    Stop or resume the periodic background work.",
        "POPULATE <count> [<prefix>] [<size>]",
        "    Create <count> string keys named <prefix>:<n> ('key' by default) holding 'value:<n>',",
        "    padded to <size> bytes when given. Existing keys are left alone.",
        "PROTOCOL <type>",
        "    Reply with a sample value of <type>: string, integer, double, bignum, null, array,",
        "    set, map, attrib, push, verbatim, true or false.",
        "QUICKLIST <key> [<0|1>]",
        "    Describe the quicklist holding the value of <key> on standard output.",
        "QUICKLIST-PACKED-THRESHOLD <size>",
        "    List elements at least this large get a node of their own (default 1GB, at most 4GB;",
        "    0 restores the default).",
        "RELOAD [MERGE] [NOFLUSH] [NOSAVE]",
        "    Write the RDB file and load it back. MERGE: keys from the file replace existing ones;",
        "    NOFLUSH: keep the current data set (a key in both fails unless MERGE); NOSAVE: load the",
        "    file as it is on disk.",
        "REPLYBUFFER PEAK-RESET-TIME <NEVER|RESET|milliseconds>",
        "    How long the peak size of a reply buffer is remembered.",
        "REPLYBUFFER RESIZING <0|1>",
        "    Turn the periodic resizing of reply buffers off or on.",
        "SET-ACTIVE-EXPIRE <0|1>",
        "    0 stops deleting expired keys in the background (keys still expire when accessed);",
        "    1 restores the default.",
        "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
        "    Load RDB files and RESTORE payloads without verifying their checksum.",
        "SLEEP <seconds>",
        "    Block the whole server for <seconds> (fractions allowed).",
        "STRINGMATCH-TEST",
        "    Run random patterns through the glob matcher.");

    /// <summary>C atoi: optional sign and leading digits, 0 when there are none.</summary>
    private static long AtoI(ReadOnlySpan<byte> s)
    {
        int i = 0;
        while (i < s.Length && (s[i] == ' ' || (s[i] >= 9 && s[i] <= 13))) i++;
        bool neg = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
        long v = 0;
        while (i < s.Length && s[i] >= '0' && s[i] <= '9' && v < int.MaxValue) v = v * 10 + (s[i++] - '0');
        return neg ? -v : v;
    }

    /// <summary>C strtod on the longest numeric prefix; 0 when there is none.</summary>
    private static double StrToD(string s)
    {
        s = s.Trim();
        for (int len = s.Length; len > 0; len--)
            if (double.TryParse(s.AsSpan(0, len), NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
        return 0;
    }

    private static void Sleep(CommandContext ctx)
    {
        double seconds = StrToD(ctx.Args.ToString(2));
        long micros = (long)(seconds * 1_000_000);
        // The server is meant to stall: the sleep happens with the data lock held.
        if (micros > 0) Thread.Sleep(TimeSpan.FromMicroseconds(micros));
        ctx.Reply.WriteOk();
    }

    // ----- OBJECT -----

    private const int SharedRefCount = int.MaxValue;
    private const int SharedIntegers = 10000;

    private static void Object(CommandContext ctx)
    {
        var db = ctx.Db;
        bool fast = ctx.ArgCount == 4 && ctx.Args.Is(3, "FAST"u8);
        int idx = db.FindRaw(ctx.Args[2]);
        if (idx < 0)
        {
            ctx.NoSuchKey();
            return;
        }
        var encoding = db.EncodingAt(idx);
        var value = db.ObjectAt(idx);
        uint lru = db.LruAt(idx);
        var ks = ctx.Server.Keyspace;
        long idleMs = (ks.LruClock >= lru ? ks.LruClock - lru : ks.LruClock + (KeyspaceContext.LruClockMax - lru)) * 1000L;

        var sb = new StringBuilder();
        long address = 0x7f0000000000L | ((long)(uint)db.IdentityAt(idx) << 4);
        sb.Append("Value at:0x").Append(address.ToString("x", CultureInfo.InvariantCulture));
        sb.Append(" refcount:").Append(RefCount(ctx, db, idx).ToString(CultureInfo.InvariantCulture));
        sb.Append(" encoding:").Append(DataTypeNames.EncodingName(encoding));
        if (!fast) sb.Append(" serializedlength:").Append(SerializedLength(ctx, db, idx).ToString(CultureInfo.InvariantCulture));
        sb.Append(" lru:").Append(lru.ToString(CultureInfo.InvariantCulture));
        sb.Append(" lru_seconds_idle:").Append((idleMs / 1000).ToString(CultureInfo.InvariantCulture));
        sb.Append(" lfu_freq:").Append(Lfu.Decay(lru, ks).ToString(CultureInfo.InvariantCulture));
        sb.Append(" lfu_access_time_minutes:").Append((lru >> 8).ToString(CultureInfo.InvariantCulture));
        if (value is ListValue { IsQuicklist: true } list) AppendQuicklistDetails(sb, ctx, list, fast);
        else if (value is IDebugInspectable inspectable) sb.Append(inspectable.DebugDetails(fast));
        ctx.Reply.WriteSimpleString(sb.ToString());
    }

    /// <summary>The quicklist layout Valkey appends for lists in that encoding.</summary>
    private static void AppendQuicklistDetails(StringBuilder sb, CommandContext ctx, ListValue list, bool fast)
    {
        var inv = CultureInfo.InvariantCulture;
        int nodes = list.NodeCount;
        sb.Append(" ql_nodes:").Append(nodes.ToString(inv));
        sb.Append(" ql_avg_node:").Append(((double)list.Count / nodes).ToString("F2", inv));
        sb.Append(" ql_listpack_max:").Append(ctx.Server.Config.ListMaxListpackSize.ToString(inv));
        sb.Append(" ql_compressed:").Append(ctx.Server.Config.ListCompressDepth != 0 ? '1' : '0');
        if (fast) return;
        long size = 0;
        for (int i = 0; i < nodes; i++)
        {
            ref readonly var node = ref list.Node(i);
            size += node.Plain ? node.UsedBytes : node.ListpackBytes;
        }
        sb.Append(" ql_uncompressed_size:").Append(size.ToString(inv));
    }

    /// <summary>Valkey shares the integers 0..9999 between keys unless maxmemory uses LRU/LFU, and reports them with an "infinite" count.</summary>
    private static int RefCount(CommandContext ctx, Database db, int idx)
    {
        var cfg = ctx.Server.Config;
        bool sharing = cfg.MaxMemory == 0 || !(cfg.MaxMemoryPolicy.Contains("lru", StringComparison.Ordinal) || cfg.MaxMemoryPolicy.Contains("lfu", StringComparison.Ordinal));
        if (sharing && db.EncodingAt(idx) == ValueEncoding.Int && db.TypeAt(idx) == DataType.String &&
            NumberParser.TryParseLong(db.StringAt(idx), out long v) && v >= 0 && v < SharedIntegers)
            return SharedRefCount;
        return 1;
    }

    /// <summary>Bytes the value takes in an RDB file (rdbSavedObjectLen), integer and LZF encodings included.</summary>
    private static long SerializedLength(CommandContext ctx, Database db, int idx)
    {
        if (db.ObjectAt(idx) is IDebugInspectable inspectable) return inspectable.SerializedLength;
        if (db.TypeAt(idx) != DataType.String)
        {
            var value = db.ObjectAt(idx)!;
            if (value is not Persistence.IElementSource && value is not Types.Streams.StreamValue) return value.MemoryUsage;
            return Persistence.RdbWriter.SerializedLength(value, ctx.Server.Persistence.WriteOptions());
        }
        var output = new Persistence.RdbOutput(Stream.Null, ctx.Server.Config.RdbCompression, checksum: false);
        output.WriteString(db.StringAt(idx));
        return output.Length;
    }

    // ----- DIGEST -----

    private static void Digest(CommandContext ctx)
    {
        var final = new ValueDigest();
        var keyDigest = new ValueDigest();
        Span<byte> dbId = stackalloc byte[4];
        foreach (var db in ctx.Server.Databases)
        {
            if (db.Count == 0) continue;
            BinaryPrimitives.WriteUInt32BigEndian(dbId, (uint)db.Index);
            final.Mix(dbId);
            for (int idx = 0; idx < db.IndexLimit; idx++)
            {
                if (!db.IsOccupied(idx)) continue;
                keyDigest.Clear();
                keyDigest.Mix(db.KeyAt(idx));
                if (!AddValue(ctx, db, idx, keyDigest)) return;
                final.Xor(keyDigest.State);
            }
        }
        ctx.Reply.WriteSimpleString(final.ToHex());
    }

    private static void DigestValue(CommandContext ctx)
    {
        var db = ctx.Db;
        var digest = new ValueDigest();
        var results = new List<string>(ctx.ArgCount - 2);
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            digest.Clear();
            // Logically expired keys still count: this looks at what memory holds.
            int idx = db.FindRaw(ctx.Args[i]);
            if (idx >= 0 && !AddValue(ctx, db, idx, digest)) return;
            results.Add(digest.ToHex());
        }
        ctx.Reply.WriteArray(results.Count);
        foreach (var r in results) ctx.Reply.WriteSimpleString(r);
    }

    /// <summary>Valkey's object type numbers, which the digest includes.</summary>
    private static uint ValkeyTypeNumber(DataType t) => t switch
    {
        DataType.String => 0,
        DataType.List => 1,
        DataType.Set => 2,
        DataType.ZSet => 3,
        DataType.Hash => 4,
        DataType.Stream => 6,
        _ => 5,
    };

    private static bool AddValue(CommandContext ctx, Database db, int idx, ValueDigest digest)
    {
        var type = db.TypeAt(idx);
        Span<byte> typeBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(typeBytes, ValkeyTypeNumber(type));
        digest.Mix(typeBytes);
        Span<byte> scratch = stackalloc byte[24];
        var value = db.ObjectAt(idx);
        if (type == DataType.String) digest.Mix(db.StringAt(idx));
        else if (value is ListValue list)
        {
            // Order matters: each element is mixed into the running digest.
            if (list.TrySeek(0, out var cursor))
                do digest.AddOrdered(ValueDigest.TextOf(list.Read(cursor), scratch));
                while (list.MoveNext(ref cursor));
        }
        else if (value is SetValue set)
        {
            foreach (var member in set) digest.AddUnordered(ValueDigest.TextOf(member, scratch));
        }
        else if (value is HashValue hash)
        {
            foreach (var pair in hash) digest.AddPair(pair.Field, pair.Value);
        }
        else if (value is SortedSetValue zset)
        {
            var it = zset.IterateFrom(0, reverse: false);
            while (it.MoveNext()) digest.AddScored(it.Member, it.Score);
        }
        else if (value is IDigestible digestible) digestible.AddTo(digest);
        else
        {
            ctx.Error($"ERR DEBUG DIGEST cannot hash {Encoding.ASCII.GetString(DataTypeNames.TypeName(type))} values yet");
            return false;
        }
        if (db.GetExpireAt(idx) != -1) digest.Xor("!!expire!!"u8);
        return true;
    }

    // ----- PROTOCOL -----

    private static void Protocol(CommandContext ctx)
    {
        var r = ctx.Reply;
        var a = ctx.Args;
        if (a.Is(2, "STRING"u8)) r.WriteBulk("Hello World"u8);
        else if (a.Is(2, "INTEGER"u8)) r.WriteInteger(12345);
        else if (a.Is(2, "DOUBLE"u8)) r.WriteDouble(3.141);
        else if (a.Is(2, "BIGNUM"u8)) r.WriteBigNumber("1234567999999999999999999999999999999");
        else if (a.Is(2, "NULL"u8)) r.WriteNull();
        else if (a.Is(2, "ARRAY"u8))
        {
            r.WriteArray(3);
            for (int j = 0; j < 3; j++) r.WriteInteger(j);
        }
        else if (a.Is(2, "SET"u8))
        {
            r.WriteSet(3);
            for (int j = 0; j < 3; j++) r.WriteInteger(j);
        }
        else if (a.Is(2, "MAP"u8))
        {
            r.WriteMap(3);
            for (int j = 0; j < 3; j++)
            {
                r.WriteInteger(j);
                r.WriteBoolean(j == 1);
            }
        }
        else if (a.Is(2, "ATTRIB"u8))
        {
            if (r.IsResp3)
            {
                // An attribute annotates the reply that follows it; RESP2 has no way to express it.
                r.WriteRaw("|1\r\n"u8);
                r.WriteBulk("key-popularity"u8);
                r.WriteArray(2);
                r.WriteBulk("key:123"u8);
                r.WriteInteger(90);
            }
            r.WriteBulk("Some real reply following the attribute"u8);
        }
        else if (a.Is(2, "PUSH"u8))
        {
            if (!r.IsResp3)
            {
                ctx.Error("ERR RESP2 is not supported by this command");
                return;
            }
            // Valkey delivers a push produced while a command runs after that command's own reply.
            r.WriteBulk("Some real reply following the push reply"u8);
            r.WritePush(2);
            r.WriteBulk("server-cpu-usage"u8);
            r.WriteInteger(42);
        }
        else if (a.Is(2, "TRUE"u8)) r.WriteBoolean(true);
        else if (a.Is(2, "FALSE"u8)) r.WriteBoolean(false);
        else if (a.Is(2, "VERBATIM"u8)) r.WriteVerbatim("This is a verbatim\nstring");
        else
            ctx.Error("ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false");
    }

    // ----- POPULATE -----

    private static void Populate(CommandContext ctx)
    {
        const string notPositive = "ERR value is out of range, must be positive";
        if (!NumberParser.TryParseLong(ctx.Args[2], out long count) || count < 0)
        {
            ctx.Error(notPositive);
            return;
        }
        long size = 0;
        if (ctx.ArgCount == 5 && (!NumberParser.TryParseLong(ctx.Args[4], out size) || size < 0))
        {
            ctx.Error(notPositive);
            return;
        }
        string prefix = ctx.ArgCount >= 4 ? ctx.Args.ToString(3) : "key";
        var db = ctx.Db;
        var ks = ctx.Server.Keyspace;
        long dirty = ks.Dirty; // populated keys are neither propagated nor counted as changes
        byte[]? padded = size > 0 ? new byte[size] : null;
        for (long j = 0; j < count; j++)
        {
            var key = Encoding.UTF8.GetBytes(prefix + ":" + j.ToString(CultureInfo.InvariantCulture));
            if (db.Lookup(key, LookupFlags.Write | LookupFlags.NoTouch) >= 0) continue;
            var text = Encoding.ASCII.GetBytes("value:" + j.ToString(CultureInfo.InvariantCulture));
            if (padded is null) db.SetString(key, text);
            else
            {
                Array.Clear(padded);
                text.AsSpan(0, (int)Math.Min(text.Length, size)).CopyTo(padded);
                db.SetString(key, padded);
            }
        }
        ks.Dirty = dirty;
        ctx.Reply.WriteOk();
    }

    // ----- knobs -----

    private static void PackedThreshold(CommandContext ctx)
    {
        if (!ConfigValues.TryParseMemory(ctx.Args.ToString(2), out long size) || size < 0 || size > (1L << 32) - (1L << 20))
        {
            ctx.Error("ERR argument must be a memory value bigger than 1 and smaller than 4gb");
            return;
        }
        ctx.Server.Debug.QuicklistPackedThreshold = size == 0 ? 1L << 30 : size;
        ctx.Reply.WriteOk();
    }

    private static void ReplyBuffer(CommandContext ctx)
    {
        var settings = ctx.Server.Debug;
        if (ctx.Args.Is(2, "PEAK-RESET-TIME"u8))
        {
            if (ctx.Args.Is(3, "NEVER"u8)) settings.ReplyBufferPeakResetTime = -1;
            else if (ctx.Args.Is(3, "RESET"u8)) settings.ReplyBufferPeakResetTime = DebugSettings.DefaultReplyBufferPeakResetTime;
            else if (ctx.TryGetLong(3, out long ms)) settings.ReplyBufferPeakResetTime = ms;
            else return;
        }
        else if (ctx.Args.Is(2, "RESIZING"u8)) settings.ReplyBufferResizing = AtoI(ctx.Args[3]) != 0;
        else
        {
            HelpText.SubcommandSyntaxError(ctx);
            return;
        }
        ctx.Reply.WriteOk();
    }

    /// <summary>LISTPACK / QUICKLIST: describe the value's packed layout on standard output.</summary>
    private static void Structure(CommandContext ctx)
    {
        bool quicklist = ctx.Args.Is(1, "QUICKLIST"u8);
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[2], LookupFlags.NoTouch | LookupFlags.NoStats);
        if (idx < 0)
        {
            ctx.NoSuchKey();
            return;
        }
        var expected = quicklist ? ValueEncoding.Quicklist : ValueEncoding.Listpack;
        if (db.EncodingAt(idx) != expected)
        {
            ctx.Error(quicklist ? "ERR Not a quicklist encoded object." : "ERR Not a listpack encoded object.");
            return;
        }
        var value = db.ObjectAt(idx);
        string details = value is IDebugInspectable inspectable ? inspectable.DebugDetails(fast: false) : "";
        Console.Out.WriteLine($"{{{(quicklist ? "quicklist" : "listpack")}}} key:{Encoding.UTF8.GetString(ctx.Args[2])} type:{Encoding.ASCII.GetString(DataTypeNames.TypeName(db.TypeAt(idx)))} bytes:{value?.MemoryUsage ?? 0}{details}");
        ctx.Reply.WriteSimpleString(quicklist ? "Quicklist structure printed on stdout" : "Listpack structure printed on stdout");
    }

    /// <summary>Random patterns and strings through the glob matcher: it must never fail or hang.</summary>
    private static void StringMatchFuzz()
    {
        var rnd = new Random();
        Span<byte> pattern = stackalloc byte[32];
        Span<byte> str = stackalloc byte[32];
        for (int i = 0; i < 100_000; i++)
        {
            int plen = rnd.Next(pattern.Length + 1), slen = rnd.Next(str.Length + 1);
            for (int j = 0; j < plen; j++) pattern[j] = (byte)rnd.Next(256);
            for (int j = 0; j < slen; j++) str[j] = (byte)rnd.Next(256);
            GlobPattern.Match(pattern.Slice(0, plen), str.Slice(0, slen), noCase: (i & 1) == 0);
        }
    }
}
