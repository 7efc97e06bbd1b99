using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Scripting.ScriptAssert;

namespace Kvasir.Tests.Scripting;

/// <summary>FUNCTION LOAD / FCALL / LIST / DUMP / RESTORE with the Lua engine. Checked against Valkey 8.</summary>
public sealed class FunctionTests
{
    private const string Library = "#!lua name=mylib\n" +
        "server.register_function('myget', function(keys, args) return redis.call('get', keys[1]) end)\n" +
        "server.register_function{function_name='myset', callback=function(keys, args) return redis.call('set', keys[1], args[1]) end, " +
        "description='sets', flags={}}\n" +
        "server.register_function{function_name='ro', callback=function(keys, args) return 'ro' end, flags={'no-writes'}}";


    [Fact]
    public async Task LoadCallListAndDelete()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("mylib", await c.CallTextAsync("FUNCTION", "LOAD", Library));
        Assert.Equal("OK", await c.CallTextAsync("FCALL", "myset", "1", "fk", "fv"));
        Assert.Equal("fv", await c.CallTextAsync("FCALL", "myget", "1", "fk"));
        Assert.Equal("ro", await c.CallTextAsync("FCALL_RO", "ro", "0"));
        Assert.Equal("ERR Can not execute a script with write flag using *_ro command.", await ErrorOf(c, "FCALL_RO", "myget", "1", "fk"));
        Assert.Equal("ERR Function not found", await ErrorOf(c, "FCALL", "nosuch", "0"));
        Assert.Equal("ERR Bad number of keys provided", await ErrorOf(c, "FCALL", "myget", "x"));
        Assert.Equal("ERR Library 'mylib' already exists", await ErrorOf(c, "FUNCTION", "LOAD", Library));
        Assert.Equal("mylib", await c.CallTextAsync("FUNCTION", "LOAD", "REPLACE", Library));
        var list = await c.CallAsync("FUNCTION", "LIST");
        Assert.Single(list.Items!);
        Assert.Contains("library_name, mylib", list.ToString());
        Assert.Contains("no-writes", list.ToString());
        Assert.Equal("OK", await c.CallTextAsync("FUNCTION", "DELETE", "mylib"));
        Assert.Equal("ERR Function not found", await ErrorOf(c, "FCALL", "myget", "1", "fk"));
    }

    [Fact]
    public async Task LoadErrorsAreValkeys()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        Assert.Equal("ERR Missing library metadata", await ErrorOf(c, "FUNCTION", "LOAD", "return 1"));
        Assert.Equal("ERR Engine 'python' not found", await ErrorOf(c, "FUNCTION", "LOAD", "#!python name=x\nreturn 1"));
        Assert.Equal("ERR No functions registered", await ErrorOf(c, "FUNCTION", "LOAD", "#!lua name=empty\nreturn 1"));
        Assert.StartsWith("ERR Error compiling function: user_function:2:", await ErrorOf(c, "FUNCTION", "LOAD", "#!lua name=bad\nthis is not lua"));
        Assert.Equal("ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'",
            await ErrorOf(c, "FUNCTION", "LOAD", "#!lua name=x\nredis.call('ping')"));
        Assert.Equal("ERR Error registering functions: ERR unknown flag given",
            await ErrorOf(c, "FUNCTION", "LOAD", "#!lua name=x\nserver.register_function{function_name='f', callback=function() end, flags={'bad'}}"));
        await c.CallAsync("FUNCTION", "LOAD", "#!lua name=a\nserver.register_function('shared', function() return 1 end)");
        Assert.Equal("ERR Function shared already exists",
            await ErrorOf(c, "FUNCTION", "LOAD", "#!lua name=b\nserver.register_function('shared', function() return 2 end)"));
        // Functions see the full environment when called, and run with the library's globals protected.
        await c.CallAsync("FUNCTION", "LOAD", "#!lua name=env\nserver.register_function('usestring', function() return string.upper('x') end)");
        Assert.Equal("X", await c.CallTextAsync("FCALL", "usestring", "0"));
    }

    [Fact]
    public async Task FunctionErrorsNameTheFunction()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("FUNCTION", "LOAD", "#!lua name=errs\nserver.register_function('bad_global', function() return nope end)");
        Assert.Equal("ERR user_function:2: Script attempted to access nonexistent global variable 'nope' script: bad_global, on @user_function:2.",
            await ErrorOf(c, "FCALL", "bad_global", "0"));
    }

    [Fact]
    public async Task DumpAndRestore()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("FUNCTION", "LOAD", Library);
        var dump = await c.CallAsync("FUNCTION", "DUMP");
        Assert.NotNull(dump.Bytes);
        Assert.Equal("ERR Library mylib already exists", await ErrorOf(c, "FUNCTION", "RESTORE", dump.Bytes!));
        Assert.Equal("OK", await c.CallTextAsync("FUNCTION", "FLUSH"));
        Assert.Equal("OK", await c.CallTextAsync("FUNCTION", "RESTORE", dump.Bytes!));
        Assert.Equal("ro", await c.CallTextAsync("FCALL", "ro", "0"));
        Assert.Equal("OK", await c.CallTextAsync("FUNCTION", "RESTORE", dump.Bytes!, "REPLACE"));
        Assert.Equal("ERR DUMP payload version or checksum are wrong", await ErrorOf(c, "FUNCTION", "RESTORE", "bad payload"));
        Assert.Equal("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            await ErrorOf(c, "FUNCTION", "RESTORE", dump.Bytes!, "MERGE"));
    }

    [Fact]
    public async Task LibrariesSurviveDebugReload()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("FUNCTION", "LOAD", Library);
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD"));
        Assert.Equal("ro", await c.CallTextAsync("FCALL", "ro", "0"));
        // Without flushing, the libraries already exist: the load fails, as in Valkey; MERGE replaces them.
        Assert.Equal("ERR Error trying to load the RDB dump, check server logs.", await ErrorOf(c, "DEBUG", "RELOAD", "NOFLUSH"));
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD", "NOFLUSH", "MERGE"));
        Assert.Equal("ro", await c.CallTextAsync("FCALL", "RO", "0"));
    }

    [Fact]
    public async Task StatsListTheEngine()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await c.CallAsync("FUNCTION", "LOAD", Library);
        var stats = await c.CallAsync("FUNCTION", "STATS");
        Assert.Equal("[running_script, (nil), engines, [LUA, [libraries_count, 1, functions_count, 3]]]", stats.ToString());
    }
}
