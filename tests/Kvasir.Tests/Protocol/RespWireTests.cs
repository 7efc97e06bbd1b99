using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Protocol;

/// <summary>Exact bytes on the wire: RESP2, RESP3 after HELLO 3, inline commands and pipelining.</summary>
public sealed class RespWireTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public RespWireTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static string Hello(int proto, long id, string server = "valkey") =>
        (proto == 3 ? "%7\r\n" : "*14\r\n") +
        $"$6\r\nserver\r\n${server.Length}\r\n{server}\r\n" +
        $"$7\r\nversion\r\n${KvasirServer.ValkeyVersion.Length}\r\n{KvasirServer.ValkeyVersion}\r\n" +
        $"$5\r\nproto\r\n:{proto}\r\n" +
        $"$2\r\nid\r\n:{id}\r\n" +
        "$4\r\nmode\r\n$10\r\nstandalone\r\n" +
        "$4\r\nrole\r\n$6\r\nmaster\r\n" +
        "$7\r\nmodules\r\n*0\r\n";

    [Fact]
    public async Task Resp2RepliesAreExact()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n*2\r\n$3\r\nGET\r\n$12\r\nwire:missing\r\n*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n");
        const string expected = "+PONG\r\n$4\r\na\r\nb\r\n$-1\r\n$-1\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task Hello3SwitchesToResp3AndHello2SwitchesBack()
    {
        await using var c = await _server.ConnectAsync();
        long id = (await c.CallAsync("CLIENT", "ID")).Integer;

        await c.SendAsync("HELLO", "3");
        var hello3 = Hello(3, id);
        Assert.Equal(hello3, await c.ReadRawAsync(hello3.Length));

        await c.SendAsync("GET", "wire:missing");
        Assert.Equal("_\r\n", await c.ReadRawAsync(3));

        await c.SendAsync("CLIENT", "INFO");
        var info = await c.ReadAsync();
        Assert.Equal('=', info.Kind);
        Assert.StartsWith("txt:id=", info.Text);
        Assert.Contains(" resp=3 ", info.Text);

        await c.SendAsync("HELLO", "2");
        var hello2 = Hello(2, id);
        Assert.Equal(hello2, await c.ReadRawAsync(hello2.Length));
        await c.SendAsync("GET", "wire:missing");
        Assert.Equal("$-1\r\n", await c.ReadRawAsync(5));
    }

    [Fact]
    public async Task HelloWithoutVersionKeepsTheProtocol()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal('%', (await c.CallAsync("HELLO", "3")).Kind);
        var reply = await c.CallAsync("HELLO");
        Assert.Equal('%', reply.Kind);
        Assert.Equal(3, reply.Items![5].Integer);
    }

    [Fact]
    public async Task ExecInResp3ReturnsNullWhenWatchFails()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("WATCH", "wire:watched");
        await other.CallAsync("SET", "wire:watched", "x");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING");
        await c.SendAsync("EXEC");
        Assert.Equal("_\r\n", await c.ReadRawAsync(3));
    }

    [Fact]
    public async Task InlineCommandsAreParsedWithQuotes()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("ECHO \"a\\x41\\n b\"\r\nECHO 'it\\'s'\r\nPING\n\r\n   \r\nECHO plain\r\n");
        const string expected = "$5\r\naA\n b\r\n$4\r\nit's\r\n+PONG\r\n$5\r\nplain\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task InlineAndMultibulkMixInOnePipeline()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("SET wire:mix 1\r\n*2\r\n$3\r\nGET\r\n$8\r\nwire:mix\r\nGET wire:mix\r\n");
        const string expected = "+OK\r\n$1\r\n1\r\n$1\r\n1\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task EmptyAndNegativeMultibulkCountsAreIgnored()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendRawAsync("*0\r\n*-10\r\n\r\n*1\r\n$4\r\nPING\r\n");
        Assert.Equal("+PONG\r\n", await c.ReadRawAsync(7));
    }

    [Fact]
    public async Task CommandSplitAcrossManyWritesIsAssembled()
    {
        await using var c = await _server.ConnectAsync();
        var bytes = RespClient.Encode("SET", "wire:split", new string('v', 5000));
        foreach (var chunk in bytes.Chunk(7))
        {
            await c.SendRawAsync(chunk);
        }
        Assert.Equal("OK", (await c.ReadAsync()).Text);
        Assert.Equal(5000, (await c.CallAsync("GET", "wire:split")).Bytes!.Length);
    }

    [Fact]
    public async Task HundredThousandPipelinedCommandsInOneWrite()
    {
        await using var c = await _server.ConnectAsync();
        const int n = 100_000;
        var ms = new MemoryStream();
        for (int i = 0; i < n; i++) ms.Write(RespClient.Encode("SET", "wire:pipe:" + (i % 100), i.ToString()));
        ms.Write(RespClient.Encode("ECHO", "done"));
        // Send while reading: a client that never reads its replies would fill its own socket buffers.
        var send = c.SendRawAsync(ms.ToArray());
        for (int i = 0; i < n; i++)
        {
            var r = await c.ReadAsync();
            Assert.Equal("OK", r.Text);
        }
        Assert.Equal("done", (await c.ReadAsync()).Text);
        await send;
        Assert.Equal((n - 100 + 7).ToString(), await c.CallTextAsync("GET", "wire:pipe:7"));
    }

    [Fact]
    public async Task LargePipelineWrittenBeforeReadingDoesNotDeadlock()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "wire:big", new string('x', 100_000));
        // 200 replies of 100 KB (20 MB) requested in one go, and only read once all is written.
        var ms = new MemoryStream();
        for (int i = 0; i < 200; i++) ms.Write(RespClient.Encode("GET", "wire:big"));
        var send = c.SendRawAsync(ms.ToArray());
        await send.WaitAsync(TimeSpan.FromSeconds(20));
        for (int i = 0; i < 200; i++) Assert.Equal(100_000, (await c.ReadAsync()).Bytes!.Length);
    }

    [Fact]
    public async Task HugeArgumentRoundTrips()
    {
        await using var c = await _server.ConnectAsync();
        c.Timeout = TimeSpan.FromSeconds(60);
        var value = new byte[100 * 1024 * 1024];
        new Random(7).NextBytes(value);
        Assert.Equal("OK", await c.CallTextAsync("SET", "wire:huge", value));
        var got = await c.CallAsync("GET", "wire:huge");
        Assert.True(value.AsSpan().SequenceEqual(got.Bytes));
        Assert.Equal("OK", await c.CallTextAsync("SET", "wire:huge", "small"));
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
    }

    [Fact]
    public async Task BinarySafeArguments()
    {
        await using var c = await _server.ConnectAsync();
        var value = new byte[] { 0, 13, 10, 36, 42, 255, 13, 10 };
        await c.CallAsync("SET", "wire:bin", value);
        Assert.Equal(value, (await c.CallAsync("GET", "wire:bin")).Bytes);
    }
}
