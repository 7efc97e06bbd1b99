using System.Buffers.Binary;
using System.Text;
using Kvasir.Persistence;
using Kvasir.Tests.Infrastructure;
using Kvasir.Types;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// Hash field TTLs (Valkey 9) survive every way data leaves and comes back: RDB files (type HASH_2,
/// version 80, "VALKEY080"), DEBUG RELOAD, restarts, both AOF base formats, DUMP/RESTORE, COPY and
/// a replica's full-sync image; and hashes that come back this way are expired by the active cycle.
/// Files and payloads without field TTLs keep RDB version 11.
/// </summary>
public sealed class HashFieldTtlPersistenceTests
{
    private static readonly long FarAway = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 3_600_000_000L;

    private static string TempDir() => Directory.CreateTempSubdirectory("kvasir-hfe-").FullName;

    private static byte[] Bytes(RespValue v) => v.Bytes ?? Encoding.Latin1.GetBytes(v.Text!);

    private static string Magic(string path) => Encoding.Latin1.GetString(File.ReadAllBytes(path), 0, 9);

    /// <summary>h: a (TTL 1000 s), b (absolute <see cref="FarAway"/>), c (none).</summary>
    private static async Task PopulateAsync(RespClient c, string key = "h")
    {
        Assert.Equal(3L, (await c.CallAsync("HSET", key, "a", "1", "b", "2", "c", "3")).Integer);
        await c.CallAsync("HEXPIRE", key, "1000", "FIELDS", "1", "a");
        await c.CallAsync("HPEXPIREAT", key, FarAway.ToString(), "FIELDS", "1", "b");
    }

    private static async Task<long[]> ExpireTimesAsync(RespClient c, string key = "h")
    {
        var r = await c.CallAsync("HPEXPIRETIME", key, "FIELDS", "3", "a", "b", "c");
        Assert.False(r.IsError, r.Text);
        return r.Items!.Select(i => i.Integer).ToArray();
    }

    private static void AssertTtls(long[] before, long[] after)
    {
        Assert.Equal(before, after);
        Assert.True(after[0] > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 900_000);
        Assert.Equal(FarAway, after[1]);
        Assert.Equal(-1L, after[2]);
    }

    private static async Task WaitForRewriteAsync(RespClient c)
    {
        for (int i = 0; i < 500; i++)
        {
            string info = (await c.CallAsync("INFO", "persistence")).Text!;
            if (info.Contains("aof_rewrite_in_progress:0") && info.Contains("aof_rewrite_scheduled:0")) return;
            await Task.Delay(20);
        }
        Assert.Fail("rewrite did not finish");
    }

    private static async Task WaitForEmptyAsync(RespClient c)
    {
        // DBSIZE does not look at any key: only the active cycle can empty the database.
        for (int i = 0; i < 200 && (await c.CallAsync("DBSIZE")).Integer != 0; i++) await Task.Delay(25);
        Assert.Equal(0L, (await c.CallAsync("DBSIZE")).Integer);
    }

