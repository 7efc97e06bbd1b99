using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Clients;

/// <summary>maxmemory-clients: the biggest clients are closed when clients together use too much memory.</summary>
public sealed class ClientEvictionTests
{
    private static long Field(string clientLine, string name)
    {
        foreach (var part in clientLine.Split(' '))
            if (part.StartsWith(name + "=", StringComparison.Ordinal)) return long.Parse(part[(name.Length + 1)..]);
        throw new InvalidOperationException(name + " not in " + clientLine);
    }

    private static async Task<string?> ClientLineAsync(RespClient admin, string name) =>
        (await admin.CallTextAsync("CLIENT", "LIST"))!.Split('\n').FirstOrDefault(l => l.Contains($" name={name} "));

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task AClientWithABigQueryBufferIsEvictedAndCounted()
    {
        await using var server = await TestServer.StartAsync(("maxmemory-clients", "1mb"));
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "NO-EVICT", "ON"));
        await using var big = await server.ConnectAsync();
        Assert.Equal("OK", await big.CallTextAsync("CLIENT", "SETNAME", "big"));
        // Half a megabyte of an argument still arriving: under the limit, and its memory shows.
        await big.SendRawAsync("*2\r\n$3\r\nSET\r\n$2000000\r\n" + new string('v', 500_000));
        await WaitAsync(async () => (await ClientLineAsync(admin, "big")) is { } l && Field(l, "qbuf") >= 500_000);
        Assert.True(Field((await ClientLineAsync(admin, "big"))!, "tot-mem") >= 500_000);
        // The rest pushes it over: it is closed, and INFO counts it.
        await big.SendRawAsync(new string('v', 700_000));
        Assert.True(await big.IsClosedAsync(TimeSpan.FromSeconds(10)));
        Assert.Null(await ClientLineAsync(admin, "big"));
        Assert.Contains("evicted_clients:1\r\n", (await admin.CallTextAsync("INFO", "stats"))!);
    }

    [Fact]
    public async Task NoEvictClientsStayAndTheBiggestGoFirst()
    {
        await using var server = await TestServer.StartAsync();
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "NO-EVICT", "ON"));
        var clients = new List<RespClient>();
        try
        {
            foreach (var (name, size) in new[] { ("small", 100_000), ("medium", 400_000), ("large", 900_000), ("keeper", 900_000) })
            {
                var c = await server.ConnectAsync();
                clients.Add(c);
                Assert.Equal("OK", await c.CallTextAsync("CLIENT", "SETNAME", name));
                if (name == "keeper") Assert.Equal("OK", await c.CallTextAsync("CLIENT", "NO-EVICT", "ON"));
                await c.SendRawAsync($"*2\r\n$3\r\nSET\r\n${size + 10}\r\n" + new string('v', size));
                await WaitAsync(async () => (await ClientLineAsync(admin, name)) is { } l && Field(l, "qbuf") >= size);
            }
            // A limit that only fits without the large client: it goes, the no-evict one (as big) stays.
            long total = 0;
            foreach (var line in (await admin.CallTextAsync("CLIENT", "LIST"))!.Split('\n', StringSplitOptions.RemoveEmptyEntries))
                total += Field(line, "tot-mem");
            long large = Field((await ClientLineAsync(admin, "large"))!, "tot-mem");
            Assert.Equal("OK", await admin.CallTextAsync("CONFIG", "SET", "maxmemory-clients", (total - large / 2).ToString()));
            Assert.Null(await ClientLineAsync(admin, "large"));
            Assert.NotNull(await ClientLineAsync(admin, "keeper"));
            Assert.NotNull(await ClientLineAsync(admin, "medium"));
            Assert.NotNull(await ClientLineAsync(admin, "small"));
            // A percentage of maxmemory works too (7% of 20mb is under what is left): medium goes next.
            Assert.Equal("OK", await admin.CallTextAsync("CONFIG", "SET", "maxmemory", "20mb", "maxmemory-clients", "7%"));
            Assert.Equal("maxmemory-clients\n7%", string.Join('\n', (await admin.CallAsync("CONFIG", "GET", "maxmemory-clients")).Items!.Select(i => i.Text)));
            Assert.Null(await ClientLineAsync(admin, "medium"));
            Assert.NotNull(await ClientLineAsync(admin, "keeper"));
        }
        finally
        {
            foreach (var c in clients) await c.DisposeAsync();
        }
    }

    [Fact]
    public async Task OutputBuffersSubscriptionsAndWatchesCount()
    {
        await using var server = await TestServer.StartAsync(("maxmemory-clients", "200kb"));
        await using var admin = await server.ConnectAsync();
        Assert.Equal("OK", await admin.CallTextAsync("CLIENT", "NO-EVICT", "ON"));
        await using var watcher = await server.ConnectAsync();
        bool closed = false;
        for (int i = 0; i < 20_000 && !closed; i += 500)
        {
            var cmd = new StringBuilder();
            for (int j = i; j < i + 500; j++) cmd.Append("WATCH key:").Append(j).Append("\r\n");
            try
            {
                await watcher.SendRawAsync(cmd.ToString());
                for (int j = 0; j < 500; j++) await watcher.ReadAsync();
            }
            catch (IOException)
            {
                closed = true;
            }
        }
        Assert.True(closed || await watcher.IsClosedAsync(TimeSpan.FromSeconds(5)), "a client WATCHing thousands of keys must be evicted");
        Assert.Contains("evicted_clients:1\r\n", (await admin.CallTextAsync("INFO", "stats"))!);
    }
}
