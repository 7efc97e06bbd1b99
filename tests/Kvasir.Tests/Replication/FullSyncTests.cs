using System.Text;
using Kvasir.Tests.Infrastructure;
using Kvasir.Tests.Persistence;

namespace Kvasir.Tests.Replication;

/// <summary>
/// A full resync's image is a fork-less background save: writes keep being served while it is
/// prepared, the image holds the data as of the SYNC, and the writes made meanwhile follow it in
/// the stream, in order.
/// </summary>
public sealed class FullSyncTests
{
    [Fact]
    public async Task ImageIsTheDataAtSyncAndTheWritesMeanwhileFollowIt()
    {
        await using var server = await TestServer.StartAsync();
        await using var c = await server.ConnectAsync();
        const int n = 3000;
        for (int i = 0; i < n; i++) await c.SendAsync("SET", "s:" + i, "v" + i);
        for (int i = 0; i < n; i++) await c.ReadAsync();
        // ~300 µs per key: the image takes about a second to write unless writes speed it up.
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "300");

        await using var replica = await server.ConnectAsync();
        replica.Timeout = TimeSpan.FromSeconds(60);
        await replica.SendRawAsync("SYNC\r\n");
        await Task.Delay(50);

        // Writes are answered while the image is being prepared.
        var sent = new List<string>();
        for (int i = 0; i < n; i += 10)
        {
            Assert.Equal("OK", await c.CallTextAsync("SET", "s:" + i, "changed"));
            Assert.Equal("OK", await c.CallTextAsync("SET", "new:" + i, "x"));
            sent.Add($"SET s:{i} changed");
            sent.Add($"SET new:{i} x");
        }
        await c.CallAsync("CONFIG", "SET", "rdb-key-save-delay", "0");

        string header = "";
        while (true)
        {
            header += await replica.ReadRawAsync(1);
            if (header == "\n") header = "";
            else if (header.EndsWith('\n')) break;
        }
        Assert.StartsWith("$", header);
        var image = Encoding.Latin1.GetBytes(await replica.ReadRawAsync(int.Parse(header[1..].Trim())));
        var kit = new RdbTestKit();
        kit.Load(image);
        var db = kit.Databases[0];
        Assert.Equal(n, db.Count);
        for (int i = 0; i < n; i += 10)
            Assert.Equal("v" + i, Encoding.UTF8.GetString(db.StringAt(db.FindRaw(Encoding.UTF8.GetBytes("s:" + i)))));

        Assert.Equal("SELECT 0", await ReplicationStream.NextAsync(replica));
        // CONFIG SET is not a write; the two SETs per step follow in order.
        foreach (var expected in sent) Assert.Equal(expected, await ReplicationStream.NextAsync(replica));
        await c.CallAsync("SET", "after", "1");
        Assert.Equal("SET after 1", await ReplicationStream.NextAsync(replica));
        // The image file is removed once sent.
        for (int i = 0; i < 100 && Directory.GetFiles(server.DataDir, "temp-*").Length > 0; i++) await Task.Delay(50);
        Assert.Empty(Directory.GetFiles(server.DataDir, "temp-*"));
    }
}
