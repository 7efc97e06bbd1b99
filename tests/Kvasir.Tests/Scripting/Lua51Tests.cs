using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Scripting.ScriptAssert;

namespace Kvasir.Tests.Scripting;

/// <summary>
/// Scripts run on Lua 5.1.5 as in Valkey: each expectation is what Valkey 8 answers to the same
/// script (the differences a Lua 5.4 engine showed: number printing, syntax, setfenv, math.huge,
/// _VERSION, compile errors, NOSCRIPT, and the libraries' edge cases).
/// </summary>
public sealed class Lua51Tests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public Lua51Tests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task IntegralResultsOfDivisionPrintWithoutAFraction()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "l51:k");
        // A key name built with .. from 8/4 is "n:2", not "n:2.0".
        Assert.Equal("OK", await c.CallTextAsync("EVAL", "return redis.call('SET', KEYS[1], 'n:' .. 8/4)", "1", "l51:k"));
        Assert.Equal("n:2", await c.CallTextAsync("GET", "l51:k"));
        Assert.Equal("1", await c.CallTextAsync("EVAL", "return string.format('%s', 7/7)", "0"));
        Assert.Equal("1", await c.CallTextAsync("EVAL", "return tostring(7/7)", "0"));
        Assert.Equal("1e+15 1e+16 9.007199254741e+15", await c.CallTextAsync("EVAL",
            "return tostring(1e15) .. ' ' .. tostring(1e16) .. ' ' .. tostring(2^53)", "0"));
    }

    [Fact]
    public async Task Lua53SyntaxDoesNotCompile()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR Error compiling script (new function): user_script:1: unexpected symbol near '/'",
            await ErrorOf(c, "EVAL", "return 7 // 2", "0"));
        Assert.Equal("ERR Error compiling script (new function): user_script:1: '<eof>' expected near '&'",
            await ErrorOf(c, "EVAL", "return 1 & 3", "0"));
        Assert.Equal("ERR Error compiling script (new function): user_script:1: '=' expected near 'continue'",
            await ErrorOf(c, "EVAL", "goto continue", "0"));
    }

    [Fact]
    public async Task VersionAndFunctionEnvironments()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("Lua 5.1", await c.CallTextAsync("EVAL", "return _VERSION", "0"));
        Assert.Equal("5", await c.CallTextAsync("EVAL", "local f = function() return x end setfenv(f, {x = 5}) return f()", "0"));
        Assert.Equal(1, (await c.CallAsync("EVAL", "return getfenv(0) == _G", "0")).Integer);
        Assert.Equal("userdata", await c.CallTextAsync("EVAL", "return type(newproxy())", "0"));
        // 5.1's library names are the real ones.
        Assert.Equal("1024 1 3 2", await c.CallTextAsync("EVAL",
            "return math.pow(2, 10) .. ' ' .. math.mod(10, 3) .. ' ' .. table.getn({1,2,3}) .. ' ' .. select('#', unpack({1, 2}))", "0"));
    }

    [Fact]
    public async Task NonFiniteNumbersConvertLikeACCast()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(long.MinValue, (await c.CallAsync("EVAL", "return math.huge", "0")).Integer);
        Assert.Equal(long.MinValue, (await c.CallAsync("EVAL", "return -math.huge", "0")).Integer);
        Assert.Equal(long.MinValue, (await c.CallAsync("EVAL", "return 0/0", "0")).Integer);
        Assert.Equal(long.MinValue, (await c.CallAsync("EVAL", "return 1e19", "0")).Integer);
    }

    [Theory]
    [InlineData("1/3", "0.3333333333333333")]
    [InlineData("1e21", "1e+21")]
    [InlineData("1.5e-7", "1.5e-7")]
    [InlineData("2^63", "9223372036854776000")]
    [InlineData("math.huge", "inf")]
    [InlineData("0/0", "-nan")]
    [InlineData("-0.0", "0")]
    [InlineData("123456789012.5", "123456789012.5")]
    public async Task NumberArgumentsReachCommandsAsValkeyWritesThem(string expression, string stored)
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(stored, await c.CallTextAsync("EVAL", $"redis.call('set', KEYS[1], {expression}) return redis.call('get', KEYS[1])", "1", "l51:n"));
    }

    [Fact]
    public async Task UnknownShaAnswersValkeysNoscript()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("NOSCRIPT No matching script.", await ErrorOf(c, "EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"));
        Assert.Equal("NOSCRIPT No matching script.", await ErrorOf(c, "SCRIPT", "SHOW", "ffffffffffffffffffffffffffffffffffffffff"));
    }

    [Fact]
    public async Task RuntimeErrorsHaveLua51Texts()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR user_script:1: attempt to index field 'x' (a nil value) script: a3e688812e3164b24d5a4a070bf45fd27d50fc57, on @user_script:1.",
            await ErrorOf(c, "EVAL", "local t = {} t.x.y = 1", "0"));
        Assert.Equal("ERR user_script:1: attempt to compare number with string script: 6eb39b93a508ef218c3d802c1e5162ad876dfecf, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return 1 < 'x'", "0"));
        Assert.Equal("ERR user_script:1: bad argument #1 to 'pairs' (table expected, got nil) script: 1478527320b9f2d4cc09c243c05a74554e94f3bc, on @user_script:1.",
            await ErrorOf(c, "EVAL", "for k in pairs(nil) do end", "0"));
        // A binary chunk is read as text, as by Valkey's parser.
        Assert.Equal("ERR Error compiling script (new function): user_script:1: unexpected symbol near 'char(27)'",
            await ErrorOf(c, "EVAL", "\u001bLua", "0"));
    }

    [Fact]
    public async Task LibraryErrorsNameTheCallersLine()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR user_script:1: bad argument #1 to 'band' (number expected, got nil) script: c91ed4a315c5115e36db0a911417df1c5ee9abd5, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return bit.band(nil)", "0"));
        Assert.Equal("ERR user_script:1: bad argument #1 to 'pack' (invalid format option 'q') script: 1b5cc12c9373f0c88806e2dfc2bf83162eb3a0a1, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return struct.pack('q',1)", "0"));
        Assert.Equal("ERR user_script:1: Cannot serialise table: excessively sparse array script: 8882351370706f7a63afb200fd745dc53b1b426e, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return cjson.encode({[1]=1, [2]=2, [40]=4})", "0"));
        Assert.Equal("ERR user_script:1: bad argument #1 to 'random' (interval is empty) script: 008bcb60f86ee36d26c67b641b46674578d9cba0, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return math.random(0)", "0"));
        Assert.Equal("ERR Attempt to modify a readonly table script: e2c706419da183d6229a1230c3be09cc32cdeee0, on @user_script:1.",
            await ErrorOf(c, "EVAL", "rawset(_G, 'x', 1)", "0"));
    }

    [Fact]
    public async Task BitAndStructAsValkeyShipsThem()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("[4, ffffffff, 2, 0, 630506365, 0000FFFF, 2, -16, 2018915346]", (await c.CallAsync("EVAL",
            "return {bit.tobit(2^40+3.7), bit.tohex(-1), bit.band(1.5,3), bit.tobit(0/0), bit.tobit(1e100), bit.tohex(65535, -2147483648), " +
            "bit.rol(1, 33), bit.arshift(-256, 4), bit.bswap(0x12345678)}", "0")).ToString());
        Assert.Equal("[-5, 65535, 255, xyz, 11]", (await c.CallAsync("EVAL",
            "return {struct.unpack('>i4HBc3', struct.pack('>i4HBc3', -5, 65535, 255, 'xyz'))}", "0")).ToString());
        Assert.Equal(16, (await c.CallAsync("EVAL", "return struct.size('!4i3d')", "0")).Integer);
    }

    [Fact]
    public async Task CjsonAndCmsgpackRoundTrips()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("[1,2,3,0.1,0.33333333333333,1e+300,\"a\\/b\"]",
            await c.CallTextAsync("EVAL", "return cjson.encode({1,2,3,0.1,1/3,1e300, 'a/b'})", "0"));
        Assert.Equal("1.2345678901235e+17", await c.CallTextAsync("EVAL", "return tostring(cjson.decode('123456789012345678'))", "0"));
        Assert.Equal("1.2345678901235e+17", await c.CallTextAsync("EVAL", "return cjson.encode(123456789012345678)", "0"));
        Assert.Equal("[1, 2, 3, abc, -1, 1, 1099511627776, -1099511627776, 0, 1]", (await c.CallAsync("EVAL",
            "local t = {cmsgpack.unpack(cmsgpack.pack({1,2,3}, 'abc', -1, 1.5, 2^40, -2^40, 0.1, true, false))} " +
            "return {t[1][1], t[1][2], t[1][3], t[2], t[3], t[4], t[5], t[6], t[7], t[8]}", "0")).ToString());
        Assert.Equal(49, (await c.CallAsync("EVAL", "return cmsgpack.unpack(1)", "0")).Integer);
    }

    [Fact]
    public async Task KillStopsAScriptThatCatchesErrors()
    {
        await using var c = await _server.ConnectAsync();
        await using var other = await _server.ConnectAsync();
        await c.CallAsync("CONFIG", "SET", "busy-reply-threshold", "50");
        try
        {
            var running = c.CallAsync("EVAL", "local i = 0 while true do pcall(function() while true do i = i + 1 end end) end", "0");
            string? busy = null;
            for (int i = 0; i < 200 && busy is null; i++)
            {
                await Task.Delay(20);
                var r = await other.CallAsync("PING");
                if (r.Kind == '-') busy = r.Text;
            }
            Assert.StartsWith("BUSY", busy);
            Assert.Equal("OK", await other.CallTextAsync("SCRIPT", "KILL"));
            var result = await running;
            Assert.StartsWith("ERR Script killed by user with SCRIPT KILL. script: ", result.Text);
            Assert.EndsWith(", on @user_script:1.", result.Text);
            Assert.Equal("PONG", await c.CallTextAsync("PING"));
            Assert.Equal(2, (await c.CallAsync("EVAL", "return 1 + 1", "0")).Integer);
        }
        finally
        {
            await c.CallAsync("CONFIG", "SET", "busy-reply-threshold", "5000");
        }
    }

    [Fact]
    public async Task ServerCallTakesAnyNumberOfArgumentsAndKeepsTheCallersLine()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "l51:many");
        Assert.Equal(7999, (await c.CallAsync("EVAL",
            "local a = {} for i=1,7999 do a[i] = 1 end return redis.call('lpush', KEYS[1], unpack(a))", "1", "l51:many")).Integer);
        await c.CallAsync("SET", "l51:s", "x");
        // A tail call of server.call still names the script's line, as Valkey's C function does.
        Assert.Equal("ERR value is not an integer or out of range script: 2bab3b661081db58bd2341920e0ba7cf5dc77b25, on @user_script:1.",
            await ErrorOf(c, "EVAL", "return redis.call('incr', KEYS[1])", "1", "l51:s"));
    }

    [Fact]
    public async Task FunctionsRunOnLua51Too()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("FUNCTION", "LOAD", "REPLACE",
            "#!lua name=l51\nserver.register_function('l51v', function(keys, args) return {_VERSION, 'n:' .. 8/4, tostring(7/7)} end)");
        Assert.Equal("[Lua 5.1, n:2, 1]", (await c.CallAsync("FCALL", "l51v", "0")).ToString());
    }
}
