using System.Diagnostics;
using System.Text.RegularExpressions;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// Streams in RDB files, DUMP payloads and the AOF: a stream with groups, consumers and pending
/// entries survives SAVE and restart, DEBUG RELOAD, an AOF rewrite in either base format, and travels
/// both ways with Redis 7.0 (whose RDB 10 has STREAM_LISTPACKS_2: no consumer active time).
/// </summary>
public sealed class StreamPersistenceTests
{
    /// <summary>A stream with deletions, a trimmed head, two groups, pending entries and an idle consumer.</summary>
    internal static async Task PopulateAsync(RespClient c, string key = "s")
    {
        for (int i = 1; i <= 250; i++)
            await c.CallAsync("XADD", key, $"{1000 + i}-{i % 4}", "field", "value" + i, "n", (i * 31).ToString(), i % 10 == 0 ? "extra" : "field2", "x");
        await c.CallAsync("XDEL", key, "1010-2", "1100-0", "1101-1");
        await c.CallAsync("XTRIM", key, "MAXLEN", "240");
        await c.CallAsync("XGROUP", "CREATE", key, "g1", "0");
        await c.CallAsync("XGROUP", "CREATE", key, "g2", "1200-0");
        await c.CallAsync("XREADGROUP", "GROUP", "g1", "alice", "COUNT", "5", "STREAMS", key, ">");
        await c.CallAsync("XREADGROUP", "GROUP", "g1", "bob", "COUNT", "3", "STREAMS", key, ">");
        await c.CallAsync("XACK", key, "g1", "1012-0");
        await c.CallAsync("XCLAIM", key, "g1", "carol", "0", "1013-1", "TIME", "1700000000000", "RETRYCOUNT", "4");
        await c.CallAsync("XGROUP", "CREATECONSUMER", key, "g2", "dave");
        await c.CallAsync("XREADGROUP", "GROUP", "g2", "erin", "STREAMS", key, ">");
        await c.CallAsync("XADD", "empty", "MAXLEN", "0", "5-5", "f", "v");
        await c.CallAsync("XGROUP", "CREATE", "empty", "g", "$");
    }

    /// <summary>
    /// XINFO STREAM FULL (all entries) and XINFO GROUPS as text. Consumers' active-time is left out
    /// when <paramref name="withActiveTime"/> is false (Redis 7.0 has none).
    /// </summary>
    internal static async Task<string> DescribeAsync(RespClient c, string key = "s", bool withActiveTime = true)
    {
        var full = await c.CallAsync("XINFO", "STREAM", key, "FULL", "COUNT", "0");
        string text = full.ToString();
        if (!withActiveTime) text = Regex.Replace(text, @", active-time, -?\d+", "");
        return text + " | " + (await c.CallAsync("XINFO", "GROUPS", key)) + " | " + (await c.CallAsync("XINFO", "STREAM", "empty", "FULL"));
    }

