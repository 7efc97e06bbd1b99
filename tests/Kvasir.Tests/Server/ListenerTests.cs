using Kvasir.Config;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

public sealed class ListenerTests
{
    /// <summary>
    /// A port another server listens on cannot be taken (Valkey: "Address already in use"): .NET's
    /// ReuseAddress would also set SO_REUSEPORT on Linux and let both listen.
    /// </summary>
    [Fact]
    public async Task APortInUseCannotBeBoundTwice()
    {
        await using var first = await TestServer.StartAsync();
        var config = new ServerConfig { Dir = first.DataDir };
        config.Set("port", first.Port.ToString(), atStartup: true);
        config.Set("bind", "127.0.0.1", atStartup: true);
        config.Set("loglevel", "nothing", atStartup: true);
        await using var second = new KvasirServer(config);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => second.StartAsync());
        Assert.Contains("Could not create server TCP listening socket", e.Message);
    }
}
