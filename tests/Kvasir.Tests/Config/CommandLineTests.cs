using Kvasir.Config;

namespace Kvasir.Tests.Config;

/// <summary>valkey-server's argv handling (the cases of Valkey's introspection tests).</summary>
public sealed class CommandLineTests
{
    private static ServerConfig Run(params string[] args)
    {
        var cl = CommandLine.Parse(args, "/tmp");
        var c = new ServerConfig();
        ConfigFileParser.Load(c, null, null, cl.Options);
        return c;
    }

    private static string Fails(params string[] args)
    {
        var cl = CommandLine.Parse(args, "/tmp");
        var e = Assert.Throws<ConfigLoadException>(() => ConfigFileParser.Load(new ServerConfig(), null, null, cl.Options));
        return e.Report;
    }

    [Fact]
    public void SpecialFirstArguments()
    {
        Assert.Equal(CommandLineAction.Version, CommandLine.Parse(new[] { "-v" }).Action);
        Assert.Equal(CommandLineAction.Version, CommandLine.Parse(new[] { "--version" }).Action);
        Assert.Equal(CommandLineAction.Help, CommandLine.Parse(new[] { "-h" }).Action);
        Assert.Equal(CommandLineAction.Help, CommandLine.Parse(new[] { "--help" }).Action);
        Assert.Equal(CommandLineAction.CheckSystem, CommandLine.Parse(new[] { "--check-system" }).Action);
        Assert.Equal(CommandLineAction.Run, CommandLine.Parse(Array.Empty<string>()).Action);
        // Only as the first argument.
        Assert.Equal(CommandLineAction.Run, CommandLine.Parse(new[] { "--port", "1", "--version" }).Action);
    }

    [Fact]
    public void FirstArgumentNotStartingWithDashIsTheConfigFile()
    {
        var cl = CommandLine.Parse(new[] { "conf/valkey.conf", "--port", "7000" }, "/srv");
        Assert.Equal("/srv/conf/valkey.conf", cl.ConfigFile);
        Assert.Equal("port \"7000\" ", cl.Options);
        Assert.Null(CommandLine.Parse(new[] { "--port", "7000" }).ConfigFile);
    }

    [Fact]
    public void DashReadsStdinOnlyFirstOrLast()
    {
        Assert.True(CommandLine.Parse(new[] { "-" }).ConfigFromStdin);
        Assert.True(CommandLine.Parse(new[] { "a.conf", "--port", "1", "-" }).ConfigFromStdin);
        var middle = CommandLine.Parse(new[] { "--port", "-", "--hz", "5" });
        Assert.False(middle.ConfigFromStdin);
        Assert.Equal("port \"-\" \nhz \"5\" ", middle.Options);
    }

    [Fact]
    public void OptionsBecomeConfigLines()
    {
        var c = Run("--port", "7000", "--bind", "127.0.0.1", "::1", "--save", "60", "1");
        Assert.Equal(7000, c.Port);
        Assert.Equal(new[] { "127.0.0.1", "::1" }, c.Bind);
        Assert.Equal("60 1", c.Find("save")!.Get());
    }

    [Fact]
    public void NameAndValueInOneArgument()
    {
        var c = Run("--maxmemory 700mb", "--maxmemory-policy volatile-lru");
        Assert.Equal(734003200, c.MaxMemory);
        Assert.Equal("volatile-lru", c.MaxMemoryPolicy);

        // After the config file, words before the first --option form a line of their own.
        var quoted = Run("valkey.conf", "loglevel", "verbose", "--maxmemory '700mb'", "--maxmemory-policy 'volatile-lru'");
        Assert.Equal("verbose", quoted.LogLevel);
        Assert.Equal(734003200, quoted.MaxMemory);
        Assert.Equal("volatile-lru", quoted.MaxMemoryPolicy);
    }

    [Fact]
    public void ValueMayStartWithDashesRightAfterItsName()
    {
        var c = Run("--proc-title-template", "--my--title--template", "--loglevel", "verbose");
        Assert.Equal("--my--title--template", c.ProcTitleTemplate);
        Assert.Equal("verbose", c.LogLevel);

        var joined = Run("--proc-title-template --my--title--template", "--loglevel verbose");
        Assert.Equal("--my--title--template", joined.ProcTitleTemplate);
    }

