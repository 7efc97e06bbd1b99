using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Replication.ReplicationKit;

namespace Kvasir.Tests.Replication;

/// <summary>
/// Replication with a real Redis 7.0 (Debian's redis-server) on the other side: Kvasir as its
/// replica, Redis as Kvasir's replica (Kvasir sends it RDB 10, the newest format it reads), and a
/// migration off Redis without losing a write. Every data type and encoding goes through the full
/// sync, the live stream and a partial resync; DEBUG DIGEST must be equal at the end.
/// </summary>
public sealed class RedisInteropTests
{
    /// <summary>One of every type, in small and large encodings, TTLs, several databases, a function library.</summary>
    internal static async Task FillAsync(RespClient c, string prefix)
    {
        await c.CallAsync("SELECT", "0");
        await c.CallAsync("SET", prefix + "str", "hello");
        await c.CallAsync("SET", prefix + "int", "12345");
        await c.CallAsync("SET", prefix + "big", new string('x', 20000));
        await c.CallAsync("SET", prefix + "ttl", "v", "PX", "3600000");
        await c.CallAsync("RPUSH", prefix + "list", "a", "b", "c");
        var many = Enumerable.Range(0, 700).Select(i => (object)("m" + i)).ToArray();
        await c.CallAsync([.. new object[] { "RPUSH", prefix + "biglist" }, .. many]);
        await c.CallAsync("HSET", prefix + "hash", "f1", "v1", "f2", "2");
        await c.CallAsync([.. new object[] { "HSET", prefix + "bighash" }, .. many.SelectMany(m => new[] { m, m })]);
        await c.CallAsync("SADD", prefix + "intset", "1", "2", "3");
        await c.CallAsync("SADD", prefix + "set", "a", "b", "c");
        await c.CallAsync([.. new object[] { "SADD", prefix + "bigset" }, .. many]);
        await c.CallAsync("ZADD", prefix + "zset", "1", "a", "2.5", "b");
        await c.CallAsync([.. new object[] { "ZADD", prefix + "bigzset" }, .. many.SelectMany((m, i) => new[] { (object)i.ToString(), m })]);
        await c.CallAsync("PFADD", prefix + "hll", "a", "b", "c");
        await c.CallAsync("GEOADD", prefix + "geo", "13.361389", "38.115556", "Palermo");
        await c.CallAsync("SETBIT", prefix + "bits", "1000", "1");
        await c.CallAsync("EXPIRE", prefix + "hash", "3600");
        await c.CallAsync("SELECT", "5");
        await c.CallAsync("SET", prefix + "in5", "five");
        await c.CallAsync("SELECT", "0");
    }

    private static async Task LiveWritesAsync(RespClient c, string prefix)
    {
        await c.CallAsync("INCR", prefix + "counter");
        await c.CallAsync("LPUSH", prefix + "list", "z");
        await c.CallAsync("HINCRBY", prefix + "hash", "f2", "5");
        await c.CallAsync("SREM", prefix + "set", "a");
        await c.CallAsync("ZINCRBY", prefix + "zset", "1.5", "a");
        await c.CallAsync("MULTI");
        await c.CallAsync("SET", prefix + "tx1", "1");
        await c.CallAsync("SET", prefix + "tx2", "2");
        await c.CallAsync("EXEC");
        await c.CallAsync("EVAL", "redis.call('set', KEYS[1], ARGV[1]) return redis.call('incr', KEYS[2])", "2", prefix + "lua", prefix + "luacount", "from-lua");
        await c.CallAsync("EXPIRE", prefix + "str", "1000");
        await c.CallAsync("DEL", prefix + "int");
        await c.CallAsync("SELECT", "7");
        await c.CallAsync("SET", prefix + "in7", "seven");
        await c.CallAsync("SELECT", "0");
    }

