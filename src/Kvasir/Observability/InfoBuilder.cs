using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;
using Kvasir.Clients;
using Kvasir.Commands;

namespace Kvasir.Observability;

/// <summary>
/// The text of INFO: Valkey's sections, in Valkey's order, with Valkey's field names, so that
/// clients, exporters and the test suite that parse it find what they expect. Kvasir adds a few
/// fields of its own (kvasir_version, the gc_* memory figures) that parsers ignore.
/// Runs under the data lock.
/// </summary>
public static class InfoBuilder
{
    private static readonly string[] DefaultSections =
        { "server", "clients", "memory", "persistence", "stats", "replication", "cpu", "module_list", "errorstats", "cluster", "keyspace" };

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Which sections a list of INFO arguments asks for (Valkey's genInfoSectionDict).</summary>
    public sealed class Selection
    {
        public readonly HashSet<string> Sections = new(StringComparer.OrdinalIgnoreCase);
        public bool All;
        public bool Everything;

        public bool Wants(string section) => All || Sections.Contains(section);

        public static Selection Parse(IReadOnlyList<string> args)
        {
            var s = new Selection();
            if (args.Count == 0)
            {
                foreach (var d in DefaultSections) s.Sections.Add(d);
                return s;
            }
            foreach (var a in args)
            {
                if (a.Equals("default", StringComparison.OrdinalIgnoreCase))
                    foreach (var d in DefaultSections) s.Sections.Add(d);
                else if (a.Equals("all", StringComparison.OrdinalIgnoreCase)) s.All = true;
                else if (a.Equals("everything", StringComparison.OrdinalIgnoreCase)) s.All = s.Everything = true;
                else s.Sections.Add(a);
            }
            return s;
        }
    }

    public static string Build(KvasirServer server, IReadOnlyList<string> args) => Build(server, Selection.Parse(args));

    public static string Build(KvasirServer server, Selection sel)
    {
        var sb = new StringBuilder(4096);
        int sections = 0;

        void Begin(string title)
        {
            if (sections++ > 0) sb.Append("\r\n");
            sb.Append("# ").Append(title).Append("\r\n");
        }

        if (sel.Wants("server")) { Begin("Server"); AppendServer(sb, server); }
        if (sel.Wants("clients")) { Begin("Clients"); AppendClients(sb, server); }
        if (sel.Wants("memory")) { Begin("Memory"); AppendMemory(sb, server); }
        if (sel.Wants("persistence")) { Begin("Persistence"); AppendPersistence(sb, server); }
        if (sel.Wants("stats")) { Begin("Stats"); AppendStats(sb, server); }
        if (sel.Wants("replication")) { Begin("Replication"); AppendReplication(sb, server); }
        if (sel.Wants("cpu")) { Begin("CPU"); AppendCpu(sb); }
        if (sel.All || sel.Sections.Contains("module_list") || sel.Sections.Contains("modules")) Begin("Modules");
        if (sel.Wants("commandstats")) { Begin("Commandstats"); AppendCommandStats(sb, server); }
        if (sel.Wants("errorstats")) { Begin("Errorstats"); AppendErrorStats(sb, server); }
        if (sel.Wants("latencystats"))
        {
            Begin("Latencystats");
            if (server.Config.LatencyTracking) AppendLatencyStats(sb, server);
        }
        if (sel.Wants("cluster")) { Begin("Cluster"); Field(sb, "cluster_enabled", server.Config.ClusterEnabled ? 1 : 0); }
        if (sel.Wants("keyspace")) { Begin("Keyspace"); AppendKeyspace(sb, server); }
        // Kvasir's own figures (the garbage collector's pauses): with "all", "everything" or by name,
        // so the default INFO stays Valkey's.
        if (sel.Wants("kvasir")) { Begin("Kvasir"); AppendKvasir(sb); }
        // The debug section is only shown when asked for by name, never by "all"/"everything".
        if (sel.Sections.Contains("debug")) { Begin("Debug"); AppendDebug(sb, server); }
        return sb.ToString();
    }

    // ----- helpers -----

    private static void Field(StringBuilder sb, string name, string value) => sb.Append(name).Append(':').Append(value).Append("\r\n");
    private static void Field(StringBuilder sb, string name, long value) => sb.Append(name).Append(':').Append(value.ToString(Inv)).Append("\r\n");
    private static void Field2(StringBuilder sb, string name, double value) => sb.Append(name).Append(':').Append(value.ToString("F2", Inv)).Append("\r\n");

    /// <summary>Valkey replaces the characters that would break the INFO format in names it prints.</summary>
    private static string Safe(string s)
    {
        if (s.AsSpan().IndexOfAny("#:\r\n") < 0) return s;
        var chars = s.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
            if (chars[i] is '#' or ':' or '\r' or '\n') chars[i] = '_';
        return new string(chars);
    }

    private static string? _osName;

    private static string OsName()
    {
        if (_osName is not null) return _osName;
        string name = RuntimeInformation.OSDescription;
        try
        {
            if (OperatingSystem.IsLinux())
            {
                string release = File.ReadAllText("/proc/sys/kernel/osrelease").Trim();
                name = "Linux " + release + " " + Machine();
            }
        }
        catch (IOException) { }
        return _osName = name;
    }

    private static string Machine() => RuntimeInformation.OSArchitecture switch
    {
        Architecture.X64 => "x86_64",
        Architecture.Arm64 => "aarch64",
        Architecture.X86 => "i686",
        Architecture.Arm => "armv7l",
        var a => a.ToString().ToLowerInvariant(),
    };

    private static string? _buildId;

    private static string BuildId() =>
        _buildId ??= typeof(InfoBuilder).Assembly.ManifestModule.ModuleVersionId.ToString("N")[..16];

    // ----- sections -----

    private static void AppendServer(StringBuilder sb, KvasirServer server)
    {
        var cfg = server.Config;
        long nowUs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        long uptime = (long)server.Uptime.Elapsed.TotalSeconds;
        Field(sb, "redis_version", KvasirServer.RedisVersion);
        Field(sb, "server_name", "valkey");
        Field(sb, "valkey_version", KvasirServer.ValkeyVersion);
        Field(sb, "kvasir_version", KvasirServer.KvasirVersion);
        Field(sb, "redis_git_sha1", "00000000");
        Field(sb, "redis_git_dirty", 0);
        Field(sb, "redis_build_id", BuildId());
        // extended-redis-compatibility renames the field back to what Redis printed.
        Field(sb, cfg.ExtendedRedisCompatibility ? "redis_mode" : "server_mode", cfg.SentinelMode ? "sentinel" : cfg.ClusterEnabled ? "cluster" : "standalone");
        Field(sb, "os", OsName());
        Field(sb, "arch_bits", IntPtr.Size * 8);
        Field(sb, "monotonic_clock", "POSIX clock_gettime");
        Field(sb, "multiplexing_api", OperatingSystem.IsLinux() ? "epoll" : OperatingSystem.IsMacOS() ? "kqueue" : "iocp");
        Field(sb, "gcc_version", "0.0.0");
        Field(sb, "dotnet_version", Environment.Version.ToString());
        Field(sb, "process_id", Environment.ProcessId);
        Field(sb, "process_supervised", server.SupervisedBy);
        Field(sb, "run_id", server.RunId);
        Field(sb, "tcp_port", server.BoundPort != 0 ? server.BoundPort : cfg.Port);
        Field(sb, "server_time_usec", nowUs);
        Field(sb, "uptime_in_seconds", uptime);
        Field(sb, "uptime_in_days", uptime / (3600 * 24));
        Field(sb, "hz", cfg.Hz);
        Field(sb, "configured_hz", cfg.Hz);
        Field(sb, "lru_clock", server.Keyspace.LruClock);
        Field(sb, "executable", Environment.ProcessPath ?? "");
        Field(sb, "config_file", cfg.ConfigFile.Length == 0 ? "" : Path.GetFullPath(cfg.ConfigFile));
        Field(sb, "io_threads_active", 0);
        Field(sb, "availability_zone", server.Config.AvailabilityZone);
        if (server.Shutdown.Initiated) Field(sb, "shutdown_in_milliseconds", server.Shutdown.RemainingMs);
        if (server.BoundPort != 0)
        {
            sb.Append("listener0:name=tcp");
            foreach (var b in cfg.Bind) sb.Append(",bind=").Append(b);
            sb.Append(",port=").Append(server.BoundPort.ToString(Inv)).Append("\r\n");
        }
        if (cfg.UnixSocket.Length > 0)
            sb.Append("listener1:name=unix,bind=").Append(cfg.UnixSocket).Append("\r\n");
    }

    private static void AppendClients(StringBuilder sb, KvasirServer server)
    {
        server.Blocking.DropClosedPeers();
        int connected = 0, blocked = 0, tracking = 0, pubsub = 0;
        long maxIn = 0, maxOut = 0;
        foreach (var c in server.Clients.All)
        {
            if (!(c.Has(ClientFlags.Replica) && !c.Has(ClientFlags.Monitor))) connected++;
            if (c.Has(ClientFlags.Blocked)) blocked++;
            if (c.Has(ClientFlags.Tracking)) tracking++;
            if (c.Has(ClientFlags.PubSub)) pubsub++;
            maxIn = Math.Max(maxIn, c.QueryBufferCapacity);
            maxOut = Math.Max(maxOut, c.Reply.Length);
        }
        var st = server.Stats;
        Field(sb, "connected_clients", connected);
        Field(sb, "cluster_connections", st.Gauge("cluster_connections"));
        Field(sb, "maxclients", server.Config.MaxClients);
        Field(sb, "client_recent_max_input_buffer", maxIn);
        Field(sb, "client_recent_max_output_buffer", maxOut);
        Field(sb, "blocked_clients", blocked);
        Field(sb, "tracking_clients", tracking);
        Field(sb, "pubsub_clients", pubsub);
        Field(sb, "watching_clients", st.Gauge("watching_clients"));
        Field(sb, "clients_in_timeout_table", st.Gauge("clients_in_timeout_table"));
        Field(sb, "total_watched_keys", st.Gauge("total_watched_keys"));
        Field(sb, "total_blocking_keys", st.Gauge("total_blocking_keys"));
        Field(sb, "total_blocking_keys_on_nokey", st.Gauge("total_blocking_keys_on_nokey"));
    }

    private static void AppendMemory(StringBuilder sb, KvasirServer server)
    {
        var st = server.Stats;
        var m = MemoryAccounting.Report(server);
        long used = m.Used, peak = m.Peak, startup = m.Startup, overhead = m.Overhead, dataset = m.Dataset;
        long clientsNormal = m.ClientsNormal, clientsReplicas = m.ClientsReplicas;
        long rss = MemoryAccounting.ProcessRss();
        long system = MemoryAccounting.TotalSystemMemory();
        double datasetPerc = m.DatasetPercent;
        var gc = GC.GetGCMemoryInfo();
        long heap = GC.GetTotalMemory(false);
        long committed = gc.TotalCommittedBytes;
        long scripts = m.ScriptCaches;
        long vmEval = st.Gauge("used_memory_vm_eval");
        long vmFunctions = st.Gauge("used_memory_vm_functions");
        long functionsCaches = m.FunctionCaches;
        long maxmemory = server.Config.MaxMemory;

        Field(sb, "used_memory", used);
        Field(sb, "used_memory_human", MemoryAccounting.ToHuman(used));
        Field(sb, "used_memory_rss", rss);
        Field(sb, "used_memory_rss_human", MemoryAccounting.ToHuman(rss));
        Field(sb, "used_memory_peak", peak);
        Field(sb, "used_memory_peak_human", MemoryAccounting.ToHuman(peak));
        sb.Append("used_memory_peak_perc:").Append((peak > 0 ? used * 100.0 / peak : 0).ToString("F2", Inv)).Append("%\r\n");
        Field(sb, "used_memory_overhead", overhead);
        Field(sb, "used_memory_startup", startup);
        Field(sb, "used_memory_dataset", dataset);
        sb.Append("used_memory_dataset_perc:").Append(datasetPerc.ToString("F2", Inv)).Append("%\r\n");
        // The managed heap plays the role of the allocator: what it holds, what it committed, what is resident.
        Field(sb, "allocator_allocated", heap);
        Field(sb, "allocator_active", committed);
        Field(sb, "allocator_resident", rss);
        Field(sb, "allocator_muzzy", 0);
        Field(sb, "total_system_memory", system);
        Field(sb, "total_system_memory_human", MemoryAccounting.ToHuman(system));
        Field(sb, "used_memory_lua", vmEval);
        Field(sb, "used_memory_vm_eval", vmEval);
        Field(sb, "used_memory_lua_human", MemoryAccounting.ToHuman(vmEval));
        Field(sb, "used_memory_scripts_eval", scripts);
        Field(sb, "number_of_cached_scripts", st.Gauge("number_of_cached_scripts"));
        Field(sb, "number_of_functions", st.Gauge("number_of_functions"));
        Field(sb, "number_of_libraries", st.Gauge("number_of_libraries"));
        Field(sb, "used_memory_vm_functions", vmFunctions);
        Field(sb, "used_memory_vm_total", vmEval + vmFunctions);
        Field(sb, "used_memory_vm_total_human", MemoryAccounting.ToHuman(vmEval + vmFunctions));
        Field(sb, "used_memory_functions", functionsCaches);
        Field(sb, "used_memory_scripts", scripts + functionsCaches);
        Field(sb, "used_memory_scripts_human", MemoryAccounting.ToHuman(scripts + functionsCaches));
        Field(sb, "maxmemory", maxmemory);
        Field(sb, "maxmemory_human", MemoryAccounting.ToHuman(maxmemory));
        Field(sb, "maxmemory_policy", server.Config.MaxMemoryPolicy);
        Field2(sb, "allocator_frag_ratio", heap > 0 ? (double)committed / heap : 0);
        Field(sb, "allocator_frag_bytes", Math.Max(0, committed - heap));
        Field2(sb, "allocator_rss_ratio", committed > 0 ? (double)rss / committed : 0);
        Field(sb, "allocator_rss_bytes", rss - committed);
        Field2(sb, "rss_overhead_ratio", 1.0);
        Field(sb, "rss_overhead_bytes", 0);
        Field2(sb, "mem_fragmentation_ratio", used > 0 ? (double)rss / used : 0);
        Field(sb, "mem_fragmentation_bytes", rss - used);
        Field(sb, "mem_not_counted_for_evict", st.Gauge("mem_not_counted_for_evict"));
        Field(sb, "mem_replication_backlog", m.ReplicationBacklog);
        Field(sb, "mem_total_replication_buffers", st.Gauge("mem_total_replication_buffers"));
        Field(sb, "mem_clients_slaves", clientsReplicas);
        Field(sb, "mem_clients_normal", clientsNormal);
        Field(sb, "mem_cluster_links", st.Gauge("mem_cluster_links"));
        Field(sb, "mem_aof_buffer", m.AofBuffer);
        Field(sb, "mem_allocator", "dotnet-gc-" + MemoryAccounting.GcMode);
        Field(sb, "mem_overhead_db_hashtable_rehashing", 0);
        Field(sb, "active_defrag_running", 0);
        Field(sb, "lazyfree_pending_objects", st.Gauge("lazyfree_pending_objects"));
        Field(sb, "lazyfreed_objects", st.Gauge("lazyfreed_objects"));
        // The runtime's own view, for operators comparing used_memory with what the process holds.
        Field(sb, "gc_heap_size", heap);
        Field(sb, "gc_committed", committed);
        Field(sb, "gc_total_allocated", GC.GetTotalAllocatedBytes(false));
        Field(sb, "gc_gen0_collections", GC.CollectionCount(0));
        Field(sb, "gc_gen1_collections", GC.CollectionCount(1));
        Field(sb, "gc_gen2_collections", GC.CollectionCount(2));
        Field(sb, "gc_pause_total_ms", (long)GC.GetTotalPauseDuration().TotalMilliseconds);
        Field2(sb, "gc_pause_time_perc", gc.PauseTimePercentage);
        Field(sb, "gc_mode", MemoryAccounting.GcMode + (GCSettings.LatencyMode == GCLatencyMode.Batch ? "" : "-concurrent"));
    }

    private static void AppendPersistence(StringBuilder sb, KvasirServer server)
    {
        var st = server.Stats;
        bool aof = server.Config.AppendOnly;
        var loading = server.Loading;
        Field(sb, "loading", loading.Active && !loading.Async ? 1 : 0);
        Field(sb, "async_loading", loading.Active && loading.Async ? 1 : 0);
        Field(sb, "current_cow_peak", 0);
        Field(sb, "current_cow_size", 0);
        Field(sb, "current_cow_size_age", 0);
        Field2(sb, "current_fork_perc", 0);
        Field(sb, "current_save_keys_processed", st.Gauge("current_save_keys_processed"));
        Field(sb, "current_save_keys_total", st.Gauge("current_save_keys_total"));
        Field(sb, "rdb_changes_since_last_save", server.Keyspace.Dirty);
        Field(sb, "rdb_bgsave_in_progress", st.Gauge("rdb_bgsave_in_progress"));
        Field(sb, "rdb_last_save_time", server.LastSaveUnix);
        Field(sb, "rdb_last_bgsave_status", st.Gauge("rdb_last_bgsave_failed") != 0 ? "err" : "ok");
        Field(sb, "rdb_last_bgsave_time_sec", st.Gauges.ContainsKey("rdb_last_bgsave_time_sec") ? st.Gauge("rdb_last_bgsave_time_sec") : -1);
        Field(sb, "rdb_current_bgsave_time_sec", st.Gauges.ContainsKey("rdb_current_bgsave_time_sec") ? st.Gauge("rdb_current_bgsave_time_sec") : -1);
        Field(sb, "rdb_saves", st.Gauge("rdb_saves"));
        Field(sb, "rdb_last_cow_size", st.Gauge("rdb_last_cow_size"));
        Field(sb, "rdb_last_load_keys_expired", st.Gauge("rdb_last_load_keys_expired"));
        Field(sb, "rdb_last_load_keys_loaded", st.Gauge("rdb_last_load_keys_loaded"));
        Field(sb, "aof_enabled", aof ? 1 : 0);
        Field(sb, "aof_rewrite_in_progress", st.Gauge("aof_rewrite_in_progress"));
        Field(sb, "aof_rewrite_scheduled", st.Gauge("aof_rewrite_scheduled"));
        Field(sb, "aof_last_rewrite_time_sec", st.Gauges.ContainsKey("aof_last_rewrite_time_sec") ? st.Gauge("aof_last_rewrite_time_sec") : -1);
        Field(sb, "aof_current_rewrite_time_sec", st.Gauges.ContainsKey("aof_current_rewrite_time_sec") ? st.Gauge("aof_current_rewrite_time_sec") : -1);
        Field(sb, "aof_last_bgrewrite_status", st.Gauge("aof_last_bgrewrite_failed") != 0 ? "err" : "ok");
        Field(sb, "aof_rewrites", st.Gauge("aof_rewrites"));
        Field(sb, "aof_rewrites_consecutive_failures", st.Gauge("aof_rewrites_consecutive_failures"));
        Field(sb, "aof_last_write_status", st.Gauge("aof_last_write_failed") != 0 ? "err" : "ok");
        Field(sb, "aof_last_cow_size", st.Gauge("aof_last_cow_size"));
        Field(sb, "module_fork_in_progress", 0);
        Field(sb, "module_fork_last_cow_size", 0);
        if (aof)
        {
            Field(sb, "aof_current_size", st.Gauge("aof_current_size"));
            Field(sb, "aof_base_size", st.Gauge("aof_base_size"));
            Field(sb, "aof_pending_rewrite", st.Gauge("aof_rewrite_scheduled"));
            Field(sb, "aof_buffer_length", st.Gauge("aof_buffer_length"));
            Field(sb, "aof_pending_bio_fsync", st.Gauge("aof_pending_bio_fsync"));
            Field(sb, "aof_delayed_fsync", st.Gauge("aof_delayed_fsync"));
        }
        server.Loading.AppendInfo(sb);
    }

    private static void AppendStats(StringBuilder sb, KvasirServer server)
    {
        var st = server.Stats;
        var ks = server.Keyspace;
        var m = server.Metrics;
        long netIn = Interlocked.Read(ref st.NetInputBytes);
        long netOut = Interlocked.Read(ref st.NetOutputBytes);
        Field(sb, "total_connections_received", st.TotalConnectionsReceived);
        Field(sb, "total_commands_processed", st.TotalCommandsProcessed);
        Field(sb, "instantaneous_ops_per_sec", m.Instantaneous(ServerMetrics.Metric.Commands));
        Field(sb, "total_net_input_bytes", netIn + st.NetReplInputBytes);
        Field(sb, "total_net_output_bytes", netOut + st.NetReplOutputBytes);
        Field(sb, "total_net_repl_input_bytes", st.NetReplInputBytes);
        Field(sb, "total_net_repl_output_bytes", st.NetReplOutputBytes);
        Field2(sb, "instantaneous_input_kbps", (float)m.Instantaneous(ServerMetrics.Metric.NetInput) / 1024);
        Field2(sb, "instantaneous_output_kbps", (float)m.Instantaneous(ServerMetrics.Metric.NetOutput) / 1024);
        Field2(sb, "instantaneous_input_repl_kbps", (float)m.Instantaneous(ServerMetrics.Metric.NetReplInput) / 1024);
        Field2(sb, "instantaneous_output_repl_kbps", (float)m.Instantaneous(ServerMetrics.Metric.NetReplOutput) / 1024);
        Field(sb, "rejected_connections", st.RejectedConnections);
        Field(sb, "sync_full", st.Gauge("sync_full"));
        Field(sb, "sync_partial_ok", st.Gauge("sync_partial_ok"));
        Field(sb, "sync_partial_err", st.Gauge("sync_partial_err"));
        Field(sb, "expired_keys", ks.ExpiredKeys);
        Field(sb, "expired_fields", ks.ExpiredFields);
        Field2(sb, "expired_stale_perc", 0);
        Field(sb, "expired_time_cap_reached_count", ks.ExpiredTimeCapReached);
        Field(sb, "expire_cycle_cpu_milliseconds", m.ExpireCycleMicros / 1000);
        Field(sb, "evicted_keys", st.EvictedKeys);
        Field(sb, "evicted_clients", st.EvictedClients);
        Field(sb, "evicted_scripts", st.Gauge("evicted_scripts"));
        Field(sb, "total_eviction_exceeded_time", st.Gauge("total_eviction_exceeded_time"));
        Field(sb, "current_eviction_exceeded_time", st.Gauge("current_eviction_exceeded_time"));
        Field(sb, "keyspace_hits", ks.KeyspaceHits);
        Field(sb, "keyspace_misses", ks.KeyspaceMisses);
        Field(sb, "pubsub_channels", st.Gauge("pubsub_channels"));
        Field(sb, "pubsub_patterns", st.Gauge("pubsub_patterns"));
        Field(sb, "pubsubshard_channels", st.Gauge("pubsubshard_channels"));
        Field(sb, "latest_fork_usec", 0);
        Field(sb, "total_forks", st.Gauge("total_forks"));
        Field(sb, "migrate_cached_sockets", st.Gauge("migrate_cached_sockets"));
        Field(sb, "slave_expires_tracked_keys", st.Gauge("slave_expires_tracked_keys"));
        Field(sb, "active_defrag_hits", 0);
        Field(sb, "active_defrag_misses", 0);
        Field(sb, "active_defrag_key_hits", 0);
        Field(sb, "active_defrag_key_misses", 0);
        Field(sb, "total_active_defrag_time", 0);
        Field(sb, "current_active_defrag_time", 0);
        Field(sb, "tracking_total_keys", st.Gauge("tracking_total_keys"));
        Field(sb, "tracking_total_items", st.Gauge("tracking_total_items"));
        Field(sb, "tracking_total_prefixes", st.Gauge("tracking_total_prefixes"));
        Field(sb, "unexpected_error_replies", st.UnexpectedErrorReplies);
        Field(sb, "total_error_replies", st.TotalErrorReplies);
        Field(sb, "dump_payload_sanitizations", st.Gauge("dump_payload_sanitizations"));
        Field(sb, "total_reads_processed", Interlocked.Read(ref st.TotalReadsProcessed));
        Field(sb, "total_writes_processed", Interlocked.Read(ref st.TotalWritesProcessed));
        Field(sb, "io_threaded_reads_processed", st.IoReadsProcessed);
        Field(sb, "io_threaded_writes_processed", st.IoWritesProcessed);
        Field(sb, "io_threaded_freed_objects", 0);
        Field(sb, "io_threaded_poll_processed", 0);
        Field(sb, "io_threaded_total_prefetch_batches", 0);
        Field(sb, "io_threaded_total_prefetch_entries", 0);
        Field(sb, "client_query_buffer_limit_disconnections", st.ClientQueryBufferLimitDisconnections);
        Field(sb, "client_output_buffer_limit_disconnections", st.ClientOutputBufferLimitDisconnections);
        Field(sb, "reply_buffer_shrinks", st.ReplyBufferShrinks);
        Field(sb, "reply_buffer_expands", st.ReplyBufferExpands);
        Field(sb, "eventloop_cycles", m.EventLoopCycles);
        Field(sb, "eventloop_duration_sum", m.EventLoopDurationSum);
        Field(sb, "eventloop_duration_cmd_sum", m.EventLoopCommandDurationSum);
        Field(sb, "instantaneous_eventloop_cycles_per_sec", m.Instantaneous(ServerMetrics.Metric.EventLoopCycles));
        Field(sb, "instantaneous_eventloop_duration_usec", m.Instantaneous(ServerMetrics.Metric.EventLoopDuration));
        Field(sb, "acl_access_denied_auth", st.Gauge("acl_access_denied_auth"));
        Field(sb, "acl_access_denied_cmd", st.Gauge("acl_access_denied_cmd"));
        Field(sb, "acl_access_denied_key", st.Gauge("acl_access_denied_key"));
        Field(sb, "acl_access_denied_channel", st.Gauge("acl_access_denied_channel"));
    }

    /// <summary>Valkey's "# Replication" section, field for field.</summary>
    private static void AppendReplication(StringBuilder sb, KvasirServer server)
    {
        var repl = server.Replication;
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Field(sb, "role", repl.IsReplica ? "slave" : "master");
        if (repl.IsReplica)
        {
            var link = repl.Link;
            bool up = link is { Connected: true };
            Field(sb, "master_host", repl.PrimaryHost!);
            Field(sb, "master_port", repl.PrimaryPort);
            Field(sb, "master_link_status", up ? "up" : "down");
            Field(sb, "master_last_io_seconds_ago", up ? now - link!.LastInteractionUnix : -1);
            bool transfer = link is { State: Replication.PrimaryLink.LinkState.Transfer };
            Field(sb, "master_sync_in_progress", transfer ? 1 : 0);
            Field(sb, "slave_read_repl_offset", up ? link!.ReadOffset : Math.Max(1, repl.ReplicaOffset));
            Field(sb, "slave_repl_offset", up ? repl.Offset : Math.Max(1, repl.ReplicaOffset));
            Field(sb, "replicas_repl_buffer_size", link?.PendingStreamBytes ?? 0);
            Field(sb, "replicas_repl_buffer_peak", link?.PendingStreamPeak ?? 0);
            if (transfer)
            {
                long total = link!.TransferSize, read = link.TransferRead;
                Field(sb, "master_sync_total_bytes", total);
                Field(sb, "master_sync_read_bytes", read);
                Field(sb, "master_sync_left_bytes", total - read);
                Field2(sb, "master_sync_perc", total > 0 ? (float)((double)read / total * 100) : 0f);
                Field(sb, "master_sync_last_io_seconds_ago", now - link.LastIoUnix);
            }
            if (!up) Field(sb, "master_link_down_since_seconds", repl.LinkDownSinceUnix != 0 ? now - repl.LinkDownSinceUnix : -1);
            Field(sb, "slave_priority", server.Config.ReplicaPriority);
            Field(sb, "slave_read_only", server.Config.ReplicaReadOnly ? 1 : 0);
            Field(sb, "replica_announced", server.Config.ReplicaAnnounced ? 1 : 0);
        }
        Field(sb, "connected_slaves", repl.Replicas.Count);
        if (server.Config.MinReplicasToWrite > 0 && server.Config.MinReplicasMaxLag > 0)
            Field(sb, "min_slaves_good_slaves", repl.GoodReplicas);
        int id = 0;
        foreach (var c in repl.Replicas)
        {
            var st = c.ReplicaInfo!;
            string state = st.StateName;
            if (state.Length == 0) continue;
            long lag = st.State == Replication.ReplicaSyncState.Online ? now - st.AckTimeUnix : 0;
            string ip = st.AnnouncedIp ?? Replication.ReplicationManager.HostOf(c.RemoteAddress);
            sb.Append("slave").Append(id.ToString(Inv)).Append(":ip=").Append(ip)
              .Append(",port=").Append(st.ListeningPort.ToString(Inv))
              .Append(",state=").Append(state)
              .Append(",offset=").Append(st.AckOffset.ToString(Inv))
              .Append(",lag=").Append(lag.ToString(Inv))
              .Append(",type=").Append(st.TypeName).Append("\r\n");
            id++;
        }
        Field(sb, "replicas_waiting_psync", repl.WaitingPsyncCount);
        Field(sb, "master_failover_state", repl.Failover.StateName);
        Field(sb, "master_replid", repl.ReplId);
        Field(sb, "master_replid2", repl.ReplId2);
        Field(sb, "master_repl_offset", repl.Offset);
        Field(sb, "second_repl_offset", repl.SecondOffset);
        Field(sb, "repl_backlog_active", repl.Backlog is null ? 0 : 1);
        Field(sb, "repl_backlog_size", server.Config.ReplBacklogSize);
        Field(sb, "repl_backlog_first_byte_offset", repl.Backlog?.FirstByteOffset ?? 0);
        Field(sb, "repl_backlog_histlen", repl.Backlog?.HistoryLength ?? 0);
    }

    private static void AppendCpu(StringBuilder sb)
    {
        var self = ProcessCpu.Self();
        var children = ProcessCpu.Children();
        Field(sb, "used_cpu_sys", ProcessCpu.Format(self.SystemMicros));
        Field(sb, "used_cpu_user", ProcessCpu.Format(self.UserMicros));
        Field(sb, "used_cpu_sys_children", ProcessCpu.Format(children.SystemMicros));
        Field(sb, "used_cpu_user_children", ProcessCpu.Format(children.UserMicros));
        if (ProcessCpu.CurrentThread() is { } thread)
        {
            Field(sb, "used_cpu_sys_main_thread", ProcessCpu.Format(thread.SystemMicros));
            Field(sb, "used_cpu_user_main_thread", ProcessCpu.Format(thread.UserMicros));
        }
    }

    private static IEnumerable<CommandDefinition> AllCommands(KvasirServer server)
    {
        foreach (var cmd in server.Commands.Implemented)
        {
            yield return cmd;
            foreach (var sub in CommandTable.ImplementedSubcommands(cmd)) yield return sub;
        }
    }

    private static void AppendCommandStats(StringBuilder sb, KvasirServer server)
    {
        foreach (var c in AllCommands(server))
        {
            if (c.Calls == 0 && c.FailedCalls == 0 && c.RejectedCalls == 0) continue;
            float perCall = c.Calls == 0 ? 0 : (float)c.Microseconds / c.Calls;
            sb.Append("cmdstat_").Append(Safe(c.Name))
              .Append(":calls=").Append(c.Calls.ToString(Inv))
              .Append(",usec=").Append(c.Microseconds.ToString(Inv))
              .Append(",usec_per_call=").Append(((double)perCall).ToString("F2", Inv))
              .Append(",rejected_calls=").Append(c.RejectedCalls.ToString(Inv))
              .Append(",failed_calls=").Append(c.FailedCalls.ToString(Inv)).Append("\r\n");
        }
    }

    private static void AppendErrorStats(StringBuilder sb, KvasirServer server)
    {
        var codes = server.Stats.ErrorCodes.Keys.ToList();
        codes.Sort(StringComparer.Ordinal);
        foreach (var code in codes)
            sb.Append("errorstat_").Append(Safe(code)).Append(":count=").Append(server.Stats.ErrorCodes[code].ToString(Inv)).Append("\r\n");
    }

    private static void AppendLatencyStats(StringBuilder sb, KvasirServer server)
    {
        var percentiles = server.Config.LatencyTrackingInfoPercentiles;
        foreach (var c in AllCommands(server))
        {
            var h = c.LatencyHistogram;
            if (h is null) continue;
            sb.Append("latency_percentiles_usec_").Append(Safe(c.Name)).Append(':');
            for (int i = 0; i < percentiles.Length; i++)
            {
                if (i > 0) sb.Append(',');
                sb.Append('p').Append(TrimDouble(percentiles[i])).Append('=')
                  .Append((h.ValueAtPercentile(percentiles[i]) / 1000.0).ToString("F3", Inv));
            }
            sb.Append("\r\n");
        }
    }

    /// <summary>A percentile as Valkey names it: "%f" with trailing zeros and dot removed (50, 99.9).</summary>
    private static string TrimDouble(double d)
    {
        string s = d.ToString("F6", Inv);
        if (s.Contains('.')) s = s.TrimEnd('0').TrimEnd('.');
        return s;
    }

    private static void AppendKeyspace(StringBuilder sb, KvasirServer server)
    {
        foreach (var db in server.Databases)
        {
            if (db.Count == 0 && db.ExpiresCount == 0) continue;
            sb.Append("db").Append(db.Index.ToString(Inv))
              .Append(":keys=").Append(db.Count.ToString(Inv))
              .Append(",expires=").Append(db.ExpiresCount.ToString(Inv))
              .Append(",avg_ttl=").Append(db.AvgTtl.ToString(Inv)).Append("\r\n");
        }
    }

    /// <summary>
    /// The .NET garbage collector's stop-the-world pauses (<see cref="GcPauseMonitor"/>): how many, their
    /// exact total, the longest ever and in the last minute, percentiles, and how many exceeded 10 ms.
    /// </summary>
    private static void AppendKvasir(StringBuilder sb)
    {
        var g = GcPauseMonitor.Shared.Read();
        Field(sb, "gc_collections", GC.CollectionCount(0));
        Field(sb, "gc_pauses", g.Pauses);
        Field(sb, "gc_pause_total_usec", (long)GC.GetTotalPauseDuration().TotalMicroseconds);
        Field(sb, "gc_pause_max_usec", g.MaxMicros);
        Field(sb, "gc_pause_recent_max_usec", g.RecentMaxMicros);
        Field(sb, "gc_pause_last_usec", g.LastMicros);
        sb.Append("gc_pause_percentiles_usec:p50=").Append(g.P50Micros.ToString(Inv))
          .Append(",p99=").Append(g.P99Micros.ToString(Inv)).Append(",p99.9=").Append(g.P999Micros.ToString(Inv)).Append("\r\n");
        Field(sb, "gc_pauses_over_10ms", g.LongPauses);
        Field(sb, "gc_collections_unobserved", g.Unobserved);
    }

    private static void AppendDebug(StringBuilder sb, KvasirServer server)
    {
        var m = server.Metrics;
        Field(sb, "eventloop_duration_aof_sum", server.Stats.Gauge("eventloop_duration_aof_sum"));
        Field(sb, "eventloop_duration_cron_sum", m.CronDurationSum);
        Field(sb, "eventloop_duration_max", m.EventLoopDurationMax);
        Field(sb, "eventloop_cmd_per_cycle_max", m.CommandsPerCycleMax);
    }
}
