using Kvasir.Config;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Sentinel;

/// <summary>
/// A Kvasir Sentinel in the test process, started from a sentinel.conf in a temporary directory
/// (which it rewrites as it goes), on an ephemeral loopback port.
/// </summary>
internal sealed class SentinelServer : IAsyncDisposable
{
    private readonly bool _ownsDir;

    private SentinelServer(KvasirServer server, string dir, bool ownsDir)
    {
        Server = server;
        Dir = dir;
        _ownsDir = ownsDir;
    }

    public KvasirServer Server { get; }
    public string Dir { get; }
    public string ConfigPath => Path.Combine(Dir, "sentinel.conf");
    public int Port => Server.BoundPort;

    /// <summary>Starts with these lines (after port 0 and bind) in its sentinel.conf.</summary>
    public static Task<SentinelServer> StartAsync(params string[] lines)
    {
        string dir = Directory.CreateTempSubdirectory("kvasir-sentinel-").FullName;
        File.WriteAllText(Path.Combine(dir, "sentinel.conf"),
            string.Join('\n', new[] { "port 0", "bind 127.0.0.1", "loglevel warning" }.Concat(lines)) + "\n");
        return StartFromFileAsync(dir, ownsDir: true);
    }

    /// <summary>Starts (again) from the sentinel.conf already in <paramref name="dir"/>.</summary>
    public static async Task<SentinelServer> StartFromFileAsync(string dir, bool ownsDir = false)
    {
        // The directory is set directly: a "dir" line would change the working directory of the
        // whole test process.
        var config = new ServerConfig { Dir = dir };
        config.UseSentinelDefaults();
        string path = Path.Combine(dir, "sentinel.conf");
        config.ConfigFile = path;
        ConfigFileParser.Load(config, path, null, null);
        var server = new KvasirServer(config);
        await server.StartAsync();
        return new SentinelServer(server, dir, ownsDir);
    }

    public async Task<RespClient> ConnectAsync() => await RespClient.ConnectAsync("127.0.0.1", Port);

    /// <summary>Stops the server, keeping its directory (to start again from the same file).</summary>
    public async Task StopAsync() => await Server.StopAsync();

    public async ValueTask DisposeAsync()
    {
        await Server.StopAsync();
        if (!_ownsDir) return;
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { }
    }
}
