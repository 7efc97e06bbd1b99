using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Types;

/// <summary>
/// Per-field hash expiry (Valkey 9): HEXPIRE & co., HTTL & co., HPERSIST, HGETEX, HSETEX, expired
/// fields never visible, lazy and active reclaiming, propagation as HDEL / HPEXPIREAT.
/// Expectations follow Valkey 9's t_hash.c and its hash-field-expire tests.
/// </summary>
public sealed class HashFieldExpiryTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public HashFieldExpiryTests(SharedServerFixture fixture) => _server = fixture.Server;

    private async Task<RespClient> FreshAsync()
    {
        var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SELECT", "5"));
        Assert.Equal("OK", await c.CallTextAsync("FLUSHDB"));
        return c;
    }

    private static async Task<long[]> IntsAsync(RespClient c, params object[] cmd)
    {
        var r = await c.CallAsync(cmd);
        Assert.False(r.IsError, r.Text);
        return r.Items!.Select(i => i.Integer).ToArray();
    }

    private static async Task AssertErrorAsync(RespClient c, string expected, params object[] cmd)
    {
        var reply = await c.CallAsync(cmd);
        Assert.True(reply.IsError, $"expected an error, got {reply}");
        Assert.Equal(expected, reply.Text);
    }

    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task HExpireReturnsOneCodePerField()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2", "c", "3");
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "h"));
        Assert.Equal(new long[] { 1, -2 }, await IntsAsync(c, "HEXPIRE", "h", "100", "FIELDS", "2", "a", "nope"));
        // Valkey 9 keeps fields with a TTL in the hashtable encoding.
        Assert.Equal("hashtable", await c.CallTextAsync("OBJECT", "ENCODING", "h"));
        Assert.Equal(new long[] { 100, -1, -2 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "3", "a", "b", "nope"));
        Assert.Equal(new long[] { 1, 0 }, await IntsAsync(c, "HEXPIRE", "h", "200", "XX", "FIELDS", "2", "a", "b"));
        Assert.Equal(new long[] { 0, 1 }, await IntsAsync(c, "HEXPIRE", "h", "50", "NX", "FIELDS", "2", "a", "b"));
        Assert.Equal(new long[] { 0 }, await IntsAsync(c, "HEXPIRE", "h", "10", "GT", "FIELDS", "1", "a"));
        Assert.Equal(new long[] { 1, 1 }, await IntsAsync(c, "HEXPIRE", "h", "10", "LT", "FIELDS", "2", "a", "c"));
        // A time not in the future deletes the field: code 2.
        Assert.Equal(new long[] { 2 }, await IntsAsync(c, "HEXPIRE", "h", "0", "FIELDS", "1", "c"));
        Assert.Equal(2, (await c.CallAsync("HLEN", "h")).Integer);
        Assert.Equal(new long[] { -2, -2 }, await IntsAsync(c, "HEXPIRE", "missing", "10", "FIELDS", "2", "a", "b"));
    }

    [Fact]
    public async Task ConditionsOnAListpackHashTreatFieldsAsPersistent()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1");
        Assert.Equal(new long[] { 0 }, await IntsAsync(c, "HEXPIRE", "h", "10", "XX", "FIELDS", "1", "a"));
        Assert.Equal(new long[] { 0 }, await IntsAsync(c, "HEXPIRE", "h", "10", "GT", "FIELDS", "1", "a"));
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "h"));
        Assert.Equal(new long[] { 1 }, await IntsAsync(c, "HEXPIRE", "h", "10", "LT", "FIELDS", "1", "a"));
    }

    [Fact]
    public async Task AbsoluteAndMillisecondVariants()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2");
        long atMs = NowMs + 100_000;
        Assert.Equal(new long[] { 1 }, await IntsAsync(c, "HPEXPIREAT", "h", atMs, "FIELDS", "1", "a"));
        Assert.Equal(new long[] { atMs }, await IntsAsync(c, "HPEXPIRETIME", "h", "FIELDS", "1", "a"));
        Assert.Equal(new long[] { (atMs + 500) / 1000 }, await IntsAsync(c, "HEXPIRETIME", "h", "FIELDS", "1", "a"));
        Assert.InRange((await IntsAsync(c, "HPTTL", "h", "FIELDS", "1", "a"))[0], 90_000, 100_000);
        long atS = NowMs / 1000 + 500;
        Assert.Equal(new long[] { 1 }, await IntsAsync(c, "HEXPIREAT", "h", atS, "FIELDS", "1", "b"));
        Assert.Equal(new long[] { atS * 1000 }, await IntsAsync(c, "HPEXPIRETIME", "h", "FIELDS", "1", "b"));
        Assert.Equal(new long[] { 1 }, await IntsAsync(c, "HPEXPIRE", "h", "123456", "FIELDS", "1", "b"));
        Assert.InRange((await IntsAsync(c, "HPTTL", "h", "FIELDS", "1", "b"))[0], 120_000, 123_456);
    }

    [Fact]
    public async Task ErrorsAndTheirOrder()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1");
        await c.CallAsync("SET", "s", "x");
        const string numfields = "ERR numfields should be greater than 0 and match the provided number of fields";
        await AssertErrorAsync(c, numfields, "HEXPIRE", "h", "10", "FIELDS", "2", "a");
        await AssertErrorAsync(c, numfields, "HEXPIRE", "h", "10", "FIELDS", "0", "a");
        await AssertErrorAsync(c, numfields, "HEXPIRE", "h", "10", "a", "b", "c");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "HEXPIRE", "h", "10", "FIELDS", "x", "a");
        await AssertErrorAsync(c, "ERR Unsupported option FOO", "HEXPIRE", "h", "10", "FOO", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR NX and XX, GT or LT options at the same time are not compatible", "HEXPIRE", "h", "10", "NX", "GT", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR GT and LT options at the same time are not compatible", "HEXPIRE", "h", "10", "GT", "LT", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR invalid expire time in 'hexpire' command", "HEXPIRE", "h", "-5", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR invalid expire time in 'hexpire' command", "HEXPIRE", "h", "9223372036854775", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "HEXPIRE", "h", "abc", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "HEXPIRE", "s", "10", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR wrong number of arguments for 'hexpire' command", "HEXPIRE", "h", "10", "FIELDS", "1");
        await AssertErrorAsync(c, "ERR syntax error", "HTTL", "h", "FIELDS", "2", "a");
        await AssertErrorAsync(c, numfields, "HPERSIST", "h", "FIELDS", "2", "a");
        await AssertErrorAsync(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "HTTL", "s", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR syntax error", "HGETEX", "h", "EX", "10", "PX", "10", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR syntax error", "HGETEX", "h", "EX", "FIELDS", "1", "a");
        await AssertErrorAsync(c, "ERR invalid expire time in 'hgetex' command", "HGETEX", "h", "EX", "-10", "FIELDS", "1", "a");
        await AssertErrorAsync(c, numfields, "HGETEX", "h", "FIELDS", "0", "a");
        await AssertErrorAsync(c, "ERR syntax error", "HSETEX", "h", "FNX", "FXX", "EX", "10", "FIELDS", "1", "a", "b");
        await AssertErrorAsync(c, "ERR syntax error", "HSETEX", "h", "EX", "10", "KEEPTTL", "FIELDS", "1", "a", "b");
        await AssertErrorAsync(c, numfields, "HSETEX", "h", "PX", "100", "FIELDS", "1", "a", "b", "extra");
        await AssertErrorAsync(c, "ERR invalid expire time in 'hsetex' command", "HSETEX", "h", "PX", "-50", "FIELDS", "1", "a", "b");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "HSETEX", "h", "EX", "abc", "FIELDS", "1", "a", "b");
    }

    [Fact]
    public async Task HPersistRemovesTtls()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2");
        Assert.Equal(new long[] { -1, -2 }, await IntsAsync(c, "HPERSIST", "h", "FIELDS", "2", "a", "x"));
        await IntsAsync(c, "HEXPIRE", "h", "100", "FIELDS", "1", "a");
        Assert.Equal(new long[] { 1, -1 }, await IntsAsync(c, "HPERSIST", "h", "FIELDS", "2", "a", "b"));
        Assert.Equal(new long[] { -1 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "1", "a"));
        Assert.Equal(new long[] { -2 }, await IntsAsync(c, "HPERSIST", "missing", "FIELDS", "1", "a"));
    }

    [Fact]
    public async Task ExpiredFieldsAreNeverVisible()
    {
        await using var c = await FreshAsync();
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "SET-ACTIVE-EXPIRE", "0"));
        try
        {
            await c.CallAsync("HSET", "h", "gone", "1", "kept", "2");
            await IntsAsync(c, "HPEXPIRE", "h", "30", "FIELDS", "1", "gone");
            await Task.Delay(80);
            Assert.True((await c.CallAsync("HGET", "h", "gone")).IsNull);
            Assert.Equal(0, (await c.CallAsync("HEXISTS", "h", "gone")).Integer);
            Assert.Equal(1, (await c.CallAsync("HLEN", "h")).Integer);
            Assert.Equal(new[] { "kept", "2" }, (await c.CallAsync("HGETALL", "h")).Items!.Select(i => i.Text).ToArray());
            Assert.Equal(new long[] { -2 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "1", "gone"));

            // The last field expiring deletes the key on the next access.
            await IntsAsync(c, "HPEXPIRE", "h", "30", "FIELDS", "1", "kept");
            await Task.Delay(80);
            Assert.Equal(0, (await c.CallAsync("HLEN", "h")).Integer);
            Assert.Equal(0, (await c.CallAsync("EXISTS", "h")).Integer);
            Assert.Contains("expired_fields:", (await c.CallAsync("INFO", "stats")).Text);
        }
        finally
        {
            await c.CallAsync("DEBUG", "SET-ACTIVE-EXPIRE", "1");
        }
    }

    [Fact]
    public async Task ActiveExpiryDeletesTheKey()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2");
        await c.CallAsync("HSET", "other", "x", "1");
        await IntsAsync(c, "HPEXPIRE", "h", "20", "FIELDS", "2", "a", "b");
        await IntsAsync(c, "HPEXPIRE", "other", "20", "FIELDS", "1", "x");
        for (int i = 0; i < 50 && (await c.CallAsync("DBSIZE")).Integer > 0; i++) await Task.Delay(50);
        Assert.Equal(0, (await c.CallAsync("DBSIZE")).Integer);
    }

    [Fact]
    public async Task HSetClearsTtlButHIncrByKeepsIt()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2");
        await IntsAsync(c, "HEXPIRE", "h", "100", "FIELDS", "2", "a", "b");
        await c.CallAsync("HSET", "h", "a", "5");
        Assert.Equal(new long[] { -1 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "1", "a"));
        Assert.Equal(7, (await c.CallAsync("HINCRBY", "h", "b", "5")).Integer);
        Assert.Equal(new long[] { 100 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "1", "b"));
    }

    [Fact]
    public async Task HGetExReadsThenChangesTtls()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2");
        var got = await c.CallAsync("HGETEX", "h", "EX", "100", "FIELDS", "3", "a", "b", "nope");
        Assert.Equal("1", got.Items![0].Text);
        Assert.Equal("2", got.Items[1].Text);
        Assert.True(got.Items[2].IsNull);
        Assert.Equal(new long[] { 100, 100 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "2", "a", "b"));
        await c.CallAsync("HGETEX", "h", "PERSIST", "FIELDS", "1", "a");
        Assert.Equal(new long[] { -1, 100 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "2", "a", "b"));
        await c.CallAsync("HGETEX", "h", "PXAT", NowMs + 50_000, "FIELDS", "1", "a");
        Assert.InRange((await IntsAsync(c, "HPTTL", "h", "FIELDS", "1", "a"))[0], 40_000, 50_000);
        // A time already past returns the values, then deletes the fields (and the emptied key).
        var last = await c.CallAsync("HGETEX", "h", "PX", "0", "FIELDS", "2", "a", "b");
        Assert.Equal(new[] { "1", "2" }, last.Items!.Select(i => i.Text).ToArray());
        Assert.Equal(0, (await c.CallAsync("EXISTS", "h")).Integer);
        var none = await c.CallAsync("HGETEX", "missing", "FIELDS", "1", "a");
        Assert.True(none.Items![0].IsNull);
    }

    [Fact]
    public async Task HSetExConditionsAndTtls()
    {
        await using var c = await FreshAsync();
        Assert.Equal(1, (await c.CallAsync("HSETEX", "h", "EX", "100", "FIELDS", "2", "a", "1", "b", "2")).Integer);
        Assert.Equal(new long[] { 100, 100 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "2", "a", "b"));
        Assert.Equal(0, (await c.CallAsync("HSETEX", "h", "FNX", "EX", "10", "FIELDS", "2", "a", "9", "c", "3")).Integer);
        Assert.Equal("1", await c.CallTextAsync("HGET", "h", "a"));
        Assert.Equal(1, (await c.CallAsync("HSETEX", "h", "FXX", "KEEPTTL", "FIELDS", "1", "a", "new")).Integer);
        Assert.Equal("new", await c.CallTextAsync("HGET", "h", "a"));
        Assert.Equal(new long[] { 100 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "1", "a"));
        // Without KEEPTTL a write drops the TTL, as HSET does.
        Assert.Equal(1, (await c.CallAsync("HSETEX", "h", "FIELDS", "1", "a", "plain")).Integer);
        Assert.Equal(new long[] { -1 }, await IntsAsync(c, "HTTL", "h", "FIELDS", "1", "a"));
        Assert.Equal(0, (await c.CallAsync("HSETEX", "missing", "FXX", "EX", "10", "FIELDS", "1", "x", "y")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "missing")).Integer);
        Assert.Equal(0, (await c.CallAsync("HSETEX", "h", "NX", "FIELDS", "1", "x", "y")).Integer);
        Assert.Equal(0, (await c.CallAsync("HSETEX", "missing", "XX", "FIELDS", "1", "x", "y")).Integer);
        // A time already past deletes the named fields.
        Assert.Equal(1, (await c.CallAsync("HSETEX", "h", "PX", "0", "FIELDS", "2", "a", "v", "b", "v")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "h")).Integer);
        // Without a TTL a small hash stays a listpack.
        await c.CallAsync("HSETEX", "p", "FIELDS", "1", "f", "v");
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "p"));
    }

    [Fact]
    public async Task Resp3RepliesAreArraysOfIntegers()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("HSET", "h", "a", "1");
        var r = await c.CallAsync("HEXPIRE", "h", "100", "FIELDS", "2", "a", "b");
        Assert.Equal('*', r.Kind);
        Assert.Equal(new[] { ':', ':' }, r.Items!.Select(i => i.Kind).ToArray());
        var g = await c.CallAsync("HGETEX", "h", "FIELDS", "2", "a", "b");
        Assert.Equal('_', g.Items![1].Kind);
    }

    [Fact]
    public async Task CommandInfoKnowsTheNewCommands()
    {
        await using var c = await FreshAsync();
        var info = await c.CallAsync("COMMAND", "INFO", "hexpire", "hsetex", "httl");
        Assert.Equal("hexpire", info.Items![0].Items![0].Text);
        Assert.Equal(-6, info.Items[0].Items![1].Integer);
        Assert.Equal(-6, info.Items[1].Items![1].Integer);
        Assert.Equal(-5, info.Items[2].Items![1].Integer);
    }

    [Fact]
    public async Task CopyAndRenameKeepFieldTtls()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2");
        await IntsAsync(c, "HEXPIRE", "h", "100", "FIELDS", "1", "a");
        Assert.Equal(1, (await c.CallAsync("COPY", "h", "h2")).Integer);
        Assert.Equal(new long[] { 100, -1 }, await IntsAsync(c, "HTTL", "h2", "FIELDS", "2", "a", "b"));
        Assert.Equal("OK", await c.CallTextAsync("RENAME", "h", "h3"));
        Assert.Equal(new long[] { 100 }, await IntsAsync(c, "HTTL", "h3", "FIELDS", "1", "a"));
    }

    private static async Task<RespClient> AttachReplicaAsync(TestServer server)
    {
        var replica = await server.ConnectAsync();
        await replica.SendRawAsync("SYNC\r\n");
        // A primary sends bare newlines while it prepares the image (a busy machine): skip them.
        string header = "";
        while (true)
        {
            header += await replica.ReadRawAsync(1);
            if (header == "\n") header = "";
            else if (header.EndsWith('\n')) break;
        }
        await replica.ReadRawAsync(int.Parse(header[1..].Trim()));
        return replica;
    }

    private static async Task<string[]> NextAsync(RespClient replica)
    {
        while (true)
        {
            var argv = (await replica.ReadAsync()).Items!.Select(i => i.Text!).ToArray();
            if (argv is not ["PING"] and not ["SELECT", _]) return argv;
        }
    }

    [Fact]
    public async Task EffectsAreReplayedAsAbsoluteTimesAndHDel()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("HSET", "h", "a", "1", "b", "2", "c", "3");
        await using var replica = await AttachReplicaAsync(server);

        await c.CallAsync("HEXPIRE", "h", "100", "FIELDS", "1", "a");
        var pexpireat = await NextAsync(replica);
        Assert.Equal(new[] { "HPEXPIREAT", "h" }, pexpireat[..2]);
        Assert.InRange(long.Parse(pexpireat[2]), NowMs + 90_000, NowMs + 100_000);
        Assert.Equal(new[] { "FIELDS", "1", "a" }, pexpireat[3..]);

        await c.CallAsync("HEXPIRE", "h", "0", "FIELDS", "1", "b");
        Assert.Equal(new[] { "HDEL", "h", "b" }, await NextAsync(replica));

        await c.CallAsync("HSETEX", "h", "FNX", "EX", "50", "FIELDS", "1", "d", "4");
        var hsetex = await NextAsync(replica);
        Assert.Equal(new[] { "HSETEX", "h", "PXAT" }, hsetex[..3]);
        Assert.Equal(new[] { "FIELDS", "1", "d", "4" }, hsetex[4..]);

        await c.CallAsync("HGETEX", "h", "PERSIST", "FIELDS", "2", "d", "c");
        Assert.Equal(new[] { "HPERSIST", "h", "FIELDS", "1", "d" }, await NextAsync(replica));

        // A field reclaimed by expiry is replayed as HDEL.
        await c.CallAsync("HPEXPIRE", "h", "20", "FIELDS", "1", "c");
        Assert.Equal("HPEXPIREAT", (await NextAsync(replica))[0]);
        Assert.Equal(new[] { "HDEL", "h", "c" }, await NextAsync(replica));
    }
}
