using System.Globalization;

namespace Kvasir.Config;

/// <summary>Output buffer limits of one client class (client-output-buffer-limit).</summary>
public struct ClientBufferLimit
{
    public long HardBytes;
    public long SoftBytes;
    public long SoftSeconds;

    public ClientBufferLimit(long hard, long soft, long seconds)
    {
        HardBytes = hard;
        SoftBytes = soft;
        SoftSeconds = seconds;
    }
}

/// <summary>Client classes of client-output-buffer-limit, in Valkey's order.</summary>
public enum ClientBufferClass { Normal = 0, Replica = 1, PubSub = 2 }

/// <summary>shutdown-on-sigint / shutdown-on-sigterm flags (also SHUTDOWN's modifiers).</summary>
[Flags]
public enum ShutdownFlags { Default = 0, Save = 1, NoSave = 2, Now = 4, Force = 8 }

/// <summary>notify-keyspace-events classes, with Valkey's bit values.</summary>
[Flags]
public enum KeyspaceEventFlags
{
    None = 0,
    Keyspace = 1 << 0,   // K
    Keyevent = 1 << 1,   // E
    Generic = 1 << 2,    // g
    String = 1 << 3,     // $
    List = 1 << 4,       // l
    Set = 1 << 5,        // s
    Hash = 1 << 6,       // h
    Zset = 1 << 7,       // z
    Expired = 1 << 8,    // x
    Evicted = 1 << 9,    // e
    Stream = 1 << 10,    // t
    KeyMiss = 1 << 11,   // m (not part of A)
    Loaded = 1 << 12,    // module only
    Module = 1 << 13,    // d
    New = 1 << 14,       // n (not part of A)
    All = Generic | String | List | Set | Hash | Zset | Expired | Evicted | Stream | Module, // A
}

/// <summary>
/// The server's configuration: typed fields that the rest of the code reads directly (no lookups
/// on hot paths), and a registry of <see cref="ConfigParameter"/>s that CONFIG GET/SET/REWRITE and
/// the config-file parser go through. Every parameter a real Valkey 8 has is registered (in
/// ConfigRegistry.cs), with Valkey's compiled defaults; those Kvasir does not act on yet carry
/// <see cref="ConfigFlags.StoredOnly"/> and are listed in docs/CONFIG.md.
/// </summary>
public sealed partial class ServerConfig
{
    private readonly Dictionary<string, ConfigParameter> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<ConfigParameter> _parameters = new();
    private readonly List<(string Name, ConfigParameter Parameter)> _entries = new();

    /// <summary>
    /// Running as a Sentinel (--sentinel, or started as kvasir-sentinel): set before the config is
    /// loaded, so "sentinel ..." directives are accepted and queued in <see cref="SentinelDirectives"/>.
    /// </summary>
    public bool SentinelMode;

    /// <summary>The "sentinel ..." lines of the config, in file order, for the Sentinel to apply once everything is read.</summary>
    public readonly List<SentinelConfigLine> SentinelDirectives = new();

    /// <summary>Extra lines a CONFIG REWRITE writes after the parameters (the Sentinel's state).</summary>
    public Action<ConfigRewriteState>? RewriteExtra;

    /// <summary>Sentinel defaults (Valkey's initSentinelConfig): port 26379, and no protected mode since a Sentinel must be reachable.</summary>
    public void UseSentinelDefaults()
    {
        SentinelMode = true;
        Port = 26379;
        ProtectedMode = false;
    }

    // ----- network -----
    public int Port = 6379;
    public string[] Bind = { "*", "-::*" };

