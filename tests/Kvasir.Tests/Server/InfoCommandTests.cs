using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Server.ServerTestHelpers;

namespace Kvasir.Tests.Server;

public sealed class InfoCommandTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public InfoCommandTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static List<string> Sections(string info) =>
        info.Split("\r\n").Where(l => l.StartsWith("# ", StringComparison.Ordinal)).Select(l => l[2..]).ToList();

    [Fact]
    public async Task DefaultSectionsInValkeyOrder()
    {
        await using var c = await _server.ConnectAsync();
        var info = (await c.CallTextAsync("INFO"))!;
        Assert.Equal(new[] { "Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules", "Errorstats", "Cluster", "Keyspace" }, Sections(info));
        Assert.Equal(Sections(info), Sections((await c.CallTextAsync("INFO", "default"))!));
        Assert.DoesNotContain("rejected_calls", info);
    }

    [Fact]
    public async Task AllAndEverythingAddCommandAndLatencyStats()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "info:k", "v");
        foreach (var arg in new[] { "all", "everything" })
        {
            var info = (await c.CallTextAsync("INFO", arg))!;
            Assert.Equal(new[] { "Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Modules", "Commandstats", "Errorstats", "Latencystats", "Cluster", "Keyspace", "Kvasir" }, Sections(info));
            Assert.Contains("rejected_calls", info);
            Assert.Matches(@"cmdstat_set:calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=0\r\n", info);
            Assert.Matches(@"latency_percentiles_usec_set:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}\r\n", info);
        }
    }

    [Fact]
    public async Task KvasirSectionCountsGarbageCollectorPauses()
    {
        await using var c = await _server.ConnectAsync();
        var before = (await c.CallTextAsync("INFO", "kvasir"))!;
        Assert.Equal(new[] { "Kvasir" }, Sections(before));
        // The heap is the test process's: a blocking full collection here is one the server must see.
        GC.Collect(2, GCCollectionMode.Forced, blocking: true);
        GC.WaitForPendingFinalizers();
        var after = (await c.CallTextAsync("INFO", "KVASIR"))!;
        Assert.True(long.Parse(Field(after, "gc_collections")) > long.Parse(Field(before, "gc_collections")));
        Assert.True(long.Parse(Field(after, "gc_pauses")) > long.Parse(Field(before, "gc_pauses")));
        long total = long.Parse(Field(after, "gc_pause_total_usec"));
        long max = long.Parse(Field(after, "gc_pause_max_usec"));
        long recent = long.Parse(Field(after, "gc_pause_recent_max_usec"));
        long last = long.Parse(Field(after, "gc_pause_last_usec"));
        Assert.True(last > 0, after);
        Assert.True(recent >= last && max >= recent && total >= max, after);
        Assert.Matches(@"\r\ngc_pause_percentiles_usec:p50=\d+,p99=\d+,p99\.9=\d+\r\n", after);
        Assert.True(long.Parse(Field(after, "gc_pauses_over_10ms")) >= 0);
        // Every field name once in INFO ALL (gc_mode and the per-generation counts are in Memory).
        var all = (await c.CallTextAsync("INFO", "all"))!.Split("\r\n").Where(l => l.Contains(':')).Select(l => l[..l.IndexOf(':')]).ToList();
        Assert.Equal(all.Count, all.Distinct().Count());
        Assert.DoesNotContain("gc_pauses", (await c.CallTextAsync("INFO"))!);
    }

    [Fact]
    public async Task SectionsAreCaseInsensitiveAndNotRepeated()
    {
        await using var c = await _server.ConnectAsync();
        var info = (await c.CallTextAsync("INFO", "cpu", "CPU", "all"))!;
        Assert.Single(Sections(info), s => s == "CPU");
        var stats = (await c.CallTextAsync("INFO", "commandSTATS"))!;
        Assert.StartsWith("# Commandstats\r\n", stats);
        Assert.DoesNotContain("used_memory", stats);
    }

    [Fact]
    public async Task SeveralSectionsAreSeparatedByAnEmptyLine()
    {
        await using var c = await _server.ConnectAsync();
        var info = (await c.CallTextAsync("INFO", "cpu", "cluster"))!;
        Assert.Matches(@"^# CPU\r\nused_cpu_sys:\d+\.\d{6}\r\nused_cpu_user:\d+\.\d{6}\r\n(.*\r\n)*\r\n# Cluster\r\ncluster_enabled:0\r\n$", info);
    }

    [Fact]
    public async Task UnknownSectionIsEmpty()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendAsync("INFO", "sentinel");
        Assert.Equal("$0\r\n\r\n", await c.ReadRawAsync(6));
    }

    [Fact]
    public async Task ServerSectionReportsCompatibilityVersions()
    {
        await using var c = await _server.ConnectAsync();
        var info = (await c.CallTextAsync("INFO", "server"))!;
        Assert.Equal("7.2.4", Field(info, "redis_version"));
        Assert.Equal("valkey", Field(info, "server_name"));
        Assert.Equal(KvasirServer.ValkeyVersion, Field(info, "valkey_version"));
        Assert.Equal(KvasirServer.KvasirVersion, Field(info, "kvasir_version"));
        Assert.Equal("standalone", Field(info, "server_mode"));
        Assert.Equal(_server.Port.ToString(), Field(info, "tcp_port"));
        Assert.Equal(40, Field(info, "run_id").Length);
        Assert.Equal($"name=tcp,bind=127.0.0.1,port={_server.Port}", Field(info, "listener0"));
    }

    [Fact]
    public async Task ExtendedRedisCompatibilityRenamesTheModeField()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "extended-redis-compatibility", "yes"));
        var info = (await c.CallTextAsync("INFO", "server"))!;
        Assert.Equal("standalone", Field(info, "redis_mode"));
        Assert.Equal("", Field(info, "server_mode"));
    }

    [Fact]
    public async Task KeyspaceAndPersistenceFollowTheData()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("# Keyspace\r\n", await c.CallTextAsync("INFO", "keyspace"));
        await c.CallAsync("SET", "a", "1");
        await c.CallAsync("SET", "b", "2");
        await c.CallAsync("SELECT", "3");
        await c.CallAsync("SET", "c", "3");
        Assert.Equal("# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n", await c.CallTextAsync("INFO", "keyspace"));
        var persistence = (await c.CallTextAsync("INFO", "persistence"))!;
        Assert.Equal("3", Field(persistence, "rdb_changes_since_last_save"));
        Assert.Equal("ok", Field(persistence, "rdb_last_bgsave_status"));
        Assert.Equal("0", Field(persistence, "aof_enabled"));
    }

    [Fact]
    public async Task StatsCountHitsMissesAndCommands()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "k", "v");
        await c.CallAsync("GET", "k");
        await c.CallAsync("GET", "k");
        await c.CallAsync("GET", "missing");
        var stats = (await c.CallTextAsync("INFO", "stats"))!;
        Assert.Equal("2", Field(stats, "keyspace_hits"));
        Assert.Equal("1", Field(stats, "keyspace_misses"));
        Assert.Equal("4", Field(stats, "total_commands_processed"));
        Assert.True(long.Parse(Field(stats, "total_net_input_bytes")) > 0);
        Assert.Equal("1", Field(stats, "total_connections_received"));
    }

    [Fact]
    public async Task ErrorStatsCountByCodeAndCommandStatsCountFailures()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("NOSUCH");
        await c.CallAsync("GET");
        await c.CallAsync("SELECT", "x");
        var info = (await c.CallTextAsync("INFO", "errorstats", "commandstats"))!;
        Assert.Equal("count=3", Field(info, "errorstat_ERR"));
        Assert.Equal("calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0", Field(info, "cmdstat_get"));
        Assert.Matches(@"^calls=1,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=0,failed_calls=1$", Field(info, "cmdstat_select"));
        Assert.Equal("3", Field((await c.CallTextAsync("INFO", "stats"))!, "total_error_replies"));
    }

    [Fact]
    public async Task MemoryFollowsTheDataset()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        var before = long.Parse(Field((await c.CallTextAsync("INFO", "memory"))!, "used_memory"));
        var value = new string('x', 10000);
        for (int i = 0; i < 100; i++) await c.CallAsync("SET", "mem:" + i, value);
        var memory = (await c.CallTextAsync("INFO", "memory"))!;
        var after = long.Parse(Field(memory, "used_memory"));
        Assert.InRange(after - before, 1_000_000, 1_200_000);
        Assert.True(long.Parse(Field(memory, "used_memory_rss")) > 0);
        Assert.True(long.Parse(Field(memory, "used_memory_peak")) >= after);
        Assert.Equal("noeviction", Field(memory, "maxmemory_policy"));
        Assert.Matches(@"^\d+\.\d\dM$", Field(memory, "used_memory_human"));
        Assert.True(long.Parse(Field(memory, "gc_heap_size")) > 0);
    }

    [Fact]
    public async Task ReplicationSectionDescribesAPrimary()
    {
        await using var c = await _server.ConnectAsync();
        var info = (await c.CallTextAsync("INFO", "replication"))!;
        Assert.Equal("master", Field(info, "role"));
        Assert.Equal("0", Field(info, "connected_slaves"));
        Assert.Equal(40, Field(info, "master_replid").Length);
        Assert.Equal(new string('0', 40), Field(info, "master_replid2"));
        Assert.Equal("-1", Field(info, "second_repl_offset"));
    }

    [Fact]
    public async Task DebugSectionOnlyWhenNamed()
    {
        await using var c = await _server.ConnectAsync();
        Assert.DoesNotContain("eventloop_duration_cron_sum", (await c.CallTextAsync("INFO", "everything"))!);
        Assert.Contains("eventloop_duration_cron_sum", (await c.CallTextAsync("INFO", "debug"))!);
    }

    [Fact]
    public async Task Resp3RepliesWithAVerbatimString()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await UseResp3ForNewestClient(server, c);
        var reply = await c.CallAsync("INFO", "cluster");
        Assert.Equal('=', reply.Kind);
        Assert.Equal("txt:# Cluster\r\ncluster_enabled:0\r\n", reply.Text);
    }
}
