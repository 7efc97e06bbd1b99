namespace Kvasir.Observability;

/// <summary>LATENCY: per-event latency spikes above latency-monitor-threshold, 160 samples each, as Valkey.</summary>
public sealed class LatencyMonitor
{
    public sealed class EventSeries
    {
        public readonly List<(long Time, long Ms)> Samples = new();
        public long MaxMs;
    }

    public const int HistoryLength = 160;
    private readonly Dictionary<string, EventSeries> _events = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, EventSeries> Events => _events;

    public void Add(string eventName, long ms)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        if (!_events.TryGetValue(eventName, out var s)) _events[eventName] = s = new EventSeries();
        if (s.Samples.Count > 0 && s.Samples[^1].Time == now)
        {
            var last = s.Samples[^1];
            s.Samples[^1] = (now, Math.Max(last.Ms, ms));
        }
        else
        {
            s.Samples.Add((now, ms));
            if (s.Samples.Count > HistoryLength) s.Samples.RemoveAt(0);
        }
        s.MaxMs = Math.Max(s.MaxMs, ms);
    }

    /// <summary>Resets the given events (all when empty); returns how many were reset.</summary>
    public int Reset(IReadOnlyCollection<string> names)
    {
        if (names.Count == 0)
        {
            int n = _events.Count;
            _events.Clear();
            return n;
        }
        int count = 0;
        foreach (var name in names)
        {
            // Valkey matches event names case-insensitively here (but not in HISTORY/GRAPH).
            foreach (var key in _events.Keys.ToList())
            {
                if (!string.Equals(key, name, StringComparison.OrdinalIgnoreCase)) continue;
                _events.Remove(key);
                count++;
            }
        }
        return count;
    }
}
