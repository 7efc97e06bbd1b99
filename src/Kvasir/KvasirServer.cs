using System.Diagnostics;
using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Networking;
using Kvasir.Observability;

namespace Kvasir;

/// <summary>
/// A Kvasir server: configuration, databases, clients and the network listeners. Embeddable:
/// <c>await using var server = new KvasirServer(config); await server.StartAsync();</c>
/// Every command executes under <see cref="DataLock"/>, one at a time, as in Valkey; I/O,
/// parsing and reply flushing run outside it in parallel.
/// </summary>
public sealed partial class KvasirServer : IAsyncDisposable
{
    public const string KvasirVersion = "0.1.0";
    /// <summary>The Valkey version whose behaviour Kvasir implements (INFO valkey_version, HELLO version).</summary>
    public const string ValkeyVersion = "8.1.0";
    /// <summary>The Redis OSS compatibility version clients gate features on.</summary>
    public const string RedisVersion = "7.2.4";

    private readonly List<TcpListenerHost> _listeners = new();
    private ServerCron? _cron;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextClientId;

    public KvasirServer(ServerConfig? config = null)
    {
        Config = config ?? new ServerConfig();
        Log.Level = ServerLog.ParseLevel(Config.LogLevel);
        CreateCluster();
        Databases = new Database[Config.Databases];
        for (int i = 0; i < Databases.Length; i++) Databases[i] = new Database(i, Keyspace);
        Persistence = new global::Kvasir.Persistence.PersistenceManager(this);
        Commands = new CommandTable(Config.SentinelMode);
        CommandRegistry.RegisterAll(Commands);
        if (Config.SentinelMode)
        {
            // A Sentinel: its own commands, no data set; the "sentinel" lines of the config become its state.
            global::Kvasir.Sentinel.SentinelCommands.Register(Commands);
            Sentinel = new global::Kvasir.Sentinel.SentinelState(this);
            Config.RewriteExtra = Sentinel.RewriteConfig;
            Log.Role = 'X';
            Sentinel.LoadConfig(Config.SentinelDirectives);
        }
        foreach (var (from, to) in Config.CommandRenames) Commands.Rename(from, to);
        Acl = new Security.AccessControl(this);
        Tls = new TlsContext(this);
        HttpMetrics = new Observability.Metrics.MetricsEndpoint(this);
        Config.DescribeUsers = () => Acl.DescribeAll();
        Dispatcher = new Dispatcher(this);
        Propagator = new Replication.Propagator(this);
        Replication = new Replication.ReplicationManager(this);
        Shutdown = new ShutdownSequence(this);
        Keyspace.KeyExpired += Propagator.ExpiredKeyDeleted;
        AttachMemoryManagement();
        Tick += ReplicationCron;
        Clients.Attach(this);
        Blocking = new Clients.BlockingRegistry(Databases.Length);
        Blocking.Attach(this);
        Scripts = new Scripting.ScriptHost(this);
        PubSub.Attach(this);
        Tracking = new Clients.TrackingRegistry(this);
        ClientEviction = new Clients.ClientEviction(this);
        KeyspaceEvents = new PubSub.KeyspaceEvents(PubSub, Keyspace);
        KeyspaceEvents.Attach(this);
        RunId = NewRandomId();
        ApplyKeyspaceSettings();
        Config.Changed += _ => ApplyKeyspaceSettings();
        UpdateClock();
        _ = Observability.GcPauseMonitor.Shared;   // watches collections from now on (INFO kvasir)
    }

    /// <summary>The lock every command executes under (Valkey's single execution thread).</summary>
    public Lock DataLock { get; } = new();

    public ServerConfig Config { get; }
    public ServerLog Log { get; } = new();
    public ServerStats Stats { get; } = new();
    public KeyspaceContext Keyspace { get; } = new();
    public Database[] Databases { get; }
    public CommandTable Commands { get; }

    /// <summary>ACL users, permission checks and the ACL log.</summary>
    public Security.AccessControl Acl { get; }

    /// <summary>Clients waiting in blocking commands, by the keys they wait on.</summary>
    public Clients.BlockingRegistry Blocking { get; }
    public Dispatcher Dispatcher { get; }
    public ClientRegistry Clients { get; } = new();

    /// <summary>Channel and pattern subscriptions (PUBLISH/SUBSCRIBE, keyspace notifications).</summary>
    public PubSub.PubSubRegistry PubSub { get; } = new();

