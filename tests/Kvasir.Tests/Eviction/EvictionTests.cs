using Kvasir.Keyspace;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Eviction;

/// <summary>maxmemory: the OOM refusal, each policy's choice of victims, and the accounting that drives them.</summary>
public sealed class EvictionTests
{
    private const string Oom = "OOM command not allowed when used memory > 'maxmemory'.";

    private static Task<long> UsedMemory(RespClient c) => InfoField(c, "memory", "used_memory");

    private static async Task<long> InfoField(RespClient c, string section, string field)
    {
        var info = (await c.CallAsync("INFO", section)).Text!;
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return long.Parse(line[(field.Length + 1)..]);
        throw new InvalidOperationException("no " + field);
    }

    /// <summary>Fills db 0 with key:0..n-1 (values of 100 bytes), volatile ones with a TTL of ttlSeconds(i).</summary>
    private static async Task Fill(RespClient c, int n, Func<int, long?>? ttlSeconds = null)
    {
        var value = new string('v', 100);
        for (int i = 0; i < n; i++)
        {
            long? ttl = ttlSeconds?.Invoke(i);
            if (ttl is { } t) await c.CallAsync("SET", "key:" + i, value, "EX", t.ToString());
            else await c.CallAsync("SET", "key:" + i, value);
        }
    }

    /// <summary>Lowers maxmemory so that about <paramref name="bytes"/> must go, then runs one write, which evicts first.</summary>
    private static async Task Squeeze(RespClient c, long bytes)
    {
        long used = await UsedMemory(c);
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", (used - bytes).ToString())).Text);
        await c.CallAsync("SET", "trigger", "1");
    }

    private static async Task<HashSet<int>> Survivors(RespClient c, int n)
    {
        var alive = new HashSet<int>();
        for (int i = 0; i < n; i++)
            if ((await c.CallAsync("EXISTS", "key:" + i)).Integer == 1) alive.Add(i);
        return alive;
    }

    private static void WithDb(TestServer ts, Action<Database> action)
    {
        lock (ts.Server.DataLock) action(ts.Server.Databases[0]);
    }

