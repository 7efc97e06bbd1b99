namespace Kvasir.Observability;

/// <summary>Server-wide counters shown by INFO stats/errorstats and reset by CONFIG RESETSTAT.</summary>
public sealed class ServerStats
{
    public long TotalConnectionsReceived;
    /// <summary>Reply buffers shrunk and grown by the cron (INFO reply_buffer_shrinks / reply_buffer_expands).</summary>
    public long ReplyBufferShrinks, ReplyBufferExpands;
    public long TotalCommandsProcessed;
    public long RejectedConnections;
    public long NetInputBytes;
    public long NetOutputBytes;
    public long EvictedKeys;
    public long EvictedClients;
    public long TotalErrorReplies;
    public long UnexpectedErrorReplies;
    public long ClientQueryBufferLimitDisconnections;
    public long ClientOutputBufferLimitDisconnections;
    public long IoReadsProcessed;
    public long IoWritesProcessed;
    /// <summary>Socket reads and writes (updated by connections with Interlocked, outside the data lock).</summary>
    public long TotalReadsProcessed;
    public long TotalWritesProcessed;
    /// <summary>Replication traffic, part of the net totals (set by the replication subsystem).</summary>
    public long NetReplInputBytes;
    public long NetReplOutputBytes;

    /// <summary>
    /// Live values owned by other subsystems that INFO reports (pubsub_channels, watching_clients,
    /// total_blocking_keys, tracking_total_keys, ...): the subsystem registers a reader under the
    /// INFO field name; fields without one report 0.
    /// </summary>
    public readonly Dictionary<string, Func<long>> Gauges = new(StringComparer.Ordinal);

    public long Gauge(string name) => Gauges.TryGetValue(name, out var read) ? read() : 0;

    /// <summary>Error replies by their code (the first word: ERR, WRONGTYPE, NOAUTH, ...).</summary>
    public readonly Dictionary<string, long> ErrorCodes = new(StringComparer.Ordinal);

    /// <summary>Distinct error codes kept before errors with custom codes (from scripts) are pooled.</summary>
    public const int ErrorCodeLimit = 128;

    /// <summary>
    /// Counts an error reply under its code: the first word when it ends within 31 characters,
    /// "ERR" otherwise (Valkey's afterErrorReply). Once <see cref="ErrorCodeLimit"/> codes exist,
    /// new custom codes (script errors) are counted as ERRORSTATS_OVERFLOW instead.
    /// </summary>
    public void CountError(string message, bool custom = false)
    {
        TotalErrorReplies++;
        int space = message.AsSpan(0, Math.Min(message.Length, 31)).IndexOf(' ');
        string code = space < 0 ? "ERR" : message[..space];
        if (ErrorCodes.TryGetValue(code, out long n))
        {
            ErrorCodes[code] = n + 1;
            return;
        }
        if (custom && ErrorCodes.Count >= ErrorCodeLimit) code = "ERRORSTATS_OVERFLOW";
        ErrorCodes[code] = ErrorCodes.GetValueOrDefault(code) + 1;
    }

    public void Reset()
    {
        TotalConnectionsReceived = TotalCommandsProcessed = RejectedConnections = 0;
        ReplyBufferShrinks = ReplyBufferExpands = 0;
        NetInputBytes = NetOutputBytes = EvictedKeys = EvictedClients = 0;
        TotalErrorReplies = UnexpectedErrorReplies = 0;
        ClientQueryBufferLimitDisconnections = ClientOutputBufferLimitDisconnections = 0;
        IoReadsProcessed = IoWritesProcessed = 0;
        TotalReadsProcessed = TotalWritesProcessed = 0;
        NetReplInputBytes = NetReplOutputBytes = 0;
        ErrorCodes.Clear();
        Resetting?.Invoke();
    }

    /// <summary>CONFIG RESETSTAT: counters kept elsewhere (lazyfreed_objects, eviction times) reset too.</summary>
    public event Action? Resetting;
}
