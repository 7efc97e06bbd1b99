namespace Kvasir.Config;

/// <summary>The list of parameters, with Valkey's names, ranges and defaults.</summary>
public sealed partial class ServerConfig
{
    private void RegisterAll()
    {
        // network
        Int("port", () => Port, v => Port = v, 0, 65535);
        Special("bind", () => string.Join(' ', Bind), v =>
        {
            var parts = v.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) return "Too many bind addresses specified.";
            Bind = parts;
            return null;
        }, ConfigFlags.MultiArg);
        Bool("protected-mode", () => ProtectedMode, v => ProtectedMode = v);
        Int("tcp-backlog", () => TcpBacklog, v => TcpBacklog = v, 0, int.MaxValue, ConfigFlags.Immutable);
        Int("tcp-keepalive", () => TcpKeepAlive, v => TcpKeepAlive = v, 0, int.MaxValue);
        String("unixsocket", () => UnixSocket, v => UnixSocket = v, ConfigFlags.Immutable);
        Special("unixsocketperm", () => Convert.ToString(UnixSocketPerm, 8), v =>
        {
            try { UnixSocketPerm = Convert.ToInt32(v, 8); }
            catch (Exception) { return "argument couldn't be parsed into an integer"; }
            return null;
        }, ConfigFlags.Immutable);
        Int("timeout", () => Timeout, v => Timeout = v, 0, int.MaxValue);
        Int("maxclients", () => MaxClients, v => MaxClients = v, 1, int.MaxValue);
        Long("proto-max-bulk-len", () => ProtoMaxBulkLen, v => ProtoMaxBulkLen = v, 1024 * 1024, long.MaxValue, memory: true);
        Long("client-query-buffer-limit", () => ClientQueryBufferLimit, v => ClientQueryBufferLimit = v, 1024 * 1024, long.MaxValue, memory: true);
        Int("io-threads", () => IoThreads, v => IoThreads = v, 1, 128, ConfigFlags.Immutable);

        // general
        Int("databases", () => Databases, v => Databases = v, 1, int.MaxValue, ConfigFlags.Immutable);
        Int("hz", () => Hz, v => Hz = Math.Clamp(v, 1, 500), 0, int.MaxValue);
        Bool("dynamic-hz", () => DynamicHz, v => DynamicHz = v);
        Special("dir", () => Dir, v =>
        {
            try
            {
                Directory.SetCurrentDirectory(v);
                Dir = Directory.GetCurrentDirectory();
                return null;
            }
            catch (Exception e) { return e.Message; }
        }, ConfigFlags.Protected);
        String("dbfilename", () => DbFilename, v => DbFilename = v, ConfigFlags.Protected,
            validate: v => v.Contains('/') ? "dbfilename can't be a path, just a filename" : null);
        Bool("daemonize", () => Daemonize, v => Daemonize = v, ConfigFlags.Immutable);
        String("pidfile", () => PidFile, v => PidFile = v, ConfigFlags.Immutable);
        String("logfile", () => LogFile, v => LogFile = v, ConfigFlags.Immutable);
        Enum("loglevel", () => LogLevel, v => LogLevel = v, new[] { "debug", "verbose", "notice", "warning", "nothing" });
        String("requirepass", () => RequirePass, v => RequirePass = v, ConfigFlags.Sensitive);
        Enum("enable-debug-command", () => EnableDebugCommand, v => EnableDebugCommand = v, new[] { "no", "yes", "local" }, ConfigFlags.Immutable);
        Enum("enable-protected-configs", () => EnableProtectedConfigs, v => EnableProtectedConfigs = v, new[] { "no", "yes", "local" }, ConfigFlags.Immutable);
        Enum("enable-module-command", () => EnableModuleCommand, v => EnableModuleCommand = v, new[] { "no", "yes", "local" }, ConfigFlags.Immutable);

        // observability
        Long("slowlog-log-slower-than", () => SlowlogLogSlowerThan, v => SlowlogLogSlowerThan = v, -1, long.MaxValue);
        Int("slowlog-max-len", () => SlowlogMaxLen, v => SlowlogMaxLen = v, 0, int.MaxValue);
        Long("latency-monitor-threshold", () => LatencyMonitorThreshold, v => LatencyMonitorThreshold = v, 0, long.MaxValue);
        Bool("latency-tracking", () => LatencyTracking, v => LatencyTracking = v);

        // memory
        Long("maxmemory", () => MaxMemory, v => MaxMemory = v, 0, long.MaxValue, memory: true);
        Enum("maxmemory-policy", () => MaxMemoryPolicy, v => MaxMemoryPolicy = v,
            new[] { "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl", "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction" });
        Int("maxmemory-samples", () => MaxMemorySamples, v => MaxMemorySamples = v, 1, 64);
        Int("lfu-log-factor", () => LfuLogFactor, v => LfuLogFactor = v, 0, int.MaxValue);
        Int("lfu-decay-time", () => LfuDecayTime, v => LfuDecayTime = v, 0, int.MaxValue);
        Int("active-expire-effort", () => ActiveExpireEffort, v => ActiveExpireEffort = v, 1, 10);
    }
}
