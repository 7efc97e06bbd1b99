using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Commands;

/// <summary>String commands over TCP (RESP2). Every expectation was checked against a real Valkey 8.</summary>
public sealed class StringCommandTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public StringCommandTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task SetAndGetRoundTripBinaryAndEmptyValues()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:bin", new byte[] { 0, 255, 13, 10 }));
        var r = await c.CallAsync("GET", "s:bin");
        Assert.Equal(new byte[] { 0, 255, 13, 10 }, r.Bytes);
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:empty", ""));
        Assert.Equal("", await c.CallTextAsync("GET", "s:empty"));
        Assert.Null(await c.CallTextAsync("GET", "s:missing"));
    }

    [Fact]
    public async Task SetOverwritesWithDifferentLengths()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:ow", "abc");
        await c.CallAsync("SET", "s:ow", "xyz");
        Assert.Equal("xyz", await c.CallTextAsync("GET", "s:ow"));
        var big = new string('x', 100_000);
        await c.CallAsync("SET", "s:ow", big);
        Assert.Equal(big, await c.CallTextAsync("GET", "s:ow"));
        await c.CallAsync("SET", "s:ow", "1");
        Assert.Equal("1", await c.CallTextAsync("GET", "s:ow"));
    }

    [Fact]
    public async Task SetNxXxAndGetOptions()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:nx", "1", "NX"));
        Assert.Null(await c.CallTextAsync("SET", "s:nx", "2", "nx"));
        Assert.Equal("1", await c.CallTextAsync("GET", "s:nx"));
        Assert.Null(await c.CallTextAsync("SET", "s:xx", "1", "XX"));
        Assert.Null(await c.CallTextAsync("GET", "s:xx"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:nx", "3", "XX"));

        // GET returns the old value whether or not the write happens.
        Assert.Equal("3", await c.CallTextAsync("SET", "s:nx", "4", "GET"));
        Assert.Equal("4", await c.CallTextAsync("SET", "s:nx", "5", "GET", "NX"));
        Assert.Equal("4", await c.CallTextAsync("GET", "s:nx"));
        Assert.Null(await c.CallTextAsync("SET", "s:getxx", "v", "GET", "XX"));
        Assert.Null(await c.CallTextAsync("GET", "s:getxx"));
        Assert.Null(await c.CallTextAsync("SET", "s:getnx", "v", "GET", "NX"));
        Assert.Equal("v", await c.CallTextAsync("GET", "s:getnx"));
    }

    [Fact]
    public async Task SetRejectsConflictingAndUnknownOptions()
    {
        await using var c = await _server.ConnectAsync();
        foreach (var args in new[]
        {
            new object[] { "SET", "s:syn", "v", "NX", "XX" },
            new object[] { "SET", "s:syn", "v", "EX", "10", "PX", "100" },
            new object[] { "SET", "s:syn", "v", "EX", "10", "KEEPTTL" },
            new object[] { "SET", "s:syn", "v", "KEEPTTL", "PXAT", "100" },
            new object[] { "SET", "s:syn", "v", "PERSIST" },
            new object[] { "SET", "s:syn", "v", "EX" },
            new object[] { "SET", "s:syn", "v", "bogus" },
        })
        {
            await AssertError(c, "ERR syntax error", args);
        }
        // The same expire option twice is accepted (the last one wins).
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:syn", "v", "EX", "10", "EX", "20"));
    }

    [Fact]
    public async Task SetValidatesExpireTimes()
    {
        await using var c = await _server.ConnectAsync();
        await AssertError(c, "ERR invalid expire time in 'set' command", "SET", "s:exp", "v", "EX", "0");
        await AssertError(c, "ERR invalid expire time in 'set' command", "SET", "s:exp", "v", "PX", "-1");
        await AssertError(c, "ERR invalid expire time in 'set' command", "SET", "s:exp", "v", "EX", "9223372036854775807");
        await AssertError(c, "ERR invalid expire time in 'set' command", "SET", "s:exp", "v", "PX", "9223372036854775807");
        await AssertError(c, "ERR invalid expire time in 'set' command", "SET", "s:exp", "v", "EXAT", "9223372036854776");
        await AssertError(c, "ERR value is not an integer or out of range", "SET", "s:exp", "v", "EX", "1.5");
        await AssertError(c, "ERR invalid expire time in 'setex' command", "SETEX", "s:exp", "0", "v");
        await AssertError(c, "ERR invalid expire time in 'psetex' command", "PSETEX", "s:exp", "-5", "v");
        Assert.Null(await c.CallTextAsync("GET", "s:exp"));
    }

    [Fact]
    public async Task ExpireInThePastDeletesTheKey()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:past", "v");
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:past", "v2", "EXAT", "1"));
        Assert.Null(await c.CallTextAsync("GET", "s:past"));
        await c.CallAsync("SET", "s:past", "v");
        Assert.Equal("v", await c.CallTextAsync("SET", "s:past", "v2", "PXAT", "1", "GET"));
        Assert.Null(await c.CallTextAsync("GET", "s:past"));
        await c.CallAsync("SET", "s:past", "v");
        Assert.Equal("v", await c.CallTextAsync("GETEX", "s:past", "EXAT", "1"));
        Assert.Null(await c.CallTextAsync("GET", "s:past"));
    }

    [Fact]
    public async Task RelativeExpiresTakeEffect()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:px", "v", "PX", "150"));
        Assert.Equal("OK", await c.CallTextAsync("PSETEX", "s:psetex", "150", "v"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:keep", "v", "PX", "150"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:keep", "v2", "KEEPTTL"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:drop", "v", "PX", "150"));
        Assert.Equal("OK", await c.CallTextAsync("SET", "s:drop", "v2"));
        await c.CallAsync("SET", "s:persist", "v", "PX", "150");
        Assert.Equal("v", await c.CallTextAsync("GETEX", "s:persist", "PERSIST"));
        await c.CallAsync("SET", "s:getex", "v");
        Assert.Equal("v", await c.CallTextAsync("GETEX", "s:getex", "PX", "150"));
        await Task.Delay(400);
        Assert.Null(await c.CallTextAsync("GET", "s:px"));
        Assert.Null(await c.CallTextAsync("GET", "s:psetex"));
        Assert.Null(await c.CallTextAsync("GET", "s:keep"));
        Assert.Equal("v2", await c.CallTextAsync("GET", "s:drop"));
        Assert.Equal("v", await c.CallTextAsync("GET", "s:persist"));
        Assert.Null(await c.CallTextAsync("GET", "s:getex"));
    }

    [Fact]
    public async Task GetExValidatesOptionsAndTimes()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:gx", "v");
        await AssertError(c, "ERR syntax error", "GETEX", "s:gx", "EX", "10", "PX", "10");
        await AssertError(c, "ERR syntax error", "GETEX", "s:gx", "PERSIST", "EX", "10");
        await AssertError(c, "ERR syntax error", "GETEX", "s:gx", "KEEPTTL");
        await AssertError(c, "ERR syntax error", "GETEX", "s:gx", "NX");
        await AssertError(c, "ERR invalid expire time in 'getex' command", "GETEX", "s:gx", "EX", "0");
        await AssertError(c, "ERR value is not an integer or out of range", "GETEX", "s:gx", "EX", "x");
        // A missing key answers null before the time is even parsed.
        Assert.Null(await c.CallTextAsync("GETEX", "s:gx-missing", "EX", "x"));
        Assert.Equal("v", await c.CallTextAsync("GETEX", "s:gx"));
    }

    [Fact]
    public async Task SetNxSetExAndGetSetGetDel()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(1, (await c.CallAsync("SETNX", "s:snx", "a")).Integer);
        Assert.Equal(0, (await c.CallAsync("SETNX", "s:snx", "b")).Integer);
        Assert.Equal("a", await c.CallTextAsync("GET", "s:snx"));
        Assert.Equal("OK", await c.CallTextAsync("SETEX", "s:setex", "100", "v"));
        Assert.Equal("v", await c.CallTextAsync("GET", "s:setex"));
        Assert.Null(await c.CallTextAsync("GETSET", "s:gs", "1"));
        Assert.Equal("1", await c.CallTextAsync("GETSET", "s:gs", "2"));
        Assert.Equal("2", await c.CallTextAsync("GETDEL", "s:gs"));
        Assert.Null(await c.CallTextAsync("GETDEL", "s:gs"));
        Assert.Null(await c.CallTextAsync("GET", "s:gs"));
    }

    [Fact]
    public async Task MultiKeyGetAndSet()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("MSET", "s:m1", "a", "s:m2", "b"));
        Assert.Equal("[a, b, (nil)]", (await c.CallAsync("MGET", "s:m1", "s:m2", "s:m3")).ToString());
        await AssertError(c, "ERR wrong number of arguments for 'mset' command", "MSET", "s:m1", "a", "s:m2");
        await AssertError(c, "ERR wrong number of arguments for 'msetnx' command", "MSETNX", "s:m1", "a", "s:m2");
        Assert.Equal(0, (await c.CallAsync("MSETNX", "s:m3", "c", "s:m1", "x")).Integer);
        Assert.Null(await c.CallTextAsync("GET", "s:m3"));
        Assert.Equal(1, (await c.CallAsync("MSETNX", "s:m3", "c", "s:m4", "d", "s:m3", "e")).Integer);
        Assert.Equal("e", await c.CallTextAsync("GET", "s:m3"));
        Assert.Equal("OK", await c.CallTextAsync("MSET", "s:m5", "1", "s:m5", "2"));
        Assert.Equal("2", await c.CallTextAsync("GET", "s:m5"));
    }

    [Fact]
    public async Task IncrAndDecrFamily()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(1, (await c.CallAsync("INCR", "s:cnt")).Integer);
        Assert.Equal(0, (await c.CallAsync("DECR", "s:cnt")).Integer);
        Assert.Equal(17179869184, (await c.CallAsync("INCRBY", "s:cnt", "17179869184")).Integer);
        Assert.Equal(-1, (await c.CallAsync("DECRBY", "s:cnt", "17179869185")).Integer);
        Assert.Equal("-1", await c.CallTextAsync("GET", "s:cnt"));
        Assert.Equal(-5, (await c.CallAsync("DECRBY", "s:cnt-new", "5")).Integer);

        await c.CallAsync("SET", "s:cnt", "9223372036854775807");
        await AssertError(c, "ERR increment or decrement would overflow", "INCR", "s:cnt");
        await c.CallAsync("SET", "s:cnt", "-9223372036854775808");
        await AssertError(c, "ERR increment or decrement would overflow", "DECR", "s:cnt");
        await AssertError(c, "ERR decrement would overflow", "DECRBY", "s:cnt", "-9223372036854775808");
        await AssertError(c, "ERR value is not an integer or out of range", "INCRBY", "s:cnt", "1.5");
        await AssertError(c, "ERR wrong number of arguments for 'incr' command", "INCR", "s:cnt", "1");

        foreach (var bad in new[] { " 11", "11 ", "011", "+1", "1e3", "abc", "" })
        {
            await c.CallAsync("SET", "s:bad", bad);
            await AssertError(c, "ERR value is not an integer or out of range", "INCR", "s:bad");
        }
    }

    [Fact]
    public async Task IncrWorksOnAppendedValues()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:ia", "1");
        Assert.Equal(2, (await c.CallAsync("APPEND", "s:ia", "2")).Integer);
        Assert.Equal(13, (await c.CallAsync("INCR", "s:ia")).Integer);
        Assert.Equal("13", await c.CallTextAsync("GET", "s:ia"));
    }

    [Theory]
    [InlineData("10.5", "0.1", "10.6")]
    [InlineData("1", "-1.1", "-0.1")]
    [InlineData("5.0e3", "2.0e2", "5200")]
    [InlineData("0", "0.1", "0.1")]
    [InlineData("1", "0x10", "17")]
    [InlineData("1e-20", "0", "0")]
    [InlineData("-1e-20", "0", "0")]
    [InlineData("0.3", "-0.1", "0.2")]
    [InlineData("123456789012345678901234567890", "0.5", "123456789012345678899921813504")]
    [InlineData("0.024390243902439025", "-0.024390243902439025", "0")]
    [InlineData("1.23456789012345678901234567890", "0", "1.23456789012345679")]
    [InlineData("18446744073709551615", "1", "18446744073709551616")]
    public async Task IncrByFloatFollowsLongDoubleFormatting(string start, string incr, string expected)
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:f", start);
        Assert.Equal(expected, await c.CallTextAsync("INCRBYFLOAT", "s:f", incr));
        Assert.Equal(expected, await c.CallTextAsync("GET", "s:f"));
    }

    [Fact]
    public async Task IncrByFloatErrors()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:fe", "0");
        await AssertError(c, "ERR increment would produce NaN or Infinity", "INCRBYFLOAT", "s:fe", "+inf");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", "1.2e4932");
        await c.CallAsync("SET", "s:fe-big", "1e4932");
        await AssertError(c, "ERR increment would produce NaN or Infinity", "INCRBYFLOAT", "s:fe-big", "1e4932");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", "nan");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", " 1");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", "1 ");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", "1e5000");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", "1e-5000");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", "v");
        Assert.Equal("0", await c.CallTextAsync("GET", "s:fe"));
        // An embedded NUL ends strtold's number: the value is not a float.
        await c.CallAsync("SET", "s:fe", "1");
        await c.CallAsync("SETRANGE", "s:fe", "2", "2");
        await AssertError(c, "ERR value is not a valid float", "INCRBYFLOAT", "s:fe", "1");
        Assert.Equal("3", await c.CallTextAsync("INCRBYFLOAT", "s:fe-new", "3.0"));
    }

    [Fact]
    public async Task AppendAndStrlen()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(0, (await c.CallAsync("STRLEN", "s:app")).Integer);
        Assert.Equal(5, (await c.CallAsync("APPEND", "s:app", "hello")).Integer);
        Assert.Equal(11, (await c.CallAsync("APPEND", "s:app", " world")).Integer);
        Assert.Equal("hello world", await c.CallTextAsync("GET", "s:app"));
        Assert.Equal(11, (await c.CallAsync("STRLEN", "s:app")).Integer);
        await c.CallAsync("SET", "s:app", "12345");
        Assert.Equal(5, (await c.CallAsync("STRLEN", "s:app")).Integer);
    }

    [Fact]
    public async Task GetRangeAndSubstr()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:gr", "Hello World");
        Assert.Equal("Hello", await c.CallTextAsync("GETRANGE", "s:gr", "0", "4"));
        Assert.Equal("World", await c.CallTextAsync("GETRANGE", "s:gr", "-5", "-1"));
        Assert.Equal("Hello World", await c.CallTextAsync("GETRANGE", "s:gr", "0", "-1"));
        Assert.Equal("", await c.CallTextAsync("GETRANGE", "s:gr", "5", "3"));
        Assert.Equal("", await c.CallTextAsync("GETRANGE", "s:gr", "-1", "-5"));
        Assert.Equal("Hello World", await c.CallTextAsync("GETRANGE", "s:gr", "0", "4294967297"));
        Assert.Equal("", await c.CallTextAsync("GETRANGE", "s:gr-missing", "0", "-1"));
        await c.CallAsync("SET", "s:sub", "abcde");
        Assert.Equal("bcde", await c.CallTextAsync("SUBSTR", "s:sub", "-4", "-1"));
        await AssertError(c, "ERR value is not an integer or out of range", "GETRANGE", "s:gr", "a", "1");
    }

    [Fact]
    public async Task SetRangePadsAndValidates()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(0, (await c.CallAsync("SETRANGE", "s:sr", "0", "")).Integer);
        Assert.Null(await c.CallTextAsync("GET", "s:sr"));
        Assert.Equal(4, (await c.CallAsync("SETRANGE", "s:sr", "1", "foo")).Integer);
        Assert.Equal("\0foo", await c.CallTextAsync("GET", "s:sr"));
        await c.CallAsync("SET", "s:sr", "Hello World");
        Assert.Equal(11, (await c.CallAsync("SETRANGE", "s:sr", "6", "Redis")).Integer);
        Assert.Equal("Hello Redis", await c.CallTextAsync("GET", "s:sr"));
        Assert.Equal(11, (await c.CallAsync("SETRANGE", "s:sr", "100", "")).Integer);
        await AssertError(c, "ERR offset is out of range", "SETRANGE", "s:sr", "-1", "x");
        await AssertError(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "s:sr", "536870908", "world");
        await AssertError(c, "ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE", "s:sr", "9223372036854775807", "A");
        await AssertError(c, "ERR value is not an integer or out of range", "SETRANGE", "s:sr", "x", "A");
    }

    [Fact]
    public async Task LcsVariants()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("MSET", "s:lcs1", "ohmytext", "s:lcs2", "mynewtext");
        Assert.Equal("mytext", await c.CallTextAsync("LCS", "s:lcs1", "s:lcs2"));
        Assert.Equal(6, (await c.CallAsync("LCS", "s:lcs1", "s:lcs2", "LEN")).Integer);
        Assert.Equal("[matches, [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], len, 6]",
            (await c.CallAsync("LCS", "s:lcs1", "s:lcs2", "IDX")).ToString());
        Assert.Equal("[matches, [[[4, 7], [5, 8], 4]], len, 6]",
            (await c.CallAsync("LCS", "s:lcs1", "s:lcs2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")).ToString());
        Assert.Equal("", await c.CallTextAsync("LCS", "s:lcs-none1", "s:lcs-none2"));
        Assert.Equal("[matches, [], len, 0]", (await c.CallAsync("LCS", "s:lcs-none1", "s:lcs-none2", "IDX")).ToString());
        await AssertError(c, "ERR If you want both the length and indexes, please just use IDX.", "LCS", "s:lcs1", "s:lcs2", "IDX", "LEN");
        await AssertError(c, "ERR syntax error", "LCS", "s:lcs1", "s:lcs2", "MINMATCHLEN");
        await AssertError(c, "ERR value is not an integer or out of range", "LCS", "s:lcs1", "s:lcs2", "MINMATCHLEN", "x");
    }

    [Fact]
    public async Task GetReplyBytesAreExact()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "s:raw", "abc");
        await c.SendAsync("GET", "s:raw");
        Assert.Equal("$3\r\nabc\r\n", await c.ReadRawAsync(9));
        await c.SendAsync("GET", "s:raw-missing");
        Assert.Equal("$-1\r\n", await c.ReadRawAsync(5));
        await c.SendAsync("INCRBYFLOAT", "s:raw-f", "1.5");
        Assert.Equal("$3\r\n1.5\r\n", await c.ReadRawAsync(9));
    }
}

