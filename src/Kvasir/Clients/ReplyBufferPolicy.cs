namespace Kvasir.Clients;

/// <summary>
/// Valkey's reply buffer resizing (clientsCronResizeOutputBuffer): a client whose replies stayed
/// under half its buffer since the last peak reset gets a smaller one (never under 1 KB); one that
/// filled it gets a twice larger one (up to 16 KB). The peak is reset every
/// <c>DEBUG REPLYBUFFER PEAK-RESET-TIME</c> (5 s by default), so an idle client shrinks. The size is
/// what the connection takes its next reply buffer from the pool with.
/// </summary>
internal static class ReplyBufferPolicy
{
    public const int MinBytes = 1024;      // PROTO_REPLY_MIN_BYTES
    public const int ChunkBytes = 16 * 1024; // PROTO_REPLY_CHUNK_BYTES

    /// <summary>From the cron, under the data lock: resizes the clients due a look (each about once a second, every tick when few).</summary>
    public static void Run(KvasirServer server, int hz)
    {
        var debug = server.Debug;
        if (!debug.ReplyBufferResizing) return;
        long now = Environment.TickCount64;
        int count = server.Clients.Count;
        // Valkey's clientsCron visits count/hz clients per tick, at least 5: all of them every tick
        // when there are few, each about once a second otherwise.
        long every = count <= 5 * hz ? 0 : 1000;
        foreach (var c in server.Clients.All)
        {
            if (c.Transport is null || now - c.ReplyBufferCheckedMs < every) continue;
            c.ReplyBufferCheckedMs = now;
            Resize(server, c, now, debug.ReplyBufferPeakResetTime);
        }
    }

    private static void Resize(KvasirServer server, Client c, long now, long peakResetTime)
    {
        int size = c.ReplyBufferSize;
        int shrinkTarget = size / 2, expandTarget = size * 2;
        int newSize = 0;
        if (shrinkTarget >= MinBytes && c.ReplyPeak < shrinkTarget)
        {
            newSize = Math.Max(MinBytes, c.ReplyPeak + 1);
            server.Stats.ReplyBufferShrinks++;
        }
        else if (expandTarget < ChunkBytes * 2 && c.ReplyPeak == size)
        {
            newSize = Math.Min(ChunkBytes, expandTarget);
            server.Stats.ReplyBufferExpands++;
        }
        if (peakResetTime >= 0 && now - c.ReplyPeakResetMs >= peakResetTime)
        {
            c.ReplyPeak = Math.Min(c.Reply.Length, size);
            c.ReplyPeakResetMs = now;
        }
        if (newSize != 0)
        {
            c.ReplyBufferSize = newSize;
            c.Reply.BaseSize = newSize;
        }
    }
}
