using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

public sealed class ServerCommandsTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ServerCommandsTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task TimeIsSecondsAndMicroseconds()
    {
        await using var c = await _server.ConnectAsync();
        var reply = await c.CallAsync("TIME");
        Assert.Equal(2, reply.Items!.Count);
        Assert.Equal('$', reply.Items[0].Kind);
        long seconds = long.Parse(reply.Items[0].Text!);
        long micros = long.Parse(reply.Items[1].Text!);
        Assert.InRange(seconds, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 5, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 5);
        Assert.InRange(micros, 0, 999_999);
    }

    [Fact]
    public async Task LastSaveIsStartupTimeWithoutSaves()
    {
        await using var c = await _server.ConnectAsync();
        var reply = await c.CallAsync("LASTSAVE");
        Assert.Equal(':', reply.Kind);
        Assert.Equal(_server.Server.LastSaveUnix, reply.Integer);
    }

    [Fact]
    public async Task MonitorShowsCommandsAfterTheyRanWithTheirDatabase()
    {
        await using var server = await TestServer.StartAsync();
        await using var monitor = await server.ConnectAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await monitor.CallTextAsync("MONITOR"));
        await c.CallAsync("SELECT", "1");
        await c.CallAsync("SET", "k", "a\"b\n\x01");
        await c.CallAsync("SLOWLOG", "LEN"); // admin commands are never shown
        await c.CallAsync("GET", "k");
        var lines = new List<string>();
        for (int i = 0; i < 3; i++) lines.Add((await monitor.ReadAsync()).Text!);
        Assert.Matches(@"^\d+\.\d{6} \[1 127\.0\.0\.1:\d+\] ""SELECT"" ""1""$", lines[0]);
        Assert.EndsWith(@"] ""SET"" ""k"" ""a\""b\n\x01""", lines[1]);
        Assert.EndsWith(@"] ""GET"" ""k""", lines[2]);
        // A monitor sees its own commands too, after their reply.
        Assert.Equal("PONG", await monitor.CallTextAsync("PING"));
        Assert.EndsWith(@"] ""PING""", (await monitor.ReadAsync()).Text!);
        // A second MONITOR is ignored without a reply.
        await monitor.SendAsync("MONITOR");
        await c.CallAsync("ECHO", "x");
        Assert.EndsWith(@"] ""ECHO"" ""x""", (await monitor.ReadAsync()).Text!);
    }

    [Fact]
    public async Task ShutdownOptionsAreValidated()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR syntax error", (await c.CallAsync("SHUTDOWN", "bogus")).Text);
        Assert.Equal("ERR syntax error", (await c.CallAsync("SHUTDOWN", "NOSAVE", "SAVE")).Text);
        Assert.Equal("ERR syntax error", (await c.CallAsync("SHUTDOWN", "ABORT", "NOW")).Text);
        Assert.Equal("ERR No shutdown in progress.", (await c.CallAsync("SHUTDOWN", "ABORT")).Text);
    }

    [Fact]
    public async Task ShutdownSaveFailsWhenTheSnapshotCannotBeWrittenUnlessForced()
    {
        await using var server = await TestServer.StartAsync();
        server.Server.Config.Dir = Path.Combine(server.DataDir, "missing-subdirectory");
        await using var c = await server.ConnectAsync();
        Assert.Equal("ERR Errors trying to SHUTDOWN. Check logs.", (await c.CallAsync("SHUTDOWN", "SAVE")).Text);
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
        await c.SendAsync("SHUTDOWN", "SAVE", "FORCE");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
        await server.Server.Stopped.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task ShutdownClosesTheConnectionWithoutAReplyAndStopsTheServer()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.SendAsync("SHUTDOWN", "NOSAVE");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
        await server.Server.Stopped.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(server.Server.IsShuttingDown);
    }

    [Fact]
    public async Task ShutdownUsesThePersistenceHook()
    {
        await using var server = await TestServer.StartAsync();
        bool? explicitSave = null;
        server.Server.ShutdownSave = requested =>
        {
            explicitSave = requested;
            return false;
        };
        await using var c = await server.ConnectAsync();
        Assert.Equal("ERR Errors trying to SHUTDOWN. Check logs.", (await c.CallAsync("SHUTDOWN")).Text);
        Assert.False(explicitSave);
        server.Server.ShutdownSave = _ => true;
        await c.SendAsync("SHUTDOWN", "SAVE");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }
}
