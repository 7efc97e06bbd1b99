using System.Diagnostics;
using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Cluster.ClusterKit;

namespace Kvasir.Tests.Cluster;

/// <summary>
/// Real cluster clients against Kvasir: redis-py's RedisCluster (Debian's python3-redis) and
/// ioredis' Cluster (npm, installed by .ci/run into tests/clients). Each writes and reads keys
/// across all slots, keeps working while a slot is half migrated (following -ASK with ASKING), and
/// after the migration ends (following -MOVED with a stale slot map).
/// </summary>
[Collection(nameof(ClusterCollection))]
public sealed class ClusterClientLibraryTests
{
    private const string PythonScript = """
        import sys
        from redis.cluster import RedisCluster
        rc = RedisCluster(host='127.0.0.1', port=int(sys.argv[1]))
        keys = [f'py:{i}' for i in range(300)] + [f'{{tag}}:py:{i}' for i in range(100)]
        for k in keys:
            rc.set(k, 'v-' + k)
        def check(label):
            for k in keys:
                v = rc.get(k)
                assert v == ('v-' + k).encode(), f'{label}: {k} -> {v!r}'
            print(label, flush=True)
        check('WRITTEN')
        sys.stdin.readline()
        check('ASKED')
        rc.set('{tag}:py:new', 'during-migration')
        assert rc.get('{tag}:py:new') == b'during-migration'
        sys.stdin.readline()
        check('MOVED')
        """;

    private const string NodeScript = """
        const Redis = require('ioredis');
        const readline = require('readline');
        const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
        (async () => {
          const rc = new Redis.Cluster([{ host: '127.0.0.1', port: parseInt(process.argv[2]) }], { enableOfflineQueue: true });
          const keys = [];
          for (let i = 0; i < 300; i++) keys.push('js:' + i);
          for (let i = 0; i < 100; i++) keys.push('{tag}:js:' + i);
          for (const k of keys) await rc.set(k, 'v-' + k);
          const check = async (label) => {
            for (const k of keys) {
              const v = await rc.get(k);
              if (v !== 'v-' + k) throw new Error(label + ': ' + k + ' -> ' + v);
            }
            console.log(label);
          };
          await check('WRITTEN');
          await lines.next();
          await check('ASKED');
          await rc.set('{tag}:js:new', 'during-migration');
          if (await rc.get('{tag}:js:new') !== 'during-migration') throw new Error('write during migration');
          await lines.next();
          await check('MOVED');
          rc.disconnect();
          process.exit(0);
        })().catch(e => { console.error(e); process.exit(1); });
        """;

