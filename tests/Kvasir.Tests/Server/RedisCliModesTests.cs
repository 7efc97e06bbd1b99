using System.Text;
using System.Text.RegularExpressions;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

/// <summary>
/// The operations modes of redis-cli (Debian's redis-tools) and the benchmark's threaded mode
/// against Kvasir: each reports what the server holds, as it does against Valkey.
/// </summary>
public sealed class RedisCliModesTests
{
    private static string Cli() => ExternalProcess.Require("redis-cli", "apt-get install redis-tools");

    private static async Task<ExternalProcess.Result> Run(TestServer server, params string[] args)
    {
        var r = await ExternalProcess.RunAsync(Cli(), ["-h", "127.0.0.1", "-p", server.Port.ToString(), .. args], TimeSpan.FromMinutes(3));
        Assert.True(r.ExitCode == 0, $"redis-cli {string.Join(' ', args)} exited with {r.ExitCode}:\n{r.Output}");
        return r;
    }

    private static Task<ExternalProcess.Result> RunFor(TestServer server, TimeSpan duration, params string[] args) =>
        ExternalProcess.RunForAsync(Cli(), ["-h", "127.0.0.1", "-p", server.Port.ToString(), .. args], duration);

    private static async Task Fill(RespClient c)
    {
        await c.CallAsync("RPUSH", "ops:list", "a", "b", "c", "d", "e", "f", "g");
        await c.CallAsync("HSET", "ops:hash", "f1", "v1", "f2", "v2", "f3", "v3");
        await c.CallAsync("SADD", "ops:set", "x", "y");
        await c.CallAsync("ZADD", "ops:zset", "1", "a", "2", "b", "3", "c", "4", "d");
        await c.CallAsync("SET", "ops:str", new string('s', 5000));
        await c.CallAsync("SET", "ops:small", "1");
    }

