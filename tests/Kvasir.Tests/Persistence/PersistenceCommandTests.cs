using Kvasir.Config;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>SAVE, LASTSAVE, the startup load, SHUTDOWN and FLUSHALL saves, DEBUG RELOAD — over TCP.</summary>
public sealed class PersistenceCommandTests
{
    /// <summary>Writes one key of every type and encoding through commands.</summary>
    internal static async Task PopulateAsync(RespClient c)
    {
        Assert.Equal("OK", await c.CallTextAsync("SET", "str", "hello"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "num", "42"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "big", new string('x', 5000)));
        Assert.Equal("OK", await c.CallTextAsync("SET", "ttl", "v", "PX", "3600000"));
        await c.CallAsync("RPUSH", "list:small", "a", "b", "1", "2");
        for (int i = 0; i < 300; i++) await c.CallAsync("RPUSH", "list:large", "element-" + i + new string('e', 40));
        await c.CallAsync("SADD", "set:ints", "1", "2", "3", "-100");
        await c.CallAsync("SADD", "set:small", "a", "b", "c");
        for (int i = 0; i < 200; i++) await c.CallAsync("SADD", "set:large", "m" + i);
        await c.CallAsync("HSET", "hash:small", "f1", "v1", "f2", "2");
        for (int i = 0; i < 600; i++) await c.CallAsync("HSET", "hash:large", "f" + i, "v" + i);
        await c.CallAsync("ZADD", "zset:small", "1", "a", "2.5", "b", "-inf", "c");
        for (int i = 0; i < 200; i++) await c.CallAsync("ZADD", "zset:large", i.ToString(), "m" + i);
        await c.CallAsync("SELECT", "9");
        await c.CallAsync("SET", "in-db-9", "yes");
        await c.CallAsync("SELECT", "0");
    }

    /// <summary>Everything PopulateAsync wrote, as seen through commands (type, encoding, content, TTL).</summary>
    internal static async Task<List<string>> DescribeAsync(RespClient c, bool withEncodings = true)
    {
        var lines = new List<string>();
        foreach (var key in new[] { "str", "num", "big", "ttl", "list:small", "list:large", "set:ints", "set:small", "set:large", "hash:small", "hash:large", "zset:small", "zset:large" })
        {
            string type = (await c.CallTextAsync("TYPE", key))!;
            string enc = withEncodings ? (await c.CallTextAsync("OBJECT", "ENCODING", key))! : "-";
            RespValue content = type switch
            {
                "string" => await c.CallAsync("GET", key),
                "list" => await c.CallAsync("LRANGE", key, "0", "-1"),
                "set" => await c.CallAsync("SMEMBERS", key),
                "hash" => await c.CallAsync("HGETALL", key),
                _ => await c.CallAsync("ZRANGE", key, "0", "-1", "WITHSCORES"),
            };
            var items = content.Items?.Select(i => i.Text ?? "").ToList() ?? new List<string> { content.Text ?? "" };
            if (type == "set") items.Sort(StringComparer.Ordinal);
            if (type == "hash")
                items = items.Chunk(2).Select(p => p[0] + "=" + p[1]).OrderBy(s => s, StringComparer.Ordinal).ToList();
            long pttl = (await c.CallAsync("PTTL", key)).Integer;
            lines.Add($"{key} {type} {enc} ttl={(pttl < 0 ? pttl.ToString() : "set")} {string.Join(",", items)}");
        }
        await c.CallAsync("SELECT", "9");
        lines.Add("db9 " + await c.CallTextAsync("GET", "in-db-9"));
        await c.CallAsync("SELECT", "0");
        return lines;
    }

