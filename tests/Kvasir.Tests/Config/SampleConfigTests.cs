using Kvasir.Config;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Config;

/// <summary>packaging/kvasir.conf, the documented sample: it loads without a warning and means what it says.</summary>
public sealed class SampleConfigTests
{
    [Fact]
    public void SampleConfigLoadsCleanly()
    {
        string path = Path.Combine(ExternalProcess.RepositoryRoot(), "packaging", "kvasir.conf");
        var config = new ServerConfig();
        var warnings = new List<string>();
        ConfigFileParser.Load(config, path, null, null, warnings);
        Assert.Empty(warnings);
        Assert.Equal(["127.0.0.1", "-::1"], config.Bind);
        Assert.Equal(0, config.MetricsPort);
        Assert.Equal(["127.0.0.1", "-::1"], config.MetricsBind);
        Assert.Equal("auto", config.Supervised);
        Assert.Equal(0, config.MaxMemory);

        // The commented-out KVASIR example is valid too.
        Assert.Null(config.Set("maxmemory", "75%", atStartup: true));
        Assert.True(config.MaxMemory > 0);
    }
}
