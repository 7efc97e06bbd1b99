using System.Globalization;
using System.Text;
using Kvasir.Commands;
using Kvasir.Observability;
using Kvasir.Protocol;

namespace Kvasir.Sentinel;

/// <summary>
/// The commands of a Sentinel. Its table holds only the commands flagged "sentinel" in the catalog;
/// the ordinary families bind their handlers for those (PING, AUTH, HELLO, CLIENT, COMMAND, the
/// SUBSCRIBE family, SHUTDOWN...), and this family adds SENTINEL and replaces INFO, ROLE and PUBLISH
/// with their Sentinel forms (Valkey's sentinelCommand, sentinelInfoCommand, sentinelRoleCommand,
/// sentinelPublishCommand).
/// </summary>
public static class SentinelCommands
{
    private static readonly string[] InfoSections = ["server", "clients", "cpu", "stats", "sentinel"];

    public static void Register(CommandTable t)
    {
        t.Bind("info", Info);
        t.Bind("role", Role);
        t.Bind("publish", Publish);

        t.Bind("sentinel|help", Help);
        t.Bind("sentinel|primaries", Primaries);
        t.Bind("sentinel|masters", Primaries);
        t.Bind("sentinel|primary", Primary);
        t.Bind("sentinel|master", Primary);
        t.Bind("sentinel|replicas", Replicas);
        t.Bind("sentinel|slaves", Replicas);
        t.Bind("sentinel|sentinels", Sentinels);
        t.Bind("sentinel|myid", MyId);
        t.Bind("sentinel|is-primary-down-by-addr", IsPrimaryDownByAddr);
        t.Bind("sentinel|is-master-down-by-addr", IsPrimaryDownByAddr);
        t.Bind("sentinel|reset", Reset);
        t.Bind("sentinel|get-primary-addr-by-name", GetPrimaryAddrByName);
        t.Bind("sentinel|get-master-addr-by-name", GetPrimaryAddrByName);
        t.Bind("sentinel|failover", Failover);
        t.Bind("sentinel|pending-scripts", PendingScripts);
        t.Bind("sentinel|monitor", Monitor);
        t.Bind("sentinel|flushconfig", FlushConfig);
        t.Bind("sentinel|remove", Remove);
        t.Bind("sentinel|ckquorum", CkQuorum);
        t.Bind("sentinel|set", Set);
        t.Bind("sentinel|config", Config);
        t.Bind("sentinel|info-cache", InfoCache);
        t.Bind("sentinel|simulate-failure", SimulateFailure);
        t.Bind("sentinel|debug", Debug);
    }

    private static SentinelState State(CommandContext ctx) => ctx.Server.Sentinel!;

    private static string Arg(CommandContext ctx, int i) => ctx.Args.ToString(i);

    /// <summary>The named primary, or the error reply and null.</summary>
    private static SentinelInstance? PrimaryOrError(CommandContext ctx, int index)
    {
        var ri = State(ctx).GetPrimary(Arg(ctx, index));
        if (ri is null) ctx.Error("ERR No such master with that name");
        return ri;
    }

    /// <summary>Saves the config and answers OK, or the error when the file could not be written.</summary>
    private static void FlushConfigAndReply(CommandContext ctx)
    {
        if (State(ctx).FlushConfig()) ctx.Reply.WriteOk();
        else ctx.Error("ERR Failed to save config file. Check server logs.");
    }

    private static bool TryLong(CommandContext ctx, int index, out long value) =>
        Types.NumberParser.TryParseLong(ctx.Args[index], out value);

    // ----- INFO, ROLE, PUBLISH -----

