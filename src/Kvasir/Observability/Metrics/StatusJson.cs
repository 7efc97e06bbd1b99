using System.Text.Json;

namespace Kvasir.Observability.Metrics;

/// <summary>
/// The JSON the status page polls (<c>GET /api/status</c>): the figures its charts and tables show,
/// taken from the same snapshot as /metrics. Field names are the INFO ones where INFO has them.
/// </summary>
public static class StatusJson
{
    public static byte[] Write(ServerSnapshot s, RuntimeMetrics? runtime)
    {
        using var stream = new MemoryStream(4096);
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteNumber("time_ms", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            w.WriteString("kvasir_version", s.Text("kvasir_version"));
            w.WriteString("valkey_version", s.Text("valkey_version"));
            w.WriteString("run_id", s.Text("run_id"));
            w.WriteNumber("tcp_port", s.Number("tcp_port"));
            w.WriteNumber("uptime_in_seconds", s.Number("uptime_in_seconds"));
            w.WriteNumber("instantaneous_ops_per_sec", s.Number("instantaneous_ops_per_sec"));
            w.WriteNumber("total_commands_processed", s.Number("total_commands_processed"));
            double hits = s.Number("keyspace_hits"), misses = s.Number("keyspace_misses");
            w.WriteNumber("keyspace_hits", hits);
            w.WriteNumber("keyspace_misses", misses);
            if (hits + misses > 0) w.WriteNumber("hit_ratio", hits / (hits + misses));
            else w.WriteNull("hit_ratio");
            w.WriteNumber("used_memory", s.Number("used_memory"));
            w.WriteNumber("used_memory_rss", s.Number("used_memory_rss"));
            w.WriteNumber("used_memory_peak", s.Number("used_memory_peak"));
            w.WriteNumber("maxmemory", s.Number("maxmemory"));
            w.WriteString("maxmemory_policy", s.Text("maxmemory_policy"));
            w.WriteNumber("connected_clients", s.Number("connected_clients"));
            w.WriteNumber("blocked_clients", s.Number("blocked_clients"));
            w.WriteNumber("maxclients", s.MaxClients);
            w.WriteNumber("instantaneous_input_kbps", s.Number("instantaneous_input_kbps"));
            w.WriteNumber("instantaneous_output_kbps", s.Number("instantaneous_output_kbps"));
            w.WriteNumber("expired_keys", s.Number("expired_keys"));
            w.WriteNumber("evicted_keys", s.Number("evicted_keys"));
            w.WriteNumber("rdb_last_save_time", s.Number("rdb_last_save_time"));
            w.WriteNumber("rdb_changes_since_last_save", s.Number("rdb_changes_since_last_save"));
            w.WriteNumber("aof_enabled", s.Number("aof_enabled"));

            w.WriteStartArray("keyspace");
            foreach (var (db, value) in s.Section("Keyspace"))
            {
                if (!db.StartsWith("db", StringComparison.Ordinal) || !int.TryParse(db.AsSpan(2), out int index)) continue;
                var kv = ServerSnapshot.Pairs(value);
                w.WriteStartObject();
                w.WriteNumber("db", index);
                w.WriteNumber("keys", long.Parse(kv.GetValueOrDefault("keys", "0")));
                w.WriteNumber("expires", long.Parse(kv.GetValueOrDefault("expires", "0")));
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartArray("slowlog");
            foreach (var e in s.SlowLog.Take(32))
            {
                w.WriteStartObject();
                w.WriteNumber("id", e.Id);
                w.WriteNumber("time", e.UnixTime);
                w.WriteNumber("duration_us", e.Microseconds);
                w.WriteString("command", e.Command.Length > 200 ? e.Command[..200] + "..." : e.Command);
                w.WriteString("client", e.Peer);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("slowlog_len", s.SlowLogLength);

            w.WriteStartArray("latency");
            foreach (var e in s.LatencyEvents)
            {
                w.WriteStartObject();
                w.WriteString("event", e.Name);
                w.WriteNumber("time", e.LastUnixTime);
                w.WriteNumber("latest_ms", e.LastMs);
                w.WriteNumber("max_ms", e.MaxMs);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            w.WriteStartObject("replication");
            w.WriteString("role", s.Text("role"));
            w.WriteNumber("connected_slaves", s.Number("connected_slaves"));
            w.WriteNumber("master_repl_offset", s.Number("master_repl_offset"));
            if (s.Text("role") == "slave")
            {
                w.WriteString("master_host", s.Text("master_host"));
                w.WriteNumber("master_port", s.Number("master_port"));
                w.WriteString("master_link_status", s.Text("master_link_status"));
                w.WriteNumber("slave_repl_offset", s.Number("slave_repl_offset"));
            }
            w.WriteStartArray("replicas");
            foreach (var (field, value) in s.Section("Replication"))
            {
                if (!field.StartsWith("slave", StringComparison.Ordinal) || field.Length < 6 || !char.IsAsciiDigit(field[5])) continue;
                var kv = ServerSnapshot.Pairs(value);
                w.WriteStartObject();
                w.WriteString("ip", kv.GetValueOrDefault("ip", ""));
                w.WriteString("port", kv.GetValueOrDefault("port", ""));
                w.WriteString("state", kv.GetValueOrDefault("state", ""));
                w.WriteNumber("offset", ServerSnapshot.TryNumber(kv.GetValueOrDefault("offset", "0"), out double off) ? off : 0);
                w.WriteNumber("lag", ServerSnapshot.TryNumber(kv.GetValueOrDefault("lag", "0"), out double lag) ? lag : 0);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartObject("gc");
            w.WriteNumber("heap_bytes", GC.GetTotalMemory(false));
            w.WriteNumber("pause_total_seconds", GC.GetTotalPauseDuration().TotalSeconds);
            if (runtime is not null)
            {
                var (count, sum) = runtime.Pauses();
                w.WriteNumber("pauses_observed", count);
                w.WriteNumber("pause_observed_seconds", sum);
            }
            w.WriteStartArray("collections");
            for (int g = 0; g <= GC.MaxGeneration; g++) w.WriteNumberValue(GC.CollectionCount(g));
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return stream.ToArray();
    }
}
