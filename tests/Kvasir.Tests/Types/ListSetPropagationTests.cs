using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Types;

/// <summary>What replicas receive for the list and set commands whose effect is not their own text
/// (random pops, multi-key pops), as Valkey rewrites them.</summary>
public sealed class ListSetPropagationTests
{
    private static async Task<RespClient> AttachAsync(TestServer server)
    {
        var replica = await server.ConnectAsync();
        await replica.SendRawAsync("SYNC\r\n");
        // A primary sends bare newlines while it prepares the image (a busy machine): skip them.
        string header = "";
        while (true)
        {
            header += await replica.ReadRawAsync(1);
            if (header == "\n") header = "";
            else if (header.EndsWith('\n')) break;
        }
        await replica.ReadRawAsync(int.Parse(header[1..].Trim()));
        return replica;
    }

    private static async Task<string[]> NextAsync(RespClient replica)
    {
        while (true)
        {
            var argv = (await replica.ReadAsync()).Items!.Select(i => i.Text!).ToArray();
            if (argv is not ["PING"]) return argv;
        }
    }

    [Fact]
    public async Task PopsAreReplayedDeterministically()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("RPUSH", "l", "a", "b", "c");
        await c.CallAsync("SADD", "s", "x", "y", "z", "w");
        await using var replica = await AttachAsync(server);

        await c.CallAsync("LMPOP", "2", "missing", "l", "RIGHT", "COUNT", "10");
        var popped = (await c.CallAsync("SPOP", "s")).Text!;
        var two = (await c.CallAsync("SPOP", "s", "2")).Items!.Select(i => i.Text!).OrderBy(x => x).ToArray();
        await c.CallAsync("SPOP", "s", "5");

        Assert.Equal(new[] { "SELECT", "0" }, await NextAsync(replica));
        Assert.Equal(new[] { "RPOP", "l", "3" }, await NextAsync(replica));
        Assert.Equal(new[] { "SREM", "s", popped }, await NextAsync(replica));
        var srem = await NextAsync(replica);
        Assert.Equal(new[] { "SREM", "s" }, srem[..2]);
        Assert.Equal(two, srem[2..].OrderBy(x => x).ToArray());
        Assert.Equal(new[] { "UNLINK", "s" }, await NextAsync(replica));
    }
}
