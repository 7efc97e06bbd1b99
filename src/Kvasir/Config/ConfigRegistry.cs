using System.Globalization;
using System.Net;
using System.Text;
using static Kvasir.Config.ConfigFlags;

namespace Kvasir.Config;

/// <summary>
/// Every parameter of Valkey 8 with its name, alias, flags, type, range and compiled default. The
/// values CONFIG GET shows and the error texts follow Valkey's config.c. Which of them Kvasir acts
/// on is recorded in <see cref="ConfigStatus"/>.
/// </summary>
public sealed partial class ServerConfig
{
    private const int IntMax = int.MaxValue;
    private const long LongMax = long.MaxValue;
    private const long UIntMax = uint.MaxValue;
    /// <summary>ULLONG_MAX / ULONG_MAX, compared as unsigned.</summary>
    private const long ULongMax = -1;

    private static readonly (string, int)[] ProtectedActionValues = EnumValues("no", "yes", "local");

    // CONFIG SET hooks that act on the running server. Shared delegates run once per CONFIG SET.
    private static readonly Func<KvasirServer, string?> ApplyPort =
        s => s.RebindTcpListeners() ? null : "Unable to listen on this port. Check server logs.";
    private static readonly Func<KvasirServer, string?> ApplyBind =
        s => s.RebindTcpListeners() && s.RebindTlsListeners() ? null : "Failed to bind to specified addresses.";
    private static readonly Func<KvasirServer, string?> ApplyTlsPort =
        s => s.RebindTlsListeners() ? null : "Unable to update TLS configuration. Check server logs.";
    // A TLS setting is only loaded when something uses TLS; a bad one is refused and the old stays in use.
    private static readonly Func<KvasirServer, string?> ApplyTls =
        s => !(s.Config.TlsPort != 0 || s.Config.TlsReplication || s.Config.TlsCluster) || s.Tls.Configure() is null
            ? null
            : "Unable to update TLS configuration. Check server logs.";

    // The metrics endpoint is started, moved or stopped at once; on failure the old setting is restored.
    private static readonly Func<KvasirServer, string?> ApplyMetrics = s => s.HttpMetrics.Apply();

    private void RegisterAll()
    {
        RegisterBools();
        RegisterStrings();
        RegisterEnums();
        RegisterNumbers();
        RegisterTls();
        RegisterSpecials();
    }

    private void RegisterBools()
    {
        Bool("rdbchecksum", null, Immutable, () => RdbChecksum, v => RdbChecksum = v);
        Bool("daemonize", null, Immutable, () => Daemonize, v => Daemonize = v);
        Bool("always-show-logo", null, Immutable, () => AlwaysShowLogo, v => AlwaysShowLogo = v);
        Bool("protected-mode", null, None, () => ProtectedMode, v => ProtectedMode = v);
        Bool("rdbcompression", null, None, () => RdbCompression, v => RdbCompression = v);
        Bool("rdb-del-sync-files", null, None, () => RdbDelSyncFiles, v => RdbDelSyncFiles = v);
        Bool("activerehashing", null, None, () => ActiveRehashing, v => ActiveRehashing = v);
        Bool("stop-writes-on-bgsave-error", null, None, () => StopWritesOnBgsaveError, v => StopWritesOnBgsaveError = v);
        Bool("set-proc-title", null, Immutable, () => SetProcTitle, v => SetProcTitle = v);
        Bool("dynamic-hz", null, None, () => DynamicHz, v => DynamicHz = v);
        Bool("lazyfree-lazy-eviction", null, Debug, () => LazyfreeLazyEviction, v => LazyfreeLazyEviction = v);
        Bool("lazyfree-lazy-expire", null, Debug, () => LazyfreeLazyExpire, v => LazyfreeLazyExpire = v);
        Bool("lazyfree-lazy-server-del", null, Debug, () => LazyfreeLazyServerDel, v => LazyfreeLazyServerDel = v);
        Bool("lazyfree-lazy-user-del", null, Debug, () => LazyfreeLazyUserDel, v => LazyfreeLazyUserDel = v);
        Bool("lazyfree-lazy-user-flush", null, Debug, () => LazyfreeLazyUserFlush, v => LazyfreeLazyUserFlush = v);
        Bool("repl-disable-tcp-nodelay", null, None, () => ReplDisableTcpNodelay, v => ReplDisableTcpNodelay = v);
        Bool("repl-diskless-sync", null, Debug, () => ReplDisklessSync, v => ReplDisklessSync = v);
        Bool("dual-channel-replication-enabled", null, Debug, () => DualChannelReplicationEnabled, v => DualChannelReplicationEnabled = v);
        Bool("aof-rewrite-incremental-fsync", null, None, () => AofRewriteIncrementalFsync, v => AofRewriteIncrementalFsync = v);
        Bool("no-appendfsync-on-rewrite", null, None, () => NoAppendfsyncOnRewrite, v => NoAppendfsyncOnRewrite = v);
        Bool("cluster-require-full-coverage", null, None, () => ClusterRequireFullCoverage, v => ClusterRequireFullCoverage = v);
        Bool("rdb-save-incremental-fsync", null, None, () => RdbSaveIncrementalFsync, v => RdbSaveIncrementalFsync = v);
        Bool("aof-load-truncated", null, None, () => AofLoadTruncated, v => AofLoadTruncated = v);
        Bool("aof-use-rdb-preamble", null, None, () => AofUseRdbPreamble, v => AofUseRdbPreamble = v);
        Bool("aof-timestamp-enabled", null, None, () => AofTimestampEnabled, v => AofTimestampEnabled = v);
        Bool("cluster-replica-no-failover", "cluster-slave-no-failover", None, () => ClusterReplicaNoFailover, v => ClusterReplicaNoFailover = v);
        Bool("replica-lazy-flush", "slave-lazy-flush", None, () => ReplicaLazyFlush, v => ReplicaLazyFlush = v);
        Bool("replica-serve-stale-data", "slave-serve-stale-data", None, () => ReplicaServeStaleData, v => ReplicaServeStaleData = v);
        Bool("replica-read-only", "slave-read-only", Debug, () => ReplicaReadOnly, v => ReplicaReadOnly = v);
        Bool("replica-ignore-maxmemory", "slave-ignore-maxmemory", None, () => ReplicaIgnoreMaxmemory, v => ReplicaIgnoreMaxmemory = v);
        Bool("jemalloc-bg-thread", null, None, () => JemallocBgThread, v => JemallocBgThread = v);
        Bool("activedefrag", null, Debug, () => ActiveDefrag, v => ActiveDefrag = v);
        Bool("syslog-enabled", null, Immutable, () => SyslogEnabled, v => SyslogEnabled = v);
        Bool("cluster-enabled", null, Immutable, () => ClusterEnabled, v => ClusterEnabled = v);
        Bool("appendonly", null, DenyLoading, () => AppendOnly, v => AppendOnly = v, apply: s => s.Persistence.Aof.ApplyAppendOnly());
        Bool("cluster-allow-reads-when-down", null, None, () => ClusterAllowReadsWhenDown, v => ClusterAllowReadsWhenDown = v);
        Bool("cluster-allow-pubsubshard-when-down", null, None, () => ClusterAllowPubsubshardWhenDown, v => ClusterAllowPubsubshardWhenDown = v);
        Bool("crash-log-enabled", null, None, () => CrashLogEnabled, v => CrashLogEnabled = v);
        Bool("crash-memcheck-enabled", null, None, () => CrashMemcheckEnabled, v => CrashMemcheckEnabled = v);
        Bool("use-exit-on-panic", null, Hidden, () => UseExitOnPanic, v => UseExitOnPanic = v);
        Bool("disable-thp", null, Immutable, () => DisableThp, v => DisableThp = v);
        Bool("cluster-allow-replica-migration", null, None, () => ClusterAllowReplicaMigration, v => ClusterAllowReplicaMigration = v);
        Bool("replica-announced", null, None, () => ReplicaAnnounced, v => ReplicaAnnounced = v);
        Bool("latency-tracking", null, None, () => LatencyTracking, v => LatencyTracking = v);
        Bool("aof-disable-auto-gc", null, Hidden, () => AofDisableAutoGc, v => AofDisableAutoGc = v,
            apply: s => { s.Persistence.Aof.DeleteHistoryFiles(); return null; });
        Bool("replica-ignore-disk-write-errors", null, None, () => ReplicaIgnoreDiskWriteErrors, v => ReplicaIgnoreDiskWriteErrors = v);
        Bool("extended-redis-compatibility", null, None, () => ExtendedRedisCompatibility, v => ExtendedRedisCompatibility = v);
        Bool("enable-debug-assert", null, Immutable | Hidden, () => EnableDebugAssert, v => EnableDebugAssert = v);
        Bool("cluster-slot-stats-enabled", null, None, () => ClusterSlotStatsEnabled, v => ClusterSlotStatsEnabled = v);
        Bool("hide-user-data-from-log", null, None, () => HideUserDataFromLog, v => HideUserDataFromLog = v);
    }