    [Fact]
    public async Task KvasirReplicatesARedis70Primary()
    {
        await using var redis = await ExternalServer.StartRedisAsync();
        await using var kvasir = await TestServer.StartAsync(Fast);
        await using var primary = await redis.ConnectAsync();
        await using var replica = await kvasir.ConnectAsync();
        await FillAsync(primary, "a:");
        await AttachAsync(replica, redis.Port);
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));

        await LiveWritesAsync(primary, "b:");
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));

        // The link drops; Redis continues from its backlog (a partial resync).
        await replica.CallAsync("CLIENT", "KILL", "TYPE", "master");
        await LiveWritesAsync(primary, "c:");
        await WaitForLinkAsync(replica);
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal("1", await InfoFieldAsync(primary, "sync_partial_ok", "stats"));
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));
        Assert.Equal("from-lua", await replica.CallTextAsync("GET", "c:lua"));
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("no")]
    public async Task Redis70ReplicatesAKvasirPrimary(string disklessSync)
    {
        await using var kvasir = await TestServer.StartAsync([.. Fast, ("repl-diskless-sync", disklessSync)]);
        await using var redis = await ExternalServer.StartRedisAsync();
        await using var primary = await kvasir.ConnectAsync();
        await using var replica = await redis.ConnectAsync();
        await FillAsync(primary, "a:");
        await AttachAsync(replica, kvasir.Port);
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));

        await LiveWritesAsync(primary, "b:");
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));

        await primary.CallAsync("CLIENT", "KILL", "TYPE", "replica");
        await LiveWritesAsync(primary, "c:");
        await WaitForLinkAsync(replica);
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal("1", await InfoFieldAsync(primary, "sync_full", "stats"));
        Assert.Equal("1", await InfoFieldAsync(primary, "sync_partial_ok", "stats"));
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));
        Assert.Equal(1, (await primary.CallAsync("WAIT", "1", "5000")).Integer);
    }

    /// <summary>
    /// A user's migration: Redis serves writers, Kvasir attaches as its replica, writers pause,
    /// Kvasir is promoted, writers resume on Kvasir. Every write Redis acknowledged is on Kvasir.
    /// </summary>
    [Fact]
    public async Task MigrationOffRedisLosesNoAcknowledgedWrite()
    {
        await using var redis = await ExternalServer.StartRedisAsync();
        await using var kvasir = await TestServer.StartAsync(Fast);
        await using var admin = await kvasir.ConnectAsync();
        await using (var seed = await redis.ConnectAsync()) await FillAsync(seed, "seed:");

        int target = redis.Port;
        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        using var stop = new CancellationTokenSource();
        bool paused = false;
        async Task Writer(int id)
        {
            RespClient? c = null;
            int connectedTo = 0;
            long n = 0;
            while (!stop.IsCancellationRequested)
            {
                if (Volatile.Read(ref paused)) { await Task.Delay(5); continue; }
                int port = Volatile.Read(ref target);
                if (c is null || connectedTo != port)
                {
                    if (c is not null) await c.DisposeAsync();
                    c = await RespClient.ConnectAsync("127.0.0.1", port);
                    connectedTo = port;
                }
                n++;
                var reply = await c.CallAsync("INCR", "counter:" + id);
                if (reply.Kind == ':') acknowledged[$"counter:{id}"] = reply.Integer;
            }
            if (c is not null) await c.DisposeAsync();
        }
        var writers = Enumerable.Range(0, 4).Select(Writer).ToArray();
        await Task.Delay(200);
        await AttachAsync(admin, redis.Port);
        await Task.Delay(300);

        // Cut-over: writers pause, Kvasir catches up and is promoted, writers go to Kvasir.
        Volatile.Write(ref paused, true);
        await Task.Delay(100);
        await using (var r = await redis.ConnectAsync()) await WaitForOffsetsAsync(r, admin);
        Assert.Equal("OK", await admin.CallTextAsync("REPLICAOF", "NO", "ONE"));
        Volatile.Write(ref target, kvasir.Port);
        Volatile.Write(ref paused, false);
        await Task.Delay(300);
        stop.Cancel();
        await Task.WhenAll(writers);

        foreach (var (key, value) in acknowledged)
            Assert.True(long.Parse((await admin.CallTextAsync("GET", key))!) >= value, key);
        Assert.Equal("hello", await admin.CallTextAsync("GET", "seed:str"));
        Assert.Equal("master", await InfoFieldAsync(admin, "role"));
    }
}
