using System.Text;
using Kvasir.Commands;
using Kvasir.Protocol;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

public sealed class CommandIntrospectionTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public CommandIntrospectionTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static List<string> Strings(RespValue v) => v.Items!.Select(i => i.Text!).ToList();

    [Fact]
    public async Task CountMatchesTheCommandListAndOnlyImplementedCommandsAppear()
    {
        await using var c = await _server.ConnectAsync();
        var count = (await c.CallAsync("COMMAND", "COUNT")).Integer;
        var all = await c.CallAsync("COMMAND");
        Assert.Equal(count, all.Items!.Count);
        var names = all.Items!.Select(i => i.Items![0].Text).ToList();
        Assert.Contains("get", names);
        Assert.Contains("command", names);
        Assert.Equal(_server.Server.Commands.Implemented.Count(), (int)count);
        Assert.All(names, n => Assert.NotNull(_server.Server.Commands.FindByFullName(n!)!.Handler));
    }

    [Fact]
    public async Task InfoOfGetHasValkeysShape()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendAsync("COMMAND", "INFO", "get");
        const string expected =
            "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n" +
            "*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n" +
            "$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
        Assert.Equal(expected, await c.ReadRawAsync(expected.Length));
    }

    [Fact]
    public async Task InfoOfUnknownOrInvalidNamesIsNull()
    {
        await using var c = await _server.ConnectAsync();
        await c.SendAsync("COMMAND", "INFO", "get|key", "config|get|key", "nosuchcommand");
        Assert.Equal("*3\r\n$-1\r\n$-1\r\n$-1\r\n", await c.ReadRawAsync(19));
    }

    [Fact]
    public async Task ContainerInfoListsItsSubcommands()
    {
        await using var c = await _server.ConnectAsync();
        var info = (await c.CallAsync("COMMAND", "INFO", "command")).Items![0];
        var subs = info.Items![9].Items!.Select(s => s.Items![0].Text).ToList();
        Assert.Contains("command|docs", subs);
        Assert.Contains("command|getkeys", subs);
        Assert.Equal(-2, (await c.CallAsync("COMMAND", "INFO", "command|docs")).Items![0].Items![1].Integer);
    }

    [Fact]
    public async Task DocsDescribeArgumentsForClientHints()
    {
        await using var c = await _server.ConnectAsync();
        var docs = await c.CallAsync("COMMAND", "DOCS", "set", "nosuch");
        Assert.Equal(2, docs.Items!.Count);
        Assert.Equal("set", docs.Items![0].Text);
        var map = ToMap(docs.Items![1]);
        Assert.Equal("1.0.0", map["since"].Text);
        Assert.Equal("string", map["group"].Text);
        Assert.False(string.IsNullOrEmpty(map["summary"].Text));
        var args = map["arguments"].Items!.Select(ToMap).ToList();
        Assert.Equal(new[] { "key", "value", "condition", "get", "expiration" }, args.Select(a => a["name"].Text));
        Assert.Equal("0", args[0]["key_spec_index"].ToString());
        var condition = args[2];
        Assert.Equal("oneof", condition["type"].Text);
        Assert.False(condition.ContainsKey("display_text"));
        Assert.Equal(new[] { "optional" }, Strings(condition["flags"]));
        Assert.Equal(new[] { "NX", "XX" }, condition["arguments"].Items!.Select(ToMap).Select(a => a["token"].Text));
    }

    [Fact]
    public async Task DocsOfDeprecatedCommandsNameTheReplacement()
    {
        await using var c = await _server.ConnectAsync();
        // QUIT is deprecated since 7.2.0.
        var map = ToMap((await c.CallAsync("COMMAND", "DOCS", "quit")).Items![1]);
        Assert.Equal(new[] { "deprecated" }, Strings(map["doc_flags"]));
        Assert.Equal("7.2.0", map["deprecated_since"].Text);
        Assert.True(map.ContainsKey("replaced_by"));
    }

    private static Dictionary<string, RespValue> ToMap(RespValue flat)
    {
        var d = new Dictionary<string, RespValue>();
        for (int i = 0; i < flat.Items!.Count; i += 2) d[flat.Items[i].Text!] = flat.Items[i + 1];
        return d;
    }

    [Fact]
    public async Task ListFilters()
    {
        await using var c = await _server.ConnectAsync();
        var all = Strings(await c.CallAsync("COMMAND", "LIST"));
        Assert.Contains("get", all);
        Assert.Contains("command|list", all);
        Assert.Equal(new[] { "get" }, Strings(await c.CallAsync("COMMAND", "LIST", "FILTERBY", "PATTERN", "get")));
        Assert.Contains("command|getkeys", Strings(await c.CallAsync("COMMAND", "LIST", "FILTERBY", "PATTERN", "COMMAND|*KEYS*")));
        Assert.Empty(Strings(await c.CallAsync("COMMAND", "LIST", "FILTERBY", "ACLCAT", "no_such_category")));
        var fast = Strings(await c.CallAsync("COMMAND", "LIST", "FILTERBY", "ACLCAT", "fast"));
        Assert.Contains("get", fast);
        Assert.DoesNotContain("set", fast);
        Assert.Empty(Strings(await c.CallAsync("COMMAND", "LIST", "FILTERBY", "MODULE", "x")));
        foreach (var bad in new[] { new object[] { "COMMAND", "LIST", "bad" }, new object[] { "COMMAND", "LIST", "FILTERBY", "bad", "x" }, new object[] { "COMMAND", "LIST", "FILTERBY", "PATTERN" } })
            Assert.Equal("ERR syntax error", (await c.CallAsync(bad)).Text);
    }

    [Fact]
    public async Task GetKeysAndErrors()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(new[] { "key" }, Strings(await c.CallAsync("COMMAND", "GETKEYS", "get", "key")));
        var withFlags = await c.CallAsync("COMMAND", "GETKEYSANDFLAGS", "set", "k1", "v1");
        Assert.Equal("[[k1, [OW, update]]]", withFlags.ToString());
        Assert.Equal("[[k1, [RW, access, update]]]", (await c.CallAsync("COMMAND", "GETKEYSANDFLAGS", "set", "k1", "v1", "get")).ToString());
        Assert.Equal("ERR Invalid command specified", (await c.CallAsync("COMMAND", "GETKEYS", "nosuch", "a")).Text);
        Assert.Equal("ERR Invalid command specified", (await c.CallAsync("COMMAND", "GETKEYS", "get|x", "a")).Text);
        Assert.Equal("ERR The command has no key arguments", (await c.CallAsync("COMMAND", "GETKEYS", "ping")).Text);
        Assert.Equal("ERR Invalid number of arguments specified for command", (await c.CallAsync("COMMAND", "GETKEYS", "get")).Text);
    }

    [Fact]
    public async Task HelpAndUnknownSubcommand()
    {
        await using var c = await _server.ConnectAsync();
        var help = await c.CallAsync("command", "help");
        Assert.Equal("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", help.Items![0].Text);
        Assert.Equal("HELP", help.Items[^2].Text);
        Assert.Equal("    Print this help.", help.Items[^1].Text);
        Assert.Equal("ERR unknown subcommand 'foo'. Try COMMAND HELP.", (await c.CallAsync("COMMAND", "foo")).Text);
    }

    // ----- key extraction for commands implemented elsewhere (uses the catalog directly) -----

    private static readonly CommandTable Table = new();

    private static string Keys(params string[] argv)
    {
        var args = new CommandArgs();
        args.SetOwned(argv.Select(a => Encoding.UTF8.GetBytes(a)).ToList());
        var cmd = Table.FindByFullName(argv[0])!;
        if (cmd.Subcommands is not null) cmd = cmd.Subcommands[argv[1]];
        var keys = new List<KeyReference>();
        CommandKeys.GetKeys(cmd, args, 0, keys);
        return string.Join(" ", keys.Select(k => argv[k.Position] + (k.Flags.Length > 0 ? "(" + string.Join(",", k.Flags) + ")" : "")));
    }

    [Fact]
    public void KeysFromSpecsAndFromKeyRoutines()
    {
        Assert.Equal("k1(OW,update) k2(OW,update)", Keys("mset", "k1", "v1", "k2", "v2"));
        Assert.Equal("k1(RW,access,delete) k2(RW,insert)", Keys("lmove", "k1", "k2", "left", "right"));
        Assert.Equal("k1(RO,access) k2(OW,update)", Keys("sort", "k1", "store", "k2"));
        Assert.Equal("k1(RO,access) k3(OW,update)", Keys("sort", "k1", "store", "k2", "limit", "0", "1", "store", "k3"));
        Assert.Equal("key", Keys("memory", "usage", "key").Split('(')[0]);
        Assert.Equal("key", Keys("xgroup", "create", "key", "groupname", "$").Split('(')[0]);
        Assert.Equal("key(RW,access,update)", Keys("eval", "return 1", "1", "key"));
        Assert.Equal("", Keys("eval", "return 1", "0"));
        Assert.Equal("key1(RO,access) key2(RO,access)", Keys("lcs", "key1", "key2"));
        Assert.Equal("a(RW,access,delete) b(RW,access,delete)", Keys("migrate", "h", "6379", "", "0", "5", "KEYS", "a", "b"));
        Assert.Equal("k(RO,access)", Keys("bitfield", "k", "GET", "u8", "0"));
        Assert.Equal("k(RW,access,update)", Keys("bitfield", "k", "SET", "u8", "0", "1"));
        Assert.Equal("a(RO,access) b(RO,access)", Keys("xread", "COUNT", "2", "STREAMS", "a", "b", "0", "0"));
        Assert.Equal("k(RO,access) dst(OW,update)", Keys("georadius", "k", "0", "0", "1", "m", "STORE", "dst"));
    }

    [Fact]
    public void MoreThan256KeysAreAllFound()
    {
        var argv = new List<string> { "zunionstore", "target", "260" };
        for (int i = 1; i <= 260; i++) argv.Add("key" + i);
        var found = Keys(argv.ToArray()).Split(' ').Select(k => k.Split('(')[0]).ToList();
        Assert.Equal(argv.Skip(3).Prepend("target").ToList(), found);
    }
}
