using System.Text;

namespace Kvasir.Commands;

/// <summary>
/// All commands by name. Built from the catalog; each command family binds its handlers with
/// <see cref="Bind"/>. Commands in the catalog without a handler answer as unknown commands and
/// are left out of COMMAND, so COMMAND tells the truth about what this server implements.
/// </summary>
public sealed class CommandTable
{
    private readonly Dictionary<string, CommandDefinition> _all = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, CommandDefinition>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private int _nextId;

    public CommandTable()
    {
        foreach (var def in CommandCatalog.Load())
        {
            _all[def.Name] = def;
            AssignIds(def);
        }
        _lookup = _all.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    private void AssignIds(CommandDefinition def)
    {
        def.Id = _nextId++;
        if (def.Subcommands is null) return;
        foreach (var s in def.Subcommands.Values) AssignIds(s);
    }

    /// <summary>Binds a handler to a command, or to a subcommand with "container|sub".</summary>
    public void Bind(string name, CommandHandler handler)
    {
        var def = FindByFullName(name) ?? throw new InvalidOperationException($"'{name}' is not in the command catalog");
        def.Handler = handler;
        // A container is implemented as soon as one of its subcommands is.
        if (def.Parent is not null && def.Parent.Handler is null) def.Parent.Handler = static _ => { };
    }

    /// <summary>
    /// rename-command: the command answers to a new name from now on, or to none when
    /// <paramref name="to"/> is empty. Its own name (error texts, COMMAND INFO) does not change.
    /// </summary>
    public void Rename(string from, string to)
    {
        if (!_all.Remove(from, out var def)) return;
        if (to.Length > 0) _all[to] = def;
    }

    public CommandDefinition? FindByFullName(string name)
    {
        int bar = name.IndexOf('|');
        if (bar < 0) return _all.GetValueOrDefault(name);
        var parent = _all.GetValueOrDefault(name[..bar]);
        return parent?.Subcommands?.GetValueOrDefault(name[(bar + 1)..]);
    }

    /// <summary>Finds an implemented top-level command by its raw name bytes (no allocation).</summary>
    public CommandDefinition? Find(ReadOnlySpan<byte> name)
    {
        if (name.Length == 0 || name.Length > 64) return null;
        Span<char> chars = stackalloc char[name.Length];
        for (int i = 0; i < name.Length; i++) chars[i] = (char)name[i];
        return _lookup.TryGetValue(chars, out var def) && def.Handler is not null ? def : null;
    }

    /// <summary>Implemented top-level commands.</summary>
    public IEnumerable<CommandDefinition> Implemented => _all.Values.Where(d => d.Handler is not null);

    /// <summary>Implemented subcommands of a container.</summary>
    public static IEnumerable<CommandDefinition> ImplementedSubcommands(CommandDefinition def) =>
        def.Subcommands?.Values.Where(s => s.Handler is not null) ?? Enumerable.Empty<CommandDefinition>();

    public static string Upper(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s).ToUpperInvariant();
}
