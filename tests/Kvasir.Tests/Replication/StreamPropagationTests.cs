using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Replication;

/// <summary>
/// What stream commands send to replicas and the AOF, as Valkey does: XADD with the ID it
/// generated and approximate trims made exact, XREADGROUP and XAUTOCLAIM as idempotent XCLAIMs plus
/// the group's position, NOACK reads as consumer creation, never the reads themselves.
/// </summary>
public sealed class StreamPropagationTests
{
    private static Task<string> NextAsync(RespClient replica) => ReplicationStream.NextAsync(replica);

    [Fact]
    public async Task AddPropagatesItsIdAndAnExactTrim()
    {
        await using var server = await TestServer.StartAsync();
        await using var replica = await ReplicationStream.AttachAsync(server);
        await using var c = await server.ConnectAsync();
        string id = (await c.CallTextAsync("XADD", "s", "*", "f", "v"))!;
        await c.CallAsync("XADD", "s", "9999999999999-*", "f", "v");
        for (int i = 1; i <= 150; i++) await c.CallAsync("XADD", "t", i + "-0", "f", "v");
        await c.CallAsync("XADD", "t", "MAXLEN", "~", "10", "200-0", "f", "v");
        await c.CallAsync("XTRIM", "t", "MINID", "~", "140");
        await c.CallAsync("XADD", "t", "MAXLEN", "~", "10", "201-0", "f", "v"); // nothing to trim: still exact
        await c.CallAsync("XADD", "u", "NOMKSTREAM", "*", "f", "v");             // no effect, not propagated
        await c.CallAsync("XRANGE", "t", "-", "+");

        Assert.Equal("SELECT 0", await NextAsync(replica));
        Assert.Equal($"XADD s {id} f v", await NextAsync(replica));
        Assert.Equal("XADD s 9999999999999-0 f v", await NextAsync(replica));
        for (int i = 1; i <= 150; i++) Assert.Equal($"XADD t {i}-0 f v", await NextAsync(replica));
        Assert.Equal("XADD t MAXLEN = 51 200-0 f v", await NextAsync(replica));
        Assert.Equal("XADD t MAXLEN = 52 201-0 f v", await NextAsync(replica));
    }

    [Fact]
    public async Task GroupReadsPropagateAsClaimsAndTheGroupPosition()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("XADD", "s", "1-0", "f", "1");
        await c.CallAsync("XADD", "s", "2-0", "f", "2");
        await c.CallAsync("XGROUP", "CREATE", "s", "g", "0");
        await using var replica = await ReplicationStream.AttachAsync(server);
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", ">");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "bob", "NOACK", "STREAMS", "s", ">");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", "0"); // history: nothing to propagate
        await c.CallAsync("XDEL", "s", "1-0");
        await c.CallAsync("XAUTOCLAIM", "s", "g", "carl", "0", "0");
        await c.CallAsync("XACK", "s", "g", "1-0");

        Assert.Equal("MULTI", await NextAsync(replica));
        Assert.Equal("SELECT 0", await NextAsync(replica));
        var claim = (await NextAsync(replica)).Split(' ');
        Assert.Equal(new[] { "XCLAIM", "s", "g", "alice", "0", "1-0", "TIME" }, claim[..7]);
        Assert.Equal(new[] { "RETRYCOUNT", "1", "FORCE", "JUSTID", "LASTID", "1-0" }, claim[8..]);
        Assert.Equal("XGROUP SETID s g 1-0 ENTRIESREAD 1", await NextAsync(replica));
        Assert.Equal("EXEC", await NextAsync(replica));
        Assert.Equal("MULTI", await NextAsync(replica));
        Assert.Equal("XGROUP CREATECONSUMER s g bob", await NextAsync(replica));
        Assert.Equal("XGROUP SETID s g 2-0 ENTRIESREAD 2", await NextAsync(replica));
        Assert.Equal("EXEC", await NextAsync(replica));
        Assert.Equal("XDEL s 1-0", await NextAsync(replica));
        // The entry that no longer exists leaves the PEL on the replica too.
        var gone = (await NextAsync(replica)).Split(' ');
        Assert.Equal(new[] { "XCLAIM", "s", "g", "alice", "0", "1-0" }, gone[..6]);
        // XACK of an ID no longer pending changed nothing: the next effect is a later command's.
        await c.CallAsync("SET", "after", "1");
        Assert.Equal("SET after 1", await NextAsync(replica));
    }
}
