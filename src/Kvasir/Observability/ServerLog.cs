using System.Diagnostics;
using System.Globalization;

namespace Kvasir.Observability;

public enum LogLevel { Debug = 0, Verbose = 1, Notice = 2, Warning = 3, Nothing = 4 }

/// <summary>
/// Log lines in Valkey's format, "pid:role dd Mon yyyy hh:mm:ss.mmm level-char message"
/// ('.' debug, '-' verbose, '*' notice, '#' warning), to stdout or the configured logfile.
/// </summary>
public sealed class ServerLog
{
    private readonly object _gate = new();
    private TextWriter _writer = Console.Out;
    private readonly int _pid = Environment.ProcessId;

    public LogLevel Level { get; set; } = LogLevel.Notice;

    /// <summary>'M' primary, 'S' replica, 'C' child, 'X' sentinel.</summary>
    public char Role { get; set; } = 'M';

    /// <summary>Extra sink (tests capture log lines here).</summary>
    public Action<string>? Sink { get; set; }

    public void UseFile(string path)
    {
        if (string.IsNullOrEmpty(path)) return;
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        _writer = new StreamWriter(stream) { AutoFlush = true };
    }

    public static LogLevel ParseLevel(string s) => s switch
    {
        "debug" => LogLevel.Debug,
        "verbose" => LogLevel.Verbose,
        "warning" => LogLevel.Warning,
        "nothing" => LogLevel.Nothing,
        _ => LogLevel.Notice,
    };

    public void Debug(string message) => Write(LogLevel.Debug, message);
    public void Verbose(string message) => Write(LogLevel.Verbose, message);
    public void Notice(string message) => Write(LogLevel.Notice, message);
    public void Warning(string message) => Write(LogLevel.Warning, message);

    /// <summary>Writes text without the pid/time/level prefix (the startup banner).</summary>
    public void WriteRaw(LogLevel level, string text)
    {
        if (level < Level || Level == LogLevel.Nothing) return;
        lock (_gate)
        {
            try { _writer.Write(text); _writer.Flush(); }
            catch (IOException) { }
            catch (ObjectDisposedException) { }
        }
        Sink?.Invoke(text);
    }

    public void Write(LogLevel level, string message)
    {
        if (level < Level || Level == LogLevel.Nothing) return;
        char mark = level switch { LogLevel.Debug => '.', LogLevel.Verbose => '-', LogLevel.Notice => '*', _ => '#' };
        var now = DateTime.Now;
        string line = $"{_pid}:{Role} {now.ToString("dd MMM yyyy HH:mm:ss.fff", CultureInfo.InvariantCulture)} {mark} {message}";
        lock (_gate)
        {
            try { _writer.WriteLine(line); }
            catch (IOException) { }
            catch (ObjectDisposedException) { }
        }
        Sink?.Invoke(line);
    }
}
