using System.Text;
using Kvasir.Config;
using Kvasir.Persistence;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// The cases of <see cref="RdbFixtureTests"/> on files that Debian's redis-server 7 writes during the
/// test (<see cref="RedisWrittenFiles"/>), so they run in any clone. Expected contents and encodings
/// are what valkey-server 8 reports after loading the same files.
/// </summary>
public sealed class RedisWrittenRdbTests
{
    [Fact]
    public async Task EveryKindOfKeyLoadsAsValkeyLoadsIt()
    {
        var (rdb, version, rdbVersion) = await RedisWrittenFiles.SaveAsync(RedisWrittenFiles.PopulateEncodingsAsync);
        var kit = new RdbTestKit();
        var result = kit.Load(rdb);
        Assert.Equal(rdbVersion, result.Version);
        Assert.Equal(13, result.KeysLoaded);
        string list = "1 2 3 a b c 100000 6000000000";
        // Redis 7.0 wrote quicklists and a hashtable set; small ones become listpacks on load, as in Valkey 8.
        Assert.Equal(new[]
        {
            "db0 compressible string raw: " + new string('a', 137),
            "db0 hash hash listpack: a=1 aa=10 aaa=100 b=2 bb=20 bbb=200 c=3 cc=30 ccc=300 ddd=400 eee=5000000000",
            "db0 hash_zipped hash listpack: a=1 b=2 c=3",
            $"db0 list list listpack: {list} {list} {list}",
            $"db0 list_zipped list listpack: {list}",
            "db0 number string int: 10",
            "db0 set set listpack: 1 100000 2 3 6000000000 a b c",
            "db0 set_zipped_1 set intset: 1 2 3 4",
            "db0 set_zipped_2 set intset: 100000 200000 300000 400000",
            "db0 set_zipped_3 set intset: 1000000000 2000000000 3000000000 4000000000 5000000000 6000000000",
            "db0 string string embstr: Hello World",
            "db0 zset zset listpack: a:1 b:2 c:3 aa:10 bb:20 cc:30 aaa:100 bbb:200 ccc:300 aaaa:1000 cccc:123456789 bbbb:5000000000",
            "db0 zset_zipped zset listpack: a:1 b:2 c:3",
        }, kit.Dump());
        Assert.True(kit.Logged("Loading RDB produced by Redis version " + version));
        Assert.True(kit.Logged("Done loading RDB, keys loaded: 13, keys expired: 0."));
        AssertSurvivesAWriteAndReadBack(kit);
    }

    [Fact]
    public async Task ListpackHashConvertsWhenPastTheThresholds()
    {
        // The cases of hash-zipmap.rdb and hash-ziplist.rdb, with the listpack that replaced both.
        var (rdb, _, _) = await RedisWrittenFiles.SaveAsync(c => c.CallAsync("HSET", "hash", "f1", "v1", "f2", "v2"));
        var kit = new RdbTestKit();
        kit.Load(rdb);
        Assert.Equal(new[] { "db0 hash hash listpack: f1=v1 f2=v2" }, kit.Dump());
        AssertSurvivesAWriteAndReadBack(kit);

        foreach (var (name, value) in new[] { ("hash-max-ziplist-entries", "1"), ("hash-max-ziplist-value", "1") })
        {
            var config = new ServerConfig();
            config.Set(name, value, atStartup: true);
            kit = new RdbTestKit(config);
            kit.Load(rdb);
            Assert.Equal(new[] { "db0 hash hash hashtable: f1=v1 f2=v2" }, kit.Dump());
        }
    }

    [Fact]
    public async Task BigEncodingsThatFitTheLimitsLoadAsListpacks()
    {
        // Written as a hashtable hash and a skiplist zset (RDB types 4 and 5): small enough for
        // this server's limits, so Valkey loads them as listpacks; scores keep their infinities.
        var (rdb, _, _) = await RedisWrittenFiles.SaveAsync(async c =>
        {
            await c.CallAsync("HSET", "hash", "f1", "v1", "f2", "v2");
            await c.CallAsync("ZADD", "zset", "1.5", "one", "-inf", "low", "inf", "high", "2", "two");
        }, "--hash-max-listpack-entries", "0", "--zset-max-listpack-entries", "0");
        var kit = new RdbTestKit();
        kit.Load(rdb);
        Assert.Equal(new[]
        {
            "db0 hash hash listpack: f1=v1 f2=v2",
            "db0 zset zset listpack: low:-inf one:1.5 two:2 high:inf",
        }, kit.Dump());
        AssertSurvivesAWriteAndReadBack(kit);
    }

    [Fact]
    public async Task ListpackZsetConvertsWhenPastTheThresholds()
    {
        var (rdb, _, _) = await RedisWrittenFiles.SaveAsync(c => c.CallAsync("ZADD", "zset", "1", "one", "2", "two"));
        var kit = new RdbTestKit();
        kit.Load(rdb);
        Assert.Equal(new[] { "db0 zset zset listpack: one:1 two:2" }, kit.Dump());

        var config = new ServerConfig();
        config.Set("zset-max-ziplist-entries", "1", atStartup: true);
        kit = new RdbTestKit(config);
        kit.Load(rdb);
        Assert.Equal(new[] { "db0 zset zset skiplist: one:1 two:2" }, kit.Dump());
    }

