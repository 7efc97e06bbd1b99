using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Types;

/// <summary>Blocking pops with several connections: who is served, when, and what a wait leaves behind.
/// Every expected reply is what a real Valkey 8 answers.</summary>
public sealed partial class BlockingTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public BlockingTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static string Key(string name) => "blocking:" + name + ":" + Guid.NewGuid().ToString("N");

    /// <summary>Waits until the client with this id shows the blocked flag in CLIENT LIST.</summary>
    private static async Task WaitBlockedAsync(RespClient observer, long id)
    {
        for (int i = 0; i < 200; i++)
        {
            var r = await observer.CallAsync("CLIENT", "LIST", "ID", id.ToString());
            if (r.Text!.Contains("flags=b")) return;
            await Task.Delay(10);
        }
        Assert.Fail($"client {id} never blocked");
    }

    private static async Task<long> IdOf(RespClient c) => (await c.CallAsync("CLIENT", "ID")).Integer;

    [Fact]
    public async Task PushFromAnotherClientWakesTheWaiter()
    {
        await using var waiter = await _server.ConnectAsync();
        await using var pusher = await _server.ConnectAsync();
        string k = Key("wake");
        long id = await IdOf(waiter);
        await waiter.SendAsync("BLPOP", k, "0");
        await WaitBlockedAsync(pusher, id);
        Assert.Equal(1, (await pusher.CallAsync("RPUSH", k, "a")).Integer);
        var r = await waiter.ReadAsync();
        Assert.Equal(new[] { k, "a" }, r.Items!.Select(i => i.Text).ToArray());
        Assert.Equal(0, (await pusher.CallAsync("EXISTS", k)).Integer);
    }

    [Fact]
    public async Task WaitersAreServedInTheOrderTheyBlocked()
    {
        await using var first = await _server.ConnectAsync();
        await using var second = await _server.ConnectAsync();
        await using var pusher = await _server.ConnectAsync();
        string k = Key("fifo");
        long firstId = await IdOf(first), secondId = await IdOf(second);
        await first.SendAsync("BRPOP", k, "0");
        await WaitBlockedAsync(pusher, firstId);
        await second.SendAsync("BRPOP", k, "0");
        await WaitBlockedAsync(pusher, secondId);
        await pusher.CallAsync("RPUSH", k, "x", "y");
        Assert.Equal("y", (await first.ReadAsync()).Items![1].Text);
        Assert.Equal("x", (await second.ReadAsync()).Items![1].Text);
    }

    [Fact]
    public async Task TimeoutRepliesNullArrayInBothProtocols()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("timeout");
        var start = DateTime.UtcNow;
        await c.SendAsync("BLPOP", k, "0.2");
        Assert.Equal("*-1\r\n", await c.ReadRawAsync(5));
        Assert.True(DateTime.UtcNow - start >= TimeSpan.FromMilliseconds(190));
        await c.CallAsync("HELLO", "3");
        await c.SendAsync("BZPOPMIN", k, "0.05");
        Assert.Equal("_\r\n", await c.ReadRawAsync(3));
    }

    [Fact]
    public async Task BadTimeoutsAreRefused()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR timeout is negative", (await c.CallAsync("BLPOP", "k", "-1")).Text);
        Assert.Equal("ERR timeout is not a float or out of range", (await c.CallAsync("BRPOP", "k", "abc")).Text);
        Assert.Equal("ERR timeout is not a float or out of range", (await c.CallAsync("BLMPOP", "x", "1", "k", "LEFT")).Text);
    }

    [Fact]
    public async Task TransactionWakesOnlyAfterExecWithItsFinalState()
    {
        await using var waiter = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        string k = Key("multi");
        long id = await IdOf(waiter);
        await waiter.SendAsync("BLPOP", k, "0");
        await WaitBlockedAsync(other, id);
        // Pushed then deleted inside one transaction: nothing to serve.
        await other.CallAsync("MULTI");
        await other.CallAsync("LPUSH", k, "gone");
        await other.CallAsync("DEL", k);
        await other.CallAsync("EXEC");
        await other.CallAsync("MULTI");
        await other.CallAsync("LPUSH", k, "a");
        await other.CallAsync("LPUSH", k, "b");
        await other.CallAsync("LPUSH", k, "c");
        await other.CallAsync("EXEC");
        Assert.Equal("c", (await waiter.ReadAsync()).Items![1].Text);
        Assert.Equal(2, (await other.CallAsync("LLEN", k)).Integer);
    }

    [Fact]
    public async Task InsideMultiTheyDoNotBlock()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("inmulti");
        await c.CallAsync("MULTI");
        await c.CallAsync("BLPOP", k, "0");
        await c.CallAsync("BRPOPLPUSH", k, k + "dst", "0");
        await c.CallAsync("BZPOPMAX", k, "0");
        var r = await c.CallAsync("EXEC");
        Assert.Equal('*', r.Items![0].Kind);
        Assert.True(r.Items[0].IsNull);
        Assert.Equal('$', r.Items[1].Kind);
        Assert.True(r.Items[1].IsNull);
        Assert.True(r.Items[2].IsNull);
    }

    [Fact]
    public async Task DisconnectedWaiterLeavesNothingBehind()
    {
        await using var observer = await _server.ConnectAsync();
        string k = Key("gone");
        var waiter = await _server.ConnectAsync();
        long id = await IdOf(waiter);
        await waiter.SendAsync("BLPOP", k, "0");
        await WaitBlockedAsync(observer, id);
        await waiter.DisposeAsync();
        for (int i = 0; i < 200 && (await observer.CallAsync("CLIENT", "LIST", "ID", id.ToString())).Text!.Length > 0; i++)
            await Task.Delay(10);
        await observer.CallAsync("RPUSH", k, "kept");
        await Task.Delay(100);
        Assert.Equal(1, (await observer.CallAsync("LLEN", k)).Integer);
    }

    [Fact]
    public async Task ClientUnblockEndsTheWait()
    {
        await using var waiter = await _server.ConnectAsync();
        await using var admin = await _server.ConnectAsync();
        string k = Key("unblock");
        long id = await IdOf(waiter);
        Assert.Equal(0, (await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString())).Integer);
        await waiter.SendAsync("BLPOP", k, "0");
        await WaitBlockedAsync(admin, id);
        Assert.Equal(1, (await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString())).Integer);
        Assert.True((await waiter.ReadAsync()).IsNull);
        await waiter.SendAsync("BZMPOP", "0", "1", k, "MIN");
        await WaitBlockedAsync(admin, id);
        Assert.Equal("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR", (await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString(), "maybe")).Text);
        Assert.Equal(1, (await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString(), "ERROR")).Integer);
        Assert.Equal("UNBLOCKED client unblocked via CLIENT UNBLOCK", (await waiter.ReadAsync()).Text);
        Assert.Equal("PONG", await waiter.CallTextAsync("PING"));
    }

    [Fact]
    public async Task SortedSetAndMoveWaitersAreServed()
    {
        await using var waiter = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        string z = Key("zset"), src = Key("src"), dst = Key("dst");
        long id = await IdOf(waiter);
        await waiter.SendAsync("BZPOPMAX", z, "0");
        await WaitBlockedAsync(other, id);
        await other.CallAsync("ZADD", z, "1", "a", "2", "b");
        Assert.Equal(new[] { z, "b", "2" }, (await waiter.ReadAsync()).Items!.Select(i => i.Text).ToArray());
        await waiter.SendAsync("BLMOVE", src, dst, "RIGHT", "LEFT", "0");
        await WaitBlockedAsync(other, id);
        await other.CallAsync("RPUSH", src, "1", "2");
        Assert.Equal("2", (await waiter.ReadAsync()).Text);
        Assert.Equal("2", await other.CallTextAsync("LINDEX", dst, "0"));
        await waiter.SendAsync("BLMPOP", "0", "2", Key("none"), src, "LEFT", "COUNT", "5");
        var r = await waiter.ReadAsync();
        Assert.Equal(src, r.Items![0].Text);
        Assert.Equal(new[] { "1" }, r.Items[1].Items!.Select(i => i.Text).ToArray());
    }
}
