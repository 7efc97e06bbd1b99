using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Scripting;

/// <summary>
/// A script running past busy-reply-threshold: other clients get -BUSY, SCRIPT KILL / FUNCTION
/// KILL stop it (unless it wrote), and the effects of scripts reach replicas as one MULTI/EXEC.
/// </summary>
public sealed class ScriptBusyTests
{

    /// <summary>The next command of the replication stream, skipping the periodic PINGs.</summary>
    private static async Task<string> NextEffectAsync(RespClient replica)
    {
        while (true)
        {
            string line = string.Join(' ', (await replica.ReadAsync()).Items!.Select(x => x.Text));
            if (line != "PING") return line;
        }
    }

    private static async Task<RespValue> PollUntilBusyAsync(RespClient c)
    {
        for (int i = 0; i < 200; i++)
        {
            var r = await c.CallAsync("PING");
            if (r.IsError) return r;
            await Task.Delay(20);
        }
        throw new TimeoutException("the script never became busy");
    }

    [Fact]
    public async Task BusyScriptIsKilledWithScriptKill()
    {
        await using var server = await TestServer.StartAsync(("busy-reply-threshold", "100"));
        await using var runner = await server.ConnectAsync();
        await using var other = await server.ConnectAsync();
        await runner.SendAsync("EVAL", "local i = 0 while true do i = i + 1 end", "0");
        var busy = await PollUntilBusyAsync(other);
        Assert.Equal("BUSY Valkey is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", busy.Text);
        var stats = await other.CallAsync("FUNCTION", "STATS");
        Assert.Contains("duration_ms", stats.ToString());
        Assert.Equal("BUSY Valkey is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
            (await other.CallAsync("FUNCTION", "KILL")).Text);
        Assert.Equal("OK", await other.CallTextAsync("SCRIPT", "KILL"));
        var killed = await runner.ReadAsync();
        Assert.StartsWith("ERR Script killed by user with SCRIPT KILL.", killed.Text);
        Assert.Equal("PONG", await other.CallTextAsync("PING"));
        Assert.Equal("NOTBUSY No scripts in execution right now.", (await other.CallAsync("SCRIPT", "KILL")).Text);
    }

    [Fact]
    public async Task PcallCannotCatchAKill()
    {
        await using var server = await TestServer.StartAsync(("busy-reply-threshold", "100"));
        await using var runner = await server.ConnectAsync();
        await using var other = await server.ConnectAsync();
        await runner.SendAsync("EVAL", "while true do pcall(function() while true do end end) end", "0");
        await PollUntilBusyAsync(other);
        Assert.Equal("OK", await other.CallTextAsync("SCRIPT", "KILL"));
        Assert.StartsWith("ERR Script killed by user with SCRIPT KILL.", (await runner.ReadAsync()).Text);
    }

    [Fact]
    public async Task AScriptThatWroteCannotBeKilled()
    {
        await using var server = await TestServer.StartAsync(("busy-reply-threshold", "100"));
        await using var runner = await server.ConnectAsync();
        await using var other = await server.ConnectAsync();
        await runner.SendAsync("EVAL", "redis.call('set', 'w', '1') local i = 0 while i < 5e7 do i = i + 1 end return 'done'", "0");
        await PollUntilBusyAsync(other);
        Assert.StartsWith("UNKILLABLE Sorry the script already executed write commands", (await other.CallAsync("SCRIPT", "KILL")).Text);
        Assert.Equal("done", (await runner.ReadAsync()).Text);
        Assert.Equal("1", await other.CallTextAsync("GET", "w"));
    }

    [Fact]
    public async Task BusyFunctionIsKilledWithFunctionKill()
    {
        await using var server = await TestServer.StartAsync(("busy-reply-threshold", "100"));
        await using var runner = await server.ConnectAsync();
        await using var other = await server.ConnectAsync();
        await runner.CallAsync("FUNCTION", "LOAD", "#!lua name=spin\nserver.register_function{function_name='spin', callback=function() while true do end end, flags={'no-writes'}}");
        await runner.SendAsync("FCALL", "spin", "0");
        var busy = await PollUntilBusyAsync(other);
        Assert.Equal("BUSY Valkey is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.", busy.Text);
        Assert.Equal("OK", await other.CallTextAsync("FUNCTION", "KILL"));
        Assert.StartsWith("ERR Script killed by user with FUNCTION KILL.", (await runner.ReadAsync()).Text);
    }

