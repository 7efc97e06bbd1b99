using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Types;

/// <summary>
/// When and how a blocked client is served, seen from several connections: right after the command
/// (or EXEC) that gave it data, before the writer's next command; in blocking order; BLMOVE chains
/// in the same pass; timeouts, CLIENT UNBLOCK and CLIENT KILL; counted once in commandstats and
/// MONITOR. Every expected reply is what a real Valkey 8 answers.
/// </summary>
public sealed partial class BlockingTests
{
    private static async Task<RespClient> BlockAsync(TestServer server, RespClient observer, params object[] command)
    {
        var c = await server.ConnectAsync();
        long id = await IdOf(c);
        await c.SendAsync(command);
        await WaitBlockedAsync(observer, id);
        return c;
    }

    private static string[] Texts(RespValue v) => v.Items!.Select(i => i.Text!).ToArray();

    /// <summary>The value of one field of an INFO line such as "cmdstat_blpop:calls=1,usec=...".</summary>
    private static async Task<string> InfoLineAsync(RespClient c, string section, string prefix)
    {
        var info = (await c.CallAsync("INFO", section)).Text!;
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
        return "";
    }

    [Fact]
    public async Task TheWritersNextPipelinedCommandSeesThePop()
    {
        await using var observer = await _server.ConnectAsync();
        string k = Key("next");
        await using var waiter = await BlockAsync(_server, observer, "BLPOP", k, "0");
        await using var writer = await _server.ConnectAsync();
        await writer.SendRawAsync(RespClient.Encode("RPUSH", k, "a", "b").Concat(RespClient.Encode("LRANGE", k, "0", "-1")).ToArray());
        Assert.Equal(2, (await writer.ReadAsync()).Integer);
        Assert.Equal(new[] { "b" }, Texts(await writer.ReadAsync()));
        Assert.Equal(new[] { k, "a" }, Texts(await waiter.ReadAsync()));
    }

    [Fact]
    public async Task FairnessIsKeptWhileTheWriterPipelinesABlockingPop()
    {
        await using var observer = await _server.ConnectAsync();
        string k = Key("fair");
        await using var first = await BlockAsync(_server, observer, "BLPOP", k, "0");
        await using var writer = await _server.ConnectAsync();
        long writerId = await IdOf(writer);
        await writer.SendRawAsync("LPUSH " + k + " 1\r\nBLPOP " + k + " 0\r\n");
        Assert.Equal(new[] { k, "1" }, Texts(await first.ReadAsync()));
        Assert.Equal(1, (await writer.ReadAsync()).Integer);
        await WaitBlockedAsync(observer, writerId);
        await observer.CallAsync("LPUSH", k, "2");
        Assert.Equal(new[] { k, "2" }, Texts(await writer.ReadAsync()));
    }

    [Fact]
    public async Task ExecServesWaitersInBlockingOrderIncludingNestedMoves()
    {
        await using var observer = await _server.ConnectAsync();
        string l1 = Key("l1"), l2 = Key("l2"), l3 = Key("l3");
        await using var rd1 = await BlockAsync(_server, observer, "BRPOPLPUSH", l1, l3, "0");
        await using var rd2 = await BlockAsync(_server, observer, "BLPOP", l2, "0");
        await using var rd3 = await BlockAsync(_server, observer, "BLMPOP", "0", "2", l2, l3, "LEFT", "COUNT", "1");
        await observer.CallAsync("MULTI");
        await observer.CallAsync("LPUSH", l1, "1");
        await observer.CallAsync("LPUSH", l2, "2");
        await observer.CallAsync("EXEC");
        Assert.Equal("1", (await rd1.ReadAsync()).Text);
        Assert.Equal(new[] { l2, "2" }, Texts(await rd2.ReadAsync()));
        var r3 = await rd3.ReadAsync();
        Assert.Equal(l3, r3.Items![0].Text);
        Assert.Equal(new[] { "1" }, Texts(r3.Items[1]));
        Assert.Equal("0", (await InfoLineAsync(observer, "clients", "blocked_clients:")).Split(':')[1]);
    }

