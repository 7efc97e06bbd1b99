using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests;

public sealed class SmokeTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public SmokeTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task PingAnswersPong()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("*1\r\n$4\r\nPING\r\n");
        Assert.Equal("+PONG\r\n", await c.ReadRawAsync(7));
    }

    [Fact]
    public async Task SetThenGetRoundTrips()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SET", "smoke:k", "v"));
        Assert.Equal("v", await c.CallTextAsync("GET", "smoke:k"));
        Assert.Null(await c.CallTextAsync("GET", "smoke:missing"));
    }

    [Fact]
    public async Task UnknownCommandNamesItsArguments()
    {
        await using var c = await _server.ConnectAsync();
        var reply = await c.CallAsync("NOSUCHCMD", "a", "b");
        Assert.True(reply.IsError);
        Assert.Equal("ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' ", reply.Text);
    }
}