    /// <summary>INFO with the Sentinel's sections: server, clients, stats, cpu and sentinel (others are ignored).</summary>
    private static void Info(CommandContext ctx)
    {
        var wanted = new InfoBuilder.Selection();
        bool all = ctx.ArgCount == 1;
        for (int i = 1; i < ctx.ArgCount; i++)
        {
            string s = Arg(ctx, i).ToLowerInvariant();
            if (s is "all" or "everything" or "default") all = true;
            else if (InfoSections.Contains(s)) wanted.Sections.Add(s);
        }
        if (all)
            foreach (var s in InfoSections) wanted.Sections.Add(s);
        bool sentinelSection = wanted.Sections.Remove("sentinel");
        var sb = new StringBuilder(wanted.Sections.Count > 0 ? InfoBuilder.Build(ctx.Server, wanted) : "");
        if (sentinelSection)
        {
            var state = State(ctx);
            if (sb.Length > 0) sb.Append("\r\n");
            long tiltSince = state.Tilt ? (state.Now() - state.TiltStartTime) / 1000 : -1;
            sb.Append("# Sentinel\r\n")
              .Append("sentinel_masters:").Append(state.Primaries.Count).Append("\r\n")
              .Append("sentinel_tilt:").Append(state.Tilt ? 1 : 0).Append("\r\n")
              .Append("sentinel_tilt_since_seconds:").Append(tiltSince).Append("\r\n")
              .Append("sentinel_running_scripts:").Append(state.Scripts.RunningCount).Append("\r\n")
              .Append("sentinel_scripts_queue_length:").Append(state.Scripts.QueueLength).Append("\r\n")
              .Append("sentinel_simulate_failure_flags:").Append(state.SimulateFailureFlags).Append("\r\n");
            int id = 0;
            foreach (var ri in state.Primaries.Values)
            {
                string status = ri.Has(InstanceFlags.ODown) ? "odown" : ri.Has(InstanceFlags.SDown) ? "sdown" : "ok";
                sb.Append("master").Append(id++).Append(":name=").Append(ri.Name).Append(",status=").Append(status)
                  .Append(",address=").Append(ri.Address.Announced(state)).Append(':').Append(ri.Address.Port)
                  .Append(",slaves=").Append(ri.Replicas.Count).Append(",sentinels=").Append(ri.Sentinels.Count + 1).Append("\r\n");
            }
        }
        ctx.Reply.WriteVerbatim(sb.ToString());
    }

    /// <summary>ROLE: "sentinel" and the names of the monitored primaries.</summary>
    private static void Role(CommandContext ctx)
    {
        var state = State(ctx);
        ctx.Reply.WriteArray(2);
        ctx.Reply.WriteBulk("sentinel"u8);
        ctx.Reply.WriteArray(state.Primaries.Count);
        foreach (var name in state.Primaries.Keys) ctx.Reply.WriteBulk(name);
    }

    /// <summary>PUBLISH: a Sentinel only takes hello messages, which other Sentinels send it directly.</summary>
    private static void Publish(CommandContext ctx)
    {
        if (Arg(ctx, 1) != SentinelState.HelloChannel)
        {
            ctx.Error("ERR Only HELLO messages are accepted by Sentinel instances.");
            return;
        }
        State(ctx).ProcessHelloMessage(Arg(ctx, 2));
        ctx.Reply.WriteInteger(1);
    }

