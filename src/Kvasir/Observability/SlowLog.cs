namespace Kvasir.Observability;

/// <summary>SLOWLOG: the last N commands slower than slowlog-log-slower-than microseconds.</summary>
public sealed class SlowLog
{
    public sealed record Entry(long Id, long UnixTime, long Microseconds, byte[][] Args, string Peer, string ClientName);

    private readonly LinkedList<Entry> _entries = new();
    private long _nextId;

    /// <summary>Valkey keeps at most 32 arguments and 128 bytes per argument.</summary>
    public const int MaxArgs = 32;
    public const int MaxArgLength = 128;

    public int Count => _entries.Count;

    public IEnumerable<Entry> Newest(int count) => _entries.Take(count);

    public void Add(byte[][] args, long micros, string peer, string name, int maxLen)
    {
        var kept = TrimArgs(args);
        _entries.AddFirst(new Entry(_nextId++, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), micros, kept, peer, name));
        while (_entries.Count > maxLen) _entries.RemoveLast();
    }

    public void Trim(int maxLen)
    {
        while (_entries.Count > maxLen) _entries.RemoveLast();
    }

    public void Reset() => _entries.Clear();

    private static byte[][] TrimArgs(byte[][] args)
    {
        int n = Math.Min(args.Length, MaxArgs);
        var result = new byte[n][];
        for (int i = 0; i < n; i++)
        {
            if (i == MaxArgs - 1 && args.Length > MaxArgs)
            {
                result[i] = System.Text.Encoding.ASCII.GetBytes($"... ({args.Length - MaxArgs + 1} more arguments)");
                break;
            }
            var a = args[i];
            if (a.Length > MaxArgLength)
            {
                var suffix = System.Text.Encoding.ASCII.GetBytes($"... ({a.Length - MaxArgLength} more bytes)");
                result[i] = a.AsSpan(0, MaxArgLength).ToArray().Concat(suffix).ToArray();
            }
            else result[i] = a;
        }
        return result;
    }
}
