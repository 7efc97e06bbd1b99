using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Replication;

/// <summary>Polling helpers for replication tests: INFO fields, link up, offsets in sync, digests equal.</summary>
internal static class ReplicationKit
{
    /// <summary>Settings that make syncs start at once (no diskless delay) for test servers.</summary>
    public static readonly (string, string)[] Fast = [("repl-diskless-sync-delay", "0"), ("enable-debug-command", "yes")];

    public static async Task<string> InfoFieldAsync(RespClient c, string field, string section = "replication")
    {
        var info = (await c.CallAsync("INFO", section)).Text ?? "";
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return "";
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int timeoutMs = 20_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what);
            await Task.Delay(20);
        }
    }

    /// <summary>Makes <paramref name="replica"/> a replica of the server on <paramref name="primaryPort"/> and waits for the link.</summary>
    public static async Task AttachAsync(RespClient replica, int primaryPort)
    {
        Assert.Equal("OK", await replica.CallTextAsync("REPLICAOF", "127.0.0.1", primaryPort.ToString()));
        await WaitForLinkAsync(replica);
    }

    public static Task WaitForLinkAsync(RespClient replica) =>
        WaitUntilAsync(async () => await InfoFieldAsync(replica, "master_link_status") == "up", "the replica's link to come up");

    /// <summary>Valkey's wait_for_ofs_sync: both hold the same number of bytes of the stream.</summary>
    public static Task WaitForOffsetsAsync(RespClient primary, RespClient replica) =>
        WaitUntilAsync(async () =>
        {
            string a = await InfoFieldAsync(primary, "master_repl_offset");
            string b = await InfoFieldAsync(replica, "master_repl_offset");
            return a == b && a.Length > 0;
        }, "replication offsets to match");

    public static async Task<string> DigestAsync(RespClient c) => (await c.CallTextAsync("DEBUG", "DIGEST"))!;
}
