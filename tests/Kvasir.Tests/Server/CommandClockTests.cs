using System.Diagnostics;
using Xunit;

namespace Kvasir.Tests.Server;

public class CommandClockTests
{
    [Fact]
    public void UnixTimeFollowsTheWallClock()
    {
        var clock = new CommandClock();
        long wall = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        long derived = clock.UnixMs(Stopwatch.GetTimestamp());
        Assert.InRange(derived - wall, -5, 5);
        // Past the re-anchoring interval it still agrees.
        Thread.Sleep(150);
        Assert.InRange(clock.UnixMs(Stopwatch.GetTimestamp()) - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), -5, 5);
    }

    [Fact]
    public void InsideABatchEachCommandStartsWhereThePreviousEnded()
    {
        var clock = new CommandClock();
        long begin = clock.BeginBatch();
        Assert.Equal(begin, clock.CommandStart());
        long end = clock.CommandEnd();
        Assert.True(end >= begin);
        Assert.Equal(end, clock.CommandStart());
        clock.EndBatch();
        // Outside a batch (cron, timers) every start is a fresh reading, never a stale mark.
        Thread.Sleep(20);
        Assert.True(Stopwatch.GetElapsedTime(end, clock.CommandStart()).TotalMilliseconds >= 15);
    }
}
