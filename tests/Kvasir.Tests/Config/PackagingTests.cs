using System.Diagnostics;
using System.Net.Sockets;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Config;

/// <summary>
/// The ways docs/OPERATIONS.md says to install Kvasir, done for real: a self-contained single-file
/// <c>dotnet publish</c>, and a .NET tool made by <c>dotnet pack</c> and installed from a local folder.
/// Each builds into its own temporary artifacts folder (the tree's bin/obj are not touched while
/// other tests run the server built there), then starts what it made and talks to it. They run
/// alone (the collection is not parallel): each is a full Release build.
/// </summary>
[Collection(nameof(ServerExecutableCollection))]
public sealed class PackagingTests
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(12);

    private static Dictionary<string, string?> DotnetEnvironment() => new()
    {
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_NOLOGO"] = "1",
        ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
        // The test host's own MSBuild variables must not leak into the nested build.
        ["MSBuildExtensionsPath"] = null,
        ["MSBuildSDKsPath"] = null,
        ["MSBUILD_EXE_PATH"] = null,
    };

    private static async Task Dotnet(string root, params string[] args)
    {
        string dotnet = ExternalProcess.Require("dotnet", "the .NET SDK");
        var r = await ExternalProcess.RunAsync(dotnet, args, BuildTimeout, workingDirectory: root, environment: DotnetEnvironment());
        Assert.True(r.ExitCode == 0, $"dotnet {string.Join(' ', args)} failed ({r.ExitCode}):\n{r.Output}");
    }

    /// <summary>Starts a server binary, checks it serves (a Lua script, and the metrics endpoint: Kestrel is inside), then SHUTDOWN.</summary>
    private static async Task ServesAndStops(string executable, string dir, Dictionary<string, string?>? environment = null)
    {
        int port = ServerExecutable.FreePort(), metricsPort = ServerExecutable.FreePort();
        var psi = ExternalProcess.StartInfo(executable,
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--dir", dir, "--metrics-port", metricsPort.ToString()],
            workingDirectory: dir, environment: environment);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            RespClient? c = null;
            for (int i = 0; i < 600 && c is null && !p.HasExited; i++)
            {
                try { c = await RespClient.ConnectAsync("127.0.0.1", port); }
                catch (SocketException) { await Task.Delay(100); }
            }
            Assert.True(c is not null, $"{executable} did not start:\n{(p.HasExited ? await stdout + await stderr : "")}");
            await using (c)
            {
                Assert.Equal("PONG", (await c!.CallAsync("PING")).Text);
                Assert.Equal(42, (await c.CallAsync("EVAL", "return 40 + tonumber(ARGV[1])", "0", "2")).Integer);
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
                Assert.Contains("redis_up 1\n", await http.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics"));
                await c.SendAsync("SHUTDOWN", "NOSAVE");
            }
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await p.WaitForExitAsync(exit.Token);
            Assert.Equal(0, p.ExitCode);
        }
        finally
        {
            if (!p.HasExited) p.Kill();
        }
    }

    [Fact]
    public async Task SelfContainedSingleFilePublishRuns()
    {
        string root = ExternalProcess.RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("kvasir-publish-");
        try
        {
            string output = Path.Combine(work.FullName, "out");
            await Dotnet(root, "publish", "src/Kvasir.Server", "-c", "Release", "-r", "linux-x64", "--self-contained",
                "-p:PublishSingleFile=true", "-o", output, "--artifacts-path", Path.Combine(work.FullName, "artifacts"));
            string exe = Path.Combine(output, "kvasir-server");
            Assert.True(File.Exists(exe));
            // One executable holds the runtime, ASP.NET Core and Kvasir: no Kvasir.dll or runtime beside it.
            Assert.False(File.Exists(Path.Combine(output, "Kvasir.dll")));
            Assert.False(File.Exists(Path.Combine(output, "libcoreclr.so")));
            Assert.True(new FileInfo(exe).Length > 30_000_000);
            // It needs no installed .NET: with DOTNET_ROOT pointing nowhere it still runs.
            string data = Directory.CreateDirectory(Path.Combine(work.FullName, "data")).FullName;
            await ServesAndStops(exe, data, new() { ["DOTNET_ROOT"] = Path.Combine(work.FullName, "no-dotnet") });
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task DotnetToolPackedAndInstalledFromALocalFolder()
    {
        string root = ExternalProcess.RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("kvasir-tool-");
        try
        {
            string feed = Path.Combine(work.FullName, "feed"), tools = Path.Combine(work.FullName, "tools");
            await Dotnet(root, "pack", "src/Kvasir.Server", "-c", "Release", "-o", feed, "--artifacts-path", Path.Combine(work.FullName, "artifacts"));
            Assert.True(File.Exists(Path.Combine(feed, $"Kvasir.Server.{KvasirServer.KvasirVersion}.nupkg")));
            await Dotnet(work.FullName, "tool", "install", "--tool-path", tools, "--add-source", feed, "Kvasir.Server",
                "--version", KvasirServer.KvasirVersion, "--ignore-failed-sources");
            string exe = Path.Combine(tools, "kvasir-server");
            var version = await ExternalProcess.RunAsync(exe, ["--version"], TimeSpan.FromMinutes(1));
            Assert.StartsWith($"Kvasir server v={KvasirServer.KvasirVersion} ", version.Stdout);
            string data = Directory.CreateDirectory(Path.Combine(work.FullName, "data")).FullName;
            await ServesAndStops(exe, data);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The .NET examples build as the standalone projects a reader copies (their code also runs in
    /// this suite: tests/Kvasir.Tests/Examples). The embedding example's own tests run with dotnet test.
    /// </summary>
    [Fact]
    public async Task ExampleProjectsBuildAndTheEmbeddingExampleTestsPass()
    {
        string root = ExternalProcess.RepositoryRoot();
        var work = Directory.CreateTempSubdirectory("kvasir-examples-");
        try
        {
            await Dotnet(root, "build", "examples/aspnetcore/Kvasir.Examples.AspNetCore.csproj", "-c", "Release",
                "--artifacts-path", Path.Combine(work.FullName, "aspnetcore"));
            await Dotnet(root, "test", "examples/embedded-xunit/Kvasir.Examples.EmbeddedTests.csproj", "-c", "Release",
                "--artifacts-path", Path.Combine(work.FullName, "embedded"));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
