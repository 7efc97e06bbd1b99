using System.Diagnostics;

namespace Kvasir;

/// <summary>
/// The time source of command execution: one monotonic clock read per command.
/// </summary>
/// <remarks>
/// Valkey snapshots the time before every command and measures each command's duration. Reading
/// both the wall clock and a monotonic clock twice per command cost ~75 ns here (about 9% of a
/// pipelined SADD), so within one batch the end of a command is the start of the next (the batch
/// was parsed beforehand, nothing else runs in between) and Unix time is derived from the
/// monotonic reading, re-anchored to the wall clock every 100 ms so clock adjustments still reach
/// expiry times. Every member is used under the data lock.
/// </remarks>
public sealed class CommandClock
{
    private static readonly long RecalibrateTicks = Stopwatch.Frequency / 10;
    private long _anchorTicks = long.MinValue / 2;
    private long _anchorUnixUs;
    private long _mark;
    private bool _inBatch;

    /// <summary>Unix milliseconds for a monotonic reading.</summary>
    public long UnixMs(long ticks)
    {
        long delta = ticks - _anchorTicks;
        if (delta < 0 || delta > RecalibrateTicks)
        {
            _anchorTicks = Stopwatch.GetTimestamp();
            _anchorUnixUs = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) / 10;
            delta = Math.Max(0, ticks - _anchorTicks);
        }
        return (_anchorUnixUs + delta * 1_000_000 / Stopwatch.Frequency) / 1000;
    }

    /// <summary>A connection starts executing a batch under the lock: take a fresh reading.</summary>
    public long BeginBatch()
    {
        _inBatch = true;
        return _mark = Stopwatch.GetTimestamp();
    }

    /// <summary>The batch is over (before the lock is released): later callers read the clock themselves.</summary>
    public void EndBatch() => _inBatch = false;

    /// <summary>The latest reading inside a batch (the end of the previous command).</summary>
    public long Mark => _mark;

    /// <summary>Start of a command: inside a batch the previous command's end, otherwise a fresh reading.</summary>
    public long CommandStart() => _inBatch ? _mark : Stopwatch.GetTimestamp();

    /// <summary>End of a command: a fresh reading, which becomes the next command's start within the batch.</summary>
    public long CommandEnd()
    {
        long now = Stopwatch.GetTimestamp();
        if (_inBatch) _mark = now;
        return now;
    }
}
