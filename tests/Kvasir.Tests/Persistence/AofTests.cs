using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// The multi-part AOF: directory layout and manifest as Valkey writes them, loading (RDB and
/// command bases, INCR files, truncated and damaged files, an old single-file AOF), BGREWRITEAOF,
/// CONFIG SET appendonly, DEBUG LOADAOF, everysec, INFO fields.
/// </summary>
public sealed class AofTests
{
    private static string AofDir(TestServer s) => Path.Combine(s.DataDir, "appendonlydir");

    private static string Manifest(TestServer s) => File.ReadAllText(Path.Combine(AofDir(s), "appendonly.aof.manifest"));

    private static async Task<string> Info(RespClient c, string field)
    {
        string info = (await c.CallAsync("INFO", "persistence")).Text!;
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return "";
    }

    private static async Task WaitForRewriteAsync(RespClient c)
    {
        for (int i = 0; i < 500; i++)
        {
            if (await Info(c, "aof_rewrite_in_progress") == "0" && await Info(c, "aof_rewrite_scheduled") == "0") return;
            await Task.Delay(20);
        }
        Assert.Fail("rewrite did not finish");
    }

    private static string TempDir() => Directory.CreateTempSubdirectory("kvasir-aof-").FullName;

    private static byte[] Resp(params string[] argv)
    {
        var sb = new StringBuilder();
        sb.Append('*').Append(argv.Length).Append("\r\n");
        foreach (var a in argv) sb.Append('$').Append(Encoding.UTF8.GetByteCount(a)).Append("\r\n").Append(a).Append("\r\n");
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static void WriteAofDir(string dir, string incr)
    {
        string aofDir = Path.Combine(dir, "appendonlydir");
        Directory.CreateDirectory(aofDir);
        File.WriteAllText(Path.Combine(aofDir, "appendonly.aof.manifest"),
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n");
        File.WriteAllBytes(Path.Combine(aofDir, "appendonly.aof.1.base.aof"), Resp("SELECT", "0").Concat(Resp("SET", "base", "b")).ToArray());
        File.WriteAllText(Path.Combine(aofDir, "appendonly.aof.1.incr.aof"), incr, Encoding.Latin1);
    }

    [Fact]
    public async Task StartCreatesBaseIncrAndManifestAndLogsCommandsWithSelect()
    {
        await using var s = await TestServer.StartAsync(("appendonly", "yes"), ("appendfsync", "always"));
        await using var c = await s.ConnectAsync();
        Assert.Equal("file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n", Manifest(s));
        Assert.StartsWith("REDIS0011", File.ReadAllText(Path.Combine(AofDir(s), "appendonly.aof.1.base.rdb"), Encoding.Latin1));

        await c.CallAsync("SET", "k", "v");
        await c.CallAsync("SELECT", "2");
        await c.CallAsync("SET", "x", "1", "EX", "100");
        await c.CallAsync("MULTI");
        await c.CallAsync("INCR", "x");
        await c.CallAsync("INCR", "x");
        await c.CallAsync("EXEC");
        await c.CallAsync("GET", "x");

        string incr = File.ReadAllText(Path.Combine(AofDir(s), "appendonly.aof.1.incr.aof"), Encoding.Latin1);
        string expected = Encoding.Latin1.GetString(Resp("SELECT", "0").Concat(Resp("SET", "k", "v")).Concat(Resp("SELECT", "2")).ToArray());
        Assert.StartsWith(expected + "*5\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n$4\r\nPXAT\r\n", incr);
        Assert.EndsWith(Encoding.Latin1.GetString(Resp("MULTI").Concat(Resp("INCR", "x")).Concat(Resp("INCR", "x")).Concat(Resp("EXEC")).ToArray()), incr);
        Assert.Equal("1", await Info(c, "aof_enabled"));
        Assert.Equal(new FileInfo(Path.Combine(AofDir(s), "appendonly.aof.1.base.rdb")).Length.ToString(), await Info(c, "aof_base_size"));
        Assert.Equal((new FileInfo(Path.Combine(AofDir(s), "appendonly.aof.1.base.rdb")).Length + incr.Length).ToString(), await Info(c, "aof_current_size"));
    }

    [Fact]
    public async Task RestartLoadsBaseAndIncrFiles()
    {
        string dir = TempDir();
        try
        {
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes")))
            await using (var c = await s.ConnectAsync())
            {
                await c.CallAsync("RPUSH", "l", "a", "b", "c");
                await c.CallAsync("HSET", "h", "f", "v");
                await c.CallAsync("ZADD", "z", "1.5", "m");
                await c.CallAsync("SADD", "s", "1", "2");
                await c.CallAsync("SET", "t", "v", "PX", "100000");
                await c.CallAsync("LPOP", "l");
            }
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes")))
            await using (var c = await s.ConnectAsync())
            {
                Assert.Equal("[b, c]", (await c.CallAsync("LRANGE", "l", "0", "-1")).ToString());
                Assert.Equal("v", await c.CallTextAsync("HGET", "h", "f"));
                Assert.Equal("1.5", await c.CallTextAsync("ZSCORE", "z", "m"));
                Assert.Equal(2, (await c.CallAsync("SCARD", "s")).Integer);
                Assert.InRange((await c.CallAsync("PTTL", "t")).Integer, 1, 100000);
                // Opening, not creating, the INCR file on the second start.
                Assert.Equal("file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n", Manifest(s));
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("yes", "appendonly.aof.2.base.rdb")]
    [InlineData("no", "appendonly.aof.2.base.aof")]
    public async Task BgRewriteAofWritesANewBaseSwapsTheManifestAndDeletesHistory(string preamble, string baseName)
    {
        string dir = TempDir();
        try
        {
            string digest;
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"), ("aof-use-rdb-preamble", preamble), ("enable-debug-command", "yes")))
            await using (var c = await s.ConnectAsync())
            {
                for (int i = 0; i < 200; i++) await c.CallAsync("RPUSH", "list", i.ToString());
                await c.CallAsync("HSET", "h", "a", "1", "b", "2");
                await c.CallAsync("ZADD", "z", "0.1", "x", "inf", "y");
                await c.CallAsync("SET", "e", "1", "EX", "1000");
                Assert.Equal("Background append only file rewriting started", await c.CallTextAsync("BGREWRITEAOF"));
                await c.CallAsync("SET", "after", "rewrite");
                await WaitForRewriteAsync(c);
                Assert.Equal($"file {baseName} seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n", Manifest(s));
                Assert.False(File.Exists(Path.Combine(AofDir(s), "appendonly.aof.1.incr.aof")));
                Assert.False(File.Exists(Path.Combine(AofDir(s), "appendonly.aof.1.base.rdb")));
                Assert.Equal("1", await Info(c, "aof_rewrites"));
                Assert.Equal("ok", await Info(c, "aof_last_bgrewrite_status"));
                string incr = File.ReadAllText(Path.Combine(AofDir(s), "appendonly.aof.2.incr.aof"));
                Assert.Contains("after", incr);
                Assert.DoesNotContain("RPUSH", incr);
                if (preamble == "no")
                    Assert.StartsWith("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n", File.ReadAllText(Path.Combine(AofDir(s), baseName)));
                digest = (await c.CallAsync("DEBUG", "DIGEST")).Text!;
                Assert.Equal(40, digest.Length);
                Assert.Equal("OK", await c.CallTextAsync("DEBUG", "LOADAOF"));
                Assert.Equal(digest, (await c.CallAsync("DEBUG", "DIGEST")).Text);
            }
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"), ("enable-debug-command", "yes")))
            await using (var c = await s.ConnectAsync())
                Assert.Equal(digest, (await c.CallAsync("DEBUG", "DIGEST")).Text);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task ConfigSetAppendonlyTurnsTheAofOnWithARewriteAndOffAgain()
    {
        await using var s = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await s.ConnectAsync();
        await c.CallAsync("SET", "before", "1");
        Assert.Equal("0", await Info(c, "aof_enabled"));
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "appendonly", "yes"));
        await c.CallAsync("SET", "during", "2");
        await WaitForRewriteAsync(c);
        Assert.Equal("file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n", Manifest(s));
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "LOADAOF"));
        Assert.Equal("[1, 2]", (await c.CallAsync("MGET", "before", "during")).ToString());

        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "appendonly", "no"));
        Assert.Equal("0", await Info(c, "aof_enabled"));
        await c.CallAsync("SET", "off", "3");
        Assert.DoesNotContain("off", File.ReadAllText(Path.Combine(AofDir(s), "appendonly.aof.1.incr.aof")));
    }

