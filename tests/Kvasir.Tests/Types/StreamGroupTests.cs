using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Types;

/// <summary>
/// Consumer groups over TCP: XGROUP, XREADGROUP, the PEL through XACK and XPENDING, XCLAIM,
/// XAUTOCLAIM and XINFO GROUPS/CONSUMERS, with the read counter and lag. Every expected reply was
/// checked against Valkey 8.1.
/// </summary>
public sealed class StreamGroupTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public StreamGroupTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static string Key(string name) => "group:" + name + ":" + Guid.NewGuid().ToString("N");

    private static RespValue Field(IReadOnlyList<RespValue> map, string name)
    {
        for (int i = 0; i + 1 < map.Count; i += 2)
            if (map[i].Text == name) return map[i + 1];
        throw new KeyNotFoundException(name);
    }

    [Fact]
    public async Task GroupAdministration()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("admin");
        await AssertError(c, "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            "XGROUP", "CREATE", k, "g", "$");
        Assert.Equal("OK", await c.CallTextAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM"));
        await AssertError(c, "BUSYGROUP Consumer Group name already exists", "XGROUP", "CREATE", k, "g", "$");
        await AssertError(c, "ERR value for ENTRIESREAD must be positive or -1", "XGROUP", "CREATE", k, "g2", "0", "ENTRIESREAD", "-2");
        await AssertError(c, "ERR unknown subcommand or wrong number of arguments for 'CREATE'. Try XGROUP HELP.", "XGROUP", "CREATE", k, "g2", "0", "FOO");
        await AssertError(c, "NOGROUP No such consumer group 'nog' for key name '" + k + "'", "XGROUP", "SETID", k, "nog", "0");
        await AssertError(c, "NOGROUP No such consumer group 'nog' for key name '" + k + "'", "XGROUP", "CREATECONSUMER", k, "nog", "c");
        Assert.Equal(1, (await c.CallAsync("XGROUP", "CREATECONSUMER", k, "g", "c")).Integer);
        Assert.Equal(0, (await c.CallAsync("XGROUP", "CREATECONSUMER", k, "g", "c")).Integer);
        Assert.Equal("OK", await c.CallTextAsync("XGROUP", "CREATE", k, "g2", "0", "ENTRIESREAD", "3"));
        Assert.Equal("OK", await c.CallTextAsync("XGROUP", "SETID", k, "g2", "+", "ENTRIESREAD", "7"));
        var groups = (await c.CallAsync("XINFO", "GROUPS", k)).Items!;
        Assert.Equal(2, groups.Count);
        var g2 = groups[1].Items!;
        Assert.Equal("g2", Field(g2, "name").Text);
        Assert.Equal("18446744073709551615-18446744073709551615", Field(g2, "last-delivered-id").Text);
        Assert.Equal("7", Field(g2, "entries-read").ToString());
        Assert.Equal("1", Field(groups[0].Items!, "consumers").ToString());
        Assert.Equal(0, (await c.CallAsync("XGROUP", "DELCONSUMER", k, "g", "nobody")).Integer);
        Assert.Equal(0, (await c.CallAsync("XGROUP", "DESTROY", k, "nog")).Integer);
        Assert.Equal(1, (await c.CallAsync("XGROUP", "DESTROY", k, "g2")).Integer);
        Assert.Single((await c.CallAsync("XINFO", "GROUPS", k)).Items!);
        await AssertError(c, "ERR wrong number of arguments for 'xgroup|help' command", "XGROUP", "HELP", "x");
    }

    [Fact]
    public async Task ReadGroupDeliversNewEntriesAndTheConsumersHistory()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("read");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        for (int i = 1; i <= 4; i++) await c.CallAsync("XADD", k, i + "-0", "item", i.ToString());
        Assert.Equal($"[[{k}, [[1-0, [item, 1]], [2-0, [item, 2]]]]]", (await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", k, ">")).ToString());
        Assert.Equal($"[[{k}, [[3-0, [item, 3]], [4-0, [item, 4]]]]]", (await c.CallAsync("XREADGROUP", "GROUP", "g", "bob", "STREAMS", k, ">")).ToString());
        Assert.True((await c.CallAsync("XREADGROUP", "GROUP", "g", "bob", "STREAMS", k, ">")).IsNull);
        // History: only alice's own pending entries, from the given ID on.
        Assert.Equal($"[[{k}, [[2-0, [item, 2]]]]]", (await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, "1-0")).ToString());
        // An entry deleted since delivery comes back as [id, nil].
        await c.CallAsync("XDEL", k, "1-0");
        Assert.Equal($"[[{k}, [[1-0, (nil)], [2-0, [item, 2]]]]]", (await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, "0")).ToString());
        await AssertError(c, $"NOGROUP No such key '{k}' or consumer group 'nog' in XREADGROUP with GROUP option", "XREADGROUP", "GROUP", "nog", "c", "STREAMS", k, ">");
        await AssertError(c, "ERR Missing GROUP option for XREADGROUP", "XREADGROUP", "COUNT", "1", "BLOCK", "0", "STREAMS", k, ">");
        await AssertError(c, "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
            "XREADGROUP", "GROUP", "g", "c", "STREAMS", k, "$");
        await AssertError(c, "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.", "XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", k);

        // NOACK: delivered without a PEL entry.
        await c.CallAsync("XADD", k, "5-0", "item", "5");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "carl", "NOACK", "STREAMS", k, ">");
        Assert.Equal("[4, 1-0, 4-0, [[alice, 2], [bob, 2]]]", (await c.CallAsync("XPENDING", k, "g")).ToString());
    }

    [Fact]
    public async Task AcknowledgeAndPending()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("pending");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        for (int i = 1; i <= 5; i++) await c.CallAsync("XADD", k, i + "-0", "f", "v");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "COUNT", "3", "STREAMS", k, ">");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "bob", "STREAMS", k, ">");
        var list = (await c.CallAsync("XPENDING", k, "g", "-", "+", "10")).Items!;
        Assert.Equal(5, list.Count);
        Assert.Equal("1-0", list[0].Items![0].Text);
        Assert.Equal("alice", list[0].Items![1].Text);
        Assert.Equal(1, list[0].Items![3].Integer);
        Assert.Equal(2, (await c.CallAsync("XPENDING", k, "g", "-", "+", "10", "bob")).Items!.Count);
        Assert.Equal("[]", (await c.CallAsync("XPENDING", k, "g", "-", "+", "10", "nobody")).ToString());
        Assert.Single((await c.CallAsync("XPENDING", k, "g", "(1-0", "(3-0", "10")).Items!);
        Assert.Equal(5, (await c.CallAsync("XPENDING", k, "g", "IDLE", "0", "-", "+", "10")).Items!.Count);
        Assert.Equal("[]", (await c.CallAsync("XPENDING", k, "g", "IDLE", "3600000", "-", "+", "10")).ToString());
        await AssertError(c, "ERR syntax error", "XPENDING", k, "g", "-", "+");
        await AssertError(c, "ERR syntax error", "XPENDING", k, "g", "IDLE", "0", "-", "+");
        await AssertError(c, $"NOGROUP No such key '{k}' or consumer group 'nog'", "XPENDING", k, "nog");

        await AssertError(c, "ERR Invalid stream ID specified as stream command argument", "XACK", k, "g", "1-0", "abc");
        Assert.Equal(5, (await c.CallAsync("XPENDING", k, "g")).Items![0].Integer);
        Assert.Equal(2, (await c.CallAsync("XACK", k, "g", "1-0", "4-0", "9-0")).Integer);
        Assert.Equal(0, (await c.CallAsync("XACK", k, "g", "1-0")).Integer);
        Assert.Equal("[3, 2-0, 5-0, [[alice, 2], [bob, 1]]]", (await c.CallAsync("XPENDING", k, "g")).ToString());
        Assert.Equal(0, (await c.CallAsync("XACK", k, "nog", "2-0")).Integer);
        // Deleting a consumer drops its pending entries.
        Assert.Equal(2, (await c.CallAsync("XGROUP", "DELCONSUMER", k, "g", "alice")).Integer);
        Assert.Equal("[1, 5-0, 5-0, [[bob, 1]]]", (await c.CallAsync("XPENDING", k, "g")).ToString());
    }

    [Fact]
    public async Task ClaimMovesPendingEntries()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("claim");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        for (int i = 1; i <= 3; i++) await c.CallAsync("XADD", k, i + "-0", "f", i.ToString());
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, ">");
        // Not idle long enough: nothing moves.
        Assert.Equal("[]", (await c.CallAsync("XCLAIM", k, "g", "bob", "3600000", "1-0")).ToString());
        Assert.Equal("[[1-0, [f, 1]]]", (await c.CallAsync("XCLAIM", k, "g", "bob", "0", "1-0")).ToString());
        var p = (await c.CallAsync("XPENDING", k, "g", "1-0", "1-0", "1")).Items![0].Items!;
        Assert.Equal("bob", p[1].Text);
        Assert.Equal(2, p[3].Integer);
        // JUSTID leaves the delivery count alone; RETRYCOUNT and IDLE set it and the idle time.
        Assert.Equal("[2-0]", (await c.CallAsync("XCLAIM", k, "g", "bob", "0", "2-0", "JUSTID")).ToString());
        Assert.Equal(1, (await c.CallAsync("XPENDING", k, "g", "2-0", "2-0", "1")).Items![0].Items![3].Integer);
        await c.CallAsync("XCLAIM", k, "g", "bob", "0", "2-0", "IDLE", "500000", "RETRYCOUNT", "9", "JUSTID");
        var p2 = (await c.CallAsync("XPENDING", k, "g", "2-0", "2-0", "1")).Items![0].Items!;
        Assert.InRange(p2[2].Integer, 500000, 510000);
        Assert.Equal(9, p2[3].Integer);
        // FORCE creates a pending entry for an entry nobody was given; a deleted entry leaves the PEL.
        await c.CallAsync("XADD", k, "4-0", "f", "4");
        Assert.Equal("[4-0]", (await c.CallAsync("XCLAIM", k, "g", "carl", "0", "4-0", "FORCE", "JUSTID")).ToString());
        await c.CallAsync("XDEL", k, "3-0");
        Assert.Equal("[]", (await c.CallAsync("XCLAIM", k, "g", "carl", "0", "3-0")).ToString());
        Assert.Equal("[3, 1-0, 4-0, [[bob, 2], [carl, 1]]]", (await c.CallAsync("XPENDING", k, "g")).ToString());
        await c.CallAsync("XCLAIM", k, "g", "carl", "0", "4-0", "LASTID", "9-0", "JUSTID");
        Assert.Equal("9-0", Field((await c.CallAsync("XINFO", "GROUPS", k)).Items![0].Items!, "last-delivered-id").Text);
        await AssertError(c, "ERR Invalid min-idle-time argument for XCLAIM", "XCLAIM", k, "g", "c", "abc", "1-0");
        await AssertError(c, "ERR Unrecognized XCLAIM option 'FOO'", "XCLAIM", k, "g", "c", "0", "1-0", "FOO");
        await AssertError(c, "ERR Invalid IDLE option argument for XCLAIM", "XCLAIM", k, "g", "c", "0", "1-0", "IDLE", "x");
        await AssertError(c, $"NOGROUP No such key '{k}' or consumer group 'nog'", "XCLAIM", k, "nog", "c", "0", "1-0");
    }

    [Fact]
    public async Task AutoClaimIteratesThePel()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("autoclaim");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        for (int i = 1; i <= 5; i++) await c.CallAsync("XADD", k, i + "-0", "f", i.ToString());
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, ">");
        await c.CallAsync("XDEL", k, "2-0");
        Assert.Equal("[3-0, [[1-0, [f, 1]]], [2-0]]", (await c.CallAsync("XAUTOCLAIM", k, "g", "bob", "0", "0", "COUNT", "2")).ToString());
        Assert.Equal("[0-0, [3-0, 4-0, 5-0], []]", (await c.CallAsync("XAUTOCLAIM", k, "g", "bob", "0", "3-0", "JUSTID")).ToString());
        Assert.Equal("[[bob, 4]]", (await c.CallAsync("XPENDING", k, "g")).Items![3].ToString());
        await AssertError(c, "ERR COUNT must be > 0", "XAUTOCLAIM", k, "g", "bob", "0", "0", "COUNT", "0");
        await AssertError(c, "ERR COUNT must be > 0", "XAUTOCLAIM", k, "g", "bob", "0", "0", "COUNT", "8070450532247928833");
        await AssertError(c, "ERR Invalid min-idle-time argument for XAUTOCLAIM", "XAUTOCLAIM", k, "g", "bob", "x", "0");
        await AssertError(c, $"NOGROUP No such key '{k}' or consumer group 'nog'", "XAUTOCLAIM", k, "nog", "bob", "0", "0");
    }

    [Fact]
    public async Task ReadCounterAndLag()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("lag");
        for (int i = 1; i <= 5; i++) await c.CallAsync("XADD", k, i + "-0", "data", i.ToString());
        await c.CallAsync("XGROUP", "CREATE", k, "g1", "0");
        async Task<(string Read, string Lag)> State()
        {
            var g = (await c.CallAsync("XINFO", "GROUPS", k)).Items![0].Items!;
            return (Field(g, "entries-read").ToString(), Field(g, "lag").ToString());
        }
        Assert.Equal(("(nil)", "5"), await State());
        await c.CallAsync("XREADGROUP", "GROUP", "g1", "c", "COUNT", "1", "STREAMS", k, ">");
        Assert.Equal(("1", "4"), await State());
        await c.CallAsync("XREADGROUP", "GROUP", "g1", "c", "STREAMS", k, ">");
        Assert.Equal(("5", "0"), await State());
        await c.CallAsync("XADD", k, "6-0", "data", "6");
        Assert.Equal(("5", "1"), await State());

        // A deletion ahead of the group makes the lag unknown until it reads past it.
        string d = Key("lagdel");
        for (int i = 1; i <= 5; i++) await c.CallAsync("XADD", d, i + "-0", "data", i.ToString());
        await c.CallAsync("XDEL", d, "3-0");
        await c.CallAsync("XGROUP", "CREATE", d, "g1", "0");
        var g1 = (await c.CallAsync("XINFO", "GROUPS", d)).Items![0].Items!;
        Assert.True(Field(g1, "lag").IsNull);
        await c.CallAsync("XREADGROUP", "GROUP", "g1", "c", "STREAMS", d, ">");
        g1 = (await c.CallAsync("XINFO", "GROUPS", d)).Items![0].Items!;
        Assert.Equal("5", Field(g1, "entries-read").ToString());
        Assert.Equal("0", Field(g1, "lag").ToString());
    }

    [Fact]
    public async Task ConsumersSeenAndActiveTimes()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("times");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "$", "MKSTREAM");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, ">");
        var consumer = (await c.CallAsync("XINFO", "CONSUMERS", k, "g")).Items![0].Items!;
        Assert.Equal(new[] { "name", "pending", "idle", "inactive" }, consumer.Where((_, i) => i % 2 == 0).Select(v => v.Text).ToArray());
        Assert.Equal("-1", Field(consumer, "inactive").ToString());
        await c.CallAsync("XADD", k, "*", "f", "v");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, ">");
        consumer = (await c.CallAsync("XINFO", "CONSUMERS", k, "g")).Items![0].Items!;
        Assert.InRange(Field(consumer, "inactive").Integer, 0, 1000);
        Assert.Equal(1, Field(consumer, "pending").Integer);
        await AssertError(c, $"NOGROUP No such consumer group 'nog' for key name '{k}'", "XINFO", "CONSUMERS", k, "nog");
    }
}
