using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Security;

/// <summary>
/// What every server on a network meets sooner or later: a flood of random and mutated RESP (wrong
/// lengths, huge announced sizes, nested aggregates, NULs, cut frames, one byte at a time), from
/// clients that did and did not authenticate; and damaged RESTORE payloads, RDB files and AOF files.
/// The server must answer with errors or close the offending connection, never crash or hang, keep
/// its memory bounded, and keep serving a well-behaved client exactly. Seeded, bounded in time.
/// </summary>
public sealed class HostileInputTests(ITestOutputHelper output)
{
    private const int TargetFrames = 1_000_000;

    /// <summary>Commands a frame may carry; the fuzzing user may not run dangerous or admin ones anyway.</summary>
    private static readonly string[][] Templates =
    {
        new[] { "PING" }, new[] { "ECHO", "hello" }, new[] { "GET", "k:1" }, new[] { "SET", "k:1", "value" },
        new[] { "INCR", "n:1" }, new[] { "LPUSH", "l:1", "a", "b" }, new[] { "LRANGE", "l:1", "0", "10" }, new[] { "LTRIM", "l:1", "0", "20" },
        new[] { "HSET", "h:1", "f", "v" }, new[] { "HGETALL", "h:1" }, new[] { "SADD", "s:1", "m" }, new[] { "ZADD", "z:1", "1.5", "m" },
        new[] { "EXPIRE", "k:1", "100" }, new[] { "DEL", "k:2" }, new[] { "MGET", "k:1", "k:2", "k:3" }, new[] { "NOSUCHCOMMAND", "x" },
        new[] { "CLIENT", "SETNAME", "fuzz" }, new[] { "MULTI" }, new[] { "EXEC" }, new[] { "DISCARD" }, new[] { "WATCH", "k:1" },
        new[] { "SUBSCRIBE", "ch" }, new[] { "UNSUBSCRIBE" }, new[] { "HELLO", "3" }, new[] { "HELLO", "2" }, new[] { "SELECT", "1" },
        new[] { "EVAL", "return 1", "0" }, new[] { "FLUSHALL" }, new[] { "DEBUG", "SLEEP", "10" }, new[] { "CONFIG", "SET", "maxmemory", "1" },
        new[] { "SHUTDOWN", "NOSAVE" }, new[] { "SETRANGE", "k:3", "10", "x" }, new[] { "GETRANGE", "k:3", "0", "-1" },
    };

    private static byte[] Encode(string[] args) => RespClient.Encode(args.Cast<object>().ToArray());

    private static readonly string[] OddValues =
    {
        "", "-1", "0", "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e400", "nan", "inf", "-inf",
        "0x10", " 1", "1 ", "\0", "\r\n", "*1\r\n", "$-1", "%", "(", "~", "|",
    };

    /// <summary>
    /// A well-framed hostile command: a template whose name and arguments are mutated (random bytes,
    /// NULs, CR/LF inside, extreme numbers, arguments added or dropped). The server must answer each
    /// with a reply or an error and read on.
    /// </summary>
    private static byte[] Frame(Random rnd)
    {
        var args = new List<byte[]>(Templates[rnd.Next(Templates.Length)].Select(Encoding.ASCII.GetBytes));
        int mutations = rnd.Next(100) < 60 ? 0 : rnd.Next(1, 4);
        for (int m = 0; m < mutations; m++)
        {
            int at = rnd.Next(args.Count);
            switch (rnd.Next(7))
            {
                case 0: // flip a byte of an argument (the command name too)
                    if (args[at].Length > 0) args[at][rnd.Next(args[at].Length)] = (byte)rnd.Next(256);
                    break;
                case 1: // random binary argument
                {
                    var raw = new byte[rnd.Next(0, 64)];
                    rnd.NextBytes(raw);
                    args[at] = raw;
                    break;
                }
                case 2: // an odd value where a number or word was expected
                    args[at] = Encoding.ASCII.GetBytes(OddValues[rnd.Next(OddValues.Length)]);
                    break;
                case 3: // one argument more (arity errors, unknown options)
                    args.Add(Encoding.ASCII.GetBytes(OddValues[rnd.Next(OddValues.Length)]));
                    break;
                case 4: // one argument less
                    if (args.Count > 1) args.RemoveAt(args.Count - 1);
                    break;
                case 5: // NULs inside
                    args[at] = args[at].Concat(new byte[] { 0, 0 }).ToArray();
                    break;
                default: // a long argument (but within the unauthenticated 16 KB limit)
                    args[at] = new byte[rnd.Next(100, 8000)];
                    break;
            }
        }
        if (rnd.Next(20) == 0) return Encoding.ASCII.GetBytes("PING\r\n"); // inline commands between multibulk ones
        var ms = new MemoryStream();
        ms.Write(Encoding.ASCII.GetBytes($"*{args.Count}\r\n"));
        foreach (var a in args)
        {
            ms.Write(Encoding.ASCII.GetBytes($"${a.Length}\r\n"));
            ms.Write(a);
            ms.Write("\r\n"u8);
        }
        return ms.ToArray();
    }

