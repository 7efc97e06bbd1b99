using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Protocol;

/// <summary>An idle connection holds no input or reply buffer (Valkey's idle clients use its shared query buffer).</summary>
public sealed class ConnectionMemoryTests
{
    [Fact]
    public async Task IdleConnectionsHoldNoBuffers()
    {
        await using var server = await TestServer.StartAsync();
        var clients = new List<RespClient>();
        try
        {
            for (int i = 0; i < 20; i++)
            {
                var c = await server.ConnectAsync();
                clients.Add(c);
                Assert.Equal(new string('x', 5000), await c.CallTextAsync("ECHO", new string('x', 5000)));
            }
            var deadline = DateTime.UtcNow.AddSeconds(5);
            long held = -1;
            while (DateTime.UtcNow < deadline && held != 0)
            {
                lock (server.Server.DataLock)
                {
                    held = 0;
                    foreach (var c in server.Server.Clients.All) held += c.QueryBufferCapacity + c.Reply.Capacity;
                }
                if (held != 0) await Task.Delay(20);
            }
            Assert.Equal(0, held);
            // And they still work.
            foreach (var c in clients) Assert.Equal("PONG", await c.CallTextAsync("PING"));
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task PartialCommandKeepsItsBufferUntilComplete()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("CLIENT", "SETNAME", "partial");
        await c.SendRawAsync("*3\r\n$3\r\nSET\r\n$2\r\na");
        await using var observer = await server.ConnectAsync();
        var deadline = DateTime.UtcNow.AddSeconds(5);
        string line = "";
        while (DateTime.UtcNow < deadline)
        {
            line = (await observer.CallTextAsync("CLIENT", "LIST"))!.Split('\n').First(l => l.Contains("name=partial"));
            if (!line.Contains(" qbuf=0 ")) break;
            await Task.Delay(20);
        }
        Assert.Contains(" qbuf=18 ", line);
        Assert.DoesNotContain(" qbuf-free=0 ", line);
        await c.SendRawAsync("a\r\n$1\r\nb\r\n");
        Assert.Equal("OK", (await c.ReadAsync()).Text);
        Assert.Equal("b", await observer.CallTextAsync("GET", "aa"));
    }
}
