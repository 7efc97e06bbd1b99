using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

/// <summary>
/// The built-in Prometheus endpoint and status page (metrics-port, metrics-bind): off by default,
/// started and stopped by CONFIG SET, redis_exporter's metric names with values equal to INFO's,
/// counters that move while redis-benchmark runs, a well-formed exposition.
/// </summary>
public sealed partial class MetricsEndpointTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Parsed exposition: "name{labels}" (labels as written) → value, plus each family's TYPE.</summary>
    internal sealed record Exposition(Dictionary<string, double> Samples, Dictionary<string, string> Types)
    {
        public double this[string key] => Samples.TryGetValue(key, out var v) ? v : throw new KeyNotFoundException($"no sample {key}");

        public bool Has(string key) => Samples.ContainsKey(key);
    }

    [GeneratedRegex("""^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$""")]
    private static partial Regex SampleLine();

    /// <summary>Parses and checks the text format: every sample belongs to a family declared once, before it.</summary>
    internal static Exposition Parse(string text)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                Assert.True(types.TryAdd(parts[2], parts[3]), "family declared twice: " + parts[2]);
                Assert.Contains(parts[3], new[] { "gauge", "counter", "summary", "histogram", "untyped" });
                continue;
            }
            if (line.StartsWith('#')) continue;
            var m = SampleLine().Match(line);
            Assert.True(m.Success, "malformed sample line: " + line);
            string name = m.Groups[1].Value;
            string family = types.ContainsKey(name) ? name : Regex.Replace(name, "_(sum|count|bucket)$", "");
            Assert.True(types.ContainsKey(family), "sample before its TYPE: " + line);
            string value = m.Groups[3].Value;
            double v = value switch { "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, "NaN" => double.NaN, _ => double.Parse(value, CultureInfo.InvariantCulture) };
            Assert.True(samples.TryAdd(name + m.Groups[2].Value, v), "sample repeated: " + line);
        }
        return new Exposition(samples, types);
    }

    internal static async Task<Exposition> Scrape(int port)
    {
        using var response = await Http.GetAsync($"http://127.0.0.1:{port}/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        return Parse(await response.Content.ReadAsStringAsync());
    }

    private static async Task<TestServer> StartWithMetrics(params (string, string)[] extra)
    {
        // metrics-port 0 means off, so the test picks a free port; a rare clash is retried.
        for (int attempt = 0; ; attempt++)
        {
            int port = ServerExecutable.FreePort();
            try
            {
                return await TestServer.StartAsync([("metrics-port", port.ToString()), .. extra]);
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
            }
        }
    }

    private static Dictionary<string, string> InfoFields(string info) =>
        info.Split("\r\n").Where(l => l.Contains(':') && !l.StartsWith('#'))
            .Select(l => l.Split(':', 2)).ToDictionary(p => p[0], p => p[1]);

    private static long CmdCalls(Dictionary<string, string> info, string cmd) =>
        long.Parse(Regex.Match(info["cmdstat_" + cmd], "calls=(\\d+)").Groups[1].Value);

    [Fact]
    public async Task OffByDefaultAndStartedStoppedByConfigSet()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal(["metrics-port", "0"], (await c.CallAsync("CONFIG", "GET", "metrics-port")).Items!.Select(i => i.Text));
        Assert.Equal(["metrics-bind", "127.0.0.1 -::1"], (await c.CallAsync("CONFIG", "GET", "metrics-bind")).Items!.Select(i => i.Text));
        Assert.Equal(0, server.Server.HttpMetrics.BoundPort);

        int port = ServerExecutable.FreePort();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "metrics-port", port.ToString())).Text);
        Assert.Equal(port, server.Server.HttpMetrics.BoundPort);
        var m = await Scrape(port);
        Assert.Equal(1, m["redis_up"]);

        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "metrics-port", "0")).Text);
        Assert.Equal(0, server.Server.HttpMetrics.BoundPort);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => Http.GetAsync($"http://127.0.0.1:{port}/metrics"));
    }

    [Fact]
    public async Task BusyPortAndBadAddressAreRefusedAndTheOldSettingStays()
    {
        await using var server = await StartWithMetrics();
        await using var c = await server.ConnectAsync();
        int port = server.Server.HttpMetrics.BoundPort;

        using var blocker = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blocker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blocker.Listen();
        int busy = ((IPEndPoint)blocker.LocalEndPoint!).Port;
        var reply = await c.CallAsync("CONFIG", "SET", "metrics-port", busy.ToString());
        Assert.True(reply.IsError);
        Assert.StartsWith("ERR CONFIG SET failed (possibly related to argument 'metrics-port')", reply.Text);
        Assert.Equal(port.ToString(), (await c.CallAsync("CONFIG", "GET", "metrics-port")).Items![1].Text);
        Assert.Equal(1, (await Scrape(port))["redis_up"]);

        reply = await c.CallAsync("CONFIG", "SET", "metrics-bind", "not-an-address");
        Assert.True(reply.IsError);
        Assert.Contains("Invalid metrics-bind address", reply.Text);
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "metrics-bind", "127.0.0.1")).Text);
        Assert.Equal(1, (await Scrape(port))["redis_up"]);
    }

    /// <summary>The directives live in the config file like any other: read at start, written by CONFIG REWRITE.</summary>
    [Fact]
    public async Task ConfigFileAndRewrite()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-metrics-conf-");
        try
        {
            int port = ServerExecutable.FreePort();
            string file = Path.Combine(dir.FullName, "kvasir.conf");
            File.WriteAllText(file, $"metrics-port {port}\nmetrics-bind 127.0.0.1\n");
            var config = new Kvasir.Config.ServerConfig { Dir = dir.FullName, ConfigFile = file };
            Kvasir.Config.ConfigFileParser.Load(config, file, null, "port 0\nbind 127.0.0.1\nsave \"\"\nloglevel warning");
            await using var server = new KvasirServer(config);
            await server.StartAsync();
            Assert.Equal(port, server.HttpMetrics.BoundPort);
            Assert.Equal(1, (await Scrape(port))["redis_up"]);

            await using var c = await RespClient.ConnectAsync("127.0.0.1", server.BoundPort);
            int other = ServerExecutable.FreePort();
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "metrics-port", other.ToString(), "metrics-bind", "* -::*")).Text);
            Assert.Equal(1, (await Scrape(other))["redis_up"]);
            Assert.Equal("OK", (await c.CallAsync("CONFIG", "REWRITE")).Text);
            string text = File.ReadAllText(file);
            Assert.Contains($"metrics-port {other}\n", text);
            Assert.Contains("metrics-bind * -::*\n", text);
            await server.StopAsync();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static double AvgTtl(Dictionary<string, string> info) =>
        double.Parse(Regex.Match(info["db0"], "avg_ttl=(\\d+)").Groups[1].Value);

    [Fact]
    public async Task ValuesAreInfosUnderRedisExporterNames()
    {
        await using var server = await StartWithMetrics(("latency-monitor-threshold", "1"), ("slowlog-log-slower-than", "0"), ("enable-debug-command", "yes"));
        int port = server.Server.HttpMetrics.BoundPort;
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "m:a", "1");
        await c.CallAsync("SET", "m:b", "2", "EX", "1000");
        await c.CallAsync("GET", "m:a");
        await c.CallAsync("GET", "m:missing");
        await c.CallAsync("SELECT", "3");
        await c.CallAsync("SET", "m:c", "3");
        await c.CallAsync("SELECT", "0");
        await c.CallAsync("INCR", "m:b");
        await c.CallAsync("LPUSH", "m:a", "x"); // WRONGTYPE: a failed call and an error stat
        await c.CallAsync("DEBUG", "SLEEP", "0.01"); // a latency event ("command") and a slow log entry

        // avg_ttl is an estimate the active expiry cycle updates: wait for its first one, then read
        // it on both sides of the scrape.
        for (int i = 0; i < 100 && !Regex.IsMatch(InfoFields((await c.CallAsync("INFO", "keyspace")).Text!)["db0"], "avg_ttl=[1-9]"); i++)
            await Task.Delay(50);
        double avgTtlBefore = AvgTtl(InfoFields((await c.CallAsync("INFO", "keyspace")).Text!));
        var m = await Scrape(port);
        var info = InfoFields((await c.CallAsync("INFO", "ALL")).Text!);

        Assert.Equal(double.Parse(info["keyspace_hits"]), m["redis_keyspace_hits_total"]);
        Assert.Equal(double.Parse(info["keyspace_misses"]), m["redis_keyspace_misses_total"]);
        Assert.Equal("counter", m.Types["redis_keyspace_hits_total"]);
        Assert.Equal(2, m["redis_db_keys{db=\"db0\"}"]);
        Assert.Equal(1, m["redis_db_keys_expiring{db=\"db0\"}"]);
        Assert.Equal(1, m["redis_db_keys{db=\"db3\"}"]);
        Assert.Equal(0, m["redis_db_keys{db=\"db15\"}"]);
        // avg_ttl is the estimate the active expiry cycle keeps (as Valkey's), in seconds here.
        double avgTtl = Math.Round(m["redis_db_avg_ttl_seconds{db=\"db0\"}"] * 1000), avgTtlAfter = AvgTtl(info);
        Assert.InRange(avgTtl, Math.Min(avgTtlBefore, avgTtlAfter), Math.Max(avgTtlBefore, avgTtlAfter));
        Assert.Equal(3, m["redis_commands_total{cmd=\"set\"}"]);
        Assert.Equal(CmdCalls(info, "set"), m["redis_commands_total{cmd=\"set\"}"]);
        Assert.Equal(CmdCalls(info, "get"), m["redis_commands_total{cmd=\"get\"}"]);
        Assert.True(m["redis_commands_duration_seconds_total{cmd=\"get\"}"] > 0);
        Assert.Equal(1, m["redis_commands_failed_calls_total{cmd=\"lpush\"}"]);
        Assert.Equal(1, m["redis_errors_total{err=\"WRONGTYPE\"}"]);
        Assert.Equal(double.Parse(info["maxmemory"]), m["redis_memory_max_bytes"]);
        Assert.True(m["redis_memory_used_bytes"] > 0);
        Assert.Equal(1, m["redis_connected_clients"]);
        Assert.Equal(0, m["redis_connected_slaves"]);
        Assert.Equal(double.Parse(info["master_repl_offset"]), m["redis_master_repl_offset"]);
        Assert.Equal(double.Parse(info["rdb_last_save_time"]), m["redis_rdb_last_save_timestamp_seconds"]);
        Assert.Equal(1, m["redis_rdb_last_bgsave_status"]);
        Assert.Equal(0, m["redis_evicted_keys_total"]);
        Assert.Equal(0, m["redis_expired_keys_total"]);
        Assert.Equal(10000, m["redis_config_maxclients"]);
        Assert.Equal(server.Port.ToString(), Label(m, "redis_instance_info", "tcp_port"));
        Assert.Equal("master", Label(m, "redis_instance_info", "role"));
        Assert.Equal(info["run_id"], Label(m, "redis_instance_info", "run_id"));
        // latencystats as the exporter's summary: p50/p99/p99.9 with commandstats' sum and count.
        Assert.Equal("summary", m.Types["redis_latency_percentiles_usec"]);
        Assert.True(m["redis_latency_percentiles_usec{cmd=\"get\",quantile=\"0.999\"}"] > 0);
        Assert.Equal(CmdCalls(info, "get"), m["redis_latency_percentiles_usec_count{cmd=\"get\"}"]);
        Assert.True(m["redis_slowlog_length"] >= 10);
        Assert.True(m["redis_latency_spike_duration_seconds{event_name=\"command\"}"] >= 0.01);
        // Kvasir's own: GC pauses and heap sizes.
        Assert.Equal("histogram", m.Types["kvasir_gc_pause_seconds"]);
        Assert.True(m.Has("kvasir_gc_pause_seconds_bucket{le=\"+Inf\"}"));
        Assert.True(m["kvasir_gc_heap_size_bytes"] > 0);
        Assert.True(m.Has("kvasir_gc_collections_total{generation=\"2\"}"));
        Assert.True(m["kvasir_metrics_info_lock_seconds"] > 0);
    }

    private static string Label(Exposition m, string metric, string label)
    {
        string key = m.Samples.Keys.Single(k => k.StartsWith(metric + "{", StringComparison.Ordinal));
        return Regex.Match(key, label + "=\"([^\"]*)\"").Groups[1].Value;
    }

    /// <summary>
    /// The check: scrapes taken while redis-benchmark runs see the counters move, and once it
    /// is over the scrape and INFO agree.
    /// </summary>
    [Fact]
    public async Task CountersMoveDuringRedisBenchmarkAndMatchInfoAfterwards()
    {
        string bench = ExternalProcess.Require("redis-benchmark", "apt-get install redis-tools");
        await using var server = await StartWithMetrics();
        int port = server.Server.HttpMetrics.BoundPort;
        const int requests = 20000;
        var run = ExternalProcess.RunAsync(bench,
            ["-h", "127.0.0.1", "-p", server.Port.ToString(), "-t", "set,get", "-n", requests.ToString(), "-c", "4", "-r", "1000", "-q"],
            TimeSpan.FromMinutes(3));
        var seen = new List<double>();
        while (!run.IsCompleted)
        {
            var m = await Scrape(port);
            seen.Add(m.Samples.GetValueOrDefault("redis_commands_total{cmd=\"set\"}") + m.Samples.GetValueOrDefault("redis_commands_total{cmd=\"get\"}"));
            await Task.WhenAny(run, Task.Delay(100));
        }
        var result = await run;
        Assert.True(result.ExitCode == 0, result.Output);
        for (int i = 1; i < seen.Count; i++) Assert.True(seen[i] >= seen[i - 1], "a counter went down: " + string.Join(",", seen));
        Assert.True(seen.Distinct().Count() >= 2 || seen.Count <= 1, "the counters never moved: " + string.Join(",", seen));

        var after = await Scrape(port);
        await using var c = await server.ConnectAsync();
        var info = InfoFields((await c.CallAsync("INFO", "ALL")).Text!);
        Assert.Equal(requests, after["redis_commands_total{cmd=\"set\"}"]);
        Assert.Equal(requests, after["redis_commands_total{cmd=\"get\"}"]);
        Assert.Equal(CmdCalls(info, "set"), after["redis_commands_total{cmd=\"set\"}"]);
        Assert.Equal(double.Parse(info["keyspace_hits"]) + double.Parse(info["keyspace_misses"]),
            after["redis_keyspace_hits_total"] + after["redis_keyspace_misses_total"]);
        Assert.Equal((double)(await c.CallAsync("DBSIZE")).Integer, after["redis_db_keys{db=\"db0\"}"]);
        // Scrapes are not commands, and INFO does not count itself: both saw the same total.
        Assert.Equal(double.Parse(info["total_commands_processed"]), after["redis_commands_processed_total"]);
        Assert.True(after["redis_net_input_bytes_total"] > requests * 2 * 20);
    }

    [Fact]
    public async Task StatusPageAndItsJson()
    {
        await using var server = await StartWithMetrics(("maxmemory", "64mb"));
        int port = server.Server.HttpMetrics.BoundPort;
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "s:1", "v");
        await c.CallAsync("GET", "s:1");

        using var page = await Http.GetAsync($"http://127.0.0.1:{port}/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html; charset=utf-8", page.Content.Headers.ContentType!.ToString());
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<title>Kvasir status</title>", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", "")); // self-contained: no CDN
        Assert.DoesNotContain("https://", html);

        using var doc = JsonDocument.Parse(await Http.GetStringAsync($"http://127.0.0.1:{port}/api/status"));
        var root = doc.RootElement;
        Assert.Equal(64 * 1024 * 1024, root.GetProperty("maxmemory").GetInt64());
        Assert.True(root.GetProperty("used_memory").GetInt64() > 0);
        Assert.Equal(1.0, root.GetProperty("hit_ratio").GetDouble());
        Assert.Equal(1, root.GetProperty("connected_clients").GetInt32());
        Assert.Equal(1, root.GetProperty("keyspace")[0].GetProperty("keys").GetInt32());
        Assert.Equal("master", root.GetProperty("replication").GetProperty("role").GetString());
        Assert.Equal(server.Port, root.GetProperty("tcp_port").GetInt32());

        using var missing = await Http.GetAsync($"http://127.0.0.1:{port}/nothing");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var post = await Http.PostAsync($"http://127.0.0.1:{port}/metrics", new StringContent("x"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
    }

    /// <summary>A scrape waits for the data lock like a client would, and is served once the lock is free.</summary>
    [Fact]
    public async Task ScrapeDuringALongCommandWaitsForIt()
    {
        await using var server = await StartWithMetrics(("enable-debug-command", "yes"));
        int port = server.Server.HttpMetrics.BoundPort;
        await using var c = await server.ConnectAsync();
        // Long enough that the scrape surely starts while it runs, even on a loaded machine.
        await c.SendAsync("DEBUG", "SLEEP", "2");
        await Task.Delay(100);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var m = await Scrape(port);
        Assert.Equal("OK", (await c.ReadAsync()).Text);
        Assert.Equal(1, m["redis_up"]);
        // While DEBUG SLEEP held the lock the scrape could not read INFO; the command was counted before it returned.
        Assert.Equal(1, m["redis_commands_total{cmd=\"debug\"}"]);
        Assert.True(sw.Elapsed > TimeSpan.FromMilliseconds(200));
    }
}