    /// <summary>
    /// A frame that breaks the protocol (the server answers a protocol error and closes, or waits for
    /// bytes that never come): lengths that lie, huge announced sizes, nested aggregates, cut frames,
    /// negative lengths, random bytes, unbalanced quotes.
    /// </summary>
    private static byte[] FatalFrame(Random rnd) => rnd.Next(8) switch
    {
        0 => Encoding.ASCII.GetBytes($"*2\r\n$4\r\nECHO\r\n${rnd.Next(4, 40)}\r\nabc\r\n*1\r\n$4\r\nPING\r\n"),
        1 => Encoding.ASCII.GetBytes(rnd.Next(2) == 0 ? "*1\r\n$536870912\r\nabc" : "*2147483647\r\n$4\r\nPING\r\n"),
        2 => Encoding.ASCII.GetBytes(rnd.Next(2) == 0 ? "*2\r\n*1\r\n$4\r\nPING\r\n$1\r\nx\r\n" : "*1\r\n:1\r\n%1\r\n+a\r\n+b\r\n"),
        3 => Frame(rnd)[..1],
        4 => Encoding.ASCII.GetBytes("*1\r\n$-3\r\n"),
        5 => Encoding.ASCII.GetBytes("SET k \"unbalanced\r\n"),
        6 => Encoding.ASCII.GetBytes("*1\r\n$4\r\nPI\0G\r\n$99999999999999999999\r\n"),
        _ => RandomBytes(rnd),
    };

    private static byte[] RandomBytes(Random rnd)
    {
        var raw = new byte[rnd.Next(1, 200)];
        rnd.NextBytes(raw);
        return raw;
    }

    /// <summary>
    /// A connection sending frames as fast as the server takes them (replies drained on the side) until
    /// the server closes it (protocol error) or its budget is spent. Returns the frames sent.
    /// </summary>
    private static async Task<int> FloodAsync(int port, int seed, bool authenticate, int budget, CancellationToken stop)
    {
        var rnd = new Random(seed);
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port, stop);
        var stream = tcp.GetStream();
        var drain = Task.Run(async () =>
        {
            var sink = new byte[64 * 1024];
            try
            {
                while (await stream.ReadAsync(sink, stop) > 0) { }
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
        });
        int sent = 0;
        try
        {
            if (authenticate) await stream.WriteAsync(Encode(new[] { "AUTH", "fuzz", "fuzzpw" }), stop);
            var batch = new MemoryStream();
            while (sent < budget && !stop.IsCancellationRequested)
            {
                batch.SetLength(0);
                for (int i = 0; i < 256 && sent < budget; i++, sent++) batch.Write(Frame(rnd));
                await stream.WriteAsync(batch.GetBuffer().AsMemory(0, (int)batch.Length), stop);
            }
            // Half of the connections end with a frame that breaks the protocol.
            if (rnd.Next(2) == 0)
            {
                await stream.WriteAsync(FatalFrame(rnd), stop);
                sent++;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException) { }
        try { tcp.Client.Shutdown(SocketShutdown.Send); } catch (SocketException) { }
        await Task.WhenAny(drain, Task.Delay(2000, CancellationToken.None));
        return sent;
    }

    /// <summary>A connection that sends a partial frame one byte at a time, slowly, then goes away.</summary>
    private static async Task<int> DripAsync(int port, int seed, CancellationToken stop)
    {
        var rnd = new Random(seed);
        using var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync("127.0.0.1", port, stop);
        var stream = tcp.GetStream();
        int frames = 0;
        try
        {
            while (!stop.IsCancellationRequested && frames < 50)
            {
                foreach (byte b in rnd.Next(10) == 0 ? FatalFrame(rnd) : Frame(rnd))
                {
                    await stream.WriteAsync(new[] { b }, stop);
                    await Task.Delay(rnd.Next(0, 3), stop);
                }
                frames++;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException) { }
        return frames;
    }

    [Fact]
    public async Task AMillionHostileFramesLeaveTheServerServingOthers()
    {
        await using var server = await TestServer.StartAsync(("requirepass", "adminpw"), ("client-query-buffer-limit", "16mb"),
            ("save", ""), ("maxmemory", "256mb"), ("maxmemory-policy", "allkeys-lru"));
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("AUTH", "adminpw"));
        // The fuzzers' user may touch data but nothing dangerous or administrative.
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "fuzz", "on", ">fuzzpw", "~*", "&*", "+@all", "-@dangerous", "-@admin"));

        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        long peakUsedMemory = 0;
        var canary = Task.Run(async () =>
        {
            await using var c = await server.ConnectAsync();
            Assert.Equal("OK", await c.CallTextAsync("AUTH", "adminpw"));
            int i = 0;
            var slowest = TimeSpan.Zero;
            while (!stop.IsCancellationRequested)
            {
                var sw = Stopwatch.StartNew();
                Assert.Equal("OK", await c.CallTextAsync("SET", "canary", "v" + i));
                Assert.Equal("v" + i, await c.CallTextAsync("GET", "canary"));
                Assert.Equal(i + 1, (await c.CallAsync("INCR", "canary:n")).Integer);
                if (sw.Elapsed > slowest) slowest = sw.Elapsed;
                if (i % 50 == 0)
                {
                    string info = (await c.CallTextAsync("INFO", "memory"))!;
                    long used = long.Parse(info.Split("\r\n").First(l => l.StartsWith("used_memory:", StringComparison.Ordinal))[12..]);
                    peakUsedMemory = Math.Max(peakUsedMemory, used);
                }
                i++;
                await Task.Delay(2);
            }
            return (i, slowest);
        });