    private static async Task<string?> InfoField(RespClient c, string field)
    {
        var info = await c.CallTextAsync("INFO", "persistence");
        foreach (var line in info!.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return null;
    }

    [Fact]
    public async Task SaveWritesAFileTheNextServerLoads()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-persist-").FullName;
        try
        {
            List<string> before;
            await using (var first = await TestServer.StartInDirAsync(dir, ("enable-debug-command", "yes")))
            {
                await using var c = await first.ConnectAsync();
                await PopulateAsync(c);
                Assert.NotEqual("0", await InfoField(c, "rdb_changes_since_last_save"));
                long lastSaveBefore = (await c.CallAsync("LASTSAVE")).Integer;
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
                Assert.True((await c.CallAsync("LASTSAVE")).Integer >= lastSaveBefore);
                Assert.Equal("0", await InfoField(c, "rdb_changes_since_last_save"));
                Assert.Equal("1", await InfoField(c, "rdb_saves"));
                Assert.True(File.Exists(Path.Combine(dir, "dump.rdb")));
                Assert.Empty(Directory.GetFiles(dir, "temp-*.rdb"));
                before = await DescribeAsync(c);
            }
            await using var second = await TestServer.StartInDirAsync(dir);
            await using var c2 = await second.ConnectAsync();
            Assert.Equal(before, await DescribeAsync(c2));
            Assert.Equal("14", await InfoField(c2, "rdb_last_load_keys_loaded"));
            Assert.Equal("0", await InfoField(c2, "rdb_changes_since_last_save"));
            Assert.Equal(13L, (await c2.CallAsync("DBSIZE")).Integer);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task DebugReloadKeepsEverything()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await PopulateAsync(c);
        var before = await DescribeAsync(c);
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD"));
        Assert.Equal(before, await DescribeAsync(c));

        Assert.Equal("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
            (await c.CallAsync("DEBUG", "RELOAD", "FAST")).Text);

        // NOSAVE loads the file as it is: a key written since the last save disappears.
        await c.CallAsync("SET", "after-save", "1");
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD", "NOSAVE"));
        Assert.Equal(0L, (await c.CallAsync("EXISTS", "after-save")).Integer);

        // NOFLUSH MERGE: keys of the file replace the live ones, other live keys stay.
        await c.CallAsync("SET", "str", "changed");
        await c.CallAsync("SET", "only-live", "1");
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"));
        Assert.Equal("hello", await c.CallTextAsync("GET", "str"));
        Assert.Equal("1", await c.CallTextAsync("GET", "only-live"));

        File.Delete(Path.Combine(server.DataDir, "dump.rdb"));
        Assert.Equal("ERR Error trying to load the RDB dump, check server logs.", (await c.CallAsync("DEBUG", "RELOAD", "NOSAVE")).Text);
    }

    [Fact]
    public async Task SaveFailureRepliesErr()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        server.Server.Config.Dir = Path.Combine(server.DataDir, "no-such-dir");
        var reply = await c.CallAsync("SAVE");
        Assert.True(reply.IsError);
        Assert.Equal("ERR", reply.Text);
    }

    [Fact]
    public async Task ShutdownSavesWhenSavePointsAreConfigured()
    {
        await using (var server = await TestServer.StartAsync())
        {
            await using var c = await server.ConnectAsync();
            await c.CallAsync("SET", "k", "v");
            await c.SendAsync("SHUTDOWN");
            Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
            Assert.True(File.Exists(Path.Combine(server.DataDir, "dump.rdb")));
        }
        await using (var server = await TestServer.StartAsync(("save", "")))
        {
            await using var c = await server.ConnectAsync();
            await c.CallAsync("SET", "k", "v");
            await c.SendAsync("SHUTDOWN");
            Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
            Assert.False(File.Exists(Path.Combine(server.DataDir, "dump.rdb")));
        }
        await using (var server = await TestServer.StartAsync(("save", "")))
        {
            await using var c = await server.ConnectAsync();
            await c.SendAsync("SHUTDOWN", "SAVE");
            Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
            Assert.True(File.Exists(Path.Combine(server.DataDir, "dump.rdb")));
        }
        await using (var server = await TestServer.StartAsync())
        {
            await using var c = await server.ConnectAsync();
            await c.SendAsync("SHUTDOWN", "NOSAVE");
            Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
            Assert.False(File.Exists(Path.Combine(server.DataDir, "dump.rdb")));
        }
    }

