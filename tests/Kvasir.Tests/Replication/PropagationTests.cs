using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Replication;

/// <summary>
/// The replication stream a SYNC client receives: writes in replayable form (absolute expire
/// times, explicit deletions), a SELECT when the database changes, MULTI/EXEC around units with
/// several effects, lazy-expire deletions on their own.
/// </summary>
public sealed class PropagationTests
{
    /// <summary>Connects as a replica (SYNC) and reads past the RDB image: what follows is the stream.</summary>
    internal static async Task<RespClient> AttachAsync(TestServer server)
    {
        var replica = await server.ConnectAsync();
        await replica.SendRawAsync("SYNC\r\n");
        string header = "";
        while (!header.EndsWith('\n')) header += await replica.ReadRawAsync(1);
        Assert.StartsWith("$", header);
        int length = int.Parse(header[1..].Trim());
        string rdb = await replica.ReadRawAsync(length);
        Assert.StartsWith("REDIS", rdb);
        return replica;
    }

    private static async Task<string> NextAsync(RespClient replica)
    {
        var value = await replica.ReadAsync();
        return string.Join(' ', value.Items!.Select(i => i.Text));
    }

    [Fact]
    public async Task RelativeExpiresAreReplayedAsAbsoluteTimes()
    {
        await using var server = await TestServer.StartAsync();
        await using var replica = await AttachAsync(server);
        await using var c = await server.ConnectAsync();
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await c.CallAsync("SET", "k", "v", "EX", "100");
        await c.CallAsync("EXPIRE", "k", "200");
        await c.CallAsync("GETDEL", "k");

        Assert.Equal("SELECT 0", await NextAsync(replica));
        var set = (await NextAsync(replica)).Split(' ');
        Assert.Equal(new[] { "SET", "k", "v", "PXAT" }, set[..4]);
        Assert.InRange(long.Parse(set[4]), before + 100_000, before + 110_000);
        var expire = (await NextAsync(replica)).Split(' ');
        Assert.Equal(new[] { "PEXPIREAT", "k" }, expire[..2]);
        Assert.InRange(long.Parse(expire[2]), before + 200_000, before + 210_000);
        Assert.Equal("DEL k", await NextAsync(replica));
    }

    [Fact]
    public async Task TransactionsAreWrappedAndReadsAreNotPropagated()
    {
        await using var server = await TestServer.StartAsync();
        await using var replica = await AttachAsync(server);
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SELECT", "3");
        await c.CallAsync("GET", "a");
        await c.CallAsync("MULTI");
        await c.CallAsync("SET", "a", "1");
        await c.CallAsync("INCR", "a");
        await c.CallAsync("EXEC");

        Assert.Equal("MULTI", await NextAsync(replica));
        Assert.Equal("SELECT 3", await NextAsync(replica));
        Assert.Equal("SET a 1", await NextAsync(replica));
        Assert.Equal("INCR a", await NextAsync(replica));
        Assert.Equal("EXEC", await NextAsync(replica));
    }

    [Fact]
    public async Task LazyExpiryPropagatesAnUnlinkOfItsOwn()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("DEBUG", "SET-ACTIVE-EXPIRE", "0");
        await c.CallAsync("SET", "gone", "v", "PX", "1");
        await Task.Delay(20);
        await using var replica = await AttachAsync(server);
        Assert.True((await c.CallAsync("GET", "gone")).IsNull);
        await c.CallAsync("SET", "x", "1");

        Assert.Equal("SELECT 0", await NextAsync(replica));
        Assert.Equal("UNLINK gone", await NextAsync(replica));
        Assert.Equal("SET x 1", await NextAsync(replica));
    }
}
