using System.Net.Sockets;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Protocol;

/// <summary>Malformed requests get Valkey's protocol error and the connection is closed after it.</summary>
public sealed class ProtocolErrorTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ProtocolErrorTests(SharedServerFixture fixture) => _server = fixture.Server;

    private async Task AssertProtocolError(string request, string error)
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync(request);
        var expected = "-ERR Protocol error: " + error + "\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Theory]
    [InlineData("*3000000000\r\n", "invalid multibulk length")]
    [InlineData("*abc\r\n", "invalid multibulk length")]
    [InlineData("*01\r\n", "invalid multibulk length")]
    [InlineData("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", "expected '$', got 'f'")]
    [InlineData("*1\r\nfoo\r\n", "expected '$', got 'f'")]
    [InlineData("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", "invalid bulk length")]
    [InlineData("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", "invalid bulk length")]
    [InlineData("*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", "invalid bulk length")]
    [InlineData("*1\r\n$+4\r\nPING\r\n", "invalid bulk length")]
    [InlineData("set \"\"\"test-key\"\"\" test-value\r\nping\r\n", "unbalanced quotes in request")]
    [InlineData("ECHO 'unterminated\r\n", "unbalanced quotes in request")]
    [InlineData("ECHO \"a\"b\r\n", "unbalanced quotes in request")]
    public async Task MalformedRequestsGetTheProtocolError(string request, string error) =>
        await AssertProtocolError(request, error);

    [Fact]
    public async Task CommandsBeforeTheErrorAreExecuted()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("*1\r\n$4\r\nPING\r\nPING\r\n*x\r\n*1\r\n$4\r\nPING\r\n");
        const string expected = "+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task TooBigInlineRequest()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync(new string('A', 70 * 1024));
        const string expected = "-ERR Protocol error: too big inline request\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task TooBigMultibulkCountString()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("*" + new string('1', 70 * 1024));
        const string expected = "-ERR Protocol error: too big mbulk count string\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task TooBigBulkCountString()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("*1\r\n$" + new string('1', 70 * 1024));
        const string expected = "-ERR Protocol error: too big bulk count string\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task BulkLengthAboveProtoMaxBulkLenIsRefused()
    {
        await using var server = await TestServer.StartAsync(("proto-max-bulk-len", "1mb"));
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SET", "k", new string('v', 1024 * 1024)));
        await c.SendRawAsync("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n");
        const string expected = "-ERR Protocol error: invalid bulk length\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Theory]
    [InlineData("\0")]
    [InlineData("*\0")]
    [InlineData("$\0")]
    public async Task DesyncedStreamIsClosedWithAProtocolError(string prefix)
    {
        // Valkey's "Protocol desync regression test": garbage without a line end must not be buffered forever.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", _server.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(System.Text.Encoding.Latin1.GetBytes(prefix));
        var payload = new byte[1024];
        Array.Fill(payload, (byte)'A');
        var buffer = new byte[256];
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string? reply = null;
        var read = stream.ReadAsync(buffer);
        while (DateTime.UtcNow < deadline)
        {
            if (read.IsCompleted)
            {
                int n = await read;
                reply = System.Text.Encoding.Latin1.GetString(buffer, 0, n);
                break;
            }
            try { await stream.WriteAsync(payload); }
            catch (IOException) { }
            await Task.Delay(1);
        }
        Assert.NotNull(reply);
        Assert.StartsWith("-ERR Protocol error: too big ", reply);
    }

    [Fact]
    public async Task NulByteInAnInlineLineKeepsItIncompleteUntilTooBig()
    {
        // Valkey finds the end of an inline line with strchr, which stops at NUL: no reply until 64 KB.
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("ECHO a\0b\r\nPING\r\n");
        Assert.False(await c.IsClosedAsync(TimeSpan.FromMilliseconds(300)));
        await c.SendRawAsync(new string('x', 70 * 1024));
        const string expected = "-ERR Protocol error: too big inline request\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task NulByteInsideBulkDataIsBinarySafe()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("*1\r\n$4\r\nPI\0G\r\n*2\r\n$4\r\nECHO\r\n$3\r\na\0b\r\n");
        const string expected = "-ERR unknown command 'PI', with args beginning with: \r\n$3\r\na\0b\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task CrossProtocolHttpRequestIsDroppedSilently()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("POST / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task HostHeaderLineDropsTheConnectionAndItsPendingReplies()
    {
        // As Valkey: the client is freed at once, replies to earlier commands of the same read included.
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("PING\r\nHost: example\r\nPING\r\n");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }
}

/// <summary>Limits for connections that have not authenticated, the query buffer limit, maxclients and timeout.</summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task UnauthenticatedMultibulkLengthIsLimited()
    {
        await using var server = await TestServer.StartAsync(("requirepass", "pw"));
        await using var c = await server.ConnectAsync();
        await c.SendRawAsync("*11\r\n");
        const string expected = "-ERR Protocol error: unauthenticated multibulk length\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task UnauthenticatedBulkLengthIsLimited()
    {
        await using var server = await TestServer.StartAsync(("requirepass", "pw"));
        await using var c = await server.ConnectAsync();
        await c.SendRawAsync("*1\r\n$16385\r\n");
        const string expected = "-ERR Protocol error: unauthenticated bulk length\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task AfterAuthInTheSamePipelineTheNormalLimitsApply()
    {
        await using var server = await TestServer.StartAsync(("requirepass", "pw"));
        await using var c = await server.ConnectAsync();
        var big = new string('x', 20000);
        var bytes = new MemoryStream();
        bytes.Write(RespClient.Encode("AUTH", "pw"));
        bytes.Write(RespClient.Encode("ECHO", big));
        await c.SendRawAsync(bytes.ToArray());
        Assert.Equal("OK", (await c.ReadAsync()).Text);
        Assert.Equal(big, (await c.ReadAsync()).Text);
    }

    [Fact]
    public async Task QueryBufferLimitClosesTheConnectionWithoutReply()
    {
        await using var server = await TestServer.StartAsync(("client-query-buffer-limit", "1mb"));
        await using var c = await server.ConnectAsync();
        await using var other = await server.ConnectAsync();
        // An argument that never completes keeps growing the query buffer.
        await c.SendRawAsync("*2\r\n$4\r\nECHO\r\n$3000000\r\n");
        var chunk = new byte[64 * 1024];
        bool closed = false;
        for (int i = 0; i < 40 && !closed; i++)
        {
            try { await c.SendRawAsync(chunk); }
            catch (IOException) { closed = true; }
        }
        Assert.True(closed || await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("PONG", await other.CallTextAsync("PING"));
    }

    [Fact]
    public async Task QueryBufferLimitAppliesToACompleteCommandToo()
    {
        // Valkey checks after every read, before executing: a 1 MB value plus its header is over 1 MB.
        await using var server = await TestServer.StartAsync(("client-query-buffer-limit", "1mb"));
        await using var c = await server.ConnectAsync();
        try { await c.SendAsync("SET", "k", new string('a', 1024 * 1024)); }
        catch (IOException) { }
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
        lock (server.Server.DataLock) Assert.Equal(1, server.Server.Stats.ClientQueryBufferLimitDisconnections);
        await using var other = await server.ConnectAsync();
        Assert.Null(await other.CallTextAsync("GET", "k"));
    }

    [Fact]
    public async Task ArgumentsAlreadyParsedDoNotCountAgainstTheQueryBufferLimit()
    {
        // Valkey keeps only unparsed bytes in the query buffer: a command may exceed the limit in total.
        await using var server = await TestServer.StartAsync(("client-query-buffer-limit", "1mb"));
        await using var c = await server.ConnectAsync();
        var chunk = new string('v', 600 * 1024);
        await c.SendRawAsync("*5\r\n$4\r\nMSET\r\n$2\r\nk1\r\n");
        await c.SendRawAsync($"${chunk.Length}\r\n{chunk}\r\n$2\r\nk2\r\n");
        await Task.Delay(200);
        await c.SendRawAsync($"${chunk.Length}\r\n{chunk}\r\n");
        Assert.Equal("OK", (await c.ReadAsync()).Text);
    }

    [Fact]
    public async Task OutputBufferHardLimitClosesTheClient()
    {
        await using var server = await TestServer.StartAsync(("client-output-buffer-limit", "normal 10 0 0"));
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SET", "big", new string('a', 100_000)));
        // Small replies stay within the per-client static buffer and are never limited.
        Assert.Null(await c.CallTextAsync("GET", "small"));
        await c.SendAsync("GET", "big");
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
        lock (server.Server.DataLock) Assert.Equal(1, server.Server.Stats.ClientOutputBufferLimitDisconnections);
    }

    [Fact]
    public async Task MaxClientsRefusesExtraConnections()
    {
        await using var server = await TestServer.StartAsync(("maxclients", "2"));
        await using var a = await server.ConnectAsync();
        await using var b = await server.ConnectAsync();
        Assert.Equal("PONG", await a.CallTextAsync("PING"));
        Assert.Equal("PONG", await b.CallTextAsync("PING"));
        await using var c = await server.ConnectAsync();
        const string expected = "-ERR max number of clients reached\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        Assert.True(await c.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task IdleClientsAreClosedAfterTimeout()
    {
        await using var server = await TestServer.StartAsync(("timeout", "1"));
        await using var idle = await server.ConnectAsync();
        await using var busy = await server.ConnectAsync();
        Assert.Equal("PONG", await idle.CallTextAsync("PING"));
        var until = DateTime.UtcNow.AddSeconds(2.5);
        while (DateTime.UtcNow < until)
        {
            Assert.Equal("PONG", await busy.CallTextAsync("PING"));
            await Task.Delay(200);
        }
        Assert.True(await idle.IsClosedAsync(TimeSpan.FromSeconds(3)));
        Assert.Equal("PONG", await busy.CallTextAsync("PING"));
    }
}
