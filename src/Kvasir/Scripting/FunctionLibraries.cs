namespace Kvasir.Scripting;

/// <summary>
/// The server's function libraries (FUNCTION LOAD / FCALL), keyed by library name, and the index
/// of their functions by function name. Compiling and running is the script host's job (one Lua
/// engine, "LUA", as in Valkey); this registry only keeps what was loaded.
/// </summary>
public sealed class FunctionLibraries
{
    public sealed class Function
    {
        public required string Name;
        public string? Description;
        public required string[] FlagNames;
        public ScriptFlags Flags;
        /// <summary>The callback's reference in the functions Lua state.</summary>
        public int Ref;
        public Library Library = null!;
    }

    public sealed record Library(string Name, string Engine, string Code, IReadOnlyList<Function> Functions);

    public const string LuaEngineName = "LUA";

    public delegate string? LibraryLoader(string code, bool replace, out string? error);

    /// <summary>Compiles and registers a library (set by the script host).</summary>
    public LibraryLoader? LoadHandler { get; set; }

    /// <summary>FUNCTION LOAD, and libraries read from an RDB: the library name, or null with the error.</summary>
    public string? Load(string code, bool replace, out string? error)
    {
        if (LoadHandler is not null) return LoadHandler(code, replace, out error);
        error = "ERR Engine 'LUA' not found";
        return null;
    }

    private readonly SortedDictionary<string, Library> _libraries = new(StringComparer.Ordinal);
    // Function names are case-insensitive (FCALL TEST finds "test"), as Valkey's functions dict.
    private readonly Dictionary<string, Function> _functions = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Engines by name, as FUNCTION STATS lists them.</summary>
    public IReadOnlyCollection<string> Engines { get; } = new[] { LuaEngineName };

    public IEnumerable<Library> All => _libraries.Values;

    public int Count => _libraries.Count;

    public int FunctionCount => _functions.Count;

    /// <summary>Library code bytes plus per-function bookkeeping (INFO used_memory_functions).</summary>
    public long Memory { get; private set; }

    public Library? Find(string name) => _libraries.GetValueOrDefault(name);

    public Function? FindFunction(string name) => _functions.GetValueOrDefault(name);

    internal IEnumerable<Library> Clear()
    {
        var removed = _libraries.Values.ToList();
        _libraries.Clear();
        _functions.Clear();
        Memory = 0;
        return removed;
    }

    internal Library? Remove(string name)
    {
        if (!_libraries.Remove(name, out var lib)) return null;
        foreach (var f in lib.Functions) _functions.Remove(f.Name);
        Memory -= LibraryMemory(lib);
        return lib;
    }

    internal void Add(Library lib)
    {
        _libraries[lib.Name] = lib;
        foreach (var f in lib.Functions)
        {
            f.Library = lib;
            _functions[f.Name] = f;
        }
        Memory += LibraryMemory(lib);
    }

    private static long LibraryMemory(Library lib) => lib.Code.Length + lib.Name.Length + 64 + lib.Functions.Count * 96L;

    /// <summary>
    /// Reads the "#!engine name=lib" first line of a library (Valkey's functionExtractLibMetaData).
    /// Returns false with the error; on success the code to compile keeps the line break of the
    /// header so line numbers stay the user's.
    /// </summary>
    public static bool TryParseMetadata(string code, out string engine, out string name, out string body, out string? error)
    {
        engine = name = body = "";
        error = null;
        if (!code.StartsWith("#!", StringComparison.Ordinal))
        {
            error = "ERR Missing library metadata";
            return false;
        }
        int newline = code.IndexOf('\n');
        if (newline < 0)
        {
            error = "ERR Invalid library metadata";
            return false;
        }
        var parts = Config.ConfigValues.SplitArgs(code[..newline]);
        if (parts is null || parts.Count == 0)
        {
            error = "ERR Invalid library metadata";
            return false;
        }
        engine = parts[0][2..];
        string? libName = null;
        for (int i = 1; i < parts.Count; i++)
        {
            if (parts[i].StartsWith("name=", StringComparison.OrdinalIgnoreCase))
            {
                if (libName is not null)
                {
                    error = "ERR Invalid metadata value, name argument was given multiple times";
                    return false;
                }
                libName = parts[i][5..];
                continue;
            }
            error = "ERR Invalid metadata value given: " + parts[i];
            return false;
        }
        if (libName is null)
        {
            error = "ERR Library name was not given";
            return false;
        }
        name = libName;
        body = code[newline..];
        return true;
    }

    public static bool IsValidName(string name)
    {
        if (name.Length == 0) return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c == '_')) return false;
        return true;
    }
}
