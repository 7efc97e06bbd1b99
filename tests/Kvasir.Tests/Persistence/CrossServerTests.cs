using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// Files travel both ways between Kvasir and a real server (<see cref="ReferenceServer"/>; skipped
/// when none is installed). Redis before 7.2 reads RDB 10 only, so Kvasir is told to
/// write version 10 for it (the hidden rdb-version parameter).
/// </summary>
public sealed class CrossServerTests
{
    [Fact]
    public async Task KvasirSnapshotsLoadInAReferenceServerAndBack()
    {
        var reference = ReferenceServer.Find();
        if (reference is null) Assert.Skip(ReferenceServer.NotFound);
        var (binary, major, minor) = reference.Value;
        string version = major > 7 || (major == 7 && minor >= 2) ? "11" : "10";

        var dir = Directory.CreateTempSubdirectory("kvasir-cross-").FullName;
        try
        {
            List<string> expected;
            byte[] ours;
            await using (var kvasir = await TestServer.StartAsync())
            {
                await using var c = await kvasir.ConnectAsync();
                await PersistenceCommandTests.PopulateAsync(c);
                Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "rdb-version", version));
                Assert.Equal("OK", await c.CallTextAsync("SAVE"));
                expected = await PersistenceCommandTests.DescribeAsync(c, withEncodings: false);
                ours = File.ReadAllBytes(Path.Combine(kvasir.DataDir, "dump.rdb"));
                File.WriteAllBytes(Path.Combine(dir, "from-kvasir.rdb"), ours);
            }

            // The reference server loads our file and sees the same data.
            var (process, client) = await ReferenceServer.StartAsync(binary, dir, "from-kvasir.rdb");
            try
            {
                Assert.Equal(expected, await PersistenceCommandTests.DescribeAsync(client, withEncodings: false));
                Assert.Equal("OK", await client.CallTextAsync("SAVE"));
            }
            finally
            {
                await ReferenceServer.StopAsync(process, client);
            }

            // And Kvasir loads what the reference server wrote back (its SAVE replaced our file).
            var written = File.ReadAllBytes(Path.Combine(dir, "from-kvasir.rdb"));
            Assert.NotEqual(ours, written);
            var back = Directory.CreateDirectory(Path.Combine(dir, "back")).FullName;
            File.WriteAllBytes(Path.Combine(back, "dump.rdb"), written);
            await using var again = await TestServer.StartInDirAsync(back);
            await using var c2 = await again.ConnectAsync();
            Assert.Equal(expected, await PersistenceCommandTests.DescribeAsync(c2, withEncodings: false));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Every key of db 0 and db 9 goes from <paramref name="from"/> to <paramref name="to"/> by DUMP and RESTORE.</summary>
    private static async Task CopyByDumpAsync(RespClient from, RespClient to)
    {
        foreach (var db in new[] { "0", "9" })
        {
            await from.CallAsync("SELECT", db);
            await to.CallAsync("SELECT", db);
            foreach (var key in (await from.CallAsync("KEYS", "*")).Items!.Select(k => k.Text!))
            {
                var payload = await from.CallAsync("DUMP", key);
                long ttl = (await from.CallAsync("PTTL", key)).Integer;
                Assert.Equal("OK", await to.CallTextAsync("RESTORE", key, Math.Max(ttl, 0).ToString(), payload.Bytes!, "REPLACE"));
            }
        }
        await from.CallAsync("SELECT", "0");
        await to.CallAsync("SELECT", "0");
    }

    [Fact]
    public async Task DumpPayloadsAndMigrateTravelBothWays()
    {
        var reference = ReferenceServer.Find();
        if (reference is null) Assert.Skip(ReferenceServer.NotFound);
        var (binary, major, minor) = reference.Value;
        // Before 7.2 a server refuses payloads of RDB 11, which is what DUMP writes (as Valkey 8 does).
        bool readsOurs = major > 7 || (major == 7 && minor >= 2);
        var dir = Directory.CreateTempSubdirectory("kvasir-cross-dump-").FullName;
        var (process, client) = await ReferenceServer.StartAsync(binary, dir, "dump.rdb");
        try
        {
            await using var kvasir = await TestServer.StartAsync();
            await using var c = await kvasir.ConnectAsync();

            // Theirs into ours: the same data, the same encodings.
            await PersistenceCommandTests.PopulateAsync(client);
            var expected = await PersistenceCommandTests.DescribeAsync(client, withEncodings: readsOurs);
            await CopyByDumpAsync(client, c);
            Assert.Equal(expected, await PersistenceCommandTests.DescribeAsync(c, withEncodings: readsOurs));
            if (!readsOurs) return;

            // Ours into theirs.
            await client.CallAsync("FLUSHALL");
            await CopyByDumpAsync(c, client);
            Assert.Equal(expected, await PersistenceCommandTests.DescribeAsync(client));

            // MIGRATE from Kvasir to the reference server and back.
            await client.CallAsync("FLUSHALL");
            var keys = (await c.CallAsync("KEYS", "*")).Items!.Select(k => (object)k.Text!).ToList();
            var args = new List<object> { "MIGRATE", "127.0.0.1", ReferencePort(client), "", "0", "5000", "KEYS" };
            args.AddRange(keys);
            Assert.Equal("OK", await c.CallTextAsync(args.ToArray()));
            Assert.Equal(0L, (await c.CallAsync("DBSIZE")).Integer);
            args[2] = kvasir.Port.ToString();
            Assert.Equal("OK", await client.CallTextAsync(args.ToArray()));
            Assert.Equal(0L, (await client.CallAsync("DBSIZE")).Integer);
            Assert.Equal(expected, await PersistenceCommandTests.DescribeAsync(c));
            await c.CallAsync("SELECT", "9");
            Assert.Equal("OK", await c.CallTextAsync("MIGRATE", "127.0.0.1", ReferencePort(client), "in-db-9", "5", "5000", "COPY"));
            await client.CallAsync("SELECT", "5");
            Assert.Equal("yes", await client.CallTextAsync("GET", "in-db-9"));
        }
        finally
        {
            await ReferenceServer.StopAsync(process, client);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string ReferencePort(RespClient client) => client.RemotePort.ToString();
}