    /// <summary>maxmemory-clients: closes the biggest clients when clients use too much memory.</summary>
    public Clients.ClientEviction ClientEviction { get; }

    /// <summary>Client-side caching: what tracking clients read, and their invalidations.</summary>
    public Clients.TrackingRegistry Tracking { get; }

    /// <summary>notify-keyspace-events: publishes keyspace and keyevent notifications.</summary>
    public PubSub.KeyspaceEvents KeyspaceEvents { get; }
    public SlowLog SlowLog { get; } = new();
    public LatencyMonitor Latency { get; } = new();
    /// <summary>
    /// Set by the host under <c>supervised systemd</c>: readiness and shutdown are reported to the
    /// service manager (sd_notify). INFO process_supervised names the supervisor.
    /// </summary>
    public ServiceNotifier? Systemd { get; set; }

    /// <summary>INFO process_supervised: "no", "systemd" or "upstart".</summary>
    public string SupervisedBy { get; set; } = "no";

    /// <summary>The HTTP metrics endpoint and status page (metrics-port); idle when the port is 0.</summary>
    public Observability.Metrics.MetricsEndpoint HttpMetrics { get; }
    public Scripting.FunctionLibraries Functions { get; } = new();
    /// <summary>EVAL / FCALL: the Lua engines, the script cache and the running script.</summary>
    public Scripting.ScriptHost Scripts { get; }

    /// <summary>The stream of replayable effects that feeds replicas and the AOF.</summary>
    public Replication.Propagator Propagator { get; }

    /// <summary>Replication: IDs, offset and backlog, the attached replicas, the link to a primary.</summary>
    public Replication.ReplicationManager Replication { get; }

    /// <summary>SHUTDOWN and the stop signals: waiting for lagging replicas, the final save, the stop.</summary>
    public ShutdownSequence Shutdown { get; }

    /// <summary>The Sentinel when this server runs in Sentinel mode (then it has no data set), else null.</summary>
    public global::Kvasir.Sentinel.SentinelState? Sentinel { get; }

    /// <summary>A data set being loaded while clients are served (-LOADING, INFO loading fields).</summary>
    public Persistence.LoadingStatus Loading { get; } = new();
    public string RunId { get; }

    /// <summary>A new random 40-character hex id (run ids, replication ids).</summary>
    /// <summary>
    /// True when scripts can run: Lua 5.1 (Valkey's interpreter) and lua-cjson are installed. The
    /// message names the packages otherwise.
    /// </summary>
    public static bool ScriptingAvailable(out string? error) => Scripting.LuaEngine.Available(out error);

    public static string NewRandomId() => SecureRandom.Hex(20);

    /// <summary>
    /// Writes the final snapshot at SHUTDOWN; set by the persistence subsystem. The argument tells
    /// whether SAVE was requested explicitly (otherwise the configured save points decide); the
    /// result is false when saving failed. While null there is nothing that could save.
    /// </summary>
    public Func<bool, bool>? ShutdownSave { get; set; }