    // ----- Kvasir: metrics endpoint and status page (Observability/Metrics) -----
    /// <summary>HTTP port of /metrics and the status page; 0 (the default) serves nothing.</summary>
    public int MetricsPort;
    /// <summary>Addresses the metrics port listens on ("-" prefix: optional); loopback by default.</summary>
    public string[] MetricsBind = DefaultMetricsBind;
    public static readonly string[] DefaultMetricsBind = { "127.0.0.1", "-::1" };
    public bool ProtectedMode = true;
    public int TcpBacklog = 511;
    public int TcpKeepAlive = 300;
    public string UnixSocket = "";
    public string UnixSocketGroup = "";
    public int UnixSocketPerm;
    public int Timeout;
    public int MaxClients = 10000;
    public long ProtoMaxBulkLen = 512L * 1024 * 1024;
    public long ClientQueryBufferLimit = 1024L * 1024 * 1024;
    public int IoThreads = 1;
    public int EventsPerIoThread = 2;
    public int PrefetchBatchMaxSize = 16;
    public int MaxNewConnectionsPerCycle = 10;
    public int MaxNewTlsConnectionsPerCycle = 1;
    public long SocketMarkId;
    public string BindSourceAddr = "";

    // ----- general -----
    public int Databases = 16;
    public int Hz = 10;
    public bool DynamicHz = true;
    public string Dir = Directory.GetCurrentDirectory();
    public bool Daemonize;
    public string Supervised = "no";
    public string PidFile = "";
    public string LogFile = "";
    public string LogLevel = "notice";
    public string LogFormat = "legacy";
    public string LogTimestampFormat = "legacy";
    public bool SyslogEnabled;
    public string SyslogIdent = "valkey";
    public string SyslogFacility = "local0";
    public bool AlwaysShowLogo;
    public bool SetProcTitle = true;
    public string ProcTitleTemplate = "{title} {listen-addr} {server-mode}";
    public string LocaleCollate = "";
    public string IgnoreWarnings = "";
    public bool CrashLogEnabled = true;
    public bool CrashMemcheckEnabled = true;
    public bool UseExitOnPanic;
    public bool DisableThp = true;
    public string OomScoreAdj = "no";
    public int[] OomScoreAdjValues = { 0, 200, 800 };
    public string ServerCpulist = "";
    public string BioCpulist = "";
    public string AofRewriteCpulist = "";
    public string BgsaveCpulist = "";
    public bool JemallocBgThread = true;
    public bool ExtendedRedisCompatibility;
    public bool EnableDebugAssert;
    public string DebugContext = "";
    public string AvailabilityZone = "";
    public bool HideUserDataFromLog = true;
    public string EnableDebugCommand = "no";
    public string EnableProtectedConfigs = "no";
    public string EnableModuleCommand = "no";
    public ShutdownFlags ShutdownOnSigint;
    public ShutdownFlags ShutdownOnSigterm;
    public int ShutdownTimeout = 10;
    public int WatchdogPeriod;

    // ----- security -----
    public string RequirePass = "";
    public string AclFile = "";
    public string AclPubsubDefault = "resetchannels";
    public long AcllogMaxLen = 128;
    /// <summary>The `user` lines of the config file (name, then rules), loaded into the ACL at startup.</summary>
    public List<string[]> UserLines = new();
    /// <summary>Set by the server: the current users as `user` lines, for CONFIG REWRITE (null without ACL).</summary>
    public Func<IEnumerable<string>>? DescribeUsers;

    // ----- persistence -----
    /// <summary>RDB save points (seconds, changes); empty disables automatic saves.</summary>
    public List<(long Seconds, long Changes)> Save = new() { (3600, 1), (300, 100), (60, 10000) };
    public string DbFilename = "dump.rdb";
    public bool RdbCompression = true;
    public bool RdbChecksum = true;
    public bool RdbDelSyncFiles;
    public bool RdbSaveIncrementalFsync = true;
    public bool StopWritesOnBgsaveError = true;
    public string SanitizeDumpPayload = "no";
    public bool AppendOnly;
    public string AppendFilename = "appendonly.aof";
    public string AppendDirname = "appendonlydir";
    public string AppendFsync = "everysec";
    public bool NoAppendfsyncOnRewrite;
    public int AutoAofRewritePercentage = 100;
    public long AutoAofRewriteMinSize = 64L * 1024 * 1024;
    public bool AofLoadTruncated = true;
    public bool AofUseRdbPreamble = true;
    public bool AofTimestampEnabled;
    public bool AofRewriteIncrementalFsync = true;
    public bool AofDisableAutoGc;
    public int RdbKeySaveDelay;
    /// <summary>RDB format version SAVE writes (hidden "rdb-version"; 11, or 10 for Redis 7.0).</summary>
    public int RdbVersion = 11;
    public int KeyLoadDelay;
    public long LoadingProcessEventsIntervalBytes = 2L * 1024 * 1024;

