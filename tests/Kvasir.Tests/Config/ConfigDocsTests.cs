using Kvasir.Config;

namespace Kvasir.Tests.Config;

/// <summary>docs/CONFIG.md lists every parameter with the status ConfigStatus gives it.</summary>
public sealed class ConfigDocsTests
{
    [Fact]
    public void EveryParameterHasARowWithItsStatus()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Kvasir.slnx"))) dir = dir.Parent;
        if (dir is null) Assert.Skip("repository root not found");
        var rows = File.ReadAllLines(Path.Combine(dir.FullName, "docs", "CONFIG.md"))
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal))
            .ToDictionary(l => l.Split('`')[1], l => l);

        var config = new ServerConfig();
        foreach (var p in config.Parameters)
        {
            Assert.True(rows.TryGetValue(p.Name, out var row), $"docs/CONFIG.md has no row for {p.Name}");
            bool implemented = ConfigStatus.IsImplemented(p.Name);
            Assert.True(row.Contains(implemented ? "| implemented:" : "| stored only |", StringComparison.Ordinal),
                $"{p.Name} should be {(implemented ? "implemented" : "stored only")} in docs/CONFIG.md");
        }
        Assert.Equal(config.Parameters.Count, rows.Count);
        foreach (var name in ConfigStatus.Implemented.Keys) Assert.NotNull(config.Find(name));
    }
}
