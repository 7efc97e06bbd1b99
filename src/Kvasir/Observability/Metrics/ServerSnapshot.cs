using System.Diagnostics;
using System.Text;

namespace Kvasir.Observability.Metrics;

/// <summary>
/// What one scrape of the metrics endpoint or the status page reads from the server: the text of
/// INFO ALL (the same builder INFO runs, so the numbers are INFO's by construction) plus copies of
/// the slow log and the latency events. Taking it holds the data lock exactly as long as an
/// <c>INFO ALL</c> does, then a second, shorter hold copies the two logs; everything else a
/// scrape does (parsing, formatting, HTTP) happens outside the lock.
/// </summary>
public sealed class ServerSnapshot
{
    public sealed record SlowEntry(long Id, long UnixTime, long Microseconds, string Command, string Peer, string ClientName);

    public sealed record LatencyEvent(string Name, long LastUnixTime, long LastMs, long MaxMs);

    private static readonly InfoBuilder.Selection AllSections = InfoBuilder.Selection.Parse(new[] { "all" });

    /// <summary>Slow log entries copied per scrape (Valkey's default slowlog-max-len).</summary>
    public const int SlowLogEntries = 128;

    /// <summary>INFO fields by section ("Server", "Keyspace", ...), in INFO's order.</summary>
    public readonly Dictionary<string, List<KeyValuePair<string, string>>> Sections = new(StringComparer.Ordinal);

    /// <summary>Every INFO field by name (names are unique across sections).</summary>
    public readonly Dictionary<string, string> Fields = new(StringComparer.Ordinal);

    public List<SlowEntry> SlowLog { get; } = new();
    public long SlowLogLength { get; private set; }
    public List<LatencyEvent> LatencyEvents { get; } = new();
    public int Databases { get; private set; }
    public long MaxClients { get; private set; }

    /// <summary>How long the INFO part held the data lock (for kvasir_metrics_lock_hold_seconds).</summary>
    public TimeSpan InfoLockHold { get; private set; }

    /// <summary>
    /// Takes a snapshot, waiting for the data lock in short slices so that a stopping endpoint is
    /// never stuck behind a lock its stopper holds. Null when <paramref name="cancel"/> fires first.
    /// </summary>
    public static ServerSnapshot? Take(KvasirServer server, CancellationToken cancel)
    {
        var snapshot = new ServerSnapshot();
        string info;
        if (!Enter(server.DataLock, cancel)) return null;
        long start = Stopwatch.GetTimestamp();
        try
        {
            info = InfoBuilder.Build(server, AllSections);
        }
        finally
        {
            snapshot.InfoLockHold = Stopwatch.GetElapsedTime(start);
            server.DataLock.Exit();
        }

        if (!Enter(server.DataLock, cancel)) return null;
        try
        {
            snapshot.Databases = server.Databases.Length;
            snapshot.MaxClients = server.Config.MaxClients;
            snapshot.SlowLogLength = server.SlowLog.Count;
            foreach (var e in server.SlowLog.Newest(SlowLogEntries))
                snapshot.SlowLog.Add(new SlowEntry(e.Id, e.UnixTime, e.Microseconds, CommandLine(e.Args), e.Peer, e.ClientName));
            foreach (var (name, series) in server.Latency.Events)
            {
                if (series.Samples.Count == 0) continue;
                var last = series.Samples[^1];
                snapshot.LatencyEvents.Add(new LatencyEvent(name, last.Time, last.Ms, series.MaxMs));
            }
        }
        finally
        {
            server.DataLock.Exit();
        }
        snapshot.LatencyEvents.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        snapshot.Parse(info);
        return snapshot;
    }

    private static bool Enter(Lock dataLock, CancellationToken cancel)
    {
        while (!dataLock.TryEnter(50))
            if (cancel.IsCancellationRequested) return false;
        return true;
    }

    /// <summary>A slow log entry's arguments as one printable line (binary bytes escaped).</summary>
    private static string CommandLine(byte[][] args)
    {
        var sb = new StringBuilder();
        foreach (var a in args)
        {
            if (sb.Length > 0) sb.Append(' ');
            foreach (byte b in a)
            {
                if (b is >= 0x20 and < 0x7f) sb.Append((char)b);
                else sb.Append("\\x").Append(b.ToString("x2"));
            }
        }
        return sb.ToString();
    }

    /// <summary>Reads INFO text ("# Section" headers, "name:value" lines) into the field tables.</summary>
    internal void Parse(string info)
    {
        List<KeyValuePair<string, string>>? current = null;
        foreach (var raw in info.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                current = new List<KeyValuePair<string, string>>();
                Sections[line[2..]] = current;
                continue;
            }
            int colon = line.IndexOf(':');
            if (colon <= 0 || current is null) continue;
            string name = line[..colon], value = line[(colon + 1)..];
            current.Add(new(name, value));
            Fields[name] = value;
        }
    }

    public IReadOnlyList<KeyValuePair<string, string>> Section(string name) =>
        Sections.TryGetValue(name, out var s) ? s : Array.Empty<KeyValuePair<string, string>>();

    public string Text(string name) => Fields.TryGetValue(name, out var v) ? v : "";

    /// <summary>A numeric INFO field; <paramref name="value"/> is 0 when absent or not a number.</summary>
    public bool Number(string name, out double value)
    {
        value = 0;
        return Fields.TryGetValue(name, out var v) && TryNumber(v, out value);
    }

    public double Number(string name) => Number(name, out double v) ? v : 0;

    /// <summary>INFO numbers, plus the status words redis_exporter maps (ok/up/yes = 1, err/down/no = 0).</summary>
    public static bool TryNumber(string text, out double value)
    {
        switch (text)
        {
            case "ok" or "up" or "yes": value = 1; return true;
            case "err" or "down" or "no" or "fail": value = 0; return true;
        }
        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Splits "a=1,b=2" (keyspace, cmdstat, slaveN, errorstat lines) into pairs.</summary>
    public static Dictionary<string, string> Pairs(string value)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in value.Split(','))
        {
            int eq = part.IndexOf('=');
            if (eq > 0) d[part[..eq]] = part[(eq + 1)..];
        }
        return d;
    }
}