/// <summary>Size limits tied to proto-max-bulk-len, on a server started with the 1 MB minimum.</summary>
public sealed class StringSizeLimitTests
{
    [Fact]
    public async Task LimitsFollowProtoMaxBulkLen()
    {
        await using var server = await TestServer.StartAsync(("proto-max-bulk-len", "1048576"));
        await using var c = await server.ConnectAsync();
        const string tooBig = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

        var r = await c.CallAsync("SETRANGE", "k", "1048575", "ab");
        Assert.Equal(tooBig, r.Text);
        Assert.Equal(1048576, (await c.CallAsync("SETRANGE", "k", "1048575", "a")).Integer);
        Assert.Equal(tooBig, (await c.CallAsync("APPEND", "k", "b")).Text);
        Assert.Equal("ERR bit offset is not an integer or out of range", (await c.CallAsync("SETBIT", "b", "8388608", "1")).Text);
        Assert.Equal(0, (await c.CallAsync("SETBIT", "b", "8388607", "1")).Integer);
        Assert.Equal("ERR bit offset is not an integer or out of range", (await c.CallAsync("BITFIELD", "b", "GET", "u8", "#1048576")).Text);

        var a = new string('a', 1000);
        await c.CallAsync("MSET", "l1", a, "l2", a);
        Assert.Equal("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            (await c.CallAsync("LCS", "l1", "l2")).Text);
        await c.CallAsync("MSET", "l1", "abc", "l2", "xbc");
        Assert.Equal("bc", await c.CallTextAsync("LCS", "l1", "l2"));
    }
}
