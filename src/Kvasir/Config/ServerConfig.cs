using System.Globalization;

namespace Kvasir.Config;

/// <summary>
/// The server's configuration: typed fields that the rest of the code reads directly (no lookups
/// on hot paths), and a registry of <see cref="ConfigParameter"/>s that CONFIG GET/SET/REWRITE and
/// the config-file parser go through. Parameters are registered in ConfigRegistry.cs.
/// </summary>
public sealed partial class ServerConfig
{
    private readonly Dictionary<string, ConfigParameter> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<ConfigParameter> _parameters = new();

    // ----- network -----
    public int Port = 6379;
    public string[] Bind = { "*", "-::*" };
    public bool ProtectedMode = true;
    public int TcpBacklog = 511;
    public int TcpKeepAlive = 300;
    public string UnixSocket = "";
    public int UnixSocketPerm;
    public int Timeout;
    public int MaxClients = 10000;
    public long ProtoMaxBulkLen = 512L * 1024 * 1024;
    public long ClientQueryBufferLimit = 1024L * 1024 * 1024;
    public int IoThreads = 1;

    // ----- general -----
    public int Databases = 16;
    public int Hz = 10;
    public bool DynamicHz = true;
    public string Dir = Directory.GetCurrentDirectory();
    public string DbFilename = "dump.rdb";
    public bool Daemonize;
    public string PidFile = "";
    public string LogFile = "";
    public string LogLevel = "notice";
    public string RequirePass = "";
    public string EnableDebugCommand = "no";
    public string EnableProtectedConfigs = "no";
    public string EnableModuleCommand = "no";

    // ----- observability -----
    public long SlowlogLogSlowerThan = 10000;
    public int SlowlogMaxLen = 128;
    public long LatencyMonitorThreshold;
    public bool LatencyTracking = true;

    // ----- memory -----
    public long MaxMemory;
    public string MaxMemoryPolicy = "noeviction";
    public int MaxMemorySamples = 5;
    public int LfuLogFactor = 10;
    public int LfuDecayTime = 1;
    public int ActiveExpireEffort = 1;

    /// <summary>Path of the config file given at startup ("" when none), for INFO and CONFIG REWRITE.</summary>
    public string ConfigFile = "";

    /// <summary>Raised after a parameter changed through CONFIG SET (name as registered).</summary>
    public event Action<string>? Changed;

    public ServerConfig()
    {
        RegisterAll();
        RegisterHashZset();
        foreach (var p in _parameters) p.DefaultValue = p.Get();
    }

    public IReadOnlyList<ConfigParameter> Parameters => _parameters;

    public ConfigParameter? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Applies a value. Returns null on success or the reason it was refused.</summary>
    public string? Set(string name, string value, bool atStartup)
    {
        var p = Find(name);
        if (p is null) return "Unknown option or number of arguments for CONFIG SET - '" + name + "'";
        if (!atStartup && p.Has(ConfigFlags.Immutable)) return "can't set immutable config";
        if (!atStartup && p.Has(ConfigFlags.Protected) && EnableProtectedConfigs == "no")
            return "can't set protected config";
        string? error = p.Set(value);
        if (error is null && !atStartup)
        {
            p.Applied?.Invoke();
            Changed?.Invoke(p.Name);
        }
        return error;
    }

    private void Add(ConfigParameter p)
    {
        _parameters.Add(p);
        _byName[p.Name] = p;
        foreach (var a in p.Aliases) _byName[a] = p;
    }

    // ----- registration helpers -----

    private void Bool(string name, Func<bool> get, Action<bool> set, ConfigFlags flags = ConfigFlags.None, string[]? aliases = null, Action? applied = null) =>
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = aliases ?? Array.Empty<string>(),
            Flags = flags,
            Get = () => ConfigValues.FormatBool(get()),
            Set = v =>
            {
                if (!ConfigValues.TryParseBool(v, out bool b)) return "argument must be 'yes' or 'no'";
                set(b);
                return null;
            },
            Applied = applied,
        });

    private void Long(string name, Func<long> get, Action<long> set, long min, long max, ConfigFlags flags = ConfigFlags.None, bool memory = false, string[]? aliases = null, Action? applied = null) =>
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = aliases ?? Array.Empty<string>(),
            Flags = flags,
            Get = () => get().ToString(CultureInfo.InvariantCulture),
            Set = v =>
            {
                long n;
                if (memory ? !ConfigValues.TryParseMemory(v, out n) : !ConfigValues.TryParseLong(v, out n))
                    return memory ? "argument must be a memory value" : "argument couldn't be parsed into an integer";
                if (n < min || n > max) return $"argument must be between {min} and {max} inclusive";
                set(n);
                return null;
            },
            Applied = applied,
        });

    private void Int(string name, Func<int> get, Action<int> set, int min, int max, ConfigFlags flags = ConfigFlags.None, string[]? aliases = null, Action? applied = null) =>
        Long(name, () => get(), v => set((int)v), min, max, flags, false, aliases, applied);

    private void Enum(string name, Func<string> get, Action<string> set, string[] values, ConfigFlags flags = ConfigFlags.None, string[]? aliases = null, Action? applied = null) =>
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = aliases ?? Array.Empty<string>(),
            Flags = flags,
            Get = get,
            Set = v =>
            {
                var lower = v.ToLowerInvariant();
                if (Array.IndexOf(values, lower) < 0) return "argument(s) must be one of the following: " + string.Join(", ", values);
                set(lower);
                return null;
            },
            Applied = applied,
        });

    private void String(string name, Func<string> get, Action<string> set, ConfigFlags flags = ConfigFlags.None, string[]? aliases = null, Func<string, string?>? validate = null, Action? applied = null) =>
        Add(new ConfigParameter
        {
            Name = name,
            Aliases = aliases ?? Array.Empty<string>(),
            Flags = flags,
            Get = get,
            Set = v =>
            {
                var err = validate?.Invoke(v);
                if (err is not null) return err;
                set(v);
                return null;
            },
            Applied = applied,
        });

    private void Special(string name, Func<string> get, Func<string, string?> set, ConfigFlags flags = ConfigFlags.None, string[]? aliases = null, Action? applied = null) =>
        Add(new ConfigParameter { Name = name, Aliases = aliases ?? Array.Empty<string>(), Flags = flags, Get = get, Set = set, Applied = applied });
}
