using System.Security.Cryptography;
using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Types;

/// <summary>
/// The stream commands on entries over TCP: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID,
/// XINFO STREAM and non-blocking XREAD, with Valkey's replies (RESP2 and RESP3) and errors. Every
/// expected reply was checked against Valkey 8.1.
/// </summary>
public sealed class StreamTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public StreamTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static string Key(string name) => "stream:" + name + ":" + Guid.NewGuid().ToString("N");

    private const string InvalidId = "ERR Invalid stream ID specified as stream command argument";

    [Fact]
    public async Task AddRangeAndLength()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("basic");
        Assert.Equal("1-1", await c.CallTextAsync("XADD", k, "1-1", "a", "1", "b", "2"));
        Assert.Equal("1-2", await c.CallTextAsync("XADD", k, "1-*", "a", "3", "b", "4"));
        Assert.Equal("7-0", await c.CallTextAsync("XADD", k, "7", "c", "x"));
        Assert.Equal(3, (await c.CallAsync("XLEN", k)).Integer);
        Assert.Equal("[[1-1, [a, 1, b, 2]], [1-2, [a, 3, b, 4]], [7-0, [c, x]]]", (await c.CallAsync("XRANGE", k, "-", "+")).ToString());
        Assert.Equal("[[7-0, [c, x]], [1-2, [a, 3, b, 4]]]", (await c.CallAsync("XREVRANGE", k, "+", "-", "COUNT", "2")).ToString());
        Assert.Equal("[[1-2, [a, 3, b, 4]]]", (await c.CallAsync("XRANGE", k, "(1-1", "(7-0")).ToString());
        Assert.Equal("[[1-2, [a, 3, b, 4]], [7-0, [c, x]]]", (await c.CallAsync("XRANGE", k, "(1-1", "(7")).ToString());
        Assert.Equal("[[1-1, [a, 1, b, 2]], [1-2, [a, 3, b, 4]]]", (await c.CallAsync("XRANGE", k, "1", "1")).ToString());
        Assert.True((await c.CallAsync("XRANGE", k, "-", "+", "COUNT", "0")).IsNull);
        Assert.Equal("[]", (await c.CallAsync("XRANGE", k, "8", "+")).ToString());
        Assert.Equal("[]", (await c.CallAsync("XRANGE", Key("none"), "-", "+")).ToString());
        Assert.Equal(0, (await c.CallAsync("XLEN", Key("none"))).Integer);
        Assert.Equal("stream", await c.CallTextAsync("TYPE", k));
        Assert.Equal("stream", await c.CallTextAsync("OBJECT", "ENCODING", k));
        Assert.True((await c.CallAsync("MEMORY", "USAGE", k)).Integer > 0);
    }

    [Fact]
    public async Task GeneratedIdsGrowWithinAMillisecondAndNeverGoBack()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("auto");
        await c.CallAsync("MULTI");
        for (int i = 0; i < 3; i++) await c.CallAsync("XADD", k, "*", "i", i.ToString());
        var ids = (await c.CallAsync("EXEC")).Items!.Select(i => i.Text!).ToList();
        var parsed = ids.Select(i => (ulong.Parse(i.Split('-')[0]), ulong.Parse(i.Split('-')[1]))).ToList();
        Assert.True(parsed[0].Item1 == parsed[2].Item1 && parsed[1].Item2 == parsed[0].Item2 + 1 && parsed[2].Item2 == parsed[0].Item2 + 2);
        // A last ID in the future: * continues from it.
        string f = Key("future");
        await c.CallAsync("XADD", f, "2577343934890-18446744073709551615", "f", "v");
        Assert.Equal("2577343934891-0", await c.CallTextAsync("XADD", f, "*", "f", "v"));
        Assert.Equal("2577343934891-1", await c.CallTextAsync("XADD", f, "2577343934891-*", "f", "v"));
    }

    [Fact]
    public async Task AddErrors()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("errors");
        await AssertError(c, "ERR wrong number of arguments for 'xadd' command", "XADD", k, "*");
        await AssertError(c, "ERR wrong number of arguments for 'xadd' command", "XADD", k, "*", "f", "v", "g");
        await AssertError(c, "ERR The ID specified in XADD must be greater than 0-0", "XADD", k, "0-0", "f", "v");
        Assert.Equal(0, (await c.CallAsync("EXISTS", k)).Integer);
        await AssertError(c, InvalidId, "XADD", k, "abc", "f", "v");
        await AssertError(c, InvalidId, "XADD", k, "+", "f", "v");
        await AssertError(c, "ERR The MAXLEN argument must be >= 0.", "XADD", k, "MAXLEN", "-1", "*", "f", "v");
        await AssertError(c, "ERR syntax error, MAXLEN and MINID options at the same time are not compatible", "XADD", k, "MAXLEN", "5", "MINID", "5", "*", "f", "v");
        await AssertError(c, "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy", "XADD", k, "LIMIT", "5", "*", "f", "v");
        await AssertError(c, "ERR syntax error, LIMIT cannot be used without the special ~ option", "XADD", k, "MAXLEN", "5", "LIMIT", "5", "*", "f", "v");
        await AssertError(c, "ERR The LIMIT argument must be >= 0.", "XADD", k, "MAXLEN", "~", "5", "LIMIT", "-1", "*", "f", "v");
        Assert.Equal("5-5", await c.CallTextAsync("XADD", k, "5-5", "f", "v"));
        await AssertError(c, "ERR The ID specified in XADD is equal or smaller than the target stream top item", "XADD", k, "5-5", "f", "v");
        await AssertError(c, "ERR The ID specified in XADD is equal or smaller than the target stream top item", "XADD", k, "4-*", "f", "v");
        await c.CallAsync("XADD", k, "6-18446744073709551615", "f", "v");
        await AssertError(c, "ERR The ID specified in XADD is equal or smaller than the target stream top item", "XADD", k, "6-*", "f", "v");
        await c.CallAsync("XADD", k, "18446744073709551615-18446744073709551615", "f", "v");
        await AssertError(c, "ERR The stream has exhausted the last possible ID, unable to add more items", "XADD", k, "*", "f", "v");
        Assert.True((await c.CallAsync("XADD", Key("nomk"), "NOMKSTREAM", "*", "f", "v")).IsNull);
        await c.CallAsync("SET", k + "s", "x");
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "XADD", k + "s", "*", "f", "v");
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "XRANGE", k + "s", "-", "+");
        await AssertError(c, "ERR invalid start ID for the interval", "XRANGE", k, "(18446744073709551615-18446744073709551615", "+");
        await AssertError(c, "ERR invalid end ID for the interval", "XRANGE", k, "-", "(0-0");
        await AssertError(c, InvalidId, "XRANGE", k, "(-", "+");
        await AssertError(c, "ERR syntax error", "XRANGE", k, "-", "+", "LIMIT", "1");
    }

    [Fact]
    public async Task TrimmingByLengthAndIdExactOrApproximate()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("trim");
        for (int i = 1; i <= 1000; i++) await c.CallAsync("XADD", k, "MAXLEN", "5", i + "-0", "x", i.ToString());
        Assert.Equal(5, (await c.CallAsync("XLEN", k)).Integer);
        Assert.Equal("996-0", (await c.CallAsync("XRANGE", k, "-", "+")).Items![0].Items![0].Text);
        string a = Key("approx");
        for (int i = 1; i <= 1000; i++) await c.CallAsync("XADD", a, "MAXLEN", "~", "555", i + "-0", "x", "y");
        // Whole nodes of 100 entries only.
        Assert.Equal(600, (await c.CallAsync("XLEN", a)).Integer);
        Assert.Equal(100, (await c.CallAsync("XTRIM", a, "MAXLEN", "~", "444")).Integer);
        Assert.Equal(0, (await c.CallAsync("XTRIM", a, "MAXLEN", "~", "490")).Integer);
        Assert.Equal(50, (await c.CallAsync("XTRIM", a, "MAXLEN", "=", "450")).Integer);
        Assert.Equal(5, (await c.CallAsync("XTRIM", a, "MINID", "556")).Integer);
        Assert.Equal("[556-0, [x, y]]", (await c.CallAsync("XRANGE", a, "-", "+", "COUNT", "1")).Items![0].ToString());
        Assert.Equal(0, (await c.CallAsync("XTRIM", Key("none"), "MAXLEN", "1")).Integer);
        await AssertError(c, "ERR syntax error, XTRIM must be called with a trimming strategy", "XTRIM", a, "LIMIT", "0");
        await AssertError(c, "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy", "XTRIM", a, "LIMIT", "1");
        await AssertError(c, "ERR syntax error", "XTRIM", a, "FOO", "1");
        var info = (await c.CallAsync("XINFO", "STREAM", a)).Items!;
        Assert.Equal("556-0", Field(info, "recorded-first-entry-id").Text);
        Assert.Equal("1000", Field(info, "entries-added").ToString());
    }

    [Fact]
    public async Task LimitCapsTheWorkOfAnApproximateTrim()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("CONFIG", "SET", "stream-node-max-entries", "10");
        try
        {
            string k = Key("limit");
            for (int i = 1; i <= 100; i++) await c.CallAsync("XADD", k, i + "-0", "x", "v");
            await c.CallAsync("XADD", k, "MAXLEN", "~", "55", "LIMIT", "30", "*", "x", "v");
            Assert.Equal(71, (await c.CallAsync("XLEN", k)).Integer);
            await c.CallAsync("XADD", k, "MAXLEN", "~", "55", "LIMIT", "30", "*", "x", "v");
            Assert.Equal(62, (await c.CallAsync("XLEN", k)).Integer);
        }
        finally
        {
            await c.CallAsync("CONFIG", "SET", "stream-node-max-entries", "100");
        }
    }

    [Fact]
    public async Task DeletingEntriesTracksFirstAndLargestDeletedIds()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("del");
        for (int i = 1; i <= 5; i++) await c.CallAsync("XADD", k, "1-" + i, "f", i.ToString());
        Assert.Equal(3, (await c.CallAsync("XDEL", k, "1-1", "1-4", "1-5", "2-1")).Integer);
        Assert.Equal(2, (await c.CallAsync("XLEN", k)).Integer);
        Assert.Equal("[[1-2, [f, 2]], [1-3, [f, 3]]]", (await c.CallAsync("XRANGE", k, "-", "+")).ToString());
        var info = (await c.CallAsync("XINFO", "STREAM", k)).Items!;
        Assert.Equal("1-5", Field(info, "last-generated-id").Text);
        Assert.Equal("1-5", Field(info, "max-deleted-entry-id").Text);
        Assert.Equal("1-2", Field(info, "recorded-first-entry-id").Text);
        await AssertError(c, InvalidId, "XDEL", k, "1-2", "abc");
        Assert.Equal(2, (await c.CallAsync("XLEN", k)).Integer);
        Assert.Equal(0, (await c.CallAsync("XDEL", Key("none"), "abc")).Integer);
        // Deleting every entry leaves an empty stream (the key stays).
        Assert.Equal(2, (await c.CallAsync("XDEL", k, "1-2", "1-3")).Integer);
        Assert.Equal(1, (await c.CallAsync("EXISTS", k)).Integer);
        Assert.Equal("0-0", Field((await c.CallAsync("XINFO", "STREAM", k)).Items!, "recorded-first-entry-id").Text);
    }

    [Fact]
    public async Task SetIdChecks()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("setid");
        await c.CallAsync("XADD", k, "1-1", "a", "1");
        await c.CallAsync("XADD", k, "1-2", "b", "2");
        await c.CallAsync("XADD", k, "1-3", "c", "3");
        await c.CallAsync("XDEL", k, "1-2", "1-3");
        await AssertError(c, "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id", "XSETID", k, "1-2");
        await AssertError(c, "ERR no such key", "XSETID", Key("none"), "1-1");
        await AssertError(c, "ERR syntax error", "XSETID", k, "1-1", "0");
        await AssertError(c, "ERR entries_added must be positive", "XSETID", k, "5-0", "ENTRIESADDED", "-1", "MAXDELETEDID", "0-0");
        await AssertError(c, "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id", "XSETID", k, "5-0", "ENTRIESADDED", "9", "MAXDELETEDID", "6-0");
        await AssertError(c, "ERR The entries_added specified in XSETID is smaller than the target stream length", "XSETID", k, "5-0", "ENTRIESADDED", "0", "MAXDELETEDID", "1-3");
        Assert.Equal("OK", await c.CallTextAsync("XSETID", k, "5-0", "ENTRIESADDED", "9", "MAXDELETEDID", "4-0"));
        var info = (await c.CallAsync("XINFO", "STREAM", k)).Items!;
        Assert.Equal("5-0", Field(info, "last-generated-id").Text);
        Assert.Equal("4-0", Field(info, "max-deleted-entry-id").Text);
        Assert.Equal("9", Field(info, "entries-added").ToString());
        await AssertError(c, "ERR The ID specified in XADD is equal or smaller than the target stream top item", "XADD", k, "5-0", "f", "v");
    }

    private static RespValue Field(IReadOnlyList<RespValue> map, string name)
    {
        for (int i = 0; i + 1 < map.Count; i += 2)
            if (map[i].Text == name) return map[i + 1];
        throw new KeyNotFoundException(name);
    }

    [Fact]
    public async Task InfoStreamSummaryAndFull()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("info");
        await c.CallAsync("XADD", k, "100", "a", "1");
        await c.CallAsync("XADD", k, "101", "b", "1");
        await c.CallAsync("XADD", k, "102", "c", "1");
        await c.CallAsync("XGROUP", "CREATE", k, "g1", "0");
        await c.CallAsync("XREADGROUP", "GROUP", "g1", "Alice", "COUNT", "1", "STREAMS", k, ">");
        var summary = (await c.CallAsync("XINFO", "STREAM", k)).Items!;
        Assert.Equal(new[] { "length", "radix-tree-keys", "radix-tree-nodes", "last-generated-id", "max-deleted-entry-id", "entries-added", "recorded-first-entry-id", "groups", "first-entry", "last-entry" },
            summary.Where((_, i) => i % 2 == 0).Select(v => v.Text).ToArray());
        Assert.Equal("3", Field(summary, "length").ToString());
        Assert.Equal("1", Field(summary, "radix-tree-keys").ToString());
        Assert.Equal("2", Field(summary, "radix-tree-nodes").ToString());
        Assert.Equal("[100-0, [a, 1]]", Field(summary, "first-entry").ToString());
        Assert.Equal("[102-0, [c, 1]]", Field(summary, "last-entry").ToString());

        var full = (await c.CallAsync("XINFO", "STREAM", k, "FULL", "COUNT", "1")).Items!;
        Assert.Equal(18, full.Count);
        Assert.Equal("[[100-0, [a, 1]]]", Field(full, "entries").ToString());
        var group = Field(full, "groups").Items![0].Items!;
        Assert.Equal(new[] { "name", "last-delivered-id", "entries-read", "lag", "pel-count", "pending", "consumers" }, group.Where((_, i) => i % 2 == 0).Select(v => v.Text).ToArray());
        Assert.Equal("100-0", Field(group, "last-delivered-id").Text);
        Assert.Equal("1", Field(group, "entries-read").ToString());
        Assert.Equal("2", Field(group, "lag").ToString());
        var consumer = Field(group, "consumers").Items![0].Items!;
        Assert.Equal(new[] { "name", "seen-time", "active-time", "pel-count", "pending" }, consumer.Where((_, i) => i % 2 == 0).Select(v => v.Text).ToArray());
        Assert.Equal("Alice", Field(consumer, "name").Text);
        await AssertError(c, "ERR no such key", "XINFO", "STREAM", Key("none"));
        await AssertError(c, "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.", "XINFO", "STREAM", k, "PART");
        await AssertError(c, "ERR wrong number of arguments for 'xinfo|help' command", "XINFO", "HELP", "x");
    }

    [Fact]
    public async Task Resp3RepliesAreMaps()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("resp3");
        await c.CallAsync("XADD", k, "1-1", "f", "v");
        await c.CallAsync("HELLO", "3");
        await c.SendAsync("XREAD", "STREAMS", k, "0");
        string expected = $"%1\r\n${k.Length}\r\n{k}\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
        await c.SendAsync("XREAD", "STREAMS", Key("none"), "0");
        Assert.Equal("_\r\n", await c.ReadRawAsync(3));
        var info = await c.CallAsync("XINFO", "STREAM", k);
        Assert.Equal('%', info.Kind);
        Assert.True((await c.CallAsync("XADD", Key("nomk"), "NOMKSTREAM", "*", "f", "v")).IsNull);
    }

    [Fact]
    public async Task ReadWithoutBlocking()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("read"), empty = Key("empty");
        await c.CallAsync("XADD", k, "1-0", "k1", "v1");
        await c.CallAsync("XADD", k, "2-0", "k2", "v2");
        await c.CallAsync("XADD", k, "3-0", "k3", "v3");
        Assert.Equal($"[[{k}, [[2-0, [k2, v2]]]]]", (await c.CallAsync("XREAD", "COUNT", "1", "STREAMS", empty, k, "0", "1-0")).ToString());
        Assert.Equal($"[[{k}, [[3-0, [k3, v3]]]]]", (await c.CallAsync("XREAD", "COUNT", "5", "STREAMS", k, "+")).ToString());
        Assert.True((await c.CallAsync("XREAD", "STREAMS", k, "$")).IsNull);
        Assert.True((await c.CallAsync("XREAD", "STREAMS", empty, "+")).IsNull);
        await AssertError(c, "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified.", "XREAD", "COUNT", "1", "STREAMS", k);
        await AssertError(c, "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.", "XREAD", "STREAMS", k, ">");
        await AssertError(c, "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.", "XREAD", "GROUP", "g", "c", "STREAMS", k, "0");
        await AssertError(c, "ERR timeout is negative", "XREAD", "BLOCK", "-1", "STREAMS", k, "0");
        await AssertError(c, "ERR syntax error", "XREAD", "COUNT", "1", "BLOCK", "0");
    }

    /// <summary>Valkey's DUMP of "big" below: listpacks, node splits and LZF, byte for byte (SHA-256 of the payload).</summary>
    private const string ValkeyBigDumpSha256 = "63658d13b297212b0c2fe6bf8431a1b557be80063337029f6e92fd0e29e60da7";

    [Fact]
    public async Task DumpAndDigestEqualValkeys()
    {
        await using var c = await _server.ConnectAsync();
        string k = Key("dump");
        for (int i = 1; i <= 300; i++)
            await c.CallAsync("XADD", k, $"{1000 + i * 7}-{i % 3}", "field", "value" + i, "n", (i * i).ToString(), "pad", new string('p', i % 13));
        await c.CallAsync("XDEL", k, "1007-1");
        await c.CallAsync("XTRIM", k, "MAXLEN", "250");
        var dump = await c.CallAsync("DUMP", k);
        Assert.Equal(ValkeyBigDumpSha256, Convert.ToHexString(SHA256.HashData(dump.Bytes!)).ToLowerInvariant());
        Assert.Equal("1ecf597e00445c4470ce84239cc13c2b95043fbd", (await c.CallAsync("DEBUG", "DIGEST-VALUE", k)).Items![0].Text);
        string copy = k + ":restored";
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", copy, "0", dump.Bytes!));
        Assert.Equal((await c.CallAsync("XRANGE", k, "-", "+")).ToString(), (await c.CallAsync("XRANGE", copy, "-", "+")).ToString());
        Assert.Equal(dump.Bytes, (await c.CallAsync("DUMP", copy)).Bytes);
        var info = (await c.CallAsync("XINFO", "STREAM", copy)).Items!;
        Assert.Equal("1007-1", Field(info, "max-deleted-entry-id").Text);
        Assert.Equal("300", Field(info, "entries-added").ToString());
    }

    [Fact]
    public async Task CopyAndRenameCarryGroupsAlong()
    {
        await using var c = await _server.ConnectAsync();
        string k = "{copy}" + Key("src");
        await c.CallAsync("XADD", k, "1-1", "f", "v");
        await c.CallAsync("XGROUP", "CREATE", k, "g", "0");
        await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, ">");
        Assert.Equal(1, (await c.CallAsync("COPY", k, k + "copy")).Integer);
        await c.CallAsync("XACK", k, "g", "1-1");
        Assert.Equal("[1, 1-1, 1-1, [[alice, 1]]]", (await c.CallAsync("XPENDING", k + "copy", "g")).ToString());
        Assert.Equal("[0, (nil), (nil), (nil)]", (await c.CallAsync("XPENDING", k, "g")).ToString());
        Assert.Equal("OK", await c.CallTextAsync("RENAME", k + "copy", k + "renamed"));
        Assert.Equal("[1, 1-1, 1-1, [[alice, 1]]]", (await c.CallAsync("XPENDING", k + "renamed", "g")).ToString());
    }

    [Fact]
    public async Task KeyspaceEventsOfStreamCommands()
    {
        await using var c = await _server.ConnectAsync();
        await using var sub = await _server.ConnectAsync();
        string k = Key("events");
        await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "Et");
        try
        {
            await sub.CallAsync("SUBSCRIBE", "__keyevent@0__:xadd", "__keyevent@0__:xtrim", "__keyevent@0__:xdel", "__keyevent@0__:xsetid",
                "__keyevent@0__:xgroup-create", "__keyevent@0__:xgroup-createconsumer", "__keyevent@0__:xgroup-setid",
                "__keyevent@0__:xgroup-delconsumer", "__keyevent@0__:xgroup-destroy");
            for (int i = 0; i < 8; i++) await sub.ReadAsync();
            await c.CallAsync("XADD", k, "1-1", "f", "v");
            await c.CallAsync("XADD", k, "MAXLEN", "1", "1-2", "f", "v");
            await c.CallAsync("XDEL", k, "1-2");
            await c.CallAsync("XSETID", k, "5-0");
            await c.CallAsync("XGROUP", "CREATE", k, "g", "0");
            await c.CallAsync("XREADGROUP", "GROUP", "g", "alice", "STREAMS", k, ">");
            await c.CallAsync("XGROUP", "SETID", k, "g", "0");
            await c.CallAsync("XGROUP", "DELCONSUMER", k, "g", "alice");
            await c.CallAsync("XGROUP", "DESTROY", k, "g");
            var events = new List<string>();
            for (int i = 0; i < 10; i++) events.Add((await sub.ReadAsync()).Items![1].Text!["__keyevent@0__:".Length..]);
            Assert.Equal(new[] { "xadd", "xadd", "xtrim", "xdel", "xsetid", "xgroup-create", "xgroup-createconsumer", "xgroup-setid", "xgroup-delconsumer", "xgroup-destroy" }, events);
        }
        finally
        {
            await c.CallAsync("CONFIG", "SET", "notify-keyspace-events", "");
        }
    }
}
