using Kvasir.Config;
using Kvasir.Persistence;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// The RDB files in ../shared/reference/rdb (written by real Redis/Valkey servers, the same files
/// Valkey's own test suite loads). Expected contents and encodings are what valkey-server 8 reports
/// after loading each file; the corrupt ones fail or are skipped as Valkey does. Without the files
/// (a clone outside the project's workspace) each test skips; <see cref="RedisWrittenRdbTests"/>
/// covers what a current server can still write on files made during the test.
/// </summary>
public sealed class RdbFixtureTests
{
    [Fact]
    public void EncodingsRdbHasEveryOldEncoding()
    {
        // RDB 4 (Redis 2.4): zipmap hash, ziplist list and zset, intsets of all widths, linked types.
        var kit = new RdbTestKit();
        var result = kit.Load(RdbTestKit.Fixture("encodings.rdb"));
        Assert.Equal(4, result.Version);
        Assert.Equal(13, result.KeysLoaded);
        string list = "1 2 3 a b c 100000 6000000000";
        Assert.Equal(new[]
        {
            "db0 compressible string raw: " + new string('a', 137),
            "db0 hash hash listpack: a=1 aa=10 aaa=100 b=2 bb=20 bbb=200 c=3 cc=30 ccc=300 ddd=400 eee=5000000000",
            "db0 hash_zipped hash listpack: a=1 b=2 c=3",
            $"db0 list list listpack: {list} {list} {list}",
            $"db0 list_zipped list quicklist: {list}",
            "db0 number string int: 10",
            "db0 set set listpack: 1 100000 2 3 6000000000 a b c",
            "db0 set_zipped_1 set intset: 1 2 3 4",
            "db0 set_zipped_2 set intset: 100000 200000 300000 400000",
            "db0 set_zipped_3 set intset: 1000000000 2000000000 3000000000 4000000000 5000000000 6000000000",
            "db0 string string embstr: Hello World",
            "db0 zset zset listpack: a:1 b:2 c:3 aa:10 bb:20 cc:30 aaa:100 bbb:200 ccc:300 aaaa:1000 cccc:123456789 bbbb:5000000000",
            "db0 zset_zipped zset listpack: a:1 b:2 c:3",
        }, kit.Dump());
        Assert.True(kit.Logged("Done loading RDB, keys loaded: 13, keys expired: 0."));
    }

    [Fact]
    public void HashZipmapRdb()
    {
        var kit = new RdbTestKit();
        kit.Load(RdbTestKit.Fixture("hash-zipmap.rdb"));
        Assert.Equal(new[] { "db0 hash hash listpack: f1=v1 f2=v2" }, kit.Dump());
    }

    [Fact]
    public void HashZipmapConvertsWhenPastTheThresholds()
    {
        // Valkey's convert-zipmap-hash-on-load tests: entries 1, then value 1.
        var byEntries = new ServerConfig();
        byEntries.Set("hash-max-ziplist-entries", "1", atStartup: true);
        var kit = new RdbTestKit(byEntries);
        kit.Load(RdbTestKit.Fixture("hash-zipmap.rdb"));
        Assert.Equal(new[] { "db0 hash hash hashtable: f1=v1 f2=v2" }, kit.Dump());

        var byValue = new ServerConfig();
        byValue.Set("hash-max-ziplist-value", "1", atStartup: true);
        kit = new RdbTestKit(byValue);
        kit.Load(RdbTestKit.Fixture("hash-zipmap.rdb"));
        Assert.Equal(new[] { "db0 hash hash hashtable: f1=v1 f2=v2" }, kit.Dump());
    }

    [Fact]
    public void HashZiplistRdb()
    {
        var kit = new RdbTestKit();
        var result = kit.Load(RdbTestKit.Fixture("hash-ziplist.rdb"));
        Assert.Equal(9, result.Version);
        Assert.Equal(new[] { "db0 hash hash listpack: f1=v1 f2=v2" }, kit.Dump());
        Assert.True(kit.Logged("Loading RDB produced by Redis version 255.255.255"));
        Assert.True(kit.Logged("RDB memory usage when created 0.79 Mb"));
    }

