using System.Runtime;

namespace Kvasir.Commands;

/// <summary>
/// MEMORY USAGE, STATS, DOCTOR, PURGE, MALLOC-STATS and HELP. Sizes come from the keyspace's own
/// accounting (what used_memory adds up), so MEMORY USAGE of every key sums to the dataset. Where
/// Valkey reports its allocator (jemalloc), Kvasir reports the managed heap: "allocated" is the
/// GC heap size, "active" what the GC committed, "resident" the process RSS.
/// </summary>
public static class MemoryCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("memory|usage", Usage);
        t.Bind("memory|stats", Stats);
        t.Bind("memory|doctor", Doctor);
        t.Bind("memory|purge", Purge);
        t.Bind("memory|malloc-stats", MallocStats);
        t.Bind("memory|help", Help);
    }

    private static void Usage(CommandContext ctx)
    {
        // SAMPLES is validated as Valkey does; our sizes are exact, so it does not change the answer.
        for (int j = 3; j < ctx.ArgCount; j++)
        {
            if (ctx.ArgIs(j, "SAMPLES"u8) && j + 1 < ctx.ArgCount)
            {
                if (!ctx.TryGetLong(j + 1, out long samples)) return;
                if (samples < 0)
                {
                    ctx.SyntaxError();
                    return;
                }
                j++;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        // Like Valkey's dbFind: the key as stored, even if its TTL has passed and it awaits deletion.
        int idx = ctx.Db.FindRaw(ctx.Args[2]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        ctx.Reply.WriteInteger(ctx.Db.MemoryAt(idx));
    }

    /// <summary>The runtime's side of the memory picture: GC heap, GC committed bytes, process RSS.</summary>
    private readonly record struct HeapFigures(long Heap, long Committed, long Rss)
    {
        public static HeapFigures Now() =>
            new(GC.GetTotalMemory(false), GC.GetGCMemoryInfo().TotalCommittedBytes, Observability.MemoryAccounting.ProcessRss());
    }

    private static double Ratio(long a, long b) => b > 0 ? (double)a / b : 0;

    /// <summary>MEMORY STATS: Valkey's fields, in its order (object.c memoryCommand).</summary>
    private static void Stats(CommandContext ctx)
    {
        var server = ctx.Server;
        var m = Observability.MemoryAccounting.Report(server);
        var h = HeapFigures.Now();
        var r = ctx.Reply;
        int dbsWithKeys = 0;
        foreach (var db in server.Databases) if (db.Count > 0) dbsWithKeys++;
        r.WriteMap(31 + dbsWithKeys);
        Pair(r, "peak.allocated", m.Peak);
        Pair(r, "total.allocated", m.Used);
        Pair(r, "startup.allocated", m.Startup);
        Pair(r, "replication.backlog", m.ReplicationBacklog);
        Pair(r, "clients.slaves", m.ClientsReplicas);
        Pair(r, "clients.normal", m.ClientsNormal);
        Pair(r, "cluster.links", server.Stats.Gauge("mem_cluster_links"));
        Pair(r, "aof.buffer", m.AofBuffer);
        Pair(r, "lua.caches", m.ScriptCaches);
        Pair(r, "functions.caches", m.FunctionCaches);
        foreach (var db in server.Databases)
        {
            if (db.Count == 0) continue;
            r.WriteBulk("db." + db.Index.ToString(System.Globalization.CultureInfo.InvariantCulture));
            r.WriteMap(2);
            Pair(r, "overhead.hashtable.main", db.MainTableOverhead);
            Pair(r, "overhead.hashtable.expires", db.ExpiresTableOverhead);
        }
        Pair(r, "overhead.db.hashtable.lut", m.Tables);
        Pair(r, "overhead.db.hashtable.rehashing", 0); // tables resize in one step, never incrementally
        Pair(r, "overhead.total", m.Overhead);
        Pair(r, "db.dict.rehashing.count", 0);
        Pair(r, "keys.count", m.Keys);
        Pair(r, "keys.bytes-per-key", m.Keys > 0 ? m.Dataset / m.Keys : 0);
        Pair(r, "dataset.bytes", m.Dataset);
        PairDouble(r, "dataset.percentage", m.DatasetPercent);
        PairDouble(r, "peak.percentage", m.PeakPercent);
        Pair(r, "allocator.allocated", h.Heap);
        Pair(r, "allocator.active", h.Committed);
        Pair(r, "allocator.resident", h.Rss);
        Pair(r, "allocator.muzzy", 0);
        PairDouble(r, "allocator-fragmentation.ratio", Ratio(h.Committed, h.Heap));
        Pair(r, "allocator-fragmentation.bytes", Math.Max(0, h.Committed - h.Heap));
        PairDouble(r, "allocator-rss.ratio", Ratio(h.Rss, h.Committed));
        Pair(r, "allocator-rss.bytes", h.Rss - h.Committed);
        PairDouble(r, "rss-overhead.ratio", 1.0);
        Pair(r, "rss-overhead.bytes", 0);
        PairDouble(r, "fragmentation", Ratio(h.Rss, m.Used));
        Pair(r, "fragmentation.bytes", h.Rss - m.Used);
    }

    private static void Pair(Protocol.ReplyWriter r, string name, long value)
    {
        r.WriteBulk(name);
        r.WriteInteger(value);
    }

    private static void PairDouble(Protocol.ReplyWriter r, string name, double value)
    {
        r.WriteBulk(name);
        r.WriteDouble(value);
    }

    /// <summary>
    /// MEMORY DOCTOR: Valkey's checks (an almost empty instance, a past peak, RSS far above used
    /// memory, big client or replica buffers), the allocator ones read as the managed heap's.
    /// </summary>
    private static void Doctor(CommandContext ctx)
    {
        var server = ctx.Server;
        var m = Observability.MemoryAccounting.Report(server);
        var h = HeapFigures.Now();
        const long TenMb = 10L << 20;
        var issues = new List<string>();
        if (m.Used < 5L << 20)
        {
            ctx.Reply.WriteVerbatim("Hi Sam, this instance holds too little data for my issues detector to say anything useful. " +
                                    "Fill it with some data and ask me again.\n");
            return;
        }
        if (Ratio(m.Peak, m.Used) > 1.5)
            issues.Add(" * Peak memory: this instance once used more than 150% of what it uses now. The managed heap keeps " +
                       "part of that memory committed after a peak; MEMORY PURGE runs a compacting collection that gives it back.");
        if (Ratio(h.Rss, m.Used) > 1.4 && h.Rss - m.Used > TenMb)
            issues.Add(" * High total RSS: the process RSS is more than 1.4 times used_memory. On a managed heap this is " +
                       "mostly garbage not yet collected and GC headroom (see gc_heap_size and gc_committed in INFO memory); " +
                       "a large peak explains it too.");
        if (Ratio(h.Committed, h.Heap) > 1.1 && h.Committed - h.Heap > TenMb)
            issues.Add(" * High heap fragmentation: the GC committed more than 1.1 times the bytes its heap holds. " +
                       "It shrinks after collections; MEMORY PURGE compacts at once.");
        int replicas = 0, normal = 0;
        foreach (var c in server.Clients.All)
        {
            if (c.Has(Clients.ClientFlags.Replica) && !c.Has(Clients.ClientFlags.Monitor)) replicas++;
            else normal++;
        }
        if (normal > 0 && m.ClientsNormal / normal > 200 * 1024)
            issues.Add(" * Big client buffers: clients hold more than 200K of buffers each on average: slow readers of " +
                       "Pub/Sub or of big replies, or very long pipelines. CLIENT LIST shows which ones.");
        if (replicas > 0 && m.ClientsReplicas > TenMb)
            issues.Add(" * Big replica buffers: replica output buffers exceed 10MB: a replica is not keeping up with the " +
                       "replication stream (slow replica or network). INFO replication and CLIENT LIST show which.");
        string report = issues.Count == 0
            ? "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
            : "Sam, I detected a few issues in this instance's memory:\n\n" + string.Join("\n\n", issues) +
              "\n\nI'm here to keep you safe, Sam. I want to help you.\n";
        ctx.Reply.WriteVerbatim(report);
    }

    private static void Purge(CommandContext ctx)
    {
        // The managed heap's equivalent of returning dirty pages: a compacting collection that gives memory back to the OS.
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        ctx.Reply.WriteOk();
    }

    private static void MallocStats(CommandContext ctx) => ctx.Reply.WriteVerbatim("Stats not supported for the current allocator");

    private static void Help(CommandContext ctx)
    {
        string[] lines =
        {
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Report about memory problems and their possible remedies.",
            "STATS",
            "    Report about the server's memory usage.",
            "MALLOC-STATS",
            "    Report about the allocator's internal state.",
            "PURGE",
            "    Ask the runtime to compact its heap and give free memory back to the system.",
            "USAGE <key> [SAMPLES <count>]",
            "    Report the bytes a key and its value take in memory.",
            "HELP",
            "    Print this help.",
        };
        ctx.Reply.WriteArray(lines.Length);
        foreach (var l in lines) ctx.Reply.WriteSimpleString(l);
    }
}
