using System.Text.Json;

namespace Kvasir.Commands;

public delegate void CommandHandler(CommandContext ctx);

/// <summary>
/// Everything the server knows about one command or subcommand: the facts from the catalog
/// (arity, flags, keys, ACL categories, docs structure) and the handler that runs it. COMMAND,
/// COMMAND GETKEYS, the dispatcher's checks, ACL and INFO commandstats all read this one object.
/// </summary>
public sealed class CommandDefinition
{
    public required string Name { get; init; }           // "get", "config|get"
    public required int Arity { get; init; }
    public required string[] FlagNames { get; init; }
    public required CommandFlags Flags { get; init; }
    public required int FirstKey { get; init; }
    public required int LastKey { get; init; }
    public required int KeyStep { get; init; }
    public required string[] AclCategories { get; init; }
    public required string[] Tips { get; init; }
    public required KeySpec[] KeySpecs { get; init; }
    public required JsonElement KeySpecsJson { get; init; }
    public string Group { get; init; } = "generic";
    public string? Since { get; init; }
    public string? DeprecatedSince { get; init; }
    public string[] DocFlags { get; init; } = Array.Empty<string>();
    public JsonElement? Arguments { get; init; }
    public CommandDefinition? Parent { get; init; }
    public Dictionary<string, CommandDefinition>? Subcommands { get; set; }

    /// <summary>Null while the command is not implemented: it then answers as an unknown command.</summary>
    public CommandHandler? Handler { get; set; }

    /// <summary>The command's own key-finding routine (Valkey's getkeys_proc), once resolved by CommandKeys.</summary>
    internal CommandKeys.KeysProc? KeysRoutine;
    internal bool KeysRoutineResolved;

    /// <summary>Position of this command in the table, used by ACL bitmaps.</summary>
    public int Id { get; set; }

    /// <summary>The ACL category bits of <see cref="AclCategories"/> (see Security/AclCategories).</summary>
    public ulong AclCategoryMask { get; set; }

    /// <summary>The name without the container prefix ("get" for "config|get").</summary>
    public string ShortName => Parent is null ? Name : Name[(Name.IndexOf('|') + 1)..];

    public bool IsContainer => Subcommands is { Count: > 0 };

    public bool Has(CommandFlags flag) => (Flags & flag) != 0;

    // INFO commandstats / latencystats counters.
    public long Calls;
    public long Microseconds;
    public long RejectedCalls;
    public long FailedCalls;

    /// <summary>Latency distribution (INFO latencystats, LATENCY HISTOGRAM); null until the first call while latency-tracking is on.</summary>
    public Observability.LatencyHistogram? LatencyHistogram;

    public void ResetStats()
    {
        Calls = Microseconds = RejectedCalls = FailedCalls = 0;
        LatencyHistogram = null;
        if (Subcommands is not null)
            foreach (var s in Subcommands.Values) s.ResetStats();
    }
}
