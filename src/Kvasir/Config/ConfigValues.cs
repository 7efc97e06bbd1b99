using System.Globalization;

namespace Kvasir.Config;

/// <summary>Parsing and formatting of config values the way Valkey's config.c does.</summary>
public static class ConfigValues
{
    public static bool TryParseBool(string s, out bool value)
    {
        switch (s.ToLowerInvariant())
        {
            case "yes": value = true; return true;
            case "no": value = false; return true;
            default: value = false; return false;
        }
    }

    public static string FormatBool(bool v) => v ? "yes" : "no";

    /// <summary>Parses memory amounts: plain bytes or with k/kb/m/mb/g/gb (k = 1000, kb = 1024).</summary>
    public static bool TryParseMemory(string s, out long value)
    {
        value = 0;
        s = s.Trim().ToLowerInvariant();
        if (s.Length == 0) return false;
        long mul = 1;
        string num = s;
        (string suffix, long m)[] units = { ("kb", 1024), ("mb", 1024 * 1024), ("gb", 1024L * 1024 * 1024), ("k", 1000), ("m", 1000 * 1000), ("g", 1000L * 1000 * 1000), ("b", 1) };
        foreach (var (suffix, m) in units)
        {
            if (s.EndsWith(suffix, StringComparison.Ordinal))
            {
                mul = m;
                num = s[..^suffix.Length];
                break;
            }
        }
        if (!long.TryParse(num, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n)) return false;
        try { value = checked(n * mul); }
        catch (OverflowException) { return false; }
        return true;
    }

    public static bool TryParseLong(string s, out long value) =>
        long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>Formats bytes the way CONFIG GET shows memory values (plain bytes).</summary>
    public static string FormatMemory(long v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>"1.50M"-style human-readable bytes, as INFO's *_human fields.</summary>
    public static string HumanBytes(double n)
    {
        if (n < 1024) return $"{(long)n}B";
        string[] units = { "K", "M", "G", "T", "P", "E" };
        int i = -1;
        while (n >= 1024 && i < units.Length - 1)
        {
            n /= 1024;
            i++;
        }
        return n.ToString("0.00", CultureInfo.InvariantCulture) + units[i];
    }

    /// <summary>Splits a config-file line into arguments with Valkey's quoting rules.</summary>
    public static List<string>? SplitArgs(string line)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(line);
        var args = new Protocol.CommandArgs();
        args.Reset(bytes);
        if (!Protocol.InlineSplitter.Split(bytes, 0, bytes.Length, args)) return null;
        var list = new List<string>(args.Count);
        for (int i = 0; i < args.Count; i++) list.Add(args.ToString(i));
        return list;
    }
}
