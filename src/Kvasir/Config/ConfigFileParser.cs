using System.Text;

namespace Kvasir.Config;

/// <summary>
/// A config that cannot be loaded. <see cref="Report"/> is the complete text to print on stderr
/// (Valkey's "*** FATAL CONFIG FILE ERROR ***" block), or, when <see cref="IsLogLine"/>, a single
/// message that the server logs as a warning (a config file that cannot be opened). Either way the
/// process exits with status 1.
/// </summary>
public sealed class ConfigLoadException : Exception
{
    public ConfigLoadException(string report, bool isLogLine = false) : base(report)
    {
        Report = report;
        IsLogLine = isLogLine;
    }

    public string Report { get; }
    public bool IsLogLine { get; }
}

/// <summary>
/// Reads valkey.conf syntax into a <see cref="ServerConfig"/>: one directive per line, # comments,
/// quoting as in the protocol's inline commands, parameters in any case, multi-argument directives
/// (save, bind, client-output-buffer-limit... given as separate words or as one quoted string),
/// include (with glob patterns), rename-command. A bad line stops loading with Valkey's error format.
/// </summary>
public static class ConfigFileParser
{
    /// <summary>The version named in fatal error reports.</summary>
    public static string Version { get; set; } = KvasirServer.KvasirVersion;

    // Directives older Valkey versions had and that are now silently ignored (with exactly one argument).
    private static readonly HashSet<string> Deprecated = new(StringComparer.OrdinalIgnoreCase)
    {
        "list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands", "io-threads-do-reads",
    };

    /// <summary>
    /// Loads the config the way valkey-server's startup does: the file (if any), then the text read
    /// from stdin (if any), then the command-line options, all as one text. Warnings that the server
    /// should log once it is running are added to <paramref name="warnings"/>.
    /// </summary>
    public static void Load(ServerConfig config, string? path, string? stdinText, string? options, List<string>? warnings = null)
    {
        var text = new StringBuilder();
        if (path is not null) text.Append(ReadConfigFile(path));
        if (stdinText is not null) text.Append(stdinText);
        if (options is not null) text.Append('\n').Append(options);
        config.BeginFileLoad();
        try
        {
            LoadFromString(config, text.ToString(), warnings, topLevel: true);
        }
        finally
        {
            config.EndFileLoad();
        }
    }

    /// <summary>Parses config text (no file, no stdin). Throws <see cref="ConfigLoadException"/> on the first bad line.</summary>
    public static void LoadFromString(ServerConfig config, string text, List<string>? warnings = null)
    {
        bool wasReading = config.ReadingConfigFile;
        if (!wasReading) config.BeginFileLoad();
        try
        {
            LoadFromString(config, text, warnings, topLevel: true);
        }
        finally
        {
            if (!wasReading) config.EndFileLoad();
        }
    }