    [Fact]
    public async Task ChainedBlmovesCompleteBeforeTheWritersNextCommand()
    {
        await using var observer = await _server.ConnectAsync();
        string src = Key("src"), dst = Key("dst");
        await using var rd1 = await BlockAsync(_server, observer, "BLMOVE", src, dst, "LEFT", "RIGHT", "0");
        await using var rd2 = await BlockAsync(_server, observer, "BLMOVE", dst, src, "RIGHT", "LEFT", "0");
        await using var writer = await _server.ConnectAsync();
        await writer.SendRawAsync(RespClient.Encode("LPUSH", src, "dummy")
            .Concat(RespClient.Encode("LRANGE", src, "0", "-1"))
            .Concat(RespClient.Encode("EXISTS", dst)).ToArray());
        Assert.Equal(1, (await writer.ReadAsync()).Integer);
        // Moved to dst by the first waiter, then back to src by the second, before LRANGE ran.
        Assert.Equal(new[] { "dummy" }, Texts(await writer.ReadAsync()));
        Assert.Equal(0, (await writer.ReadAsync()).Integer);
        Assert.Equal("dummy", (await rd1.ReadAsync()).Text);
        Assert.Equal("dummy", (await rd2.ReadAsync()).Text);
    }

    [Fact]
    public async Task AWriteOfAnotherTypeDoesNotWakeAndTheWaitGoesOn()
    {
        await using var observer = await _server.ConnectAsync();
        string k = Key("type");
        long id;
        await using var waiter = await _server.ConnectAsync();
        id = await IdOf(waiter);
        await waiter.SendAsync("BLPOP", k, "0");
        await WaitBlockedAsync(observer, id);
        await observer.CallAsync("SET", k, "string");
        await observer.CallAsync("DEL", k);
        await observer.CallAsync("SADD", k, "member");
        await WaitBlockedAsync(observer, id);
        await observer.CallAsync("DEL", k);
        await observer.CallAsync("RPUSH", k, "x");
        Assert.Equal(new[] { k, "x" }, Texts(await waiter.ReadAsync()));
    }

    [Fact]
    public async Task AWokenCommandRunsWithEveryCheckOfANewOne()
    {
        await using var observer = await _server.ConnectAsync();
        string k1 = Key("w1"), k2 = Key("w2"), src = Key("wsrc");
        await using var waiter = await BlockAsync(_server, observer, "BLPOP", k1, k2, "0");
        // k2 wakes it, but k1 comes first and is a string now.
        await observer.CallAsync("MULTI");
        await observer.CallAsync("SET", k1, "x");
        await observer.CallAsync("RPUSH", k2, "a");
        await observer.CallAsync("EXEC");
        Assert.StartsWith("WRONGTYPE", (await waiter.ReadAsync()).Text);
        long id = await IdOf(waiter);
        await waiter.SendAsync("BLMOVE", src, k1, "LEFT", "LEFT", "0");
        await WaitBlockedAsync(observer, id);
        await observer.CallAsync("RPUSH", src, "z");
        Assert.StartsWith("WRONGTYPE", (await waiter.ReadAsync()).Text);
        Assert.Equal(1, (await observer.CallAsync("LLEN", src)).Integer);
    }

    [Fact]
    public async Task SubSecondTimeoutsArePunctual()
    {
        await using var c = await _server.ConnectAsync();
        var start = DateTime.UtcNow;
        await c.SendAsync("BRPOP", Key("t"), "0.15");
        Assert.True((await c.ReadAsync()).IsNull);
        var elapsed = DateTime.UtcNow - start;
        Assert.InRange(elapsed.TotalMilliseconds, 145, 400);
    }

    [Fact]
    public async Task AWaiterWokenWithoutDataKeepsItsDeadline()
    {
        await using var observer = await _server.ConnectAsync();
        await observer.CallAsync("DEBUG", "SET-ACTIVE-EXPIRE", "0");
        try
        {
            string k = Key("expired");
            await using var waiter = await _server.ConnectAsync();
            long id = await IdOf(waiter);
            var start = DateTime.UtcNow;
            await waiter.SendAsync("BLPOP", k, "1");
            await WaitBlockedAsync(observer, id);
            // The key is alive when EXEC ends, expired when the waiter runs again: it waits on.
            await observer.CallAsync("MULTI");
            await observer.CallAsync("RPUSH", k, "a");
            await observer.CallAsync("PEXPIRE", k, "100");
            await observer.CallAsync("DEBUG", "SLEEP", "0.2");
            await observer.CallAsync("EXEC");
            Assert.True((await waiter.ReadAsync()).IsNull);
            Assert.InRange((DateTime.UtcNow - start).TotalMilliseconds, 950, 1300);
        }
        finally
        {
            await observer.CallAsync("DEBUG", "SET-ACTIVE-EXPIRE", "1");
        }
    }

