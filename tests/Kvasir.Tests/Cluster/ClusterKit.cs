using System.Diagnostics;
using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Cluster;

/// <summary>Cluster tests run one at a time: each starts several server processes.</summary>
[CollectionDefinition(nameof(ClusterCollection), DisableParallelization = true)]
public sealed class ClusterCollection;

/// <summary>Helpers for multi-node tests: redis-cli --cluster, waiting for agreement, reading INFO fields.</summary>
internal static class ClusterKit
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, string? stdin = null, int timeoutMs = 300_000)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeoutMs);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish within {timeoutMs} ms:\n{await output}{await error}");
        }
        return (p.ExitCode, await output + await error);
    }

    public static string RedisCli
    {
        get
        {
            if (!File.Exists("/usr/bin/redis-cli")) Assert.Skip("redis-cli is not installed (apt-get install redis-tools)");
            return "/usr/bin/redis-cli";
        }
    }

    /// <summary>redis-cli --cluster SUBCOMMAND ...; fails the test on a non-zero exit.</summary>
    public static async Task<string> ClusterCliAsync(params string[] args)
    {
        var (code, output) = await RunAsync(RedisCli, ["--cluster", .. args]);
        Assert.True(code == 0, $"redis-cli --cluster {string.Join(' ', args)} exited with {code}:\n{output}");
        return output;
    }

    /// <summary>redis-cli --cluster create with replicas per primary, then waits until every node agrees.</summary>
    public static async Task CreateAsync(IReadOnlyList<ClusterProcess> nodes, int replicas)
    {
        await ClusterCliAsync(["create", .. nodes.Select(n => n.Address), "--cluster-replicas", replicas.ToString(), "--cluster-yes"]);
        await WaitForConsistentAsync(nodes);
    }

    public static async Task<string> InfoFieldAsync(RespClient c, string section, string field)
    {
        var info = (await c.CallAsync("INFO", section)).Text ?? "";
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return "";
    }

    public static async Task<string> ClusterInfoFieldAsync(RespClient c, string field)
    {
        var info = (await c.CallAsync("CLUSTER", "INFO")).Text ?? "";
        foreach (var line in info.Split("\r\n"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal)) return line[(field.Length + 1)..];
        return "";
    }

    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int timeoutMs = 30_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
            {
            }
            if (DateTime.UtcNow > deadline) Assert.Fail("timed out waiting for " + what);
            await Task.Delay(50);
        }
    }

    /// <summary>A node's CLUSTER NODES lines, parsed into (id, address, flags, primary, slots).</summary>
    public static async Task<List<(string Id, string Address, string[] Flags, string Primary, string LinkState, string[] Slots)>> NodesAsync(RespClient c)
    {
        var text = (await c.CallAsync("CLUSTER", "NODES")).Text ?? "";
        var list = new List<(string, string, string[], string, string, string[])>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Trim().Split(' ');
            list.Add((f[0], f[1], f[2].Split(','), f[3], f[7], f[8..]));
        }
        return list;
    }

    /// <summary>Every node: state ok, knows every node (none failing or in handshake), same CLUSTER SLOTS.</summary>
    public static Task WaitForConsistentAsync(IReadOnlyList<ClusterProcess> nodes, int timeoutMs = 60_000) =>
        WaitUntilAsync(async () =>
        {
            string? slots = null;
            foreach (var n in nodes)
            {
                await using var c = await n.ConnectAsync();
                if (await ClusterInfoFieldAsync(c, "cluster_state") != "ok") return false;
                var known = await NodesAsync(c);
                if (known.Count != nodes.Count) return false;
                if (known.Any(k => k.Flags.Contains("fail") || k.Flags.Contains("fail?") || k.Flags.Contains("handshake"))) return false;
                var s = (await c.CallAsync("CLUSTER", "SLOTS")).ToString();
                if (slots is not null && s != slots) return false;
                slots = s;
            }
            return true;
        }, "the cluster to agree and be ok", timeoutMs);

    /// <summary>A replica caught up with its primary (same replication offset) — so the next kill loses nothing acknowledged.</summary>
    public static Task WaitForReplicasInSyncAsync(IReadOnlyList<ClusterProcess> nodes) =>
        WaitUntilAsync(async () =>
        {
            foreach (var n in nodes.Where(x => x.Running))
            {
                await using var c = await n.ConnectAsync();
                if (await InfoFieldAsync(c, "replication", "role") != "slave") continue;
                if (await InfoFieldAsync(c, "replication", "master_link_status") != "up") return false;
            }
            return true;
        }, "replicas to be linked");
}

