using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

/// <summary>LOLWUT answers as Valkey 8 (the drawings compared with Valkey's where they are not random).</summary>
public sealed class LolwutTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public LolwutTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task WithoutVersionOnlyTheVersionLine()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("Redis ver. 8.1.0\n", await c.CallTextAsync("LOLWUT"));
        Assert.Equal("Redis ver. 8.1.0\n", await c.CallTextAsync("LOLWUT", "VERSION", "9"));
        Assert.Equal("ERR value is not an integer or out of range", (await c.CallAsync("LOLWUT", "VERSION", "abc")).Text);
        Assert.Equal("ERR value is not an integer or out of range", (await c.CallAsync("LOLWUT", "VERSION", "5", "x")).Text);
        await c.CallAsync("HELLO", "3");
        Assert.Equal('=', (await c.CallAsync("LOLWUT")).Kind);
    }

    [Fact]
    public async Task Version5DrawsSchotter()
    {
        await using var c = await _server.ConnectAsync();
        // Two rows of squares: the random turns only start at the third row.
        Assert.Equal("⠀⡤⠤⠤⠤⡤⠤⠤⠤⡄\n⠀⡇⠀⠀⠀⡇⠀⠀⠀⡇\n⠀⠧⠤⠤⠤⠧⠤⠤⠤⠇\n\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. 8.1.0\n",
            await c.CallTextAsync("LOLWUT", "VERSION", "5", "10", "2", "1"));
    }

    [Fact]
    public async Task Version6DrawsASkylineInTerminalColours()
    {
        await using var c = await _server.ConnectAsync();
        string art = (await c.CallTextAsync("LOLWUT", "VERSION", "6", "3", "1"))!;
        Assert.StartsWith("\u001b[0;", art);
        Assert.EndsWith("\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. 8.1.0\n", art);
        Assert.Equal(3, art.Split('\n')[0].Split("\u001b[0m").Length - 1);
    }
}
