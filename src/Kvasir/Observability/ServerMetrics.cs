using System.Diagnostics;

namespace Kvasir.Observability;

/// <summary>
/// Figures that need periodic sampling rather than plain counters: the instantaneous_* rates of
/// INFO stats (Valkey averages 16 samples taken every 100 ms), the memory peak, and the
/// "event loop" durations. Kvasir has no single event loop: a cycle here is one cron tick or one
/// executed command, the two kinds of work Valkey's loop iterations are made of.
/// </summary>
public sealed class ServerMetrics
{
    public enum Metric { Commands, NetInput, NetOutput, NetReplInput, NetReplOutput, EventLoopCycles, EventLoopDuration, Count }

    private const int Samples = 16;

    private sealed class Sampler
    {
        public readonly long[] Values = new long[Samples];
        public int Index;
        public long LastBase;
        public long LastValue;

        public void Track(long value, long baseValue, long factor)
        {
            if (LastBase > 0)
            {
                long baseDelta = baseValue - LastBase;
                long valueDelta = value - LastValue;
                Values[Index] = baseDelta > 0 ? valueDelta * factor / baseDelta : 0;
                Index = (Index + 1) % Samples;
            }
            LastBase = baseValue;
            LastValue = value;
        }

        public long Mean()
        {
            long sum = 0;
            foreach (var v in Values) sum += v;
            return sum / Samples;
        }
    }

    private readonly Sampler[] _samplers = new Sampler[(int)Metric.Count];
    private long _lastSampleTicks;

    public ServerMetrics()
    {
        for (int i = 0; i < _samplers.Length; i++) _samplers[i] = new Sampler();
    }

    /// <summary>Highest used_memory seen (INFO used_memory_peak); MEMORY/CONFIG RESETSTAT may lower it.</summary>
    public long PeakMemory;

    // "Event loop" accounting (INFO stats eventloop_* and INFO debug).
    public long EventLoopCycles;
    public long EventLoopDurationSum;
    public long EventLoopCommandDurationSum;
    public long EventLoopDurationMax;
    public long CronDurationSum;
    public long CommandsPerCycleMax;

    /// <summary>Time spent in active expiry (INFO expire_cycle_cpu_milliseconds).</summary>
    public long ExpireCycleMicros;

    public long Instantaneous(Metric m) => _samplers[(int)m].Mean();

    /// <summary>Called from the cron: takes a sample of every rate at most every 100 ms, as Valkey does.</summary>
    public void Sample(ServerStats stats)
    {
        long now = Stopwatch.GetTimestamp();
        if (_lastSampleTicks != 0 && Stopwatch.GetElapsedTime(_lastSampleTicks, now).TotalMilliseconds < 100) return;
        _lastSampleTicks = now;
        long micros = (long)(now * (1_000_000.0 / Stopwatch.Frequency));
        const long factor = 1_000_000;
        _samplers[(int)Metric.Commands].Track(stats.TotalCommandsProcessed, micros, factor);
        _samplers[(int)Metric.NetInput].Track(Interlocked.Read(ref stats.NetInputBytes), micros, factor);
        _samplers[(int)Metric.NetOutput].Track(Interlocked.Read(ref stats.NetOutputBytes), micros, factor);
        _samplers[(int)Metric.NetReplInput].Track(stats.NetReplInputBytes, micros, factor);
        _samplers[(int)Metric.NetReplOutput].Track(stats.NetReplOutputBytes, micros, factor);
        _samplers[(int)Metric.EventLoopCycles].Track(EventLoopCycles, micros, factor);
        _samplers[(int)Metric.EventLoopDuration].Track(EventLoopDurationSum, EventLoopCycles, 1);
    }

    /// <summary>Records one executed command as a cycle of the "event loop".</summary>
    public void AddCommand(long micros)
    {
        EventLoopCycles++;
        EventLoopDurationSum += micros;
        EventLoopCommandDurationSum += micros;
        if (micros > EventLoopDurationMax) EventLoopDurationMax = micros;
        if (CommandsPerCycleMax == 0) CommandsPerCycleMax = 1;
    }

    /// <summary>Records one cron tick as a cycle of the "event loop".</summary>
    public void AddCron(long micros)
    {
        EventLoopCycles++;
        EventLoopDurationSum += micros;
        CronDurationSum += micros;
        if (micros > EventLoopDurationMax) EventLoopDurationMax = micros;
    }

    /// <summary>CONFIG RESETSTAT: the instantaneous samples and cycle timings start over (the memory peak stays).</summary>
    public void Reset()
    {
        EventLoopCycles = EventLoopDurationSum = EventLoopCommandDurationSum = EventLoopDurationMax = 0;
        CronDurationSum = CommandsPerCycleMax = 0;
        ExpireCycleMicros = 0;
        foreach (var s in _samplers)
        {
            Array.Clear(s.Values);
            s.Index = 0;
            s.LastBase = 0;
            s.LastValue = 0;
        }
        _lastSampleTicks = 0;
    }
}
