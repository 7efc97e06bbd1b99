using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// MIGRATE between two Kvasir servers, following the tests of Valkey's unit/dump that only run
/// against servers the harness starts itself (external:skip there).
/// </summary>
public sealed class MigrateTests
{
    private static async Task<string?> Migrate(RespClient c, TestServer target, params object[] rest)
    {
        var args = new List<object> { "MIGRATE", "127.0.0.1", target.Port.ToString() };
        args.AddRange(rest);
        return await c.CallTextAsync(args.ToArray());
    }

    private static async Task<string> InfoField(RespClient c, string field)
    {
        var info = (await c.CallTextAsync("INFO", "stats"))!;
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return "";
    }

    [Fact]
    public async Task MovesCopiesAndRefusesToOverwrite()
    {
        await using var first = await TestServer.StartAsync();
        await using var second = await TestServer.StartAsync();
        await using var a = await first.ConnectAsync();
        await using var b = await second.ConnectAsync();
        await b.CallAsync("SELECT", "9");

        Assert.Equal("0", await InfoField(a, "migrate_cached_sockets"));
        await a.CallAsync("SET", "key", "Some Value");
        await a.CallAsync("EXPIRE", "key", "10");
        Assert.Equal("OK", await Migrate(a, second, "key", "9", "5000"));
        Assert.Equal("1", await InfoField(a, "migrate_cached_sockets"));
        Assert.Equal(0L, (await a.CallAsync("EXISTS", "key")).Integer);
        Assert.Equal("Some Value", await b.CallTextAsync("GET", "key"));
        Assert.InRange((await b.CallAsync("TTL", "key")).Integer, 7, 10);

        await a.CallAsync("RPUSH", "list", "a", "b", "c", "d");
        Assert.Equal("OK", await Migrate(a, second, "list", "9", "5000", "COPY"));
        Assert.Equal(1L, (await a.CallAsync("EXISTS", "list")).Integer);
        Assert.Equal(new[] { "a", "b", "c", "d" }, (await b.CallAsync("LRANGE", "list", "0", "-1")).Items!.Select(i => i.Text));

        await b.CallAsync("SET", "list", "somevalue");
        Assert.Equal("ERR Target instance replied with error: BUSYKEY Target key name already exists.",
            await Migrate(a, second, "list", "9", "5000", "COPY"));
        Assert.Equal("OK", await Migrate(a, second, "list", "9", "5000", "COPY", "REPLACE"));
        Assert.Equal("list", await b.CallTextAsync("TYPE", "list"));

        Assert.Equal("NOKEY", await Migrate(a, second, "nokey", "9", "5000"));
        Assert.Equal("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
            await a.CallTextAsync("MIGRATE", "127.0.0.1", "6379", "NotEmpty", "9", "5000", "KEYS", "a", "b"));
        Assert.Equal("ERR syntax error", await Migrate(a, second, "list", "9", "5000", "AUTH"));
        Assert.Equal("ERR value is not an integer or out of range", await Migrate(a, second, "list", "9", "x"));
    }

    [Fact]
    public async Task LargeValuesAndManyKeys()
    {
        await using var first = await TestServer.StartAsync();
        await using var second = await TestServer.StartAsync();
        await using var a = await first.ConnectAsync();
        await using var b = await second.ConnectAsync();
        for (int j = 0; j < 2000; j++)
            await a.SendAsync("RPUSH", "big", j.ToString(), "2", "3", "4", "5", "item " + j, "item 2", "item 3", "item 4", Guid.NewGuid().ToString());
        for (int j = 0; j < 2000; j++) await a.ReadAsync();
        Assert.True((await a.CallAsync("DUMP", "big")).Bytes!.Length > 64 * 1024);
        Assert.Equal("OK", await Migrate(a, second, "big", "0", "10000"));
        Assert.Equal(20000L, (await b.CallAsync("LLEN", "big")).Integer);

        await a.CallAsync("MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6");
        Assert.Equal("NOKEY", await Migrate(a, second, "", "0", "5000", "KEYS", "nokey-1", "nokey-2"));
        // Busy keys on the target stay here; the others move.
        await b.CallAsync("MSET", "c", "_", "d", "_");
        var reply = await Migrate(a, second, "", "0", "5000", "KEYS", "a", "nokey", "b", "c", "d", "e", "f");
        Assert.StartsWith("ERR Target instance replied with error: BUSYKEY", reply);
        Assert.Equal(2L, (await a.CallAsync("DBSIZE")).Integer);
        Assert.Equal(1L, (await a.CallAsync("EXISTS", "c")).Integer);
        Assert.Equal("5", await b.CallTextAsync("GET", "e"));
    }

    [Fact]
    public async Task AuthTimeoutAndPropagation()
    {
        await using var first = await TestServer.StartAsync();
        await using var second = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var a = await first.ConnectAsync();
        await using var b = await second.ConnectAsync();
        await b.CallAsync("CONFIG", "SET", "requirepass", "foobar");
        await b.CallAsync("AUTH", "foobar");
        await b.CallAsync("SELECT", "9");

        await a.CallAsync("RPUSH", "list", "a", "b");
        Assert.Equal("OK", await Migrate(a, second, "list", "9", "5000", "AUTH", "foobar"));
        Assert.Equal(2L, (await b.CallAsync("LLEN", "list")).Integer);
        await a.CallAsync("RPUSH", "list", "a", "b");
        await b.CallAsync("CONFIG", "SET", "requirepass", "foobar2");
        Assert.Contains("WRONGPASS", await Migrate(a, second, "list", "9", "5000", "AUTH", "foobar"));
        Assert.Contains("WRONGPASS", await Migrate(a, second, "list", "9", "5000", "AUTH2", "default", "foobar"));
        Assert.Equal("OK", await Migrate(a, second, "list", "9", "5000", "AUTH2", "default", "foobar2", "REPLACE"));

        // The target cannot answer in time.
        await using var sleeper = await second.ConnectAsync();
        await sleeper.CallAsync("AUTH", "foobar2");
        await a.CallAsync("SET", "slow", "v");
        await sleeper.SendAsync("DEBUG", "SLEEP", "1");
        await Task.Delay(100);
        Assert.StartsWith("IOERR error or timeout", await Migrate(a, second, "slow", "9", "300", "AUTH", "foobar2"));
        Assert.Equal(1L, (await a.CallAsync("EXISTS", "slow")).Integer);
        await sleeper.ReadAsync();

        // A closed port.
        Assert.Equal("IOERR error or timeout connecting to the client",
            await a.CallTextAsync("MIGRATE", "127.0.0.1", ReferenceServer.FreePort().ToString(), "slow", "0", "500"));

        // Keys that moved are propagated as one DEL.
        await using var replica = await ReplicationStream.AttachAsync(first);
        await a.CallAsync("MSET", "m1", "1", "m2", "2");
        Assert.Equal("OK", await Migrate(a, second, "", "9", "5000", "AUTH", "foobar2", "KEYS", "m1", "m2"));
        Assert.Equal("OK", await Migrate(a, second, "slow", "9", "5000", "AUTH", "foobar2", "COPY", "REPLACE"));
        await a.CallAsync("SET", "end", "1");
        Assert.Equal("SELECT 0", await ReplicationStream.NextAsync(replica));
        Assert.Equal("MSET m1 1 m2 2", await ReplicationStream.NextAsync(replica));
        Assert.Equal("DEL m1 m2", await ReplicationStream.NextAsync(replica));
        Assert.Equal("SET end 1", await ReplicationStream.NextAsync(replica));
    }
}
