namespace Kvasir.Sentinel;

/// <summary>
/// The Sentinel's periods and timeouts in milliseconds, with Valkey's defaults. SENTINEL DEBUG shows
/// and changes them (tests shorten them); they are not persisted.
/// </summary>
public sealed class SentinelTimings
{
    public long InfoPeriod = 10_000;
    public long PingPeriod = 1_000;
    public long AskPeriod = 1_000;
    public long PublishPeriod = 2_000;
    public long DefaultDownAfter = 30_000;
    public long DefaultFailoverTimeout = 3 * 60 * 1000;
    public long TiltTrigger = 2_000;
    public long TiltPeriod = 30 * 1000;
    public long ReplicaReconfTimeout = 10_000;
    public long MinLinkReconnectPeriod = 15_000;
    public long ElectionTimeout = 10_000;
    public long ScriptMaxRuntime = 60_000;
    public long ScriptRetryDelay = 30_000;

    /// <summary>The parameters in SENTINEL DEBUG's order: (reply name, accessor).</summary>
    public IEnumerable<(string Name, Func<long> Get, Action<long> Set)> All()
    {
        yield return ("INFO-PERIOD", () => InfoPeriod, v => InfoPeriod = v);
        yield return ("PING-PERIOD", () => PingPeriod, v => PingPeriod = v);
        yield return ("ASK-PERIOD", () => AskPeriod, v => AskPeriod = v);
        yield return ("PUBLISH-PERIOD", () => PublishPeriod, v => PublishPeriod = v);
        yield return ("DEFAULT-DOWN-AFTER", () => DefaultDownAfter, v => DefaultDownAfter = v);
        yield return ("DEFAULT-FAILOVER-TIMEOUT", () => DefaultFailoverTimeout, v => DefaultFailoverTimeout = v);
        yield return ("TILT-TRIGGER", () => TiltTrigger, v => TiltTrigger = v);
        yield return ("TILT-PERIOD", () => TiltPeriod, v => TiltPeriod = v);
        yield return ("SLAVE-RECONF-TIMEOUT", () => ReplicaReconfTimeout, v => ReplicaReconfTimeout = v);
        yield return ("MIN-LINK-RECONNECT-PERIOD", () => MinLinkReconnectPeriod, v => MinLinkReconnectPeriod = v);
        yield return ("ELECTION-TIMEOUT", () => ElectionTimeout, v => ElectionTimeout = v);
        yield return ("SCRIPT-MAX-RUNTIME", () => ScriptMaxRuntime, v => ScriptMaxRuntime = v);
        yield return ("SCRIPT-RETRY-DELAY", () => ScriptRetryDelay, v => ScriptRetryDelay = v);
    }
}