        int sent = 0, connections = 0;
        var seeds = new Random(20261207);
        var drips = Enumerable.Range(0, 4).Select(_ => DripAsync(server.Port, seeds.Next(), stop.Token)).ToList();
        while (sent < TargetFrames && !stop.IsCancellationRequested)
        {
            // Eight at a time, half of them authenticated; each goes until a protocol error closes it.
            var round = Enumerable.Range(0, 8).Select(k => FloodAsync(server.Port, seeds.Next(), authenticate: k % 2 == 0, budget: 2_500, stop.Token)).ToList();
            foreach (var n in await Task.WhenAll(round)) sent += n;
            connections += round.Count;
        }
        foreach (var n in await Task.WhenAll(drips)) sent += n;
        Assert.False(stop.IsCancellationRequested, $"the flood did not finish in time ({sent} frames)");
        stop.Cancel();
        var (canaryRounds, slowestCall) = await canary.WaitAsync(TimeSpan.FromSeconds(30));

        string stats = (await admin.CallTextAsync("INFO", "stats"))!;
        long Stat(string name) => long.Parse(stats.Split("\r\n").First(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..]);
        long processed = Stat("total_commands_processed"), errors = Stat("total_error_replies");
        output.WriteLine($"{sent} frames over {connections} connections; {processed} commands run, {errors} error replies; " +
                         $"canary rounds {canaryRounds}, slowest {slowestCall}, peak used_memory {peakUsedMemory}");
        // Most frames reached the parser and the dispatcher (not just a socket buffer).
        Assert.True(processed + errors > TargetFrames / 2, $"only {processed} commands and {errors} errors for {sent} frames");
        Assert.True(sent >= TargetFrames, $"{sent} frames");
        Assert.True(canaryRounds > 10, $"the well-behaved client only completed {canaryRounds} rounds");
        Assert.True(slowestCall < TimeSpan.FromSeconds(10), $"a well-behaved call took {slowestCall}");
        Assert.True(peakUsedMemory < 256L * 1024 * 1024, $"used_memory reached {peakUsedMemory}");

