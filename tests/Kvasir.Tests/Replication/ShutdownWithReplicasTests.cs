using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Replication.ReplicationKit;

namespace Kvasir.Tests.Replication;

/// <summary>SHUTDOWN waits (up to shutdown-timeout) for replicas that have not acknowledged the whole stream.</summary>
public sealed class ShutdownWithReplicasTests
{
    /// <summary>A replica that never acknowledges: it took the image and then fell silent.</summary>
    private static async Task<RespClient> SilentReplicaAsync(TestServer primary)
    {
        var replica = await primary.ConnectAsync();
        await replica.CallAsync("REPLCONF", "listening-port", "1");
        await replica.SendAsync("PSYNC", "?", "-1");
        string line = "";
        while (!line.EndsWith('\n')) line += await replica.ReadRawAsync(1);
        Assert.StartsWith("+FULLRESYNC", line);
        return replica;
    }

    [Fact]
    public async Task ShutdownWaitsForLaggingReplicasAndCanBeAborted()
    {
        await using var server = await TestServer.StartAsync([.. Fast, ("shutdown-timeout", "30"), ("repl-diskless-sync", "no")]);
        await using var replica = await SilentReplicaAsync(server);
        await using var c = await server.ConnectAsync();
        await using var observer = await server.ConnectAsync();
        await WaitUntilAsync(async () => (await InfoFieldAsync(observer, "slave0")).Contains("state=online"), "the replica to be online");
        await c.CallAsync("SET", "k", "v");

        await c.SendAsync("SHUTDOWN", "NOSAVE");
        await WaitUntilAsync(async () => long.TryParse(await InfoFieldAsync(observer, "shutdown_in_milliseconds", "server"), out long ms) && ms > 0,
            "the shutdown to wait for the replica");
        // Writes are held meanwhile; SHUTDOWN ABORT resumes service and the waiting caller gets the error.
        Assert.Equal("OK", await observer.CallTextAsync("SHUTDOWN", "ABORT"));
        Assert.Equal("ERR Errors trying to SHUTDOWN. Check logs.", (await c.ReadAsync()).Text);
        Assert.Equal("", await InfoFieldAsync(observer, "shutdown_in_milliseconds", "server"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "k", "after"));
        Assert.Equal("ERR No shutdown in progress.", (await observer.CallAsync("SHUTDOWN", "ABORT")).Text);
    }

    [Fact]
    public async Task ShutdownProceedsAfterTheTimeoutOrWithNow()
    {
        await using var server = await TestServer.StartAsync([.. Fast, ("shutdown-timeout", "1"), ("repl-diskless-sync", "no")]);
        await using var replica = await SilentReplicaAsync(server);
        await using var c = await server.ConnectAsync();
        await using var observer = await server.ConnectAsync();
        await WaitUntilAsync(async () => (await InfoFieldAsync(observer, "slave0")).Contains("state=online"), "the replica to be online");
        await c.CallAsync("SET", "k", "v");
        var started = DateTime.UtcNow;
        await c.SendAsync("SHUTDOWN", "NOSAVE");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(20)));
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(900));
        await server.Server.Stopped;
    }
}
