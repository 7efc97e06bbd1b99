using Kvasir.Config;

namespace Kvasir.Tests.Infrastructure;

/// <summary>
/// A real Kvasir server on an ephemeral loopback port for one test (or one test class via
/// <see cref="SharedServerFixture"/>). Tests talk to it over TCP only.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private TestServer(KvasirServer server) => Server = server;

    public KvasirServer Server { get; }

    public int Port => Server.BoundPort;

    /// <summary>Starts a server; <paramref name="configure"/> may set parameters before start (name, value pairs).</summary>
    public static async Task<TestServer> StartAsync(params (string Name, string Value)[] settings)
    {
        var config = new ServerConfig();
        config.Set("port", "0", atStartup: true);
        config.Set("bind", "127.0.0.1", atStartup: true);
        config.Set("loglevel", "warning", atStartup: true);
        foreach (var (name, value) in settings)
        {
            var error = config.Set(name, value, atStartup: true);
            if (error is not null) throw new ArgumentException($"{name} {value}: {error}");
        }
        var server = new KvasirServer(config);
        await server.StartAsync();
        return new TestServer(server);
    }

    public async Task<RespClient> ConnectAsync() => await RespClient.ConnectAsync("127.0.0.1", Port);

    public async ValueTask DisposeAsync() => await Server.StopAsync();
}

/// <summary>One server shared by the tests of a class (use IClassFixture). Tests must use their own keys or FLUSHALL.</summary>
public sealed class SharedServerFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await TestServer.StartAsync(("enable-debug-command", "yes"));

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
