using System.Globalization;
using Kvasir.Config;

namespace Kvasir.Sentinel;

/// <summary>
/// The "sentinel ..." directives of sentinel.conf, and the rewrite that persists the Sentinel's state
/// (epochs, known replicas and Sentinels, votes) into the same file after every change, so that a
/// restarted Sentinel continues where it stopped.
/// </summary>
public sealed partial class SentinelState
{
    /// <summary>Directives applied before the "monitor" lines (Valkey's preMonitorCfgName), everything else after them.</summary>
    private static readonly HashSet<string> PreMonitorDirectives = new(StringComparer.OrdinalIgnoreCase)
    {
        "announce-ip", "announce-port", "deny-scripts-reconfig", "sentinel-user", "sentinel-pass",
        "current-epoch", "myid", "resolve-hostnames", "announce-hostnames",
    };

    /// <summary>
    /// Applies the directives the config file queued (loadSentinelConfigFromQueue): the global ones
    /// first, then the monitored primaries, then the per-primary ones, so their order in the file does
    /// not matter. The first bad line is fatal, reported like any config error.
    /// </summary>
    public void LoadConfig(IReadOnlyList<SentinelConfigLine> lines)
    {
        var pre = lines.Where(l => PreMonitorDirectives.Contains(l.Args[0]));
        var monitor = lines.Where(l => l.Args[0].Equals("monitor", StringComparison.OrdinalIgnoreCase));
        var post = lines.Where(l => !PreMonitorDirectives.Contains(l.Args[0]) && !l.Args[0].Equals("monitor", StringComparison.OrdinalIgnoreCase));
        foreach (var line in pre.Concat(monitor).Concat(post).ToList())
        {
            string? error = HandleConfiguration(line.Args);
            if (error is not null) throw new ConfigLoadException(ConfigFileParser.FatalReport(line.LineNumber, line.Line, error));
        }
    }

    /// <summary>One "sentinel" directive without its first word (sentinelHandleConfiguration); returns the error or null.</summary>
    public string? HandleConfiguration(string[] argv)
    {
        int argc = argv.Length;
        string name = argv[0].ToLowerInvariant();
        SentinelInstance? ri;
        switch (name)
        {
            case "monitor" when argc == 5:
            {
                int quorum = AtoI(argv[4]);
                if (quorum <= 0) return "Quorum must be 1 or greater.";
                if (CreateInstance(argv[1], InstanceFlags.Primary, argv[2], AtoI(argv[3]), quorum, null, out var error) is null)
                    return CreateErrorText(error, InstanceFlags.Primary);
                return null;
            }
            case "down-after-milliseconds" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.DownAfterPeriod = AtoI(argv[2]);
                if (ri.DownAfterPeriod <= 0) return "negative or zero time parameter.";
                PropagateDownAfterPeriod(ri);
                return null;
            case "failover-timeout" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.FailoverTimeout = AtoI(argv[2]);
                if (ri.FailoverTimeout <= 0) return "negative or zero time parameter.";
                return null;
            case "parallel-syncs" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.ParallelSyncs = AtoI(argv[2]);
                return null;
            case "notification-script" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                if (!IsExecutable(argv[2])) return "Notification script seems non existing or non executable.";
                ri.NotificationScript = argv[2];
                return null;
            case "client-reconfig-script" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                if (!IsExecutable(argv[2])) return "Client reconfiguration script seems non existing or non executable.";
                ri.ClientReconfigScript = argv[2];
                return null;
            case "auth-pass" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.AuthPass = argv[2];
                return null;
            case "auth-user" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.AuthUser = argv[2];
                return null;
            case "current-epoch" when argc == 2:
            {
                ulong epoch = StrToULong(argv[1]);
                if (epoch > CurrentEpoch) CurrentEpoch = epoch;
                return null;
            }
            case "myid" when argc == 2:
                if (argv[1].Length != 40) return "Malformed Sentinel id in myid option.";
                MyId = argv[1];
                return null;
            case "config-epoch" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.ConfigEpoch = StrToULong(argv[2]);
                if (ri.ConfigEpoch > CurrentEpoch) CurrentEpoch = ri.ConfigEpoch;
                return null;
            case "leader-epoch" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.LeaderEpoch = StrToULong(argv[2]);
                return null;
            case "known-slave" or "known-replica" when argc == 4:
            {
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                if (CreateInstance(null, InstanceFlags.Replica, argv[2], AtoI(argv[3]), ri.Quorum, ri, out var error) is null)
                    return CreateErrorText(error, InstanceFlags.Replica);
                return null;
            }
            case "known-sentinel" when argc is 4 or 5:
            {
                // The old form without a run id is ignored.
                if (argc == 4) return null;
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                var si = CreateInstance(argv[4], InstanceFlags.Sentinel, argv[2], AtoI(argv[3]), ri.Quorum, ri, out var error);
                if (si is null) return CreateErrorText(error, InstanceFlags.Sentinel);
                si.RunId = argv[4];
                TryConnectionSharing(si);
                return null;
            }
            case "rename-command" when argc == 4:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                if (!ri.RenamedCommands.TryAdd(argv[2], argv[3])) return "Same command renamed multiple times with rename-command.";
                return null;
            case "announce-ip" when argc == 2:
                if (argv[1].Length > 0) AnnounceIp = argv[1];
                return null;
            case "announce-port" when argc == 2:
                AnnouncePort = AtoI(argv[1]);
                return null;
            case "deny-scripts-reconfig" when argc == 2:
                if (!TryYesNo(argv[1], out DenyScriptsReconfig)) return "Please specify yes or no for the deny-scripts-reconfig options.";
                return null;
            case "sentinel-user" when argc == 2:
                if (argv[1].Length > 0) SentinelAuthUser = argv[1];
                return null;
            case "sentinel-pass" when argc == 2:
                if (argv[1].Length > 0) SentinelAuthPass = argv[1];
                return null;
            case "resolve-hostnames" when argc == 2:
                if (!TryYesNo(argv[1], out ResolveHostnames)) return "Please specify yes or no for the resolve-hostnames option.";
                return null;
            case "announce-hostnames" when argc == 2:
                if (!TryYesNo(argv[1], out AnnounceHostnames)) return "Please specify yes or no for the announce-hostnames option.";
                return null;
            case "primary-reboot-down-after-period" or "master-reboot-down-after-period" when argc == 3:
                if ((ri = GetPrimary(argv[1])) is null) return "No such master with specified name.";
                ri.PrimaryRebootDownAfterPeriod = AtoI(argv[2]);
                if (ri.PrimaryRebootDownAfterPeriod < 0) return "negative time parameter.";
                return null;
            default:
                return "Unrecognized sentinel configuration statement.";
        }
    }

