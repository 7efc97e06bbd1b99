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
    // Every command by its original name: ACL rules name commands as Valkey knows them, whatever
    // rename-command did, and commands Kvasir does not implement yet still have a place in them.
    private readonly Dictionary<string, CommandDefinition> _original = new(StringComparer.OrdinalIgnoreCase);
    private int _nextId;
    // Open-addressing index over the ASCII names, probed with the raw request bytes: every command
    // starts with this lookup, and hashing a case-insensitive string key cost ~1.5% of a pipelined
    // SADD. Rebuilt after a rename.
    private (byte[] Name, CommandDefinition Def)[] _index = [];
    private int _indexMask;
    // Catalog commands this server's mode leaves out (Valkey's populateCommandStructure): binding
    // one of them is not an error, it just has no effect.
    private readonly HashSet<string> _otherMode = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The command table of a data node or, with <paramref name="sentinelMode"/>, of a Sentinel: a
    /// Sentinel only has the commands flagged "sentinel" (and, of a container, only such subcommands),
    /// a data node never the "only_sentinel" ones.
    /// </summary>
    public CommandTable(bool sentinelMode = false)
    {
        SentinelMode = sentinelMode;
        foreach (var def in CommandCatalog.Load())
        {
            if (!ExistsInMode(def))
            {
                _otherMode.Add(def.Name);
                if (def.Subcommands is not null)
                    foreach (var sub in def.Subcommands.Values) _otherMode.Add(sub.Name);
                continue;
            }
            if (def.Subcommands is not null)
                foreach (var sub in def.Subcommands.Values.ToList())
                    if (!ExistsInMode(sub))
                    {
                        def.Subcommands.Remove(sub.ShortName);
                        _otherMode.Add(sub.Name);
                    }
            _all[def.Name] = def;
            _original[def.Name] = def;
            AssignIds(def);
        }
        BuildIndex();
    }

    /// <summary>True for the table of a server running in Sentinel mode.</summary>
    public bool SentinelMode { get; }

    private bool ExistsInMode(CommandDefinition def) =>
        SentinelMode ? def.Has(CommandFlags.Sentinel) : !def.Has(CommandFlags.OnlySentinel);

    private void BuildIndex()
    {
        int size = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(16, _all.Count * 4));
        var index = new (byte[] Name, CommandDefinition Def)[size];
        foreach (var (name, def) in _all)
        {
            var bytes = Encoding.ASCII.GetBytes(name.ToLowerInvariant());
            int slot = (int)(NameHash(bytes) & (uint)(size - 1));
            while (index[slot].Name is not null) slot = (slot + 1) & (size - 1);
            index[slot] = (bytes, def);
        }
        _index = index;
        _indexMask = size - 1;
    }

    private static uint NameHash(ReadOnlySpan<byte> name)
    {
        uint h = 2166136261;
        foreach (byte b in name) h = (h ^ (uint)(b | 0x20)) * 16777619;
        return h;
    }

    private void AssignIds(CommandDefinition def)
    {
        def.Id = _nextId++;
        def.AclCategoryMask = Security.AclCategories.MaskOf(def);
        if (def.Subcommands is null) return;
        foreach (var s in def.Subcommands.Values) AssignIds(s);
    }

    /// <summary>Binds a handler to a command, or to a subcommand with "container|sub".</summary>
    public void Bind(string name, CommandHandler handler)
    {
        var def = FindByFullName(name);
        if (def is null && _otherMode.Contains(name)) return;
        if (def is null) throw new InvalidOperationException($"'{name}' is not in the command catalog");
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
        BuildIndex();
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
        var index = _index;
        int slot = (int)(NameHash(name) & (uint)_indexMask);
        while (index[slot].Name is { } candidate)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(candidate, name))
                return index[slot].Def.Handler is not null ? index[slot].Def : null;
            slot = (slot + 1) & _indexMask;
        }
        return null;
    }

    /// <summary>Number of command ids given out (commands and subcommands): the size of ACL command bitmaps.</summary>
    public int IdCount => _nextId;

    /// <summary>Every top-level command of the catalog under its original name, implemented or not.</summary>
    public IEnumerable<CommandDefinition> Original => _original.Values;

    /// <summary>
    /// A command or "container|subcommand" by its original name, implemented or not (Valkey's
    /// ACLLookupCommand): one level of subcommands only; a name with a '|' must name a subcommand.
    /// </summary>
    public CommandDefinition? FindOriginal(string name)
    {
        int bar = name.IndexOf('|');
        if (bar < 0) return _original.GetValueOrDefault(name);
        if (name.IndexOf('|', bar + 1) >= 0) return null;
        var parent = _original.GetValueOrDefault(name[..bar]);
        return parent?.Subcommands?.GetValueOrDefault(name[(bar + 1)..]);
    }

    /// <summary>Implemented top-level commands.</summary>
    public IEnumerable<CommandDefinition> Implemented => _all.Values.Where(d => d.Handler is not null);

    /// <summary>Implemented subcommands of a container.</summary>
    public static IEnumerable<CommandDefinition> ImplementedSubcommands(CommandDefinition def) =>
        def.Subcommands?.Values.Where(s => s.Handler is not null) ?? Enumerable.Empty<CommandDefinition>();

    public static string Upper(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s).ToUpperInvariant();
}