        // Still alive and exact; the hostile connections are all gone; nothing dangerous ran.
        Assert.False(server.Server.Stopped.IsCompleted);
        await using var fresh = await server.ConnectAsync();
        Assert.Equal("OK", await fresh.CallTextAsync("AUTH", "adminpw"));
        Assert.Equal("PONG", await fresh.CallTextAsync("PING"));
        Assert.Equal("268435456", (await fresh.CallAsync("CONFIG", "GET", "maxmemory")).Items![1].Text);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline && server.Server.Clients.Count > 2) await Task.Delay(50);
        Assert.Equal(2, server.Server.Clients.Count);
        Assert.True(connections > 0);
    }

    // ----- damaged persistence payloads -----

    private static async Task FillAsync(RespClient c)
    {
        await c.CallAsync("SET", "str", "hello");
        await c.CallAsync("SET", "int", "12345");
        await c.CallAsync("SET", "big", new string('x', 300));
        await c.CallAsync("RPUSH", "list", "a", "b", "1", "2");
        await c.CallAsync(new object[] { "RPUSH", "biglist" }.Concat(Enumerable.Range(0, 300).Select(i => (object)("item" + i))).ToArray());
        await c.CallAsync("HSET", "hash", "f1", "v1", "f2", "2");
        await c.CallAsync(new object[] { "HSET", "bighash" }.Concat(Enumerable.Range(0, 200).SelectMany(i => new object[] { "f" + i, "v" + i })).ToArray());
        await c.CallAsync("SADD", "intset", "1", "2", "3");
        await c.CallAsync("SADD", "set", "a", "b", "c");
        await c.CallAsync(new object[] { "SADD", "bigset" }.Concat(Enumerable.Range(0, 200).Select(i => (object)("m" + i))).ToArray());
        await c.CallAsync("ZADD", "zset", "1", "a", "2.5", "b");
        await c.CallAsync(new object[] { "ZADD", "bigzset" }.Concat(Enumerable.Range(0, 200).SelectMany(i => new object[] { i.ToString(), "m" + i })).ToArray());
        await c.CallAsync("PFADD", "hll", "a", "b", "c");
        await c.CallAsync("HSET", "ttlhash", "f", "v", "g", "w");
        await c.CallAsync("HEXPIRE", "ttlhash", "1000", "FIELDS", "1", "f");
        await c.CallAsync("SET", "volatile", "v", "EX", "1000");
    }

    /// <summary>A random mutation: flipped bytes, a cut, an insertion, or a duplicated range.</summary>
    private static byte[] Mutate(byte[] input, Random rnd)
    {
        var bytes = new List<byte>(input);
        int edits = rnd.Next(1, 4);
        for (int e = 0; e < edits && bytes.Count > 0; e++)
        {
            int at = rnd.Next(bytes.Count);
            switch (rnd.Next(5))
            {
                case 0: bytes[at] = (byte)rnd.Next(256); break;
                case 1: bytes[at] ^= (byte)(1 << rnd.Next(8)); break;
                case 2: bytes.RemoveRange(at, Math.Min(rnd.Next(1, 16), bytes.Count - at)); break;
                case 3: bytes.InsertRange(at, Enumerable.Range(0, rnd.Next(1, 8)).Select(_ => (byte)rnd.Next(256))); break;
                default:
                    int len = Math.Min(rnd.Next(1, 32), bytes.Count - at);
                    bytes.InsertRange(rnd.Next(bytes.Count), bytes.GetRange(at, len));
                    break;
            }
        }
        return bytes.ToArray();
    }

    [Fact]
    public async Task DamagedRestorePayloadsAreRefusedOrLoadIntoUsableValues()
    {
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"), ("save", ""));
        await using var c = await server.ConnectAsync();
        await FillAsync(c);
        var keys = (await c.CallAsync("KEYS", "*")).Items!.Select(i => i.Text!).ToList();
        var dumps = new List<byte[]>();
        foreach (var k in keys) dumps.Add((await c.CallAsync("DUMP", k)).Bytes!);
        // Skip the checksum so that mutations reach the value decoders instead of stopping at the CRC.
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1"));
        var rnd = new Random(7);
        int accepted = 0, refused = 0;
        for (int i = 0; i < 3000; i++)
        {
            var payload = Mutate(dumps[rnd.Next(dumps.Count)], rnd);
            var reply = await c.CallAsync("RESTORE", "victim", "0", payload, "REPLACE");
            if (reply.IsError)
            {
                Assert.True(reply.Text is "ERR Bad data format" or "ERR DUMP payload version or checksum are wrong", reply.Text);
                refused++;
                continue;
            }
            Assert.Equal("OK", reply.Text);
            accepted++;
            // Whatever was accepted must be a working value: read it every way its type allows.
            string type = (await c.CallTextAsync("TYPE", "victim"))!;
            var reads = type switch
            {
                "string" => new[] { new object[] { "GET", "victim" }, new object[] { "STRLEN", "victim" } },
                "list" => new[] { new object[] { "LRANGE", "victim", "0", "-1" }, new object[] { "LLEN", "victim" }, new object[] { "LPOP", "victim" } },
                "hash" => new[] { new object[] { "HGETALL", "victim" }, new object[] { "HLEN", "victim" }, new object[] { "HSET", "victim", "new", "1" } },
                "set" => new[] { new object[] { "SMEMBERS", "victim" }, new object[] { "SCARD", "victim" }, new object[] { "SADD", "victim", "new" } },
                "zset" => new[] { new object[] { "ZRANGE", "victim", "0", "-1", "WITHSCORES" }, new object[] { "ZCARD", "victim" }, new object[] { "ZADD", "victim", "1", "new" } },
                _ => new[] { new object[] { "DUMP", "victim" } },
            };
            foreach (var read in reads) await c.CallAsync(read);
            await c.CallAsync("DUMP", "victim");
            await c.CallAsync("OBJECT", "ENCODING", "victim");
        }
        output.WriteLine($"RESTORE mutations: {accepted} accepted, {refused} refused");
        Assert.True(refused > 1000, $"only {refused} of 3000 mutations refused");
        Assert.Equal("PONG", await c.CallTextAsync("PING"));
        // A saved and reloaded data set with whatever was accepted still loads.
        Assert.Equal("OK", await c.CallTextAsync("DEBUG", "RELOAD"));
        Assert.True(accepted >= 0);
    }

    [Fact]
    public async Task DamagedRdbFilesAreRefusedCleanly()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-hostile-rdb-").FullName;
        try
        {
            byte[] image;
            await using (var source = await TestServer.StartInDirAsync(dir, ("save", "")))
            {
                await using var c = await source.ConnectAsync();
                await FillAsync(c);
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
                image = File.ReadAllBytes(Path.Combine(dir, "dump.rdb"));
            }
            await using var server = await TestServer.StartAsync(("save", ""), ("rdbchecksum", "no"));
            var persistence = server.Server.Persistence;
            var rnd = new Random(11);
            string path = Path.Combine(dir, "mutated.rdb");
            int loaded = 0, failed = 0;
            for (int i = 0; i < 400; i++)
            {
                File.WriteAllBytes(path, Mutate(image, rnd));
                Kvasir.Persistence.PersistenceManager.LoadOutcome outcome;
                lock (server.Server.DataLock)
                {
                    foreach (var db in server.Server.Databases) db.Clear();
                    outcome = persistence.LoadFile(path, allowDuplicates: false);
                }
                if (outcome == Kvasir.Persistence.PersistenceManager.LoadOutcome.Loaded) loaded++;
                else failed++;
            }
            output.WriteLine($"RDB mutations: {loaded} loaded, {failed} refused");
            Assert.True(failed > 0 && loaded + failed == 400);
            await using var c2 = await server.ConnectAsync();
            Assert.Equal("PONG", await c2.CallTextAsync("PING"));
            // What loaded is readable.
            foreach (var k in (await c2.CallAsync("KEYS", "*")).Items!) await c2.CallAsync("DUMP", k.Text!);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task DamagedAofFilesStopTheStartOrLoadCleanly()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-hostile-aof-").FullName;
        try
        {
            string aofDir = Path.Combine(dir, "appendonlydir");
            await using (var source = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"), ("aof-use-rdb-preamble", "no"), ("save", "")))
            {
                await using var c = await source.ConnectAsync();
                await FillAsync(c);
                await c.CallAsync("INCRBY", "int", "5");
                await c.CallAsync("LPOP", "list");
            }
            string incr = Directory.GetFiles(aofDir, "*.incr.aof").Single();
            byte[] original = File.ReadAllBytes(incr);
            var rnd = new Random(13);
            int started = 0, refused = 0;
            for (int i = 0; i < 60; i++)
            {
                File.WriteAllBytes(incr, Mutate(original, rnd));
                try
                {
                    await using var s = await TestServer.StartInDirAsync(dir, ("appendonly", "yes"), ("save", ""), ("aof-load-truncated", i % 2 == 0 ? "yes" : "no"));
                    await using var c = await s.ConnectAsync();
                    Assert.Equal("PONG", await c.CallTextAsync("PING"));
                    started++;
                }
                catch (InvalidOperationException)
                {
                    refused++;
                }
                // A started server may have rewritten or truncated the files: put the original set back.
                File.WriteAllBytes(incr, original);
            }
            output.WriteLine($"AOF mutations: {started} started, {refused} refused");
            Assert.Equal(60, started + refused);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