    [Fact]
    public async Task QuicklistsWithPlainAndCompressedNodes()
    {
        // As list-quicklist.rdb (a one-node quicklist becomes a listpack) and the Valkey-written
        // quicklists of RdbFixtureTests: LZF-compressed listpack nodes, and a plain node for an
        // element past DEBUG QUICKLIST-PACKED-THRESHOLD.
        var items = Enumerable.Range(1, 30).Select(i => $"item-{i}-" + new string('a', 41)).ToArray();
        var (rdb, _, _) = await RedisWrittenFiles.SaveAsync(async c =>
        {
            Assert.Equal("OK", await c.CallTextAsync("DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"));
            await c.CallAsync("RPUSH", "small", "7");
            foreach (var item in items) await c.CallAsync("RPUSH", "compressed", item);
            await c.CallAsync("RPUSH", "plainlist", "a", "b", "c", "d", "e", new string('P', 150), "f", "g");
        }, "--list-compress-depth", "1", "--list-max-listpack-size", "4");
        var kit = new RdbTestKit();
        kit.Load(rdb);
        Assert.Equal(new[]
        {
            "db0 compressed list quicklist: " + string.Join(" ", items),
            "db0 plainlist list quicklist: a b c d e " + new string('P', 150) + " f g",
            "db0 small list listpack: 7",
        }, kit.Dump());
        AssertSurvivesAWriteAndReadBack(kit);
    }

    [Fact]
    public async Task CorruptListpackIsRefusedAtTheSameKey()
    {
        // valkey-server on the same file: "Internal error in RDB reading offset 0, function at
        // rdb.c:... -> Hash listpack integrity check failed.", reading key 'hkey'.
        var rdb = await RedisWrittenFiles.CorruptListpackAsync();
        var kit = new RdbTestKit();
        var e = Assert.Throws<RdbException>(() => kit.Load(rdb));
        Assert.Equal("Hash listpack integrity check failed.", e.Message);
        Assert.Equal("hkey", e.Key);
        Assert.Equal(16, e.TypeId);
        Assert.True(e.IsCorruption);
    }

    [Fact]
    public async Task AofBaseWithItsIncrementStopsAtTheChecksum()
    {
        // What Redis 4-6 wrote as one AOF file (an RDB preamble, then commands) is in Redis 7 a base
        // RDB and an incremental file: their concatenation is the old layout, as rdb-preamble.aof.
        await using var writer = await RedisWrittenFiles.StartAsync("--appendonly", "yes", "--aof-use-rdb-preamble", "yes");
        var c = writer.Client;
        await c.CallAsync("SET", "k1", "v1");
        await c.CallAsync("SET", "k2", "v2");
        Assert.Equal("Background append only file rewriting started", await c.CallTextAsync("BGREWRITEAOF"));
        var aofDir = Path.Combine(writer.Dir, "appendonlydir");
        string baseFile = "", incrFile = "";
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            string info = (await c.CallTextAsync("INFO", "persistence"))!;
            var manifest = File.ReadAllLines(Path.Combine(aofDir, "appendonly.aof.manifest"));
            baseFile = manifest.Select(l => l.Split(' ')).FirstOrDefault(f => f[^1] == "b")?[1] ?? "";
            incrFile = manifest.Select(l => l.Split(' ')).LastOrDefault(f => f[^1] == "i")?[1] ?? "";
            if (info.Contains("aof_rewrite_in_progress:0") && !info.Contains("aof_rewrite_scheduled:1") && baseFile.EndsWith(".rdb", StringComparison.Ordinal)) break;
            Assert.True(DateTime.UtcNow < deadline, "BGREWRITEAOF did not finish: " + info);
            await Task.Delay(50);
        }
        await c.CallAsync("SET", "k3", "v3");
        var payload = File.ReadAllBytes(Path.Combine(aofDir, baseFile)).Concat(File.ReadAllBytes(Path.Combine(aofDir, incrFile))).ToArray();

        var kit = new RdbTestKit();
        var result = kit.Load(payload);
        Assert.Equal(new[] { "db0 k1 string embstr: v1", "db0 k2 string embstr: v2" }, kit.Dump());
        Assert.True(kit.Logged("RDB is base AOF"));
        Assert.Equal("*2\r\n$6\r\nSELECT", Encoding.ASCII.GetString(payload, (int)result.BytesRead, 14));

        // And the directory itself (manifest, base RDB, increment) is what Kvasir starts from.
        var copy = Directory.CreateTempSubdirectory("kvasir-redis-aof-").FullName;
        try
        {
            var into = Directory.CreateDirectory(Path.Combine(copy, "appendonlydir")).FullName;
            foreach (var file in Directory.GetFiles(aofDir)) File.Copy(file, Path.Combine(into, Path.GetFileName(file)));
            await using var kvasir = await Infrastructure.TestServer.StartInDirAsync(copy, ("appendonly", "yes"));
            await using var k = await kvasir.ConnectAsync();
            Assert.Equal("[v1, v2, v3]", (await k.CallAsync("MGET", "k1", "k2", "k3")).ToString());
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    /// <summary>
    /// What was loaded is written again by Kvasir and read back the same. Lists are compared without
    /// their encoding: Kvasir regroups a loaded list by its own list-max-listpack-size, so a list
    /// whose file had small nodes but that fits one node comes back as a listpack (Valkey keeps the
    /// file's nodes until the list changes).
    /// </summary>
    private static void AssertSurvivesAWriteAndReadBack(RdbTestKit kit)
    {
        var copy = new RdbTestKit();
        copy.Load(kit.Save());
        static string Normalize(string line) => line.Replace(" list quicklist:", " list listpack:");
        Assert.Equal(kit.Dump().Select(Normalize), copy.Dump().Select(Normalize));
    }
}
