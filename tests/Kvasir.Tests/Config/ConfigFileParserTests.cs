using Kvasir.Config;

namespace Kvasir.Tests.Config;

/// <summary>valkey.conf syntax, as a real Valkey reads the same text.</summary>
public sealed class ConfigFileParserTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "kvasir-conf-" + Guid.NewGuid().ToString("N"));

    public ConfigFileParserTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static ServerConfig Load(string text)
    {
        var c = new ServerConfig();
        ConfigFileParser.LoadFromString(c, text);
        return c;
    }

    private static string Fatal(string text)
    {
        var e = Assert.Throws<ConfigLoadException>(() => Load(text));
        Assert.False(e.IsLogLine);
        return e.Report;
    }

    [Fact]
    public void CommentsBlankLinesIndentationAndCaseAreAccepted()
    {
        var c = Load("# a comment\n\n   \t\n  PORT 7000  \r\nMaxMemory 10mb\n   # indented comment\nloglevel WARNING\n");
        Assert.Equal(7000, c.Port);
        Assert.Equal(10L * 1024 * 1024, c.MaxMemory);
        Assert.Equal("warning", c.LogLevel);
    }

    [Fact]
    public void QuotedValuesKeepSpacesAndEscapes()
    {
        var c = Load("logfile \"\"\nproc-title-template \"{title} x\"\nmasterauth 'it\\'s'\nreplica-announce-ip \"a\\x41\\tb\"\n");
        Assert.Equal("", c.LogFile);
        Assert.Equal("{title} x", c.ProcTitleTemplate);
        Assert.Equal("it's", c.PrimaryAuth);
        Assert.Equal("aA\tb", c.ReplicaAnnounceIp);
    }

    [Fact]
    public void DefaultsAreValkeysCompiledDefaults()
    {
        var c = new ServerConfig();
        Assert.Equal("3600 1 300 100 60 10000", c.Find("save")!.Get());
        Assert.Equal("* -::*", c.Find("bind")!.Get());
        Assert.Equal("yes", c.Find("protected-mode")!.Get());
        Assert.Equal("no", c.Find("daemonize")!.Get());
        Assert.Equal("no", c.Find("appendonly")!.Get());
        Assert.Equal(Directory.GetCurrentDirectory(), c.Find("dir")!.Get());
        Assert.Equal("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", c.Find("client-output-buffer-limit")!.Get());
        Assert.Equal("0 200 800", c.Find("oom-score-adj-values")!.Get());
        Assert.Equal("50 99 99.9", c.Find("latency-tracking-info-percentiles")!.Get());
        Assert.Equal("", c.Find("notify-keyspace-events")!.Get());
        Assert.Equal("536870912", c.Find("proto-max-bulk-len")!.Get());
        Assert.Equal("-2", c.Find("list-max-ziplist-size")!.Get());
        Assert.Equal("default", c.Find("shutdown-on-sigterm")!.Get());
        Assert.Equal("0", c.Find("unixsocketperm")!.Get());
        Assert.Equal("{title} {listen-addr} {server-mode}", c.Find("proc-title-template")!.Get());
    }

    [Fact]
    public void EveryValkeyParameterIsRegistered()
    {
        var c = new ServerConfig();
        // What CONFIG GET * shows on Valkey 8.1 (190 visible parameters plus 25 aliases), plus Kvasir's metrics-port and metrics-bind.
        int visible = c.Names.Count(n => !n.Parameter.Has(ConfigFlags.Hidden));
        Assert.Equal(217, visible);
        foreach (var hidden in new[] { "key-load-delay", "rdb-key-save-delay", "use-exit-on-panic", "watchdog-period", "debug-context",
                     "loading-process-events-interval-bytes", "cluster-ping-interval", "aof-disable-auto-gc", "enable-debug-assert" })
            Assert.True(c.Find(hidden)!.Has(ConfigFlags.Hidden), hidden);
        Assert.Same(c.Find("replicaof"), c.Find("slaveof"));
        Assert.Same(c.Find("primaryauth"), c.Find("masterauth"));
        Assert.Same(c.Find("hash-max-listpack-entries"), c.Find("hash-max-ziplist-entries"));
        Assert.Same(c.Find("busy-reply-threshold"), c.Find("lua-time-limit"));
    }

    [Fact]
    public void MultiArgumentDirectivesTakeWordsOrOneQuotedString()
    {
        var c = Load("save 100 1 200 2\nbind 127.0.0.1 ::1\nshutdown-on-sigint \"nosave now\"\n");
        Assert.Equal("100 1 200 2", c.Find("save")!.Get());
        Assert.Equal(new[] { "127.0.0.1", "::1" }, c.Bind);
        Assert.Equal(ShutdownFlags.NoSave | ShutdownFlags.Now, c.ShutdownOnSigint);
        Assert.Equal("nosave now", c.Find("shutdown-on-sigint")!.Get());
    }

    [Fact]
    public void SaveLinesReplaceTheDefaultsThenAddUp()
    {
        Assert.Equal("900 1 300 10", Load("save 900 1\nsave 300 10\n").Find("save")!.Get());
        Assert.Equal("", Load("save \"\"\n").Find("save")!.Get());
        Assert.Equal("60 5", Load("save 900 1\nsave \"\"\nsave 60 5\n").Find("save")!.Get());
        Assert.Equal("3600 1 300 100 60 10000", Load("port 7000\n").Find("save")!.Get());
    }

    [Fact]
    public void RepeatedClientOutputBufferLimitLinesSetTheirOwnClass()
    {
        var c = Load("client-output-buffer-limit normal 1mb 512kb 10\nclient-output-buffer-limit replica 0 0 0\n");
        Assert.Equal("normal 1048576 524288 10 slave 0 0 0 pubsub 33554432 8388608 60", c.Find("client-output-buffer-limit")!.Get());
    }

    [Fact]
    public void LaterLinesWinAndAliasesSetTheSameParameter()
    {
        var c = Load("port 1\nport 2\nslaveof 10.0.0.1 6380\nslave-read-only no\n");
        Assert.Equal(2, c.Port);
        Assert.Equal("10.0.0.1", c.ReplicaOfHost);
        Assert.Equal(6380, c.ReplicaOfPort);
        Assert.False(c.ReplicaReadOnly);
    }

    [Fact]
    public void BadDirectiveReportsTheLineLikeValkey()
    {
        string report = Fatal("port 7000\n# comment\nfoo bar\n");
        Assert.Equal(
            $"\n*** FATAL CONFIG FILE ERROR (Version {ConfigFileParser.Version}) ***\n" +
            "Reading the configuration file, at line 3\n" +
            ">>> 'foo bar'\n" +
            "Bad directive or wrong number of arguments\n", report);
    }

    [Theory]
    [InlineData("port", "wrong number of arguments")]
    [InlineData("port 1 2", "wrong number of arguments")]
    [InlineData("port abc", "argument couldn't be parsed into an integer")]
    [InlineData("port 70000", "argument must be between 0 and 65535 inclusive")]
    [InlineData("maxmemory 10xb", "argument must be a memory value")]
    [InlineData("appendonly maybe", "argument must be 'yes' or 'no'")]
    [InlineData("save 10", "Invalid save parameters")]
    [InlineData("save 0 1", "Invalid save parameters")]
    [InlineData("unixsocketperm 999", "argument couldn't be parsed as an octal number")]
    [InlineData("unixsocketperm 1777", "argument must be between 0 and 777 inclusive")]
    [InlineData("maxclients -1", "argument must be between 1 and 4294967295 inclusive")]
    [InlineData("maxmemory-clients 200%", "percentage argument must be less or equal to 100")]
    [InlineData("notify-keyspace-events KEq", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")]
    [InlineData("dbfilename dir/dump.rdb", "dbfilename can't be a path, just a filename")]
    [InlineData("replicaof host abc", "Invalid primary port")]
    [InlineData("shutdown-on-sigterm save nosave", "shutdown options SAVE and NOSAVE can't be used simultaneously")]
    [InlineData("client-output-buffer-limit normal 1 2", "Wrong number of arguments in buffer limit configuration.")]
    [InlineData("client-output-buffer-limit master 1 2 3", "Invalid client class specified in buffer limit configuration.")]
    [InlineData("oom-score-adj-values 1 2 3000", "Invalid oom-score-adj-values, elements must be between -2000 and 2000.")]
    [InlineData("latency-tracking-info-percentiles 50 101", "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]")]
    [InlineData("loglevel loud", "argument(s) must be one of the following: debug, verbose, notice, warning, nothing")]
    [InlineData("dir \"\"", "dir can't be empty")]
    [InlineData("include", "Bad directive or wrong number of arguments")]
    [InlineData("save \"1 2\" 3", "Invalid save parameters")]
    [InlineData("port \"7000", "Unbalanced quotes in configuration line")]
    [InlineData("port \"7000\"x", "Unbalanced quotes in configuration line")]
    [InlineData("mymodule.option 1", "Module Configuration detected without loadmodule directive or no ApplyConfig call: aborting")]
    [InlineData("mymodule.option", "Module config specified without value")]
    [InlineData("sentinel monitor m 127.0.0.1 6379 2", "sentinel directive while not in sentinel mode")]
    [InlineData("rename-command NOSUCHCOMMAND foo", "No such command in rename-command")]
    [InlineData("rename-command GET SET", "Target command name already exists")]
    public void InvalidValuesStopLoadingWithValkeysReason(string line, string reason)
    {
        string report = Fatal("# first\n" + line + "\n");
        Assert.Contains("Reading the configuration file, at line 2\n", report);
        Assert.Contains($">>> '{line}'\n", report);
        Assert.EndsWith(reason + "\n", report);
    }

    [Fact]
    public void LoadmoduleLinesAreRefusedClearly() =>
        Assert.Contains("Kvasir cannot load Valkey modules", Fatal("loadmodule /usr/lib/valkey/module.so\n"));

    [Fact]
    public void UserLinesAreKeptForTheAclAndCheckedAsValkeyDoes()
    {
        var c = Load("user alice on >pw ~* +@all\nuser bob (+get ~k*) +nosuchcommand\n");
        Assert.Equal(new[] { "alice", "on", ">pw", "~*", "+@all" }, c.UserLines[0]);
        Assert.Equal("bob", c.UserLines[1][0]);
        Assert.EndsWith("Error in user declaration 'alice': Duplicate user found. A user can only be defined once in config files\n",
            Fatal("user alice on\nuser alice off\n"));
        Assert.Contains("Syntax error", Fatal("user carol on %X~k\n"));
    }

    [Fact]
    public void DeprecatedDirectivesAreIgnored()
    {
        var c = Load("list-max-ziplist-entries 512\nlua-replicate-commands yes\nio-threads-do-reads yes\nsentinel\n");
        Assert.Equal(6379, c.Port);
    }

    [Fact]
    public void IncludeReadsAnotherFileWithItsOwnLineNumbers()
    {
        string inc = Path.Combine(_dir, "inc.conf");
        File.WriteAllText(inc, "port 7001\nhz 20\n");
        var c = Load($"port 7000\ninclude {inc}\nmaxclients 5\n");
        Assert.Equal(7001, c.Port);
        Assert.Equal(20, c.Hz);
        Assert.Equal(5, c.MaxClients);

        File.WriteAllText(inc, "# x\n# y\nbogus 1\n");
        string report = Fatal($"include {inc}\n");
        Assert.Contains("at line 3\n>>> 'bogus 1'", report);
    }

    [Fact]
    public void IncludeGlobLoadsMatchingFilesInOrderAndToleratesNoMatch()
    {
        string confd = Path.Combine(_dir, "conf.d");
        Directory.CreateDirectory(confd);
        File.WriteAllText(Path.Combine(confd, "20-b.conf"), "port 7020\n");
        File.WriteAllText(Path.Combine(confd, "10-a.conf"), "port 7010\nhz 30\n");
        File.WriteAllText(Path.Combine(confd, "notes.txt"), "garbage\n");
        File.WriteAllText(Path.Combine(confd, ".hidden.conf"), "garbage\n");
        var c = Load($"include {confd}/*.conf\n");
        Assert.Equal(7020, c.Port);
        Assert.Equal(30, c.Hz);

        var empty = Load($"include {_dir}/nothing-here/*.conf\nport 7100\n");
        Assert.Equal(7100, empty.Port);
    }

    [Fact]
    public void MissingFileIsAFatalLogLine()
    {
        var c = new ServerConfig();
        var e = Assert.Throws<ConfigLoadException>(() => ConfigFileParser.Load(c, Path.Combine(_dir, "missing.conf"), null, null));
        Assert.True(e.IsLogLine);
        Assert.Equal($"Fatal error, can't open config file '{Path.Combine(_dir, "missing.conf")}': No such file or directory", e.Report);

        var inc = Assert.Throws<ConfigLoadException>(() => Load($"include {_dir}/missing.conf\n"));
        Assert.True(inc.IsLogLine);
    }

    [Fact]
    public void FileThenStdinThenOptionsAreOneText()
    {
        string file = Path.Combine(_dir, "a.conf");
        File.WriteAllText(file, "port 7000\nsave 900 1");
        var c = new ServerConfig();
        ConfigFileParser.Load(c, file, "\nhz 40\n", "save 100 100");
        Assert.Equal(7000, c.Port);
        Assert.Equal(40, c.Hz);
        // The first save line replaces the defaults; the option adds to it (Valkey's behaviour).
        Assert.Equal("900 1 100 100", c.Find("save")!.Get());
    }

    [Fact]
    public void ErrorsAfterTheLastLineHaveNoLineNumber()
    {
        string report = Fatal("logfile /nonexistent-dir/x.log\n");
        Assert.Equal($"\n*** FATAL CONFIG FILE ERROR (Version {ConfigFileParser.Version}) ***\nCan't open the log file: No such file or directory\n", report);
        Assert.EndsWith("replicaof directive not allowed in cluster mode\n", Fatal("cluster-enabled yes\nreplicaof 127.0.0.1 6379\n"));
    }

    [Fact]
    public void HzOutOfRangeIsCapped()
    {
        Assert.Equal(500, Load("hz 100000\n").Hz);
        Assert.Equal(1, Load("hz 0\n").Hz);
    }

    [Fact]
    public void RenameCommandIsRecordedInOrder()
    {
        var c = Load("rename-command GET myget\nrename-command myget \"\"\nrename-command FLUSHALL \"\"\n");
        Assert.Equal(new[] { ("GET", "myget"), ("myget", ""), ("FLUSHALL", "") }, c.CommandRenames.ToArray());
    }

    [Fact]
    public void RandomInputNeverCrashesTheParser()
    {
        var rng = new Random(12345);
        const string alphabet = "abcdefghijklmnopqrstuvwxyz-_ 0123456789\"'\\\t#$%*?[]{}\n";
        for (int i = 0; i < 2000; i++)
        {
            var chars = new char[rng.Next(0, 60)];
            for (int j = 0; j < chars.Length; j++) chars[j] = alphabet[rng.Next(alphabet.Length)];
            string text = new(chars);
            // A random line may even name a real parameter: only a clean refusal or success is allowed.
            if (text.Contains("include", StringComparison.Ordinal) || text.Contains("dir", StringComparison.Ordinal) ||
                text.Contains("logfile", StringComparison.Ordinal)) continue;
            try { Load(text); }
            catch (ConfigLoadException) { }
        }
    }
}
