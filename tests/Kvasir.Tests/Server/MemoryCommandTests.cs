using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

public sealed class MemoryCommandTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public MemoryCommandTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task UsageGrowsWithTheValueAndIsNullForMissingKeys()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "mem:small", "x");
        await c.CallAsync("SET", "mem:large", new string('x', 10_000));
        long small = (await c.CallAsync("MEMORY", "USAGE", "mem:small")).Integer;
        long large = (await c.CallAsync("MEMORY", "USAGE", "mem:large", "SAMPLES", "0")).Integer;
        Assert.InRange(small, 1, 200);
        Assert.True(large > 10_000);
        Assert.True((await c.CallAsync("MEMORY", "USAGE", "mem:missing")).IsNull);
    }

    [Fact]
    public async Task UsageValidatesSamples()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR syntax error", (await c.CallAsync("MEMORY", "USAGE", "k", "SAMPLES", "-1")).Text);
        Assert.Equal("ERR syntax error", (await c.CallAsync("MEMORY", "USAGE", "k", "BOGUS")).Text);
        Assert.Equal("ERR value is not an integer or out of range", (await c.CallAsync("MEMORY", "USAGE", "k", "SAMPLES", "x")).Text);
    }
}
