using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>BGSAVE without fork: a point-in-time image written while writes go on; save points.</summary>
public sealed class BackgroundSaveTests
{
    private static async Task<string?> Info(RespClient c, string field)
    {
        var info = await c.CallTextAsync("INFO", "persistence");
        foreach (var line in info!.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return null;
    }

    private static async Task WaitForBgsaveAsync(RespClient c)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (await Info(c, "rdb_bgsave_in_progress") != "0")
        {
            Assert.True(DateTime.UtcNow < deadline, "background save did not finish");
            await Task.Delay(20);
        }
    }

    private static List<string> LoadDump(string path)
    {
        var kit = new RdbTestKit();
        kit.Load(File.ReadAllBytes(path));
        return kit.Dump();
    }

    private static async Task PopulateManyAsync(RespClient c, int n)
    {
        for (int i = 0; i < n; i++)
        {
            switch (i % 5)
            {
                case 0: await c.CallAsync("SET", "s:" + i, "value-" + i); break;
                case 1: await c.CallAsync("RPUSH", "l:" + i, "a", "b", i.ToString()); break;
                case 2: await c.CallAsync("SADD", "t:" + i, "x", "y", i.ToString()); break;
                case 3: await c.CallAsync("HSET", "h:" + i, "f", i.ToString()); break;
                default: await c.CallAsync("ZADD", "z:" + i, i.ToString(), "m"); break;
            }
        }
    }

    [Fact]
    public async Task BgsaveWritesTheSameImageAsSave()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await PersistenceCommandTests.PopulateAsync(c);
        Assert.Equal("OK", await c.CallTextAsync("SAVE"));
        string dump = Path.Combine(server.DataDir, "dump.rdb");
        var expected = LoadDump(dump);
        File.Delete(dump);
        await c.CallAsync("SET", "one-more", "x");
        await c.CallAsync("DEL", "one-more");

