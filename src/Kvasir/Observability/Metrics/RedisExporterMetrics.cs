namespace Kvasir.Observability.Metrics;

/// <summary>
/// The metrics redis_exporter derives from INFO, under its names and labels (namespace "redis"), so
/// Grafana dashboards and alerts built on redis_exporter work against Kvasir's own endpoint
/// unchanged. Like the exporter, INFO fields it does not know are not exported.
/// </summary>
public static class RedisExporterMetrics
{
    public const string Ns = "redis_";

    /// <summary>INFO field → gauge name (without the namespace).</summary>
    public static readonly IReadOnlyDictionary<string, string> Gauges = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // Server
        ["uptime_in_seconds"] = "uptime_in_seconds",
        ["process_id"] = "process_id",
        ["io_threads_active"] = "io_threads_active",
        // Clients
        ["connected_clients"] = "connected_clients",
        ["blocked_clients"] = "blocked_clients",
        ["tracking_clients"] = "tracking_clients",
        ["clients_in_timeout_table"] = "clients_in_timeout_table",
        ["pubsub_clients"] = "pubsub_clients",
        ["watching_clients"] = "watching_clients",
        ["total_watched_keys"] = "total_watched_keys",
        ["total_blocking_keys"] = "total_blocking_keys",
        ["total_blocking_keys_on_nokey"] = "total_blocking_keys_on_nokey",
        ["client_recent_max_output_buffer"] = "client_recent_max_output_buffer_bytes",
        ["client_recent_max_input_buffer"] = "client_recent_max_input_buffer_bytes",
        // Memory
        ["allocator_active"] = "allocator_active_bytes",
        ["allocator_allocated"] = "allocator_allocated_bytes",
        ["allocator_resident"] = "allocator_resident_bytes",
        ["allocator_frag_ratio"] = "allocator_frag_ratio",
        ["allocator_frag_bytes"] = "allocator_frag_bytes",
        ["allocator_rss_ratio"] = "allocator_rss_ratio",
        ["allocator_rss_bytes"] = "allocator_rss_bytes",
        ["used_memory"] = "memory_used_bytes",
        ["used_memory_rss"] = "memory_used_rss_bytes",
        ["used_memory_peak"] = "memory_used_peak_bytes",
        ["used_memory_lua"] = "memory_used_lua_bytes",
        ["used_memory_vm_eval"] = "memory_used_vm_eval_bytes",
        ["used_memory_scripts_eval"] = "memory_used_scripts_eval_bytes",
        ["used_memory_overhead"] = "memory_used_overhead_bytes",
        ["used_memory_startup"] = "memory_used_startup_bytes",
        ["used_memory_dataset"] = "memory_used_dataset_bytes",
        ["used_memory_scripts"] = "memory_used_scripts_bytes",
        ["used_memory_vm_functions"] = "memory_used_vm_functions_bytes",
        ["used_memory_functions"] = "memory_used_functions_bytes",
        ["number_of_cached_scripts"] = "number_of_cached_scripts",
        ["number_of_functions"] = "number_of_functions",
        ["number_of_libraries"] = "number_of_libraries",
        ["maxmemory"] = "memory_max_bytes",
        ["mem_fragmentation_ratio"] = "mem_fragmentation_ratio",
        ["mem_fragmentation_bytes"] = "mem_fragmentation_bytes",
        ["mem_clients_slaves"] = "mem_clients_slaves",
        ["mem_clients_normal"] = "mem_clients_normal",
        ["mem_cluster_links"] = "mem_cluster_links_bytes",
        ["mem_aof_buffer"] = "mem_aof_buffer_bytes",
        ["mem_replication_backlog"] = "mem_replication_backlog_bytes",
        ["expired_stale_perc"] = "expired_stale_percentage",
        ["mem_not_counted_for_evict"] = "mem_not_counted_for_eviction_bytes",
        ["mem_total_replication_buffers"] = "mem_total_replication_buffers_bytes",
        ["lazyfree_pending_objects"] = "lazyfree_pending_objects",
        ["active_defrag_running"] = "active_defrag_running",
        ["migrate_cached_sockets"] = "migrate_cached_sockets_total",
        ["active_defrag_hits"] = "defrag_hits",
        ["active_defrag_misses"] = "defrag_misses",
        ["active_defrag_key_hits"] = "defrag_key_hits",
        ["active_defrag_key_misses"] = "defrag_key_misses",
        // Persistence
        ["loading"] = "loading_dump_file",
        ["async_loading"] = "async_loading",
        ["rdb_changes_since_last_save"] = "rdb_changes_since_last_save",
        ["rdb_bgsave_in_progress"] = "rdb_bgsave_in_progress",
        ["rdb_last_save_time"] = "rdb_last_save_timestamp_seconds",
        ["rdb_last_bgsave_status"] = "rdb_last_bgsave_status",
        ["rdb_last_bgsave_time_sec"] = "rdb_last_bgsave_duration_sec",
        ["rdb_current_bgsave_time_sec"] = "rdb_current_bgsave_duration_sec",
        ["rdb_saves"] = "rdb_saves_total",
        ["rdb_last_cow_size"] = "rdb_last_cow_size_bytes",
        ["rdb_last_load_keys_expired"] = "rdb_last_load_expired_keys",
        ["rdb_last_load_keys_loaded"] = "rdb_last_load_loaded_keys",
        ["aof_enabled"] = "aof_enabled",
        ["aof_rewrite_in_progress"] = "aof_rewrite_in_progress",
        ["aof_rewrite_scheduled"] = "aof_rewrite_scheduled",
        ["aof_last_rewrite_time_sec"] = "aof_last_rewrite_duration_sec",
        ["aof_current_rewrite_time_sec"] = "aof_current_rewrite_duration_sec",
        ["aof_last_cow_size"] = "aof_last_cow_size_bytes",
        ["aof_current_size"] = "aof_current_size_bytes",
        ["aof_base_size"] = "aof_base_size_bytes",
        ["aof_pending_rewrite"] = "aof_pending_rewrite",
        ["aof_buffer_length"] = "aof_buffer_length",
        ["aof_rewrite_buffer_length"] = "aof_rewrite_buffer_length",
        ["aof_pending_bio_fsync"] = "aof_pending_bio_fsync",
        ["aof_delayed_fsync"] = "aof_delayed_fsync",
        ["aof_last_bgrewrite_status"] = "aof_last_bgrewrite_status",
        ["aof_last_write_status"] = "aof_last_write_status",
        ["module_fork_in_progress"] = "module_fork_in_progress",
        ["module_fork_last_cow_size"] = "module_fork_last_cow_size",
        // Stats
        ["current_eviction_exceeded_time"] = "current_eviction_exceeded_time_ms",
        ["pubsub_channels"] = "pubsub_channels",
        ["pubsub_patterns"] = "pubsub_patterns",
        ["pubsub_shardchannels"] = "pubsub_shardchannels",
        ["latest_fork_usec"] = "latest_fork_usec",
        ["tracking_total_keys"] = "tracking_total_keys",
        ["tracking_total_items"] = "tracking_total_items",
        ["tracking_total_prefixes"] = "tracking_total_prefixes",
        // Replication
        ["connected_slaves"] = "connected_slaves",
        ["repl_backlog_size"] = "replication_backlog_bytes",
        ["repl_backlog_active"] = "repl_backlog_is_active",
        ["repl_backlog_first_byte_offset"] = "repl_backlog_first_byte_offset",
        ["repl_backlog_histlen"] = "repl_backlog_history_bytes",
        ["master_repl_offset"] = "master_repl_offset",
        ["second_repl_offset"] = "second_repl_offset",
        ["slave_expires_tracked_keys"] = "slave_expires_tracked_keys",
        ["slave_priority"] = "slave_priority",
        ["sync_full"] = "replica_resyncs_full",
        ["sync_partial_ok"] = "replica_partial_resync_accepted",
        ["sync_partial_err"] = "replica_partial_resync_denied",
        // Cluster
        ["cluster_enabled"] = "cluster_enabled",
    };

    /// <summary>INFO field → counter name (without the namespace).</summary>
    public static readonly IReadOnlyDictionary<string, string> Counters = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["total_connections_received"] = "connections_received_total",
        ["total_commands_processed"] = "commands_processed_total",
        ["rejected_connections"] = "rejected_connections_total",
        ["total_net_input_bytes"] = "net_input_bytes_total",
        ["total_net_output_bytes"] = "net_output_bytes_total",
        ["total_net_repl_input_bytes"] = "net_repl_input_bytes_total",
        ["total_net_repl_output_bytes"] = "net_repl_output_bytes_total",
        ["expired_subkeys"] = "expired_subkeys_total",
        ["expired_keys"] = "expired_keys_total",
        ["expired_time_cap_reached_count"] = "expired_time_cap_reached_total",
        ["expire_cycle_cpu_milliseconds"] = "expire_cycle_cpu_time_ms_total",
        ["evicted_keys"] = "evicted_keys_total",
        ["evicted_clients"] = "evicted_clients_total",
        ["evicted_scripts"] = "evicted_scripts_total",
        ["total_eviction_exceeded_time"] = "eviction_exceeded_time_ms_total",
        ["keyspace_hits"] = "keyspace_hits_total",
        ["keyspace_misses"] = "keyspace_misses_total",
        ["used_cpu_sys"] = "cpu_sys_seconds_total",
        ["used_cpu_user"] = "cpu_user_seconds_total",
        ["used_cpu_sys_children"] = "cpu_sys_children_seconds_total",
        ["used_cpu_user_children"] = "cpu_user_children_seconds_total",
        ["used_cpu_sys_main_thread"] = "cpu_sys_main_thread_seconds_total",
        ["used_cpu_user_main_thread"] = "cpu_user_main_thread_seconds_total",
        ["unexpected_error_replies"] = "unexpected_error_replies",
        ["total_error_replies"] = "total_error_replies",
        ["dump_payload_sanitizations"] = "dump_payload_sanitizations",
        ["total_reads_processed"] = "total_reads_processed",
        ["total_writes_processed"] = "total_writes_processed",
        ["io_threaded_reads_processed"] = "io_threaded_reads_processed",
        ["io_threaded_writes_processed"] = "io_threaded_writes_processed",
        ["client_query_buffer_limit_disconnections"] = "client_query_buffer_limit_disconnections_total",
        ["client_output_buffer_limit_disconnections"] = "client_output_buffer_limit_disconnections_total",
        ["reply_buffer_shrinks"] = "reply_buffer_shrinks_total",
        ["reply_buffer_expands"] = "reply_buffer_expands_total",
        ["acl_access_denied_auth"] = "acl_access_denied_auth_total",
        ["acl_access_denied_cmd"] = "acl_access_denied_cmd_total",
        ["acl_access_denied_key"] = "acl_access_denied_key_total",
        ["acl_access_denied_channel"] = "acl_access_denied_channel_total",
    };

    /// <summary>Writes redis_exporter's metrics for one snapshot.</summary>
    public static void Write(PrometheusText p, ServerSnapshot s)
    {
        p.Single(Ns + "up", "gauge", "Information about the Redis instance", 1);

        p.Family(Ns + "instance_info", "gauge", "Information about the Redis instance");
        p.Sample(Ns + "instance_info", 1,
            ("role", s.Text("role")), ("redis_version", s.Text("redis_version")), ("redis_build_id", s.Text("redis_build_id")),
            ("redis_mode", s.Fields.GetValueOrDefault("redis_mode") ?? s.Text("server_mode")), ("os", s.Text("os")), ("maxmemory_policy", s.Text("maxmemory_policy")),
            ("tcp_port", s.Text("tcp_port")), ("run_id", s.Text("run_id")), ("process_id", s.Text("process_id")));
        if (s.Number("uptime_in_seconds", out double uptime))
            p.Single(Ns + "start_time_seconds", "gauge", "Start time of the Redis instance since unix epoch in seconds.",
                Math.Floor(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 - uptime));

        // Plain fields, in INFO's order.
        foreach (var (_, fields) in s.Sections)
        {
            foreach (var (field, value) in fields)
            {
                bool counter = Counters.TryGetValue(field, out var name);
                if (!counter && !Gauges.TryGetValue(field, out name)) continue;
                if (!ServerSnapshot.TryNumber(value, out double v)) continue;
                p.Single(Ns + name!, counter ? "counter" : "gauge", $"{name} metric", v);
            }
        }

        p.Single(Ns + "config_maxclients", "gauge", "config_maxclients", s.MaxClients);
        p.Single(Ns + "config_maxmemory", "gauge", "config_maxmemory", s.Number("maxmemory"));

        WriteCommandStats(p, s);
        WriteErrorStats(p, s);
        WriteLatencyPercentiles(p, s);
        WriteKeyspace(p, s);
        WriteReplication(p, s);
        WriteSlowLogAndLatency(p, s);
    }

    private static void WriteCommandStats(PrometheusText p, ServerSnapshot s)
    {
        var stats = s.Section("Commandstats");
        p.Family(Ns + "commands_total", "counter", "Total number of calls per command");
        foreach (var (cmd, c) in CommandStats(stats)) p.Sample(Ns + "commands_total", c.Calls, ("cmd", cmd));
        p.Family(Ns + "commands_duration_seconds_total", "counter", "Total amount of time in seconds spent per command");
        foreach (var (cmd, c) in CommandStats(stats)) p.Sample(Ns + "commands_duration_seconds_total", c.Usec / 1e6, ("cmd", cmd));
        p.Family(Ns + "commands_rejected_calls_total", "counter", "Total number of errors prior command execution per command");
        foreach (var (cmd, c) in CommandStats(stats)) p.Sample(Ns + "commands_rejected_calls_total", c.Rejected, ("cmd", cmd));
        p.Family(Ns + "commands_failed_calls_total", "counter", "Total number of errors within command execution per command");
        foreach (var (cmd, c) in CommandStats(stats)) p.Sample(Ns + "commands_failed_calls_total", c.Failed, ("cmd", cmd));
    }

    public readonly record struct CommandStat(double Calls, double Usec, double Rejected, double Failed);

    /// <summary>cmdstat_NAME:calls=..,usec=..,usec_per_call=..,rejected_calls=..,failed_calls=..</summary>
    public static IEnumerable<(string Cmd, CommandStat Stat)> CommandStats(IReadOnlyList<KeyValuePair<string, string>> section)
    {
        foreach (var (field, value) in section)
        {
            if (!field.StartsWith("cmdstat_", StringComparison.Ordinal)) continue;
            var kv = ServerSnapshot.Pairs(value);
            yield return (field["cmdstat_".Length..], new CommandStat(Num(kv, "calls"), Num(kv, "usec"), Num(kv, "rejected_calls"), Num(kv, "failed_calls")));
        }
    }

    private static double Num(Dictionary<string, string> kv, string name) =>
        kv.TryGetValue(name, out var v) && ServerSnapshot.TryNumber(v, out double d) ? d : 0;

    private static void WriteErrorStats(PrometheusText p, ServerSnapshot s)
    {
        p.Family(Ns + "errors_total", "counter", "Total number of errors per error type");
        foreach (var (field, value) in s.Section("Errorstats"))
        {
            if (!field.StartsWith("errorstat_", StringComparison.Ordinal)) continue;
            p.Sample(Ns + "errors_total", Num(ServerSnapshot.Pairs(value), "count"), ("err", field["errorstat_".Length..]));
        }
    }

    /// <summary>
    /// latency_percentiles_usec_NAME:p50=..,p99=..,p99.9=.. as redis_exporter's summary: one sample per
    /// quantile, with the command's total time (µs) and calls from commandstats as _sum and _count.
    /// </summary>
    private static void WriteLatencyPercentiles(PrometheusText p, ServerSnapshot s)
    {
        const string name = Ns + "latency_percentiles_usec";
        var calls = CommandStats(s.Section("Commandstats")).ToDictionary(c => c.Cmd, c => c.Stat, StringComparer.Ordinal);
        p.Family(name, "summary", "A summary of latency percentile distribution per command");
        foreach (var (field, value) in s.Section("Latencystats"))
        {
            const string prefix = "latency_percentiles_usec_";
            if (!field.StartsWith(prefix, StringComparison.Ordinal)) continue;
            string cmd = field[prefix.Length..];
            foreach (var (q, v) in ServerSnapshot.Pairs(value))
            {
                // Decimal arithmetic: p99.9 is quantile 0.999, not 0.9990000000000001.
                if (!q.StartsWith('p') || !decimal.TryParse(q.AsSpan(1), System.Globalization.NumberStyles.Float,
                        System.Globalization.CultureInfo.InvariantCulture, out decimal percentile)) continue;
                if (!ServerSnapshot.TryNumber(v, out double usec)) continue;
                string quantile = (percentile / 100).ToString("0.############", System.Globalization.CultureInfo.InvariantCulture);
                p.Sample(name, usec, ("cmd", cmd), ("quantile", quantile));
            }
            calls.TryGetValue(cmd, out var stat);
            p.Sample(name + "_sum", stat.Usec, ("cmd", cmd));
            p.Sample(name + "_count", stat.Calls, ("cmd", cmd));
        }
    }

    /// <summary>db_keys / db_keys_expiring / db_avg_ttl_seconds per "dbN" (0 for databases without keys, as the exporter).</summary>
    private static void WriteKeyspace(PrometheusText p, ServerSnapshot s)
    {
        var keys = new SortedDictionary<int, (double Keys, double Expires, double AvgTtlMs)>();
        foreach (var (db, value) in s.Section("Keyspace"))
        {
            if (!db.StartsWith("db", StringComparison.Ordinal) || !int.TryParse(db.AsSpan(2), out int index)) continue;
            var kv = ServerSnapshot.Pairs(value);
            keys[index] = (Num(kv, "keys"), Num(kv, "expires"), kv.ContainsKey("avg_ttl") ? Num(kv, "avg_ttl") : -1);
        }
        p.Family(Ns + "db_keys", "gauge", "Total number of keys by DB");
        for (int i = 0; i < Math.Max(s.Databases, keys.Count); i++)
            p.Sample(Ns + "db_keys", keys.TryGetValue(i, out var k) ? k.Keys : 0, ("db", "db" + i));
        p.Family(Ns + "db_keys_expiring", "gauge", "Total number of expiring keys by DB");
        for (int i = 0; i < Math.Max(s.Databases, keys.Count); i++)
            p.Sample(Ns + "db_keys_expiring", keys.TryGetValue(i, out var k) ? k.Expires : 0, ("db", "db" + i));
        p.Family(Ns + "db_avg_ttl_seconds", "gauge", "Avg TTL in seconds");
        foreach (var (i, k) in keys)
            if (k.AvgTtlMs >= 0) p.Sample(Ns + "db_avg_ttl_seconds", k.AvgTtlMs / 1000, ("db", "db" + i));
    }

    private static void WriteReplication(PrometheusText p, ServerSnapshot s)
    {
        var repl = s.Section("Replication");
        string masterHost = s.Text("master_host"), masterPort = s.Text("master_port");
        if (s.Text("role") == "slave")
        {
            p.Family(Ns + "slave_info", "gauge", "Information about the Redis slave");
            p.Sample(Ns + "slave_info", 1, ("master_host", masterHost), ("master_port", masterPort), ("read_only", s.Text("slave_read_only")));
        }
        foreach (var (field, value) in repl)
        {
            switch (field)
            {
                case "master_link_status":
                    p.Family(Ns + "master_link_up", "gauge", "Master link status on Redis slave");
                    p.Sample(Ns + "master_link_up", value == "up" ? 1 : 0, ("master_host", masterHost), ("master_port", masterPort));
                    break;
                case "master_last_io_seconds_ago" or "slave_repl_offset" or "master_sync_in_progress":
                    p.Family(Ns + field, "gauge", field.Replace('_', ' '));
                    p.Sample(Ns + field, ServerSnapshot.TryNumber(value, out double v) ? v : 0, ("master_host", masterHost), ("master_port", masterPort));
                    break;
            }
        }
        p.Family(Ns + "connected_slave_offset_bytes", "gauge", "Offset of connected slave");
        var replicas = repl.Where(f => f.Key.StartsWith("slave", StringComparison.Ordinal) && f.Key.Length > 5 && char.IsAsciiDigit(f.Key[5]))
            .Select(f => ServerSnapshot.Pairs(f.Value)).ToList();
        foreach (var r in replicas)
            p.Sample(Ns + "connected_slave_offset_bytes", Num(r, "offset"), Labels(r));
        p.Family(Ns + "connected_slave_lag_seconds", "gauge", "Lag of connected slave");
        foreach (var r in replicas)
            if (r.ContainsKey("lag")) p.Sample(Ns + "connected_slave_lag_seconds", Num(r, "lag"), Labels(r));

        static (string, string)[] Labels(Dictionary<string, string> r) =>
            new[] { ("slave_ip", r.GetValueOrDefault("ip", "")), ("slave_port", r.GetValueOrDefault("port", "")), ("slave_state", r.GetValueOrDefault("state", "")) };
    }

    private static void WriteSlowLogAndLatency(PrometheusText p, ServerSnapshot s)
    {
        p.Single(Ns + "slowlog_length", "gauge", "Total slowlog", s.SlowLogLength);
        var last = s.SlowLog.Count > 0 ? s.SlowLog[0] : null;
        p.Single(Ns + "slowlog_last_id", "gauge", "Last id of slowlog", last?.Id ?? 0);
        p.Single(Ns + "last_slow_execution_duration_seconds", "gauge", "The amount of time needed for last slow execution, in seconds",
            (last?.Microseconds ?? 0) / 1e6);
        p.Family(Ns + "latency_spike_last", "gauge", "When the latency spike last occurred");
        foreach (var e in s.LatencyEvents) p.Sample(Ns + "latency_spike_last", e.LastUnixTime, ("event_name", e.Name));
        p.Family(Ns + "latency_spike_duration_seconds", "gauge", "Length of the last latency spike in seconds");
        foreach (var e in s.LatencyEvents) p.Sample(Ns + "latency_spike_duration_seconds", e.LastMs / 1000.0, ("event_name", e.Name));
    }
}
