using System.Runtime;
using Kvasir.Clients;

namespace Kvasir.Observability;

/// <summary>
/// Kvasir's own memory figure (INFO used_memory, maxmemory decisions): the incrementally
/// maintained size of every database plus client buffers plus a fixed base for the server's
/// own structures. It deliberately does not come from the GC, whose numbers move with
/// collections; the GC's figures and the process RSS are reported next to it.
/// </summary>
public static class MemoryAccounting
{
    /// <summary>Server structures that exist before any data or client (INFO used_memory_startup, less empty tables).</summary>
    public const long BaseOverhead = 880 * 1024;

    /// <summary>Bookkeeping per connected client beyond its buffers (the client object, its context, parser state).</summary>
    public const long PerClientOverhead = 1024;

    /// <summary>INFO used_memory: data, tables, client buffers (query, output, MULTI queues), replication and AOF buffers, values awaiting lazy free, the base.</summary>
    public static long UsedMemory(KvasirServer server) => Report(server).Used;

    /// <summary>
    /// The parts of used_memory that maxmemory does not count (Valkey's freeMemoryGetNotCountedMemory):
    /// replicas' buffers with their share of the replication buffer (what it holds past the backlog),
    /// and the AOF buffer. used_memory minus this is what the evictor compares with maxmemory.
    /// </summary>
    public static long NotCountedForEviction(KvasirServer server) =>
        ClientsMemory(server, normal: false) + server.Replication.ReplicasShareOfBuffer + server.Stats.Gauge("mem_aof_buffer");

    /// <summary>
    /// What maxmemory counts besides the databases and objects awaiting lazy free: normal clients'
    /// buffers, the replication backlog, the script and function caches and the base. Valkey counts
    /// them all (they are zmalloc'ed like the data), so a server full of cached scripts evicts sooner.
    /// </summary>
    public static long CountedOverhead(KvasirServer server)
    {
        var st = server.Stats;
        return ClientsMemory(server, normal: true) + st.Gauge("mem_replication_backlog") + st.Gauge("used_memory_scripts_eval")
               + st.Gauge("used_memory_functions") + BaseOverhead;
    }

    /// <summary>One consistent reading of the memory figures behind INFO memory and MEMORY STATS.</summary>
    public readonly record struct MemoryReport(
        long Used, long Peak, long Startup, long ClientsNormal, long ClientsReplicas, long ReplicationBacklog,
        long AofBuffer, long Tables, long LazyFreePending, long ScriptCaches, long FunctionCaches, long Keys)
    {
        /// <summary>Everything that is not keys and values (Valkey's overhead_total).</summary>
        public long Overhead => BaseOverhead + ClientsNormal + ClientsReplicas + ReplicationBacklog + AofBuffer + Tables + ScriptCaches + FunctionCaches;

        public long Dataset => Math.Max(0, Used - Overhead);

        /// <summary>Used memory beyond what an empty server holds (the base of the percentages).</summary>
        public long NetUsage => Used > Startup ? Used - Startup : 1;

        public double DatasetPercent => Dataset * 100.0 / NetUsage;

        public double PeakPercent => Peak > 0 ? Used * 100.0 / Peak : 0;
    }

    public static MemoryReport Report(KvasirServer server)
    {
        var st = server.Stats;
        long clientsNormal = ClientsMemory(server, normal: true);
        // The replication buffer beyond repl-backlog-size is the replicas' (as Valkey splits it).
        long clientsReplicas = ClientsMemory(server, normal: false) + server.Replication.ReplicasShareOfBuffer;
        long backlog = st.Gauge("mem_replication_backlog");
        long aof = st.Gauge("mem_aof_buffer");
        long lazy = server.LazyFree.PendingBytes;
        long scripts = st.Gauge("used_memory_scripts_eval");
        long functions = st.Gauge("used_memory_functions");
        long keys = 0;
        foreach (var db in server.Databases) keys += db.Count;
        long used = DatasetAndTables(server) + clientsNormal + clientsReplicas + backlog + aof + lazy + scripts + functions + BaseOverhead;
        if (used > server.Metrics.PeakMemory) server.Metrics.PeakMemory = used;
        return new MemoryReport(used, server.Metrics.PeakMemory, BaseOverhead + StartupTables(server), clientsNormal, clientsReplicas,
            backlog, aof, TablesOverhead(server), lazy, scripts, functions, keys);
    }

    private static long? _emptyDatabase;

    /// <summary>What the empty databases of a fresh server take (part of used_memory_startup).</summary>
    public static long StartupTables(KvasirServer server)
    {
        _emptyDatabase ??= new Keyspace.Database(0, new Keyspace.KeyspaceContext()).UsedMemory;
        return _emptyDatabase.Value * server.Databases.Length;
    }

