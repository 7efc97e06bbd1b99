using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Security;

/// <summary>ACL users, rules, permission checks, the ACL log, and AUTH / HELLO AUTH, as Valkey 8 has them.</summary>
public sealed class AclTests
{
    private static Task<TestServer> StartAsync(params (string, string)[] settings) =>
        TestServer.StartAsync(settings.Append(("enable-debug-command", "yes")).ToArray());

    private static async Task<RespClient> LoginAsync(TestServer server, string user, string password = "x")
    {
        var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("AUTH", user, password));
        return c;
    }

    /// <summary>The fields of a map reply (RESP2 array of pairs) by name.</summary>
    private static Dictionary<string, RespValue> Map(RespValue reply)
    {
        var d = new Dictionary<string, RespValue>();
        for (int i = 0; i + 1 < reply.Items!.Count; i += 2) d[reply.Items[i].Text!] = reply.Items[i + 1];
        return d;
    }

    [Fact]
    public async Task NewUsersStartOffWithoutPermissionsAndDescribeThemselves()
    {
        await using var server = await StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("default", await c.CallTextAsync("ACL", "WHOAMI"));
        Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "alice"));
        var list = (await c.CallAsync("ACL", "LIST")).Items!.Select(i => i.Text).ToList();
        Assert.Equal(new[]
        {
            "user alice off sanitize-payload resetchannels -@all",
            "user default on nopass sanitize-payload ~* &* +@all",
        }, list);
        Assert.Equal("[alice, default]", (await c.CallAsync("ACL", "USERS")).ToString());
        // Disabled: the right password is refused.
        Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "alice", ">secret"));
        await AssertError(c, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "alice", "secret");
        Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "alice", "on", "~app:*", "&news", "+get", "+@hash", "-hdel"));
        var user = Map(await c.CallAsync("ACL", "GETUSER", "alice"));
        Assert.Equal("[on, sanitize-payload]", user["flags"].ToString());
        Assert.Equal("[2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b]", user["passwords"].ToString());
        Assert.Equal("-@all +get +@hash -hdel", user["commands"].Text);
        Assert.Equal("~app:*", user["keys"].Text);
        Assert.Equal("&news", user["channels"].Text);
        Assert.Equal("[]", user["selectors"].ToString());
        Assert.True((await c.CallAsync("ACL", "GETUSER", "nobody")).IsNull);
    }

    [Fact]
    public async Task CommandRulesAreCompactedAsValkeyDoes()
    {
        await using var server = await StartAsync();
        await using var c = await server.ConnectAsync();
        async Task<string?> Rules(params string[] rules)
        {
            Assert.Equal("OK", await c.CallTextAsync(new object[] { "ACL", "SETUSER", "u", "reset" }.Concat(rules).ToArray()));
            return Map(await c.CallAsync("ACL", "GETUSER", "u"))["commands"].Text;
        }
        Assert.Equal("+@all -@hash -@slow +hget", await Rules("+@all", "-@hash", "-@slow", "+hget"));
        Assert.Equal("-@all +client|list +config -acl", await Rules("-@all", "+client|list", "+client|list", "+config|get", "+config", "+acl|list", "-acl"));
        Assert.Equal("-@all +select|0 +debug", await Rules("-@all", "+select|0", "+select|0", "+debug|segfault", "+debug"));
        Assert.Equal("-@all +hset -hget", await Rules("-@all", "+hget", "-hset", "+hset", "-hget"));
        Assert.Equal("+@all", await Rules("-@string", "-@slow", "+@all"));
        Assert.Equal("-@all +@hash", await Rules("-@all", "+@HASH", "+@hash"));
    }

    [Fact]
    public async Task BadRulesChangeNothingAndSayWhy()
    {
        await using var server = await StartAsync();
        await using var c = await server.ConnectAsync();
        await AssertError(c, "ERR Error in ACL SETUSER modifier '+nosuchcommand': Unknown command or category name in ACL", "ACL", "SETUSER", "bob", "on", "+nosuchcommand");
        Assert.True((await c.CallAsync("ACL", "GETUSER", "bob")).IsNull);
        await AssertError(c, "ERR Error in ACL SETUSER modifier '%~': Syntax error", "ACL", "SETUSER", "bob", "%~");
        await AssertError(c, "ERR Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand is not supported",
            "ACL", "SETUSER", "bob", "+config|get|x");
        await AssertError(c, "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            "ACL", "SETUSER", "bob", "#abc");
        await AssertError(c, "ERR Error in ACL SETUSER modifier '~x': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does " +
                             "not have any effect. Try 'resetkeys' to start with an empty list of patterns", "ACL", "SETUSER", "bob", "allkeys", "~x");
        await AssertError(c, "ERR Unmatched parenthesis in acl selector starting at '(+get'.", "ACL", "SETUSER", "bob", "(+get", "~a");
        await AssertError(c, "ERR Usernames can't contain spaces or null characters", "ACL", "SETUSER", "b b");
        await AssertError(c, "ERR The 'default' user cannot be removed", "ACL", "DELUSER", "default");
        await AssertError(c, "ERR Unknown category 'nosuch'", "ACL", "CAT", "nosuch");
        Assert.True((await c.CallAsync("ACL", "GETUSER", "bob")).IsNull);
    }

    [Fact]
    public async Task CommandKeyAndChannelRefusalsUseNopermAndTheAclLog()
    {
        await using var server = await StartAsync();
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "app", "on", "nopass", "~app:*", "&news:*", "+set", "+get", "+publish", "+multi", "+exec"));
        await using var app = await LoginAsync(server, "app");
        Assert.Equal("OK", await app.CallTextAsync("SET", "app:1", "v"));
        await AssertError(app, "NOPERM User app has no permissions to run the 'del' command", "DEL", "app:1");
        await AssertError(app, "NOPERM No permissions to access a key", "SET", "other", "v");
        Assert.Equal(0, (await app.CallAsync("PUBLISH", "news:today", "m")).Integer);
        await AssertError(app, "NOPERM No permissions to access a channel", "PUBLISH", "sports", "m");
        // Refused while queueing: the transaction is aborted.
        Assert.Equal("OK", await app.CallTextAsync("MULTI"));
        await AssertError(app, "NOPERM No permissions to access a key", "GET", "secret");
        await AssertError(app, "EXECABORT Transaction discarded because of previous errors.", "EXEC");
        Assert.True((await admin.CallAsync("EXISTS", "other")).Integer == 0);

        var log = (await admin.CallAsync("ACL", "LOG")).Items!;
        var newest = Map(log[0]);
        Assert.Equal("key", newest["reason"].Text);
        Assert.Equal("multi", newest["context"].Text);
        Assert.Equal("secret", newest["object"].Text);
        Assert.Equal("app", newest["username"].Text);
        Assert.Contains("cmd=get", newest["client-info"].Text);
        var channel = Map(log[1]);
        Assert.Equal("channel", channel["reason"].Text);
        Assert.Equal("sports", channel["object"].Text);
        var command = Map(log[3]);
        Assert.Equal("command", command["reason"].Text);
        Assert.Equal("toplevel", command["context"].Text);
        Assert.Equal("del", command["object"].Text);
        Assert.Equal(new[] { "count", "reason", "context", "object", "username", "age-seconds", "client-info", "entry-id", "timestamp-created", "timestamp-last-updated" },
            log[0].Items!.Where((_, i) => i % 2 == 0).Select(v => v.Text));
        string info = (await admin.CallTextAsync("INFO", "stats"))!;
        Assert.Contains("acl_access_denied_cmd:1\r\n", info);
        Assert.Contains("acl_access_denied_key:2\r\n", info);
        Assert.Contains("acl_access_denied_channel:1\r\n", info);
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "LOG", "RESET"));
        Assert.Empty((await admin.CallAsync("ACL", "LOG")).Items!);
    }

    [Fact]
    public async Task ReadAndWriteKeyPermissionsFollowTheKeySpecs()
    {
        await using var server = await StartAsync();
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "rw", "on", "nopass", "+@all", "%R~src*", "%W~dst*"));
        Assert.Equal("OK", await admin.CallTextAsync("SET", "src", "v"));
        await using var c = await LoginAsync(server, "rw");
        Assert.Equal("v", await c.CallTextAsync("GET", "src"));
        Assert.Equal(1, (await c.CallAsync("COPY", "src", "dst")).Integer);
        await AssertError(c, "NOPERM No permissions to access a key", "COPY", "dst", "src2");
        await AssertError(c, "NOPERM No permissions to access a key", "SET", "src", "x");
        await AssertError(c, "NOPERM No permissions to access a key", "GET", "dst");
        // SET with GET reads too.
        await AssertError(c, "NOPERM No permissions to access a key", "SET", "dst", "x", "GET");
        Assert.Equal("OK", await c.CallTextAsync("SET", "dst", "x"));
        Assert.Equal("User rw has no permissions to access the 'dst' key", await admin.CallTextAsync("ACL", "DRYRUN", "rw", "GET", "dst"));
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "DRYRUN", "rw", "LPUSH", "dst", "a"));
        Assert.Equal("ERR User 'nobody' not found", await admin.CallTextAsync("ACL", "DRYRUN", "nobody", "GET", "x"));
        Assert.Equal("ERR Command 'nocmd' not found", await admin.CallTextAsync("ACL", "DRYRUN", "rw", "nocmd"));
        Assert.Equal("ERR wrong number of arguments for 'set' command", await admin.CallTextAsync("ACL", "DRYRUN", "rw", "SET", "x"));
    }

    [Fact]
    public async Task SelectorsAddAlternativePermissions()
    {
        await using var server = await StartAsync();
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "sel", "on", "nopass", "+get", "~key", "(+mget ~key ~other)", "(+@write ~write:*)"));
        var user = Map(await admin.CallAsync("ACL", "GETUSER", "sel"));
        Assert.Equal(2, user["selectors"].Items!.Count);
        Assert.Equal("[commands, -@all +mget, keys, ~key ~other, channels, ]", user["selectors"].Items[0].ToString());
        Assert.Equal("user sel on nopass sanitize-payload ~key resetchannels -@all +get (~key ~other resetchannels -@all +mget) (~write:* resetchannels -@all +@write)",
            (await admin.CallAsync("ACL", "LIST")).Items!.Single(i => i.Text!.StartsWith("user sel")).Text);
        await using var c = await LoginAsync(server, "sel");
        Assert.True((await c.CallAsync("GET", "key")).IsNull);
        Assert.Equal("[(nil), (nil)]", (await c.CallAsync("MGET", "key", "other")).ToString());
        // The root selector may run GET, only not on this key: the key is what is reported.
        await AssertError(c, "NOPERM No permissions to access a key", "GET", "other");
        await AssertError(c, "NOPERM User sel has no permissions to run the 'ping' command", "PING");
        Assert.Equal("OK", await c.CallTextAsync("SET", "write:1", "v"));
        await AssertError(c, "NOPERM No permissions to access a key", "SET", "key", "v");
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "sel", "clearselectors"));
        await AssertError(c, "NOPERM User sel has no permissions to run the 'mget' command", "MGET", "key");
    }

    [Fact]
    public async Task AuthHelloAndRequirepassGoThroughTheDefaultUser()
    {
        await using var server = await StartAsync(("requirepass", "pw"));
        await using var c = await server.ConnectAsync();
        await AssertError(c, "NOAUTH Authentication required.", "GET", "x");
        await AssertError(c, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "bad");
        Assert.Equal("OK", await c.CallTextAsync("AUTH", "pw"));
        Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "bob", "on", ">bobpw", "+@all", "~*"));
        await using var other = await server.ConnectAsync();
        var hello = await other.CallAsync("HELLO", "3", "AUTH", "bob", "bobpw", "SETNAME", "b1");
        Assert.Equal('%', hello.Kind);
        Assert.Equal("bob", await other.CallTextAsync("ACL", "WHOAMI"));
        Assert.Equal("b1", await other.CallTextAsync("CLIENT", "GETNAME"));
        // The default user's password is requirepass: CONFIG SET requirepass changes it.
        Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "requirepass", "pw2"));
        await using var third = await server.ConnectAsync();
        await AssertError(third, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "default", "pw");
        Assert.Equal("OK", await third.CallTextAsync("AUTH", "default", "pw2"));
        var log = Map((await c.CallAsync("ACL", "LOG", "1")).Items![0]);
        Assert.Equal("auth", log["reason"].Text);
        Assert.Equal("AUTH", log["object"].Text);
        Assert.Equal("default", log["username"].Text);
    }

    [Fact]
    public async Task DeletedUsersLoseTheirConnectionsAndRevokedSubscribersAreDropped()
    {
        await using var server = await StartAsync();
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "gone", "on", "nopass", "+@all", "~*", "&*"));
        await using var victim = await LoginAsync(server, "gone");
        Assert.Equal(1, (await admin.CallAsync("ACL", "DELUSER", "gone", "neverexisted")).Integer);
        Assert.True(await victim.IsClosedAsync(TimeSpan.FromSeconds(5)));

        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "sub", "on", "nopass", "+@all", "resetchannels", "&a", "&b"));
        await using var keeps = await LoginAsync(server, "sub");
        await keeps.CallAsync("SUBSCRIBE", "a");
        await using var loses = await LoginAsync(server, "sub");
        await loses.CallAsync("SUBSCRIBE", "b");
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "sub", "resetchannels", "&a"));
        Assert.True(await loses.IsClosedAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, (await admin.CallAsync("PUBLISH", "a", "still-here")).Integer);
        Assert.Equal("[message, a, still-here]", (await keeps.ReadAsync()).ToString());

        // A user deleting itself gets its reply, then the connection closes.
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "self", "on", "nopass", "+acl"));
        await using var self = await LoginAsync(server, "self");
        Assert.Equal(1, (await self.CallAsync("ACL", "DELUSER", "self")).Integer);
        Assert.True(await self.IsClosedAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task ExecAndScriptsCheckPermissionsWhenTheyRun()
    {
        await using var server = await StartAsync();
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "s", "on", "nopass", "~*", "+multi", "+exec", "+incr", "+eval", "+get"));
        await using var c = await LoginAsync(server, "s");
        Assert.Equal("OK", await c.CallTextAsync("MULTI"));
        Assert.Equal("QUEUED", await c.CallTextAsync("INCR", "n"));
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "s", "-incr"));
        var exec = await c.CallAsync("EXEC");
        Assert.Equal("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. " +
                     "This command is no longer allowed for the following reason: no permission to execute the command or subcommand", exec.Items![0].Text);
        var script = await c.CallAsync("EVAL", "return redis.call('incr', KEYS[1])", "1", "n");
        Assert.True(script.IsError);
        Assert.StartsWith("ERR ACL failure in script: User s has no permissions to run the 'incr' command", script.Text);
        Assert.Equal("[1, 0]", (await c.CallAsync("EVAL", "return {redis.acl_check_cmd('get','n') and 1 or 0, redis.acl_check_cmd('incr','n') and 1 or 0}", "0")).ToString());
        var log = Map((await admin.CallAsync("ACL", "LOG")).Items![0]);
        Assert.Equal("lua", log["context"].Text);
        Assert.Contains("cmd=eval", log["client-info"].Text);
        Assert.True((await admin.CallAsync("GET", "n")).IsNull);
    }

    [Fact]
    public async Task AclFileLoadsSavesAndReloads()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-acl-").FullName;
        try
        {
            string file = Path.Combine(dir, "users.acl");
            File.WriteAllText(file, "user alice on >alicepw ~* &* +@all\nuser bob on nopass ~b:* -@all +get\n");
            await using var server = await StartAsync(("aclfile", file));
            await using var c = await server.ConnectAsync();
            Assert.Equal("[alice, bob, default]", (await c.CallAsync("ACL", "USERS")).ToString());
            Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "carol", "on", "nopass", "+ping"));
            Assert.Equal("OK", await c.CallTextAsync("ACL", "SAVE"));
            var saved = File.ReadAllLines(file);
            Assert.Contains("user carol on nopass sanitize-payload resetchannels -@all +ping", saved);
            Assert.Contains("user default on nopass sanitize-payload ~* &* +@all", saved);

            await using var bob = await LoginAsync(server, "bob");
            File.WriteAllText(file, "user alice on >alicepw ~* &* +@all\n");
            Assert.Equal("OK", await c.CallTextAsync("ACL", "LOAD"));
            Assert.True(await bob.IsClosedAsync(TimeSpan.FromSeconds(5)));
            Assert.Equal("[alice, default]", (await c.CallAsync("ACL", "USERS")).ToString());

            File.WriteAllText(file, "user alice on\nuser alice off\nuser x +nosuch\n");
            var error = await c.CallAsync("ACL", "LOAD");
            Assert.True(error.IsError);
            Assert.Contains("Duplicate user 'alice' found on line 2", error.Text);
            Assert.Contains("Error in applying operation '+nosuch'", error.Text);
            Assert.EndsWith("WARNING: ACL errors detected, no change to the previously active ACL rules was performed", error.Text);
            Assert.Equal("[alice, default]", (await c.CallAsync("ACL", "USERS")).ToString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task ConfigFileUsersLoadAtStartAndAreRewritten()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-acl-").FullName;
        try
        {
            string conf = Path.Combine(dir, "kvasir.conf");
            File.WriteAllText(conf, "user default on nopass ~* +@all -flushdb\nuser ops on >opspw +@all ~*\n");
            var config = new Kvasir.Config.ServerConfig();
            Kvasir.Config.ConfigFileParser.Load(config, conf, null, null, new List<string>());
            Assert.Equal(2, config.UserLines.Count);
            var s2 = new KvasirServer(config);
            config.Set("port", "0", atStartup: true);
            config.Set("bind", "127.0.0.1", atStartup: true);
            config.Dir = dir;
            await s2.StartAsync();
            try
            {
                await using var c = await RespClient.ConnectAsync("127.0.0.1", s2.BoundPort);
                await AssertError(c, "NOPERM User default has no permissions to run the 'flushdb' command", "FLUSHDB");
                // Channels were not granted in the line, and acl-pubsub-default is resetchannels.
                await AssertError(c, "NOPERM No permissions to access a channel", "PUBLISH", "ch", "m");
                Assert.Equal("OK", await c.CallTextAsync("AUTH", "ops", "opspw"));
                config.ConfigFile = conf;
                Assert.Equal("OK", await c.CallTextAsync("CONFIG", "REWRITE"));
                var lines = File.ReadAllLines(conf);
                Assert.Contains("user default on nopass sanitize-payload ~* resetchannels +@all -flushdb", lines);
                Assert.Contains(lines, l => l.StartsWith("user ops on sanitize-payload #", StringComparison.Ordinal));
            }
            finally
            {
                await s2.StopAsync();
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task CatGenpassAndClientKillUser()
    {
        await using var server = await StartAsync();
        await using var c = await server.ConnectAsync();
        var categories = (await c.CallAsync("ACL", "CAT")).Items!.Select(i => i.Text).ToList();
        Assert.Equal(21, categories.Count);
        Assert.Equal("keyspace", categories[0]);
        var transaction = (await c.CallAsync("ACL", "CAT", "transaction")).Items!.Select(i => i.Text).ToList();
        Assert.Contains("multi", transaction);
        Assert.DoesNotContain("get", transaction);
        Assert.Contains("function|list", (await c.CallAsync("ACL", "CAT", "scripting")).Items!.Select(i => i.Text));
        Assert.Equal(64, (await c.CallTextAsync("ACL", "GENPASS"))!.Length);
        Assert.Equal(3, (await c.CallTextAsync("ACL", "GENPASS", "9"))!.Length);
        await AssertError(c, "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096", "ACL", "GENPASS", "5000");

        Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "k", "on", "nopass", "+@all"));
        await using var k = await LoginAsync(server, "k");
        Assert.Contains(" user=k ", (await k.CallTextAsync("CLIENT", "INFO"))!);
        Assert.Equal(1, (await c.CallAsync("CLIENT", "KILL", "USER", "k")).Integer);
        Assert.True(await k.IsClosedAsync(TimeSpan.FromSeconds(5)));
        await AssertError(c, "ERR No such user 'nobody'", "CLIENT", "KILL", "USER", "nobody");
    }

    [Fact]
    public async Task DefaultUserOffMeansNewConnectionsMustAuthenticate()
    {
        await using var server = await StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "admin", "on", ">a", "+@all", "~*"));
        Assert.Equal("OK", await c.CallTextAsync("ACL", "SETUSER", "default", "off"));
        await using var other = await server.ConnectAsync();
        await AssertError(other, "NOAUTH Authentication required.", "PING");
        await AssertError(other, "WRONGPASS invalid username-password pair or user is disabled.", "AUTH", "default", "x");
        Assert.Equal("OK", await other.CallTextAsync("AUTH", "admin", "a"));
        Assert.Equal("PONG", await other.CallTextAsync("PING"));
    }
}