    // ----- replication -----
    /// <summary>replicaof host, "" when this server is a primary.</summary>
    public string ReplicaOfHost = "";
    public int ReplicaOfPort;
    public string PrimaryAuth = "";
    public string PrimaryUser = "";
    public bool ReplicaServeStaleData = true;
    public bool ReplicaReadOnly = true;
    public bool ReplicaIgnoreMaxmemory = true;
    public bool ReplicaLazyFlush = true;
    public int ReplicaPriority = 100;
    public bool ReplicaAnnounced = true;
    public string ReplicaAnnounceIp = "";
    public int ReplicaAnnouncePort;
    public bool ReplicaIgnoreDiskWriteErrors;
    public bool ReplDisklessSync = true;
    public int ReplDisklessSyncDelay = 5;
    public int ReplDisklessSyncMaxReplicas;
    public string ReplDisklessLoad = "disabled";
    public int ReplPingReplicaPeriod = 10;
    public int ReplTimeout = 60;
    public bool ReplDisableTcpNodelay;
    public long ReplBacklogSize = 10L * 1024 * 1024;
    public long ReplBacklogTtl = 3600;
    public int MinReplicasToWrite;
    public int MinReplicasMaxLag = 10;
    public bool DualChannelReplicationEnabled;
    public string PropagationErrorBehavior = "ignore";

    // ----- memory and eviction -----
    /// <summary>maxmemory in bytes (the effective limit, also when given as a percentage).</summary>
    public long MaxMemory;
    /// <summary>"maxmemory N%": N, the share of the container's memory limit (physical memory without one); 0 when given in bytes.</summary>
    public long MaxMemoryPercent;
    public string MaxMemoryPolicy = "noeviction";
    public int MaxMemorySamples = 5;
    public int MaxMemoryEvictionTenacity = 10;
    /// <summary>maxmemory-clients: bytes, or a percentage of maxmemory stored as a negative number.</summary>
    public long MaxMemoryClients;
    public int LfuLogFactor = 10;
    public int LfuDecayTime = 1;
    public int ActiveExpireEffort = 1;
    public bool LazyfreeLazyEviction = true;
    public bool LazyfreeLazyExpire = true;
    public bool LazyfreeLazyServerDel = true;
    public bool LazyfreeLazyUserDel = true;
    public bool LazyfreeLazyUserFlush = true;
    public bool ActiveRehashing = true;
    public bool ActiveDefrag;
    public long ActiveDefragIgnoreBytes = 100L << 20;
    public int ActiveDefragThresholdLower = 10;
    public int ActiveDefragThresholdUpper = 100;
    public int ActiveDefragCycleMin = 1;
    public int ActiveDefragCycleMax = 25;
    public long ActiveDefragMaxScanFields = 1000;

    // ----- encodings of small values -----
    public long HashMaxListpackEntries = 512;
    public long HashMaxListpackValue = 64;
    public int ListMaxListpackSize = -2;
    public int ListCompressDepth;
    public long SetMaxIntsetEntries = 512;
    public long SetMaxListpackEntries = 128;
    public long SetMaxListpackValue = 64;
    public long ZsetMaxListpackEntries = 128;
    public long ZsetMaxListpackValue = 64;
    public long HllSparseMaxBytes = 3000;
    public long StreamNodeMaxBytes = 4096;
    public long StreamNodeMaxEntries = 100;

