namespace Kvasir.Config;

/// <summary>
/// Which parameters Kvasir acts on. Every Valkey parameter is accepted, validated, stored and shown
/// by CONFIG GET (so existing config files load), but only those listed here change the server's
/// behaviour; the others are "stored only" until the feature behind them exists. When you implement
/// a feature, add its parameters here: docs/CONFIG.md is checked against this list by a test.
/// </summary>
public static class ConfigStatus
{
    /// <summary>Parameter name → what Kvasir does with it (one short phrase for docs/CONFIG.md).</summary>
    public static readonly IReadOnlyDictionary<string, string> Implemented = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["port"] = "TCP port; CONFIG SET rebinds the listeners",
        ["bind"] = "listen addresses (\"-\" prefix = optional); CONFIG SET rebinds",
        ["protected-mode"] = "refuses non-loopback clients without a password",
        ["tcp-backlog"] = "listen() backlog",
        ["unixsocket"] = "Unix socket path",
        ["unixsocketperm"] = "Unix socket file mode",
        ["timeout"] = "idle clients closed by the cron",
        ["maxclients"] = "connections beyond it are refused",
        ["proto-max-bulk-len"] = "largest bulk string a client may send",
        ["client-query-buffer-limit"] = "clients with a larger query buffer are closed",
        ["databases"] = "number of databases",
        ["hz"] = "cron frequency",
        ["active-expire-effort"] = "active expiry sampling effort",
        ["lfu-log-factor"] = "LFU counter growth",
        ["lfu-decay-time"] = "LFU counter decay",
        ["maxmemory"] = "memory limit enforced by eviction / OOM; also N% of the container limit (Kvasir)",
        ["maxmemory-policy"] = "all eight eviction policies; LRU or LFU access tracking",
        ["notify-keyspace-events"] = "keyspace/keyevent notifications through Pub/Sub",
        ["maxmemory-samples"] = "keys sampled per database per eviction round",
        ["maxmemory-eviction-tenacity"] = "time one eviction round may take before the cron continues",
        ["replica-ignore-maxmemory"] = "a replica does not evict",
        ["lazyfree-lazy-eviction"] = "evicted big values freed by the lazy free worker; UNLINK propagated",
        ["lazyfree-lazy-expire"] = "expired big values freed by the lazy free worker",
        ["lazyfree-lazy-user-del"] = "DEL behaves as UNLINK",
        ["lazyfree-lazy-user-flush"] = "FLUSHALL/FLUSHDB without SYNC/ASYNC are ASYNC",
        ["client-output-buffer-limit"] = "hard and soft (with seconds) output limits per client class",
        ["dir"] = "working directory (chdir); where the RDB file is read and written",
        ["dbfilename"] = "RDB file loaded at startup, written by SAVE, SHUTDOWN and DEBUG RELOAD",
        ["save"] = "save points: background saves from the cron; SHUTDOWN and FLUSHALL save when any is set",
        ["rdb-version"] = "RDB version SAVE/BGSAVE write: 11, or 10 for Redis 7.0 (Kvasir only, hidden)",
        ["rdb-key-save-delay"] = "microseconds per key slowing background saves (test knob)",
        ["rdbcompression"] = "LZF compression of strings in RDB files",
        ["rdbchecksum"] = "CRC-64 written and verified in RDB files",
        ["shutdown-on-sigint"] = "final save on SIGINT: save, nosave, force (now: no replicas to wait for)",
        ["shutdown-on-sigterm"] = "final save on SIGTERM: save, nosave, force (now: no replicas to wait for)",
        ["daemonize"] = "runs detached (re-executes itself in a new session)",
        ["pidfile"] = "written at startup, removed at exit",
        ["logfile"] = "log destination",
        ["loglevel"] = "log verbosity",
        ["always-show-logo"] = "startup banner",
        ["requirepass"] = "password of the default user (ACL user \"default\")",
        ["aclfile"] = "ACL users file: loaded at startup, ACL LOAD / ACL SAVE (see SECURITY.md)",
        ["acl-pubsub-default"] = "channel permissions of new users and selectors (allchannels or resetchannels)",
        ["acllog-max-len"] = "entries kept in ACL LOG",
        ["maxmemory-clients"] = "client eviction: bytes or % of maxmemory, biggest clients closed first",
        ["tracking-table-max-keys"] = "keys remembered for client-side caching; over it, random keys are invalidated",
        ["tls-port"] = "TLS listener beside the plain port; CONFIG SET moves it",
        ["tls-cert-file"] = "server certificate (PEM, may hold its chain); reloaded by CONFIG SET",
        ["tls-key-file"] = "server private key (PEM); reloaded by CONFIG SET",
        ["tls-key-file-pass"] = "password of an encrypted tls-key-file",
        ["tls-client-cert-file"] = "certificate for outgoing TLS links (else tls-cert-file)",
        ["tls-client-key-file"] = "key of tls-client-cert-file",
        ["tls-client-key-file-pass"] = "password of an encrypted tls-client-key-file",
        ["tls-ca-cert-file"] = "CA that client (and peer) certificates must chain to",
        ["tls-ca-cert-dir"] = "directory of CA certificates (all PEM files in it)",
        ["tls-auth-clients"] = "client certificates: yes (required), optional, no",
        ["tls-protocols"] = "TLSv1, TLSv1.1, TLSv1.2, TLSv1.3 (default TLSv1.2 TLSv1.3)",
        ["tls-ciphers"] = "TLS 1.2 cipher list, OpenSSL names (DEFAULT, ALL, HIGH, suite names, -/! to remove)",
        ["tls-ciphersuites"] = "TLS 1.3 cipher suites",
        ["tls-replication"] = "a replica connects to its primary over TLS",
        ["enable-protected-configs"] = "gates CONFIG SET of protected parameters",
        ["appendonly"] = "multi-part AOF in dir/appenddirname; CONFIG SET turns it on (with a rewrite) and off",
        ["appendfilename"] = "base name of the AOF files and manifest; an old single file of that name is upgraded",
        ["appenddirname"] = "directory of the AOF files",
        ["appendfsync"] = "always (group commit before replies), everysec (background fsync), no",
        ["aof-use-rdb-preamble"] = "BASE file as RDB (.base.rdb) or as commands (.base.aof)",
        ["aof-load-truncated"] = "a truncated last command is dropped and the file cut; no: the start fails",
        ["aof-timestamp-enabled"] = "#TS: annotations in INCR and command BASE files",
        ["aof-disable-auto-gc"] = "keeps HISTORY files after rewrites (hidden)",
        ["auto-aof-rewrite-percentage"] = "automatic BGREWRITEAOF on growth over the base size",
        ["auto-aof-rewrite-min-size"] = "minimum AOF size for automatic rewrites",
        ["no-appendfsync-on-rewrite"] = "no fsync while a BGSAVE or AOF rewrite runs",
    };

    public static bool IsImplemented(string name) => Implemented.ContainsKey(name);
}
