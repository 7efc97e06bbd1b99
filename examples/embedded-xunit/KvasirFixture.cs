using Kvasir;
using Kvasir.Config;
using StackExchange.Redis;
using Xunit;

namespace Kvasir.Examples.EmbeddedTests;

/// <summary>
/// An in-process Kvasir for tests: no container, no external process, no fixed port. The server
/// listens on a free loopback port (port 0), keeps its files in a temporary folder that is removed
/// afterwards, and never saves on its own (save ""). Share one per test class with
/// <c>IClassFixture&lt;KvasirFixture&gt;</c> and call <see cref="ResetAsync"/> at the start of each
/// test for a fresh keyspace, or start one from a snapshot with <see cref="StartFromSnapshotAsync"/>.
/// </summary>
public sealed class KvasirFixture : IAsyncLifetime
{
    private KvasirServer? _server;
    private string? _dir;
    private ConnectionMultiplexer? _mux;

    /// <summary>The port the server listens on (127.0.0.1).</summary>
    public int Port => _server!.BoundPort;

    /// <summary>A StackExchange.Redis configuration string for the server.</summary>
    public string Configuration => $"127.0.0.1:{Port},allowAdmin=true";

    /// <summary>One multiplexer for the fixture's lifetime, as an application would hold it.</summary>
    public ConnectionMultiplexer Redis => _mux!;

    public IDatabase Db(int index = 0) => Redis.GetDatabase(index);

    public ValueTask InitializeAsync() => StartAsync(snapshot: null);

    /// <summary>Starts a server whose data set is loaded from an RDB file (copied first, so the test cannot change it).</summary>
    public static async Task<KvasirFixture> StartFromSnapshotAsync(string rdbFile)
    {
        var fixture = new KvasirFixture();
        await fixture.StartAsync(rdbFile);
        return fixture;
    }

    private async ValueTask StartAsync(string? snapshot)
    {
        _dir = Directory.CreateTempSubdirectory("kvasir-fixture-").FullName;
        if (snapshot is not null) File.Copy(snapshot, Path.Combine(_dir, "dump.rdb"));
        var config = new ServerConfig { Dir = _dir };
        foreach (var (name, value) in new[]
                 {
                     ("port", "0"), ("bind", "127.0.0.1"), ("save", ""), ("appendonly", "no"), ("loglevel", "warning"),
                 })
        {
            if (config.Set(name, value, atStartup: true) is { } error) throw new InvalidOperationException($"{name}: {error}");
        }
        _server = new KvasirServer(config);
        await _server.StartAsync();
        _mux = await ConnectionMultiplexer.ConnectAsync(Configuration);
    }

    /// <summary>A fresh keyspace: every database emptied (FLUSHALL SYNC).</summary>
    public async Task ResetAsync() => await Redis.GetServer(Redis.GetEndPoints()[0]).FlushAllDatabasesAsync();

    /// <summary>Writes the current data set to an RDB file (SAVE), for <see cref="StartFromSnapshotAsync"/>.</summary>
    public async Task<string> SaveSnapshotAsync(string toFile)
    {
        await Redis.GetServer(Redis.GetEndPoints()[0]).SaveAsync(SaveType.ForegroundSave);
        File.Copy(Path.Combine(_dir!, "dump.rdb"), toFile, overwrite: true);
        return toFile;
    }

    public async ValueTask DisposeAsync()
    {
        if (_mux is not null) await _mux.CloseAsync(allowCommandsToComplete: false);
        _mux?.Dispose();
        if (_server is not null) await _server.StopAsync();
        if (_dir is not null)
        {
            try { Directory.Delete(_dir, recursive: true); }
            catch (IOException) { }
        }
    }
}