    /// <summary>
    /// The memory the process may use: the cgroup limit of its container (v2 memory.max, else v1
    /// memory.limit_in_bytes), or physical memory when there is none. The base of "maxmemory N%".
    /// </summary>
    public static long ContainerMemoryLimit()
    {
        long limit = ReadLimit("/sys/fs/cgroup/memory.max");
        if (limit <= 0) limit = ReadLimit("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        long physical = TotalSystemMemory();
        // cgroup v1 reports "no limit" as a huge page-rounded number.
        return limit > 0 && limit < physical ? limit : physical;
    }

    private static long ReadLimit(string path)
    {
        try
        {
            if (!File.Exists(path)) return 0;
            var text = File.ReadAllText(path).Trim();
            return long.TryParse(text, out long v) ? v : 0; // "max": unlimited
        }
        catch (IOException) { return 0; }
        catch (UnauthorizedAccessException) { return 0; }
    }

    public static long DatasetAndTables(KvasirServer server)
    {
        long total = 0;
        foreach (var db in server.Databases) total += db.UsedMemory;
        return total;
    }

    public static long TablesOverhead(KvasirServer server)
    {
        long total = 0;
        foreach (var db in server.Databases) total += db.TableOverhead;
        return total;
    }

    /// <summary>Buffers of normal clients (<paramref name="normal"/>) or of replicas.</summary>
    public static long ClientsMemory(KvasirServer server, bool normal)
    {
        long total = 0;
        foreach (var c in server.Clients.All)
        {
            bool replica = c.Has(ClientFlags.Replica) && !c.Has(ClientFlags.Monitor);
            if (replica == normal) continue;
            total += ClientMemory(c);
        }
        return total;
    }

    /// <summary>
    /// What a client holds, as Valkey's getClientMemoryUsage counts it: the query buffer (while input
    /// is pending), queued MULTI commands, reply buffers (pending and in flight to the socket), and
    /// the per-entry overhead of its WATCHed keys, subscriptions and BCAST prefixes. CLIENT LIST
    /// tot-mem, used_memory's client part and client eviction (maxmemory-clients) all use it.
    /// </summary>
    public static long ClientMemory(Client c)
    {
        // The reply buffer counts at least its size even when given back, as Valkey's per-client
        // buffer always does: a client's figure then does not jump by 16 KB between commands.
        long mem = PerClientOverhead + Math.Max(c.Reply.Capacity, c.ReplyBufferSize) + Volatile.Read(ref c.OutputInFlight) + c.MultiMemory;
        mem += c.QueryBufferCapacity;
        mem += c.WatchedKeyCount * WatchedKeyOverhead;
        mem += (long)(c.Subscriptions + c.PatternSubscriptions + c.ShardSubscriptions) * SubscriptionOverhead;
        if (c.TrackingPrefixes is { } prefixes)
            foreach (var p in prefixes) mem += SubscriptionOverhead + p.Length;
        return mem;
    }

    /// <summary>A WATCH entry (list node and watched-key record, as Valkey counts it).</summary>
    public const long WatchedKeyOverhead = 56;

    /// <summary>One subscription or BCAST prefix: its entry in the client's own table.</summary>
    public const long SubscriptionOverhead = 40;

    /// <summary>Resident set size of the process in bytes (from /proc/self/statm on Linux).</summary>
    public static long ProcessRss()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                var parts = File.ReadAllText("/proc/self/statm").Split(' ');
                if (parts.Length > 1 && long.TryParse(parts[1], out long pages)) return pages * Environment.SystemPageSize;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.WorkingSet;
    }

    private static long _systemMemory = -1;

    /// <summary>Physical memory of the machine (total_system_memory).</summary>
    public static long TotalSystemMemory()
    {
        if (_systemMemory >= 0) return _systemMemory;
        long result = 0;
        try
        {
            if (OperatingSystem.IsLinux())
            {
                foreach (var line in File.ReadLines("/proc/meminfo"))
                {
                    if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
                    var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (fields.Length >= 2 && long.TryParse(fields[1], out long kb)) result = kb * 1024;
                    break;
                }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (result == 0) result = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        _systemMemory = result;
        return result;
    }

    /// <summary>Valkey's bytesToHuman: 100B, 2.00K, 3.50M, ...</summary>
    public static string ToHuman(long n)
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        double d = n;
        if (n < 1024) return n.ToString(ci) + "B";
        if (n < 1024L * 1024) return (d / 1024).ToString("F2", ci) + "K";
        if (n < 1024L * 1024 * 1024) return (d / (1024 * 1024)).ToString("F2", ci) + "M";
        if (n < 1024L * 1024 * 1024 * 1024) return (d / (1024L * 1024 * 1024)).ToString("F2", ci) + "G";
        if (n < 1024L * 1024 * 1024 * 1024 * 1024) return (d / (1024L * 1024 * 1024 * 1024)).ToString("F2", ci) + "T";
        if (n < 1024L * 1024 * 1024 * 1024 * 1024 * 1024) return (d / (1024L * 1024 * 1024 * 1024 * 1024)).ToString("F2", ci) + "P";
        return n.ToString(ci) + "B";
    }

    public static string GcMode => GCSettings.IsServerGC ? "server" : "workstation";
}
