using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Scripting.ScriptAssert;

namespace Kvasir.Tests.Scripting;

/// <summary>EVAL, EVALSHA, SCRIPT: conversions both ways, errors, sandbox, flags. Every expectation was checked against Valkey 8.</summary>
public sealed class ScriptingTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ScriptingTests(SharedServerFixture fixture) => _server = fixture.Server;


    [Fact]
    public async Task LuaValuesConvertToRespAsValkeyDoes()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(3, (await c.CallAsync("EVAL", "return 3.99", "0")).Integer);
        Assert.Equal(-3, (await c.CallAsync("EVAL", "return -3.99", "0")).Integer);
        Assert.Equal(1, (await c.CallAsync("EVAL", "return true", "0")).Integer);
        Assert.True((await c.CallAsync("EVAL", "return false", "0")).IsNull);
        Assert.True((await c.CallAsync("EVAL", "return nil", "0")).IsNull);
        var array = await c.CallAsync("EVAL", "return {1, 'two', {3}, nil, 5}", "0");
        Assert.Equal("[1, two, [3]]", array.ToString());
        var status = await c.CallAsync("EVAL", "return {ok='FINE'}", "0");
        Assert.Equal('+', status.Kind);
        Assert.Equal("FINE", status.Text);
        var error = await c.CallAsync("EVAL", "return redis.error_reply('MY_CODE custom msg')", "0");
        Assert.Equal("MY_CODE custom msg", error.Text);
        Assert.Equal("ERR plain", (await c.CallAsync("EVAL", "return {err='ERR plain'}", "0")).Text);
        Assert.Equal("da39a3ee5e6b4b0d3255bfef95601890afd80709", await c.CallTextAsync("EVAL", "return redis.sha1hex('')", "0"));
    }

    [Fact]
    public async Task RespRepliesConvertToLua()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "conv:l", "conv:s");
        await c.CallAsync("RPUSH", "conv:l", "a", "b");
        // Integer -> number, bulk -> string, missing bulk -> false, array -> table, status -> {ok=...}.
        Assert.Equal("number string boolean table table", await c.CallTextAsync("EVAL",
            "return type(redis.call('llen', KEYS[1])) .. ' ' .. type(redis.call('lindex', KEYS[1], 0)) .. ' ' .. " +
            "type(redis.call('get', 'conv:nokey')) .. ' ' .. type(redis.call('lrange', KEYS[1], 0, -1)) .. ' ' .. type(redis.call('set', KEYS[2], 'v'))",
            "2", "conv:l", "conv:s"));
        Assert.Equal("OK", await c.CallTextAsync("EVAL", "return redis.call('set', KEYS[1], 'v')['ok']", "1", "conv:s"));
        // Numbers passed to server.call: integral floats as integers.
        Assert.Equal("1000000000", await c.CallTextAsync("EVAL", "redis.call('set', KEYS[1], 1e9) return redis.call('get', KEYS[1])", "1", "conv:s"));
        Assert.Equal("ERR Command arguments must be strings or integers script: 80747816df1f4411f7c442b928fce6a814214839, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return redis.call({})", "0"));
    }

    [Fact]
    public async Task Resp3ConversionsAfterSetresp()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("DEL", "r3:h");
        await c.CallAsync("HSET", "r3:h", "f", "v");
        var map = await c.CallAsync("EVAL", "redis.setresp(3) return redis.call('hgetall', KEYS[1])", "1", "r3:h");
        Assert.Equal('%', map.Kind);
        var dbl = await c.CallAsync("EVAL", "return {double=3.5}", "0");
        Assert.Equal(',', dbl.Kind);
        Assert.Equal("3.5", dbl.Text);
        var boolean = await c.CallAsync("EVAL", "redis.setresp(3) return true", "0");
        Assert.Equal('#', boolean.Kind);
        Assert.Equal('_', (await c.CallAsync("EVAL", "redis.setresp(3) return redis.call('get', 'r3:none')", "0")).Kind);
        var set = await c.CallAsync("EVAL", "return {set={a=true}}", "0");
        Assert.Equal('~', set.Kind);
        var big = await c.CallAsync("EVAL", "return {big_number='123456789012345678901234567890'}", "0");
        Assert.Equal('(', big.Kind);
        Assert.Equal("ERR RESP version must be 2 or 3. script: 921c0a48021d97dfd5884aeea41875972c7804d9, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return redis.setresp(4)", "0"));
    }

    [Fact]
    public async Task ErrorsCarryTheScriptAndLine()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "err:s", "x");
        await c.CallAsync("SET", "foo", "bar");
        Assert.Equal("ERR value is not an integer or out of range script: 22c9dbdd80709fb523d10691f558682a9d7129bf, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return redis.call('incr','foo')", "0"));
        Assert.Equal("ERR user_script:1: x script: 86f97a66ddf3ddcdd181e4cddbe19743babd3ae6, on @user_script:1.", await ErrorOf(c, "EVAL", "return error('x')", "0"));
        Assert.Equal("ERR Unknown command called from script script: 206396248e12c6e742fd7296250433c8d7343b74, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return redis.call('nosuch')", "0"));
        Assert.Equal("ERR This Redis command is not allowed from script script: 498b5081e21f7e3039493da0ab415ae08f116868, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return redis.call('eval','return 1', 0)", "0"));
        Assert.Equal("ERR Wrong number of args calling command from script", (await c.CallAsync("EVAL", "return redis.pcall('set','x')", "0")).Text);
        Assert.StartsWith("ERR Error compiling script (new function): user_script:1:", await ErrorOf(c, "EVAL", "syntax error here", "0"));
        // pcall gives the message of a server.call error; a cached server.call stays usable after a caught error.
        Assert.Equal("x", await c.CallTextAsync("EVAL",
            "local call = redis.call; local ok, e = pcall(call, 'incr', KEYS[1]); assert(not ok and e:find('not an integer')); return call('get', KEYS[1])",
            "1", "err:s"));
    }

    [Fact]
    public async Task SandboxProtectsGlobalsAndLibraries()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Contains("Script attempted to access nonexistent global variable 'a'", await ErrorOf(c, "EVAL", "return a", "0"));
        Assert.Contains("user_script:1: Attempt to modify a readonly table", await ErrorOf(c, "EVAL", "a = 10", "0"));
        Assert.Contains("Attempt to modify a readonly table", await ErrorOf(c, "EVAL", "setmetatable(_G, {})", "0"));
        Assert.Contains("Attempt to modify a readonly table", await ErrorOf(c, "EVAL", "local g = getmetatable(_G); g.__index = {}", "0"));
        Assert.Contains("Attempt to modify a readonly table", await ErrorOf(c, "EVAL", "redis.call = function() return 1 end", "0"));
        Assert.Contains("Attempt to modify a readonly table", await ErrorOf(c, "EVAL", "cjson.encode = 1", "0"));
        Assert.Contains("attempt to call field 'execute' (a nil value)", await ErrorOf(c, "EVAL", "os.execute()", "0"));
        Assert.Contains("nonexistent global variable 'print'", await ErrorOf(c, "EVAL", "print('x')", "0"));
        Assert.Contains("nonexistent global variable 'loadfile'", await ErrorOf(c, "EVAL", "loadfile('x')", "0"));
        Assert.Contains("attempt to call a nil value", await ErrorOf(c, "EVAL", "return loadstring(string.dump(function() return 1 end))()", "0"));
        Assert.Equal("6", await c.CallTextAsync("EVAL", "return tostring(select('#', unpack({1,2,3})) * 2)", "0"));
        Assert.Equal("5 3", await c.CallTextAsync("EVAL", "return tostring(10/2) .. ' ' .. tostring(3)", "0"));
    }

    [Fact]
    public async Task LibrariesBehaveLikeValkeys()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("0000FFFF", await c.CallTextAsync("EVAL", "return bit.tohex(65535, -2147483648)", "0"));
        Assert.Equal("{\"a\":\"x\\/y\",\"b\":[1,2,3]}", await c.CallTextAsync("EVAL", "return cjson.encode({a='x/y'}):sub(1, -2) .. ',\"b\":' .. cjson.encode({1,2,3}) .. '}'", "0"));
        Assert.Equal("0 -5000 -1 0.0003 1023.2 0", await c.CallTextAsync("EVAL", "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')", "0"));
        Assert.Contains("Expected comma or array end but found T_END at character 5", await ErrorOf(c, "EVAL", "return cjson.decode('[1,2')", "0"));
        Assert.Equal("cb3fb999999999999a", await c.CallTextAsync("EVAL",
            "local e = cmsgpack.pack(0.1) local h = '' for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h", "0"));
        Assert.Equal("d3ffffff0000000000", await c.CallTextAsync("EVAL",
            "local e = cmsgpack.pack(-1099511627776) local h = '' for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h", "0"));
        Assert.Equal("[24930, 3]", (await c.CallAsync("EVAL", "return {struct.unpack('>I2', 'ab')}", "0")).ToString());
        // math.random is Valkey's rand48 sequence, the same on every server since start of a fresh Lua state.
        var r = await c.CallAsync("EVAL", "math.randomseed(7) return {math.random(100), math.random(100)}", "0");
        Assert.Equal(2, r.Items!.Count);
    }

    [Fact]
    public async Task EvalShaAndScriptCache()
    {
        await using var c = await _server.ConnectAsync();
        string sha = (await c.CallTextAsync("SCRIPT", "LOAD", "return 'loaded'"))!;
        Assert.Equal("b534286061d4b9e4026607613b95c06c06015ae8", sha);
        Assert.Equal("loaded", await c.CallTextAsync("EVALSHA", sha, "0"));
        Assert.Equal("loaded", await c.CallTextAsync("EVALSHA", sha.ToUpperInvariant(), "0"));
        Assert.Equal("[1, 1, 0]", (await c.CallAsync("SCRIPT", "EXISTS", sha, sha.ToUpperInvariant(), "abc")).ToString());
        Assert.Equal("return 'loaded'", await c.CallTextAsync("SCRIPT", "SHOW", sha));
        Assert.Equal("NOSCRIPT No matching script.", await ErrorOf(c, "EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"));
        Assert.Equal("NOSCRIPT No matching script.", await ErrorOf(c, "EVALSHA", "abc", "0"));
        Assert.Equal("ERR Number of keys can't be negative", await ErrorOf(c, "EVAL", "return 1", "-1"));
        Assert.Equal("ERR Number of keys can't be greater than number of args", await ErrorOf(c, "EVAL", "return 1", "2", "a"));
        Assert.Equal("ERR value is not an integer or out of range", await ErrorOf(c, "EVAL", "return 1", "x"));
        Assert.Equal("ERR SCRIPT FLUSH only support SYNC|ASYNC option", await ErrorOf(c, "SCRIPT", "FLUSH", "LATER"));
    }

    [Fact]
    public async Task ShebangFlagsAndReadOnlyVariants()
    {
        await using var c = await _server.ConnectAsync();
        Assert.StartsWith("ERR Write commands are not allowed from read-only scripts. script: ",
            await ErrorOf(c, "EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0"));
        Assert.EndsWith("on @user_script:2.", await ErrorOf(c, "EVAL", "#!lua flags=no-writes\nreturn redis.call('set','a','b')", "0"));
        Assert.Equal("ERR Unexpected flag in script shebang: bad", await ErrorOf(c, "EVAL", "#!lua flags=bad\nreturn 1", "0"));
        Assert.Equal("ERR Unexpected engine in script shebang: #!luax", await ErrorOf(c, "EVAL", "#!luax\nreturn 1", "0"));
        Assert.Equal("ERR Unknown lua shebang option: foo=bar", await ErrorOf(c, "EVAL", "#!lua foo=bar\nreturn 1", "0"));
        Assert.Equal("ERR Invalid script shebang", await ErrorOf(c, "EVAL", "#!lua", "0"));
        Assert.Equal("ERR Can not execute a script with write flag using *_ro command.", await ErrorOf(c, "EVAL_RO", "#!lua\nreturn 1", "0"));
        Assert.StartsWith("ERR Write commands are not allowed from read-only scripts.", await ErrorOf(c, "EVAL_RO", "return redis.call('set','a','b')", "0"));
        Assert.Equal(1, (await c.CallAsync("EVAL_RO", "#!lua flags=no-writes\nreturn 1", "0")).Integer);
    }

    [Fact]
    public async Task BlockingCommandsDoNotBlockInsideScripts()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "blk:l");
        Assert.True((await c.CallAsync("EVAL", "return redis.call('blpop', KEYS[1], 0)", "1", "blk:l")).IsNull);
    }

    [Fact]
    public async Task PushesInsideAScriptWakeBlockedClientsAfterIt()
    {
        await using var waiter = await _server.ConnectAsync();
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "wake:l");
        await waiter.SendAsync("BLPOP", "wake:l", "5");
        await Task.Delay(100);
        // The script pushes then pops one: the waiter must get the element left when the script ended.
        await c.CallAsync("EVAL", "redis.call('rpush', KEYS[1], 'a', 'b') redis.call('lpop', KEYS[1]) return 1", "1", "wake:l");
        Assert.Equal("[wake:l, b]", (await waiter.ReadAsync()).ToString());
    }

    [Fact]
    public async Task ScriptsSeeTheirOwnDatabaseSelection()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SELECT", "2");
        await c.CallAsync("SET", "db:k", "two");
        Assert.Equal("two", await c.CallTextAsync("EVAL", "return redis.call('get', KEYS[1])", "1", "db:k"));
        // SELECT inside a script does not change the caller's database.
        await c.CallAsync("EVAL", "redis.call('select', 3) return 1", "0");
        Assert.Equal("two", await c.CallTextAsync("GET", "db:k"));
        Assert.StartsWith("ERR DB index is out of range", await ErrorOf(c, "EVAL", "return redis.call('select', 99)", "0"));
    }

    [Fact]
    public async Task InfoCountsCachedScripts()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("EVAL", "return 'info-count'", "0");
        string info = (await c.CallTextAsync("INFO", "memory"))!;
        long cached = long.Parse(info.Split("\r\n").First(l => l.StartsWith("number_of_cached_scripts:"))["number_of_cached_scripts:".Length..]);
        Assert.True(cached >= 1);
        long lua = long.Parse(info.Split("\r\n").First(l => l.StartsWith("used_memory_lua:"))["used_memory_lua:".Length..]);
        Assert.True(lua > 0);
    }
}