    [Fact]
    public async Task BgRewriteAofReplies()
    {
        await using var s = await TestServer.StartAsync(("rdb-key-save-delay", "2000"), ("enable-debug-command", "yes"));
        await using var c = await s.ConnectAsync();
        await c.CallAsync("DEBUG", "POPULATE", "200");
        Assert.Equal("Background append only file rewriting started", await c.CallTextAsync("BGREWRITEAOF"));
        Assert.Equal("ERR Background append only file rewriting already in progress", (await c.CallAsync("BGREWRITEAOF")).Text);
        Assert.Equal("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            (await c.CallAsync("BGSAVE")).Text);
        Assert.Equal("1", await Info(c, "aof_rewrite_in_progress"));
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "0");
        await WaitForRewriteAsync(c);
        // With AOF off the rewrite still writes a BASE, and the manifest lists only it.
        Assert.Equal("file appendonly.aof.1.base.rdb seq 1 type b\n", Manifest(s));
    }

    [Fact]
    public async Task TruncatedLastCommandIsDroppedAndTheFileCutWhenAllowed()
    {
        string dir = TempDir();
        try
        {
            string good = Encoding.Latin1.GetString(Resp("SET", "foo", "1").Concat(Resp("INCR", "foo")).ToArray());
            WriteAofDir(dir, good + "*2\r\n$4\r\nINCR\r\n$3\r\nfo");
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes")))
            await using (var c = await s.ConnectAsync())
            {
                Assert.Equal("2", await c.CallTextAsync("GET", "foo"));
                Assert.Equal("b", await c.CallTextAsync("GET", "base"));
                Assert.Equal(good.Length, new FileInfo(Path.Combine(dir, "appendonlydir", "appendonly.aof.1.incr.aof")).Length);
                // Appending after the cut works, and the next start sees it.
                await c.CallAsync("INCR", "foo");
            }
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes")))
            await using (var c = await s.ConnectAsync())
                Assert.Equal("3", await c.CallTextAsync("GET", "foo"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task ScriptsInTheAofWriteOnAReadOnlyReplica()
    {
        string dir = TempDir();
        try
        {
            // Valkey's integration/aof: the AOF replay must obey what it carries, scripts included,
            // even on a read-only replica (mustObeyClient).
            WriteAofDir(dir, Encoding.Latin1.GetString(Resp("SELECT", "9")
                .Concat(Resp("EVAL", "redis.call('set',KEYS[1],'100')", "1", "foo"))
                .Concat(Resp("EVAL", "redis.call('incr',KEYS[1])", "1", "foo"))
                .Concat(Resp("EVAL", "redis.call('incr',KEYS[1])", "1", "foo")).ToArray()));
            await using var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"), ("replica-read-only", "yes"), ("replicaof", "127.0.0.1 1"));
            await using var c = await s.ConnectAsync();
            await c.CallAsync("SELECT", "9");
            Assert.Equal("102", (await c.CallAsync("GET", "foo")).Text);
            Assert.StartsWith("READONLY You can't write against a read only replica.", (await c.CallAsync("EVAL", "return redis.call('incr',KEYS[1])", "1", "foo")).Text);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// DEBUG LOADAOF with a script that runs past lua-time-limit: other clients are let in and
    /// told the server is loading (not -BUSY), and the replay finishes.
    /// </summary>
    [Fact]
    public async Task SlowScriptInTheAofAnswersLoadingToOthers()
    {
        await using var s = await TestServer.StartAsync(("appendonly", "yes"), ("lua-time-limit", "1"), ("aof-use-rdb-preamble", "no"), ("enable-debug-command", "yes"));
        await using var c = await s.ConnectAsync();
        await using var other = await s.ConnectAsync();
        // Scripts are logged by their effects; an AOF written by an older server holds the EVAL itself.
        WriteAofDir(s.DataDir, Encoding.Latin1.GetString(Resp("SELECT", "9")
            .Concat(Resp("EVAL", "redis.call('set',KEYS[1],'y'); for i=1,3000000 do redis.call('ping') end return 'ok'", "1", "x")).ToArray()));
        var loading = c.CallAsync("DEBUG", "LOADAOF");
        string? seen = null;
        for (int i = 0; i < 500 && seen is null; i++)
        {
            var r = (await other.CallAsync("PING")).Text;
            if (r != "PONG") seen = r;
            else if (loading.IsCompleted) break;
        }
        Assert.Equal("LOADING Valkey is loading the dataset in memory", seen);
        Assert.Equal("OK", (await loading).Text);
        await other.CallAsync("SELECT", "9");
        Assert.Equal("y", (await other.CallAsync("GET", "x")).Text);
    }

    [Fact]
    public async Task NothingExpiresWhileTheAofIsReplayed()
    {
        string dir = TempDir();
        try
        {
            // Valkey's integration/aof "AOF+EXPIRE": a past PEXPIREAT only sets the TTL during loading,
            // the next RPUSH still finds the list, and the key is gone once loading is over.
            WriteAofDir(dir, Encoding.Latin1.GetString(Resp("RPUSH", "list", "foo").Concat(Resp("PEXPIREAT", "list", "1000")).Concat(Resp("RPUSH", "list", "bar")).ToArray()));
            await using var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"));
            await using var c = await s.ConnectAsync();
            Assert.Equal(0, (await c.CallAsync("LLEN", "list")).Integer);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task UnfinishedMultiIsRevertedWhenTruncationIsAllowed()
    {
        string dir = TempDir();
        try
        {
            WriteAofDir(dir, Encoding.Latin1.GetString(Resp("SET", "foo", "1").Concat(Resp("MULTI")).Concat(Resp("SET", "foo", "2")).ToArray()));
            await using var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"));
            await using var c = await s.ConnectAsync();
            Assert.Equal("1", await c.CallTextAsync("GET", "foo"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("no", "*2\r\n$4\r\nINCR\r\n$3\r\nfo")]                 // truncated, not allowed
    [InlineData("yes", "*2\r\n$4\r\nINCR\r\n$3\r\nfoo\r\nXX\r\n")]     // garbage after a command
    [InlineData("yes", "*2\r\n#4\r\nINCR\r\n")]                        // damaged argument header
    [InlineData("yes", "*1\r\n$3\r\nbla\r\n")]                         // unknown command
    public async Task DamagedOrTruncatedFilesStopTheStart(string loadTruncated, string tail)
    {
        string dir = TempDir();
        try
        {
            WriteAofDir(dir, Encoding.Latin1.GetString(Resp("SET", "foo", "1")) + tail);
            await Assert.ThrowsAsync<InvalidOperationException>(async () =>
                await TestServer.StartInDirAsync(dir, ("appendonly", "yes"), ("aof-load-truncated", loadTruncated)));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task BadManifestStopsTheStart()
    {
        string dir = TempDir();
        try
        {
            WriteAofDir(dir, "");
            File.WriteAllText(Path.Combine(dir, "appendonlydir", "appendonly.aof.manifest"), "file appendonly.aof.1.base.aof seq 1\n");
            await Assert.ThrowsAsync<InvalidOperationException>(async () => await TestServer.StartInDirAsync(dir, ("appendonly", "yes")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task OldSingleFileAofIsMovedIntoTheDirectoryAsTheBase()
    {
        string dir = TempDir();
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "appendonly.aof"), Resp("SELECT", "0").Concat(Resp("SET", "old", "style")).Concat(Resp("RPUSH", "l", "x")).ToArray());
            await using var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"));
            await using var c = await s.ConnectAsync();
            Assert.Equal("style", await c.CallTextAsync("GET", "old"));
            Assert.False(File.Exists(Path.Combine(dir, "appendonly.aof")));
            Assert.True(File.Exists(Path.Combine(dir, "appendonlydir", "appendonly.aof")));
            Assert.Equal("file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n", Manifest(s));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task OldSingleFileAofWithRdbPreambleLoadsItsTail()
    {
        string dir = TempDir();
        try
        {
            // An RDB image (SAVE of a server) followed by commands: the layout of Redis 4-6 AOFs with a preamble.
            await using (var s = await TestServer.StartInDirAsync(dir))
            await using (var c = await s.ConnectAsync())
            {
                await c.CallAsync("SET", "fromrdb", "1");
                await c.CallAsync("SAVE");
            }
            var bytes = File.ReadAllBytes(Path.Combine(dir, "dump.rdb")).Concat(Resp("SET", "fromtail", "2")).ToArray();
            File.Delete(Path.Combine(dir, "dump.rdb"));
            File.WriteAllBytes(Path.Combine(dir, "appendonly.aof"), bytes);
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes")))
            await using (var c = await s.ConnectAsync())
                Assert.Equal("[1, 2]", (await c.CallAsync("MGET", "fromrdb", "fromtail")).ToString());
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task EverysecWritesBeforeTheReplyAndFsyncsInTheBackground()
    {
        await using var s = await TestServer.StartAsync(("appendonly", "yes"), ("appendfsync", "everysec"));
        await using var c = await s.ConnectAsync();
        for (int i = 0; i < 50; i++) await c.CallAsync("SET", "k" + i, "v");
        // Acknowledged means handed to the OS: another reader of the file sees it at once.
        string incr = File.ReadAllText(Path.Combine(AofDir(s), "appendonly.aof.1.incr.aof"));
        Assert.Contains("$3\r\nk49\r\n", incr);
        Assert.Equal("ok", await Info(c, "aof_last_write_status"));
    }

    [Fact]
    public async Task AutomaticRewriteOnGrowth()
    {
        await using var s = await TestServer.StartAsync(("appendonly", "yes"), ("auto-aof-rewrite-min-size", "1000"), ("auto-aof-rewrite-percentage", "100"));
        await using var c = await s.ConnectAsync();
        for (int i = 0; i < 100; i++) await c.CallAsync("SET", "key", new string('x', 100));
        for (int i = 0; i < 1000 && await Info(c, "aof_rewrites") == "0"; i++) await Task.Delay(20);
        Assert.NotEqual("0", await Info(c, "aof_rewrites"));
        await WaitForRewriteAsync(c);
        Assert.Contains("appendonly.aof.2.base.rdb", Manifest(s));
    }

    [Fact]
    public async Task ValkeyManifestSyntaxIsParsedWithItsChecks()
    {
        var m = Kvasir.Persistence.Aof.AofManifest.Parse(
            "# comment\nfile appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile \"a b.aof\" seq 3 type i\nfile appendonly.aof.4.incr.aof seq 4 type i\n");
        Assert.Equal("appendonly.aof.2.base.rdb", m.Base!.Name);
        Assert.Single(m.History);
        Assert.Equal(new[] { "a b.aof", "appendonly.aof.4.incr.aof" }, m.Incrs.Select(i => i.Name));
        Assert.Equal("file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.1.incr.aof seq 1 type h\nfile \"a b.aof\" seq 3 type i\nfile appendonly.aof.4.incr.aof seq 4 type i\n", m.Format());
        string Error(string text) => Assert.Throws<Kvasir.Persistence.Aof.AofManifestException>(() => Kvasir.Persistence.Aof.AofManifest.Parse(text)).Message;
        Assert.Equal("Found an empty AOF manifest", Error(""));
        Assert.Equal("Invalid AOF manifest file format", Error("file a seq 1\n"));
        Assert.Equal("Found a non-monotonic sequence number", Error("file a seq 2 type i\nfile b seq 1 type i\n"));
        Assert.Equal("Found duplicate base file information", Error("file a seq 1 type b\nfile b seq 2 type b\n"));
        Assert.Equal("Unknown AOF file type", Error("file a seq 1 type x\n"));
        Assert.Equal("File can't be a path, just a filename", Error("file ../a seq 1 type i\n"));
        Assert.Equal("The AOF manifest file contains too long line", Error("file a seq 1 type i"));
    }

    [Theory]
    [InlineData("always")]
    [InlineData("everysec")]
    public async Task ConcurrentPipelinedWritersAllReachTheFileInOrder(string policy)
    {
        // Many connections at once make group commit rounds overlap (a connection leads a round,
        // the others wait for it or for the thread's next one): every reply must arrive, in order,
        // and the file must hold every write once.
        await using var s = await TestServer.StartAsync(("appendonly", "yes"), ("appendfsync", policy), ("enable-debug-command", "yes"));
        const int clients = 16, rounds = 20, depth = 8;
        var tasks = Enumerable.Range(0, clients).Select(async id =>
        {
            await using var c = await s.ConnectAsync();
            long last = 0;
            for (int r = 0; r < rounds; r++)
            {
                var batch = new List<byte>();
                for (int i = 0; i < depth; i++) batch.AddRange(RespClient.Encode("INCR", $"counter:{id}"));
                batch.AddRange(RespClient.Encode("INCR", "shared"));
                await c.SendRawAsync(batch.ToArray());
                for (int i = 0; i < depth; i++)
                {
                    var v = await c.ReadAsync();
                    Assert.Equal(++last, v.Integer);
                }
                Assert.Equal(':', (await c.ReadAsync()).Kind);
            }
        }).ToArray();
        await Task.WhenAll(tasks);

        await using var check = await s.ConnectAsync();
        Assert.Equal("OK", await check.CallTextAsync("DEBUG", "LOADAOF"));
        Assert.Equal((clients * rounds).ToString(), await check.CallTextAsync("GET", "shared"));
        for (int id = 0; id < clients; id++)
            Assert.Equal((rounds * depth).ToString(), await check.CallTextAsync("GET", $"counter:{id}"));
    }
}