    [Fact]
    public async Task ClientUnblockAnswersBeforeItsOwnReply()
    {
        await using var admin = await _server.ConnectAsync();
        string k = Key("unblock");
        await using var waiter = await _server.ConnectAsync();
        long id = await IdOf(waiter);
        // The waiter's next pipelined command runs once the wait is over.
        await waiter.SendRawAsync(RespClient.Encode("BLMOVE", k, k + "d", "LEFT", "LEFT", "0").Concat(RespClient.Encode("PING")).ToArray());
        await WaitBlockedAsync(admin, id);
        Assert.Equal(1, (await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString(), "TIMEOUT")).Integer);
        // A timed out BLMOVE answers a null array, like every blocking list command.
        Assert.Equal("*-1\r\n+PONG\r\n", await waiter.ReadRawAsync(12));
        Assert.Equal(0, (await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString(), "ERROR")).Integer);
    }

    [Fact]
    public async Task KilledWaiterLeavesNoBlockingKeys()
    {
        await using var admin = await _server.ConnectAsync();
        string k = Key("kill");
        var waiter = await _server.ConnectAsync();
        long id = await IdOf(waiter);
        await waiter.SendAsync("BZPOPMIN", k, k + "2", "0");
        await WaitBlockedAsync(admin, id);
        Assert.Equal(1, (await admin.CallAsync("CLIENT", "KILL", "ID", id.ToString())).Integer);
        Assert.True(await waiter.IsClosedAsync());
        await waiter.DisposeAsync();
        Assert.Equal("total_blocking_keys:0", await InfoLineAsync(admin, "clients", "total_blocking_keys:"));
        await admin.CallAsync("ZADD", k, "1", "m");
        Assert.Equal(1, (await admin.CallAsync("ZCARD", k)).Integer);
    }

    [Fact]
    public async Task BlockedCommandsAreCountedOnceInCommandstats()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        string k = Key("stats");
        await admin.CallAsync("CONFIG", "RESETSTAT");

        // Served after a push.
        await using var waiter = await BlockAsync(server, admin, "BLPOP", k, "0");
        await admin.CallAsync("LPUSH", k, "1");
        await waiter.ReadAsync();
        Assert.StartsWith("cmdstat_blpop:calls=1,", await InfoLineAsync(admin, "commandstats", "cmdstat_blpop:"));

        // Timed out by CLIENT UNBLOCK, then failed by CLIENT UNBLOCK ERROR.
        long id = await IdOf(waiter);
        await waiter.SendAsync("BLPOP", k, "0");
        await WaitBlockedAsync(admin, id);
        await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString(), "TIMEOUT");
        Assert.True((await waiter.ReadAsync()).IsNull);
        await waiter.SendAsync("BLPOP", k, "0");
        await WaitBlockedAsync(admin, id);
        await admin.CallAsync("CLIENT", "UNBLOCK", id.ToString(), "ERROR");
        Assert.True((await waiter.ReadAsync()).IsError);
        string line = await InfoLineAsync(admin, "commandstats", "cmdstat_blpop:");
        Assert.StartsWith("cmdstat_blpop:calls=3,", line);
        Assert.EndsWith("rejected_calls=0,failed_calls=1", line);
        Assert.Equal("errorstat_UNBLOCKED:count=1", await InfoLineAsync(admin, "errorstats", "errorstat_UNBLOCKED:"));

        // A real timeout counts once too.
        await waiter.CallAsync("BLPOP", k, "0.05");
        Assert.StartsWith("cmdstat_blpop:calls=4,", await InfoLineAsync(admin, "commandstats", "cmdstat_blpop:"));
    }

    [Fact]
    public async Task MonitorShowsABlockedCommandOnce()
    {
        await using var server = await TestServer.StartAsync();
        await using var monitor = await server.ConnectAsync();
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await monitor.CallTextAsync("MONITOR"));
        string k = Key("monitor");
        await using var waiter = await BlockAsync(server, admin, "BLPOP", k, "0");
        await admin.CallAsync("RPUSH", k, "v");
        await waiter.ReadAsync();
        await admin.CallAsync("PING", "end");
        var lines = new List<string>();
        while (true)
        {
            string line = (await monitor.ReadAsync()).Text!;
            if (line.Contains("\"PING\" \"end\"")) break;
            if (!line.Contains("\"CLIENT\"")) lines.Add(line);
        }
        Assert.Equal(2, lines.Count);
        Assert.Contains("\"BLPOP\"", lines[0]);
        Assert.Contains("\"RPUSH\"", lines[1]);
    }
}
