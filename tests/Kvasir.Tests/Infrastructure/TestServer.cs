using Kvasir.Config;

namespace Kvasir.Tests.Infrastructure;

/// <summary>
/// A real Kvasir server on an ephemeral loopback port for one test (or one test class via
/// <see cref="SharedServerFixture"/>). Tests talk to it over TCP only.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly string? _ownedDir;

    private TestServer(KvasirServer server, string? ownedDir)
    {
        Server = server;
        _ownedDir = ownedDir;
    }

    public KvasirServer Server { get; }

    /// <summary>The server's dir (where SAVE, SHUTDOWN and FLUSHALL write dump.rdb).</summary>
    public string DataDir => Server.Config.Dir;

    public int Port => Server.BoundPort;

    /// <summary>Starts a server; <paramref name="configure"/> may set parameters before start (name, value pairs).</summary>
    public static Task<TestServer> StartAsync(params (string Name, string Value)[] settings) => StartInDirAsync(null, settings);

    /// <summary>
    /// Starts a server whose dir is <paramref name="dataDir"/> (set without changing the process's
    /// working directory, which all test servers share). Without one, each server gets a fresh
    /// temporary directory, removed when it is disposed, so no test reads or overwrites another's
    /// dump.rdb (SHUTDOWN and FLUSHALL save when save points are configured, as by default).
    /// </summary>
    public static async Task<TestServer> StartInDirAsync(string? dataDir, params (string Name, string Value)[] settings)
    {
        var config = new ServerConfig();
        string? owned = null;
        if (dataDir is null) dataDir = owned = Directory.CreateTempSubdirectory("kvasir-test-").FullName;
        config.Dir = dataDir;
        config.Set("port", "0", atStartup: true);
        config.Set("bind", "127.0.0.1", atStartup: true);
        config.Set("loglevel", "warning", atStartup: true);
        foreach (var (name, value) in settings)
        {
            var error = config.Set(name, value, atStartup: true);
            if (error is not null) throw new ArgumentException($"{name} {value}: {error}");
        }
        var server = new KvasirServer(config);
        try
        {
            await server.StartAsync();
        }
        catch
        {
            if (owned is not null) Directory.Delete(owned, recursive: true);
            throw;
        }
        return new TestServer(server, owned);
    }

    public async Task<RespClient> ConnectAsync() => await RespClient.ConnectAsync("127.0.0.1", Port);

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        if (_ownedDir is not null)
        {
            try
            {
                Directory.Delete(_ownedDir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>One server shared by the tests of a class (use IClassFixture). Tests must use their own keys or FLUSHALL.</summary>
public sealed class SharedServerFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await TestServer.StartAsync(("enable-debug-command", "yes"));

    public async ValueTask DisposeAsync() => await Server.DisposeAsync();
}
