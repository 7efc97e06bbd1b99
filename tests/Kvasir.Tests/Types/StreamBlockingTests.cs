using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Types;

/// <summary>
/// XREAD and XREADGROUP with BLOCK across connections: woken by the write that brings data, in
/// blocking order with other blocked clients, never by writes that leave nothing to read; XREADGROUP
/// also learns that its stream or group went away. Expected replies are Valkey 8.1's.
/// </summary>
public sealed class StreamBlockingTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public StreamBlockingTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static string Key(string name) => "sblock:" + name + ":" + Guid.NewGuid().ToString("N");

    private static async Task<long> IdOf(RespClient c) => (await c.CallAsync("CLIENT", "ID")).Integer;

    private static async Task WaitBlockedAsync(RespClient observer, long id)
    {
        for (int i = 0; i < 300; i++)
        {
            var r = await observer.CallAsync("CLIENT", "LIST", "ID", id.ToString());
            if (r.Text!.Contains("flags=b")) return;
            await Task.Delay(10);
        }
        Assert.Fail($"client {id} never blocked");
    }

    private async Task<RespClient> BlockAsync(RespClient observer, params object[] command)
    {
        var waiter = await _server.ConnectAsync();
        long id = await IdOf(waiter);
        await waiter.SendAsync(command);
        await WaitBlockedAsync(observer, id);
        return waiter;
    }

    [Fact]
    public async Task ReadWaitsForEntriesAfterTheLastIdItSaw()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("dollar");
        await c.CallAsync("XADD", k, "1-0", "old", "x");
        await using var waiter = await BlockAsync(c, "XREAD", "BLOCK", "0", "STREAMS", k, "$");
        // A write that adds nothing readable (XDEL) does not answer it; the next XADD does.
        await c.CallAsync("XDEL", k, "1-0");
        await c.CallAsync("XADD", k, "2-0", "new", "y");
        Assert.Equal($"[[{k}, [[2-0, [new, y]]]]]", (await waiter.ReadAsync()).ToString());
    }

    [Fact]
    public async Task TransactionAddingThenDeletingDoesNotWake()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("multi");
        await using var waiter = await BlockAsync(c, "XREAD", "BLOCK", "0", "STREAMS", k, "$");
        await c.CallAsync("MULTI");
        await c.CallAsync("XADD", k, "*", "old", "x");
        await c.CallAsync("DEL", k);
        await c.CallAsync("LPUSH", k, "a");
        await c.CallAsync("EXEC");
        await c.CallAsync("DEL", k);
        await c.CallAsync("XADD", k, "5-0", "new", "y");
        Assert.Equal($"[[{k}, [[5-0, [new, y]]]]]", (await waiter.ReadAsync()).ToString());
    }

    [Fact]
    public async Task TimeoutAndClientUnblock()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("timeout");
        await using var waiter = await _server.ConnectAsync();
        await waiter.SendAsync("XREAD", "BLOCK", "50", "STREAMS", k, "$");
        Assert.True((await waiter.ReadAsync()).IsNull);
        long id = await IdOf(waiter);
        await waiter.SendAsync("XREAD", "BLOCK", "0", "STREAMS", k, "$");
        await WaitBlockedAsync(c, id);
        Assert.Equal(1, (await c.CallAsync("CLIENT", "UNBLOCK", id.ToString(), "ERROR")).Integer);
        Assert.Equal("UNBLOCKED client unblocked via CLIENT UNBLOCK", (await waiter.ReadAsync()).Text);
    }

    [Fact]
    public async Task StreamAndListWaitersAreServedInTheOrderTheirKeysWereWritten()
    {
        await using var c = await _server.ConnectAsync();
        string s = "{order}" + Key("s"), l = "{order}" + Key("l");
        await using var onList = await BlockAsync(c, "BLPOP", l, "0");
        await using var onStream = await BlockAsync(c, "XREAD", "BLOCK", "0", "STREAMS", s, "$");
        await using var second = await BlockAsync(c, "XREAD", "BLOCK", "0", "COUNT", "1", "STREAMS", s, "$");
        await c.CallAsync("MULTI");
        await c.CallAsync("XADD", s, "1-0", "f", "1");
        await c.CallAsync("XADD", s, "2-0", "f", "2");
        await c.CallAsync("RPUSH", l, "x");
        await c.CallAsync("EXEC");
        Assert.Equal($"[[{s}, [[1-0, [f, 1]], [2-0, [f, 2]]]]]", (await onStream.ReadAsync()).ToString());
        Assert.Equal($"[[{s}, [[1-0, [f, 1]]]]]", (await second.ReadAsync()).ToString());
        Assert.Equal($"[{l}, x]", (await onList.ReadAsync()).ToString());
    }

    [Fact]
    public async Task ReadGroupWaitersShareNewEntriesInBlockingOrder()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("share");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        await using var first = await BlockAsync(c, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", k, ">");
        await using var second = await BlockAsync(c, "XREADGROUP", "GROUP", "g", "bob", "BLOCK", "0", "STREAMS", k, ">");
        await c.CallAsync("XADD", k, "1-0", "f", "1");
        Assert.Equal($"[[{k}, [[1-0, [f, 1]]]]]", (await first.ReadAsync()).ToString());
        // bob ran again, found nothing new for the group, and waits for the next entry.
        await c.CallAsync("XADD", k, "2-0", "f", "2");
        Assert.Equal($"[[{k}, [[2-0, [f, 2]]]]]", (await second.ReadAsync()).ToString());
        Assert.Equal("[2, 1-0, 2-0, [[alice, 1], [bob, 1]]]", (await c.CallAsync("XPENDING", k, "g")).ToString());
    }

    [Fact]
    public async Task ReadGroupLearnsThatItsStreamOrGroupWentAway()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("gone");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");

        await using (var waiter = await BlockAsync(c, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", k, ">"))
        {
            Assert.Equal("1", InfoField(await c.CallTextAsync("INFO", "clients"), "total_blocking_keys_on_nokey"));
            await c.CallAsync("DEL", k);
            Assert.Equal($"NOGROUP No such key '{k}' or consumer group 'g' in XREADGROUP with GROUP option", (await waiter.ReadAsync()).Text);
        }

        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        await using (var waiter = await BlockAsync(c, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", k, ">"))
        {
            await c.CallAsync("SET", k, "now a string");
            Assert.Equal("WRONGTYPE Operation against a key holding the wrong kind of value", (await waiter.ReadAsync()).Text);
        }

        await c.CallAsync("DEL", k);
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        await using (var waiter = await BlockAsync(c, "XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", k, ">"))
        {
            Assert.Equal(1, (await c.CallAsync("XGROUP", "DESTROY", k, "g")).Integer);
            Assert.StartsWith("NOGROUP", (await waiter.ReadAsync()).Text);
        }
        Assert.Equal("0", InfoField(await c.CallTextAsync("INFO", "clients"), "total_blocking_keys_on_nokey"));
    }

    [Fact]
    public async Task FlushWakesReadGroupWaiters()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM");
        await using var waiter = await server.ConnectAsync();
        long id = await IdOf(waiter);
        await waiter.SendAsync("XREADGROUP", "GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "s", ">");
        await WaitBlockedAsync(c, id);
        await c.CallAsync("FLUSHALL");
        Assert.StartsWith("NOGROUP", (await waiter.ReadAsync()).Text);
    }

    [Fact]
    public async Task TransactionsAndScriptsNeverWait()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("noblock");
        await c.CallAsync("MULTI");
        await c.CallAsync("XREAD", "BLOCK", "0", "STREAMS", k, "$");
        Assert.Equal("[(nil)]", (await c.CallAsync("EXEC")).ToString());
        Assert.True((await c.CallAsync("EVAL", "return redis.pcall('xread','BLOCK',0,'STREAMS',KEYS[1],'$')", "1", k)).IsNull);
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        Assert.True((await c.CallAsync("EVAL", "return redis.pcall('xreadgroup','GROUP','g','c','BLOCK',0,'STREAMS',KEYS[1],'>')", "1", k)).IsNull);
        await c.CallAsync("XADD", k, "1-0", "f", "v");
        Assert.Equal($"[[{k}, [[1-0, [f, v]]]]]", (await c.CallAsync("EVAL", "return redis.pcall('xreadgroup','GROUP','g','c','BLOCK',0,'STREAMS',KEYS[1],'>')", "1", k)).ToString());
    }

    [Fact]
    public async Task AServedWaiterKeepsItsDeadlineWhenItWaitsAgain()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("deadline");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        await using var forever = await BlockAsync(c, "XREADGROUP", "GROUP", "g", "u", "BLOCK", "0", "STREAMS", k, ">");
        var started = DateTime.UtcNow;
        await using var bounded = await BlockAsync(c, "XREADGROUP", "GROUP", "g", "u", "BLOCK", "1000", "STREAMS", k, ">");
        await Task.Delay(200);
        await c.CallAsync("XADD", k, "*", "f", "v");
        Assert.True((await bounded.ReadAsync()).IsNull);
        Assert.InRange((DateTime.UtcNow - started).TotalMilliseconds, 900, 1900);
        Assert.Single((await forever.ReadAsync()).Items!);
    }

    private static string InfoField(string? info, string name)
    {
        foreach (var line in info!.Split("\r\n"))
            if (line.StartsWith(name + ":", StringComparison.Ordinal)) return line[(name.Length + 1)..];
        throw new KeyNotFoundException(name);
    }
}