        Assert.Equal("Background saving started", await c.CallTextAsync("BGSAVE"));
        await WaitForBgsaveAsync(c);
        Assert.Equal(expected, LoadDump(dump));
        Assert.Equal("ok", await Info(c, "rdb_last_bgsave_status"));
        Assert.Equal("0", await Info(c, "rdb_changes_since_last_save"));
        Assert.Equal("2", await Info(c, "rdb_saves"));
        Assert.NotEqual("-1", await Info(c, "rdb_last_bgsave_time_sec"));
        Assert.Empty(Directory.GetFiles(server.DataDir, "temp-*"));
    }

    [Fact]
    public async Task WritesDuringTheSaveDoNotReachTheImage()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        const int n = 3000;
        await PopulateManyAsync(c, n);
        Assert.Equal("OK", await c.CallTextAsync("SAVE"));
        string dump = Path.Combine(server.DataDir, "dump.rdb");
        var expected = LoadDump(dump);

        // Slow the save down (microseconds per key) so the writes below land while it runs.
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "1000");
        Assert.Equal("Background saving started", await c.CallTextAsync("BGSAVE"));
        Assert.Equal("1", await Info(c, "rdb_bgsave_in_progress"));
        Assert.Equal("ERR Background save already in progress", (await c.CallAsync("BGSAVE")).Text);
        Assert.Equal("ERR Background save already in progress", (await c.CallAsync("SAVE")).Text);
        // Writes that touch a part of the table not yet saved save that part first, so the save
        // may finish before this loop does; either way the image must be the one from the start.
        int writes = 0;
        for (int i = 0; i < n; i += 7)
        {
            switch (i % 5)
            {
                case 0: await c.CallAsync("SET", "s:" + i, "changed"); break;
                case 1: await c.CallAsync("RPUSH", "l:" + i, "pushed"); break;
                case 2: await c.CallAsync("SREM", "t:" + i, "x"); break;
                case 3: await c.CallAsync("HSET", "h:" + i, "g", "new"); break;
                default: await c.CallAsync("DEL", "z:" + i); break;
            }
            await c.CallAsync("SET", "new:" + i, "created");
            await c.CallAsync("EXPIRE", "s:" + (i / 5 * 5), "10000");
            writes += 3;
        }
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "0");
        await WaitForBgsaveAsync(c);

        Assert.Equal("ok", await Info(c, "rdb_last_bgsave_status"));
        Assert.Equal(expected, LoadDump(dump));
        // Some writes found their part of the table not yet saved and saved it first.
        Assert.True(long.Parse((await Info(c, "rdb_last_cow_size"))!) > 0);
        // The changes made during the save still count toward the next one.
        Assert.Equal(writes, long.Parse((await Info(c, "rdb_changes_since_last_save"))!));
    }

    /// <summary>
    /// The image is one moment of the data set: writers keep changing pairs of keys in
    /// transactions (a_i and b_i always equal) during a slowed-down save, and every pair in the file
    /// is equal; the writes were served while the save ran, not held back until it ended.
    /// </summary>
    [Fact]
    public async Task ImageIsAPointInTimeWhileTransactionsKeepFlowing()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        const int pairs = 2000;
        for (int i = 0; i < pairs; i++) await c.SendAsync("MSET", "a_" + i, "0", "b_" + i, "0");
        for (int i = 0; i < pairs; i++) await c.ReadAsync();
        // 4000 keys at 500 µs each: about two seconds of saving.
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "500");
        Assert.Equal("Background saving started", await c.CallTextAsync("BGSAVE"));

        long acknowledged = 0;
        using var stop = new CancellationTokenSource();
        async Task Writer(int id)
        {
            await using var w = await server.ConnectAsync();
            var rng = new Random(id);
            long n = 0;
            while (!stop.IsCancellationRequested)
            {
                int i = rng.Next(pairs);
                string v = $"{id}-{n++}";
                await w.SendAsync("MULTI");
                await w.SendAsync("SET", "a_" + i, v);
                await w.SendAsync("SET", "b_" + i, v);
                await w.SendAsync("EXEC");
                for (int r = 0; r < 3; r++) await w.ReadAsync();
                var exec = await w.ReadAsync();
                Assert.Equal(2, exec.Items!.Count);
                Interlocked.Increment(ref acknowledged);
            }
        }
        var writers = Enumerable.Range(1, 4).Select(Writer).ToArray();
        await WaitForBgsaveAsync(c);
        long duringSave = Interlocked.Read(ref acknowledged);
        stop.Cancel();
        await Task.WhenAll(writers);
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "0");

        Assert.Equal("ok", await Info(c, "rdb_last_bgsave_status"));
        var kit = new RdbTestKit();
        kit.Load(File.ReadAllBytes(Path.Combine(server.DataDir, "dump.rdb")));
        var db = kit.Databases[0];
        Assert.Equal(2 * pairs, db.Count);
        for (int i = 0; i < pairs; i++)
        {
            string a = System.Text.Encoding.UTF8.GetString(db.StringAt(db.FindRaw(System.Text.Encoding.UTF8.GetBytes("a_" + i))));
            string b = System.Text.Encoding.UTF8.GetString(db.StringAt(db.FindRaw(System.Text.Encoding.UTF8.GetBytes("b_" + i))));
            Assert.True(a == b, $"pair {i}: a={a} b={b}");
        }
        // Transactions were served during the save (a blocking save would allow none).
        Assert.True(duringSave > 100, $"only {duringSave} transactions during the save");
    }

    [Fact]
    public async Task CancelScheduleAndFlushAll()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("ERR Background saving is currently not in progress or scheduled", (await c.CallAsync("BGSAVE", "CANCEL")).Text);
        Assert.Equal("ERR syntax error", (await c.CallAsync("BGSAVE", "NOW")).Text);
        await PopulateManyAsync(c, 500);
        string dump = Path.Combine(server.DataDir, "dump.rdb");

        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "100000");
        Assert.Equal("Background saving started", await c.CallTextAsync("BGSAVE"));
        Assert.Equal("Background saving cancelled", await c.CallTextAsync("BGSAVE", "CANCEL"));
        await WaitForBgsaveAsync(c);
        Assert.False(File.Exists(dump));
        Assert.Equal("ok", await Info(c, "rdb_last_bgsave_status"));
        Assert.Empty(Directory.GetFiles(server.DataDir, "temp-*"));

        // FLUSHALL stops a running save (then saves the empty data set itself: save points are set).
        Assert.Equal("Background saving started", await c.CallTextAsync("BGSAVE"));
        Assert.Equal("OK", await c.CallTextAsync("FLUSHALL"));
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "0");
        await WaitForBgsaveAsync(c);
        Assert.Empty(LoadDump(dump));

        // Inside a transaction the save is scheduled and the cron starts it.
        await c.CallAsync("SET", "k", "v");
        await c.CallAsync("MULTI");
        await c.CallAsync("BGSAVE");
        var exec = await c.CallAsync("EXEC");
        Assert.Equal("Background saving scheduled", exec.Items![0].Text);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await Info(c, "rdb_changes_since_last_save") != "0")
        {
            Assert.True(DateTime.UtcNow < deadline, "scheduled save did not run");
            await Task.Delay(20);
        }
        await WaitForBgsaveAsync(c);
        Assert.Single(LoadDump(dump));
    }

    [Fact]
    public async Task SavePointsTriggerABackgroundSave()
    {
        await using var server = await TestServer.StartAsync(("save", "1 2"));
        await using var c = await server.ConnectAsync();
        string dump = Path.Combine(server.DataDir, "dump.rdb");
        await c.CallAsync("SET", "a", "1");
        await Task.Delay(500);
        Assert.False(File.Exists(dump)); // one change: not enough
        await c.CallAsync("SET", "b", "2");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!File.Exists(dump) || await Info(c, "rdb_bgsave_in_progress") != "0")
        {
            Assert.True(DateTime.UtcNow < deadline, "save point did not save");
            await Task.Delay(50);
        }
        Assert.Equal(2, LoadDump(dump).Count);
        Assert.Equal("0", await Info(c, "rdb_changes_since_last_save"));
    }

    [Fact]
    public async Task ShutdownStopsARunningSaveAndSavesInTheForeground()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await PopulateManyAsync(c, 300);
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "100000");
        Assert.Equal("Background saving started", await c.CallTextAsync("BGSAVE"));
        await c.SendAsync("SHUTDOWN");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(300, LoadDump(Path.Combine(server.DataDir, "dump.rdb")).Count);
    }
}
