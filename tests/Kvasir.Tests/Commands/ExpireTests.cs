using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Commands;

/// <summary>The TTL family, lazy and active expiry; expectations checked against a real Valkey 8.</summary>
public sealed class ExpireTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ExpireTests(SharedServerFixture fixture) => _server = fixture.Server;

    private async Task<RespClient> FreshAsync()
    {
        var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("FLUSHALL"));
        return c;
    }

    private static async Task<long> IntAsync(RespClient c, params object[] cmd)
    {
        var r = await c.CallAsync(cmd);
        Assert.False(r.IsError, r.Text);
        return r.Integer;
    }

    private static async Task AssertErrorAsync(RespClient c, string expected, params object[] cmd)
    {
        var reply = await c.CallAsync(cmd);
        Assert.True(reply.IsError, $"expected an error, got {reply}");
        Assert.Equal(expected, reply.Text);
    }

    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    [Fact]
    public async Task ExpireSetsATimeToLive()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "x", "foobar");
        Assert.Equal(-1, await IntAsync(c, "TTL", "x"));
        Assert.Equal(1, await IntAsync(c, "EXPIRE", "x", "5"));
        Assert.InRange(await IntAsync(c, "TTL", "x"), 4, 5);
        Assert.InRange(await IntAsync(c, "PTTL", "x"), 4000, 5000);
        Assert.Equal(1, await IntAsync(c, "PEXPIRE", "x", "100000"));
        Assert.InRange(await IntAsync(c, "PTTL", "x"), 99000, 100000);
        Assert.Equal(-2, await IntAsync(c, "TTL", "missing"));
        Assert.Equal(-2, await IntAsync(c, "PTTL", "missing"));
        Assert.Equal(0, await IntAsync(c, "EXPIRE", "missing", "10"));
    }

    [Fact]
    public async Task AbsoluteExpireTimesRoundTrip()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "x", "v");
        long abs = NowMs / 1000 + 100;
        Assert.Equal(1, await IntAsync(c, "EXPIREAT", "x", abs));
        Assert.Equal(abs, await IntAsync(c, "EXPIRETIME", "x"));
        Assert.Equal(abs * 1000, await IntAsync(c, "PEXPIRETIME", "x"));
        long absMs = NowMs + 100_123;
        Assert.Equal(1, await IntAsync(c, "PEXPIREAT", "x", absMs));
        Assert.Equal(absMs, await IntAsync(c, "PEXPIRETIME", "x"));
        Assert.Equal((absMs + 500) / 1000, await IntAsync(c, "EXPIRETIME", "x"));
        await c.CallAsync("SET", "y", "v");
        Assert.Equal(-1, await IntAsync(c, "EXPIRETIME", "y"));
        Assert.Equal(-2, await IntAsync(c, "PEXPIRETIME", "missing"));
    }

    [Fact]
    public async Task LargestExpireTimeIsAcceptedAndRounded()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "x", "v");
        Assert.Equal(1, await IntAsync(c, "PEXPIREAT", "x", long.MaxValue));
        Assert.Equal(long.MaxValue, await IntAsync(c, "PEXPIRETIME", "x"));
        Assert.Equal(9223372036854776, await IntAsync(c, "EXPIRETIME", "x"));
    }

    [Fact]
    public async Task ExpireInThePastDeletesTheKey()
    {
        await using var c = await FreshAsync();
        long expiredBefore = _server.Server.Keyspace.ExpiredKeys;
        foreach (var cmd in new[] { new object[] { "EXPIRE", "k", "-1" }, new object[] { "PEXPIRE", "k", "0" },
                     new object[] { "EXPIREAT", "k", "1" }, new object[] { "PEXPIREAT", "k", NowMs - 1000 } })
        {
            await c.CallAsync("SET", "k", "v");
            var withKey = cmd.ToArray();
            Assert.Equal(1, await IntAsync(c, withKey));
            Assert.Equal(0, await IntAsync(c, "EXISTS", "k"));
        }
        // An ordinary deletion, not an expiry.
        Assert.Equal(expiredBefore, _server.Server.Keyspace.ExpiredKeys);
    }

    [Fact]
    public async Task OptionErrors()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "foo", "bar");
        await AssertErrorAsync(c, "ERR NX and XX, GT or LT options at the same time are not compatible", "EXPIRE", "foo", "200", "NX", "XX");
        await AssertErrorAsync(c, "ERR NX and XX, GT or LT options at the same time are not compatible", "EXPIRE", "foo", "200", "NX", "GT");
        await AssertErrorAsync(c, "ERR NX and XX, GT or LT options at the same time are not compatible", "PEXPIRE", "foo", "200", "LT", "NX");
        await AssertErrorAsync(c, "ERR GT and LT options at the same time are not compatible", "EXPIRE", "foo", "200", "GT", "LT");
        await AssertErrorAsync(c, "ERR Unsupported option xx1", "EXPIRE", "foo", "200", "xx1");
        // Options are checked before the time.
        await AssertErrorAsync(c, "ERR Unsupported option bar", "EXPIRE", "foo", "abc", "bar");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "EXPIRE", "foo", "abc");
        await AssertErrorAsync(c, "ERR value is not an integer or out of range", "EXPIRE", "foo", "1.5");
    }

    [Fact]
    public async Task OverflowingTimesAreInvalid()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "foo", "bar");
        await AssertErrorAsync(c, "ERR invalid expire time in 'expire' command", "EXPIRE", "foo", "9223372036854775");
        await AssertErrorAsync(c, "ERR invalid expire time in 'expire' command", "EXPIRE", "foo", "-9223372036854776");
        await AssertErrorAsync(c, "ERR invalid expire time in 'expireat' command", "EXPIREAT", "foo", "9223372036854776");
        await AssertErrorAsync(c, "ERR invalid expire time in 'pexpire' command", "PEXPIRE", "foo", long.MaxValue);
        Assert.Equal(1, await IntAsync(c, "EXISTS", "foo"));
        // Large negative values that do not overflow are simply in the past.
        Assert.Equal(1, await IntAsync(c, "PEXPIRE", "foo", long.MinValue));
        Assert.Equal(0, await IntAsync(c, "EXISTS", "foo"));
    }

    [Fact]
    public async Task NxXxGtLtConditions()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "foo", "bar");
        // No TTL yet: XX and GT refuse, NX and LT accept.
        Assert.Equal(0, await IntAsync(c, "EXPIRE", "foo", "200", "XX"));
        Assert.Equal(0, await IntAsync(c, "EXPIRE", "foo", "200", "GT"));
        Assert.Equal(1, await IntAsync(c, "EXPIRE", "foo", "200", "LT"));
        Assert.Equal(0, await IntAsync(c, "EXPIRE", "foo", "100", "NX"));
        Assert.Equal(1, await IntAsync(c, "EXPIRE", "foo", "300", "xx"));
        Assert.Equal(0, await IntAsync(c, "EXPIRE", "foo", "200", "GT"));
        Assert.Equal(1, await IntAsync(c, "EXPIRE", "foo", "400", "GT"));
        Assert.Equal(0, await IntAsync(c, "EXPIRE", "foo", "500", "LT"));
        Assert.Equal(1, await IntAsync(c, "EXPIRE", "foo", "100", "LT", "XX"));
        Assert.InRange(await IntAsync(c, "TTL", "foo"), 99, 100);
        await c.CallAsync("SET", "bar", "x");
        Assert.Equal(1, await IntAsync(c, "EXPIRE", "bar", "100", "NX"));
        Assert.Equal(0, await IntAsync(c, "EXPIRE", "missing", "100", "NX"));
    }

    [Fact]
    public async Task PersistRemovesTheTtl()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "x", "foo");
        await c.CallAsync("EXPIRE", "x", "50");
        Assert.Equal(1, await IntAsync(c, "PERSIST", "x"));
        Assert.Equal(-1, await IntAsync(c, "TTL", "x"));
        Assert.Equal(0, await IntAsync(c, "PERSIST", "x"));
        Assert.Equal(0, await IntAsync(c, "PERSIST", "missing"));
    }

    [Fact]
    public async Task SetClearsTheTtl()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "x", "one");
        await c.CallAsync("EXPIRE", "x", "50");
        await c.CallAsync("SET", "x", "two"); // same length: overwritten in place
        Assert.Equal(-1, await IntAsync(c, "TTL", "x"));
        Assert.Equal(0, await IntAsync(c, "PERSIST", "x"));
    }

    [Fact]
    public async Task LazyExpiryHidesAndCountsTheKey()
    {
        await using var c = await FreshAsync();
        _server.Server.ActiveExpireEnabled = false;
        try
        {
            long before = _server.Server.Keyspace.ExpiredKeys;
            await c.CallAsync("SET", "x", "v");
            Assert.Equal(1, await IntAsync(c, "PEXPIRE", "x", "30"));
            Assert.Equal("v", await c.CallTextAsync("GET", "x"));
            await Task.Delay(60);
            Assert.Equal(1, await IntAsync(c, "DBSIZE"));
            Assert.Null(await c.CallTextAsync("GET", "x"));
            Assert.Equal(0, await IntAsync(c, "DBSIZE"));
            Assert.Equal(before + 1, _server.Server.Keyspace.ExpiredKeys);
        }
        finally
        {
            _server.Server.ActiveExpireEnabled = true;
        }
    }

    [Fact]
    public async Task ActiveExpiryDeletesAndCountsKeys()
    {
        await using var c = await FreshAsync();
        long before = _server.Server.Keyspace.ExpiredKeys;
        for (int i = 0; i < 200; i++)
        {
            await c.CallAsync("SET", "vol:" + i, "v");
            await c.CallAsync("PEXPIRE", "vol:" + i, "50");
        }
        for (int i = 0; i < 50; i++) await c.CallAsync("SET", "keep:" + i, "v");
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (await IntAsync(c, "DBSIZE") > 50 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(50, await IntAsync(c, "DBSIZE"));
        Assert.Equal(before + 200, _server.Server.Keyspace.ExpiredKeys);
    }

    [Fact]
    public async Task RenameAndMoveKeepTheExpireTime()
    {
        await using var c = await FreshAsync();
        await c.CallAsync("SET", "a", "v");
        long at = NowMs + 500_000;
        await c.CallAsync("PEXPIREAT", "a", at);
        await c.CallAsync("RENAME", "a", "b");
        Assert.Equal(at, await IntAsync(c, "PEXPIRETIME", "b"));
        await c.CallAsync("MOVE", "b", "2");
        await c.CallAsync("SELECT", "2");
        Assert.Equal(at, await IntAsync(c, "PEXPIRETIME", "b"));
    }
}
