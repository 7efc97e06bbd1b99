using System.Net.Sockets;
using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Protocol;

/// <summary>
/// Seeded random garbage from many connections at once: the server must neither crash nor hang,
/// and a well-behaved client on the side keeps getting exactly the right answers.
/// </summary>
public sealed class ProtocolFuzzTests
{
    private static readonly string[] Tokens =
    {
        "*", "$", "\r\n", "\n", "\r", "-1", "0", "1", "2", "3", "10", "65536", "2147483648", "-", "+", " ", "\"", "'", "\\x",
        "\\", "PING", "ECHO", "SET", "GET", "MULTI", "EXEC", "HELLO", "CLIENT", "WATCH", "\0",
    };

    private static byte[] Garbage(Random rnd)
    {
        var ms = new MemoryStream();
        int pieces = rnd.Next(1, 200);
        for (int i = 0; i < pieces; i++)
        {
            switch (rnd.Next(3))
            {
                case 0:
                    var raw = new byte[rnd.Next(1, 64)];
                    rnd.NextBytes(raw);
                    ms.Write(raw);
                    break;
                case 1:
                    ms.Write(Encoding.ASCII.GetBytes(Tokens[rnd.Next(Tokens.Length)]));
                    break;
                default:
                    // A valid command cut at a random point.
                    var cmd = RespClient.Encode("ECHO", new string('z', rnd.Next(0, 100)));
                    ms.Write(cmd, 0, rnd.Next(1, cmd.Length + 1));
                    break;
            }
        }
        return ms.ToArray();
    }

    private static async Task SendGarbageAsync(int port, int seed)
    {
        var rnd = new Random(seed);
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port);
        var stream = tcp.GetStream();
        var sink = new byte[8192];
        // Drain replies concurrently so the server is never blocked on us.
        var drain = Task.Run(async () =>
        {
            try
            {
                while (await stream.ReadAsync(sink) > 0) { }
            }
            catch (IOException) { }
            catch (ObjectDisposedException) { }
        });
        try
        {
            for (int i = 0; i < 5; i++)
            {
                await stream.WriteAsync(Garbage(rnd));
                if (rnd.Next(4) == 0) await Task.Delay(1);
            }
        }
        catch (IOException) { }
        catch (SocketException) { }
        tcp.Client.Shutdown(SocketShutdown.Send);
        await Task.WhenAny(drain, Task.Delay(2000));
    }

    [Fact]
    public async Task RandomGarbageNeverDisturbsOtherClients()
    {
        await using var server = await TestServer.StartAsync();
        await using var good = await server.ConnectAsync();
        using var stop = new CancellationTokenSource();

        var wellBehaved = Task.Run(async () =>
        {
            int i = 0;
            while (!stop.IsCancellationRequested)
            {
                string value = "value-" + i;
                Assert.Equal("OK", await good.CallTextAsync("SET", "fuzz:good", value));
                Assert.Equal(value, await good.CallTextAsync("GET", "fuzz:good"));
                Assert.Equal("hello " + i, await good.CallTextAsync("ECHO", "hello " + i));
                i++;
            }
            return i;
        });

        var seeds = new Random(20240611);
        for (int round = 0; round < 10; round++)
        {
            var batch = new List<Task>();
            for (int k = 0; k < 20; k++) batch.Add(SendGarbageAsync(server.Port, seeds.Next()));
            await Task.WhenAll(batch).WaitAsync(TimeSpan.FromSeconds(60));
        }
        stop.Cancel();
        int rounds = await wellBehaved.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(rounds > 0);

        // The server still serves new clients, and the garbage connections are gone.
        await using var fresh = await server.ConnectAsync();
        Assert.Equal("PONG", await fresh.CallTextAsync("PING"));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && server.Server.Clients.Count > 2) await Task.Delay(50);
        Assert.Equal(2, server.Server.Clients.Count);
    }

    [Fact]
    public async Task RandomPrintableInlineLinesGetErrorsNotCrashes()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        var rnd = new Random(99);
        const string alphabet = "abcdefghijklmnopqrstuvwxyz ABC\t";
        for (int i = 0; i < 200; i++)
        {
            var line = new StringBuilder("zz");
            int len = rnd.Next(0, 40);
            for (int j = 0; j < len; j++) line.Append(alphabet[rnd.Next(alphabet.Length)]);
            var reply = await c.CallAsync(Encoding.ASCII.GetBytes(line.ToString()));
            Assert.True(reply.IsError);
            Assert.StartsWith("ERR unknown command", reply.Text);
        }
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
    }
}