    [Fact]
    public async Task ScriptEffectsReachReplicasAsOneTransaction()
    {
        await using var server = await TestServer.StartAsync();
        await using var replica = await ReplicationStream.AttachAsync(server);
        await using var c = await server.ConnectAsync();
        await c.CallAsync("EVAL", "redis.call('set', KEYS[1], 'a') redis.call('get', KEYS[1]) redis.call('incr', KEYS[2]) return 1", "2", "rk1", "rk2");
        var seen = new List<string>();
        for (int i = 0; i < 5; i++) seen.Add(await NextEffectAsync(replica));
        Assert.Equal(new[] { "MULTI", "SELECT 0", "set rk1 a", "incr rk2", "EXEC" }, seen);
        // A script with one write propagates just that command.
        await c.CallAsync("EVAL", "return redis.call('del', KEYS[1])", "1", "rk1");
        Assert.Equal("del rk1", await NextEffectAsync(replica));
    }

    [Fact]
    public async Task SetReplKeepsCommandsFromReplicas()
    {
        await using var server = await TestServer.StartAsync();
        await using var replica = await ReplicationStream.AttachAsync(server);
        await using var c = await server.ConnectAsync();
        await c.CallAsync("EVAL", "redis.set_repl(redis.REPL_NONE) redis.call('set', 'hidden', '1') " +
                                  "redis.set_repl(redis.REPL_ALL) redis.call('set', 'shown', '2') return 1", "0");
        Assert.Equal("SELECT 0", await NextEffectAsync(replica));
        Assert.Equal("set shown 2", await NextEffectAsync(replica));
        Assert.StartsWith("ERR Invalid replication flags.", (await c.CallAsync("EVAL", "redis.set_repl(12)", "0")).Text);
    }

    [Fact]
    public async Task WritePauseHoldsScriptsThatMayWrite()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        await using var writer = await server.ConnectAsync();
        await using var reader = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "PAUSE", "60000", "WRITE"));
        await writer.SendAsync("EVAL", "return 1", "0");
        // Scripts that declare no-writes, and the _RO commands, run during a write pause.
        Assert.Equal(2, (await reader.CallAsync("EVAL", "#!lua flags=no-writes\nreturn 2", "0")).Integer);
        Assert.Equal(3, (await reader.CallAsync("EVAL_RO", "return 3", "0")).Integer);
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "UNPAUSE"));
        Assert.Equal(1, (await writer.ReadAsync()).Integer);
    }

    [Fact]
    public async Task SlowLogShowsTheScriptAndTheCommandsItRan()
    {
        await using var server = await TestServer.StartAsync(("slowlog-log-slower-than", "0"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SLOWLOG", "RESET");
        await c.CallAsync("EVAL", "redis.call('echo', 'inner') return 1", "0");
        var log = (await c.CallAsync("SLOWLOG", "GET")).Items!;
        // Newest first: EVAL, the ECHO it ran (with the caller's address), SLOWLOG RESET.
        Assert.Equal("eval", log[0].Items![3].Items![0].Text!.ToLowerInvariant());
        Assert.Equal("[echo, inner]", log[1].Items![3].ToString());
        Assert.Equal(log[0].Items![4].Text, log[1].Items![4].Text);
    }

    [Fact]
    public async Task OnAReadOnlyReplicaOnlyReadsRun()
    {
        await using var server = await TestServer.StartAsync(("replicaof", "127.0.0.1 1"));
        await using var c = await server.ConnectAsync();
        Assert.Equal("READONLY You can't write against a read only replica. script: ff967d0ae0e68b4f9e360fa91c54598bc25ad9b6, on @user_script:1.",
            (await c.CallAsync("EVAL", "return redis.call('set','a','b')", "0")).Text);
        Assert.Equal("READONLY Can not run script with write flag on readonly replica",
            (await c.CallAsync("EVAL", "#!lua\nreturn redis.call('set','a','b')", "0")).Text);
        Assert.True((await c.CallAsync("EVAL", "#!lua flags=no-writes\nreturn redis.call('get','a')", "0")).IsNull);
    }
}