/// <summary>
/// A small cluster-aware client for tests: routes by the CLUSTER SLOTS map, follows -MOVED (and
/// refreshes the map) and -ASK (ASKING first), as cluster clients do.
/// </summary>
internal sealed class TestClusterClient : IAsyncDisposable
{
    private readonly Dictionary<int, RespClient> _connections = new();
    private readonly int[] _slotPort = new int[16384];
    private readonly List<int> _seeds;

    public TestClusterClient(IEnumerable<int> seedPorts) => _seeds = seedPorts.ToList();

    public int Redirections { get; private set; }

    /// <summary>Why the last call returned null.</summary>
    public string? LastFailure { get; private set; }

    /// <summary>The node the last command went to (WAIT after a write must go there too).</summary>
    private int _lastPort;

    /// <summary>A command without keys on the node the last keyed command ended on (WAIT after a write).</summary>
    public async Task<RespValue?> CallOnLastNodeAsync(params object[] args)
    {
        try
        {
            var c = await ConnectionAsync(_lastPort);
            return await c.CallAsync(args);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or ObjectDisposedException)
        {
            Drop(_lastPort);
            return null;
        }
    }

    public async Task RefreshAsync()
    {
        foreach (int seed in _seeds)
        {
            try
            {
                var c = await ConnectionAsync(seed);
                var slots = await c.CallAsync("CLUSTER", "SLOTS");
                if (slots.Items is null) continue;
                foreach (var range in slots.Items)
                {
                    int port = (int)range.Items![2].Items![1].Integer;
                    for (long s = range.Items[0].Integer; s <= range.Items[1].Integer; s++) _slotPort[s] = port;
                }
                return;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException)
            {
                Drop(seed);
            }
        }
    }

    private async Task<RespClient> ConnectionAsync(int port)
    {
        if (_connections.TryGetValue(port, out var c)) return c;
        c = await RespClient.ConnectAsync("127.0.0.1", port);
        c.Timeout = TimeSpan.FromSeconds(5);
        _connections[port] = c;
        if (!_seeds.Contains(port)) _seeds.Add(port);
        return c;
    }

    private void Drop(int port)
    {
        if (_connections.Remove(port, out var c)) _ = c.DisposeAsync().AsTask();
    }

    public static int Slot(string key) => Kvasir.Cluster.KeySlot.Of(Encoding.UTF8.GetBytes(key));

    /// <summary>Runs a command on the node serving <paramref name="key"/>, following redirections; null when the node is unreachable.</summary>
    public async Task<RespValue?> CallAsync(string key, params object[] args)
    {
        int port = _slotPort[Slot(key)];
        if (port == 0)
        {
            await RefreshAsync();
            port = _slotPort[Slot(key)];
        }
        bool asking = false;
        for (int attempt = 0; attempt < 8; attempt++)
        {
            RespValue r;
            try
            {
                var c = await ConnectionAsync(port);
                if (asking) await c.CallAsync("ASKING");
                _lastPort = port;
                r = await c.CallAsync(args);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or TimeoutException or ObjectDisposedException)
            {
                // The node is gone: ask the others who serves the slot now, once, as cluster clients do.
                LastFailure = $"port {port}: {e.GetType().Name}: {e.Message}";
                Drop(port);
                _seeds.Remove(port);
                if (attempt > 0) return null;
                await RefreshAsync();
                int next = _slotPort[Slot(key)];
                if (next == port) return null;
                port = next;
                asking = false;
                continue;
            }
            if (r.IsError && r.Text!.StartsWith("MOVED ", StringComparison.Ordinal))
            {
                Redirections++;
                port = int.Parse(r.Text[(r.Text.LastIndexOf(':') + 1)..]);
                await RefreshAsync();
                asking = false;
                continue;
            }
            if (r.IsError && r.Text!.StartsWith("ASK ", StringComparison.Ordinal))
            {
                Redirections++;
                port = int.Parse(r.Text[(r.Text.LastIndexOf(':') + 1)..]);
                asking = true;
                continue;
            }
            return r;
        }
        Assert.Fail($"too many redirections for {key}");
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var c in _connections.Values) await c.DisposeAsync();
        _connections.Clear();
    }
}
