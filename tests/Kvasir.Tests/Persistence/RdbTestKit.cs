using System.Globalization;
using System.Text;
using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Observability;
using Kvasir.Persistence;
using Kvasir.Types;

namespace Kvasir.Tests.Persistence;

/// <summary>Databases to load into, the fixture files, and a readable dump of what was loaded.</summary>
internal sealed class RdbTestKit
{
    public RdbTestKit(ServerConfig? config = null, int databases = 16)
    {
        Config = config ?? new ServerConfig();
        Keyspace = new KeyspaceContext { NowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
        Databases = new Database[databases];
        for (int i = 0; i < databases; i++) Databases[i] = new Database(i, Keyspace);
    }

    public ServerConfig Config { get; }
    public KeyspaceContext Keyspace { get; }
    public Database[] Databases { get; }
    public void Log(LogLevel level, string line)
    {
        lock (LogLines) LogLines.Add(line);
    }
    public List<string> LogLines { get; } = new();

    public RdbLoadOptions Options(bool dropExpired = true, bool verifyChecksum = true) => new()
    {
        Values = new ServerValueFactory(Config),
        Log = Log,
        NowMs = Keyspace.NowMs,
        DropExpiredKeys = dropExpired,
        VerifyChecksum = verifyChecksum,
    };

    public RdbLoadResult Load(byte[] payload, RdbLoadOptions? options = null) =>
        new RdbLoader(Databases, options ?? Options()).Load(new MemoryStream(payload));

    public byte[] Save(RdbWriteOptions? options = null)
    {
        var ms = new MemoryStream();
        RdbWriter.Write(ms, Databases, options);
        return ms.ToArray();
    }

    public bool Logged(string fragment)
    {
        lock (LogLines) return LogLines.Any(l => l.Contains(fragment, StringComparison.Ordinal));
    }

    /// <summary>
    /// The directory of RDB files written by real servers: shared/reference/rdb next to the repository
    /// (../shared), or next to one of its parents (a worktree in a subfolder of where the checkout lives).
    /// </summary>
    public static string FixtureDir
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kvasir.slnx"))) dir = dir.Parent;
            Assert.True(dir is not null, "repository root (Kvasir.slnx) not found above " + AppContext.BaseDirectory);
            string first = Path.GetFullPath(Path.Combine(dir!.FullName, "..", "shared", "reference", "rdb"));
            for (var up = dir.Parent; up is not null; up = up.Parent)
            {
                string path = Path.Combine(up.FullName, "shared", "reference", "rdb");
                if (Directory.Exists(path)) return path;
            }
            // The fixtures live beside the repository in the project's workspace, not in a clone.
            Assert.Skip($"needs the RDB files written by real servers in ../shared/reference/rdb ({first} is absent)");
            return first;
        }
    }

    public static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(FixtureDir, name));

    /// <summary>
    /// One line per key, sorted: "db key type encoding ttl=…: elements". Set members and hash pairs
    /// are sorted (their order is not part of the value); lists and sorted sets keep theirs.
    /// </summary>
    public List<string> Dump(int db = -1)
    {
        var lines = new List<string>();
        foreach (var d in Databases)
        {
            if (db >= 0 && d.Index != db) continue;
            for (int idx = 0; idx < d.IndexLimit; idx++)
            {
                if (!d.IsOccupied(idx)) continue;
                string key = Encoding.UTF8.GetString(d.KeyAt(idx));
                var type = d.TypeAt(idx);
                string enc = DataTypeNames.EncodingName(d.EncodingAt(idx));
                long expire = d.GetExpireAt(idx);
                string body = type == DataType.String
                    ? Encoding.UTF8.GetString(d.StringAt(idx))
                    : string.Join(" ", Elements(d.ObjectAt(idx)!));
                lines.Add($"db{d.Index} {key} {Encoding.ASCII.GetString(DataTypeNames.TypeName(type))} {enc}{(expire >= 0 ? " expire=" + expire : "")}: {body}");
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    public static List<string> Elements(IDataValue value)
    {
        var v = new Collector();
        ((IElementSource)value).VisitElements(v);
        if (value.Type is DataType.Set or DataType.Hash) v.Items.Sort(StringComparer.Ordinal);
        return v.Items;
    }

    private sealed class Collector : IElementVisitor
    {
        public List<string> Items { get; } = new();

        public void Element(ReadOnlySpan<byte> value) => Items.Add(Encoding.UTF8.GetString(value));

        public void Element(long value) => Items.Add(value.ToString(CultureInfo.InvariantCulture));

        public void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value) =>
            Items.Add(Encoding.UTF8.GetString(field) + "=" + Encoding.UTF8.GetString(value));

        public void Scored(ReadOnlySpan<byte> member, double score)
        {
            Span<byte> text = stackalloc byte[40];
            int n = NumberFormat.FormatDouble(score, text);
            Items.Add(Encoding.UTF8.GetString(member) + ":" + Encoding.ASCII.GetString(text.Slice(0, n)));
        }
    }
}
