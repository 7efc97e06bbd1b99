using System.Buffers.Binary;
using System.Text;
using Kvasir.Persistence;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// DUMP / RESTORE as Valkey's unit/dump: payload bytes, TTL forms, LRU/LFU hints, every error
/// string, propagation with absolute TTLs, and damaged payloads refused without harm.
/// </summary>
public sealed class DumpRestoreTests(SharedServerFixture fixture) : IClassFixture<SharedServerFixture>
{
    private static byte[] Bytes(RespValue v) => v.Bytes ?? Encoding.Latin1.GetBytes(v.Text!);

    /// <summary>A payload with a valid footer around <paramref name="body"/> (version, CRC).</summary>
    internal static byte[] Wrap(byte[] body, int version = 11)
    {
        var p = new byte[body.Length + 10];
        body.CopyTo(p, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(p.AsSpan(body.Length), (ushort)version);
        BinaryPrimitives.WriteUInt64LittleEndian(p.AsSpan(body.Length + 2), Crc64.Update(0, p.AsSpan(0, body.Length + 2)));
        return p;
    }

    [Fact]
    public async Task DumpOfAStringIsByteForByteValkeys()
    {
        await using var c = await fixture.Server.ConnectAsync();
        await c.CallAsync("SET", "dump:s", "bar");
        var payload = Bytes(await c.CallAsync("DUMP", "dump:s"));
        // What valkey-server 8 answers to DUMP of "bar".
        Assert.Equal(new byte[] { 0x00, 0x03, (byte)'b', (byte)'a', (byte)'r', 0x0b, 0x00, 0x8f, (byte)'a', 0xf4, 0x13, 0x13, 0xf9, 0x14, 0x9e }, payload);
        Assert.True((await c.CallAsync("DUMP", "dump:nonexisting")).IsNull);
        await c.CallAsync("DEL", "dump:s");
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "dump:s", "0", payload));
        Assert.Equal(-1L, (await c.CallAsync("TTL", "dump:s")).Integer);
        Assert.Equal("bar", await c.CallTextAsync("GET", "dump:s"));
        Assert.Equal("OK", await c.CallTextAsync("RESTORE-ASKING", "dump:s", "0", payload, "REPLACE"));
    }

    [Fact]
    public async Task EveryTypeAndEncodingSurvivesDumpAndRestore()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await PersistenceCommandTests.PopulateAsync(c);
        await c.CallAsync("SET", "longint", long.MinValue.ToString());
        var before = await PersistenceCommandTests.DescribeAsync(c);
        var keys = (await c.CallAsync("KEYS", "*")).Items!.Select(i => i.Text!).ToList();
        var dumps = new Dictionary<string, (byte[] Payload, long Ttl)>();
        foreach (var k in keys) dumps[k] = (Bytes(await c.CallAsync("DUMP", k)), (await c.CallAsync("PTTL", k)).Integer);
        await c.CallAsync("FLUSHDB");
        foreach (var (k, (payload, ttl)) in dumps)
            Assert.Equal("OK", await c.CallTextAsync("RESTORE", k, Math.Max(ttl, 0).ToString(), payload));
        Assert.Equal(before, await PersistenceCommandTests.DescribeAsync(c));
        Assert.Equal(long.MinValue.ToString(), await c.CallTextAsync("GET", "longint"));
    }

    [Fact]
    public async Task TtlFormsAsValkey()
    {
        await using var c = await fixture.Server.ConnectAsync();
        await c.CallAsync("SET", "dump:t", "bar");
        var payload = Bytes(await c.CallAsync("DUMP", "dump:t"));
        await c.CallAsync("DEL", "dump:t");
        await c.CallAsync("RESTORE", "dump:t", "5000", payload);
        Assert.InRange((await c.CallAsync("PTTL", "dump:t")).Integer, 3000, 5000);
        // Beyond 32 bits.
        await c.CallAsync("RESTORE", "dump:t", "2569591501", payload, "REPLACE");
        Assert.InRange((await c.CallAsync("PTTL", "dump:t")).Integer, 2569591501 - 3000, 2569591501);
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await c.CallAsync("RESTORE", "dump:t", (now + 3000).ToString(), payload, "ABSTTL", "REPLACE");
        Assert.InRange((await c.CallAsync("PTTL", "dump:t")).Integer, 2000, 3100);
        // An absolute time in the past: the old value goes, nothing is created.
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "dump:t", (now - 3000).ToString(), payload, "ABSTTL", "REPLACE"));
        Assert.Equal(0L, (await c.CallAsync("EXISTS", "dump:t")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "dump:t", (now - 3000).ToString(), payload, "ABSTTL"));
        Assert.Equal(0L, (await c.CallAsync("EXISTS", "dump:t")).Integer);
    }

    [Fact]
    public async Task ErrorsAreValkeys()
    {
        await using var c = await fixture.Server.ConnectAsync();
        await c.CallAsync("SET", "dump:e", "bar");
        var payload = Bytes(await c.CallAsync("DUMP", "dump:e"));
        Assert.Equal("BUSYKEY Target key name already exists.", await c.CallTextAsync("RESTORE", "dump:e", "0", "..."));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("RESTORE", "dump:e2", "0", "...", "invalid-option"));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("RESTORE", "dump:e2", "0", payload, "IDLETIME"));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("RESTORE", "dump:e2", "0", payload, "IDLETIME", "1", "FREQ", "1"));
        Assert.Equal("ERR Invalid IDLETIME value, must be >= 0", await c.CallTextAsync("RESTORE", "dump:e2", "0", payload, "IDLETIME", "-1"));
        Assert.Equal("ERR Invalid FREQ value, must be >= 0 and <= 255", await c.CallTextAsync("RESTORE", "dump:e2", "0", payload, "FREQ", "256"));
        Assert.Equal("ERR value is not an integer or out of range", await c.CallTextAsync("RESTORE", "dump:e2", "0", payload, "FREQ", "x"));
        Assert.Equal("ERR value is not an integer or out of range", await c.CallTextAsync("RESTORE", "dump:e2", "abc", payload));
        Assert.Equal("ERR Invalid TTL value, must be >= 0", await c.CallTextAsync("RESTORE", "dump:e2", "-1", payload));
        Assert.Equal("ERR DUMP payload version or checksum are wrong", await c.CallTextAsync("RESTORE", "dump:e2", "0", "short"));
        var damaged = (byte[])payload.Clone();
        damaged[2] ^= 1;
        Assert.Equal("ERR DUMP payload version or checksum are wrong", await c.CallTextAsync("RESTORE", "dump:e2", "0", damaged));
        // A newer RDB version than Valkey 8's 11 is refused even with a correct checksum; older ones load.
        Assert.Equal("ERR DUMP payload version or checksum are wrong", await c.CallTextAsync("RESTORE", "dump:e2", "0", Wrap(payload[..^10], 12)));
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "dump:e2", "0", Wrap(payload[..^10], 6)));
        // A valid footer around a value that is not one.
        Assert.Equal("ERR Bad data format", await c.CallTextAsync("RESTORE", "dump:e3", "0", Wrap(new byte[] { 0, 0x40 })));
        Assert.Equal("ERR Bad data format", await c.CallTextAsync("RESTORE", "dump:e3", "0", Wrap(new byte[] { 200, 1, 2 })));
        // An empty list (quicklist of zero nodes) is not a value either.
        Assert.Equal("ERR Bad data format", await c.CallTextAsync("RESTORE", "dump:e3", "0", Wrap(new byte[] { 18, 0 })));
        Assert.Equal(0L, (await c.CallAsync("EXISTS", "dump:e3")).Integer);
    }

    [Fact]
    public async Task ChecksumCanBeSkippedWithDebug()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "k", "v");
        var payload = Bytes(await c.CallAsync("DUMP", "k"));
        payload.AsSpan(payload.Length - 8).Clear();
        Assert.Equal("ERR DUMP payload version or checksum are wrong", await c.CallTextAsync("RESTORE", "k2", "0", payload));
        await c.CallAsync("DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1");
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "k2", "0", payload));
        Assert.Equal("v", await c.CallTextAsync("GET", "k2"));
    }

    [Fact]
    public async Task IdleTimeAndFrequencyFollowThePolicy()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "foo", "bar");
        var payload = Bytes(await c.CallAsync("DUMP", "foo"));
        await c.CallAsync("DEL", "foo");
        await c.CallAsync("CONFIG", "SET", "maxmemory-policy", "allkeys-lru");
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "foo", "0", payload, "IDLETIME", "1000"));
        Assert.InRange((await c.CallAsync("OBJECT", "IDLETIME", "foo")).Integer, 1000, 1010);
        await c.CallAsync("DEL", "foo");
        await c.CallAsync("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu");
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "foo", "0", payload, "FREQ", "100"));
        Assert.Equal(100L, (await c.CallAsync("OBJECT", "FREQ", "foo")).Integer);
    }

    [Fact]
    public async Task RestoreIsPropagatedWithAnAbsoluteTtlAndExpiredReplacesAsDeletes()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "key", "value");
        var payload = Bytes(await c.CallAsync("DUMP", "key"));
        await c.CallAsync("SET", "key1", "v");
        await c.CallAsync("RPUSH", "key2", "a");
        await using var replica = await ReplicationStream.AttachAsync(server);

        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await c.CallAsync("RESTORE", "r1", "100000", payload);
        await c.CallAsync("RESTORE", "r2", "0", payload, "IDLETIME", "5");
        await c.CallAsync("CONFIG", "SET", "lazyfree-lazy-server-del", "no");
        await c.CallAsync("RESTORE", "key1", (before - 5000).ToString(), payload, "REPLACE", "ABSTTL");
        await c.CallAsync("CONFIG", "SET", "lazyfree-lazy-server-del", "yes");
        await c.CallAsync("RESTORE", "key2", (before - 5000).ToString(), payload, "REPLACE", "ABSTTL");
        // Nothing existed and nothing was created: nothing to propagate.
        await c.CallAsync("RESTORE", "key3", (before - 5000).ToString(), payload, "ABSTTL");
        await c.CallAsync("SET", "end", "1");

        Assert.Equal("SELECT 0", await ReplicationStream.NextAsync(replica));
        var restore = (await ReplicationStream.NextRawAsync(replica)).Items!;
        Assert.Equal(5, restore.Count);
        Assert.Equal(new[] { "RESTORE", "r1" }, restore.Take(2).Select(i => i.Text));
        // The server's command time comes from its own monotonic clock, which may read a few ms
        // behind this process's wall clock.
        Assert.InRange(long.Parse(restore[2].Text!), before + 100_000 - 50, before + 110_000);
        Assert.Equal(payload, Bytes(restore[3]));
        Assert.Equal("ABSTTL", restore[4].Text);
        var plain = (await ReplicationStream.NextRawAsync(replica)).Items!;
        Assert.Equal(new[] { "RESTORE", "r2", "0" }, plain.Take(3).Select(i => i.Text));
        Assert.Equal(new[] { "IDLETIME", "5" }, plain.Skip(4).Select(i => i.Text));
        Assert.Equal("DEL key1", await ReplicationStream.NextAsync(replica));
        Assert.Equal("UNLINK key2", await ReplicationStream.NextAsync(replica));
        Assert.Equal("SET end 1", await ReplicationStream.NextAsync(replica));
    }

    [Fact]
    public async Task DamagedPayloadsWithValidFootersNeverHurt()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await PersistenceCommandTests.PopulateAsync(c);
        var keys = (await c.CallAsync("KEYS", "*")).Items!.Select(i => i.Text!).ToList();
        var bodies = new List<byte[]>();
        foreach (var k in keys) bodies.Add(Bytes(await c.CallAsync("DUMP", k))[..^10]);
        var rng = new Random(4242);
        for (int round = 0; round < 400; round++)
        {
            var body = (byte[])bodies[rng.Next(bodies.Count)].Clone();
            int flips = 1 + rng.Next(4);
            for (int f = 0; f < flips; f++) body[rng.Next(body.Length)] = (byte)rng.Next(256);
            if (rng.Next(4) == 0) body = body[..rng.Next(1, body.Length)];
            string? reply = await c.CallTextAsync("RESTORE", "fuzz", "0", Wrap(body), "REPLACE");
            Assert.True(reply is "OK" or "ERR Bad data format", reply);
        }
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
    }
}
