using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Clients;

/// <summary>CLIENT PAUSE / UNPAUSE: held commands, what still runs, and the order after resuming.</summary>
public sealed class PauseTests
{
    private static async Task WaitForBlocked(TestServer server, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (DateTime.UtcNow < deadline)
        {
            lock (server.Server.DataLock)
            {
                if (server.Server.Clients.Postponed.Count == count) return;
            }
            await Task.Delay(10);
        }
        Assert.Fail($"expected {count} paused clients");
    }

    [Fact]
    public async Task UnpauseResumesHeldClientsPromptly()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        long id = (await c.CallAsync("CLIENT", "ID")).Integer;
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "PAUSE", "60000", "WRITE"));
        await c.SendAsync("SET", "p:prompt", "1");
        await WaitForBlocked(server, 1);
        Assert.Contains(" flags=b ", await admin.CallTextAsync("CLIENT", "LIST", "ID", id.ToString()));
        await Task.Delay(300);
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "UNPAUSE"));
        var started = DateTime.UtcNow;
        Assert.Equal("OK", (await c.ReadAsync()).Text);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromMilliseconds(40), "unpause must resume the client at once");
        Assert.Contains(" flags=N ", await admin.CallTextAsync("CLIENT", "LIST", "ID", id.ToString()));
    }

    [Fact]
    public async Task PauseAllHoldsEvenReads()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await admin.CallAsync("CLIENT", "PAUSE", "400", "ALL");
        var started = DateTime.UtcNow;
        Assert.Null(await c.CallTextAsync("GET", "p:all"));
        Assert.True(DateTime.UtcNow - started > TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task PauseWriteLetsReadsThrough()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "p:k", "before");
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "PAUSE", "60000", "WRITE"));
        Assert.Equal("before", await c.CallTextAsync("GET", "p:k"));
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
        await c.SendAsync("SET", "p:k", "after");
        await WaitForBlocked(server, 1);
        await using var reader = await server.ConnectAsync();
        Assert.Equal("before", await reader.CallTextAsync("GET", "p:k"));
        await admin.CallAsync("CLIENT", "UNPAUSE");
        Assert.Equal("OK", (await c.ReadAsync()).Text);
        Assert.Equal("after", await reader.CallTextAsync("GET", "p:k"));
    }

    [Fact]
    public async Task PausedClientsResumeInArrivalOrder()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        var clients = new List<RespClient>();
        try
        {
            await admin.CallAsync("CLIENT", "PAUSE", "60000", "WRITE");
            for (int i = 0; i < 5; i++)
            {
                var c = await server.ConnectAsync();
                clients.Add(c);
                await c.SendAsync("SET", "p:order", i.ToString());
                await c.SendAsync("SET", "p:order:" + i, "done");
                await WaitForBlocked(server, i + 1);
            }
            await admin.CallAsync("CLIENT", "UNPAUSE");
            foreach (var c in clients)
            {
                Assert.Equal("OK", (await c.ReadAsync()).Text);
                Assert.Equal("OK", (await c.ReadAsync()).Text);
            }
            // The last client paused wrote last.
            Assert.Equal("4", await admin.CallTextAsync("GET", "p:order"));
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task PipelineAfterAPausedCommandWaitsAndKeepsItsOrder()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await admin.CallAsync("CLIENT", "PAUSE", "60000", "WRITE");
        await c.SendRawAsync("GET p:pipe\r\nSET p:pipe 1\r\nGET p:pipe\r\nSET p:pipe 2\r\nGET p:pipe\r\n");
        Assert.Equal("$-1\r\n", await c.ReadRawAsync(5));
        await WaitForBlocked(server, 1);
        await admin.CallAsync("CLIENT", "UNPAUSE");
        const string expected = "+OK\r\n$1\r\n1\r\n+OK\r\n$1\r\n2\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task PauseEndsByItself()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await admin.CallAsync("CLIENT", "PAUSE", "300", "ALL");
        var started = DateTime.UtcNow;
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
        var waited = DateTime.UtcNow - started;
        Assert.True(waited > TimeSpan.FromMilliseconds(200), $"waited only {waited}");
        Assert.True(waited < TimeSpan.FromSeconds(3), $"waited {waited}");
    }

    [Fact]
    public async Task WriteTransactionWaitsAtExec()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("MULTI");
        await c.CallAsync("SET", "p:tx", "1");
        await admin.CallAsync("CLIENT", "PAUSE", "60000", "WRITE");
        await c.SendAsync("EXEC");
        await WaitForBlocked(server, 1);
        await admin.CallAsync("CLIENT", "UNPAUSE");
        Assert.Equal("[OK]", (await c.ReadAsync()).ToString());
    }

    [Fact]
    public async Task ReadOnlyTransactionIsNotHeldByWritePause()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await admin.CallAsync("CLIENT", "PAUSE", "60000", "WRITE");
        await c.CallAsync("MULTI");
        await c.CallAsync("GET", "p:ro");
        await c.CallAsync("PING");
        Assert.Equal("[(nil), PONG]", (await c.CallAsync("EXEC")).ToString());
        await admin.CallAsync("CLIENT", "UNPAUSE");
    }

    [Fact]
    public async Task ShorterPauseDoesNotCutALongerOne()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        await admin.CallAsync("CLIENT", "PAUSE", "60000", "WRITE");
        await admin.CallAsync("CLIENT", "PAUSE", "10", "WRITE");
        await Task.Delay(100);
        await c.SendAsync("SET", "p:short", "1");
        await WaitForBlocked(server, 1);
        await admin.CallAsync("CLIENT", "UNPAUSE");
        Assert.Equal("OK", (await c.ReadAsync()).Text);
    }

    [Fact]
    public async Task PauseAllIsNotWeakenedByALaterWritePause()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        var started = DateTime.UtcNow;
        await admin.CallAsync("CLIENT", "PAUSE", "300", "ALL");
        // Itself held by the ALL pause; once it runs it must not turn the rest into a write pause.
        await admin.CallAsync("CLIENT", "PAUSE", "20", "WRITE");
        await c.CallAsync("GET", "p:x");
        Assert.True(DateTime.UtcNow - started > TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task ExpiryWaitsForThePauseToEnd()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        long Expired()
        {
            lock (server.Server.DataLock) return server.Server.Keyspace.ExpiredKeys;
        }
        long before = Expired();
        await c.CallAsync("MULTI");
        await c.CallAsync("SET", "p:e1", "v", "PX", "10");
        await c.CallAsync("SET", "p:e2", "v", "PX", "10");
        await c.CallAsync("CLIENT", "PAUSE", "50000", "WRITE");
        await c.CallAsync("EXEC");
        await Task.Delay(300);
        // Logically expired, but neither the cron nor a read deletes them during the pause.
        Assert.Null(await c.CallTextAsync("GET", "p:e1"));
        Assert.Null(await c.CallTextAsync("GET", "p:e2"));
        Assert.Equal(before, Expired());
        await c.CallAsync("CLIENT", "UNPAUSE");
        Assert.Null(await c.CallTextAsync("GET", "p:e1"));
        Assert.Null(await c.CallTextAsync("GET", "p:e2"));
        Assert.Equal(before + 2, Expired());
    }
}
