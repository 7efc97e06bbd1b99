using Kvasir.Tests.Infrastructure;
using Kvasir.Tests.Replication;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// RDB and AOF files written at test time by Debian's redis-server 7 (RDB 10 with listpacks,
/// intsets and quicklists of listpacks): the equivalents of the fixtures in ../shared/reference/rdb
/// for everything a current server can still write, so those cases are tested in any clone of the
/// repository. The old encodings (zipmap, ziplist), a "lua" aux field and empty keys can only come
/// from the fixtures. Skips with the reason when no redis-server 7 is installed (.ci/run installs it).
/// </summary>
internal static class RedisWrittenFiles
{
    /// <summary>A running redis-server 7 and a client to it; disposing stops it and removes its dir.</summary>
    public sealed class Writer : IAsyncDisposable
    {
        private readonly ExternalServer _server;

        internal Writer(ExternalServer server, RespClient client, string version)
        {
            _server = server;
            Client = client;
            Version = version;
        }

        public RespClient Client { get; }

        /// <summary>redis_version of the writer ("7.0.15"): the RDB's "redis-ver" aux field.</summary>
        public string Version { get; }

        /// <summary>The RDB version its SAVE writes: 10 before 7.2, 11 from 7.2.</summary>
        public int RdbVersion => Version.StartsWith("7.0.", StringComparison.Ordinal) || Version.StartsWith("7.1.", StringComparison.Ordinal) ? 10 : 11;

        public string Dir => _server.Dir;

        /// <summary>SAVE, and the file it wrote.</summary>
        public async Task<byte[]> SaveAsync()
        {
            Assert.Equal("OK", await Client.CallTextAsync("SAVE"));
            return File.ReadAllBytes(Path.Combine(_server.Dir, "dump.rdb"));
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await _server.DisposeAsync();
        }
    }

    /// <summary>Starts redis-server 7 with <paramref name="args"/> (command-line settings).</summary>
    public static async Task<Writer> StartAsync(params string[] args)
    {
        var server = await ExternalServer.StartRedisAsync(args);
        var client = await server.ConnectAsync();
        string info = (await client.CallTextAsync("INFO", "server"))!;
        string version = info.Split("\r\n").First(l => l.StartsWith("redis_version:", StringComparison.Ordinal))["redis_version:".Length..];
        var writer = new Writer(server, client, version);
        // Redis 7.x writes RDB 10 or 11, which Kvasir reads; later major versions write formats Valkey does not.
        if (!version.StartsWith("7.", StringComparison.Ordinal))
        {
            await writer.DisposeAsync();
            Assert.Skip($"needs redis-server 7.x to write RDB 10/11 files (found {version})");
        }
        return writer;
    }

    /// <summary>Starts redis-server 7, runs <paramref name="populate"/>, saves, stops; returns the file and the writer's version.</summary>
    public static async Task<(byte[] Rdb, string Version, int RdbVersion)> SaveAsync(Func<RespClient, Task> populate, params string[] args)
    {
        await using var writer = await StartAsync(args);
        await populate(writer.Client);
        return (await writer.SaveAsync(), writer.Version, writer.RdbVersion);
    }

    /// <summary>
    /// The keys of encodings.rdb (Redis 2.4's old encodings), written by a current server: strings
    /// (int, embstr, raw LZF-compressed), listpack hashes and zsets, quicklists, a hashtable set and
    /// intsets of 16, 32 and 64-bit members.
    /// </summary>
    public static async Task PopulateEncodingsAsync(RespClient c)
    {
        Assert.Equal("OK", await c.CallTextAsync("SET", "compressible", new string('a', 137)));
        Assert.Equal("OK", await c.CallTextAsync("SET", "number", "10"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "string", "Hello World"));
        await c.CallAsync("HSET", "hash", "a", "1", "b", "2", "c", "3", "aa", "10", "bb", "20", "cc", "30",
            "aaa", "100", "bbb", "200", "ccc", "300", "ddd", "400", "eee", "5000000000");
        await c.CallAsync("HSET", "hash_zipped", "a", "1", "b", "2", "c", "3");
        string[] items = ["1", "2", "3", "a", "b", "c", "100000", "6000000000"];
        for (int i = 0; i < 3; i++) await c.CallAsync(["RPUSH", "list", .. items]);
        await c.CallAsync(["RPUSH", "list_zipped", .. items]);
        await c.CallAsync(["SADD", "set", .. items]);
        await c.CallAsync("SADD", "set_zipped_1", "1", "2", "3", "4");
        await c.CallAsync("SADD", "set_zipped_2", "100000", "200000", "300000", "400000");
        await c.CallAsync("SADD", "set_zipped_3", "1000000000", "2000000000", "3000000000", "4000000000", "5000000000", "6000000000");
        await c.CallAsync("ZADD", "zset", "1", "a", "2", "b", "3", "c", "10", "aa", "20", "bb", "30", "cc",
            "100", "aaa", "200", "bbb", "300", "ccc", "1000", "aaaa", "123456789", "cccc", "5000000000", "bbbb");
        await c.CallAsync("ZADD", "zset_zipped", "1", "a", "2", "b", "3", "c");
    }

    /// <summary>
    /// The file of <see cref="PopulateEncodingsAsync"/> with one more key, "hkey" (a hash {a: b}),
    /// whose listpack lost its end marker: Valkey refuses it with "Hash listpack integrity check failed."
    /// reading key 'hkey'. The checksum is left as written, so the object check is what fails.
    /// </summary>
    public static async Task<byte[]> CorruptListpackAsync()
    {
        var (rdb, _, _) = await SaveAsync(async c =>
        {
            await PopulateEncodingsAsync(c);
            await c.CallAsync("HSET", "hkey", "a", "b");
        });
        // type 16 (hash listpack), key "hkey", a 13-byte string: header (6), "a" (3), "b" (3), 0xFF.
        byte[] marker = [16, 4, (byte)'h', (byte)'k', (byte)'e', (byte)'y', 13];
        int at = rdb.AsSpan().IndexOf(marker);
        Assert.True(at >= 0, "hash listpack of hkey not found in the file");
        int end = at + marker.Length + 12;
        Assert.Equal(0xFF, rdb[end]);
        rdb[end] = 0xFE;
        return rdb;
    }
}
