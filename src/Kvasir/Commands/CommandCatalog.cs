using System.Reflection;
using System.Text.Json;

namespace Kvasir.Commands;

/// <summary>
/// Loads the command facts (Catalog/commands.json, derived from a real Valkey by
/// tools/gen-command-catalog.py) into <see cref="CommandDefinition"/>s.
/// </summary>
public static class CommandCatalog
{
    private static readonly Lazy<JsonDocument> Document = new(() =>
    {
        using var stream = typeof(CommandCatalog).Assembly.GetManifestResourceStream("Kvasir.Commands.Catalog.commands.json")
            ?? throw new InvalidOperationException("command catalog resource missing");
        return JsonDocument.Parse(stream);
    });

    public static List<CommandDefinition> Load()
    {
        var list = new List<CommandDefinition>();
        foreach (var e in Document.Value.RootElement.EnumerateArray())
            list.Add(Build(e, null));
        return list;
    }

    private static CommandDefinition Build(JsonElement e, CommandDefinition? parent)
    {
        string[] Strings(string name) => e.TryGetProperty(name, out var a) ? a.EnumerateArray().Select(x => x.GetString()!).ToArray() : Array.Empty<string>();
        var flagNames = Strings("flags");
        var flags = CommandFlags.None;
        foreach (var f in flagNames) flags |= CommandFlagNames.Parse(f);
        string name = e.GetProperty("name").GetString()!;
        // Flags COMMAND INFO does not show (protected, may_replicate, touches_arbitrary_keys) still drive
        // the dispatcher and propagation; they are kept apart so COMMAND INFO stays as Valkey's.
        foreach (var f in Strings("hiddenFlags")) flags |= CommandFlagNames.Parse(f);
        var specsJson = e.GetProperty("keySpecs");
        var def = new CommandDefinition
        {
            Name = name,
            Arity = e.GetProperty("arity").GetInt32(),
            FlagNames = flagNames,
            Flags = flags,
            FirstKey = e.GetProperty("first").GetInt32(),
            LastKey = e.GetProperty("last").GetInt32(),
            KeyStep = e.GetProperty("step").GetInt32(),
            AclCategories = Strings("acl"),
            Tips = Strings("tips"),
            KeySpecs = specsJson.EnumerateArray().Select(KeySpec.FromJson).ToArray(),
            KeySpecsJson = specsJson.Clone(),
            Group = e.TryGetProperty("group", out var g) ? g.GetString()! : "generic",
            Since = e.TryGetProperty("since", out var s) ? s.GetString() : null,
            DeprecatedSince = e.TryGetProperty("deprecated_since", out var d) ? d.GetString() : null,
            DocFlags = Strings("doc_flags"),
            Arguments = e.TryGetProperty("arguments", out var a) ? a.Clone() : null,
            Parent = parent,
        };
        if (e.TryGetProperty("subcommands", out var subs))
        {
            def.Subcommands = new Dictionary<string, CommandDefinition>(StringComparer.OrdinalIgnoreCase);
            foreach (var se in subs.EnumerateArray())
            {
                var sub = Build(se, def);
                def.Subcommands[sub.ShortName] = sub;
            }
        }
        return def;
    }
}
