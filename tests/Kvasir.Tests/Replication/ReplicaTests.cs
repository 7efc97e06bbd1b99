using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Replication.ReplicationKit;

namespace Kvasir.Tests.Replication;

/// <summary>
/// Kvasir as a replica of Kvasir: REPLICAOF, full sync (every transfer and load mode), the live
/// stream, read-only and stale-data rules, ROLE and INFO, partial resyncs after a dropped link and
/// after a promotion, chained replicas.
/// </summary>
public sealed class ReplicaTests
{
    [Theory]
    [InlineData("yes", "disabled")]
    [InlineData("no", "disabled")]
    [InlineData("yes", "swapdb")]
    [InlineData("no", "on-empty-db")]
    [InlineData("yes", "flush-before-load")]
    public async Task FullSyncThenLiveStream(string disklessSync, string disklessLoad)
    {
        await using var primaryServer = await TestServer.StartAsync([.. Fast, ("repl-diskless-sync", disklessSync)]);
        await using var replicaServer = await TestServer.StartAsync([.. Fast, ("repl-diskless-load", disklessLoad)]);
        await using var primary = await primaryServer.ConnectAsync();
        await using var replica = await replicaServer.ConnectAsync();
        await primary.CallAsync("DEBUG", "POPULATE", "2000", "key", "10");
        await primary.CallAsync("HSET", "h", "f", "v");
        await primary.CallAsync("RPUSH", "l", "a", "b", "c");
        await primary.CallAsync("SET", "ttl", "x", "PX", "100000");
        await primary.CallAsync("SELECT", "3");
        await primary.CallAsync("SET", "in3", "yes");
        await replica.CallAsync("SET", "stale", "gone after the sync");

        Assert.Equal("master", await InfoFieldAsync(replica, "role"));
        await AttachAsync(replica, primaryServer.Port);
        Assert.Equal("slave", await InfoFieldAsync(replica, "role"));
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));
        Assert.Null((await replica.CallAsync("GET", "stale")).Text);
        long ttl = (await replica.CallAsync("PTTL", "ttl")).Integer;
        Assert.InRange(ttl, 1, 100000);

        // Writes reach the replica, in the database they were made in.
        await primary.CallAsync("SET", "live", "1");
        await primary.CallAsync("SELECT", "0");
        await primary.CallAsync("INCR", "counter");
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal("1", await replica.CallTextAsync("GET", "counter"));
        await replica.CallAsync("SELECT", "3");
        Assert.Equal("1", await replica.CallTextAsync("GET", "live"));
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));

        // A read-only replica refuses writes with Valkey's error; reads work.
        var refused = await replica.CallAsync("SET", "x", "1");
        Assert.Equal("READONLY You can't write against a read only replica.", refused.Text);
        Assert.Equal("1", await InfoFieldAsync(primary, "connected_slaves"));
        Assert.Matches(@"^ip=127\.0\.0\.1,port=\d+,state=online,offset=\d+,lag=\d+,type=replica$", await InfoFieldAsync(primary, "slave0"));
    }

    [Fact]
    public async Task RoleOnBothSides()
    {
        await using var primaryServer = await TestServer.StartAsync(Fast);
        await using var replicaServer = await TestServer.StartAsync(Fast);
        await using var primary = await primaryServer.ConnectAsync();
        await using var replica = await replicaServer.ConnectAsync();
        await AttachAsync(replica, primaryServer.Port);
        await primary.CallAsync("SET", "k", "v");
        await WaitForOffsetsAsync(primary, replica);
        // The replica acknowledges every second; WAIT asks it at once.
        Assert.Equal(1, (await primary.CallAsync("WAIT", "1", "5000")).Integer);

        var role = await primary.CallAsync("ROLE");
        Assert.Equal("master", role.Items![0].Text);
        long offset = role.Items[1].Integer;
        Assert.True(offset > 0);
        var entry = role.Items[2].Items!.Single();
        Assert.Equal("127.0.0.1", entry.Items![0].Text);
        Assert.Equal(replicaServer.Port.ToString(), entry.Items[1].Text);

        var mine = await replica.CallAsync("ROLE");
        Assert.Equal(["slave", "127.0.0.1"], mine.Items!.Take(2).Select(i => i.Text));
        Assert.Equal(primaryServer.Port, mine.Items![2].Integer);
        Assert.Equal("connected", mine.Items[3].Text);
        Assert.Equal(offset, mine.Items[4].Integer);
    }

    [Fact]
    public async Task DroppedLinkContinuesWithPartialResync()
    {
        await using var primaryServer = await TestServer.StartAsync(Fast);
        await using var replicaServer = await TestServer.StartAsync(Fast);
        await using var primary = await primaryServer.ConnectAsync();
        await using var replica = await replicaServer.ConnectAsync();
        await AttachAsync(replica, primaryServer.Port);
        for (int round = 0; round < 3; round++)
        {
            await primary.CallAsync("SET", "r" + round, "before");
            await WaitForOffsetsAsync(primary, replica);
            // Cut the link from either side; writes go on meanwhile.
            if (round % 2 == 0) await replica.CallAsync("CLIENT", "KILL", "TYPE", "master");
            else await primary.CallAsync("CLIENT", "KILL", "TYPE", "replica");
            await primary.CallAsync("SET", "r" + round, "during");
            await WaitForLinkAsync(replica);
            await WaitForOffsetsAsync(primary, replica);
            Assert.Equal("during", await replica.CallTextAsync("GET", "r" + round));
        }
        Assert.Equal("1", await InfoFieldAsync(primary, "sync_full", "stats"));
        Assert.Equal("3", await InfoFieldAsync(primary, "sync_partial_ok", "stats"));
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));
    }

    [Fact]
    public async Task ChainedReplicasGetThePrimaryStreamByteForByte()
    {
        await using var a = await TestServer.StartAsync(Fast);
        await using var b = await TestServer.StartAsync(Fast);
        await using var c = await TestServer.StartAsync(Fast);
        await using var ca = await a.ConnectAsync();
        await using var cb = await b.ConnectAsync();
        await using var cc = await c.ConnectAsync();
        await ca.CallAsync("SET", "before", "1");
        await AttachAsync(cb, a.Port);
        await AttachAsync(cc, b.Port);
        for (int i = 0; i < 50; i++) await ca.CallAsync("RPUSH", "list", i.ToString());
        await ca.CallAsync("MULTI");
        await ca.CallAsync("INCR", "n");
        await ca.CallAsync("SET", "m", "x");
        await ca.CallAsync("EXEC");
        await WaitForOffsetsAsync(ca, cb);
        await WaitForOffsetsAsync(ca, cc);
        Assert.Equal(await InfoFieldAsync(ca, "master_replid"), await InfoFieldAsync(cc, "master_replid"));
        Assert.Equal(await DigestAsync(ca), await DigestAsync(cc));

        // The middle one is promoted: its replica continues from it, the old primary joins it, no full sync.
        long fullBefore = long.Parse(await InfoFieldAsync(cb, "sync_full", "stats"));
        Assert.Equal("OK", await cb.CallTextAsync("REPLICAOF", "NO", "ONE"));
        Assert.Equal("master", await InfoFieldAsync(cb, "role"));
        Assert.Equal(await InfoFieldAsync(ca, "master_replid"), await InfoFieldAsync(cb, "master_replid2"));
        await cb.CallAsync("SET", "after-promotion", "1");
        await AttachAsync(ca, b.Port);
        await WaitForLinkAsync(cc);
        await WaitForOffsetsAsync(cb, ca);
        await WaitForOffsetsAsync(cb, cc);
        Assert.Equal(fullBefore, long.Parse(await InfoFieldAsync(cb, "sync_full", "stats")));
        Assert.Equal("1", await ca.CallTextAsync("GET", "after-promotion"));
        Assert.Equal(await DigestAsync(cb), await DigestAsync(ca));
        Assert.Equal(await DigestAsync(cb), await DigestAsync(cc));
    }

    [Fact]
    public async Task ReplicaReadsOfExpiredKeysMissButTheKeyWaitsForThePrimary()
    {
        await using var primaryServer = await TestServer.StartAsync(Fast);
        await using var replicaServer = await TestServer.StartAsync(Fast);
        await using var primary = await primaryServer.ConnectAsync();
        await using var replica = await replicaServer.ConnectAsync();
        await primary.CallAsync("DEBUG", "SET-ACTIVE-EXPIRE", "0");
        await AttachAsync(replica, primaryServer.Port);
        await primary.CallAsync("SET", "k", "v", "PX", "50");
        await WaitForOffsetsAsync(primary, replica);
        await Task.Delay(100);
        Assert.Null((await replica.CallAsync("GET", "k")).Text);
        Assert.Equal(0, (await replica.CallAsync("EXISTS", "k")).Integer);
        // Still there (DBSIZE counts it) until the primary deletes it and says so.
        Assert.Equal(1, (await replica.CallAsync("DBSIZE")).Integer);
        Assert.Null((await primary.CallAsync("GET", "k")).Text);
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal(0, (await replica.CallAsync("DBSIZE")).Integer);
    }

    [Fact]
    public async Task StaleDataAndLoadingRules()
    {
        await using var primaryServer = await TestServer.StartAsync(Fast);
        await using var replicaServer = await TestServer.StartAsync(Fast);
        await using var primary = await primaryServer.ConnectAsync();
        await using var replica = await replicaServer.ConnectAsync();
        await primary.CallAsync("DEBUG", "POPULATE", "2000");
        await replica.CallAsync("CONFIG", "SET", "key-load-delay", "500");
        // Clients are looked at every loading-process-events-interval-bytes of the image (2 MB by
        // default: this small image would make them wait for the whole load instead).
        await replica.CallAsync("CONFIG", "SET", "loading-process-events-interval-bytes", "1024");
        await replica.CallAsync("REPLICAOF", "127.0.0.1", primaryServer.Port.ToString());
        // While the image loads: -LOADING for data commands, INFO still answers.
        await WaitUntilAsync(async () => await InfoFieldAsync(replica, "loading", "persistence") == "1", "the replica to load");
        await WaitUntilAsync(async () => long.TryParse(await InfoFieldAsync(replica, "loading_loaded_bytes", "persistence"), out long n) && n >= 1024, "the first kilobyte to load");
        var loading = await replica.CallAsync("GET", "key:1");
        Assert.Equal("LOADING Valkey is loading the dataset in memory", loading.Text);
        await replica.CallAsync("CONFIG", "SET", "key-load-delay", "0");
        await WaitForLinkAsync(replica);
        Assert.Equal("value:1", await replica.CallTextAsync("GET", "key:1"));

        // With the default interval a small image's load holds commands until it is done.
        await replica.CallAsync("REPLICAOF", "NO", "ONE");
        await replica.CallAsync("FLUSHALL");
        await replica.CallAsync("CONFIG", "SET", "loading-process-events-interval-bytes", "2097152");
        await replica.CallAsync("CONFIG", "SET", "key-load-delay", "100");
        await replica.CallAsync("REPLICAOF", "127.0.0.1", primaryServer.Port.ToString());
        await using (var other = await replicaServer.ConnectAsync())
            await WaitUntilAsync(async () => await InfoFieldAsync(other, "loading", "persistence") == "1", "the replica to load again");
        Assert.Equal("value:1", await replica.CallTextAsync("GET", "key:1"));
        await replica.CallAsync("CONFIG", "SET", "key-load-delay", "0");
        await WaitForLinkAsync(replica);

        // Link down with replica-serve-stale-data no: MASTERDOWN for commands not flagged "stale"
        // (PING included, as in Valkey); INFO, ROLE and REPLICAOF work.
        await replica.CallAsync("CONFIG", "SET", "replica-serve-stale-data", "no");
        await replica.CallAsync("REPLICAOF", "127.0.0.1", ServerExecutable.FreePort().ToString());
        var stale = await replica.CallAsync("GET", "key:1");
        Assert.Equal("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", stale.Text);
        Assert.StartsWith("MASTERDOWN", (await replica.CallAsync("PING")).Text);
        Assert.Equal("down", await InfoFieldAsync(replica, "master_link_status"));
        Assert.Equal("OK", await replica.CallTextAsync("REPLICAOF", "NO", "ONE"));
        Assert.Equal("value:1", await replica.CallTextAsync("GET", "key:1"));
    }

    [Fact]
    public async Task ReplicaofErrorsAndNoOps()
    {
        await using var server = await TestServer.StartAsync(Fast);
        await using var c = await server.ConnectAsync();
        Assert.Equal("ERR Invalid master port", (await c.CallAsync("REPLICAOF", "127.0.0.1", "70000")).Text);
        Assert.Equal("ERR Invalid master port", (await c.CallAsync("REPLICAOF", "127.0.0.1", "abc")).Text);
        Assert.Equal("OK", await c.CallTextAsync("REPLICAOF", "NO", "ONE"));
        int port = ServerExecutable.FreePort();
        Assert.Equal("OK", await c.CallTextAsync("SLAVEOF", "127.0.0.1", port.ToString()));
        Assert.Equal("OK Already connected to specified master", await c.CallTextAsync("REPLICAOF", "127.0.0.1", port.ToString()));
        Assert.StartsWith("ERR WAIT cannot be used with replica instances", (await c.CallAsync("WAIT", "1", "0")).Text);
        Assert.Equal($"127.0.0.1 {port}", (await c.CallAsync("CONFIG", "GET", "replicaof")).Items![1].Text);
        Assert.Equal("OK", await c.CallTextAsync("REPLICAOF", "NO", "ONE"));
        Assert.Equal("master", await InfoFieldAsync(c, "role"));
    }

    [Fact]
    public async Task WaitCountsAcknowledgingReplicasAndTimesOut()
    {
        await using var server = await TestServer.StartAsync(Fast);
        await using var c = await server.ConnectAsync();
        await c.CallAsync("SET", "k", "v");
        Assert.Equal(0, (await c.CallAsync("WAIT", "0", "0")).Integer);
        var started = DateTime.UtcNow;
        Assert.Equal(0, (await c.CallAsync("WAIT", "1", "200")).Integer);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(180));
        Assert.Equal("ERR timeout is negative", (await c.CallAsync("WAIT", "1", "-1")).Text);
        Assert.Equal("ERR timeout is not an integer or out of range", (await c.CallAsync("WAIT", "1", "1.5")).Text);
        // Inside MULTI it answers at once.
        await c.CallAsync("MULTI");
        await c.CallAsync("WAIT", "5", "0");
        var exec = await c.CallAsync("EXEC");
        Assert.Equal(0, exec.Items![0].Integer);
    }

    /// <summary>
    /// Commands larger than one read, pipelined across databases: a command split over reads must
    /// be applied whole, whatever the link's buffer did meanwhile.
    /// </summary>
    [Fact]
    public async Task LargePipelinedCommandsAcrossDatabasesApplyWhole()
    {
        await using var primaryServer = await TestServer.StartAsync(Fast);
        await using var replicaServer = await TestServer.StartAsync(Fast);
        await using var primary = await primaryServer.ConnectAsync();
        await using var replica = await replicaServer.ConnectAsync();
        await AttachAsync(replica, primaryServer.Port);
        var random = new Random(3);
        for (int i = 0; i < 60; i++)
        {
            await primary.SendAsync("SELECT", (i % 4).ToString());
            var args = new List<object> { "MSET" };
            for (int k = 0; k < 20; k++) args.Add($"k{i}:{k}") ;
            for (int k = 0; k < 20; k++) args.Insert(2 + 2 * k, new string((char)('a' + random.Next(26)), random.Next(1, 40_000)));
            await primary.SendAsync([.. args]);
        }
        for (int i = 0; i < 120; i++) await primary.ReadAsync();
        await WaitForOffsetsAsync(primary, replica);
        Assert.Equal(await DigestAsync(primary), await DigestAsync(replica));
    }

    [Fact]
    public async Task ClientsWithRedirectCapaAreSentToThePrimary()
    {
        await using var primaryServer = await TestServer.StartAsync(Fast);
        await using var replicaServer = await TestServer.StartAsync(Fast);
        await using var replica = await replicaServer.ConnectAsync();
        await using var rr = await replicaServer.ConnectAsync();
        await rr.CallAsync("CLIENT", "CAPA", "REDIRECT");
        await rr.CallAsync("MULTI");
        Assert.Equal("QUEUED", await rr.CallTextAsync("SET", "foo", "bar"));
        await AttachAsync(replica, primaryServer.Port);
        // A transaction queued before the role changed goes to the primary whole.
        Assert.Equal($"REDIRECT 127.0.0.1:{primaryServer.Port}", (await rr.CallAsync("EXEC")).Text);
        Assert.Equal($"REDIRECT 127.0.0.1:{primaryServer.Port}", (await rr.CallAsync("GET", "foo")).Text);
        Assert.Equal("PONG", await rr.CallTextAsync("PING"));
        Assert.Equal("OK", await rr.CallTextAsync("READONLY"));
        Assert.Null((await rr.CallAsync("GET", "foo")).Text);
        Assert.Equal($"REDIRECT 127.0.0.1:{primaryServer.Port}", (await rr.CallAsync("SET", "foo", "bar")).Text);
        Assert.Equal("OK", await rr.CallTextAsync("READWRITE"));
        Assert.Equal($"REDIRECT 127.0.0.1:{primaryServer.Port}", (await rr.CallAsync("GET", "foo")).Text);
        // Without the capability: the read-only replica's own error.
        Assert.StartsWith("READONLY", (await replica.CallAsync("SET", "foo", "bar")).Text);
    }
}
