namespace Kvasir.Config;

[Flags]
public enum ConfigFlags
{
    None = 0,
    /// <summary>Only settable at startup (config file or command line); CONFIG SET refuses it.</summary>
    Immutable = 1,
    /// <summary>Value is secret: never logged.</summary>
    Sensitive = 2,
    /// <summary>Not matched by CONFIG GET patterns, only by its exact name (test knobs).</summary>
    Hidden = 4,
    /// <summary>Settable at runtime only when enable-protected-configs allows it.</summary>
    Protected = 8,
    /// <summary>The directive takes several arguments (save, bind, client-output-buffer-limit...).</summary>
    MultiArg = 16,
    /// <summary>CONFIG SET refuses it with -LOADING while a dataset is being loaded.</summary>
    DenyLoading = 32,
    /// <summary>Setting the same value again still counts as a change (files that may have changed on disk).</summary>
    Volatile = 64,
    /// <summary>Shown in debug/crash reports (Valkey's DEBUG_CONFIG).</summary>
    Debug = 128,
    /// <summary>Accepted, validated, stored and shown, but Kvasir does not act on it yet (see docs/CONFIG.md).</summary>
    StoredOnly = 256,
}

public enum ConfigType { Bool, Numeric, Enum, String, Special }

/// <summary>
/// One configuration parameter: its name (and alias, such as slaveof for replicaof), how to read
/// its current value as CONFIG GET shows it, how to validate and store a new value, how CONFIG
/// REWRITE writes it, and what must happen in the running server after CONFIG SET changed it.
/// </summary>
public sealed class ConfigParameter
{
    public required string Name { get; init; }
    public string[] Aliases { get; init; } = Array.Empty<string>();
    public ConfigFlags Flags { get; init; }
    public ConfigType Type { get; init; }

    /// <summary>The value as CONFIG GET shows it.</summary>
    public required Func<string> Get { get; init; }

    /// <summary>Validates and stores a value given as separate arguments (as a config file line has
    /// them); returns null on success or the reason it was refused. Nothing is stored on failure.</summary>
    public required Func<IReadOnlyList<string>, string?> SetArgs { get; init; }

    /// <summary>Writes this parameter's line(s) into a CONFIG REWRITE; the string is the name to write.</summary>
    public required Action<ConfigRewriteState, string> Rewrite { get; init; }

    /// <summary>
    /// Runs after CONFIG SET changed the value (rebinding a listener...). Returns null or the error
    /// that makes CONFIG SET roll every parameter back. Parameters sharing one delegate run it once.
    /// </summary>
    public Func<KvasirServer, string?>? Apply { get; init; }

    /// <summary>The compiled default, as CONFIG GET shows it.</summary>
    public string DefaultValue { get; set; } = "";

    public bool Has(ConfigFlags f) => (Flags & f) != 0;

    /// <summary>
    /// Sets from one string as CONFIG SET receives it: a multi-argument parameter's value is split on
    /// single spaces first (Valkey does not apply quoting rules there).
    /// </summary>
    public string? Set(string value) =>
        Has(ConfigFlags.MultiArg) ? SetArgs(ConfigValues.SplitOnSpaces(value)) : SetArgs(new[] { value });
}