    [Fact]
    public void ListQuicklistRdb()
    {
        // Redis 4.0.9, RDB 8: a quicklist of ziplist nodes.
        var kit = new RdbTestKit();
        kit.Load(RdbTestKit.Fixture("list-quicklist.rdb"));
        Assert.Equal(new[] { "db0 list list listpack: 7", "db0 x string int: 7" }, kit.Dump());
        Assert.True(kit.Logged("Loading RDB produced by Redis version 4.0.9"));
    }

    [Fact]
    public void ZsetZiplistRdb()
    {
        var kit = new RdbTestKit();
        kit.Load(RdbTestKit.Fixture("zset-ziplist.rdb"));
        Assert.Equal(new[] { "db0 zset zset listpack: one:1 two:2" }, kit.Dump());

        // Valkey's convert-ziplist-zset-on-load: with zset-max-ziplist-entries 1 it becomes a skiplist.
        var config = new ServerConfig();
        config.Set("zset-max-ziplist-entries", "1", atStartup: true);
        kit = new RdbTestKit(config);
        kit.Load(RdbTestKit.Fixture("zset-ziplist.rdb"));
        Assert.Equal(new[] { "db0 zset zset skiplist: one:1 two:2" }, kit.Dump());
    }

    [Fact]
    public void EmptyKeysAreSkippedWithANotice()
    {
        var kit = new RdbTestKit();
        var result = kit.Load(RdbTestKit.Fixture("corrupt_empty_keys.rdb"));
        Assert.Equal(0, result.KeysLoaded);
        Assert.Equal(9, result.EmptyKeysSkipped);
        Assert.Empty(kit.Dump());
        foreach (var key in new[] { "set", "hash", "list_ziplist", "zset", "zset_listpack", "hash_ziplist", "list_quicklist", "zset_ziplist", "list_quicklist_empty_ziplist" })
            Assert.True(kit.Logged("rdbLoadObject skipping empty key: " + key), key);
        Assert.True(kit.Logged("Done loading RDB, keys loaded: 0, keys expired: 0, empty keys skipped: 9."));
    }

    [Fact]
    public void CorruptZiplistIsRefusedAtTheSameKey()
    {
        // valkey-check-rdb: "Hash ziplist integrity check failed." reading key 'key:000000000091', type 13.
        var kit = new RdbTestKit();
        var e = Assert.Throws<RdbException>(() => kit.Load(RdbTestKit.Fixture("corrupt_ziplist.rdb")));
        Assert.Equal("Hash ziplist integrity check failed.", e.Message);
        Assert.Equal("key:000000000091", e.Key);
        Assert.Equal(13, e.TypeId);
        Assert.True(e.IsCorruption);
        Assert.True(kit.Logged("Loading RDB produced by Redis version 999.999.999"));
    }

    [Fact]
    public void ScriptBackupRdbLoadsWithoutKeys()
    {
        // A "lua" aux field (scripts used to be saved there) is ignored, as in Valkey 7+.
        var kit = new RdbTestKit();
        var result = kit.Load(RdbTestKit.Fixture("scriptbackup.rdb"));
        Assert.Equal(0, result.KeysLoaded);
        Assert.Equal("return redis.call('set', 'foo', 'bar')", result.AuxText("lua"));
        Assert.Equal("349eeafec1f98f3f56277e95fc86bc48b30651a2", result.AuxText("repl-id"));
        Assert.Empty(kit.Dump());
    }

    [Fact]
    public void RdbPreambleStopsAtTheChecksum()
    {
        // An AOF whose base is an RDB: the RDB part loads and reading stops right after its checksum.
        var payload = RdbTestKit.Fixture("rdb-preamble.aof");
        var kit = new RdbTestKit();
        var result = kit.Load(payload);
        Assert.Equal(new[] { "db0 k1 string embstr: v1", "db0 k2 string embstr: v2" }, kit.Dump());
        Assert.True(kit.Logged("RDB has an AOF tail"));
        Assert.Equal("*2\r\n$6\r\nSELECT", System.Text.Encoding.ASCII.GetString(payload, (int)result.BytesRead, 14));
    }

