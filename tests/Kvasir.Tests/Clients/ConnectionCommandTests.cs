using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Clients;

/// <summary>PING ECHO SELECT QUIT HELLO AUTH RESET.</summary>
public sealed class ConnectionCommandTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ConnectionCommandTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task PingAndEcho()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
        Assert.Equal("hi", await c.CallTextAsync("PING", "hi"));
        Assert.Equal("ERR wrong number of arguments for 'ping' command", await c.CallTextAsync("PING", "a", "b"));
        Assert.Equal("x y", await c.CallTextAsync("ECHO", "x y"));
        Assert.Equal("ERR wrong number of arguments for 'echo' command", await c.CallTextAsync("ECHO"));
    }

    [Fact]
    public async Task SelectValidatesTheIndex()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SELECT", "15"));
        Assert.Equal("ERR DB index is out of range", await c.CallTextAsync("SELECT", "16"));
        Assert.Equal("ERR DB index is out of range", await c.CallTextAsync("SELECT", "-1"));
        Assert.Equal("ERR value is not an integer or out of range", await c.CallTextAsync("SELECT", "x"));
    }

    [Fact]
    public async Task QuitRepliesOkThenCloses()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("QUIT\r\nPING\r\n");
        Assert.Equal("+OK\r\n", await c.ReadRawAsync(5));
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task HelloErrors()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("NOPROTO unsupported protocol version", await c.CallTextAsync("HELLO", "4"));
        Assert.Equal("NOPROTO unsupported protocol version", await c.CallTextAsync("HELLO", "1"));
        Assert.Equal("ERR Protocol version is not an integer or out of range", await c.CallTextAsync("HELLO", "x"));
        Assert.Equal("ERR Syntax error in HELLO option 'foo'", await c.CallTextAsync("HELLO", "3", "foo"));
        Assert.Equal("ERR Syntax error in HELLO option 'AUTH'", await c.CallTextAsync("HELLO", "3", "AUTH", "default"));
        Assert.Equal("ERR Client names cannot contain spaces, newlines or special characters.", await c.CallTextAsync("HELLO", "3", "SETNAME", "a b"));
        // Nothing changed: still RESP2.
        Assert.Equal('$', (await c.CallAsync("GET", "conn:missing")).Kind);
    }

    [Fact]
    public async Task HelloSetsTheName()
    {
        await using var c = await _server.ConnectAsync();
        var reply = await c.CallAsync("HELLO", "2", "SETNAME", "worker-1");
        Assert.Equal(14, reply.Items!.Count);
        Assert.Equal("worker-1", await c.CallTextAsync("CLIENT", "GETNAME"));
    }

    [Fact]
    public async Task HelloReplyFields()
    {
        await using var c = await _server.ConnectAsync();
        long id = (await c.CallAsync("CLIENT", "ID")).Integer;
        var reply = await c.CallAsync("HELLO", "3");
        Assert.Equal('%', reply.Kind);
        var items = reply.Items!;
        string[] keys = { "server", "version", "proto", "id", "mode", "role", "modules" };
        for (int i = 0; i < keys.Length; i++) Assert.Equal(keys[i], items[2 * i].Text);
        Assert.Equal("valkey", items[1].Text);
        Assert.Equal(KvasirServer.ValkeyVersion, items[3].Text);
        Assert.Equal(3, items[5].Integer);
        Assert.Equal(id, items[7].Integer);
        Assert.Equal("standalone", items[9].Text);
        Assert.Equal("master", items[11].Text);
        Assert.Empty(items[13].Items!);
    }

    [Fact]
    public async Task AuthWithoutPasswordConfigured()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            await c.CallTextAsync("AUTH", "pw"));
        // The default user has no password: any password is accepted for it.
        Assert.Equal("OK", await c.CallTextAsync("AUTH", "default", "anything"));
        Assert.Equal("WRONGPASS invalid username-password pair or user is disabled.", await c.CallTextAsync("AUTH", "nobody", "x"));
        Assert.Equal("ERR syntax error", await c.CallTextAsync("AUTH", "a", "b", "c"));
    }

    [Fact]
    public async Task RequirePassGatesCommands()
    {
        await using var server = await TestServer.StartAsync(("requirepass", "s3cret"));
        await using var c = await server.ConnectAsync();
        Assert.Equal("NOAUTH Authentication required.", await c.CallTextAsync("PING"));
        Assert.Equal("NOAUTH Authentication required.", await c.CallTextAsync("CLIENT", "ID"));
        Assert.StartsWith("NOAUTH HELLO must be called with the client already authenticated", await c.CallTextAsync("HELLO", "3"));
        Assert.Equal("WRONGPASS invalid username-password pair or user is disabled.", await c.CallTextAsync("AUTH", "wrong"));
        Assert.Equal("WRONGPASS invalid username-password pair or user is disabled.", await c.CallTextAsync("HELLO", "3", "AUTH", "default", "wrong"));
        Assert.Equal("OK", await c.CallTextAsync("AUTH", "s3cret"));
        Assert.Equal("PONG", await c.CallTextAsync("PING"));

        await using var d = await server.ConnectAsync();
        var hello = await d.CallAsync("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "n1");
        Assert.Equal('%', hello.Kind);
        Assert.Equal("n1", await d.CallTextAsync("CLIENT", "GETNAME"));

        // RESET logs the connection out again.
        Assert.Equal("RESET", await d.CallTextAsync("RESET"));
        Assert.Equal("NOAUTH Authentication required.", await d.CallTextAsync("PING"));
        Assert.Equal("OK", await d.CallTextAsync("AUTH", "default", "s3cret"));
    }

    [Fact]
    public async Task ResetRestoresAFreshConnection()
    {
        await using var c = await _server.ConnectAsync();
        long id = (await c.CallAsync("CLIENT", "ID")).Integer;
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("SELECT", "5");
        await c.CallAsync("CLIENT", "SETNAME", "before");
        await c.CallAsync("CLIENT", "SETINFO", "LIB-NAME", "mylib");
        await c.CallAsync("CLIENT", "NO-TOUCH", "on");
        await c.CallAsync("CLIENT", "NO-EVICT", "on");
        await c.CallAsync("WATCH", "conn:w");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");

        Assert.Equal("RESET", await c.CallTextAsync("RESET"));

        var info = await c.CallTextAsync("CLIENT", "INFO");
        Assert.Contains($"id={id} ", info);
        Assert.Contains(" name= ", info);
        Assert.Contains(" flags=N ", info);
        Assert.Contains(" db=0 ", info);
        Assert.Contains(" multi=-1 watch=0 ", info);
        Assert.Contains(" resp=2 ", info);
        Assert.Contains(" lib-name=mylib ", info);
        Assert.Equal("ERR EXEC without MULTI", await c.CallTextAsync("EXEC"));
    }

    [Fact]
    public async Task ResetTurnsRepliesBackOn()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendAsync("CLIENT", "REPLY", "OFF");
        await c.SendAsync("PING");
        await c.SendAsync("RESET");
        Assert.Equal("+RESET\r\n", await c.ReadRawAsync(8));
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
    }
}