    // ----- observability and clients -----
    public long SlowlogLogSlowerThan = 10000;
    public int SlowlogMaxLen = 128;
    public long LatencyMonitorThreshold;
    public bool LatencyTracking = true;
    public double[] LatencyTrackingInfoPercentiles = { 50, 99, 99.9 };
    public KeyspaceEventFlags NotifyKeyspaceEvents;
    public long TrackingTableMaxKeys = 1000000;
    public long BusyReplyThreshold = 5000;
    /// <summary>Indexed by <see cref="ClientBufferClass"/>.</summary>
    public ClientBufferLimit[] ClientOutputBufferLimits = DefaultClientOutputBufferLimits();

    // ----- cluster -----
    public bool ClusterEnabled;
    public string ClusterConfigFile = "nodes.conf";
    public long ClusterNodeTimeout = 15000;
    public int ClusterPort;
    public string ClusterAnnounceIp = "";
    public int ClusterAnnouncePort;
    public int ClusterAnnounceBusPort;
    public int ClusterAnnounceTlsPort;
    public string ClusterAnnounceHostname = "";
    public string ClusterAnnounceHumanNodename = "";
    public string ClusterAnnounceClientIpv4 = "";
    public string ClusterAnnounceClientIpv6 = "";
    public string ClusterPreferredEndpointType = "ip";
    public bool ClusterRequireFullCoverage = true;
    public bool ClusterReplicaNoFailover;
    public int ClusterReplicaValidityFactor = 10;
    public int ClusterMigrationBarrier = 1;
    public bool ClusterAllowReplicaMigration = true;
    public bool ClusterAllowReadsWhenDown;
    public bool ClusterAllowPubsubshardWhenDown = true;
    public long ClusterLinkSendbufLimit;
    public long ClusterBlacklistTtl = 60;
    public bool ClusterSlotStatsEnabled;
    public long ClusterPingInterval;

    // ----- TLS -----
    public int TlsPort;
    public string TlsCertFile = "";
    public string TlsKeyFile = "";
    public string TlsKeyFilePass = "";
    public string TlsClientCertFile = "";
    public string TlsClientKeyFile = "";
    public string TlsClientKeyFilePass = "";
    public string TlsDhParamsFile = "";
    public string TlsCaCertFile = "";
    public string TlsCaCertDir = "";
    public string TlsProtocols = "";
    public string TlsCiphers = "";
    public string TlsCiphersuites = "";
    public bool TlsPreferServerCiphers;
    public bool TlsSessionCaching = true;
    public int TlsSessionCacheSize = 20 * 1024;
    public int TlsSessionCacheTimeout = 300;
    public bool TlsCluster;
    public bool TlsReplication;
    public string TlsAuthClients = "yes";

    // ----- startup-only state -----

    /// <summary>Absolute path of the config file given at startup ("" when none), for INFO and CONFIG REWRITE.</summary>
    public string ConfigFile = "";

    /// <summary>rename-command directives of the config file, in order (applied to the command table at startup).</summary>
    public List<(string From, string To)> CommandRenames { get; } = new();

    /// <summary>Raised after a parameter changed through CONFIG SET (name as registered).</summary>
    public event Action<string>? Changed;

    /// <summary>True while a config file is being loaded: repeated save lines then add up.</summary>
    internal bool ReadingConfigFile;
    private bool _saveSeenInFile;

    public static ClientBufferLimit[] DefaultClientOutputBufferLimits() => new[]
    {
        new ClientBufferLimit(0, 0, 0),
        new ClientBufferLimit(256L * 1024 * 1024, 64L * 1024 * 1024, 60),
        new ClientBufferLimit(32L * 1024 * 1024, 8L * 1024 * 1024, 60),
    };

    public ServerConfig()
    {
        RegisterAll();
        foreach (var p in _parameters) p.DefaultValue = p.Get();
    }

    /// <summary>Every parameter once, by its main name.</summary>
    public IReadOnlyList<ConfigParameter> Parameters => _parameters;

    /// <summary>Every name CONFIG GET knows (main names and aliases) with its parameter, in registration order.</summary>
    public IReadOnlyList<(string Name, ConfigParameter Parameter)> Names => _entries;