    [Fact]
    public async Task RedisPyRedisClusterFollowsMovedAndAsk()
    {
        if (!File.Exists("/usr/bin/python3")) Assert.Skip("python3 is not installed");
        var (code, _) = await RunAsync("/usr/bin/python3", ["-c", "import redis.cluster"]);
        if (code != 0) Assert.Skip("python3-redis is not installed (apt-get install python3-redis)");
        string script = Path.Combine(Path.GetTempPath(), $"kvasir-cluster-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(script, PythonScript);
        try
        {
            await RunScenarioAsync("/usr/bin/python3", [script], "py", environment: null);
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Fact]
    public async Task IoredisClusterFollowsMovedAndAsk()
    {
        string modules = Path.Combine(RepositoryRoot(), "tests", "clients", "node_modules");
        if (!File.Exists("/usr/bin/node") || !Directory.Exists(Path.Combine(modules, "ioredis")))
            Assert.Skip("node and ioredis are needed (.ci/run installs ioredis into tests/clients)");
        string script = Path.Combine(Path.GetTempPath(), $"kvasir-cluster-{Guid.NewGuid():N}.js");
        await File.WriteAllTextAsync(script, NodeScript);
        try
        {
            await RunScenarioAsync("/usr/bin/node", [script], "js", new Dictionary<string, string> { ["NODE_PATH"] = modules });
        }
        finally
        {
            File.Delete(script);
        }
    }

    /// <summary>
    /// Three primaries; the client writes, then the slot of "{tag}" is half migrated (ASK), then
    /// the migration ends (MOVED). The client prints a line after each phase.
    /// </summary>
    private static async Task RunScenarioAsync(string program, string[] args, string prefix, Dictionary<string, string>? environment)
    {
        var nodes = new List<ClusterProcess>();
        Process? client = null;
        try
        {
            for (int i = 0; i < 3; i++) nodes.Add(await ClusterProcess.StartKvasirAsync(5000));
            await CreateAsync(nodes, replicas: 0);
            var psi = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.ArgumentList.Add(nodes[0].Port.ToString());
            if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
            client = Process.Start(psi)!;
            var errors = client.StandardError.ReadToEndAsync();

            async Task Expect(string line)
            {
                var read = client.StandardOutput.ReadLineAsync();
                if (await Task.WhenAny(read, Task.Delay(60_000)) != read || await read != line)
                    Assert.Fail($"expected '{line}' from the client; stderr:\n{(client.HasExited ? await errors : "(still running)")}");
            }

            await Expect("WRITTEN");

            // Half a migration of the "{tag}" slot: half its keys already on the target.
            int slot = TestClusterClient.Slot("{tag}");
            var (source, target) = await OwnerAndOtherAsync(nodes, slot);
            await using var src = await source.ConnectAsync();
            await using var dst = await target.ConnectAsync();
            string sourceId = (await src.CallTextAsync("CLUSTER", "MYID"))!, targetId = (await dst.CallTextAsync("CLUSTER", "MYID"))!;
            Assert.Equal("OK", await dst.CallTextAsync("CLUSTER", "SETSLOT", slot.ToString(), "IMPORTING", sourceId));
            Assert.Equal("OK", await src.CallTextAsync("CLUSTER", "SETSLOT", slot.ToString(), "MIGRATING", targetId));
            var half = Enumerable.Range(0, 50).Select(i => (object)$"{{tag}}:{prefix}:{i}").ToArray();
            Assert.Equal("OK", await src.CallTextAsync([.. new object[] { "MIGRATE", "127.0.0.1", target.Port.ToString(), "", "0", "5000", "KEYS" }, .. half]));
            long asksBefore = await ErrorCountAsync(src, "ASK");
            await client.StandardInput.WriteLineAsync("go");
            await client.StandardInput.FlushAsync();
            await Expect("ASKED");
            Assert.True(await ErrorCountAsync(src, "ASK") > asksBefore, "the client must have been sent -ASK");

            // The rest moves and the slot is handed over: the client's map is stale.
            var rest = (await src.CallAsync("CLUSTER", "GETKEYSINSLOT", slot.ToString(), "1000")).Items!.Select(k => (object)k.Text!).ToArray();
            if (rest.Length > 0)
                Assert.Equal("OK", await src.CallTextAsync([.. new object[] { "MIGRATE", "127.0.0.1", target.Port.ToString(), "", "0", "5000", "KEYS" }, .. rest]));
            foreach (var n in nodes)
            {
                await using var c = await n.ConnectAsync();
                Assert.Equal("OK", await c.CallTextAsync("CLUSTER", "SETSLOT", slot.ToString(), "NODE", targetId));
            }
            long movedBefore = await ErrorCountAsync(src, "MOVED");
            await client.StandardInput.WriteLineAsync("go");
            await client.StandardInput.FlushAsync();
            await Expect("MOVED");
            Assert.True(await ErrorCountAsync(src, "MOVED") > movedBefore, "the client must have been sent -MOVED");
            await client.WaitForExitAsync(new CancellationTokenSource(30_000).Token);
            Assert.True(client.ExitCode == 0, await errors);
        }
        finally
        {
            if (client is { HasExited: false }) client.Kill();
            client?.Dispose();
            foreach (var n in nodes) await n.DisposeAsync();
        }
    }

    private static async Task<(ClusterProcess Owner, ClusterProcess Other)> OwnerAndOtherAsync(List<ClusterProcess> nodes, int slot)
    {
        foreach (var n in nodes)
        {
            await using var c = await n.ConnectAsync();
            string id = (await c.CallTextAsync("CLUSTER", "MYID"))!;
            var me = (await NodesAsync(c)).Single(v => v.Id == id);
            foreach (var range in me.Slots)
            {
                var p = range.Split('-');
                int start = int.Parse(p[0]), end = p.Length > 1 ? int.Parse(p[1]) : start;
                if (slot >= start && slot <= end) return (n, nodes.First(o => o != n));
            }
        }
        throw new InvalidOperationException("no owner for slot " + slot);
    }

    private static async Task<long> ErrorCountAsync(RespClient c, string code)
    {
        string line = await InfoFieldAsync(c, "errorstats", "errorstat_" + code);
        // count=N
        return line.Length == 0 ? 0 : long.Parse(line.Split('=')[1]);
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kvasir.slnx"))) dir = dir.Parent;
        if (dir is null) Assert.Skip("repository root not found");
        return dir!.FullName;
    }
}
