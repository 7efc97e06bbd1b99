using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Examples;

/// <summary>
/// The Node and PHP examples run their own tests (node's test runner; a PHP script) against a Kvasir
/// started here. .ci/run installs what they need: node and npm packages (npm ci in examples/node),
/// php-cli and Debian's php-redis.
/// </summary>
public sealed class ScriptExampleTests
{
    [Fact]
    public async Task NodeSessionsAndTaggedCache()
    {
        string node = ExternalProcess.Require("node", "apt-get install nodejs");
        string dir = Path.Combine(ExternalProcess.RepositoryRoot(), "examples", "node");
        if (!Directory.Exists(Path.Combine(dir, "node_modules", "connect-redis")))
            Assert.Skip("examples/node has no node_modules: run `npm ci` there (.ci/run does)");
        await using var kvasir = await TestServer.StartAsync();
        var r = await ExternalProcess.RunAsync(node, ["--test", "--test-concurrency=1", "test/"], TimeSpan.FromMinutes(3),
            workingDirectory: dir, environment: new Dictionary<string, string?> { ["KVASIR_URL"] = $"redis://127.0.0.1:{kvasir.Port}" });
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Contains("# pass 7", r.Stdout);
        Assert.Contains("# fail 0", r.Stdout);
    }

    [Fact]
    public async Task PhpSessionLockingAndRateLimiter()
    {
        string php = ExternalProcess.Require("php", "apt-get install php-cli php-redis");
        var modules = await ExternalProcess.RunAsync(php, ["-m"], TimeSpan.FromMinutes(1));
        if (!modules.Stdout.Split('\n').Any(l => l.Trim() == "redis"))
            Assert.Skip("the php-redis extension is not installed (apt-get install php-redis; .ci/run does)");
        string dir = Path.Combine(ExternalProcess.RepositoryRoot(), "examples", "php");
        await using var kvasir = await TestServer.StartAsync();
        var r = await ExternalProcess.RunAsync(php, ["tests/run.php"], TimeSpan.FromMinutes(3),
            workingDirectory: dir, environment: new Dictionary<string, string?> { ["KVASIR_PORT"] = kvasir.Port.ToString() });
        Assert.True(r.ExitCode == 0, r.Output);
        Assert.Equal(5, r.Stdout.Split('\n').Count(l => l.StartsWith("ok - ", StringComparison.Ordinal)));
        Assert.Contains("all passed", r.Stdout);
    }
}
