using StackExchange.Redis;
using Xunit;

namespace Kvasir.Examples.EmbeddedTests;

/// <summary>Code under test that uses Redis, tested against an embedded Kvasir.</summary>
public sealed class LeaderboardTests(KvasirFixture kvasir) : IClassFixture<KvasirFixture>, IAsyncLifetime
{
    /// <summary>The production code being tested: a leaderboard on a sorted set.</summary>
    private sealed class Leaderboard(IDatabase db, string name)
    {
        public Task AddAsync(string player, double points) => db.SortedSetIncrementAsync(name, player, points);

        public async Task<string[]> TopAsync(int n) =>
            (await db.SortedSetRangeByRankAsync(name, 0, n - 1, Order.Descending)).Select(v => v.ToString()).ToArray();
    }

    // A fresh keyspace before each test of the class: tests do not see each other's keys.
    public async ValueTask InitializeAsync() => await kvasir.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task RanksPlayersByTheirPoints()
    {
        var board = new Leaderboard(kvasir.Db(), "board");
        await board.AddAsync("ann", 10);
        await board.AddAsync("bob", 30);
        await board.AddAsync("ann", 25);
        Assert.Equal(["ann", "bob"], await board.TopAsync(2));
    }

    [Fact]
    public async Task StartsEmpty()
    {
        Assert.Equal(0, await kvasir.Redis.GetServer(kvasir.Redis.GetEndPoints()[0]).DatabaseSizeAsync());
        Assert.Empty(await new Leaderboard(kvasir.Db(), "board").TopAsync(10));
    }

    /// <summary>A known data set for a test: saved once, then loaded by a server of its own.</summary>
    [Fact]
    public async Task StartsFromASnapshot()
    {
        var board = new Leaderboard(kvasir.Db(), "board");
        await board.AddAsync("cy", 5);
        await board.AddAsync("dee", 7);
        string file = Path.Combine(Path.GetTempPath(), $"leaderboard-{Guid.NewGuid():N}.rdb");
        try
        {
            await kvasir.SaveSnapshotAsync(file);
            await using var copy = await KvasirFixture.StartFromSnapshotAsync(file);
            Assert.NotEqual(kvasir.Port, copy.Port);
            Assert.Equal(["dee", "cy"], await new Leaderboard(copy.Db(), "board").TopAsync(2));
            await copy.Db().KeyDeleteAsync("board"); // changes to the copy stay in the copy
            Assert.Equal(2, await kvasir.Db().SortedSetLengthAsync("board"));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
