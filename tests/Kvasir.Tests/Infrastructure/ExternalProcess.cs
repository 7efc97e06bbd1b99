using System.Diagnostics;
using System.Text;

namespace Kvasir.Tests.Infrastructure;

/// <summary>
/// Runs a tool the tests drive (redis-cli, redis-benchmark, node, php, chromium, dotnet) with a time
/// limit, capturing its output. A tool that is not installed skips the test, with the reason.
/// </summary>
public static class ExternalProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => Stdout + Stderr;
    }

    /// <summary>The full path of an installed program, or null.</summary>
    public static string? Find(string name)
    {
        if (name.Contains('/')) return File.Exists(name) ? name : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':'))
        {
            if (dir.Length == 0) continue;
            string path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        return null;
    }

    /// <summary>The path of a program the test needs; skips the test when it is missing.</summary>
    public static string Require(string name, string installHint)
    {
        var path = Find(name);
        if (path is null) Assert.Skip($"{name} is not installed ({installHint}; .ci/run installs it)");
        return path;
    }

    public static ProcessStartInfo StartInfo(string file, IEnumerable<string> args, string? workingDirectory = null,
        IDictionary<string, string?>? environment = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        if (environment is not null)
            foreach (var (k, v) in environment)
            {
                if (v is null) psi.Environment.Remove(k);
                else psi.Environment[k] = v;
            }
        return psi;
    }

    /// <summary>Runs to completion (killed, with its children, after <paramref name="timeout"/>, which fails the test).</summary>
    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, string? stdin = null,
        string? workingDirectory = null, IDictionary<string, string?>? environment = null, Stream? stdinStream = null)
    {
        var psi = StartInfo(file, args, workingDirectory, environment);
        using var p = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var outTask = Pump(p.StandardOutput, stdout);
        var errTask = Pump(p.StandardError, stderr);
        try
        {
            if (stdinStream is not null) await stdinStream.CopyToAsync(p.StandardInput.BaseStream);
            else if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program exited without reading all of its input; its exit code tells the rest.
        }
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await Task.WhenAll(outTask, errTask).WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { });
            throw new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', args)} did not finish within {timeout}:\n{stdout}\n{stderr}");
        }
        await Task.WhenAll(outTask, errTask);
        return new Result(p.ExitCode, stdout.ToString(), stderr.ToString());
    }

    /// <summary>
    /// Runs a program that never ends by itself (redis-cli --stat, --latency) for <paramref name="duration"/>,
    /// then stops it. Its stdout is line-buffered through stdbuf, so what it printed is not lost in a stdio buffer.
    /// </summary>
    public static async Task<Result> RunForAsync(string file, IEnumerable<string> args, TimeSpan duration)
    {
        string stdbuf = Find("stdbuf") ?? throw new InvalidOperationException("stdbuf (coreutils) is missing");
        var psi = StartInfo(stdbuf, ["-oL", "-eL", file, .. args]);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var outTask = Pump(p.StandardOutput, stdout);
        var errTask = Pump(p.StandardError, stderr);
        using var cts = new CancellationTokenSource(duration);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await p.WaitForExitAsync();
        }
        await Task.WhenAll(outTask, errTask).WaitAsync(TimeSpan.FromSeconds(10));
        return new Result(p.HasExited ? p.ExitCode : -1, stdout.ToString(), stderr.ToString());
    }

    private static async Task Pump(StreamReader reader, StringBuilder into)
    {
        var buffer = new char[8192];
        int n;
        while ((n = await reader.ReadAsync(buffer)) > 0)
            lock (into) into.Append(buffer, 0, n);
    }

    /// <summary>The repository root (where Kvasir.slnx is), for examples and scripts.</summary>
    public static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kvasir.slnx"))) dir = dir.Parent;
        if (dir is null) Assert.Skip("repository root not found");
        return dir.FullName;
    }
}