    [Fact]
    public async Task BigKeysFindsTheBiggestKeyOfEachType()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await Fill(c);
        var r = await Run(server, "--bigkeys");
        Assert.Contains("Sampled 6 keys in the keyspace!", r.Stdout);
        Assert.Contains("Biggest   list found '\"ops:list\"' has 7 items", r.Stdout);
        Assert.Contains("Biggest   hash found '\"ops:hash\"' has 3 fields", r.Stdout);
        Assert.Contains("Biggest    set found '\"ops:set\"' has 2 members", r.Stdout);
        Assert.Contains("Biggest   zset found '\"ops:zset\"' has 4 members", r.Stdout);
        Assert.Contains("Biggest string found '\"ops:str\"' has 5000 bytes", r.Stdout);
        Assert.Contains("2 strings with 5001 bytes", r.Stdout);
    }

    [Fact]
    public async Task MemKeysReportsMemoryUsageOfTheBiggestKeys()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await Fill(c);
        var r = await Run(server, "--memkeys");
        long strUsage = (await c.CallAsync("MEMORY", "USAGE", "ops:str")).Integer;
        long listUsage = (await c.CallAsync("MEMORY", "USAGE", "ops:list")).Integer;
        Assert.Contains($"Biggest string found '\"ops:str\"' has {strUsage} bytes", r.Stdout);
        Assert.Contains($"Biggest   list found '\"ops:list\"' has {listUsage} bytes", r.Stdout);
        Assert.Contains("Sampled 6 keys in the keyspace!", r.Stdout);
    }

    [Fact]
    public async Task HotKeysNeedsAnLfuPolicyAndFindsTheMostUsedKey()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "ops:before", "1");
        var refused = await ExternalProcess.RunAsync(Cli(), ["-p", server.Port.ToString(), "--hotkeys"], TimeSpan.FromMinutes(1));
        Assert.Contains("ERR An LFU maxmemory policy is not selected, access frequency not tracked.", refused.Output);

        // Keys made under the LFU policy start with LFU_INIT_VAL; accesses raise the counter logarithmically.
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")).Text);
        await c.CallAsync("DEL", "ops:before");
        await Fill(c);
        for (int i = 0; i < 300; i++) await c.CallAsync("GET", "ops:small");
        var r = await Run(server, "--hotkeys");
        var hot = Regex.Matches(r.Stdout, @"hot key found with counter: (\d+)\s+keyname: ""([^""]+)""")
            .Select(m => (Counter: int.Parse(m.Groups[1].Value), Key: m.Groups[2].Value)).ToList();
        Assert.Equal(6, hot.Count);
        Assert.Equal("ops:small", hot.MaxBy(h => h.Counter).Key);
        Assert.True(hot.Single(h => h.Key == "ops:small").Counter > hot.Single(h => h.Key == "ops:set").Counter);
    }

    [Fact]
    public async Task ScanWithAPatternListsExactlyTheMatchingKeys()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        for (int i = 0; i < 500; i++) await c.CallAsync("SET", $"user:{i}", "x");
        for (int i = 0; i < 100; i++) await c.CallAsync("SET", $"session:{i}", "x");
        var r = await Run(server, "--scan", "--pattern", "user:*");
        var keys = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(500, keys.Length);
        Assert.Equal(Enumerable.Range(0, 500).Select(i => $"user:{i}").ToHashSet(), keys.ToHashSet());
    }

    /// <summary>Mass insertion as the Redis documentation describes it: 1M commands in the protocol, piped.</summary>
    [Fact]
    public async Task PipeMassInsertsAMillionCommands()
    {
        await using var server = await TestServer.StartAsync(("appendonly", "no"));
        const int count = 1_000_000;
        var input = new MemoryStream(48 * count);
        var line = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            string key = "mass:" + i, value = "value:" + i;
            line.Clear().Append("*3\r\n$3\r\nSET\r\n$").Append(key.Length).Append("\r\n").Append(key)
                .Append("\r\n$").Append(value.Length).Append("\r\n").Append(value).Append("\r\n");
            input.Write(Encoding.ASCII.GetBytes(line.ToString()));
        }
        input.Position = 0;
        var r = await ExternalProcess.RunAsync(Cli(), ["-h", "127.0.0.1", "-p", server.Port.ToString(), "--pipe"],
            TimeSpan.FromMinutes(5), stdinStream: input);
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains("All data transferred. Waiting for the last reply...", r.Output);
        Assert.Contains($"errors: 0, replies: {count}", r.Output);
        await using var c = await server.ConnectAsync();
        Assert.Equal(count, (await c.CallAsync("DBSIZE")).Integer);
        Assert.Equal("value:777777", (await c.CallAsync("GET", "mass:777777")).Text);
    }

    /// <summary>--rdb downloads a snapshot the way a replica does (SYNC with rdb-only); the file loads in a new server.</summary>
    [Fact]
    public async Task RdbDownloadsASnapshotThatLoads()
    {
        await using var server = await TestServer.StartAsync();
        await using (var c = await server.ConnectAsync())
        {
            await Fill(c);
            await c.CallAsync("SELECT", "2");
            await c.CallAsync("SET", "ops:db2", "two");
        }
        var dir = Directory.CreateTempSubdirectory("kvasir-cli-rdb-");
        try
        {
            string file = Path.Combine(dir.FullName, "dump.rdb");
            var r = await Run(server, "--rdb", file);
            Assert.Contains("Transfer finished with success", r.Output);
            Assert.Equal("REDIS", Encoding.ASCII.GetString(File.ReadAllBytes(file), 0, 5));

            await using var copy = await TestServer.StartInDirAsync(dir.FullName, ("save", ""));
            await using var c2 = await copy.ConnectAsync();
            Assert.Equal(6, (await c2.CallAsync("DBSIZE")).Integer);
            Assert.Equal(7, (await c2.CallAsync("LLEN", "ops:list")).Integer);
            await c2.CallAsync("SELECT", "2");
            Assert.Equal("two", (await c2.CallAsync("GET", "ops:db2")).Text);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task RepeatAndIntervalRunACommandNTimes()
    {
        await using var server = await TestServer.StartAsync();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var r = await Run(server, "-r", "5", "-i", "0.1", "INCR", "ops:counter");
        Assert.Equal(["1", "2", "3", "4", "5"], r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.True(sw.Elapsed >= TimeSpan.FromMilliseconds(400), "-i 0.1 did not wait between runs");
        await using var c = await server.ConnectAsync();
        Assert.Equal("5", (await c.CallAsync("GET", "ops:counter")).Text);
    }

    [Fact]
    public async Task StatShowsKeysClientsAndRequests()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await Fill(c);
        var r = await RunFor(server, TimeSpan.FromSeconds(2.5), "--stat", "-i", "0.3");
        var lines = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.StartsWith("------- data ------ --------------------- load --------------------", StringComparison.Ordinal));
        var rows = lines.Select(l => Regex.Match(l, @"^(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+) \(\+(\d+)\)\s+(\d+)")).Where(m => m.Success).ToList();
        Assert.True(rows.Count >= 3, r.Output);
        Assert.All(rows, m => Assert.Equal("6", m.Groups[1].Value));       // keys
        Assert.All(rows, m => Assert.Equal("2", m.Groups[3].Value));       // clients: ours and redis-cli
        var requests = rows.Select(m => long.Parse(m.Groups[5].Value)).ToList();
        Assert.True(requests.Zip(requests.Skip(1)).All(p => p.Second > p.First), "requests did not grow: " + string.Join(",", requests));
    }

    [Fact]
    public async Task LatencyModesSampleThePingTime()
    {
        await using var server = await TestServer.StartAsync();
        // Not on a terminal, --latency prints "min max avg samples" as it goes.
        var r = await RunFor(server, TimeSpan.FromSeconds(2), "--latency");
        var last = Regex.Matches(r.Stdout, @"(\d+) (\d+) ([\d.]+) (\d+)").Last();
        Assert.True(int.Parse(last.Groups[4].Value) >= 10, r.Output);
        Assert.True(int.Parse(last.Groups[1].Value) <= int.Parse(last.Groups[2].Value));

        // --latency-history starts a new window every -i seconds: the sample count falls back.
        var h = await RunFor(server, TimeSpan.FromSeconds(3.5), "--latency-history", "-i", "1");
        var counts = Regex.Matches(h.Stdout, @"(\d+) (\d+) ([\d.]+) (\d+)").Select(m => int.Parse(m.Groups[4].Value)).ToList();
        Assert.True(counts.Count >= 3, h.Output);
        Assert.Contains(counts.Zip(counts.Skip(1)), p => p.Second < p.First);
    }

    public static TheoryData<string> Benchmarks => new() { "redis-benchmark", "valkey-benchmark" };

    [Theory]
    [MemberData(nameof(Benchmarks))]
    public async Task BenchmarkWithThreads(string tool)
    {
        string? path = ExternalProcess.Find(tool) ?? (tool == "valkey-benchmark" ? ExternalProcess.Find("/work/valkey/src/valkey-benchmark") : null);
        if (path is null) Assert.Skip($"{tool} is not installed");
        await using var server = await TestServer.StartAsync();
        var r = await ExternalProcess.RunAsync(path,
            ["-h", "127.0.0.1", "-p", server.Port.ToString(), "--threads", "2", "-c", "8", "-n", "20000", "-r", "1000", "-t", "set,get", "-q"],
            TimeSpan.FromMinutes(3));
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Matches(@"SET: [\d.]+ requests per second", r.Stdout);
        Assert.Matches(@"GET: [\d.]+ requests per second", r.Stdout);
        await using var c = await server.ConnectAsync();
        var info = (await c.CallAsync("INFO", "commandstats")).Text!;
        Assert.Contains("cmdstat_set:calls=20000,", info);
        Assert.Contains("cmdstat_get:calls=20000,", info);
    }
}