    // ----- SENTINEL subcommands -----

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "SENTINEL",
        "CKQUORUM <primary-name>",
        "    Whether enough Sentinels are reachable to reach the quorum of this primary and",
        "    the majority that authorizes a failover.",
        "CONFIG SET <param> <value> [<param> <value> ...]",
        "    Change global Sentinel parameters.",
        "CONFIG GET <param> [<param> ...]",
        "    Show global Sentinel parameters (glob patterns allowed).",
        "DEBUG [<param> <value> ...]",
        "    Show the Sentinel's periods and timeouts in milliseconds, or change them.",
        "GET-PRIMARY-ADDR-BY-NAME <primary-name>",
        "    The address and port of the named primary (the promoted replica once a failover",
        "    has got that far).",
        "FAILOVER <primary-name>",
        "    Fail the primary over now, without asking the other Sentinels to agree.",
        "FLUSHCONFIG",
        "    Write the configuration file again, with the Sentinel's whole state.",
        "INFO-CACHE <primary-name>",
        "    The last INFO replies of the primary and its replicas.",
        "IS-PRIMARY-DOWN-BY-ADDR <ip> <port> <current-epoch> <runid>",
        "    Whether this Sentinel sees the primary at ip:port down, and its vote for the",
        "    failover leader (runid \"*\" asks for no vote).",
        "PRIMARY <primary-name>",
        "    State of the named primary.",
        "PRIMARIES",
        "    State of every monitored primary.",
        "MONITOR <name> <ip> <port> <quorum>",
        "    Start monitoring a primary under this name with this quorum.",
        "MYID",
        "    This Sentinel's id.",
        "PENDING-SCRIPTS",
        "    Notification and reconfiguration scripts queued or running.",
        "REMOVE <primary-name>",
        "    Stop monitoring the named primary.",
        "REPLICAS <primary-name>",
        "    State of the replicas of the named primary.",
        "RESET <pattern>",
        "    Forget the replicas, Sentinels and failover state of the primaries whose name",
        "    matches the pattern; returns how many.",
        "SENTINELS <primary-name>",
        "    State of the other Sentinels watching the named primary.",
        "SET <primary-name> <option> <value> [<option> <value> ...]",
        "    Change settings of a monitored primary.",
        "SIMULATE-FAILURE [CRASH-AFTER-ELECTION] [CRASH-AFTER-PROMOTION] [HELP]",
        "    Make this Sentinel exit at a chosen point of its next failover.");

    private static void Primaries(CommandContext ctx) => WriteInstances(ctx, State(ctx).Primaries.Values);

    private static void Primary(CommandContext ctx)
    {
        if (PrimaryOrError(ctx, 2) is { } ri) WriteInstance(ctx, ri);
    }

    private static void Replicas(CommandContext ctx)
    {
        if (PrimaryOrError(ctx, 2) is { } ri) WriteInstances(ctx, ri.Replicas.Values);
    }

    private static void Sentinels(CommandContext ctx)
    {
        if (PrimaryOrError(ctx, 2) is { } ri) WriteInstances(ctx, ri.Sentinels.Values);
    }

    private static void MyId(CommandContext ctx) => ctx.Reply.WriteBulk(State(ctx).MyId);

    /// <summary>
    /// SENTINEL IS-MASTER-DOWN-BY-ADDR ip port current-epoch runid: [1 if we see that primary SDOWN
    /// (never in TILT), our vote ("*" when none was asked or held), the vote's epoch]. Another
    /// Sentinel asks this to reach ODOWN and, with its run id, to get elected.
    /// </summary>
    private static void IsPrimaryDownByAddr(CommandContext ctx)
    {
        var state = State(ctx);
        if (!TryLong(ctx, 3, out long port) || !TryLong(ctx, 4, out long reqEpoch))
        {
            ctx.NotInteger();
            return;
        }
        var ri = state.FindByAddressAndRunId(state.Primaries.Values, Arg(ctx, 2), (int)Math.Clamp(port, int.MinValue, int.MaxValue), null);
        bool isDown = !state.Tilt && ri is not null && ri.Has(InstanceFlags.SDown) && ri.IsPrimary;
        string? leader = null;
        ulong leaderEpoch = 0;
        string runId = Arg(ctx, 5);
        if (ri is not null && ri.IsPrimary && !string.Equals(runId, "*", StringComparison.OrdinalIgnoreCase))
            leader = state.VoteLeader(ri, (ulong)reqEpoch, runId, out leaderEpoch);
        ctx.Reply.WriteArray(3);
        ctx.Reply.WriteInteger(isDown ? 1 : 0);
        ctx.Reply.WriteBulk(leader ?? "*");
        ctx.Reply.WriteInteger((long)leaderEpoch);
    }

    private static void Reset(CommandContext ctx) => ctx.Reply.WriteInteger(State(ctx).ResetPrimariesByPattern(Arg(ctx, 2)));

    private static void GetPrimaryAddrByName(CommandContext ctx)
    {
        var state = State(ctx);
        var ri = state.GetPrimary(Arg(ctx, 2));
        if (ri is null)
        {
            ctx.Reply.WriteNullArray();
            return;
        }
        var address = SentinelState.CurrentPrimaryAddress(ri);
        ctx.Reply.WriteArray(2);
        ctx.Reply.WriteBulk(address.Announced(state));
        ctx.Reply.WriteBulk(address.Port);
    }

    /// <summary>SENTINEL FAILOVER: a failover without the others' agreement (a forced one skips the election).</summary>
    private static void Failover(CommandContext ctx)
    {
        var state = State(ctx);
        if (PrimaryOrError(ctx, 2) is not { } ri) return;
        if (ri.Has(InstanceFlags.FailoverInProgress))
        {
            ctx.Error("INPROG Failover already in progress");
            return;
        }
        if (state.SelectReplica(ri) is null)
        {
            ctx.Error("NOGOODSLAVE No suitable replica to promote");
            return;
        }
        state.Log.Notice($"Executing user requested FAILOVER of '{ri.Name}'");
        state.StartFailover(ri);
        ri.Flags |= InstanceFlags.ForceFailover;
        ctx.Reply.WriteOk();
    }

    private static void PendingScripts(CommandContext ctx)
    {
        var state = State(ctx);
        var reply = ctx.Reply;
        long now = state.Now();
        reply.WriteArray(state.Scripts.Queue.Count);
        foreach (var job in state.Scripts.Queue)
        {
            reply.WriteMap(5);
            reply.WriteBulk("argv"u8);
            reply.WriteArray(job.Argv.Length);
            foreach (var a in job.Argv) reply.WriteBulk(a);
            reply.WriteBulk("flags"u8);
            reply.WriteBulk(job.Running ? "running"u8 : "scheduled"u8);
            reply.WriteBulk("pid"u8);
            reply.WriteBulk(Math.Max(0, job.Pid));
            if (job.Running)
            {
                reply.WriteBulk("run-time"u8);
                reply.WriteBulk(now - job.StartTime);
            }
            else
            {
                reply.WriteBulk("run-delay"u8);
                reply.WriteBulk(job.StartTime != 0 ? Math.Max(0, job.StartTime - now) : 0);
            }
            reply.WriteBulk("retry-num"u8);
            reply.WriteBulk(job.RetryCount);
        }
    }

    /// <summary>SENTINEL MONITOR name ip port quorum: starts monitoring a primary and saves the config.</summary>
    private static void Monitor(CommandContext ctx)
    {
        var state = State(ctx);
        if (!TryLong(ctx, 5, out long quorum))
        {
            ctx.Error("ERR Invalid quorum");
            return;
        }
        if (!TryLong(ctx, 4, out long port))
        {
            ctx.Error("ERR Invalid port");
            return;
        }
        if (quorum <= 0)
        {
            ctx.Error("ERR Quorum must be 1 or greater.");
            return;
        }
        if (SentinelAddress.Resolve(Arg(ctx, 3), state.ResolveHostnames) is null)
        {
            ctx.Error("ERR Invalid IP address or hostname specified");
            return;
        }
        int portNumber = port is < int.MinValue or > int.MaxValue ? -1 : (int)port;
        var ri = state.CreateInstance(Arg(ctx, 2), InstanceFlags.Primary, Arg(ctx, 3), portNumber,
            (int)Math.Min(quorum, int.MaxValue), null, out var error);
        if (ri is null)
        {
            ctx.Error("ERR " + SentinelState.CreateErrorText(error, InstanceFlags.Primary));
            return;
        }
        FlushConfigAndReply(ctx);
        state.InstanceEvent(LogLevel.Warning, "+monitor", ri, $"quorum {ri.Quorum}");
    }

    private static void FlushConfig(CommandContext ctx) => FlushConfigAndReply(ctx);

    private static void Remove(CommandContext ctx)
    {
        var state = State(ctx);
        if (PrimaryOrError(ctx, 2) is not { } ri) return;
        state.InstanceEvent(LogLevel.Warning, "-monitor", ri);
        state.RemovePrimary(ri);
        FlushConfigAndReply(ctx);
    }

    private static void CkQuorum(CommandContext ctx)
    {
        if (PrimaryOrError(ctx, 2) is not { } ri) return;
        var result = SentinelState.IsQuorumReachable(ri, out int usable);
        if (result == SentinelState.QuorumStatus.Ok)
        {
            ctx.Reply.WriteSimpleString($"OK {usable} usable Sentinels. Quorum and failover authorization can be reached");
            return;
        }
        var e = new StringBuilder($"NOQUORUM {usable} usable Sentinels. ");
        if ((result & SentinelState.QuorumStatus.NoQuorum) != 0)
            e.Append("Not enough available Sentinels to reach the specified quorum for this master");
        if ((result & SentinelState.QuorumStatus.NoAuthorization) != 0)
        {
            if ((result & SentinelState.QuorumStatus.NoQuorum) != 0) e.Append(". ");
            e.Append("Not enough available Sentinels to reach the majority and authorize a failover");
        }
        ctx.Error(e.ToString());
    }

    /// <summary>
    /// SENTINEL SET primary option value [option value ...] (sentinelSetCommand): options are applied
    /// in order, each logged as a +set event; the first bad one stops with an error, the ones before
    /// it stay applied (and saved).
    /// </summary>
    private static void Set(CommandContext ctx)
    {
        var state = State(ctx);
        if (PrimaryOrError(ctx, 2) is not { } ri) return;
        int changes = 0;
        int argc = ctx.ArgCount;
        for (int j = 3; j < argc; j++)
        {
            int moreArgs = argc - 1 - j;
            string option = Arg(ctx, j);
            int oldJ = j;
            bool redacted = false;
            int badArg = -1;
            string lower = option.ToLowerInvariant();
            if (lower == "down-after-milliseconds" && moreArgs > 0)
            {
                if (!TryLong(ctx, ++j, out long ll) || ll <= 0) badArg = j;
                else
                {
                    ri.DownAfterPeriod = ll;
                    SentinelState.PropagateDownAfterPeriod(ri);
                    changes++;
                }
            }
            else if (lower == "failover-timeout" && moreArgs > 0)
            {
                if (!TryLong(ctx, ++j, out long ll) || ll <= 0) badArg = j;
                else
                {
                    ri.FailoverTimeout = ll;
                    changes++;
                }
            }
            else if (lower == "parallel-syncs" && moreArgs > 0)
            {
                if (!TryLong(ctx, ++j, out long ll) || ll <= 0) badArg = j;
                else
                {
                    ri.ParallelSyncs = (int)Math.Min(ll, int.MaxValue);
                    changes++;
                }
            }
            else if (lower is "notification-script" or "client-reconfig-script" && moreArgs > 0)
            {
                string value = Arg(ctx, ++j);
                bool notification = lower == "notification-script";
                if (state.DenyScriptsReconfig)
                {
                    ctx.Error("ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig " +
                              "configuration directive in your Sentinel configuration");
                    break;
                }
                if (value.Length > 0 && !SentinelState.IsExecutable(value))
                {
                    ctx.Error(notification ? "ERR Notification script seems non existing or non executable"
                        : "ERR Client reconfiguration script seems non existing or non executable");
                    break;
                }
                if (notification) ri.NotificationScript = value.Length > 0 ? value : null;
                else ri.ClientReconfigScript = value.Length > 0 ? value : null;
                changes++;
            }
            else if (lower == "auth-pass" && moreArgs > 0)
            {
                string value = Arg(ctx, ++j);
                ri.AuthPass = value.Length > 0 ? value : null;
                ctx.RedactArgument(j);
                SentinelState.DropInstanceConnections(ri);
                changes++;
                redacted = true;
            }
            else if (lower == "auth-user" && moreArgs > 0)
            {
                string value = Arg(ctx, ++j);
                ri.AuthUser = value.Length > 0 ? value : null;
                SentinelState.DropInstanceConnections(ri);
                changes++;
            }
            else if (lower == "quorum" && moreArgs > 0)
            {
                if (!TryLong(ctx, ++j, out long ll) || ll <= 0) badArg = j;
                else
                {
                    ri.Quorum = (int)Math.Min(ll, int.MaxValue);
                    changes++;
                }
            }
            else if (lower == "rename-command" && moreArgs > 1)
            {
                string oldName = Arg(ctx, ++j);
                string newName = Arg(ctx, ++j);
                if (oldName.Length == 0 || newName.Length == 0)
                {
                    badArg = newName.Length > 0 ? j - 1 : j;
                }
                else
                {
                    ri.RenamedCommands.Remove(oldName);
                    if (!oldName.Equals(newName, StringComparison.OrdinalIgnoreCase)) ri.RenamedCommands[oldName] = newName;
                    changes++;
                }
            }
            else if (lower is "primary-reboot-down-after-period" or "master-reboot-down-after-period" && moreArgs > 0)
            {
                if (!TryLong(ctx, ++j, out long ll) || ll < 0) badArg = j;
                else
                {
                    ri.PrimaryRebootDownAfterPeriod = ll;
                    changes++;
                }
            }
            else
            {
                ctx.Error($"ERR Unknown option or number of arguments for SENTINEL SET '{option}'");
                break;
            }

            if (badArg >= 0)
            {
                ctx.Error($"ERR Invalid argument '{Arg(ctx, badArg)}' for SENTINEL SET '{option}'");
                break;
            }

            int numArgs = j - oldJ + 1;
            string detail = numArgs switch
            {
                2 => $"{Arg(ctx, oldJ)} {(redacted ? "******" : Arg(ctx, oldJ + 1))}",
                3 => $"{Arg(ctx, oldJ)} {Arg(ctx, oldJ + 1)} {Arg(ctx, oldJ + 2)}",
                _ => Arg(ctx, oldJ),
            };
            state.InstanceEvent(LogLevel.Warning, "+set", ri, detail);
            if (j == argc - 1)
            {
                // Every option applied.
                FlushConfigAndReply(ctx);
                return;
            }
        }
        // Stopped on an error (already answered): what was applied before it is saved.
        if (changes > 0) state.FlushConfig();
    }

    /// <summary>SENTINEL CONFIG GET|SET: the Sentinel's global parameters.</summary>
    private static void Config(CommandContext ctx)
    {
        string sub = Arg(ctx, 2);
        if (sub.Equals("set", StringComparison.OrdinalIgnoreCase) && ctx.ArgCount >= 5) ConfigSet(ctx);
        else if (sub.Equals("get", StringComparison.OrdinalIgnoreCase) && ctx.ArgCount >= 4) ConfigGet(ctx);
        else ctx.Error("ERR Only SENTINEL CONFIG GET <param> [<param> <param> ...] / SET <param> <value> [<param> <value> ...] are supported.");
    }

    private static readonly string[] ConfigOptions =
        ["announce-ip", "sentinel-user", "sentinel-pass", "resolve-hostnames", "announce-port", "announce-hostnames", "loglevel"];

    private static readonly string[] LogLevels = ["debug", "verbose", "notice", "warning", "nothing"];

    /// <summary>Every option and value is validated before any is applied; then the config is saved.</summary>
    private static void ConfigSet(CommandContext ctx)
    {
        var state = State(ctx);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 3; i < ctx.ArgCount; i++)
        {
            string option = Arg(ctx, i);
            if (!ConfigOptions.Contains(option, StringComparer.OrdinalIgnoreCase))
            {
                ctx.Error($"ERR Invalid argument '{option}' to SENTINEL CONFIG SET");
                return;
            }
            if (!seen.Add(option))
            {
                ctx.Error($"ERR Duplicate argument '{option}' to SENTINEL CONFIG SET");
                return;
            }
            if (i + 1 == ctx.ArgCount)
            {
                ctx.Error($"ERR Missing argument '{option}' value");
                return;
            }
            string value = Arg(ctx, ++i);
            bool ok = option.ToLowerInvariant() switch
            {
                "resolve-hostnames" or "announce-hostnames" => SentinelState.TryYesNo(value, out _),
                "announce-port" => TryLong(ctx, i, out long port) && port is >= 0 and <= 65535,
                "loglevel" => LogLevels.Contains(value, StringComparer.OrdinalIgnoreCase),
                _ => true,
            };
            if (!ok)
            {
                ctx.Error($"ERR Invalid value '{value}' to SENTINEL CONFIG SET '{option}'");
                return;
            }
        }

        bool dropConnections = false;
        for (int i = 3; i + 1 < ctx.ArgCount; i += 2)
        {
            string value = Arg(ctx, i + 1);
            switch (Arg(ctx, i).ToLowerInvariant())
            {
                case "loglevel":
                    ctx.Server.Config.LogLevel = value.ToLowerInvariant();
                    ctx.Server.Log.Level = ServerLog.ParseLevel(ctx.Server.Config.LogLevel);
                    break;
                case "resolve-hostnames":
                    SentinelState.TryYesNo(value, out state.ResolveHostnames);
                    break;
                case "announce-hostnames":
                    SentinelState.TryYesNo(value, out state.AnnounceHostnames);
                    break;
                case "announce-ip":
                    state.AnnounceIp = value;
                    break;
                case "announce-port":
                    state.AnnouncePort = int.Parse(value, CultureInfo.InvariantCulture);
                    break;
                case "sentinel-user":
                    state.SentinelAuthUser = value.Length == 0 ? null : value;
                    dropConnections = true;
                    break;
                case "sentinel-pass":
                    state.SentinelAuthPass = value.Length == 0 ? null : value;
                    ctx.RedactArgument(i + 1);
                    dropConnections = true;
                    break;
            }
        }
        FlushConfigAndReply(ctx);
        // New credentials for the other Sentinels: reconnect with them.
        if (dropConnections) state.DropSentinelConnections();
    }

    /// <summary>Each parameter matching any of the patterns, once, in Valkey's order.</summary>
    private static void ConfigGet(CommandContext ctx)
    {
        var state = State(ctx);
        var values = new (string Name, string Value)[]
        {
            ("resolve-hostnames", state.ResolveHostnames ? "yes" : "no"),
            ("announce-hostnames", state.AnnounceHostnames ? "yes" : "no"),
            ("announce-ip", state.AnnounceIp ?? ""),
            ("announce-port", state.AnnouncePort.ToString(CultureInfo.InvariantCulture)),
            ("sentinel-user", state.SentinelAuthUser ?? ""),
            ("sentinel-pass", state.SentinelAuthPass ?? ""),
            ("loglevel", LogLevelName(ctx.Server.Log.Level)),
        };
        var matches = new List<(string, string)>();
        var added = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 3; i < ctx.ArgCount; i++)
        {
            string pattern = Arg(ctx, i);
            foreach (var (name, value) in values)
            {
                if (added.Contains(name) || !Types.GlobPattern.Match(pattern, name, noCase: true)) continue;
                added.Add(name);
                matches.Add((name, value));
            }
        }
        ctx.Reply.WriteMap(matches.Count);
        foreach (var (name, value) in matches)
        {
            ctx.Reply.WriteBulk(name);
            ctx.Reply.WriteBulk(value);
        }
    }

    private static string LogLevelName(LogLevel level) => level switch
    {
        LogLevel.Debug => "debug",
        LogLevel.Verbose => "verbose",
        LogLevel.Notice => "notice",
        LogLevel.Warning => "warning",
        LogLevel.Nothing => "nothing",
        _ => "unknown",
    };

    /// <summary>SENTINEL INFO-CACHE [primary ...]: per primary, the age and text of the last INFO of it and of each replica.</summary>
    private static void InfoCache(CommandContext ctx)
    {
        var state = State(ctx);
        var primaries = new List<SentinelInstance>();
        if (ctx.ArgCount > 2)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            for (int i = 2; i < ctx.ArgCount; i++)
                if (state.GetPrimary(Arg(ctx, i)) is { } ri && seen.Add(ri.Name)) primaries.Add(ri);
        }
        else
        {
            primaries.AddRange(state.Primaries.Values);
        }
        long now = state.Now();
        var reply = ctx.Reply;
        reply.WriteArray(primaries.Count * 2);
        foreach (var ri in primaries)
        {
            reply.WriteBulk(ri.Name);
            reply.WriteArray(ri.Replicas.Count + 1);
            WriteCachedInfo(reply, ri, now);
            foreach (var replica in ri.Replicas.Values) WriteCachedInfo(reply, replica, now);
        }
    }

    private static void WriteCachedInfo(ReplyWriter reply, SentinelInstance ri, long now)
    {
        reply.WriteArray(2);
        reply.WriteInteger(ri.InfoRefresh != 0 ? now - ri.InfoRefresh : 0);
        if (ri.Info is not null) reply.WriteBulk(ri.Info);
        else reply.WriteNull();
    }

    private static void SimulateFailure(CommandContext ctx)
    {
        var state = State(ctx);
        state.SimulateFailureFlags = 0;
        for (int j = 2; j < ctx.ArgCount; j++)
        {
            if (ctx.Args.Is(j, "CRASH-AFTER-ELECTION"u8))
            {
                state.SimulateFailureFlags |= SentinelState.CrashAfterElection;
                state.Log.Warning("Failure simulation: this Sentinel will crash after being successfully elected as failover leader");
            }
            else if (ctx.Args.Is(j, "CRASH-AFTER-PROMOTION"u8))
            {
                state.SimulateFailureFlags |= SentinelState.CrashAfterPromotion;
                state.Log.Warning("Failure simulation: this Sentinel will crash after promoting the selected replica to master");
            }
            else if (ctx.Args.Is(j, "HELP"u8))
            {
                ctx.Reply.WriteArray(2);
                ctx.Reply.WriteBulk("crash-after-election"u8);
                ctx.Reply.WriteBulk("crash-after-promotion"u8);
                return;
            }
            else
            {
                ctx.Error("ERR Unknown failure simulation specified");
                return;
            }
        }
        ctx.Reply.WriteOk();
    }

    /// <summary>SENTINEL DEBUG: without arguments the periods and timeouts; with pairs, changes them (all positive milliseconds).</summary>
    private static void Debug(CommandContext ctx)
    {
        var timings = State(ctx).Timings.All().ToList();
        if (ctx.ArgCount == 2)
        {
            ctx.Reply.WriteMap(timings.Count);
            foreach (var (name, get, _) in timings)
            {
                ctx.Reply.WriteBulk(name);
                ctx.Reply.WriteBulk(get());
            }
            return;
        }
        for (int j = 2; j < ctx.ArgCount; j++)
        {
            int moreArgs = ctx.ArgCount - 1 - j;
            string option = Arg(ctx, j);
            var match = timings.FirstOrDefault(t => t.Name.Equals(option, StringComparison.OrdinalIgnoreCase));
            if (match.Name is null || moreArgs == 0)
            {
                ctx.Error($"ERR Unknown option or number of arguments for SENTINEL DEBUG '{option}'");
                return;
            }
            j++;
            if (!TryLong(ctx, j, out long ll) || ll <= 0)
            {
                ctx.Error($"ERR Invalid argument '{Arg(ctx, j)}' for SENTINEL DEBUG '{option}'");
                return;
            }
            match.Set(ll);
        }
        ctx.Reply.WriteOk();
    }

    // ----- instance replies -----

    private static void WriteInstances(CommandContext ctx, IEnumerable<SentinelInstance> instances)
    {
        // Replicas with replica-announced no are not shown.
        var shown = instances.Where(ri => !(ri.IsReplica && !ri.ReplicaAnnounced)).ToList();
        ctx.Reply.WriteArray(shown.Count);
        foreach (var ri in shown) WriteInstance(ctx, ri);
    }

    /// <summary>An instance as SENTINEL PRIMARY/REPLICAS/SENTINELS show it (addReplySentinelValkeyInstance): a map of field names to strings.</summary>
    private static void WriteInstance(CommandContext ctx, SentinelInstance ri)
    {
        var state = State(ctx);
        long now = state.Now();
        var fields = new List<(string, string)>
        {
            ("name", ri.Name),
            ("ip", ri.Address.Announced(state)),
            ("port", Num(ri.Address.Port)),
            ("runid", ri.RunId ?? ""),
            ("flags", FlagsText(ri)),
            ("link-pending-commands", Num(ri.Link.PendingCommands)),
            ("link-refcount", Num(ri.Link.RefCount)),
        };
        if (ri.Has(InstanceFlags.FailoverInProgress)) fields.Add(("failover-state", FailoverStateName(ri.FailoverState)));
        fields.Add(("last-ping-sent", Num(ri.Link.ActPingTime != 0 ? now - ri.Link.ActPingTime : 0)));
        fields.Add(("last-ok-ping-reply", Num(now - ri.Link.LastAvailTime)));
        fields.Add(("last-ping-reply", Num(now - ri.Link.LastPongTime)));
        if (ri.Has(InstanceFlags.SDown)) fields.Add(("s-down-time", Num(now - ri.SDownSince)));
        if (ri.Has(InstanceFlags.ODown)) fields.Add(("o-down-time", Num(now - ri.ODownSince)));
        fields.Add(("down-after-milliseconds", Num(ri.DownAfterPeriod)));
        if (ri.Has(InstanceFlags.Primary | InstanceFlags.Replica))
        {
            fields.Add(("info-refresh", Num(ri.InfoRefresh != 0 ? now - ri.InfoRefresh : 0)));
            fields.Add(("role-reported", ri.RoleReported == InstanceFlags.Primary ? "master" : "slave"));
            fields.Add(("role-reported-time", Num(now - ri.RoleReportedTime)));
        }
        if (ri.IsPrimary)
        {
            fields.Add(("config-epoch", ri.ConfigEpoch.ToString(CultureInfo.InvariantCulture)));
            fields.Add(("num-slaves", Num(ri.Replicas.Count)));
            fields.Add(("num-other-sentinels", Num(ri.Sentinels.Count)));
            fields.Add(("quorum", Num(ri.Quorum)));
            fields.Add(("failover-timeout", Num(ri.FailoverTimeout)));
            fields.Add(("parallel-syncs", Num(ri.ParallelSyncs)));
            if (ri.NotificationScript is not null) fields.Add(("notification-script", ri.NotificationScript));
            if (ri.ClientReconfigScript is not null) fields.Add(("client-reconfig-script", ri.ClientReconfigScript));
        }
        if (ri.IsReplica)
        {
            fields.Add(("master-link-down-time", Num(ri.PrimaryLinkDownTime)));
            fields.Add(("master-link-status", ri.ReplicaPrimaryLinkUp ? "ok" : "err"));
            fields.Add(("master-host", ri.ReplicaPrimaryHost ?? "?"));
            fields.Add(("master-port", Num(ri.ReplicaPrimaryPort)));
            fields.Add(("slave-priority", Num(ri.ReplicaPriority)));
            fields.Add(("slave-repl-offset", ri.ReplicaReplOffset.ToString(CultureInfo.InvariantCulture)));
            fields.Add(("replica-announced", ri.ReplicaAnnounced ? "1" : "0"));
        }
        if (ri.IsSentinel)
        {
            fields.Add(("last-hello-message", Num(now - ri.LastHelloTime)));
            fields.Add(("voted-leader", ri.Leader ?? "?"));
            fields.Add(("voted-leader-epoch", ri.LeaderEpoch.ToString(CultureInfo.InvariantCulture)));
        }
        ctx.Reply.WriteMap(fields.Count);
        foreach (var (name, value) in fields)
        {
            ctx.Reply.WriteBulk(name);
            ctx.Reply.WriteBulk(value);
        }
    }

    private static string Num(long v) => v.ToString(CultureInfo.InvariantCulture);

    private static string FlagsText(SentinelInstance ri)
    {
        var parts = new List<string>();
        if (ri.Has(InstanceFlags.SDown)) parts.Add("s_down");
        if (ri.Has(InstanceFlags.ODown)) parts.Add("o_down");
        if (ri.Has(InstanceFlags.Primary)) parts.Add("master");
        if (ri.Has(InstanceFlags.Replica)) parts.Add("slave");
        if (ri.Has(InstanceFlags.Sentinel)) parts.Add("sentinel");
        if (ri.Link.Disconnected) parts.Add("disconnected");
        if (ri.Has(InstanceFlags.PrimaryDown)) parts.Add("master_down");
        if (ri.Has(InstanceFlags.FailoverInProgress)) parts.Add("failover_in_progress");
        if (ri.Has(InstanceFlags.Promoted)) parts.Add("promoted");
        if (ri.Has(InstanceFlags.ReconfSent)) parts.Add("reconf_sent");
        if (ri.Has(InstanceFlags.ReconfInProgress)) parts.Add("reconf_inprog");
        if (ri.Has(InstanceFlags.ReconfDone)) parts.Add("reconf_done");
        if (ri.Has(InstanceFlags.ForceFailover)) parts.Add("force_failover");
        if (ri.Has(InstanceFlags.ScriptKillSent)) parts.Add("script_kill_sent");
        if (ri.Has(InstanceFlags.PrimaryReboot)) parts.Add("master_reboot");
        return string.Join(',', parts);
    }

    private static string FailoverStateName(FailoverState state) => state switch
    {
        FailoverState.None => "none",
        FailoverState.WaitStart => "wait_start",
        FailoverState.SelectReplica => "select_slave",
        FailoverState.SendReplicaOfNoOne => "send_slaveof_noone",
        FailoverState.WaitPromotion => "wait_promotion",
        FailoverState.ReconfReplicas => "reconf_slaves",
        FailoverState.UpdateConfig => "update_config",
        _ => "unknown",
    };
}
