using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.PubSub;

/// <summary>SUBSCRIBE PSUBSCRIBE SSUBSCRIBE, their unsubscribes, PUBLISH SPUBLISH and PUBSUB, over two or more connections.</summary>
public sealed class PubSubTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public PubSubTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task MessagesReachSubscribersInResp2Arrays()
    {
        await using var sub = await _server.ConnectAsync();
        await using var pub = await _server.ConnectAsync();
        await sub.SendAsync("SUBSCRIBE", "ps:a", "ps:b");
        const string confirm = "*3\r\n$9\r\nsubscribe\r\n$4\r\nps:a\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$4\r\nps:b\r\n:2\r\n";
        Assert.Equal(confirm, await sub.ReadRawAsync(confirm.Length));
        Assert.Equal("1", await pub.CallTextAsync("PUBLISH", "ps:a", "hello"));
        const string message = "*3\r\n$7\r\nmessage\r\n$4\r\nps:a\r\n$5\r\nhello\r\n";
        Assert.Equal(message, await sub.ReadRawAsync(message.Length));
        Assert.Equal("0", await pub.CallTextAsync("PUBLISH", "ps:none", "x"));
    }

    [Fact]
    public async Task Resp3SubscribersGetPushesAndMayRunAnyCommand()
    {
        await using var sub = await _server.ConnectAsync();
        await using var pub = await _server.ConnectAsync();
        await sub.CallAsync("HELLO", "3");
        await sub.SendAsync("SUBSCRIBE", "ps:r3");
        const string confirm = ">3\r\n$9\r\nsubscribe\r\n$5\r\nps:r3\r\n:1\r\n";
        Assert.Equal(confirm, await sub.ReadRawAsync(confirm.Length));
        Assert.Equal("PONG", await sub.CallTextAsync("PING"));
        Assert.Null(await sub.CallTextAsync("GET", "ps:nokey"));
        await pub.CallAsync("PUBLISH", "ps:r3", "m");
        var push = await sub.ReadAsync();
        Assert.Equal('>', push.Kind);
        Assert.Equal("[message, ps:r3, m]", push.ToString());
    }

    [Fact]
    public async Task PatternsMatchWithGlobAndCountWithChannels()
    {
        await using var sub = await _server.ConnectAsync();
        await using var pub = await _server.ConnectAsync();
        Assert.Equal("[subscribe, pp.x, 1]", (await sub.CallAsync("SUBSCRIBE", "pp.x")).ToString());
        Assert.Equal("[psubscribe, pp.*, 2]", (await sub.CallAsync("PSUBSCRIBE", "pp.*")).ToString());
        Assert.Equal("2", await pub.CallTextAsync("PUBLISH", "pp.x", "hi"));
        Assert.Equal("[message, pp.x, hi]", (await sub.ReadAsync()).ToString());
        Assert.Equal("[pmessage, pp.*, pp.x, hi]", (await sub.ReadAsync()).ToString());
        Assert.Equal("0", await pub.CallTextAsync("PUBLISH", "ppx", "no"));
        Assert.Equal("[punsubscribe, pp.*, 1]", (await sub.CallAsync("PUNSUBSCRIBE", "pp.*")).ToString());
    }

    [Fact]
    public async Task UnsubscribeWithoutArgumentsLeavesEveryChannel()
    {
        await using var sub = await _server.ConnectAsync();
        await using var pub = await _server.ConnectAsync();
        await sub.SendAsync("SUBSCRIBE", "pu:1", "pu:2");
        await sub.ReadAsync();
        await sub.ReadAsync();
        await sub.SendAsync("UNSUBSCRIBE");
        var names = new List<string> { (await sub.ReadAsync()).Items![1].Text!, (await sub.ReadAsync()).Items![1].Text! };
        names.Sort(StringComparer.Ordinal);
        Assert.Equal(new[] { "pu:1", "pu:2" }, names);
        Assert.Equal("0", await pub.CallTextAsync("PUBLISH", "pu:1", "x"));
        // Out of subscriber mode: normal commands again, and unsubscribing needs a subscription context.
        Assert.Equal("PONG", await sub.CallTextAsync("PING"));
        Assert.Equal("NOSUB 'unsubscribe' command executed not in subscribed mode", await sub.CallTextAsync("UNSUBSCRIBE"));
    }

    [Fact]
    public async Task UnsubscribeFromNothingRepliesWithNullChannel()
    {
        await using var sub = await _server.ConnectAsync();
        await sub.CallAsync("PSUBSCRIBE", "pn.*");
        // Subscribed to a pattern only: UNSUBSCRIBE (channels) has nothing to leave.
        await sub.SendAsync("UNSUBSCRIBE");
        const string reply = "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n";
        Assert.Equal(reply, await sub.ReadRawAsync(reply.Length));
    }

    [Fact]
    public async Task Resp2SubscriberContextRestrictsCommands()
    {
        await using var sub = await _server.ConnectAsync();
        await sub.CallAsync("SUBSCRIBE", "pr:1");
        Assert.Equal("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            await sub.CallTextAsync("GET", "x"));
        Assert.Equal("ERR Can't execute 'client|list': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            await sub.CallTextAsync("CLIENT", "LIST"));
        await sub.SendAsync("PING");
        const string pong = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
        Assert.Equal(pong, await sub.ReadRawAsync(pong.Length));
        Assert.Equal("[pong, hi]", (await sub.CallAsync("PING", "hi")).ToString());
        // RESET leaves pub/sub mode and every subscription.
        Assert.Equal("RESET", await sub.CallTextAsync("RESET"));
        Assert.Null(await sub.CallTextAsync("GET", "pr:none"));
        await using var other = await _server.ConnectAsync();
        Assert.Equal("[pr:1, 0]", (await other.CallAsync("PUBSUB", "NUMSUB", "pr:1")).ToString());
    }

    [Fact]
    public async Task IntrospectionCountsChannelsPatternsAndShardChannels()
    {
        await using var a = await _server.ConnectAsync();
        await using var b = await _server.ConnectAsync();
        await using var q = await _server.ConnectAsync();
        await a.CallAsync("SUBSCRIBE", "pi:news");
        await b.CallAsync("SUBSCRIBE", "pi:news");
        await a.CallAsync("SSUBSCRIBE", "pi:shard");
        Assert.Equal("[pi:news, 2, pi:other, 0]", (await q.CallAsync("PUBSUB", "NUMSUB", "pi:news", "pi:other")).ToString());
        Assert.Equal("[pi:news]", (await q.CallAsync("PUBSUB", "CHANNELS", "pi:*")).ToString());
        Assert.Equal("[pi:shard]", (await q.CallAsync("PUBSUB", "SHARDCHANNELS", "pi:*")).ToString());
        Assert.Equal("[pi:shard, 1]", (await q.CallAsync("PUBSUB", "SHARDNUMSUB", "pi:shard")).ToString());
        Assert.Equal("1", await q.CallTextAsync("SPUBLISH", "pi:shard", "s"));
        Assert.Equal("[smessage, pi:shard, s]", (await a.ReadAsync()).ToString());
        // Shard messages never go to classic channels or patterns.
        Assert.Equal("0", await q.CallTextAsync("SPUBLISH", "pi:news", "s"));
        var list = await q.CallTextAsync("CLIENT", "LIST");
        Assert.Contains("flags=P db=0 sub=1 psub=0 ssub=1", list);
        Assert.Contains("pubsub_clients:", await q.CallTextAsync("INFO", "clients"));
        Assert.Matches("pubsub_channels:[1-9]", await q.CallTextAsync("INFO", "stats"));
        Assert.Equal("ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.",
            await q.CallTextAsync("PUBSUB", "CHANNELS", "a", "b"));
    }

    [Fact]
    public async Task DisconnectedSubscribersLeaveNothingBehind()
    {
        await using var q = await _server.ConnectAsync();
        var sub = await _server.ConnectAsync();
        await sub.CallAsync("SUBSCRIBE", "pd:gone");
        await sub.CallAsync("PSUBSCRIBE", "pd:*");
        await sub.DisposeAsync();
        for (int i = 0; i < 100 && await q.CallTextAsync("PUBLISH", "pd:gone", "x") != "0"; i++) await Task.Delay(20);
        Assert.Equal("0", await q.CallTextAsync("PUBLISH", "pd:gone", "x"));
        Assert.Equal("[pd:gone, 0]", (await q.CallAsync("PUBSUB", "NUMSUB", "pd:gone")).ToString());
    }

    [Fact]
    public async Task PublishToSelfInsideMultiComesAfterTheExecReply()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("SUBSCRIBE", "pm:self");
        await c.CallAsync("MULTI");
        await c.CallAsync("PING", "abc");
        await c.CallAsync("PUBLISH", "pm:self", "bar");
        await c.CallAsync("PING", "def");
        Assert.Equal("[abc, 1, def]", (await c.CallAsync("EXEC")).ToString());
        Assert.Equal("[message, pm:self, bar]", (await c.ReadAsync()).ToString());
        // Outside a transaction too: the reply to PUBLISH first, then the message.
        Assert.Equal("1", await c.CallTextAsync("PUBLISH", "pm:self", "vaz"));
        Assert.Equal("[message, pm:self, vaz]", (await c.ReadAsync()).ToString());
    }

    [Fact]
    public async Task PushesIgnoreClientReplyOff()
    {
        await using var sub = await _server.ConnectAsync();
        await using var pub = await _server.ConnectAsync();
        await sub.CallAsync("HELLO", "3");
        await sub.SendAsync("CLIENT", "REPLY", "OFF");
        Assert.Equal("[subscribe, po:ch, 1]", (await sub.CallAsync("SUBSCRIBE", "po:ch")).ToString());
        await pub.CallAsync("PUBLISH", "po:ch", "hi");
        Assert.Equal("[message, po:ch, hi]", (await sub.ReadAsync()).ToString());
    }

    [Fact]
    public async Task PublishIsPropagatedToReplicasOnly()
    {
        await using var server = await TestServer.StartAsync(("appendonly", "yes"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "pa:k", "v");
        Assert.Equal("0", await c.CallTextAsync("PUBLISH", "pa:ch", "m"));
        await c.CallAsync("SET", "pa:k2", "v");
        var aofDir = Path.Combine(server.DataDir, "appendonlydir");
        string all = "";
        for (int i = 0; i < 50 && !all.Contains("pa:k2"); i++)
        {
            await Task.Delay(20);
            all = string.Concat(Directory.GetFiles(aofDir, "*.incr.aof").Select(f =>
            {
                using var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                return new StreamReader(s).ReadToEnd();
            }));
        }
        Assert.Contains("pa:k2", all);
        Assert.DoesNotContain("PUBLISH", all, StringComparison.OrdinalIgnoreCase);
    }
}
