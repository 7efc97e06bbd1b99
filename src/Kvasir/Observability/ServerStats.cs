namespace Kvasir.Observability;

/// <summary>Server-wide counters shown by INFO stats/errorstats and reset by CONFIG RESETSTAT.</summary>
public sealed class ServerStats
{
    public long TotalConnectionsReceived;
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

    /// <summary>Counts an error reply. Valkey caps the number of distinct codes it tracks at 128.</summary>
    public void CountError(string message)
    {
        TotalErrorReplies++;
        int space = message.IndexOf(' ');
        string code = space < 0 ? message : message[..space];
        if (ErrorCodes.TryGetValue(code, out long n)) ErrorCodes[code] = n + 1;
        else if (ErrorCodes.Count < 128) ErrorCodes[code] = 1;
    }

    public void Reset()
    {
        TotalConnectionsReceived = TotalCommandsProcessed = RejectedConnections = 0;
        NetInputBytes = NetOutputBytes = EvictedKeys = EvictedClients = 0;
        TotalErrorReplies = UnexpectedErrorReplies = 0;
        ClientQueryBufferLimitDisconnections = ClientOutputBufferLimitDisconnections = 0;
        IoReadsProcessed = IoWritesProcessed = 0;
        TotalReadsProcessed = TotalWritesProcessed = 0;
        NetReplInputBytes = NetReplOutputBytes = 0;
        ErrorCodes.Clear();
    }
}
