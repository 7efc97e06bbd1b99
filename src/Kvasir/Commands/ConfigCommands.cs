using System.Net;
using Kvasir.Clients;
using Kvasir.Config;

namespace Kvasir.Commands;

/// <summary>CONFIG GET / SET / RESETSTAT / REWRITE / HELP.</summary>
public static class ConfigCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("config|get", Get);
        t.Bind("config|set", Set);
        t.Bind("config|resetstat", ResetStat);
        t.Bind("config|rewrite", Rewrite);
        t.Bind("config|help", Help);
    }

    /// <summary>
    /// Several names or glob patterns at once. An exact name answers under the name as given (even
    /// hidden test knobs); a pattern matches every main name and alias except hidden parameters,
    /// case-insensitively. Each name appears once.
    /// </summary>
    private static void Get(CommandContext ctx)
    {
        var config = ctx.Server.Config;
        var matches = new List<(string Name, ConfigParameter Parameter)>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            string pattern = ctx.Args.ToString(i);
            if (!ConfigGlob.HasWildcards(pattern))
            {
                if (seen.Contains(pattern)) continue;
                var p = config.Find(pattern);
                if (p is null) continue;
                matches.Add((pattern, p));
                seen.Add(pattern);
                continue;
            }
            foreach (var (name, p) in config.Names)
            {
                if (p.Has(ConfigFlags.Hidden) || seen.Contains(name)) continue;
                if (!ConfigGlob.Match(pattern, name, ignoreCase: true)) continue;
                matches.Add((name, p));
                seen.Add(name);
            }
        }
        ctx.Reply.WriteMap(matches.Count);
        foreach (var (name, p) in matches)
        {
            ctx.Reply.WriteBulk(name);
            ctx.Reply.WriteBulk(p.Get());
        }
    }

    /// <summary>
    /// Several name/value pairs, all or nothing: every value is validated and stored, then the
    /// running server is updated (listeners rebound...); if any step fails every parameter gets its
    /// previous value back and the error names the parameter that failed.
    /// </summary>
    private static void Set(CommandContext ctx)
    {
        if ((ctx.ArgCount & 1) != 0)
        {
            ctx.SyntaxError();
            return;
        }
        var server = ctx.Server;
        var config = server.Config;
        int count = (ctx.ArgCount - 2) / 2;
        var parameters = new ConfigParameter[count];
        var entryNames = new string[count];
        var values = new string[count];
        string? unknownName = null, errorName = null, error = null;
        bool denyLoading = false;

        for (int i = 0; i < count; i++)
        {
            string name = ctx.Args.ToString(2 + i * 2);
            var p = config.Find(name);
            if (p is null)
            {
                if (unknownName is null && error is null) unknownName = name;
                continue;
            }
            // Secrets stay out of the slow log and MONITOR even when this CONFIG SET fails.
            if (p.Has(ConfigFlags.Sensitive)) ctx.RedactArgument(3 + i * 2);
            if (unknownName is not null || error is not null) continue;
            if (p.Has(ConfigFlags.Immutable) ||
                (p.Has(ConfigFlags.Protected) && !AllowProtectedAction(config.EnableProtectedConfigs, ctx.Client)))
            {
                error = p.Has(ConfigFlags.Immutable) ? "can't set immutable config" : "can't set protected config";
                errorName = name;
                continue;
            }
            // Settings that would disturb a data set being loaded (Valkey's DENY_LOADING_CONFIG).
            if (server.Loading.Active && p.Name is "appendonly" or "repl-diskless-load" or "dir")
            {
                denyLoading = true;
                continue;
            }
            // An alias and its main name are distinct entries, as in Valkey: only the same entry twice is a duplicate.
            string entry = name.ToLowerInvariant();
            if (Array.IndexOf(entryNames, entry, 0, i) >= 0)
            {
                error = "duplicate parameter";
                errorName = name;
                continue;
            }
            parameters[i] = p;
            entryNames[i] = entry;
            values[i] = ctx.Args.ToString(3 + i * 2);
        }
        if (unknownName is not null)
        {
            ctx.Error($"ERR Unknown option or number of arguments for CONFIG SET - '{unknownName}'");
            return;
        }
        if (error is not null)
        {
            ctx.Error($"ERR CONFIG SET failed (possibly related to argument '{errorName}') - {error}");
            return;
        }
        if (denyLoading)
        {
            ctx.Error(Persistence.LoadingStatus.Error);
            return;
        }

        var oldValues = new string[count];
        for (int i = 0; i < count; i++) oldValues[i] = parameters[i].Get();

        var applies = new List<(Func<KvasirServer, string?> Apply, int Index)>();
        var changed = new List<ConfigParameter>();
        for (int i = 0; i < count; i++)
        {
            var p = parameters[i];
            string? setError = p.Set(values[i]);
            if (setError is not null)
            {
                Restore(server, parameters, oldValues, i + 1);
                ctx.Error($"ERR CONFIG SET failed (possibly related to argument '{entryNames[i]}') - {setError}");
                return;
            }
            if (p.Get() == oldValues[i] && !p.Has(ConfigFlags.Volatile)) continue;
            changed.Add(p);
            if (p.Apply is not null && !applies.Exists(a => a.Apply == p.Apply)) applies.Add((p.Apply, i));
        }

        foreach (var (apply, index) in applies)
        {
            string? applyError = apply(server);
            if (applyError is null) continue;
            server.Log.Warning($"Failed applying new configuration. Possibly related to new {entryNames[index]} setting. Restoring previous settings.");
            Restore(server, parameters, oldValues, count);
            foreach (var (again, _) in applies)
            {
                if (again(server) is { } e) server.Log.Warning("Failed applying restored failed CONFIG SET command: " + e);
            }
            ctx.Error($"ERR CONFIG SET failed (possibly related to argument '{entryNames[index]}') - {applyError}");
            return;
        }

        foreach (var p in changed) config.NotifyChanged(p.Name);
        ctx.Reply.WriteOk();
    }

    private static void Restore(KvasirServer server, ConfigParameter[] parameters, string[] oldValues, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (parameters[i].Set(oldValues[i]) is { } e)
                server.Log.Warning($"Failed restoring failed CONFIG SET command. Error setting {parameters[i].Name} to '{oldValues[i]}': {e}");
        }
    }

    /// <summary>enable-protected-configs / enable-debug-command: "yes", or "local" for loopback and Unix socket clients.</summary>
    public static bool AllowProtectedAction(string setting, Client client) =>
        setting == "yes" || (setting == "local" && IsLocal(client));

    private static bool IsLocal(Client client)
    {
        if (client.Has(ClientFlags.UnixSocket)) return true;
        if (client.RemoteEndPoint is not IPEndPoint ip) return false;
        var address = ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address;
        return IPAddress.IsLoopback(address);
    }

    /// <summary>Resets INFO's counters, command and error statistics; the slowlog and latency history stay.</summary>
    private static void ResetStat(CommandContext ctx)
    {
        var server = ctx.Server;
        server.Stats.Reset();
        server.Metrics.Reset();
        foreach (var cmd in server.Commands.Implemented) cmd.ResetStats();
        var ks = server.Keyspace;
        ks.KeyspaceHits = ks.KeyspaceMisses = 0;
        ks.ExpiredKeys = ks.ExpiredStaleKeys = ks.ExpiredTimeCapReached = ks.ExpiredFields = 0;
        server.Replication.ResetStats();
        server.Cluster?.SlotStats?.ResetAll();
        ctx.Reply.WriteOk();
    }

    private static void Rewrite(CommandContext ctx)
    {
        var server = ctx.Server;
        string path = server.Config.ConfigFile;
        if (string.IsNullOrEmpty(path))
        {
            ctx.Error("ERR The server is running without a config file");
            return;
        }
        try
        {
            ConfigRewriter.Rewrite(server.Config, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            string reason = ConfigRewriter.ErrorText(e);
            server.Log.Warning("CONFIG REWRITE failed: " + reason);
            ctx.Error("ERR Rewriting config file: " + reason);
            return;
        }
        server.Log.Notice("CONFIG REWRITE executed with success.");
        ctx.Reply.WriteOk();
    }

    private static readonly string[] HelpLines =
    {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Print this help.",
    };

    private static void Help(CommandContext ctx)
    {
        ctx.Reply.WriteArray(HelpLines.Length);
        foreach (var line in HelpLines) ctx.Reply.WriteSimpleString(line);
    }
}