    /// <summary>yesnotoi: "yes" or "no" in any case.</summary>
    internal static bool TryYesNo(string s, out bool value)
    {
        value = s.Equals("yes", StringComparison.OrdinalIgnoreCase);
        return value || s.Equals("no", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>access(path, X_OK).</summary>
    internal static bool IsExecutable(string path)
    {
        try
        {
            if (!File.Exists(path)) return false;
            if (OperatingSystem.IsWindows()) return true;
            var mode = File.GetUnixFileMode(path);
            return (mode & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return false;
        }
    }

    /// <summary>
    /// Writes the Sentinel's lines into a config rewrite (rewriteConfigSentinelOption). Each line reuses
    /// the position of the old line of the same kind, so the file keeps its order and comments.
    /// </summary>
    public void RewriteConfig(ConfigRewriteState state)
    {
        state.RewriteLine("sentinel myid", $"sentinel myid {MyId}", true);
        state.RewriteLine("sentinel deny-scripts-reconfig", $"sentinel deny-scripts-reconfig {YesNo(DenyScriptsReconfig)}", !DenyScriptsReconfig);
        // Early in the file, so that it applies while the file is read.
        state.RewriteLine("sentinel resolve-hostnames", $"sentinel resolve-hostnames {YesNo(ResolveHostnames)}", ResolveHostnames);
        state.RewriteLine("sentinel announce-hostnames", $"sentinel announce-hostnames {YesNo(AnnounceHostnames)}", AnnounceHostnames);

        foreach (var primary in Primaries.Values)
        {
            var address = CurrentPrimaryAddress(primary);
            string n = primary.Name;
            state.RewriteLine("sentinel monitor", $"sentinel monitor {n} {address.Announced(this)} {address.Port} {primary.Quorum}", true);
            if (primary.DownAfterPeriod != Timings.DefaultDownAfter)
                state.RewriteLine("sentinel down-after-milliseconds", $"sentinel down-after-milliseconds {n} {primary.DownAfterPeriod}", true);
            if (primary.FailoverTimeout != Timings.DefaultFailoverTimeout)
                state.RewriteLine("sentinel failover-timeout", $"sentinel failover-timeout {n} {primary.FailoverTimeout}", true);
            if (primary.ParallelSyncs != 1)
                state.RewriteLine("sentinel parallel-syncs", $"sentinel parallel-syncs {n} {primary.ParallelSyncs}", true);
            if (primary.NotificationScript is not null)
                state.RewriteLine("sentinel notification-script", $"sentinel notification-script {n} {primary.NotificationScript}", true);
            if (primary.ClientReconfigScript is not null)
                state.RewriteLine("sentinel client-reconfig-script", $"sentinel client-reconfig-script {n} {primary.ClientReconfigScript}", true);
            if (primary.AuthPass is not null)
                state.RewriteLine("sentinel auth-pass", $"sentinel auth-pass {n} {primary.AuthPass}", true);
            if (primary.AuthUser is not null)
                state.RewriteLine("sentinel auth-user", $"sentinel auth-user {n} {primary.AuthUser}", true);
            if (primary.PrimaryRebootDownAfterPeriod != 0)
                state.RewriteLine("sentinel primary-reboot-down-after-period",
                    $"sentinel primary-reboot-down-after-period {n} {primary.PrimaryRebootDownAfterPeriod}", true);
            state.RewriteLine("sentinel config-epoch", $"sentinel config-epoch {n} {Str(primary.ConfigEpoch)}", true);
            state.RewriteLine("sentinel leader-epoch", $"sentinel leader-epoch {n} {Str(primary.LeaderEpoch)}", true);

            foreach (var replica in primary.Replicas.Values)
            {
                // The promoted replica of a failover in progress is written as the old primary's address.
                var replicaAddress = replica.Address.SameAs(address) ? primary.Address : replica.Address;
                string line = $"sentinel known-replica {n} {replicaAddress.Announced(this)} {replicaAddress.Port}";
                if (!state.RewriteLine("sentinel known-slave", line, false))
                    state.RewriteLine("sentinel known-replica", line, true);
            }
            foreach (var si in primary.Sentinels.Values)
            {
                if (si.RunId is null) continue;
                state.RewriteLine("sentinel known-sentinel", $"sentinel known-sentinel {n} {si.Address.Announced(this)} {si.Address.Port} {si.RunId}", true);
            }
            foreach (var (from, to) in primary.RenamedCommands)
                state.RewriteLine("sentinel rename-command", $"sentinel rename-command {n} {from} {to}", true);
        }

        state.RewriteLine("sentinel current-epoch", $"sentinel current-epoch {Str(CurrentEpoch)}", true);
        if (AnnounceIp is not null) state.RewriteLine("sentinel announce-ip", "sentinel announce-ip " + ConfigValues.Repr(AnnounceIp), true);
        else state.MarkProcessed("sentinel announce-ip");
        if (AnnouncePort != 0) state.RewriteLine("sentinel announce-port", $"sentinel announce-port {AnnouncePort}", true);
        else state.MarkProcessed("sentinel announce-port");
        if (SentinelAuthUser is not null) state.RewriteLine("sentinel sentinel-user", $"sentinel sentinel-user {SentinelAuthUser}", true);
        else state.MarkProcessed("sentinel sentinel-user");
        if (SentinelAuthPass is not null) state.RewriteLine("sentinel sentinel-pass", $"sentinel sentinel-pass {SentinelAuthPass}", true);
        else state.MarkProcessed("sentinel sentinel-pass");

        // Lines of options that no longer exist (a removed primary...) are dropped.
        foreach (var option in new[]
                 {
                     "monitor", "down-after-milliseconds", "failover-timeout", "parallel-syncs", "notification-script",
                     "client-reconfig-script", "auth-pass", "auth-user", "config-epoch", "leader-epoch", "known-replica",
                     "known-sentinel", "rename-command", "primary-reboot-down-after-period",
                 })
            state.MarkProcessed("sentinel " + option);
    }

    private static string YesNo(bool v) => v ? "yes" : "no";

    /// <summary>
    /// Saves the state into the config file (sentinelFlushConfig); a failure is logged and returned
    /// as false, and the Sentinel goes on.
    /// </summary>
    public bool FlushConfig()
    {
        string path = Server.Config.ConfigFile;
        try
        {
            if (path.Length == 0) throw new IOException("No such file or directory");
            ConfigRewriter.Rewrite(Server.Config, path);
            Log.Notice("Sentinel new configuration saved on disk");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"WARNING: Sentinel was not able to save the new configuration on disk!!!: {ConfigRewriter.ErrorText(e)}");
            return false;
        }
    }

    /// <summary>Startup check (sentinelCheckConfigFile): a Sentinel needs a config file it can write. Returns the fatal message or null.</summary>
    public static string? CheckConfigFile(string? path)
    {
        if (string.IsNullOrEmpty(path)) return "Sentinel needs config file on disk to save state. Exiting...";
        try
        {
            using var _ = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"Sentinel config file {path} is not writable: {ConfigFileParser.ErrnoText(e)}. Exiting...";
        }
    }

    internal static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);
}
