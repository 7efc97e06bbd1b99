namespace Kvasir.Scripting;

/// <summary>
/// The server's function libraries (FUNCTION LOAD / FCALL), keyed by library name, and the script
/// engines that can compile them. No engine is registered yet: Lua arrives with the scripting
/// work, and until then FUNCTION LOAD fails exactly as a Valkey without that engine would
/// ("Engine 'lua' not found"), while FLUSH, LIST, STATS, DELETE work on the (empty) registry.
/// </summary>
public sealed class FunctionLibraries
{
    public sealed record Function(string Name, string? Description, string[] Flags);

    public sealed record Library(string Name, string Engine, string Code, IReadOnlyList<Function> Functions);

    private readonly SortedDictionary<string, Library> _libraries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Function> _functions = new(StringComparer.Ordinal);

    /// <summary>Engines by name (e.g. "LUA"); none yet.</summary>
    public IReadOnlyCollection<string> Engines { get; } = Array.Empty<string>();

    public IEnumerable<Library> All => _libraries.Values;

    public int Count => _libraries.Count;

    public int FunctionCount => _functions.Count;

    public Library? Find(string name) => _libraries.GetValueOrDefault(name);

    public Function? FindFunction(string name) => _functions.GetValueOrDefault(name);

    public void Clear()
    {
        _libraries.Clear();
        _functions.Clear();
    }

    public bool Delete(string name)
    {
        if (!_libraries.Remove(name, out var lib)) return false;
        foreach (var f in lib.Functions) _functions.Remove(f.Name);
        return true;
    }

    /// <summary>
    /// Validates the "#!engine name=lib" header of a library and hands the code to its engine.
    /// Returns the library name, or null with <paramref name="error"/> set.
    /// </summary>
    public string? Load(string code, bool replace, out string? error)
    {
        error = null;
        if (!code.StartsWith("#!", StringComparison.Ordinal))
        {
            error = "ERR Missing library metadata";
            return null;
        }
        int newline = code.IndexOf('\n');
        if (newline < 0)
        {
            error = "ERR Invalid library metadata";
            return null;
        }
        var parts = Config.ConfigValues.SplitArgs(code[..newline]);
        if (parts is null || parts.Count == 0)
        {
            error = "ERR Invalid library metadata";
            return null;
        }
        string engine = parts[0][2..];
        string? name = null;
        for (int i = 1; i < parts.Count; i++)
        {
            if (parts[i].StartsWith("name=", StringComparison.OrdinalIgnoreCase))
            {
                if (name is not null)
                {
                    error = "ERR Invalid metadata value, name argument was given multiple times";
                    return null;
                }
                name = parts[i][5..];
                continue;
            }
            error = "ERR Invalid metadata value given: " + parts[i];
            return null;
        }
        if (name is null)
        {
            error = "ERR Library name was not given";
            return null;
        }
        if (!IsValidName(name))
        {
            error = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
            return null;
        }
        // Compiling the code is the engine's job. No engine is registered yet, so every library
        // that gets this far is refused the way Valkey refuses an unknown engine.
        _ = replace;
        error = $"ERR Engine '{engine}' not found";
        return null;
    }

    public static bool IsValidName(string name)
    {
        if (name.Length == 0) return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_')) return false;
        return true;
    }
}
