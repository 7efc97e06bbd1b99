using Xunit;

namespace Kvasir.Tests.Infrastructure;

/// <summary>Reads a server's replication stream the way a replica does (SYNC, then commands).</summary>
internal static class ReplicationStream
{
    public static async Task<RespClient> AttachAsync(TestServer server)
    {
        var replica = await server.ConnectAsync();
        await replica.SendRawAsync("SYNC\r\n");
        // The primary sends bare newlines while it prepares the image, then "$<length>".
        string header = "";
        while (true)
        {
            header += await replica.ReadRawAsync(1);
            if (header == "\n") header = "";
            else if (header.EndsWith('\n')) break;
        }
        Assert.StartsWith("$", header);
        Assert.StartsWith("REDIS", await replica.ReadRawAsync(int.Parse(header[1..].Trim())));
        return replica;
    }

    /// <summary>
    /// The next command of the stream as "NAME arg...". The primary's keepalive PINGs (every
    /// repl-ping-replica-period) are skipped: a slow machine can let one in anywhere.
    /// </summary>
    public static async Task<string> NextAsync(RespClient replica) =>
        string.Join(' ', (await NextRawAsync(replica)).Items!.Select(i => i.Text));

    /// <summary>The next command of the stream as received, keepalive PINGs skipped.</summary>
    public static async Task<RespValue> NextRawAsync(RespClient replica)
    {
        while (true)
        {
            var value = await replica.ReadAsync();
            if (value.Items is not [{ Text: "PING" }]) return value;
        }
    }
}
