using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// stop-writes-on-bgsave-error: after a failed background save (with save points set) writes and
/// PING answer -MISCONF, as in Valkey, so monitors such as Sentinel see the node as failing; reads
/// go on, and a successful save or removing the save points ends it.
/// </summary>
public sealed class DiskErrorTests
{
    private const string Misconf =
        "MISCONF Valkey is configured to save RDB snapshots, but it's currently unable to persist to disk. " +
        "Commands that may modify the data set are disabled, because this instance is configured to report errors " +
        "during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Valkey logs " +
        "for details about the RDB error.";

    [Fact]
    public async Task FailedBackgroundSaveRefusesWritesAndPing()
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-misconf-").FullName;
        try
        {
            await using var server = await TestServer.StartInDirAsync(dir, ("dbfilename", "blocked.rdb"), ("save", "1000000 1000000"));
            // The file name is a directory: the save cannot be renamed into place.
            Directory.CreateDirectory(Path.Combine(dir, "blocked.rdb"));
            await using var c = await server.ConnectAsync();
            Assert.Equal("OK", await c.CallTextAsync("SET", "k", "v"));
            await c.CallAsync("BGSAVE");
            await Replication.ReplicationKit.WaitUntilAsync(
                async () => await Replication.ReplicationKit.InfoFieldAsync(c, "rdb_last_bgsave_status", "persistence") == "err", "the save to fail");

            Assert.Equal(Misconf, (await c.CallAsync("PING")).Text);
            Assert.Equal(Misconf, (await c.CallAsync("SET", "k", "w")).Text);
            Assert.Equal("v", await c.CallTextAsync("GET", "k"));

            // Without save points nothing is refused any more.
            Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "save", ""));
            Assert.Equal("PONG", await c.CallTextAsync("PING"));
            Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "save", "1000000 1000000"));
            Assert.Equal(Misconf, (await c.CallAsync("PING")).Text);

            // stop-writes-on-bgsave-error no: writes go on.
            Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "stop-writes-on-bgsave-error", "no"));
            Assert.Equal("OK", await c.CallTextAsync("SET", "k", "x"));
            Assert.Equal("OK", await c.CallTextAsync("CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"));

            // A successful SAVE clears the error.
            Directory.Delete(Path.Combine(dir, "blocked.rdb"));
            Assert.Equal("OK", await c.CallTextAsync("SAVE"));
            Assert.Equal("PONG", await c.CallTextAsync("PING"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