    /// <summary>Finds a parameter by name or alias, case-insensitively.</summary>
    public ConfigParameter? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>
    /// Applies one value the way a startup option or CONFIG SET does (multi-argument values split on
    /// spaces). Returns null on success or the reason it was refused. When not at startup, immutable
    /// and protected parameters are refused and <see cref="Changed"/> is raised; use CONFIG SET's
    /// own path for apply hooks and rollback.
    /// </summary>
    public string? Set(string name, string value, bool atStartup)
    {
        var p = Find(name);
        if (p is null) return "Unknown option or number of arguments for CONFIG SET - '" + name + "'";
        if (!atStartup && p.Has(ConfigFlags.Immutable)) return "can't set immutable config";
        if (!atStartup && p.Has(ConfigFlags.Protected) && EnableProtectedConfigs == "no")
            return "can't set protected config";
        string before = p.Get();
        string? error = p.Set(value);
        if (error is null && !atStartup && (before != p.Get() || p.Has(ConfigFlags.Volatile))) Changed?.Invoke(p.Name);
        return error;
    }

    /// <summary>Raises <see cref="Changed"/> (CONFIG SET calls it for each parameter it changed).</summary>
    public void NotifyChanged(string name) => Changed?.Invoke(name);

    /// <summary>
    /// Marks the start or end of loading a config file. Within a load, the first "save" line replaces
    /// the compiled default save points and later ones add to it, as in Valkey.
    /// </summary>
    public void BeginFileLoad()
    {
        ReadingConfigFile = true;
    }

    public void EndFileLoad()
    {
        ReadingConfigFile = false;
        if (Hz < 1) Hz = 1;
        if (Hz > 500) Hz = 500;
    }

    private void Add(ConfigParameter p)
    {
        _parameters.Add(p);
        _byName.Add(p.Name, p);
        _entries.Add((p.Name, p));
        foreach (var a in p.Aliases)
        {
            _byName.Add(a, p);
            _entries.Add((a, p));
        }
    }

    // ----- registration helpers, one per value type -----

    private static string[] AliasList(string? alias) => alias is null ? Array.Empty<string>() : new[] { alias };

    private static string? One(IReadOnlyList<string> args, out string value)
    {
        value = args.Count > 0 ? args[0] : "";
        return args.Count == 1 ? null : "wrong number of arguments";
    }

