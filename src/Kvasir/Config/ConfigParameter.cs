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
    /// <summary>The directive takes several arguments in the config file (e.g. save, bind).</summary>
    MultiArg = 16,
}

/// <summary>
/// One configuration parameter: its name (and aliases such as slaveof/replicaof), how to read
/// its current value as CONFIG GET shows it, and how to validate and apply a new value. Setters
/// return null on success or the reason the value was refused.
/// </summary>
public sealed class ConfigParameter
{
    public required string Name { get; init; }
    public string[] Aliases { get; init; } = Array.Empty<string>();
    public ConfigFlags Flags { get; init; }
    public required Func<string> Get { get; init; }
    public required Func<string, string?> Set { get; init; }
    public string DefaultValue { get; set; } = "";

    /// <summary>Runs after a successful CONFIG SET (rebinding a port, resizing a structure...).</summary>
    public Action? Applied { get; init; }

    public bool Has(ConfigFlags f) => (Flags & f) != 0;
}
