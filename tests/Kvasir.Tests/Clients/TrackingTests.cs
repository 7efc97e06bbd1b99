using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Clients;

/// <summary>Server-assisted client-side caching: CLIENT TRACKING and its invalidation messages, as Valkey sends them.</summary>
public sealed class TrackingTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public TrackingTests(SharedServerFixture fixture) => _server = fixture.Server;

    private async Task<RespClient> Resp3Async()
    {
        var c = await _server.ConnectAsync();
        await c.CallAsync("HELLO", "3");
        return c;
    }

    [Fact]
    public async Task ReadKeysAreInvalidatedOnceWithAPushAfterTheWritersReply()
    {
        await using var reader = await Resp3Async();
        await using var writer = await _server.ConnectAsync();
        Assert.Equal("OK", await reader.CallTextAsync("CLIENT", "TRACKING", "ON"));
        await writer.CallAsync("SET", "trk:a", "1");
        Assert.Equal("1", await reader.CallTextAsync("GET", "trk:a"));
        Assert.Equal("OK", await writer.CallTextAsync("SET", "trk:a", "2"));
        // Exact bytes: a push of "invalidate" and the array of keys.
        Assert.Equal(">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\ntrk:a\r\n", await reader.ReadRawAsync(36));
        // Invalidated once: the key is forgotten until read again.
        Assert.Equal("OK", await writer.CallTextAsync("SET", "trk:a", "3"));
        Assert.Equal("PONG", await reader.CallTextAsync("PING"));
        // A key never read is not invalidated; the client's own write arrives after its reply.
        Assert.Equal("3", await reader.CallTextAsync("GET", "trk:a"));
        Assert.Equal(1, (await reader.CallAsync("DEL", "trk:a")).Integer);
        Assert.Equal("[invalidate, [trk:a]]", (await reader.ReadAsync()).ToString());
    }

    [Fact]
    public async Task Resp2ClientsGetInvalidationsThroughARedirectedSubscriber()
    {
        await using var sink = await _server.ConnectAsync();
        long sinkId = (await sink.CallAsync("CLIENT", "ID")).Integer;
        await sink.CallAsync("SUBSCRIBE", "__redis__:invalidate");
        await using var reader = await _server.ConnectAsync();
        Assert.Equal("OK", await reader.CallTextAsync("CLIENT", "TRACKING", "ON", "REDIRECT", sinkId.ToString()));
        Assert.Equal(sinkId, (await reader.CallAsync("CLIENT", "GETREDIR")).Integer);
        await reader.CallAsync("MGET", "trk:r1", "trk:r2");
        await using var writer = await _server.ConnectAsync();
        await writer.CallAsync("SET", "trk:r2", "x");
        Assert.Equal("[message, __redis__:invalidate, [trk:r2]]", (await sink.ReadAsync()).ToString());
        // FLUSHALL invalidates everything: a null instead of keys.
        await writer.CallAsync("FLUSHDB");
        var flush = await sink.ReadAsync();
        Assert.Equal("__redis__:invalidate", flush.Items![1].Text);
        Assert.True(flush.Items[2].IsNull);
        Assert.Contains(" flags=t ", (await reader.CallTextAsync("CLIENT", "INFO"))!);
        Assert.Contains($" redir={sinkId} ", (await reader.CallTextAsync("CLIENT", "INFO"))!);
    }

    [Fact]
    public async Task BroadcastModeSendsKeysByPrefixAndNoloopSkipsOwnWrites()
    {
        await using var bcast = await Resp3Async();
        Assert.Equal("OK", await bcast.CallTextAsync("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "bc:a:", "PREFIX", "bc:b:", "NOLOOP"));
        await using var writer = await _server.ConnectAsync();
        await writer.CallAsync("MULTI");
        await writer.CallAsync("SET", "bc:a:1", "v");
        await writer.CallAsync("SET", "bc:a:2", "v");
        await writer.CallAsync("SET", "bc:c:1", "v");
        await writer.CallAsync("EXEC");
        Assert.Equal("[invalidate, [bc:a:1, bc:a:2]]", (await bcast.ReadAsync()).ToString());
        // Its own change is not sent back (NOLOOP).
        await bcast.CallAsync("SET", "bc:b:self", "v");
        await writer.CallAsync("SET", "bc:b:other", "v");
        Assert.Equal("[invalidate, [bc:b:other]]", (await bcast.ReadAsync()).ToString());
        var info = await bcast.CallAsync("CLIENT", "TRACKINGINFO");
        Assert.Equal("[flags, [on, bcast, noloop], redirect, 0, prefixes, [bc:a:, bc:b:]]", info.ToString());
        await AssertError(bcast, "ERR Prefix 'bc:' overlaps with an existing prefix 'bc:a:'. Prefixes for a single client must not overlap.",
            "CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "bc:");
        await AssertError(bcast, "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.",
            "CLIENT", "TRACKING", "ON");
    }

    [Fact]
    public async Task OptInAndOptOutFollowClientCaching()
    {
        await using var c = await Resp3Async();
        await using var writer = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "TRACKING", "ON", "OPTIN"));
        await c.CallAsync("GET", "opt:1");          // not tracked without CACHING yes
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "CACHING", "YES"));
        await c.CallAsync("GET", "opt:2");          // tracked
        await writer.CallAsync("MSET", "opt:1", "x", "opt:2", "x");
        Assert.Equal("[invalidate, [opt:2]]", (await c.ReadAsync()).ToString());
        await AssertError(c, "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.", "CLIENT", "CACHING", "NO");
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "TRACKING", "OFF"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "TRACKING", "ON", "OPTOUT"));
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "CACHING", "NO"));
        await c.CallAsync("GET", "opt:3");          // not tracked: CACHING no
        await c.CallAsync("GET", "opt:4");          // tracked again
        await writer.CallAsync("MSET", "opt:3", "x", "opt:4", "x");
        Assert.Equal("[invalidate, [opt:4]]", (await c.ReadAsync()).ToString());
        await AssertError(c, "ERR You can't specify both OPTIN mode and OPTOUT mode", "CLIENT", "TRACKING", "ON", "OPTIN", "OPTOUT");
        await AssertError(c, "ERR PREFIX option requires BCAST mode to be enabled", "CLIENT", "TRACKING", "ON", "PREFIX", "x");
        await AssertError(c, "ERR The client ID you want redirect to does not exist", "CLIENT", "TRACKING", "ON", "REDIRECT", "999999");
    }

    [Fact]
    public async Task ABrokenRedirectionIsReportedAndTheTableKeepsItsLimit()
    {
        await using var admin = await _server.ConnectAsync();
        var sink = await _server.ConnectAsync();
        long sinkId = (await sink.CallAsync("CLIENT", "ID")).Integer;
        await using var c = await Resp3Async();
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "TRACKING", "ON", "REDIRECT", sinkId.ToString()));
        await c.CallAsync("GET", "brk:1");
        await sink.DisposeAsync();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && (await admin.CallTextAsync("CLIENT", "LIST"))!.Contains($"id={sinkId} ")) await Task.Delay(20);
        await admin.CallAsync("SET", "brk:1", "x");
        Assert.Equal($"[tracking-redir-broken, {sinkId}]", (await c.ReadAsync()).ToString());
        Assert.Contains(" flags=tR ", (await c.CallTextAsync("CLIENT", "INFO"))!);
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "TRACKING", "OFF"));

        // tracking-table-max-keys: reading past the limit invalidates other keys to stay within it.
        await using var t = await Resp3Async();
        Assert.Equal("OK", await t.CallTextAsync("CLIENT", "TRACKING", "ON"));
        await t.CallAsync("MGET", "lim:1", "lim:2", "lim:3");
        Assert.Equal("OK", await admin.CallTextAsync("CONFIG", "SET", "tracking-table-max-keys", "1"));
        try
        {
            var invalidated = new List<string>();
            await t.SendAsync("PING");
            while (true)
            {
                var r = await t.ReadAsync();
                if (r.Kind == '+') break;
                invalidated.Add(r.Items![1].Items![0].Text!);
            }
            Assert.True(invalidated.Count >= 2, string.Join(",", invalidated));
            string info = (await admin.CallTextAsync("INFO", "stats"))!;
            Assert.Contains("tracking_total_keys:", info);
            Assert.True(long.Parse(info.Split("\r\n").First(l => l.StartsWith("tracking_total_keys:"))[20..]) <= 1);
        }
        finally
        {
            await admin.CallAsync("CONFIG", "SET", "tracking-table-max-keys", "1000000");
        }
    }

    [Fact]
    public async Task TrackingInfoAndTheInfoFieldsDescribeTheState()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("[flags, [off], redirect, -1, prefixes, []]", (await c.CallAsync("CLIENT", "TRACKINGINFO")).ToString());
        Assert.Equal(-1, (await c.CallAsync("CLIENT", "GETREDIR")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("CLIENT", "TRACKING", "ON"));
        Assert.Equal("[flags, [on], redirect, 0, prefixes, []]", (await c.CallAsync("CLIENT", "TRACKINGINFO")).ToString());
        string clients = (await c.CallTextAsync("INFO", "clients"))!;
        Assert.Matches("tracking_clients:[1-9]", clients);
        Assert.Equal("RESET", await c.CallTextAsync("RESET"));
        Assert.Equal("[flags, [off], redirect, -1, prefixes, []]", (await c.CallAsync("CLIENT", "TRACKINGINFO")).ToString());
    }
}