    [Fact]
    public async Task CachedScriptsCountTowardMaxmemory()
    {
        // Valkey counts everything it allocated but replica buffers and the AOF buffer: the script
        // cache too (unit/tracking sizes maxmemory from used_memory - mem_not_counted_for_evict).
        await using var ts = await TestServer.StartAsync(("maxmemory-policy", "allkeys-random"));
        await using var c = await ts.ConnectAsync();
        await Fill(c, 10);
        long before = await InfoField(c, "memory", "used_memory_scripts_eval");
        for (int i = 0; i < 200; i++) await c.CallAsync("SCRIPT", "LOAD", $"return {i} -- {new string('s', 100)}");
        long scripts = await InfoField(c, "memory", "used_memory_scripts_eval") - before;
        Assert.True(scripts > 20_000, $"script cache grew by {scripts}");
        long counted = await UsedMemory(c) - await InfoField(c, "memory", "mem_not_counted_for_evict");
        // Under the limit without the scripts, over it with them: the next command evicts.
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "maxmemory", (counted - scripts / 2).ToString()));
        await c.CallAsync("PING");
        Assert.True(await InfoField(c, "stats", "evicted_keys") > 0);
    }

    [Fact]
    public async Task NoEvictionRefusesDenyOomCommandsOnly()
    {
        await using var ts = await TestServer.StartAsync();
        await using var c = await ts.ConnectAsync();
        await c.CallAsync("SET", "a", "1");
        await c.CallAsync("RPUSH", "list", "x");
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", "1")).Text);
        Assert.Equal(Oom, (await c.CallAsync("SET", "b", "2")).Text);
        Assert.Equal(Oom, (await c.CallAsync("RPUSH", "list", "y")).Text);
        // Reads, deletions and commands that cannot grow memory still run.
        Assert.Equal("1", (await c.CallAsync("GET", "a")).Text);
        Assert.Equal("x", (await c.CallAsync("LPOP", "list")).Text);
        Assert.Equal(1, (await c.CallAsync("DEL", "a")).Integer);
        Assert.Equal("PONG", (await c.CallAsync("PING")).Text);
        // In a transaction only the denyoom command is refused, and EXEC then aborts.
        Assert.Equal("OK", (await c.CallAsync("MULTI")).Text);
        Assert.Equal("QUEUED", (await c.CallAsync("GET", "a")).Text);
        Assert.Equal(Oom, (await c.CallAsync("SET", "b", "2")).Text);
        Assert.Equal("EXECABORT Transaction discarded because of previous errors.", (await c.CallAsync("EXEC")).Text);
        // EXEC of a transaction queued before memory ran out: refused as a whole, naming the cause.
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", "0")).Text);
        Assert.Equal("OK", (await c.CallAsync("MULTI")).Text);
        Assert.Equal("QUEUED", (await c.CallAsync("SET", "b", "2")).Text);
        await using var other = await ts.ConnectAsync();
        Assert.Equal("OK", (await other.CallAsync("CONFIG", "SET", "maxmemory", "1")).Text);
        Assert.Equal("EXECABORT Transaction discarded because of: " + Oom, (await c.CallAsync("EXEC")).Text);
        Assert.Equal(0, await InfoField(c, "stats", "evicted_keys"));
    }

    [Fact]
    public async Task AllKeysLruEvictsTheLeastRecentlyUsed()
    {
        await using var ts = await TestServer.StartAsync(("maxmemory-policy", "allkeys-lru"), ("maxmemory-samples", "10"));
        await using var c = await ts.ConnectAsync();
        await Fill(c, 200);
        // Keys 0..99 were last used an hour ago, 100..199 just now.
        WithDb(ts, db =>
        {
            uint now = ts.Server.Keyspace.LruClock;
            for (int i = 0; i < 100; i++) db.SetLruAt(db.FindRaw(System.Text.Encoding.ASCII.GetBytes("key:" + i)), now - 3600);
        });
        Assert.InRange((await c.CallAsync("OBJECT", "IDLETIME", "key:5")).Integer, 3599, 3601);
        await Squeeze(c, 40 * 200);
        var alive = await Survivors(c, 200);
        Assert.True(alive.Count < 200);
        for (int i = 100; i < 200; i++) Assert.Contains(i, alive);
        Assert.Equal(200 - alive.Count, await InfoField(c, "stats", "evicted_keys"));
    }

    [Fact]
    public async Task AllKeysLfuEvictsTheLeastFrequentlyUsed()
    {
        await using var ts = await TestServer.StartAsync(("maxmemory-policy", "allkeys-lfu"), ("maxmemory-samples", "10"));
        await using var c = await ts.ConnectAsync();
        await Fill(c, 200);
        // Odd keys are hot (counter 200), even keys cold (counter 0).
        WithDb(ts, db =>
        {
            uint minutes = Lfu.MinutesNow(ts.Server.Keyspace);
            for (int i = 0; i < 200; i++)
                db.SetLruAt(db.FindRaw(System.Text.Encoding.ASCII.GetBytes("key:" + i)), (minutes << 8) | (i % 2 == 1 ? 200u : 0u));
        });
        Assert.Equal(200, (await c.CallAsync("OBJECT", "FREQ", "key:1")).Integer);
        await Squeeze(c, 40 * 200);
        var alive = await Survivors(c, 200);
        Assert.True(alive.Count < 200);
        for (int i = 1; i < 200; i += 2) Assert.Contains(i, alive);
    }

    [Fact]
    public async Task VolatileTtlEvictsTheSoonestExpiringFirst()
    {
        await using var ts = await TestServer.StartAsync(("maxmemory-policy", "volatile-ttl"), ("maxmemory-samples", "10"));
        await using var c = await ts.ConnectAsync();
        // TTL grows with the key number; every fourth key has none.
        await Fill(c, 200, i => i % 4 == 0 ? null : 1000 + i * 100);
        await Squeeze(c, 30 * 200);
        var alive = await Survivors(c, 200);
        int evicted = 200 - alive.Count;
        Assert.True(evicted > 0);
        for (int i = 0; i < 200; i += 4) Assert.Contains(i, alive);
        // The victims are the soonest to expire: the 75 volatile keys of the first half go before any
        // of the second. How many go depends on the client buffers counted at that moment, so the
        // count is not fixed; sampling is approximate (Valkey's pool of the best of random samples),
        // so a few victims out of order are allowed.
        int late = Enumerable.Range(100, 100).Count(i => !alive.Contains(i));
        int expectedLate = Math.Max(0, evicted - 75);
        Assert.True(late <= expectedLate + evicted / 10, $"{late} of {evicted} victims expire later than half the keys");
    }

    [Theory]
    [InlineData("volatile-lru")]
    [InlineData("volatile-lfu")]
    [InlineData("volatile-random")]
    [InlineData("volatile-ttl")]
    public async Task VolatilePoliciesNeverEvictKeysWithoutTtl(string policy)
    {
        await using var ts = await TestServer.StartAsync(("maxmemory-policy", policy));
        await using var c = await ts.ConnectAsync();
        await Fill(c, 200, i => i % 2 == 0 ? 10_000 : null);
        await Squeeze(c, 60 * 200);
        var alive = await Survivors(c, 200);
        Assert.True(alive.Count < 200);
        for (int i = 1; i < 200; i += 2) Assert.Contains(i, alive);
        // Once no key with a TTL is left, writes are refused. The limit is well below what is in use:
        // client reply buffers shrink back when idle, so a limit just under one reading may be met
        // by the time of the write.
        long used = await UsedMemory(c);
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", (used / 2).ToString())).Text);
        Assert.Equal(Oom, (await c.CallAsync("SET", "more", "x")).Text);
        alive = await Survivors(c, 200);
        for (int i = 0; i < 200; i += 2) Assert.DoesNotContain(i, alive);
        for (int i = 1; i < 200; i += 2) Assert.Contains(i, alive);
    }

    [Theory]
    [InlineData("allkeys-random")]
    [InlineData("allkeys-lru")]
    [InlineData("allkeys-lfu")]
    public async Task AllKeysPoliciesKeepMemoryUnderTheLimitAcrossDatabases(string policy)
    {
        await using var ts = await TestServer.StartAsync(("maxmemory-policy", policy));
        await using var c = await ts.ConnectAsync();
        long limit = await UsedMemory(c) + 200_000;
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", limit.ToString())).Text);
        var value = new string('x', 500);
        for (int i = 0; i < 2000; i++)
        {
            if (i % 500 == 0) await c.CallAsync("SELECT", (i / 500).ToString());
            Assert.Equal("OK", (await c.CallAsync("SET", "k" + i, value)).Text);
        }
        Assert.True(await UsedMemory(c) <= limit + limit / 10);
        Assert.True(await InfoField(c, "stats", "evicted_keys") > 0);
    }

    [Fact]
    public async Task CronEvictsAfterMaxmemoryIsLoweredWithoutCommands()
    {
        await using var ts = await TestServer.StartAsync(("maxmemory-policy", "allkeys-random"));
        await using var c = await ts.ConnectAsync();
        await Fill(c, 300);
        long used = await UsedMemory(c);
        long limit = used - 40_000; // INFO itself grew this client's reply buffer: squeeze well below
        // Set through the config object: no command follows that could evict.
        lock (ts.Server.DataLock) ts.Server.Config.MaxMemory = limit;
        for (int i = 0; i < 100 && ts.Server.Stats.EvictedKeys == 0; i++) await Task.Delay(20);
        Assert.True(ts.Server.Stats.EvictedKeys > 0, $"counted {ts.Server.Evictor.CountedMemory()} limit {limit} used {used}");
    }

    [Fact]
    public async Task AccountingStaysConsistentAfterDeletesOverwritesExpiryAndFlushAsync()
    {
        await using var ts = await TestServer.StartAsync();
        await using var c = await ts.ConnectAsync();
        long DataBytes() { lock (ts.Server.DataLock) { long t = 0; foreach (var db in ts.Server.Databases) t += db.DataBytes; return t; } }
        long baseline = await UsedMemory(c);
        await Fill(c, 300, i => i % 3 == 0 ? 1 : null);
        for (int i = 0; i < 300; i += 2) await c.CallAsync("SET", "key:" + i, new string('w', 300)); // overwrites of another size
        var members = new List<object> { "SADD", "bigset" };
        for (int i = 0; i < 1000; i++) members.Add("member:" + i);
        await c.CallAsync(members.ToArray());
        Assert.True(await UsedMemory(c) > baseline + 100_000);
        for (int i = 1; i < 300; i += 6) await c.CallAsync("DEL", "key:" + i);
        await c.CallAsync("DEBUG", "SLEEP", "1.1"); // the TTL of 1s passes
        for (int i = 0; i < 300; i += 3) await c.CallAsync("GET", "key:" + i); // lazy expiry of the volatile keys
        Assert.Equal("OK", (await c.CallAsync("FLUSHALL", "ASYNC")).Text);
        Assert.True(ts.Server.LazyFree.WaitIdle(TimeSpan.FromSeconds(5)));
        Assert.Equal(0, DataBytes());
        long after = await UsedMemory(c);
        Assert.InRange(after, baseline - 64 * 1024, baseline + 64 * 1024);
        Assert.Equal(0, await InfoField(c, "memory", "lazyfree_pending_objects"));
    }

    [Fact]
    public async Task UnlinkOfABigValueIsFreedInTheBackground()
    {
        await using var ts = await TestServer.StartAsync();
        await using var c = await ts.ConnectAsync();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "RESETSTAT")).Text);
        var members = new List<object> { "SADD", "big" };
        for (int i = 0; i < 500; i++) members.Add("m" + i);
        await c.CallAsync(members.ToArray());
        await c.CallAsync("SADD", "small", "a", "b");
        Assert.Equal(2, (await c.CallAsync("UNLINK", "big", "small")).Integer);
        Assert.True(ts.Server.LazyFree.WaitIdle(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, await InfoField(c, "memory", "lazyfreed_objects"));
        // FLUSHDB ASYNC counts every key of the flushed table.
        for (int i = 0; i < 10; i++) await c.CallAsync("SET", "k" + i, "v");
        Assert.Equal("OK", (await c.CallAsync("FLUSHDB", "ASYNC")).Text);
        Assert.True(ts.Server.LazyFree.WaitIdle(TimeSpan.FromSeconds(5)));
        Assert.Equal(11, await InfoField(c, "memory", "lazyfreed_objects"));
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "RESETSTAT")).Text);
        Assert.Equal(0, await InfoField(c, "memory", "lazyfreed_objects"));
    }

    [Fact]
    public async Task ObjectFreqAndIdletimeFollowThePolicy()
    {
        await using var ts = await TestServer.StartAsync();
        await using var c = await ts.ConnectAsync();
        await c.CallAsync("SET", "k", "v");
        Assert.StartsWith("ERR An LFU maxmemory policy is not selected, access frequency not tracked.", (await c.CallAsync("OBJECT", "FREQ", "k")).Text);
        Assert.InRange((await c.CallAsync("OBJECT", "IDLETIME", "k")).Integer, 0, 1); // a second may turn meanwhile
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu")).Text);
        Assert.StartsWith("ERR An LFU maxmemory policy is selected, idle time not tracked.", (await c.CallAsync("OBJECT", "IDLETIME", "k")).Text);
        await c.CallAsync("SET", "fresh", "v");
        Assert.Equal(5, (await c.CallAsync("OBJECT", "FREQ", "fresh")).Integer); // LFU_INIT_VAL
    }

    [Fact]
    public async Task MaxmemoryAsAShareOfTheMachine()
    {
        await using var ts = await TestServer.StartAsync();
        await using var c = await ts.ConnectAsync();
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", "50%")).Text);
        Assert.Equal("50%", (await c.CallAsync("CONFIG", "GET", "maxmemory")).Items![1].Text);
        long expected = Kvasir.Observability.MemoryAccounting.ContainerMemoryLimit() / 2;
        Assert.InRange(await InfoField(c, "memory", "maxmemory"), expected - 1, expected + 1);
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - percentage argument must be less or equal to 100",
            (await c.CallAsync("CONFIG", "SET", "maxmemory", "101%")).Text);
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value",
            (await c.CallAsync("CONFIG", "SET", "maxmemory", "-1")).Text);
        Assert.Equal("OK", (await c.CallAsync("CONFIG", "SET", "maxmemory", "2gb")).Text);
        Assert.Equal("2147483648", (await c.CallAsync("CONFIG", "GET", "maxmemory")).Items![1].Text);
    }

    [Fact]
    public async Task MemoryStatsHasValkeysFieldsInOrder()
    {
        await using var ts = await TestServer.StartAsync();
        await using var c = await ts.ConnectAsync();
        await c.CallAsync("SET", "a", "1");
        var items = (await c.CallAsync("MEMORY", "STATS")).Items!;
        var names = new List<string>();
        for (int i = 0; i < items.Count; i += 2) names.Add(items[i].Text!);
        Assert.Equal(new[] { "peak.allocated", "total.allocated", "startup.allocated", "replication.backlog", "clients.slaves",
            "clients.normal", "cluster.links", "aof.buffer", "lua.caches", "functions.caches", "db.0", "overhead.db.hashtable.lut",
            "overhead.db.hashtable.rehashing", "overhead.total", "db.dict.rehashing.count", "keys.count", "keys.bytes-per-key",
            "dataset.bytes", "dataset.percentage", "peak.percentage", "allocator.allocated", "allocator.active", "allocator.resident",
            "allocator.muzzy", "allocator-fragmentation.ratio", "allocator-fragmentation.bytes", "allocator-rss.ratio",
            "allocator-rss.bytes", "rss-overhead.ratio", "rss-overhead.bytes", "fragmentation", "fragmentation.bytes" }, names);
        Assert.Equal(1, items[names.IndexOf("keys.count") * 2 + 1].Integer);
    }
}
