using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

internal static class ServerTestHelpers
{
    /// <summary>Switches the most recently connected client to RESP3 on the server side (HELLO belongs to another command family).</summary>
    public static async Task UseResp3ForNewestClient(TestServer server, RespClient client)
    {
        await client.CallAsync("PING"); // the server has admitted the connection once it answers
        var s = server.Server;
        lock (s.DataLock)
        {
            var newest = s.Clients.All.MaxBy(c => c.Id)!;
            newest.Reply.Protocol = 3;
        }
    }

    /// <summary>The value of one INFO field ("" when absent).</summary>
    public static string Field(string info, string name)
    {
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(name + ":", StringComparison.Ordinal)) return line[(name.Length + 1)..];
        return "";
    }
}