    /// <summary>
    /// Written by valkey-server 8 (unstable) with list-compress-depth 1, list-max-listpack-size 4 and
    /// DEBUG QUICKLIST-PACKED-THRESHOLD 100: a quicklist with a plain node holding a 150-byte element,
    /// a quicklist of LZF-compressed listpack nodes, a listpack set and a Lua function library.
    /// </summary>
    private const string ValkeyQuicklists =
        "UkVESVMwMDEx+gp2YWxrZXktdmVyCzI1NS4yNTUuMjU1+gpyZWRpcy1iaXRzwED6BWN0aW1lwgt6Amv6CHVzZWQtbWVtwsA9EQD6" +
        "CGFvZi1iYXNlwAD1QFUjIWx1YSBuYW1lPW15bGliCnJlZGlzLnJlZ2lzdGVyX2Z1bmN0aW9uKCdteWZ1bmMnLCBmdW5jdGlvbihr" +
        "ZXlzLCBhcmdzKSByZXR1cm4gMSBlbmQp/gD7AwAUBWxwc2V0EhIAAAAEAIF4AoF5AoF6AgEB/xIKY29tcHJlc3NlZAgCwylAzw7P" +
        "AAAABACwaXRlbS0xLWHgHwAAMYAxADLgKDEAM+AoMQA04CExATH/AsMpQM8OzwAAAAQAsGl0ZW0tNS1h4B8AADGAMQA24CgxADfg" +
        "KDEAOOAhMQEx/wLDL0DSDtIAAAAEALBpdGVtLTktYeAfAAExsWAxATEw4CEyADKgMgAx4CkyADLgITIBMv8CwypA0w/TAAAABACx" +
        "aXRlbS0xMy1h4B8AADKgMgA04CkyADXgKTIANuAhMgEy/wLDK0DTD9MAAAAEALFpdGVtLTE3LWHgHwAAMqAyADjgKTIAOeAoMgEy" +
        "MOAhMgEy/wLDKkDTD9MAAAAEALFpdGVtLTIxLWHgHwAAMqAyADLgKTIAM+ApMgA04CEyATL/AsMqQNMP0wAAAAQAsWl0ZW0tMjUt" +
        "YeAfAAAyoDIANuApMgA34CkyADjgITIBMv8CwyFAbQ9tAAAAAgCxaXRlbS0yOS1h4B8AADKAMgEzMOAhMgEy/xIJcGxhaW5saXN0" +
        "BAITEwAAAAQAgWECgWICgWMCgWQC/wIKCgAAAAEAgWUC/wHDCUCWAVBQ4IkAAVBQAg0NAAAAAgCBZgKBZwL//y7dRnUlYEIz";

    [Fact]
    public void ValkeyQuicklistsWithPlainAndCompressedNodes()
    {
        var kit = new RdbTestKit();
        var result = kit.Load(Convert.FromBase64String(ValkeyQuicklists));
        Assert.Equal(11, result.Version);
        var items = string.Join(" ", Enumerable.Range(1, 30).Select(i => $"item-{i}-" + new string('a', 41)));
        Assert.Equal(new[]
        {
            "db0 compressed list quicklist: " + items,
            "db0 lpset set listpack: 1 x y z",
            "db0 plainlist list quicklist: a b c d e " + new string('P', 150) + " f g",
        }, kit.Dump());
        // The library's language has no engine here: its code is kept as it was.
        Assert.Single(result.FunctionLibraries);
        Assert.StartsWith("#!lua name=mylib\n", System.Text.Encoding.UTF8.GetString(result.FunctionLibraries[0]));
        Assert.True(kit.Logged("Loading RDB produced by Valkey version 255.255.255"));
    }

    [Fact]
    public void EveryFixtureSurvivesAWriteAndReadBack()
    {
        foreach (var name in new[] { "encodings.rdb", "hash-zipmap.rdb", "hash-ziplist.rdb", "list-quicklist.rdb", "zset-ziplist.rdb", "rdb-preamble.aof" })
        {
            var kit = new RdbTestKit();
            kit.Load(RdbTestKit.Fixture(name));
            var copy = new RdbTestKit();
            copy.Load(kit.Save());
            // A list read from a plain ziplist stays a quicklist (as in Valkey) until it is reloaded
            // from the quicklist form we write, which converts small lists: compare lists without encoding.
            static string Normalize(string line) => line.Replace(" list quicklist:", " list listpack:");
            Assert.Equal(kit.Dump().Select(Normalize), copy.Dump());
        }
    }
}