    private static void LoadFromString(ServerConfig config, string text, List<string>? warnings, bool topLevel)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim(' ', '\t', '\r', '\n');
            if (line.Length == 0 || line[0] == '#') continue;
            string? error = ApplyLine(config, line, warnings, i + 1);
            if (error is not null) throw new ConfigLoadException(FatalReport(i + 1, line, error));
        }
        if (!topLevel) return;

        string? final = CheckLoaded(config, warnings);
        if (final is not null) throw new ConfigLoadException(FatalReport(0, null, final));
    }

    /// <summary>The stderr text of a fatal config error; line 0 when the error is not about one line.</summary>
    public static string FatalReport(int lineNumber, string? line, string error)
    {
        var sb = new StringBuilder();
        sb.Append("\n*** FATAL CONFIG FILE ERROR (Version ").Append(Version).Append(") ***\n");
        if (line is not null)
        {
            sb.Append("Reading the configuration file, at line ").Append(lineNumber).Append('\n');
            sb.Append(">>> '").Append(line).Append("'\n");
        }
        sb.Append(error).Append('\n');
        return sb.ToString();
    }

    /// <summary>Applies one non-comment line; returns the error text or null.</summary>
    private static string? ApplyLine(ServerConfig config, string line, List<string>? warnings, int lineNumber)
    {
        var argv = ConfigValues.SplitArgs(line);
        if (argv is null) return "Unbalanced quotes in configuration line";
        if (argv.Count == 0) return null;
        string directive = argv[0].ToLowerInvariant();

        var p = config.Find(directive);
        if (p is not null)
        {
            if (!p.Has(ConfigFlags.MultiArg) && argv.Count != 2) return "wrong number of arguments";
            if (p.Has(ConfigFlags.MultiArg) && argv.Count == 2 && argv[1].Length > 0)
            {
                // One quoted argument holding several words: --save "3600 1 300 100".
                var inner = ConfigValues.SplitArgs(argv[1]);
                if (inner is null) return "Unbalanced quotes in configuration line";
                return p.SetArgs(inner);
            }
            return p.SetArgs(argv.GetRange(1, argv.Count - 1));
        }
        if (Deprecated.Contains(directive) && argv.Count == 2) return null;

        switch (directive)
        {
            case "include" when argv.Count == 2:
                foreach (var file in ExpandInclude(argv[1]))
                    LoadFromString(config, ReadConfigFile(file), warnings, topLevel: false);
                return null;
            case "rename-command" when argv.Count == 3:
                return RenameCommand(config, argv[1], argv[2]);
            case "user" when argv.Count >= 2:
                if (Security.AccessControl.ValidateUserLine(argv, config.UserLines, config.AclPubsubDefault == "allchannels") is { } userError)
                    return userError;
                config.UserLines.Add(argv.Skip(1).ToArray());
                return null;
            case "loadmodule" when argv.Count >= 2:
                return $"Kvasir cannot load Valkey modules: '{argv[1]}'";
            case "sentinel":
                // A bare "sentinel" is --sentinel from the command line; the rest waits for the Sentinel.
                if (argv.Count == 1) return null;
                if (!config.SentinelMode) return "sentinel directive while not in sentinel mode";
                config.SentinelDirectives.Add(new SentinelConfigLine(argv.Skip(1).ToArray(), lineNumber, line));
                return null;
        }
        if (directive.Contains('.'))
        {
            if (argv.Count < 2) return "Module config specified without value";
            return "Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting";
        }
        return "Bad directive or wrong number of arguments";
    }

    /// <summary>Checks that need the whole config (Valkey does them after the last line).</summary>
    private static string? CheckLoaded(ServerConfig config, List<string>? warnings)
    {
        if (config.LogFile.Length > 0)
        {
            try
            {
                using var _ = new FileStream(config.LogFile, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                return "Can't open the log file: " + ErrnoText(e);
            }
        }
        if (config.ClusterEnabled && config.ReplicaOfHost.Length > 0) return "replicaof directive not allowed in cluster mode";
        if (config.ClusterEnabled && config.Databases > 1)
        {
            warnings?.Add($"WARNING: Changing databases number from {config.Databases} to 1 since we are in cluster mode");
            config.Databases = 1;
        }
        return null;
    }

    /// <summary>Reads a whole config file; a missing or unreadable file is fatal with Valkey's log message.</summary>
    public static string ReadConfigFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ConfigLoadException($"Fatal error, can't open config file '{path}': {ErrnoText(e)}", isLogLine: true);
        }
    }

    /// <summary>
    /// The files an include names: the path itself, or, when it has wildcards, the files matching it
    /// in sorted order (none is fine: an empty conf.d directory is allowed).
    /// </summary>
    public static List<string> ExpandInclude(string pattern)
    {
        if (!ConfigGlob.HasWildcards(pattern)) return new List<string> { pattern };
        var results = new List<string>();
        bool absolute = pattern.StartsWith('/');
        var parts = pattern.Split('/', StringSplitOptions.RemoveEmptyEntries);
        ExpandGlob(absolute ? "/" : "", parts, 0, results);
        results.Sort(StringComparer.Ordinal);
        return results;
    }

    private static void ExpandGlob(string prefix, string[] parts, int index, List<string> results)
    {
        string dir = prefix.Length == 0 ? "." : prefix;
        string part = parts[index];
        bool last = index == parts.Length - 1;
        if (!ConfigGlob.HasWildcards(part))
        {
            string path = prefix + part;
            if (last) { if (File.Exists(path)) results.Add(path); }
            else if (Directory.Exists(path)) ExpandGlob(path + "/", parts, index + 1, results);
            return;
        }
        IEnumerable<string> entries;
        try
        {
            entries = last ? Directory.EnumerateFileSystemEntries(dir) : Directory.EnumerateDirectories(dir);
            entries = entries.ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        foreach (var entry in entries)
        {
            string name = Path.GetFileName(entry);
            // As glob(3): wildcards do not match a leading dot.
            if (name.StartsWith('.') && !part.StartsWith('.')) continue;
            if (!ConfigGlob.Match(part, name, ignoreCase: false)) continue;
            string path = prefix + name;
            if (last) results.Add(path);
            else ExpandGlob(path + "/", parts, index + 1, results);
        }
    }

    private static HashSet<string>? _knownCommands;

    /// <summary>
    /// rename-command: checked here against the command names (so the error names the line) and
    /// recorded for the server, which renames its command table at startup. An empty new name
    /// removes the command.
    /// </summary>
    private static string? RenameCommand(ServerConfig config, string from, string to)
    {
        var names = CurrentCommandNames(config);
        if (!names.Remove(from)) return "No such command in rename-command";
        if (to.Length > 0)
        {
            if (!names.Add(to))
            {
                names.Add(from);
                return "Target command name already exists";
            }
        }
        config.CommandRenames.Add((from, to));
        return null;
    }

    private static HashSet<string> CurrentCommandNames(ServerConfig config)
    {
        _knownCommands ??= new HashSet<string>(Commands.CommandCatalog.Load().Where(d => !d.Has(Commands.CommandFlags.OnlySentinel)).Select(d => d.Name),
            StringComparer.OrdinalIgnoreCase);
        var names = new HashSet<string>(_knownCommands, StringComparer.OrdinalIgnoreCase);
        foreach (var (from, to) in config.CommandRenames)
        {
            names.Remove(from);
            if (to.Length > 0) names.Add(to);
        }
        return names;
    }

    /// <summary>The strerror text Valkey would print for a failed open.</summary>
    public static string ErrnoText(Exception e) => e switch
    {
        UnauthorizedAccessException => "Permission denied",
        FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
        _ when e.Message.Contains("Is a directory", StringComparison.OrdinalIgnoreCase) => "Is a directory",
        _ => e.Message,
    };
}
