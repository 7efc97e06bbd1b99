using System.Text;

namespace Kvasir.Config;

public enum CommandLineAction { Run, Version, Help, TestMemory, CheckSystem }

/// <summary>What the server's command line asks for.</summary>
public sealed class CommandLineOptions
{
    public CommandLineAction Action { get; init; }

    /// <summary>Absolute path of the config file (the first argument when it does not start with '-').</summary>
    public string? ConfigFile { get; init; }

    /// <summary>"-" as the first or last argument: more config is read from stdin.</summary>
    public bool ConfigFromStdin { get; init; }

    /// <summary>The "--name value" options as config text, one directive per line, loaded after the file.</summary>
    public string Options { get; init; } = "";

    /// <summary>--sentinel was given (Sentinel mode, which Kvasir does not implement).</summary>
    public bool SentinelMode { get; init; }

    /// <summary>The argument of --test-memory.</summary>
    public string? TestMemoryArgument { get; init; }
}

/// <summary>
/// valkey-server's command line: <c>[/path/to/valkey.conf] [--directive value ...] [-]</c>.
/// Each "--name" starts a directive; the words after it, up to the next "--name", are its
/// arguments (quoted so they survive as single arguments). A value may itself start with "--"
/// when it directly follows a name that has no value yet ("--proc-title-template --x"), and a
/// single word may carry name and value together ("--maxmemory 700mb").
/// </summary>
public static class CommandLine
{
    public static CommandLineOptions Parse(IReadOnlyList<string> args, string? workingDirectory = null)
    {
        bool sentinel = args.Any(a => a == "--sentinel");
        if (args.Count == 0) return new CommandLineOptions { Action = CommandLineAction.Run, SentinelMode = sentinel };

        string first = args[0];
        if (first is "-v" or "--version") return new CommandLineOptions { Action = CommandLineAction.Version };
        if (first is "--help" or "-h") return new CommandLineOptions { Action = CommandLineAction.Help };
        if (first == "--test-memory")
            return new CommandLineOptions { Action = CommandLineAction.TestMemory, TestMemoryArgument = args.Count == 2 ? args[1] : null };
        if (first == "--check-system") return new CommandLineOptions { Action = CommandLineAction.CheckSystem };

        int j = 0;
        string? configFile = null;
        if (first.Length == 0 || first[0] != '-')
        {
            configFile = Path.GetFullPath(first, workingDirectory ?? Directory.GetCurrentDirectory());
            j = 1;
        }

        var options = new StringBuilder();
        bool fromStdin = false;
        // False right after a "--name" with no value yet: the next word is its value even if it starts with "--".
        bool lastHasValue = true;
        for (; j < args.Count; j++)
        {
            string a = args[j];
            if (a == "-" && (j == 0 || j == args.Count - 1))
            {
                fromStdin = true;
            }
            else if (lastHasValue && a.StartsWith("--", StringComparison.Ordinal))
            {
                if (options.Length > 0) options.Append('\n');
                options.Append(a, 2, a.Length - 2).Append(' ');
                var words = ConfigValues.SplitArgs(a);
                if (words is { Count: 1 })
                {
                    lastHasValue = false;
                    bool nextIsName = j != args.Count - 1 && args[j + 1].StartsWith("--", StringComparison.Ordinal);
                    bool isLast = j == args.Count - 1;
                    if (string.Equals(a, "--save", StringComparison.OrdinalIgnoreCase) && (nextIsName || isLast))
                    {
                        // "--save" followed by another option, or last: an empty save, as before Valkey 7.0.1.
                        options.Append("\"\"");
                        lastHasValue = nextIsName;
                    }
                    else if (string.Equals(a, "--sentinel", StringComparison.OrdinalIgnoreCase) && nextIsName)
                    {
                        lastHasValue = true;
                    }
                }
                else
                {
                    lastHasValue = true;
                }
            }
            else
            {
                options.Append(ConfigValues.Repr(a)).Append(' ');
                lastHasValue = true;
            }
        }
        return new CommandLineOptions
        {
            Action = CommandLineAction.Run,
            ConfigFile = configFile,
            ConfigFromStdin = fromStdin,
            Options = options.ToString(),
            SentinelMode = sentinel,
        };
    }

    public static string Usage(string program = "./kvasir-server") =>
        $"""
        Usage: {program} [/path/to/valkey.conf] [options] [-]
               {program} - (read config from stdin)
               {program} -v or --version
               {program} -h or --help

        Examples:
               {program} (run the server with default conf)
               echo 'maxmemory 128mb' | {program} -
               {program} /etc/valkey/6379.conf
               {program} --port 7777
               {program} --port 7777 --replicaof 127.0.0.1 8888
               {program} /etc/myvalkey.conf --loglevel verbose -
               {program} /etc/myvalkey.conf --loglevel verbose

        """;
}