    [Theory]
    [InlineData("--save|--loglevel|verbose")]
    [InlineData("--loglevel|verbose|--save")]
    [InlineData("--save||--loglevel|verbose")]
    [InlineData("--loglevel|verbose|--save|")]
    public void SaveWithoutValueMeansNoSavePoints(string joined)
    {
        var c = Run(joined.Split('|'));
        Assert.Equal("", c.Find("save")!.Get());
        Assert.Equal("verbose", c.LogLevel);
    }

    [Fact]
    public void SaveAsAValue()
    {
        var c = Run("--proc-title-template", "--save", "--save", "", "--loglevel", "verbose");
        Assert.Equal("--save", c.ProcTitleTemplate);
        Assert.Equal("", c.Find("save")!.Get());
        Assert.Equal("verbose", c.LogLevel);
    }

    [Fact]
    public void MultiArgumentOptionAsWordsOrOneString()
    {
        var c = Run("--shutdown-on-sigint", "nosave", "force", "now", "--shutdown-on-sigterm", "nosave force");
        Assert.Equal("nosave now force", c.Find("shutdown-on-sigint")!.Get());
        Assert.Equal("nosave force", c.Find("shutdown-on-sigterm")!.Get());
    }

    [Theory]
    [InlineData(new[] { "--invalid" }, "'invalid'", "Bad directive or wrong number of arguments")]
    [InlineData(new[] { "--port" }, "'port'", "wrong number of arguments")]
    [InlineData(new[] { "--port", "6380", "--loglevel" }, "'loglevel'", "wrong number of arguments")]
    [InlineData(new[] { "--port", "6379", "6380" }, "'port \"6379\" \"6380\"'", "wrong number of arguments")]
    [InlineData(new[] { "--port", "--loglevel", "verbose" }, "'port \"--loglevel\" \"verbose\"'", "wrong number of arguments")]
    [InlineData(new[] { "--port", "--bla", "--loglevel", "verbose" }, "'port \"--bla\"'", "argument couldn't be parsed into an integer")]
    [InlineData(new[] { "--logfile", "--my--log--file", "--loglevel", "--bla" }, "'loglevel \"--bla\"'", "argument(s) must be one of the following")]
    [InlineData(new[] { "--shutdown-on-sigint" }, "'shutdown-on-sigint'", "argument(s) must be one of the following")]
    [InlineData(new[] { "--shutdown-on-sigint", "now force", "--shutdown-on-sigterm" }, "'shutdown-on-sigterm'", "argument(s) must be one of the following")]
    [InlineData(new[] { "--replicaof", "127.0.0.1", "abc" }, "'replicaof \"127.0.0.1\" \"abc\"'", "Invalid primary port")]
    [InlineData(new[] { "--replicaof", "--127.0.0.1", "abc" }, "'replicaof \"--127.0.0.1\" \"abc\"'", "Invalid primary port")]
    [InlineData(new[] { "--replicaof", "--127.0.0.1", "--abc" }, "'replicaof \"--127.0.0.1\"'", "wrong number of arguments")]
    public void ErrorsNameTheGeneratedLine(string[] args, string line, string reason)
    {
        string report = Fails(args);
        Assert.Contains(">>> " + line + "\n", report);
        Assert.Contains(reason, report);
    }

    [Fact]
    public void OptionsStartOnTheLineAfterTheFile()
    {
        // Without a file the options text follows an empty first line, so errors point at line 2.
        Assert.Contains("at line 2\n", Fails("--port"));
        Assert.Contains("at line 3\n", Fails("--hz", "5", "--port"));
    }

    [Fact]
    public void ValuesAreQuotedSoSpacesAndQuotesSurvive()
    {
        var cl = CommandLine.Parse(new[] { "--masterauth", "a \"b\" c\n" });
        Assert.Equal("masterauth \"a \\\"b\\\" c\\n\" ", cl.Options);
        var c = new ServerConfig();
        ConfigFileParser.Load(c, null, null, cl.Options);
        Assert.Equal("a \"b\" c\n", c.PrimaryAuth);
    }

    [Fact]
    public void SentinelIsDetectedAnywhere()
    {
        Assert.True(CommandLine.Parse(new[] { "s.conf", "--sentinel" }).SentinelMode);
        Assert.False(CommandLine.Parse(new[] { "s.conf" }).SentinelMode);
    }
}
