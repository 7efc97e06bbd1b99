namespace Kvasir.Persistence;

/// <summary>
/// <c>key-load-delay</c> for a loading thread, as Valkey's debugDelay in rdbLoad: microseconds per
/// key loaded (negative: one microsecond every -N keys). Sleeps are whole milliseconds here, so the
/// delay accumulates until it is worth one. Tests use it to make a load last long enough to watch.
/// </summary>
internal sealed class KeyLoadPacer(Config.ServerConfig config)
{
    private long _pendingMicros;

    /// <summary>From the loading thread, once per key.</summary>
    public void KeyLoaded()
    {
        int delay = config.KeyLoadDelay;
        if (delay > 0) _pendingMicros += delay;
        else if (delay < 0 && Random.Shared.Next(-delay) == 0) _pendingMicros++;
        if (_pendingMicros < 1000) return;
        Thread.Sleep((int)(_pendingMicros / 1000));
        _pendingMicros %= 1000;
    }
}