    [Fact]
    public async Task SaveAndDebugReloadKeepFieldTtls()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await PopulateAsync(c);
        await c.CallAsync("HSET", "plain", "x", "y");
        var before = await ExpireTimesAsync(c);
        Assert.Equal("OK", await c.CallTextAsync("SAVE"));
        Assert.Equal("VALKEY080", Magic(Path.Combine(server.DataDir, "dump.rdb")));
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD"));
        AssertTtls(before, await ExpireTimesAsync(c));
        Assert.Equal("hashtable", await c.CallTextAsync("OBJECT", "ENCODING", "h"));
        Assert.Equal("3", (await c.CallAsync("HLEN", "h")).Integer.ToString());
        Assert.Equal("y", await c.CallTextAsync("HGET", "plain", "x"));
    }

    [Fact]
    public async Task RestartFromRdbKeepsFieldTtls()
    {
        string dir = TempDir();
        try
        {
            long[] before;
            await using (var s = await TestServer.StartInDirAsync(dir))
            await using (var c = await s.ConnectAsync())
            {
                await PopulateAsync(c);
                before = await ExpireTimesAsync(c);
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
            }
            await using (var s = await TestServer.StartInDirAsync(dir))
            await using (var c = await s.ConnectAsync())
                AssertTtls(before, await ExpireTimesAsync(c));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task FilesWithoutFieldTtlsStayVersion11()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        string dump = Path.Combine(server.DataDir, "dump.rdb");
        await c.CallAsync("HSET", "h", "a", "1");
        await c.CallAsync("SAVE");
        Assert.Equal("REDIS0011", Magic(dump));

        // A TTL removed again, and a volatile hash deleted: nothing needs version 80 any more.
        await c.CallAsync("HEXPIRE", "h", "1000", "FIELDS", "1", "a");
        await c.CallAsync("SAVE");
        Assert.Equal("VALKEY080", Magic(dump));
        await c.CallAsync("HPERSIST", "h", "FIELDS", "1", "a");
        await c.CallAsync("SAVE");
        Assert.Equal("REDIS0011", Magic(dump));
        await c.CallAsync("HSET", "gone", "a", "1");
        await c.CallAsync("HEXPIRE", "gone", "1000", "FIELDS", "1", "a");
        await c.CallAsync("DEL", "gone");
        await c.CallAsync("SAVE");
        Assert.Equal("REDIS0011", Magic(dump));

        // BGSAVE decides the same way.
        await c.CallAsync("HEXPIRE", "h", "1000", "FIELDS", "1", "a");
        Assert.Equal("Background saving started", await c.CallTextAsync("BGSAVE"));
        for (int i = 0; i < 200 && (await c.CallTextAsync("INFO", "persistence"))!.Contains("rdb_bgsave_in_progress:1"); i++) await Task.Delay(20);
        Assert.Equal("VALKEY080", Magic(dump));
    }

    [Theory]
    [InlineData("no")]
    [InlineData("yes")]
    public async Task AofRewriteKeepsFieldTtlsInBothBaseFormats(string preamble)
    {
        string dir = TempDir();
        try
        {
            long[] before;
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"), ("aof-use-rdb-preamble", preamble), ("enable-debug-command", "yes")))
            await using (var c = await s.ConnectAsync())
            {
                await PopulateAsync(c);
                before = await ExpireTimesAsync(c);
                Assert.Equal("Background append only file rewriting started", await c.CallTextAsync("BGREWRITEAOF"));
                await WaitForRewriteAsync(c);
                string aofDir = Path.Combine(s.DataDir, "appendonlydir");
                if (preamble == "no")
                {
                    string text = File.ReadAllText(Path.Combine(aofDir, "appendonly.aof.2.base.aof"), Encoding.Latin1);
                    Assert.Contains($"$10\r\nHPEXPIREAT\r\n$1\r\nh\r\n${FarAway.ToString().Length}\r\n{FarAway}\r\n$6\r\nFIELDS\r\n$1\r\n1\r\n$1\r\nb\r\n", text);
                    Assert.Equal(2, text.Split("HPEXPIREAT").Length - 1);
                }
                else Assert.Equal("VALKEY080", Magic(Path.Combine(aofDir, "appendonly.aof.2.base.rdb")));
                Assert.Equal("OK", await c.CallTextAsync("DEBUG", "LOADAOF"));
                AssertTtls(before, await ExpireTimesAsync(c));
            }
            await using (var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes")))
            await using (var c = await s.ConnectAsync())
                AssertTtls(before, await ExpireTimesAsync(c));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task DumpAndRestoreKeepFieldTtlsWithVersion80()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await PopulateAsync(c);
        var before = await ExpireTimesAsync(c);
        var payload = Bytes(await c.CallAsync("DUMP", "h"));
        Assert.Equal((byte)RdbType.Hash2, payload[0]);
        Assert.Equal(80, BinaryPrimitives.ReadUInt16LittleEndian(payload.AsSpan(payload.Length - 10)));
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "h2", "0", payload));
        AssertTtls(before, await ExpireTimesAsync(c, "h2"));
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "h", "0", payload, "REPLACE"));
        AssertTtls(before, await ExpireTimesAsync(c));

        // Without field TTLs a payload stays what Valkey 8 reads.
        await c.CallAsync("HSET", "plain", "x", "y");
        var plain = Bytes(await c.CallAsync("DUMP", "plain"));
        Assert.Equal(11, BinaryPrimitives.ReadUInt16LittleEndian(plain.AsSpan(plain.Length - 10)));
        // Redis's own later versions are not Valkey formats.
        var foreign = DumpRestoreTests.Wrap(plain[..^10], 12);
        Assert.Equal("ERR DUMP payload version or checksum are wrong", (await c.CallAsync("RESTORE", "f", "0", foreign)).Text);
    }

    [Fact]
    public async Task CopiedRestoredAndReloadedHashesAreExpiredByTheActiveCycle()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("HSET", "src", "a", "1");
        await c.CallAsync("HPEXPIRE", "src", "300", "FIELDS", "1", "a");
        Assert.Equal(1L, (await c.CallAsync("COPY", "src", "copy")).Integer);
        var payload = Bytes(await c.CallAsync("DUMP", "src"));
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "restored", "0", payload));
        Assert.True((await c.CallAsync("HPTTL", "copy", "FIELDS", "1", "a")).Items![0].Integer > 0);
        await WaitForEmptyAsync(c);

        await c.CallAsync("HSET", "r", "a", "1", "b", "2");
        await c.CallAsync("HPEXPIRE", "r", "400", "FIELDS", "2", "a", "b");
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD"));
        Assert.Equal(1L, (await c.CallAsync("DBSIZE")).Integer);
        await WaitForEmptyAsync(c);
    }

    [Fact]
    public async Task FullSyncImageKeepsFieldTtls()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await PopulateAsync(c);
        var before = await ExpireTimesAsync(c);
        await using var replica = await server.ConnectAsync();
        await replica.SendRawAsync("SYNC\r\n");
        string header = "";
        while (true)
        {
            header += await replica.ReadRawAsync(1);
            if (header == "\n") header = "";
            else if (header.EndsWith('\n')) break;
        }
        var image = Encoding.Latin1.GetBytes(await replica.ReadRawAsync(int.Parse(header[1..].Trim())));
        Assert.Equal("VALKEY080", Encoding.Latin1.GetString(image, 0, 9));
        // A replica keeps what its primary sends, expired or not.
        var kit = new RdbTestKit();
        kit.Load(image, kit.Options(dropExpired: false));
        var db = kit.Databases[0];
        var hash = (HashValue)db.ObjectAt(db.FindRaw("h"u8))!;
        Assert.Equal(before, new[] { hash.FieldExpireTime("a"u8), hash.FieldExpireTime("b"u8), hash.FieldExpireTime("c"u8) });
        Assert.Equal(1, kit.Keyspace.VolatileHashes.Count);
    }

    /// <summary>A kit database holding "h" with fields a (deadline <paramref name="aMs"/>), b (<paramref name="bMs"/>, -1: none).</summary>
    private static RdbTestKit KitWithHash(long aMs, long bMs)
    {
        var kit = new RdbTestKit();
        var hash = new HashValue();
        hash.Set("a"u8, "1"u8, 128, 64);
        hash.Set("b"u8, "2"u8, 128, 64);
        Assert.Equal(1, hash.SetFieldExpire("a"u8, aMs, ExpireCondition.None, 0, pastDeletes: false));
        if (bMs >= 0) Assert.Equal(1, hash.SetFieldExpire("b"u8, bMs, ExpireCondition.None, 0, pastDeletes: false));
        kit.Databases[0].AddObject("h"u8, hash);
        kit.Keyspace.VolatileHashes.Track(hash);
        return kit;
    }

    [Fact]
    public void FieldsExpiredAtLoadAreDroppedByAPrimaryOnly()
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var image = KitWithHash(now - 1000, -1).Save();
        Assert.Equal("VALKEY080", Encoding.Latin1.GetString(image, 0, 9));

        var primary = new RdbTestKit();
        var result = primary.Load(image);
        var hash = (HashValue)primary.Databases[0].ObjectAt(primary.Databases[0].FindRaw("h"u8))!;
        Assert.Equal(1, hash.Count);
        Assert.Equal(-2L, hash.FieldExpireTime("a"u8));
        Assert.Equal(-1L, hash.FieldExpireTime("b"u8));
        Assert.Equal(1L, result.KeysLoaded);

        var replica = new RdbTestKit();
        replica.Load(image, replica.Options(dropExpired: false));
        hash = (HashValue)replica.Databases[0].ObjectAt(replica.Databases[0].FindRaw("h"u8))!;
        Assert.Equal(2, hash.Count);
        Assert.Equal(now - 1000, hash.FieldExpireTime("a"u8));

        // Every field expired: the key is not created, and counts as an expired key.
        var allGone = KitWithHash(now - 1000, now - 500).Save();
        var empty = new RdbTestKit();
        result = empty.Load(allGone);
        Assert.Equal(0, empty.Databases[0].Count);
        Assert.Equal(0L, result.KeysLoaded);
        Assert.Equal(1L, result.KeysExpired);
    }

    [Fact]
    public void Hash2LayoutIsFieldValueAndLittleEndianExpireTime()
    {
        long when = 1_900_000_000_123;
        var kit = KitWithHash(when, -1);
        var payload = DumpPayload.Create(kit.Databases[0], kit.Databases[0].FindRaw("h"u8), new RdbWriteOptions { Compress = false });
        // type 22, two entries, then per field: name, value, 8-byte expire time (-1: none).
        Assert.Equal(22, payload[0]);
        Assert.Equal(2, payload[1]);
        var body = payload.AsSpan(2, payload.Length - 12);
        int i = 0;
        var seen = new Dictionary<string, long>();
        for (int n = 0; n < 2; n++)
        {
            string field = Encoding.ASCII.GetString(body.Slice(i + 1, body[i]));
            i += 1 + body[i];
            i += body[i] == 0xC0 ? 2 : 1 + body[i]; // the value, "1" or "2" stored as an 8-bit integer
            seen[field] = BinaryPrimitives.ReadInt64LittleEndian(body.Slice(i, 8));
            i += 8;
        }
        Assert.Equal(body.Length, i);
        Assert.Equal(when, seen["a"]);
        Assert.Equal(-1L, seen["b"]);
    }
}