    private void Bool(string name, string? alias, ConfigFlags flags, Func<bool> get, Action<bool> set,
        Func<bool, string?>? validate = null, Func<KvasirServer, string?>? apply = null)
    {
        bool def = get();
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = AliasList(alias),
            Flags = flags,
            Type = ConfigType.Bool,
            Get = () => ConfigValues.FormatBool(get()),
            SetArgs = args =>
            {
                if (One(args, out var v) is { } err) return err;
                if (!ConfigValues.TryParseBool(v, out bool b)) return "argument must be 'yes' or 'no'";
                if (validate?.Invoke(b) is { } invalid) return invalid;
                set(b);
                return null;
            },
            Rewrite = (state, n) => state.RewriteLine(n, n + " " + ConfigValues.FormatBool(get()), get() != def),
            Apply = apply,
        });
    }

    [Flags]
    private enum NumFormat { Integer = 0, Memory = 1, Percent = 2, Octal = 4 }

    private void Numeric(string name, string? alias, ConfigFlags flags, long min, long max, Func<long> get, Action<long> set,
        NumFormat format = NumFormat.Integer, Func<long, string?>? validate = null, Func<KvasirServer, string?>? apply = null,
        bool unsigned = false)
    {
        long def = get();
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = AliasList(alias),
            Flags = flags,
            Type = ConfigType.Numeric,
            Get = () => FormatNumber(get(), format),
            SetArgs = args =>
            {
                if (One(args, out var v) is { } err) return err;
                if (!TryParseNumber(v, format, out long n, out string? parseError)) return parseError;
                if (CheckBounds(n, min, max, format, unsigned) is { } bounds) return bounds;
                if (validate?.Invoke(n) is { } invalid) return invalid;
                set(n);
                return null;
            },
            Rewrite = (state, n) =>
            {
                long v = get();
                if (format.HasFlag(NumFormat.Percent) && v < 0)
                    state.RewriteLine(n, $"{n} {-v}%", -v != def);
                else if (format.HasFlag(NumFormat.Memory))
                    state.RewriteLine(n, n + " " + ConfigValues.FormatMemoryForRewrite(v), v != def);
                else if (format.HasFlag(NumFormat.Octal))
                    state.RewriteLine(n, n + " " + Convert.ToString(v, 8), v != def);
                else
                    state.RewriteLine(n, n + " " + v.ToString(CultureInfo.InvariantCulture), v != def);
            },
            Apply = apply,
        });
    }

    private static string FormatNumber(long v, NumFormat format)
    {
        if (format.HasFlag(NumFormat.Percent) && v < 0) return (-v).ToString(CultureInfo.InvariantCulture) + "%";
        if (format.HasFlag(NumFormat.Octal)) return Convert.ToString(v, 8);
        return v.ToString(CultureInfo.InvariantCulture);
    }

    private static bool TryParseNumber(string v, NumFormat format, out long n, out string? error)
    {
        error = null;
        if (format.HasFlag(NumFormat.Memory) && ConfigValues.TryParseMemory(v, out n)) return true;
        if (format.HasFlag(NumFormat.Percent) && v.Length > 1 && v[^1] == '%' &&
            ConfigValues.TryParseLong(v[..^1], out n) && n >= 0)
        {
            n = -n; // percentages are stored as negative numbers
            return true;
        }
        if (format.HasFlag(NumFormat.Octal) && TryParseOctal(v, out n)) return true;
        if (format == NumFormat.Integer && ConfigValues.TryParseLong(v, out n)) return true;
        n = 0;
        if (format.HasFlag(NumFormat.Memory) && format.HasFlag(NumFormat.Percent)) error = "argument must be a memory or percent value";
        else if (format.HasFlag(NumFormat.Memory)) error = "argument must be a memory value";
        else if (format.HasFlag(NumFormat.Octal)) error = "argument couldn't be parsed as an octal number";
        else error = "argument couldn't be parsed into an integer";
        return false;
    }

    /// <summary>strtoll(v, &amp;end, 8) consuming the whole string.</summary>
    private static bool TryParseOctal(string v, out long n)
    {
        n = 0;
        int i = 0;
        while (i < v.Length && char.IsWhiteSpace(v[i])) i++;
        bool negative = false;
        if (i < v.Length && (v[i] == '+' || v[i] == '-')) negative = v[i++] == '-';
        int start = i;
        for (; i < v.Length && v[i] >= '0' && v[i] <= '7'; i++)
        {
            if (n > (long.MaxValue >> 3)) return false;
            n = n * 8 + (v[i] - '0');
        }
        if (i == start) return v.Length == 0;
        if (i != v.Length) return false;
        if (negative) n = -n;
        return true;
    }

    private static string? CheckBounds(long n, long min, long max, NumFormat format, bool unsigned)
    {
        if (unsigned)
        {
            ulong u = (ulong)n;
            if (u > (ulong)max || u < (ulong)min)
                return format.HasFlag(NumFormat.Octal)
                    ? $"argument must be between {Convert.ToString(min, 8)} and {Convert.ToString(max, 8)} inclusive"
                    : $"argument must be between {(ulong)min} and {(ulong)max} inclusive";
            return null;
        }
        if (format.HasFlag(NumFormat.Percent) && n < 0)
            return n < min ? $"percentage argument must be less or equal to {-min}" : null;
        if (n > max || n < min) return $"argument must be between {min} and {max} inclusive";
        return null;
    }

    private void Int(string name, string? alias, ConfigFlags flags, int min, int max, Func<int> get, Action<int> set,
        Func<long, string?>? validate = null, Func<KvasirServer, string?>? apply = null) =>
        Numeric(name, alias, flags, min, max, () => get(), v => set((int)v), NumFormat.Integer, validate, apply);

    /// <summary>An unsigned C type (uint, ulong, size_t): bounds are compared as unsigned, so -1 is out of range.</summary>
    private void UInt(string name, string? alias, ConfigFlags flags, long min, long max, Func<long> get, Action<long> set,
        NumFormat format = NumFormat.Integer, Func<KvasirServer, string?>? apply = null) =>
        Numeric(name, alias, flags, min, max, get, set, format, null, apply, unsigned: true);

    private void Memory(string name, string? alias, ConfigFlags flags, long min, long max, Func<long> get, Action<long> set,
        bool unsigned, Func<KvasirServer, string?>? apply = null) =>
        Numeric(name, alias, flags, min, max, get, set, NumFormat.Memory, null, apply, unsigned);

    private void Enum(string name, string? alias, ConfigFlags flags, (string Name, int Value)[] values, Func<string> get, Action<string> set,
        Func<KvasirServer, string?>? apply = null)
    {
        string def = get();
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = AliasList(alias),
            Flags = flags,
            Type = ConfigType.Enum,
            Get = get,
            SetArgs = args =>
            {
                int index = args.Count == 1 ? FindEnum(values, args[0]) : -1;
                if (index < 0) return EnumError(values);
                // Several names may share a value ("yes" and "relative"): the first one is canonical.
                int canonical = Array.FindIndex(values, e => e.Value == values[index].Value);
                set(values[canonical].Name);
                return null;
            },
            Rewrite = (state, n) => state.RewriteLine(n, n + " " + get(), get() != def),
            Apply = apply,
        });
    }

    private static int FindEnum((string Name, int Value)[] values, string s)
    {
        for (int i = 0; i < values.Length; i++)
            if (string.Equals(values[i].Name, s, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    private static string EnumError((string Name, int Value)[] values)
    {
        string msg = "argument(s) must be one of the following: " + string.Join(", ", values.Select(v => v.Name));
        // Valkey formats this into a 256-byte buffer.
        return msg.Length > 255 ? msg[..255] : msg;
    }

    private static (string, int)[] EnumValues(params string[] names) => names.Select((n, i) => (n, i)).ToArray();

    /// <summary>
    /// A string parameter. With <paramref name="emptyIsNull"/>, "" means unset: CONFIG REWRITE then
    /// removes its lines instead of writing an empty value.
    /// </summary>
    private void Str(string name, string? alias, ConfigFlags flags, bool emptyIsNull, Func<string> get, Action<string> set,
        Func<string, string?>? validate = null, Func<KvasirServer, string?>? apply = null)
    {
        string? def = emptyIsNull ? null : get();
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = AliasList(alias),
            Flags = flags,
            Type = ConfigType.String,
            Get = get,
            SetArgs = args =>
            {
                if (One(args, out var v) is { } err) return err;
                if (validate?.Invoke(v) is { } invalid) return invalid;
                set(v);
                return null;
            },
            Rewrite = (state, n) =>
            {
                string v = get();
                if (emptyIsNull && v.Length == 0)
                {
                    state.MarkProcessed(n);
                    return;
                }
                state.RewriteLine(n, n + " " + ConfigValues.Repr(v), def is null || v != def);
            },
            Apply = apply,
        });
    }

    private void Special(string name, string? alias, ConfigFlags flags, Func<string> get, Func<IReadOnlyList<string>, string?> set,
        Action<ConfigRewriteState, string> rewrite, Func<KvasirServer, string?>? apply = null) =>
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = AliasList(alias),
            Flags = flags,
            Type = ConfigType.Special,
            Get = get,
            SetArgs = set,
            Rewrite = rewrite,
            Apply = apply,
        });
}

/// <summary>A "sentinel" directive of the config file: its arguments after "sentinel", where it was, and the line itself.</summary>
public sealed record SentinelConfigLine(string[] Args, int LineNumber, string Line);