    [Fact]
    public async Task SaveAndRestartKeepEverything()
    {
        var dir = Directory.CreateTempSubdirectory("kvasir-stream-rdb-").FullName;
        try
        {
            string before;
            await using (var first = await TestServer.StartInDirAsync(dir))
            {
                await using var c = await first.ConnectAsync();
                await PopulateAsync(c);
                before = await DescribeAsync(c);
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
            }
            await using var second = await TestServer.StartInDirAsync(dir);
            await using var c2 = await second.ConnectAsync();
            Assert.Equal(before, await DescribeAsync(c2));
            Assert.Equal("stream", await c2.CallTextAsync("OBJECT", "ENCODING", "s"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task DebugReloadAndAofRewritesKeepEverything()
    {
        foreach (var preamble in new[] { "yes", "no" })
        {
            await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"), ("appendonly", "yes"), ("aof-use-rdb-preamble", preamble));
            await using var c = await server.ConnectAsync();
            await PopulateAsync(c);
            string before = await DescribeAsync(c);
            Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD"));
            Assert.Equal(before, await DescribeAsync(c));
            // The AOF of commands as they were propagated (XREADGROUP as XCLAIM, trims made exact).
            Assert.Equal("OK", await c.CallTextAsync("DEBUG", "LOADAOF"));
            // Consumer times are "now" when replayed from commands; the rest must be the same.
            Assert.Equal(WithoutTimes(before), WithoutTimes(await DescribeAsync(c)));
            Assert.Equal("Background append only file rewriting started", await c.CallTextAsync("BGREWRITEAOF"));
            for (int i = 0; i < 500 && (await c.CallTextAsync("INFO", "persistence"))!.Contains("aof_rewrite_in_progress:1"); i++) await Task.Delay(20);
            await Task.Delay(100);
            Assert.Equal("OK", await c.CallTextAsync("DEBUG", "LOADAOF"));
            Assert.Equal(WithoutTimes(before), WithoutTimes(await DescribeAsync(c)));
        }
    }

    /// <summary>Drops seen/active times (and XINFO GROUPS is unaffected): replaying commands makes them "now".</summary>
    private static string WithoutTimes(string description) => Regex.Replace(description, @"(seen-time|active-time), -?\d+", "$1");

    [Fact]
    public async Task DumpRestoreKeepsGroupsAndTimes()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        await PopulateAsync(c);
        string before = await DescribeAsync(c);
        var payload = (await c.CallAsync("DUMP", "s")).Bytes!;
        Assert.Equal(21, payload[0]); // RDB_TYPE_STREAM_LISTPACKS_3
        await c.CallAsync("DEL", "s");
        Assert.Equal("OK", await c.CallTextAsync("RESTORE", "s", "0", payload));
        Assert.Equal(before, await DescribeAsync(c));
        var damaged = (byte[])payload.Clone();
        damaged[40] ^= 0x55;
        Assert.Equal("ERR DUMP payload version or checksum are wrong", (await c.CallAsync("RESTORE", "t", "0", damaged)).Text);
    }

    [Fact]
    public async Task DamagedPayloadsAreRefusedOrLeaveAUsableStream()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"));
        await using var c = await server.ConnectAsync();
        await PopulateAsync(c);
        var payload = (await c.CallAsync("DUMP", "s")).Bytes!;
        await c.CallAsync("DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1");
        var rnd = new Random(12);
        int restored = 0;
        for (int i = 0; i < 300; i++)
        {
            var damaged = (byte[])payload.Clone();
            int flips = 1 + rnd.Next(3);
            for (int f = 0; f < flips; f++) damaged[rnd.Next(damaged.Length - 10)] ^= (byte)(1 << rnd.Next(8));
            if (rnd.Next(4) == 0) damaged = damaged.AsSpan(0, rnd.Next(damaged.Length - 10)).ToArray().Concat(damaged.AsSpan(damaged.Length - 10).ToArray()).ToArray();
            var r = await c.CallAsync("RESTORE", "fuzz", "0", damaged, "REPLACE");
            if (r.IsError)
            {
                Assert.Equal("ERR Bad data format", r.Text);
                continue;
            }
            restored++;
            // Whatever was accepted must be readable and writable without harm.
            await c.CallAsync("XRANGE", "fuzz", "-", "+", "COUNT", "50");
            await c.CallAsync("XREVRANGE", "fuzz", "+", "-", "COUNT", "50");
            await c.CallAsync("XINFO", "STREAM", "fuzz", "FULL");
            await c.CallAsync("XADD", "fuzz", "*", "f", "v");
            await c.CallAsync("XTRIM", "fuzz", "MAXLEN", "100");
            await c.CallAsync("XDEL", "fuzz", "1001-1", "1050-2");
        }
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
        Assert.True(restored < 300);
    }

    /// <summary>Redis 7.0 from PATH (what .ci/run installs), or null.</summary>
    private static string? FindRedis70()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var path = Path.Combine(dir, "redis-server");
            if (!File.Exists(path)) continue;
            var psi = new ProcessStartInfo(path, "--version") { RedirectStandardOutput = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit(10_000);
            if (Regex.IsMatch(output, @"v=7\.0\.")) return path;
        }
        return null;
    }

    [Fact]
    public async Task RedisSevenZeroFilesLoadHereAndOursLoadThere()
    {
        var redis = FindRedis70();
        if (redis is null) Assert.Skip("no redis-server 7.0 on PATH");
        var dir = Directory.CreateTempSubdirectory("kvasir-stream-redis70-").FullName;
        try
        {
            // Redis 7.0 writes the stream; Kvasir loads its file and reports the same state.
            string theirs;
            var (process, client) = await ReferenceServer.StartAsync(redis, dir, "from-redis.rdb");
            try
            {
                await PopulateAsync(client);
                theirs = await DescribeAsync(client, withActiveTime: false);
                Assert.Equal("OK", await client.CallTextAsync("SAVE"));
            }
            finally
            {
                await ReferenceServer.StopAsync(process, client);
            }
            var loadDir = Directory.CreateDirectory(Path.Combine(dir, "kvasir")).FullName;
            File.Copy(Path.Combine(dir, "from-redis.rdb"), Path.Combine(loadDir, "dump.rdb"));
            string ours;
            await using (var kvasir = await TestServer.StartInDirAsync(loadDir))
            {
                await using var c = await kvasir.ConnectAsync();
                Assert.Equal(theirs, await DescribeAsync(c, withActiveTime: false));
                // STREAM_LISTPACKS_2 has no active time: the seen time stands in for it, as in Valkey.
                var consumer = (await c.CallAsync("XINFO", "STREAM", "s", "FULL")).ToString();
                Assert.Matches(@"seen-time, (\d+), active-time, \1", consumer);

                // And back: an RDB 10 file of Kvasir's loads in Redis 7.0 with the same state.
                Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "rdb-version", "10"));
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
                ours = await DescribeAsync(c, withActiveTime: false);
            }
            var backDir = Directory.CreateDirectory(Path.Combine(dir, "back")).FullName;
            File.Copy(Path.Combine(loadDir, "dump.rdb"), Path.Combine(backDir, "from-kvasir.rdb"));
            (process, client) = await ReferenceServer.StartAsync(redis, backDir, "from-kvasir.rdb");
            try
            {
                Assert.Equal(ours, await DescribeAsync(client, withActiveTime: false));
                // A stream written by Redis 7.0 as a DUMP payload (RDB 10, type 19) restores here too.
                var payload = (await client.CallAsync("DUMP", "s")).Bytes!;
                Assert.Equal(19, payload[0]);
                await using var kvasir = await TestServer.StartAsync();
                await using var c = await kvasir.ConnectAsync();
                Assert.Equal("OK", await c.CallTextAsync("RESTORE", "s", "0", payload));
                Assert.Equal((await client.CallAsync("XRANGE", "s", "-", "+")).ToString(), (await c.CallAsync("XRANGE", "s", "-", "+")).ToString());
            }
            finally
            {
                await ReferenceServer.StopAsync(process, client);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
