using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.PubSub;

/// <summary>notify-keyspace-events: __keyspace@db__ / __keyevent@db__ messages of each command family, expiry and eviction.</summary>
public sealed class KeyspaceNotificationTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public KeyspaceNotificationTests(SharedServerFixture fixture) => _server = fixture.Server;

    /// <summary>Runs <paramref name="commands"/> with the given classes on and returns the "channel payload" of every event seen.</summary>
    private async Task<List<string>> EventsOf(string classes, params object[][] commands)
    {
        await using var c = await _server.ConnectAsync();
        await using var sub = await _server.ConnectAsync();
        await c.CallAsync("SELECT", "3");
        await c.CallAsync("FLUSHDB");
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "notify-keyspace-events", classes));
        await sub.CallAsync("PSUBSCRIBE", "__key*@3__:*");
        try
        {
            foreach (var cmd in commands) await c.CallAsync(cmd);
            // A marker: everything before it has been delivered when it arrives.
            await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "KEA");
            await c.CallAsync("DEL", "ke:end", "ke:end");
            await c.CallAsync("SET", "ke:end", "1");
            var seen = new List<string>();
            while (true)
            {
                var m = await sub.ReadAsync();
                string line = m.Items![2].Text + " " + m.Items[3].Text;
                if (line.Contains("ke:end")) break;
                seen.Add(line);
            }
            return seen;
        }
        finally
        {
            await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "");
        }
    }

    [Fact]
    public async Task KeyspaceAndKeyeventChannels()
    {
        var events = await EventsOf("KE$", ["SET", "ke:s", "v"]);
        Assert.Equal(new[] { "__keyspace@3__:ke:s set", "__keyevent@3__:set ke:s" }, events);
    }

    [Fact]
    public async Task ClassesMaskEvents()
    {
        var events = await EventsOf("Kl", ["SET", "ke:s", "v"], ["LPUSH", "ke:l", "a"], ["RPUSH", "ke:l", "b"], ["RPOP", "ke:l"], ["LPOP", "ke:l"]);
        Assert.Equal(new[] { "__keyspace@3__:ke:l lpush", "__keyspace@3__:ke:l rpush", "__keyspace@3__:ke:l rpop", "__keyspace@3__:ke:l lpop" }, events);
    }

    [Fact]
    public async Task GenericEvents()
    {
        var events = await EventsOf("Eg", ["SET", "ke:a", "1"], ["EXPIRE", "ke:a", "100"], ["PERSIST", "ke:a"], ["RENAME", "ke:a", "ke:b"],
            ["COPY", "ke:b", "ke:c"], ["MOVE", "ke:c", "4"], ["DEL", "ke:b"], ["LPUSH", "ke:l", "x"], ["LPOP", "ke:l"]);
        Assert.Equal(new[]
        {
            "__keyevent@3__:expire ke:a", "__keyevent@3__:persist ke:a", "__keyevent@3__:rename_from ke:a",
            "__keyevent@3__:rename_to ke:b", "__keyevent@3__:copy_to ke:c", "__keyevent@3__:move_from ke:c",
            "__keyevent@3__:del ke:b", "__keyevent@3__:del ke:l",
        }, events);
    }

    [Fact]
    public async Task StringEvents()
    {
        var events = await EventsOf("E$", ["SET", "ke:n", "1"], ["INCRBY", "ke:n", "2"], ["INCRBYFLOAT", "ke:n", "1.5"], ["APPEND", "ke:n", "x"],
            ["SETRANGE", "ke:n", "0", "y"], ["SETBIT", "ke:b", "1", "1"], ["MSET", "ke:m", "1", "ke:o", "2"]);
        Assert.Equal(new[]
        {
            "__keyevent@3__:set ke:n", "__keyevent@3__:incrby ke:n", "__keyevent@3__:incrbyfloat ke:n", "__keyevent@3__:append ke:n",
            "__keyevent@3__:setrange ke:n", "__keyevent@3__:setbit ke:b", "__keyevent@3__:set ke:m", "__keyevent@3__:set ke:o",
        }, events);
    }

    [Fact]
    public async Task SetHashAndSortedSetEvents()
    {
        var events = await EventsOf("Kshz", ["SADD", "ke:s", "a", "b"], ["SREM", "ke:s", "x"], ["SREM", "ke:s", "a"],
            ["HSET", "ke:h", "f", "1"], ["HINCRBY", "ke:h", "f", "2"], ["HDEL", "ke:h", "f"],
            ["ZADD", "ke:z", "1", "a"], ["ZINCRBY", "ke:z", "1", "a"], ["ZREM", "ke:z", "a"]);
        Assert.Equal(new[]
        {
            "__keyspace@3__:ke:s sadd", "__keyspace@3__:ke:s srem", "__keyspace@3__:ke:h hset", "__keyspace@3__:ke:h hincrby",
            "__keyspace@3__:ke:h hdel", "__keyspace@3__:ke:z zadd", "__keyspace@3__:ke:z zincr", "__keyspace@3__:ke:z zrem",
        }, events);
    }

    [Fact]
    public async Task HashFieldExpiryEvents()
    {
        var events = await EventsOf("Kh", ["HSET", "ke:h", "f", "1", "g", "2"], ["HEXPIRE", "ke:h", "100", "FIELDS", "1", "f"],
            ["HPERSIST", "ke:h", "FIELDS", "1", "f"]);
        Assert.Equal(new[] { "__keyspace@3__:ke:h hset", "__keyspace@3__:ke:h hexpire", "__keyspace@3__:ke:h hpersist" }, events);
    }

    [Fact]
    public async Task NewKeyEventOnlyOnCreation()
    {
        var events = await EventsOf("En", ["SET", "ke:a", "1"], ["SET", "ke:a", "2"], ["LPUSH", "ke:l", "x"]);
        Assert.Equal(new[] { "__keyevent@3__:new ke:a", "__keyevent@3__:new ke:l" }, events);
    }

    [Fact]
    public async Task ExpiredKeysNotify()
    {
        await using var c = await _server.ConnectAsync();
        await using var sub = await _server.ConnectAsync();
        await c.CallAsync("SELECT", "5");
        await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "Ex");
        try
        {
            await sub.CallAsync("SUBSCRIBE", "__keyevent@5__:expired");
            await c.CallAsync("PSETEX", "ke:lazy", "10", "v");
            await c.CallAsync("PSETEX", "ke:active", "10", "v");
            await Task.Delay(50);
            Assert.Null(await c.CallTextAsync("GET", "ke:lazy"));
            var keys = new List<string> { (await sub.ReadAsync()).Items![2].Text!, (await sub.ReadAsync()).Items![2].Text! };
            keys.Sort(StringComparer.Ordinal);
            Assert.Equal(new[] { "ke:active", "ke:lazy" }, keys);
        }
        finally
        {
            await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "");
        }
    }

    [Fact]
    public async Task EvictedKeysNotify()
    {
        await using var server = await TestServer.StartAsync(("maxmemory-policy", "allkeys-lru"), ("notify-keyspace-events", "Ee"));
        await using var c = await server.ConnectAsync();
        await using var sub = await server.ConnectAsync();
        await sub.CallAsync("PSUBSCRIBE", "*");
        await c.CallAsync("SET", "ke:victim", "bar");
        await c.CallAsync("CONFIG", "SET", "maxmemory", "1");
        Assert.Equal("[pmessage, *, __keyevent@0__:evicted, ke:victim]", (await sub.ReadAsync()).ToString());
        await c.CallAsync("CONFIG", "SET", "maxmemory", "0");
    }

    [Fact]
    public async Task ConfigShowsCanonicalClasses()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "KA");
        Assert.Equal("[notify-keyspace-events, AK]", (await c.CallAsync("CONFIG", "GET", "notify-keyspace-events")).ToString());
        await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "$lshzxeKE");
        Assert.Equal("[notify-keyspace-events, $lshzxeKE]", (await c.CallAsync("CONFIG", "GET", "notify-keyspace-events")).ToString());
        await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "");
    }
}