    [Fact]
    public async Task FlushAllSavesAnEmptySnapshotWhenSavePointsAreConfigured()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "k", "v");
        Assert.Equal("OK", await c.CallTextAsync("FLUSHALL"));
        Assert.True(File.Exists(Path.Combine(server.DataDir, "dump.rdb")));
        Assert.Equal("0", await InfoField(c, "rdb_changes_since_last_save"));

        await using var noSave = await TestServer.StartAsync(("save", ""));
        await using var c2 = await noSave.ConnectAsync();
        await c2.CallAsync("SET", "k", "v");
        await c2.CallAsync("FLUSHALL");
        Assert.False(File.Exists(Path.Combine(noSave.DataDir, "dump.rdb")));
        Assert.NotEqual("0", await InfoField(c2, "rdb_changes_since_last_save"));
    }

    /// <summary>
    /// As Valkey, the ports open before the dump file is read: a client that connects meanwhile gets
    /// -LOADING (PING included), INFO answers with loading:1 and the loading_* fields, and once the
    /// load is done the data is there.
    /// </summary>
    [Fact]
    public async Task StartupLoadAnswersLoadingWhileTheDumpIsRead()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-startload-").FullName;
        try
        {
            await using (var first = await TestServer.StartInDirAsync(dir, ("enable-debug-command", "yes")))
            {
                await using var c = await first.ConnectAsync();
                Assert.Equal("OK", await c.CallTextAsync("DEBUG", "POPULATE", "2000"));
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
            }
            var config = new ServerConfig { Dir = dir };
            config.Set("port", "0", atStartup: true);
            config.Set("bind", "127.0.0.1", atStartup: true);
            config.Set("loglevel", "warning", atStartup: true);
            config.Set("key-load-delay", "1000", atStartup: true); // 2000 keys: about two seconds
            config.Set("loading-process-events-interval-bytes", "1024", atStartup: true);
            var server = new KvasirServer(config);
            var starting = server.StartAsync();
            try
            {
                for (int i = 0; i < 200 && server.BoundPort == 0; i++) await Task.Delay(10);
                await using var c = await RespClient.ConnectAsync("127.0.0.1", server.BoundPort);
                string? ping = null;
                for (int i = 0; i < 100 && ping != "LOADING Valkey is loading the dataset in memory"; i++)
                {
                    ping = (await c.CallAsync("PING")).Text;
                    if (ping != "LOADING Valkey is loading the dataset in memory") await Task.Delay(10);
                }
                Assert.Equal("LOADING Valkey is loading the dataset in memory", ping);
                Assert.False(starting.IsCompleted);
                string info = (await c.CallAsync("INFO", "persistence")).Text!;
                Assert.Contains("loading:1\r\n", info);
                Assert.Contains("loading_loaded_bytes:", info);
                Assert.Equal("LOADING Valkey is loading the dataset in memory", (await c.CallAsync("GET", "key:1")).Text);
                await starting;
                Assert.Equal("PONG", (await c.CallAsync("PING")).Text);
                Assert.Equal(2000, (await c.CallAsync("DBSIZE")).Integer);
                Assert.Equal("value:1", (await c.CallAsync("GET", "key:1")).Text);
                Assert.Contains("loading:0\r\n", (await c.CallAsync("INFO", "persistence")).Text!);
            }
            finally
            {
                await server.StopAsync();
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>A server built by hand so its startup log can be captured.</summary>
    private static async Task<(KvasirServer Server, List<string> Log, Exception? Error)> StartWithLogAsync(string dir, string dbfilename)
    {
        var config = new ServerConfig();
        config.Dir = dir;
        config.Set("port", "0", atStartup: true);
        config.Set("bind", "127.0.0.1", atStartup: true);
        config.Set("dbfilename", dbfilename, atStartup: true);
        var server = new KvasirServer(config);
        var log = new List<string>();
        server.Log.UseFile(Path.Combine(dir, "server.log"));
        server.Log.Sink = line => { lock (log) log.Add(line); };
        try
        {
            await server.StartAsync();
            return (server, log, null);
        }
        catch (InvalidOperationException e)
        {
            await server.StopAsync();
            return (server, log, e);
        }
    }

    [Fact]
    public async Task StartupLoadLogsLikeValkey()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-persist-").FullName;
        try
        {
            File.Copy(Path.Combine(RdbTestKit.FixtureDir, "encodings.rdb"), Path.Combine(dir, "encodings.rdb"));
            var (server, log, error) = await StartWithLogAsync(dir, "encodings.rdb");
            await using (server)
            {
                Assert.Null(error);
                Assert.Contains(log, l => l.EndsWith("* Done loading RDB, keys loaded: 13, keys expired: 0.", StringComparison.Ordinal));
                Assert.Contains(log, l => l.Contains("* DB loaded from disk: ", StringComparison.Ordinal) && l.EndsWith(" seconds", StringComparison.Ordinal));
                await using var c = await RespClient.ConnectAsync("127.0.0.1", server.BoundPort);
                Assert.Equal(13L, (await c.CallAsync("DBSIZE")).Integer);
                Assert.Equal("quicklist", await c.CallTextAsync("OBJECT", "ENCODING", "list_zipped"));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task StartupLoadOfARedisFileLogsLikeValkey()
    {
        // The case of encodings.rdb on a file Debian's redis-server writes now (runs in any clone).
        var (rdb, version, _) = await RedisWrittenFiles.SaveAsync(RedisWrittenFiles.PopulateEncodingsAsync);
        var dir = Directory.CreateTempSubdirectory("kvasir-persist-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "from-redis.rdb"), rdb);
            var (server, log, error) = await StartWithLogAsync(dir, "from-redis.rdb");
            await using (server)
            {
                Assert.Null(error);
                Assert.Contains(log, l => l.EndsWith("* Loading RDB produced by Redis version " + version, StringComparison.Ordinal));
                Assert.Contains(log, l => l.EndsWith("* Done loading RDB, keys loaded: 13, keys expired: 0.", StringComparison.Ordinal));
                Assert.Contains(log, l => l.Contains("* DB loaded from disk: ", StringComparison.Ordinal) && l.EndsWith(" seconds", StringComparison.Ordinal));
                await using var c = await RespClient.ConnectAsync("127.0.0.1", server.BoundPort);
                Assert.Equal(13L, (await c.CallAsync("DBSIZE")).Integer);
                // Written as a quicklist and a hashtable set; Valkey 8 loads both small ones as listpacks.
                Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "list_zipped"));
                Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "set"));
                Assert.Equal("intset", await c.CallTextAsync("OBJECT", "ENCODING", "set_zipped_3"));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task CorruptZiplistFixtureStopsTheStart()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-persist-").FullName;
        try
        {
            File.Copy(Path.Combine(RdbTestKit.FixtureDir, "corrupt_ziplist.rdb"), Path.Combine(dir, "corrupt_ziplist.rdb"));
            var (_, log, error) = await StartWithLogAsync(dir, "corrupt_ziplist.rdb");
            Assert.NotNull(error);
            Assert.Contains(log, l => l.Contains("# Internal error in RDB reading offset ", StringComparison.Ordinal) &&
                                      l.EndsWith("Hash ziplist integrity check failed.", StringComparison.Ordinal));
            Assert.Contains(log, l => l.EndsWith("# Terminating server after rdb file reading failure.", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task CorruptFileStopsTheStart()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-persist-").FullName;
        try
        {
            // A file of redis-server 7 whose hash listpack lost its end marker (valkey-server logs the same two lines).
            File.WriteAllBytes(Path.Combine(dir, "corrupt.rdb"), await RedisWrittenFiles.CorruptListpackAsync());
            var (_, log, error) = await StartWithLogAsync(dir, "corrupt.rdb");
            Assert.NotNull(error);
            Assert.Contains(log, l => l.Contains("# Internal error in RDB reading offset ", StringComparison.Ordinal) &&
                                      l.EndsWith("Hash listpack integrity check failed.", StringComparison.Ordinal));
            Assert.Contains(log, l => l.EndsWith("# Terminating server after rdb file reading failure.", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task BadSignatureOrTruncatedFileStopsTheStart()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-persist-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "bad.rdb"), "NOTREDIS0011"u8.ToArray());
            var (_, log, error) = await StartWithLogAsync(dir, "bad.rdb");
            Assert.NotNull(error);
            Assert.Contains(log, l => l.EndsWith("# Wrong signature trying to load DB from file", StringComparison.Ordinal));
            Assert.Contains(log, l => l.EndsWith("# Fatal error loading the DB, check server logs. Exiting.", StringComparison.Ordinal));
            Assert.Contains(log, l => l.Contains($"RDB file {Path.Combine(dir, "bad.rdb")} cannot be loaded: Wrong signature", StringComparison.Ordinal));

            // A truncated file: the log names the file and the byte offset, and the start fails
            // rather than serving the keys read before the cut.
            var kit = new RdbTestKit();
            for (int i = 0; i < 1000; i++) kit.Databases[0].SetString(System.Text.Encoding.UTF8.GetBytes("key:" + i), System.Text.Encoding.UTF8.GetBytes("value-" + i));
            var image = kit.Save();
            File.WriteAllBytes(Path.Combine(dir, "cut.rdb"), image[..(image.Length / 2)]);
            (_, log, error) = await StartWithLogAsync(dir, "cut.rdb");
            Assert.NotNull(error);
            Assert.Contains(log, l => l.EndsWith("# Short read or OOM loading DB. Unrecoverable error, aborting now.", StringComparison.Ordinal));
            Assert.Contains(log, l => l.Contains($"RDB file {Path.Combine(dir, "cut.rdb")} cannot be loaded: Unexpected EOF reading RDB file at byte offset {image.Length / 2}", StringComparison.Ordinal) &&
                                      l.EndsWith("Nothing was loaded.", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task EmptyKeysAreSkippedAtStartup()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-persist-").FullName;
        try
        {
            File.Copy(Path.Combine(RdbTestKit.FixtureDir, "corrupt_empty_keys.rdb"), Path.Combine(dir, "corrupt_empty_keys.rdb"));
            var (server, log, error) = await StartWithLogAsync(dir, "corrupt_empty_keys.rdb");
            await using (server)
            {
                Assert.Null(error);
                Assert.Contains(log, l => l.EndsWith("* rdbLoadObject skipping empty key: list_quicklist_empty_ziplist", StringComparison.Ordinal));
                Assert.Contains(log, l => l.EndsWith("* Done loading RDB, keys loaded: 0, keys expired: 0, empty keys skipped: 9.", StringComparison.Ordinal));
                await using var c = await RespClient.ConnectAsync("127.0.0.1", server.BoundPort);
                Assert.Equal(0L, (await c.CallAsync("DBSIZE")).Integer);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