    private void RegisterStrings()
    {
        Str("aclfile", null, Immutable, false, () => AclFile, v => AclFile = v);
        Str("unixsocket", null, Immutable, true, () => UnixSocket, v => UnixSocket = v);
        Str("unixsocketgroup", null, Immutable, true, () => UnixSocketGroup, v => UnixSocketGroup = v);
        Str("pidfile", null, Immutable, true, () => PidFile, v => PidFile = v);
        Str("replica-announce-ip", "slave-announce-ip", None, true, () => ReplicaAnnounceIp, v => ReplicaAnnounceIp = v);
        Str("primaryuser", "masteruser", Sensitive, true, () => PrimaryUser, v => PrimaryUser = v);
        Str("cluster-announce-ip", null, None, true, () => ClusterAnnounceIp, v => ClusterAnnounceIp = v);
        Str("cluster-announce-client-ipv4", null, None, true, () => ClusterAnnounceClientIpv4, v => ClusterAnnounceClientIpv4 = v,
            validate: v => v.Length > 0 && !IsIp(v, System.Net.Sockets.AddressFamily.InterNetwork) ? "Invalid IPv4 address" : null);
        Str("cluster-announce-client-ipv6", null, None, true, () => ClusterAnnounceClientIpv6, v => ClusterAnnounceClientIpv6 = v,
            validate: v => v.Length > 0 && !IsIp(v, System.Net.Sockets.AddressFamily.InterNetworkV6) ? "Invalid IPv6 address" : null);
        Str("cluster-config-file", null, Immutable, false, () => ClusterConfigFile, v => ClusterConfigFile = v,
            validate: v => v.Length == 0 ? "cluster-config-file can't be empty" : null);
        Str("cluster-announce-hostname", null, None, true, () => ClusterAnnounceHostname, v => ClusterAnnounceHostname = v,
            validate: ValidateHostname);
        Str("cluster-announce-human-nodename", null, None, true, () => ClusterAnnounceHumanNodename, v => ClusterAnnounceHumanNodename = v,
            validate: v => v.Any(c => "!#$%&()*+;<>?@[]^{|}~".Contains(c)) ? "Announced human node name contained invalid character" : null);
        Str("syslog-ident", null, Immutable, false, () => SyslogIdent, v => SyslogIdent = v);
        Str("dbfilename", null, Protected, false, () => DbFilename, v => DbFilename = v,
            validate: v => v.Length == 0 ? "dbfilename can't be empty"
                : !IsBaseName(v) ? "dbfilename can't be a path, just a filename" : null);
        Str("appendfilename", null, Immutable, false, () => AppendFilename, v => AppendFilename = v,
            validate: v => v.Length == 0 ? "appendfilename can't be empty"
                : !IsBaseName(v) ? "appendfilename can't be a path, just a filename" : null);
        Str("appenddirname", null, Immutable, false, () => AppendDirname, v => AppendDirname = v,
            validate: v => v.Length == 0 ? "appenddirname can't be empty"
                : !IsBaseName(v) ? "appenddirname can't be a path, just a dirname" : null);
        Str("server-cpulist", "server_cpulist", Immutable, true, () => ServerCpulist, v => ServerCpulist = v);
        Str("bio-cpulist", "bio_cpulist", Immutable, true, () => BioCpulist, v => BioCpulist = v);
        Str("aof-rewrite-cpulist", "aof_rewrite_cpulist", Immutable, true, () => AofRewriteCpulist, v => AofRewriteCpulist = v);
        Str("bgsave-cpulist", "bgsave_cpulist", Immutable, true, () => BgsaveCpulist, v => BgsaveCpulist = v);
        Str("ignore-warnings", null, None, false, () => IgnoreWarnings, v => IgnoreWarnings = v);
        Str("proc-title-template", null, None, false, () => ProcTitleTemplate, v => ProcTitleTemplate = v,
            validate: v => IsValidProcTitleTemplate(v) ? null : "template format is invalid or contains unknown variables");
        Str("bind-source-addr", null, None, true, () => BindSourceAddr, v => BindSourceAddr = v);
        Str("logfile", null, Immutable, false, () => LogFile, v => LogFile = v);
        Str("locale-collate", null, None, false, () => LocaleCollate, v => LocaleCollate = v);
        Str("debug-context", null, Debug | Hidden, false, () => DebugContext, v => DebugContext = v);
        Str("primaryauth", "masterauth", Sensitive, true, () => PrimaryAuth, v => PrimaryAuth = v);
        Str("requirepass", null, Sensitive, true, () => RequirePass, v => RequirePass = v);
        Str("availability-zone", null, None, false, () => AvailabilityZone, v => AvailabilityZone = v);
    }

