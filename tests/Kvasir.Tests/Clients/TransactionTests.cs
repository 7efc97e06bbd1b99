using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Clients;

/// <summary>MULTI EXEC DISCARD WATCH UNWATCH.</summary>
public sealed class TransactionTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public TransactionTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task QueuedCommandsRunAtExec()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("MULTI"));
        Assert.Equal("QUEUED", await c.CallTextAsync("SET", "tx:a", "1"));
        Assert.Equal("QUEUED", await c.CallTextAsync("GET", "tx:a"));
        Assert.Equal("QUEUED", await c.CallTextAsync("ECHO", "e"));
        // Nothing ran yet.
        Assert.Null(await other.CallTextAsync("GET", "tx:a"));
        var exec = await c.CallAsync("EXEC");
        Assert.Equal("[OK, 1, e]", exec.ToString());
        Assert.Equal("1", await other.CallTextAsync("GET", "tx:a"));
    }

    [Fact]
    public async Task ExecRepliesAreExactBytes()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("MULTI\r\nPING\r\nGET tx:none\r\nEXEC\r\nMULTI\r\nEXEC\r\n");
        const string expected = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+PONG\r\n$-1\r\n+OK\r\n*0\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task ErrorsInsideExecDoNotStopTheOthers()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "tx:str", "x");
        await c.CallAsync("MULTI");
        await c.CallAsync("SELECT", "99");
        await c.CallAsync("ECHO", "after");
        var exec = await c.CallAsync("EXEC");
        Assert.True(exec.Items![0].IsError);
        Assert.Equal("ERR DB index is out of range", exec.Items[0].Text);
        Assert.Equal("after", exec.Items[1].Text);
    }

    [Fact]
    public async Task QueueingErrorsAbortExec()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("MULTI");
        Assert.Equal("QUEUED", await c.CallTextAsync("SET", "tx:abort", "1"));
        Assert.Equal("ERR wrong number of arguments for 'get' command", await c.CallTextAsync("GET"));
        Assert.StartsWith("ERR unknown command 'NOSUCH'", await c.CallTextAsync("NOSUCH"));
        Assert.Equal("QUEUED", await c.CallTextAsync("PING"));
        Assert.Equal("EXECABORT Transaction discarded because of previous errors.", await c.CallTextAsync("EXEC"));
        Assert.Null(await c.CallTextAsync("GET", "tx:abort"));
        // Out of MULTI again.
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
    }

    [Fact]
    public async Task NestedMultiAndWatchInsideMultiAreRefused()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("MULTI");
        Assert.Equal("ERR Command not allowed inside a transaction", await c.CallTextAsync("MULTI"));
        Assert.Equal("EXECABORT Transaction discarded because of previous errors.", await c.CallTextAsync("EXEC"));

        await c.CallAsync("MULTI");
        Assert.Equal("ERR Command not allowed inside a transaction", await c.CallTextAsync("WATCH", "x"));
        Assert.Equal("ERR wrong number of arguments for 'watch' command", await c.CallTextAsync("WATCH"));
        Assert.Equal("EXECABORT Transaction discarded because of previous errors.", await c.CallTextAsync("EXEC"));
    }

    [Fact]
    public async Task ExecAndDiscardWithoutMulti()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR EXEC without MULTI", await c.CallTextAsync("EXEC"));
        Assert.Equal("ERR DISCARD without MULTI", await c.CallTextAsync("DISCARD"));
    }

    [Fact]
    public async Task DiscardDropsTheQueue()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "tx:d", "before");
        await c.CallAsync("MULTI");
        await c.CallAsync("SET", "tx:d", "after");
        Assert.Equal("OK", await c.CallTextAsync("DISCARD"));
        Assert.Equal("before", await c.CallTextAsync("GET", "tx:d"));
        Assert.Equal("ERR EXEC without MULTI", await c.CallTextAsync("EXEC"));
    }

    [Fact]
    public async Task WatchedKeyModifiedByAnotherClientAbortsExec()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("SET", "tx:w", "1");
        Assert.Equal("OK", await c.CallTextAsync("WATCH", "tx:w"));
        await other.CallAsync("SET", "tx:w", "2");
        await c.CallAsync("MULTI");
        Assert.Equal("QUEUED", await c.CallTextAsync("SET", "tx:w", "3"));
        await c.SendAsync("EXEC");
        Assert.Equal("*-1\r\n", await c.ReadRawAsync(5));
        Assert.Equal("2", await c.CallTextAsync("GET", "tx:w"));
    }

    [Fact]
    public async Task WatchedKeyModifiedBySelfBeforeMultiAbortsExec()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("WATCH", "tx:self");
        await c.CallAsync("SET", "tx:self", "x");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.True((await c.CallAsync("EXEC")).IsNull);
    }

    [Fact]
    public async Task UntouchedWatchLetsExecRun()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("WATCH", "tx:quiet", "tx:quiet2");
        await other.CallAsync("SET", "tx:unrelated", "x");
        await c.CallAsync("MULTI");
        await c.CallAsync("SET", "tx:quiet", "ok");
        Assert.Equal("[OK]", (await c.CallAsync("EXEC")).ToString());
        // EXEC unwatches: later changes do not matter.
        await other.CallAsync("SET", "tx:quiet", "later");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.Equal("[PONG]", (await c.CallAsync("EXEC")).ToString());
    }

    [Fact]
    public async Task UnwatchForgetsChanges()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("WATCH", "tx:u");
        await other.CallAsync("SET", "tx:u", "changed");
        Assert.Equal("OK", await c.CallTextAsync("UNWATCH"));
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.Equal("[PONG]", (await c.CallAsync("EXEC")).ToString());
    }

    [Fact]
    public async Task WatchIsPerDatabase()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("WATCH", "tx:db");
        await other.CallAsync("SELECT", "1");
        await other.CallAsync("SET", "tx:db", "in-db1");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.Equal("[PONG]", (await c.CallAsync("EXEC")).ToString());
    }

    [Fact]
    public async Task DiscardUnwatches()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("WATCH", "tx:dw");
        await c.CallAsync("MULTI");
        await c.CallAsync("DISCARD");
        await other.CallAsync("SET", "tx:dw", "x");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.Equal("[PONG]", (await c.CallAsync("EXEC")).ToString());
    }

    [Fact]
    public async Task WatchedKeyExpiringAbortsExec()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "tx:exp", "v");
        var db = server.Server.Databases[0];
        lock (server.Server.DataLock)
        {
            db.SetExpireAt(db.FindRaw("tx:exp"u8), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 100);
        }
        await c.CallAsync("WATCH", "tx:exp");
        await Task.Delay(250);
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.True((await c.CallAsync("EXEC")).IsNull);
    }

    [Fact]
    public async Task WatchingAnAlreadyExpiredKeyIsNotInvalidatedByItsDeletion()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "tx:stale", "v");
        var db = server.Server.Databases[0];
        lock (server.Server.DataLock)
        {
            // Expired but not yet deleted: stop the cron from removing it first.
            server.Server.ActiveExpireEnabled = false;
            db.SetExpireAt(db.FindRaw("tx:stale"u8), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1000);
        }
        await c.CallAsync("WATCH", "tx:stale");
        // Reading it deletes it lazily: no logical change, the key was already gone.
        Assert.Null(await c.CallTextAsync("GET", "tx:stale"));
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.Equal("[PONG]", (await c.CallAsync("EXEC")).ToString());
    }

    [Fact]
    public async Task FlushingTheDatabaseTouchesOnlyExistingWatchedKeys()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "tx:f1", "v");
        await c.CallAsync("WATCH", "tx:nokey");
        lock (server.Server.DataLock) server.Server.Databases[0].Clear();
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.Equal("[PONG]", (await c.CallAsync("EXEC")).ToString());

        await c.CallAsync("SET", "tx:f1", "v");
        await c.CallAsync("WATCH", "tx:f1");
        lock (server.Server.DataLock) server.Server.Databases[0].Clear();
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.True((await c.CallAsync("EXEC")).IsNull);
    }

    [Fact]
    public async Task SwappingDatabasesTouchesKeysPresentOnEitherSide()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SELECT", "1");
        await c.CallAsync("SET", "tx:s", "in-db1");
        await c.CallAsync("SELECT", "0");
        await c.CallAsync("WATCH", "tx:s");
        lock (server.Server.DataLock) server.Server.Databases[0].SwapContents(server.Server.Databases[1]);
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.True((await c.CallAsync("EXEC")).IsNull);

        await c.CallAsync("WATCH", "tx:none-anywhere");
        lock (server.Server.DataLock) server.Server.Databases[0].SwapContents(server.Server.Databases[1]);
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        Assert.Equal("[PONG]", (await c.CallAsync("EXEC")).ToString());
    }

    [Fact]
    public async Task ExecRunsAtomicallyAgainstOtherClients()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("MULTI");
        for (int i = 0; i < 100; i++) await c.CallAsync("SET", "tx:atomic", i.ToString());
        var reader = Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                var v = await other.CallTextAsync("GET", "tx:atomic");
                Assert.True(v is null || v == "99");
            }
        });
        var exec = await c.CallAsync("EXEC");
        Assert.Equal(100, exec.Items!.Count);
        await reader;
    }

    [Fact]
    public async Task MultiStateIsDroppedWhenTheClientDisconnects()
    {
        await using var server = await TestServer.StartAsync();
        await using (var c = await server.ConnectAsync())
        {
            await c.CallAsync("WATCH", "a", "b");
            await c.CallAsync("MULTI");
        }
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline && server.Server.Clients.Watches.TotalWatchedKeys > 0) await Task.Delay(20);
        Assert.Equal(0, server.Server.Clients.Watches.TotalWatchedKeys);
        Assert.Equal(0, server.Server.Clients.Watches.WatchingClients);
    }
}