    /// <summary>Unix ms when the server started (uptime).</summary>
    public long StartedAtMs { get; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    public Stopwatch Uptime { get; } = Stopwatch.StartNew();

    /// <summary>Unix seconds of the last successful save (LASTSAVE); startup counts as one, like Valkey.</summary>
    public long LastSaveUnix { get; set; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    /// <summary>The TCP port actually bound (differs from Config.Port when it was 0).</summary>
    public int BoundPort { get; private set; }

    /// <summary>Completes when the server has stopped (SHUTDOWN or <see cref="StopAsync"/>).</summary>
    public Task Stopped => _stopped.Task;

    public bool IsShuttingDown { get; private set; }

    public long NextClientId() => Interlocked.Increment(ref _nextClientId);

    private Networking.ReadinessLoop?[]? _readinessLoops;
    private int _nextReadinessLoop;
    private readonly Lock _readinessGate = new();

    /// <summary>
    /// The epoll loop a new plain (not TLS) connection waits for its input on: as many as io-threads,
    /// taken in turn, started with the first connection. Null where epoll is not available.
    /// </summary>
    internal Networking.ReadinessLoop? NextReadinessLoop()
    {
        if (!Networking.ReadinessLoop.Supported) return null;
        var loops = _readinessLoops;
        if (loops is null)
        {
            lock (_readinessGate)
            {
                loops = _readinessLoops;
                if (loops is null)
                {
                    loops = new Networking.ReadinessLoop?[Math.Max(1, Config.IoThreads)];
                    for (int i = 0; i < loops.Length; i++) loops[i] = Networking.ReadinessLoop.TryCreate($"kvasir-io-{i}");
                    _readinessLoops = loops;
                }
            }
        }
        return loops[(int)((uint)Interlocked.Increment(ref _nextReadinessLoop) % (uint)loops.Length)];
    }

    private void ApplyKeyspaceSettings()
    {
        Keyspace.UseLfu = Config.MaxMemoryPolicy.Contains("lfu", StringComparison.Ordinal);
        Keyspace.LfuLogFactor = Config.LfuLogFactor;
        Keyspace.LfuDecayTime = Config.LfuDecayTime;
        Log.Level = ServerLog.ParseLevel(Config.LogLevel);
    }

    private const string LoadFailure = "Fatal error loading the DB, check server logs. Exiting.";

    public async Task StartAsync()
    {
        // Users first (config `user` lines, aclfile), as Valkey's ACLLoadUsersAtStartup; errors stop the start.
        lock (DataLock) Acl.LoadAtStartup();
        // nodes.conf first: whether this node is a replica decides how the data set's replication history is used.
        if (Cluster is not null) lock (DataLock) Cluster.Initialize();
        // An AOF replays its commands before clients are served; a file that cannot be loaded stops
        // the start (Valkey exits with status 1). A dump file is loaded once the ports are open.
        if (Sentinel is null && Config.AppendOnly && !Persistence.Aof.LoadAtStartup())
            throw new InvalidOperationException(LoadFailure);
        // TLS settings are loaded whenever something will use them (Valkey's tlsConfigure at start).
        if ((Config.TlsPort != 0 || Config.TlsReplication || Config.TlsCluster) && Tls.Configure() is not null)
            throw new InvalidOperationException("Failed to configure TLS. Check logs for more info.");
        // The metrics endpoint before the client ports: a port that cannot be bound stops the start
        // before any client is served, and a client that got its PONG can scrape at once.
        if (Config.MetricsPort != 0 && HttpMetrics.Apply() is { } metricsError)
            throw new InvalidOperationException(metricsError);
        var tcp = new List<TcpListenerHost>();
        if (!StartTcpListeners(tcp, out string? tcpError) || !StartTcpListeners(tcp, out tcpError, tls: true))
        {
            foreach (var l in tcp) l.Stop();
            HttpMetrics.Stop();
            throw new InvalidOperationException(tcpError);
        }
        _listeners.AddRange(tcp);
        if (!string.IsNullOrEmpty(Config.UnixSocket))
        {
            var host = TcpListenerHost.ForUnixSocket(this, Config.UnixSocket, Config.UnixSocketPerm);
            if (!host.TryStart(out string? error))
                throw new InvalidOperationException($"Failed opening Unix socket: {error}");
            _listeners.Add(host);
        }
        // Valkey listens before it loads the dump file: clients (and Sentinels, and a primary's
        // replicas) meanwhile get -LOADING rather than a refused connection.
        if (Sentinel is null && !Config.AppendOnly && !await Persistence.LoadRdbAtStartupAsync())
        {
            foreach (var l in _listeners) l.Stop();
            HttpMetrics.Stop();
            throw new InvalidOperationException(LoadFailure);
        }
        if (Cluster is not null)
        {
            lock (DataLock) Cluster.Start();
            Tick += Cluster.Tick;
        }
        _cron = new ServerCron(this);
        _cron.Start();
        if (Sentinel is not null)
        {
            Sentinel.Start();
            return;
        }
        if (BoundPort != 0) Log.Notice($"Ready to accept connections tcp");
        if (BoundTlsPort != 0) Log.Notice($"Ready to accept connections tls");
        if (!string.IsNullOrEmpty(Config.UnixSocket)) Log.Notice("Ready to accept connections unix");
        // replicaof in the config: follow that primary once we can be reached (our port is announced).
        if (Config.ReplicaOfHost.Length > 0)
        {
            lock (DataLock)
            {
                if (!Replication.IsReplica) Replication.SetPrimary(Config.ReplicaOfHost, Config.ReplicaOfPort);
            }
        }
    }

    private bool StartTcpListeners(List<TcpListenerHost> started, out string? error, bool tls = false)
    {
        error = null;
        int port = tls ? Config.TlsPort : Config.Port;
        if (tls && port == 0) return true; // tls-port 0: no TLS listener
        var binds = Config.Bind.Where(b => b != "-::*").ToArray();
        if (port == 0 && binds.Length == 0) return true;
        foreach (var address in Config.Bind)
        {
            var host = new TcpListenerHost(this, address, port, tls);
            if (!host.TryStart(out string? bindError))
            {
                if (address.StartsWith('-')) continue; // optional address ("-::*")
                error = $"Warning: Could not create server TCP listening socket {address}:{port}: {bindError}";
                return false;
            }
            started.Add(host);
            if (tls) BoundTlsPort = host.Port;
            else BoundPort = host.Port;
        }
        return true;
    }

    /// <summary>The TLS port actually bound (tls-port), 0 without one.</summary>
    public int BoundTlsPort { get; private set; }

    /// <summary>TLS certificates and settings (tls-*), for the TLS port and outgoing TLS links.</summary>
    public TlsContext Tls { get; }

    /// <summary>
    /// CONFIG SET tls-port (and port/bind changes): closes the TLS listeners and opens them again
    /// from the current config, loading the TLS settings first if they never were.
    /// </summary>
    public bool RebindTlsListeners()
    {
        if (Config.TlsPort != 0 && !Tls.IsConfigured && Tls.Configure() is not null) return false;
        foreach (var l in _listeners.Where(l => l.IsTls).ToList())
        {
            l.Stop();
            _listeners.Remove(l);
        }
        BoundTlsPort = 0;
        var started = new List<TcpListenerHost>();
        if (!StartTcpListeners(started, out string? error, tls: true))
        {
            foreach (var l in started) l.Stop();
            Log.Warning(error!);
            return false;
        }
        _listeners.AddRange(started);
        return true;
    }

    /// <summary>
    /// CONFIG SET port/bind: closes the TCP listeners and opens them again from the current config.
    /// On failure nothing is left listening on TCP and false is returned; the caller restores the
    /// previous config and calls this again.
    /// </summary>
    public bool RebindTcpListeners()
    {
        foreach (var l in _listeners.Where(l => !l.IsUnix && !l.IsTls).ToList())
        {
            l.Stop();
            _listeners.Remove(l);
        }
        var started = new List<TcpListenerHost>();
        if (!StartTcpListeners(started, out string? error))
        {
            foreach (var l in started) l.Stop();
            Log.Warning(error!);
            return false;
        }
        _listeners.AddRange(started);
        return true;
    }

    /// <summary>Stops listening, closes every client and completes <see cref="Stopped"/>.</summary>
    public async Task StopAsync()
    {
        if (IsShuttingDown) { await Stopped; return; }
        IsShuttingDown = true;
        foreach (var l in _listeners) l.Stop();
        HttpMetrics.Stop();
        _cron?.Stop();
        Sentinel?.Stop();
        if (Cluster is not null) lock (DataLock) Cluster.Stop();
        LazyFree.Dispose();
        lock (DataLock)
        {
            Replication.Shutdown();
            foreach (var c in Clients.All.ToList()) c.Transport?.Close();
            if (_readinessLoops is { } loops)
                foreach (var loop in loops) loop?.Stop();
            // The AOF is written and fsynced before the process may exit (Valkey's prepareForShutdown).
            Persistence.Aof.Shutdown();
        }
        _stopped.TrySetResult();
        await Task.CompletedTask;
    }

    /// <summary>Requests an orderly stop from inside a command (SHUTDOWN); the host process exits when <see cref="Stopped"/> completes.</summary>
    public void RequestStop() => _ = Task.Run(StopAsync);

    public async ValueTask DisposeAsync() => await StopAsync();

    /// <summary>Time source of command execution (durations and the cached Unix time).</summary>
    public CommandClock Clock { get; } = new();

    /// <summary>Refreshes the cached command time from a fresh reading; called under the lock.</summary>
    public void UpdateClock() => Keyspace.NowMs = Clock.UnixMs(System.Diagnostics.Stopwatch.GetTimestamp());

    /// <summary>Refreshes the cached command time from the batch's latest reading (no clock read).</summary>
    public void AdvanceClock() => Keyspace.NowMs = Clock.UnixMs(Clock.Mark);
}