    private void RegisterEnums()
    {
        Enum("supervised", null, Immutable, EnumValues("upstart", "systemd", "auto", "no"), () => Supervised, v => Supervised = v);
        Enum("syslog-facility", null, Immutable, EnumValues("user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"),
            () => SyslogFacility, v => SyslogFacility = v);
        Enum("repl-diskless-load", null, Debug | DenyLoading, EnumValues("disabled", "on-empty-db", "swapdb", "flush-before-load"),
            () => ReplDisklessLoad, v => ReplDisklessLoad = v);
        Enum("loglevel", null, None, EnumValues("debug", "verbose", "notice", "warning", "nothing"), () => LogLevel, v => LogLevel = v);
        Enum("maxmemory-policy", null, None,
            EnumValues("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"),
            () => MaxMemoryPolicy, v => MaxMemoryPolicy = v);
        Enum("appendfsync", null, None, EnumValues("everysec", "always", "no"), () => AppendFsync, v => AppendFsync = v);
        Enum("oom-score-adj", null, None, new[] { ("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2) },
            () => OomScoreAdj, v => OomScoreAdj = v);
        Enum("acl-pubsub-default", null, None, EnumValues("allchannels", "resetchannels"), () => AclPubsubDefault, v => AclPubsubDefault = v);
        Enum("sanitize-dump-payload", null, Debug, EnumValues("no", "yes", "clients"), () => SanitizeDumpPayload, v => SanitizeDumpPayload = v);
        Enum("enable-protected-configs", null, Immutable, ProtectedActionValues, () => EnableProtectedConfigs, v => EnableProtectedConfigs = v);
        Enum("enable-debug-command", null, Immutable, ProtectedActionValues, () => EnableDebugCommand, v => EnableDebugCommand = v);
        Enum("enable-module-command", null, Immutable, ProtectedActionValues, () => EnableModuleCommand, v => EnableModuleCommand = v);
        Enum("cluster-preferred-endpoint-type", null, None, EnumValues("ip", "hostname", "unknown-endpoint"),
            () => ClusterPreferredEndpointType, v => ClusterPreferredEndpointType = v);
        Enum("propagation-error-behavior", null, None, EnumValues("ignore", "panic", "panic-on-replicas"),
            () => PropagationErrorBehavior, v => PropagationErrorBehavior = v);
        ShutdownFlagsParameter("shutdown-on-sigint", () => ShutdownOnSigint, v => ShutdownOnSigint = v);
        ShutdownFlagsParameter("shutdown-on-sigterm", () => ShutdownOnSigterm, v => ShutdownOnSigterm = v);
        Enum("log-format", null, None, EnumValues("legacy", "logfmt"), () => LogFormat, v => LogFormat = v);
        Enum("log-timestamp-format", null, None, EnumValues("legacy", "iso8601", "milliseconds"), () => LogTimestampFormat, v => LogTimestampFormat = v);
    }

    private void RegisterNumbers()
    {
        Int("databases", null, Immutable, 1, IntMax, () => Databases, v => Databases = v);
        Int("port", null, None, 0, 65535, () => Port, v => Port = v, apply: ApplyPort);
        Int("io-threads", null, Debug | Immutable, 1, 128, () => IoThreads, v => IoThreads = v);
        Int("events-per-io-thread", null, None, 0, IntMax, () => EventsPerIoThread, v => EventsPerIoThread = v);
        Int("prefetch-batch-max-size", null, None, 0, 128, () => PrefetchBatchMaxSize, v => PrefetchBatchMaxSize = v);
        Int("auto-aof-rewrite-percentage", null, None, 0, IntMax, () => AutoAofRewritePercentage, v => AutoAofRewritePercentage = v);
        Int("cluster-replica-validity-factor", "cluster-slave-validity-factor", None, 0, IntMax,
            () => ClusterReplicaValidityFactor, v => ClusterReplicaValidityFactor = v);
        Int("list-max-listpack-size", "list-max-ziplist-size", None, int.MinValue, IntMax, () => ListMaxListpackSize, v => ListMaxListpackSize = v);
        Int("tcp-keepalive", null, None, 0, IntMax, () => TcpKeepAlive, v => TcpKeepAlive = v);
        Int("cluster-migration-barrier", null, None, 0, IntMax, () => ClusterMigrationBarrier, v => ClusterMigrationBarrier = v);
        Int("active-defrag-cycle-min", null, None, 1, 99, () => ActiveDefragCycleMin, v => ActiveDefragCycleMin = v);
        Int("active-defrag-cycle-max", null, None, 1, 99, () => ActiveDefragCycleMax, v => ActiveDefragCycleMax = v);
        Int("active-defrag-threshold-lower", null, None, 0, 1000, () => ActiveDefragThresholdLower, v => ActiveDefragThresholdLower = v);
        Int("active-defrag-threshold-upper", null, None, 0, 1000, () => ActiveDefragThresholdUpper, v => ActiveDefragThresholdUpper = v);
        Int("lfu-log-factor", null, None, 0, IntMax, () => LfuLogFactor, v => LfuLogFactor = v);
        Int("lfu-decay-time", null, None, 0, IntMax, () => LfuDecayTime, v => LfuDecayTime = v);
        Int("replica-priority", "slave-priority", None, 0, IntMax, () => ReplicaPriority, v => ReplicaPriority = v);
        Int("repl-diskless-sync-delay", null, None, 0, IntMax, () => ReplDisklessSyncDelay, v => ReplDisklessSyncDelay = v);
        Int("maxmemory-samples", null, None, 1, 64, () => MaxMemorySamples, v => MaxMemorySamples = v);
        Int("maxmemory-eviction-tenacity", null, None, 0, 100, () => MaxMemoryEvictionTenacity, v => MaxMemoryEvictionTenacity = v);
        Int("timeout", null, None, 0, IntMax, () => Timeout, v => Timeout = v);
        Int("replica-announce-port", "slave-announce-port", None, 0, 65535, () => ReplicaAnnouncePort, v => ReplicaAnnouncePort = v);
        Int("tcp-backlog", null, Immutable, 0, IntMax, () => TcpBacklog, v => TcpBacklog = v);
        Int("cluster-port", null, Immutable, 0, 65535, () => ClusterPort, v => ClusterPort = v);
        Int("cluster-announce-bus-port", null, None, 0, 65535, () => ClusterAnnounceBusPort, v => ClusterAnnounceBusPort = v);
        Int("cluster-announce-port", null, None, 0, 65535, () => ClusterAnnouncePort, v => ClusterAnnouncePort = v);
        Int("cluster-announce-tls-port", null, None, 0, 65535, () => ClusterAnnounceTlsPort, v => ClusterAnnounceTlsPort = v);
        Int("repl-timeout", null, None, 1, IntMax, () => ReplTimeout, v => ReplTimeout = v);
        Int("repl-ping-replica-period", "repl-ping-slave-period", None, 1, IntMax, () => ReplPingReplicaPeriod, v => ReplPingReplicaPeriod = v);
        Int("list-compress-depth", null, Debug, 0, IntMax, () => ListCompressDepth, v => ListCompressDepth = v);
        Int("rdb-key-save-delay", null, Hidden, int.MinValue, IntMax, () => RdbKeySaveDelay, v => RdbKeySaveDelay = v);
        Int("key-load-delay", null, Hidden, int.MinValue, IntMax, () => KeyLoadDelay, v => KeyLoadDelay = v);
        // Kvasir only, hidden like Valkey's test knobs: 10 makes SAVE write files Redis 7.0 can load.
        Int("rdb-version", null, Hidden, 10, 11, () => RdbVersion, v => RdbVersion = v);
        Int("active-expire-effort", null, None, 1, 10, () => ActiveExpireEffort, v => ActiveExpireEffort = v);
        // hz is a hint: out-of-range values are accepted and capped to 1..500, as Valkey does.
        Int("hz", null, None, 0, IntMax, () => Hz, v => Hz = Math.Clamp(v, 1, 500));
        Int("min-replicas-to-write", "min-slaves-to-write", None, 0, IntMax, () => MinReplicasToWrite, v => MinReplicasToWrite = v);
        Int("min-replicas-max-lag", "min-slaves-max-lag", None, 0, IntMax, () => MinReplicasMaxLag, v => MinReplicasMaxLag = v);
        Int("watchdog-period", null, Hidden, 0, IntMax, () => WatchdogPeriod, v => WatchdogPeriod = v);
        Int("shutdown-timeout", null, None, 0, IntMax, () => ShutdownTimeout, v => ShutdownTimeout = v);
        Int("repl-diskless-sync-max-replicas", null, None, 0, IntMax, () => ReplDisklessSyncMaxReplicas, v => ReplDisklessSyncMaxReplicas = v);

        // maxclients is an unsigned int in Valkey; larger than int.MaxValue is stored capped.
        UInt("maxclients", null, None, 1, UIntMax, () => MaxClients, v => MaxClients = (int)Math.Min(v, int.MaxValue));
        UInt("unixsocketperm", null, Immutable, 0, Convert.ToInt32("777", 8), () => UnixSocketPerm, v => UnixSocketPerm = (int)v, NumFormat.Octal);
        UInt("socket-mark-id", null, Immutable, 0, UIntMax, () => SocketMarkId, v => SocketMarkId = v);
        UInt("max-new-connections-per-cycle", null, None, 1, 1000, () => MaxNewConnectionsPerCycle, v => MaxNewConnectionsPerCycle = (int)v);
        UInt("max-new-tls-connections-per-cycle", null, None, 1, 1000, () => MaxNewTlsConnectionsPerCycle, v => MaxNewTlsConnectionsPerCycle = (int)v);
        UInt("active-defrag-max-scan-fields", null, None, 1, LongMax, () => ActiveDefragMaxScanFields, v => ActiveDefragMaxScanFields = v);
        UInt("slowlog-max-len", null, None, 0, LongMax, () => SlowlogMaxLen, v => SlowlogMaxLen = (int)Math.Min(v, int.MaxValue));
        UInt("acllog-max-len", null, None, 0, LongMax, () => AcllogMaxLen, v => AcllogMaxLen = v);
        UInt("cluster-blacklist-ttl", null, None, 0, ULongMax, () => ClusterBlacklistTtl, v => ClusterBlacklistTtl = v);

        Numeric("busy-reply-threshold", "lua-time-limit", None, 0, LongMax, () => BusyReplyThreshold, v => BusyReplyThreshold = v);
        Numeric("cluster-node-timeout", null, None, 0, LongMax, () => ClusterNodeTimeout, v => ClusterNodeTimeout = v);
        Numeric("cluster-ping-interval", null, Hidden, 0, LongMax, () => ClusterPingInterval, v => ClusterPingInterval = v);
        Numeric("slowlog-log-slower-than", null, None, -1, LongMax, () => SlowlogLogSlowerThan, v => SlowlogLogSlowerThan = v);
        Numeric("latency-monitor-threshold", null, None, 0, LongMax, () => LatencyMonitorThreshold, v => LatencyMonitorThreshold = v);
        Memory("proto-max-bulk-len", null, Debug, 1024 * 1024, LongMax, () => ProtoMaxBulkLen, v => ProtoMaxBulkLen = v, unsigned: false);
        Numeric("stream-node-max-entries", null, None, 0, LongMax, () => StreamNodeMaxEntries, v => StreamNodeMaxEntries = v);
        Memory("repl-backlog-size", null, None, 1, LongMax, () => ReplBacklogSize, v => ReplBacklogSize = v, unsigned: false);
        MaxMemoryParameter();
        Memory("cluster-link-sendbuf-limit", null, None, 0, ULongMax, () => ClusterLinkSendbufLimit, v => ClusterLinkSendbufLimit = v, unsigned: true);

        UInt("hash-max-listpack-entries", "hash-max-ziplist-entries", None, 0, LongMax, () => HashMaxListpackEntries, v => HashMaxListpackEntries = v);
        UInt("set-max-intset-entries", null, None, 0, LongMax, () => SetMaxIntsetEntries, v => SetMaxIntsetEntries = v);
        UInt("set-max-listpack-entries", null, None, 0, LongMax, () => SetMaxListpackEntries, v => SetMaxListpackEntries = v);
        UInt("set-max-listpack-value", null, None, 0, LongMax, () => SetMaxListpackValue, v => SetMaxListpackValue = v);
        UInt("zset-max-listpack-entries", "zset-max-ziplist-entries", None, 0, LongMax, () => ZsetMaxListpackEntries, v => ZsetMaxListpackEntries = v);
        Memory("active-defrag-ignore-bytes", null, None, 1, LongMax, () => ActiveDefragIgnoreBytes, v => ActiveDefragIgnoreBytes = v, unsigned: true);
        Memory("hash-max-listpack-value", "hash-max-ziplist-value", None, 0, LongMax, () => HashMaxListpackValue, v => HashMaxListpackValue = v, unsigned: true);
        Memory("stream-node-max-bytes", null, None, 0, LongMax, () => StreamNodeMaxBytes, v => StreamNodeMaxBytes = v, unsigned: true);
        Memory("zset-max-listpack-value", "zset-max-ziplist-value", None, 0, LongMax, () => ZsetMaxListpackValue, v => ZsetMaxListpackValue = v, unsigned: true);
        Memory("hll-sparse-max-bytes", null, None, 0, LongMax, () => HllSparseMaxBytes, v => HllSparseMaxBytes = v, unsigned: true);
        UInt("tracking-table-max-keys", null, None, 0, LongMax, () => TrackingTableMaxKeys, v => TrackingTableMaxKeys = v);
        Memory("client-query-buffer-limit", null, Debug, 1024 * 1024, LongMax, () => ClientQueryBufferLimit, v => ClientQueryBufferLimit = v, unsigned: true);
        Numeric("maxmemory-clients", null, None, -100, LongMax, () => MaxMemoryClients, v => MaxMemoryClients = v, NumFormat.Memory | NumFormat.Percent);

        Numeric("repl-backlog-ttl", null, None, 0, LongMax, () => ReplBacklogTtl, v => ReplBacklogTtl = v);
        Memory("auto-aof-rewrite-min-size", null, None, 0, LongMax, () => AutoAofRewriteMinSize, v => AutoAofRewriteMinSize = v, unsigned: false);
        Numeric("loading-process-events-interval-bytes", null, Hidden, 1024, IntMax,
            () => LoadingProcessEventsIntervalBytes, v => LoadingProcessEventsIntervalBytes = v);
    }

    private void RegisterTls()
    {
        Int("tls-port", null, None, 0, 65535, () => TlsPort, v => TlsPort = v, apply: ApplyTlsPort);
        Int("tls-session-cache-size", null, None, 0, IntMax, () => TlsSessionCacheSize, v => TlsSessionCacheSize = v, apply: ApplyTls);
        Int("tls-session-cache-timeout", null, None, 0, IntMax, () => TlsSessionCacheTimeout, v => TlsSessionCacheTimeout = v, apply: ApplyTls);
        Bool("tls-cluster", null, None, () => TlsCluster, v => TlsCluster = v, apply: ApplyTls);
        Bool("tls-replication", null, None, () => TlsReplication, v => TlsReplication = v, apply: ApplyTls);
        Enum("tls-auth-clients", null, None, EnumValues("no", "yes", "optional"), () => TlsAuthClients, v => TlsAuthClients = v);
        Bool("tls-prefer-server-ciphers", null, None, () => TlsPreferServerCiphers, v => TlsPreferServerCiphers = v, apply: ApplyTls);
        Bool("tls-session-caching", null, None, () => TlsSessionCaching, v => TlsSessionCaching = v, apply: ApplyTls);
        Str("tls-cert-file", null, ConfigFlags.Volatile, true, () => TlsCertFile, v => TlsCertFile = v, apply: ApplyTls);
        Str("tls-key-file", null, ConfigFlags.Volatile, true, () => TlsKeyFile, v => TlsKeyFile = v, apply: ApplyTls);
        Str("tls-key-file-pass", null, Sensitive, true, () => TlsKeyFilePass, v => TlsKeyFilePass = v, apply: ApplyTls);
        Str("tls-client-cert-file", null, ConfigFlags.Volatile, true, () => TlsClientCertFile, v => TlsClientCertFile = v, apply: ApplyTls);
        Str("tls-client-key-file", null, ConfigFlags.Volatile, true, () => TlsClientKeyFile, v => TlsClientKeyFile = v, apply: ApplyTls);
        Str("tls-client-key-file-pass", null, Sensitive, true, () => TlsClientKeyFilePass, v => TlsClientKeyFilePass = v, apply: ApplyTls);
        Str("tls-dh-params-file", null, ConfigFlags.Volatile, true, () => TlsDhParamsFile, v => TlsDhParamsFile = v, apply: ApplyTls);
        Str("tls-ca-cert-file", null, ConfigFlags.Volatile, true, () => TlsCaCertFile, v => TlsCaCertFile = v, apply: ApplyTls);
        Str("tls-ca-cert-dir", null, ConfigFlags.Volatile, true, () => TlsCaCertDir, v => TlsCaCertDir = v, apply: ApplyTls);
        Str("tls-protocols", null, None, true, () => TlsProtocols, v => TlsProtocols = v, apply: ApplyTls);
        Str("tls-ciphers", null, None, true, () => TlsCiphers, v => TlsCiphers = v, apply: ApplyTls);
        Str("tls-ciphersuites", null, None, true, () => TlsCiphersuites, v => TlsCiphersuites = v, apply: ApplyTls);
    }

    private void RegisterSpecials()
    {
        // The working directory is the truth (as Valkey's getcwd), whoever changed it.
        Special("dir", null, Protected | DenyLoading, () => Dir = Directory.GetCurrentDirectory(), SetDir,
            (state, n) => state.RewriteLine(n, n + " " + ConfigValues.Repr(Directory.GetCurrentDirectory()), true));
        Special("save", null, MultiArg, GetSave, SetSave, RewriteSave);
        Special("client-output-buffer-limit", null, MultiArg, GetClientOutputBufferLimit, SetClientOutputBufferLimit,
            RewriteClientOutputBufferLimit);
        Special("oom-score-adj-values", null, MultiArg, () => string.Join(' ', OomScoreAdjValues), SetOomScoreAdjValues,
            (state, n) => state.RewriteLine(n, n + " " + string.Join(' ', OomScoreAdjValues), !OomScoreAdjValues.SequenceEqual(new[] { 0, 200, 800 })));
        Special("notify-keyspace-events", null, None, () => KeyspaceEventsToString(NotifyKeyspaceEvents), SetNotifyKeyspaceEvents,
            (state, n) => state.RewriteLine(n, n + " " + ConfigValues.Repr(KeyspaceEventsToString(NotifyKeyspaceEvents)),
                NotifyKeyspaceEvents != KeyspaceEventFlags.None));
        Special("bind", null, MultiArg, () => string.Join(' ', Bind), SetBind, RewriteBind, ApplyBind);
        // Kvasir only: the Prometheus endpoint and status page (docs/OPERATIONS.md).
        Int("metrics-port", null, None, 0, 65535, () => MetricsPort, v => MetricsPort = v, apply: ApplyMetrics);
        Special("metrics-bind", null, MultiArg, () => string.Join(' ', MetricsBind), SetMetricsBind, RewriteMetricsBind, ApplyMetrics);
        Special("replicaof", "slaveof", Immutable | MultiArg, GetReplicaOf, SetReplicaOf, RewriteReplicaOf);
        Special("latency-tracking-info-percentiles", null, MultiArg,
            () => string.Join(' ', LatencyTrackingInfoPercentiles.Select(ConfigValues.FormatTrimmedDouble)),
            SetLatencyPercentiles, RewriteLatencyPercentiles);
    }

    // ----- the special parameters -----

    private string? SetDir(IReadOnlyList<string> args)
    {
        if (args.Count != 1) return "wrong number of arguments";
        if (args[0].Length == 0) return "dir can't be empty";
        try
        {
            Directory.SetCurrentDirectory(args[0]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return e switch
            {
                UnauthorizedAccessException => "Permission denied",
                DirectoryNotFoundException or FileNotFoundException => "No such file or directory",
                _ => e.Message,
            };
        }
        Dir = Directory.GetCurrentDirectory();
        return null;
    }

    private string GetSave() => string.Join(' ', Save.Select(p => $"{p.Seconds} {p.Changes}"));

    private string? SetSave(IReadOnlyList<string> args)
    {
        // A single "" means no save points.
        int count = args.Count == 1 && args[0].Length == 0 ? 0 : args.Count;
        if ((count & 1) != 0) return "Invalid save parameters";
        var points = new List<(long, long)>();
        for (int j = 0; j < count; j += 2)
        {
            if (!ConfigValues.TryParseStrtoll(args[j], out long seconds) || seconds < 1 ||
                !ConfigValues.TryParseStrtoll(args[j + 1], out long changes) || changes < 0)
                return "Invalid save parameters";
            points.Add((seconds, (int)changes));
        }
        // In a config file the first save line replaces the defaults and later ones add to it;
        // anywhere else (CONFIG SET) the value replaces the whole list.
        if (!ReadingConfigFile || !_saveSeenInFile) Save = new List<(long, long)>();
        if (ReadingConfigFile) _saveSeenInFile = true;
        if (count == 0) Save.Clear();
        Save.AddRange(points);
        return null;
    }

    private void RewriteSave(ConfigRewriteState state, string name)
    {
        // A Sentinel has nothing to save: its file keeps no save line.
        if (SentinelMode)
        {
            state.MarkProcessed(name);
            return;
        }
        if (Save.Count == 0) state.RewriteLine(name, "save \"\"", true);
        else state.RewriteLine(name, name + " " + GetSave(), true);
        state.MarkProcessed(name);
    }

    private static readonly string[] ClientClassNames = { "normal", "slave", "pubsub" };

    /// <summary>
    /// maxmemory: bytes as in Valkey (unsigned, with units), and beyond Valkey "N%": a share of the
    /// container's memory limit (physical memory without one), resolved to bytes when set. CONFIG GET
    /// and REWRITE keep the percentage, as maxmemory-clients does; INFO maxmemory shows the bytes.
    /// </summary>
    private void MaxMemoryParameter()
    {
        Add(new ConfigParameter
        {
            Name = "maxmemory",
            Type = ConfigType.Numeric,
            Get = () => MaxMemoryPercent > 0
                ? MaxMemoryPercent.ToString(CultureInfo.InvariantCulture) + "%"
                : ((ulong)MaxMemory).ToString(CultureInfo.InvariantCulture),
            SetArgs = args =>
            {
                if (args.Count != 1) return "wrong number of arguments";
                string v = args[0];
                if (v.Length > 1 && v[^1] == '%')
                {
                    if (!ConfigValues.TryParseLong(v[..^1], out long percent) || percent < 0) return "argument must be a memory value";
                    if (percent > 100) return "percentage argument must be less or equal to 100";
                    MaxMemoryPercent = percent;
                    MaxMemory = (long)(Observability.MemoryAccounting.ContainerMemoryLimit() * (percent / 100.0));
                    return null;
                }
                if (!ConfigValues.TryParseMemory(v, out long bytes)) return "argument must be a memory value";
                MaxMemoryPercent = 0;
                MaxMemory = bytes;
                return null;
            },
            Rewrite = (state, n) => state.RewriteLine(n, n + " " + (MaxMemoryPercent > 0
                ? MaxMemoryPercent.ToString(CultureInfo.InvariantCulture) + "%"
                : ConfigValues.FormatMemoryForRewrite(MaxMemory)), MaxMemory != 0 || MaxMemoryPercent != 0),
        });
    }

    private string GetClientOutputBufferLimit()
    {
        var sb = new StringBuilder();
        for (int j = 0; j < ClientOutputBufferLimits.Length; j++)
        {
            if (j > 0) sb.Append(' ');
            var l = ClientOutputBufferLimits[j];
            sb.Append(ClientClassNames[j]).Append(' ').Append(l.HardBytes).Append(' ').Append(l.SoftBytes).Append(' ').Append(l.SoftSeconds);
        }
        return sb.ToString();
    }

    /// <summary>Client class by name as CLIENT LIST TYPE and client-output-buffer-limit accept it; -1 unknown, 3 for master/primary.</summary>
    public static int ClientClassByName(string name) => name.ToLowerInvariant() switch
    {
        "normal" => 0,
        "slave" or "replica" => 1,
        "pubsub" => 2,
        "master" or "primary" => 3,
        _ => -1,
    };

    private string? SetClientOutputBufferLimit(IReadOnlyList<string> args)
    {
        if (args.Count % 4 != 0) return "Wrong number of arguments in buffer limit configuration.";
        // Validate every class first: the whole value is accepted or refused.
        var updated = (ClientBufferLimit[])ClientOutputBufferLimits.Clone();
        for (int j = 0; j < args.Count; j += 4)
        {
            int cls = ClientClassByName(args[j]);
            if (cls is -1 or 3) return "Invalid client class specified in buffer limit configuration.";
            if (!ConfigValues.TryParseMemory(args[j + 1], out long hard) || !ConfigValues.TryParseMemory(args[j + 2], out long soft) ||
                !ConfigValues.TryParseStrtoll(args[j + 3], out long seconds) || (int)seconds < 0)
                return "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
            updated[cls] = new ClientBufferLimit(hard, soft, (int)seconds);
        }
        ClientOutputBufferLimits = updated;
        return null;
    }

    private void RewriteClientOutputBufferLimit(ConfigRewriteState state, string name)
    {
        var defaults = DefaultClientOutputBufferLimits();
        for (int j = 0; j < ClientOutputBufferLimits.Length; j++)
        {
            var l = ClientOutputBufferLimits[j];
            var d = defaults[j];
            bool force = l.HardBytes != d.HardBytes || l.SoftBytes != d.SoftBytes || l.SoftSeconds != d.SoftSeconds;
            string cls = j == 1 ? "replica" : ClientClassNames[j];
            state.RewriteLine(name, $"{name} {cls} {ConfigValues.FormatMemoryForRewrite(l.HardBytes)} " +
                $"{ConfigValues.FormatMemoryForRewrite(l.SoftBytes)} {l.SoftSeconds}", force);
        }
    }

    private string? SetOomScoreAdjValues(IReadOnlyList<string> args)
    {
        if (args.Count != 3) return "wrong number of arguments";
        var values = new int[3];
        for (int i = 0; i < 3; i++)
        {
            if (!ConfigValues.TryParseStrtoll(args[i], out long v) || v < -2000 || v > 2000)
                return "Invalid oom-score-adj-values, elements must be between -2000 and 2000.";
            values[i] = (int)v;
        }
        OomScoreAdjValues = values;
        return null;
    }

    /// <summary>Parses notify-keyspace-events classes; null on an unknown character.</summary>
    public static KeyspaceEventFlags? ParseKeyspaceEvents(string classes)
    {
        var flags = KeyspaceEventFlags.None;
        foreach (char c in classes)
        {
            flags |= c switch
            {
                'A' => KeyspaceEventFlags.All,
                'g' => KeyspaceEventFlags.Generic,
                '$' => KeyspaceEventFlags.String,
                'l' => KeyspaceEventFlags.List,
                's' => KeyspaceEventFlags.Set,
                'h' => KeyspaceEventFlags.Hash,
                'z' => KeyspaceEventFlags.Zset,
                'x' => KeyspaceEventFlags.Expired,
                'e' => KeyspaceEventFlags.Evicted,
                'K' => KeyspaceEventFlags.Keyspace,
                'E' => KeyspaceEventFlags.Keyevent,
                't' => KeyspaceEventFlags.Stream,
                'm' => KeyspaceEventFlags.KeyMiss,
                'd' => KeyspaceEventFlags.Module,
                'n' => KeyspaceEventFlags.New,
                _ => (KeyspaceEventFlags)(-1),
            };
            if (flags == (KeyspaceEventFlags)(-1)) return null;
        }
        return flags;
    }

    /// <summary>The canonical class string of a flag set, as CONFIG GET shows it ("AKE", "gxK"...).</summary>
    public static string KeyspaceEventsToString(KeyspaceEventFlags f)
    {
        var sb = new StringBuilder();
        if ((f & KeyspaceEventFlags.All) == KeyspaceEventFlags.All) sb.Append('A');
        else
        {
            if (f.HasFlag(KeyspaceEventFlags.Generic)) sb.Append('g');
            if (f.HasFlag(KeyspaceEventFlags.String)) sb.Append('$');
            if (f.HasFlag(KeyspaceEventFlags.List)) sb.Append('l');
            if (f.HasFlag(KeyspaceEventFlags.Set)) sb.Append('s');
            if (f.HasFlag(KeyspaceEventFlags.Hash)) sb.Append('h');
            if (f.HasFlag(KeyspaceEventFlags.Zset)) sb.Append('z');
            if (f.HasFlag(KeyspaceEventFlags.Expired)) sb.Append('x');
            if (f.HasFlag(KeyspaceEventFlags.Evicted)) sb.Append('e');
            if (f.HasFlag(KeyspaceEventFlags.Stream)) sb.Append('t');
            if (f.HasFlag(KeyspaceEventFlags.Module)) sb.Append('d');
            if (f.HasFlag(KeyspaceEventFlags.New)) sb.Append('n');
        }
        if (f.HasFlag(KeyspaceEventFlags.Keyspace)) sb.Append('K');
        if (f.HasFlag(KeyspaceEventFlags.Keyevent)) sb.Append('E');
        if (f.HasFlag(KeyspaceEventFlags.KeyMiss)) sb.Append('m');
        return sb.ToString();
    }

    private string? SetNotifyKeyspaceEvents(IReadOnlyList<string> args)
    {
        if (args.Count != 1) return "wrong number of arguments";
        var flags = ParseKeyspaceEvents(args[0]);
        if (flags is null) return "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";
        NotifyKeyspaceEvents = flags.Value;
        return null;
    }

    private string? SetBind(IReadOnlyList<string> args)
    {
        if (args.Count > 16) return "Too many bind addresses specified.";
        // A single empty argument means no TCP address at all.
        Bind = args.Count == 1 && args[0].Length == 0 ? Array.Empty<string>() : args.ToArray();
        return null;
    }

    private void RewriteBind(ConfigRewriteState state, string name)
    {
        if (Bind.Length == 2 && Bind[0] == "*" && Bind[1] == "-::*")
        {
            state.MarkProcessed(name);
            return;
        }
        string addresses = Bind.Length > 0 ? string.Join(' ', Bind) : "\"\"";
        state.RewriteLine(name, name + " " + addresses, true);
    }

    private string? SetMetricsBind(IReadOnlyList<string> args)
    {
        if (args.Count > 16) return "Too many bind addresses specified.";
        if (args.Count == 0 || (args.Count == 1 && args[0].Length == 0)) return "At least one metrics-bind address is needed";
        foreach (var a in args)
            if (Observability.Metrics.MetricsEndpoint.ParseAddress(a.StartsWith('-') ? a[1..] : a) is null)
                return $"Invalid metrics-bind address '{a}'";
        MetricsBind = args.ToArray();
        return null;
    }

    private void RewriteMetricsBind(ConfigRewriteState state, string name) =>
        state.RewriteLine(name, name + " " + string.Join(' ', MetricsBind), !MetricsBind.SequenceEqual(DefaultMetricsBind));

    private string GetReplicaOf() => ReplicaOfHost.Length == 0 ? "" : $"{ReplicaOfHost} {ReplicaOfPort}";

    private string? SetReplicaOf(IReadOnlyList<string> args)
    {
        if (args.Count != 2) return "wrong number of arguments";
        if (string.Equals(args[0], "no", StringComparison.OrdinalIgnoreCase) && string.Equals(args[1], "one", StringComparison.OrdinalIgnoreCase))
        {
            ReplicaOfHost = "";
            return null;
        }
        if (!ConfigValues.TryParseStrtoll(args[1], out long port) || port < 0 || port > 65535)
        {
            ReplicaOfHost = "";
            return "Invalid primary port";
        }
        ReplicaOfHost = args[0];
        ReplicaOfPort = (int)port;
        return null;
    }

    private void RewriteReplicaOf(ConfigRewriteState state, string name)
    {
        if (ClusterEnabled || ReplicaOfHost.Length == 0)
        {
            state.MarkProcessed(name);
            return;
        }
        state.RewriteLine(name, $"{name} {ReplicaOfHost} {ReplicaOfPort}", true);
    }

    private string? SetLatencyPercentiles(IReadOnlyList<string> args)
    {
        int count = args.Count == 1 && args[0].Length == 0 ? 0 : args.Count;
        var values = new double[count];
        for (int j = 0; j < count; j++)
        {
            if (!Types.NumberParser.TryParseDouble(Encoding.UTF8.GetBytes(args[j]), out double d))
                return "Invalid latency-tracking-info-percentiles parameters";
            if (d > 100.0 || d < 0.0) return "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]";
            values[j] = d;
        }
        LatencyTrackingInfoPercentiles = values;
        return null;
    }

    private void RewriteLatencyPercentiles(ConfigRewriteState state, string name)
    {
        string line = LatencyTrackingInfoPercentiles.Length == 0
            ? name + " \"\""
            : name + " " + string.Join(' ', LatencyTrackingInfoPercentiles.Select(ConfigValues.FormatTrimmedDouble));
        state.RewriteLine(name, line, true);
    }

    private static readonly (string Name, ShutdownFlags Value)[] ShutdownNames =
    {
        ("default", ShutdownFlags.Default), ("save", ShutdownFlags.Save), ("nosave", ShutdownFlags.NoSave),
        ("now", ShutdownFlags.Now), ("force", ShutdownFlags.Force),
    };

    /// <summary>The names of a shutdown flag set in Valkey's order ("nosave now force"), "default" when empty.</summary>
    public static string ShutdownFlagsToString(ShutdownFlags f)
    {
        if (f == ShutdownFlags.Default) return "default";
        return string.Join(' ', ShutdownNames.Where(n => n.Value != 0 && f.HasFlag(n.Value)).Select(n => n.Name));
    }

    private void ShutdownFlagsParameter(string name, Func<ShutdownFlags> get, Action<ShutdownFlags> set) =>
        Add(new ConfigParameter
        {
            Name = name,
            Flags = MultiArg,
            Type = ConfigType.Enum,
            Get = () => ShutdownFlagsToString(get()),
            SetArgs = args =>
            {
                var flags = ShutdownFlags.Default;
                bool ok = args.Count > 0;
                foreach (var a in args)
                {
                    int i = Array.FindIndex(ShutdownNames, n => string.Equals(n.Name, a, StringComparison.OrdinalIgnoreCase));
                    if (i < 0) { ok = false; break; }
                    flags |= ShutdownNames[i].Value;
                }
                if (!ok) return "argument(s) must be one of the following: default, save, nosave, now, force";
                if (flags.HasFlag(ShutdownFlags.Save) && flags.HasFlag(ShutdownFlags.NoSave))
                    return "shutdown options SAVE and NOSAVE can't be used simultaneously";
                set(flags);
                return null;
            },
            Rewrite = (state, n) => state.RewriteLine(n, n + " " + ShutdownFlagsToString(get()), get() != ShutdownFlags.Default),
        });

    // ----- validators -----

    private static bool IsBaseName(string path) => !path.Contains('/');

    private static bool IsIp(string s, System.Net.Sockets.AddressFamily family) =>
        IPAddress.TryParse(s, out var ip) && ip.AddressFamily == family &&
        (family != System.Net.Sockets.AddressFamily.InterNetwork || s.Count(c => c == '.') == 3);

    private static string? ValidateHostname(string v)
    {
        if (Encoding.UTF8.GetByteCount(v) >= 256) return "Hostnames must be less than 256 characters";
        foreach (char c in v)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '.'))
                return "Hostnames may only contain alphanumeric characters, hyphens or dots";
        return null;
    }

    private static readonly HashSet<string> ProcTitleVariables = new(StringComparer.Ordinal)
    {
        "title", "listen-addr", "server-mode", "config-file", "port", "tls-port", "unixsocket",
    };

    /// <summary>
    /// A template is valid when every {variable} is known and the expansion with an empty title is
    /// not blank. "{{" is a literal brace.
    /// </summary>
    private static bool IsValidProcTitleTemplate(string template)
    {
        var expanded = new StringBuilder();
        int p = 0;
        while (p < template.Length)
        {
            int open = template.IndexOf('{', p);
            if (open < 0)
            {
                expanded.Append(template, p, template.Length - p);
                break;
            }
            expanded.Append(template, p, open - p);
            if (open + 1 >= template.Length) return false;
            if (template[open + 1] == '{')
            {
                expanded.Append('{');
                p = open + 2;
                continue;
            }
            int close = template.IndexOf('}', open + 1);
            if (close < 0) return false;
            string name = template.Substring(open + 1, close - open - 1);
            if (!ProcTitleVariables.Contains(name)) return false;
            // title and server-mode expand to nothing for a standalone server being validated.
            if (name is not ("title" or "server-mode" or "unixsocket")) expanded.Append('x');
            p = close + 1;
        }
        return expanded.ToString().Trim(' ').Length > 0;
    }
}
