using System.Globalization;
using System.Text;
using Kvasir.Config;

namespace Kvasir.Persistence.Aof;

/// <summary>The kind of a file listed in the manifest: base, history (to delete), incremental.</summary>
public enum AofFileType
{
    Base = 'b',
    History = 'h',
    Incr = 'i',
}

/// <summary>One line of the manifest: <c>file NAME seq N type T</c>.</summary>
public sealed record AofFileInfo(string Name, long Seq, AofFileType Type);

/// <summary>Thrown when a manifest cannot be read; the server must not start (Valkey exits).</summary>
public sealed class AofManifestException(string message, int line, string? text) : Exception(message)
{
    public int Line { get; } = line;
    public string? Text { get; } = text;
}

/// <summary>
/// The multi-part AOF manifest (Valkey 7+): at most one BASE file, then HISTORY files waiting to be
/// deleted, then the INCR files in the order they must be replayed. File names follow Valkey's rules
/// (<c>appendonly.aof.2.base.rdb</c>, <c>appendonly.aof.3.incr.aof</c>), so a directory written by
/// either server loads in the other. Instances are edited as copies and swapped in only once the new
/// manifest is on disk, like Valkey's aofManifestDup / aofManifestFreeAndUpdate.
/// </summary>
public sealed class AofManifest
{
    public const string BaseSuffix = ".base";
    public const string IncrSuffix = ".incr";
    public const string RdbSuffix = ".rdb";
    public const string AofSuffix = ".aof";
    public const string ManifestSuffix = ".manifest";
    public const string TempPrefix = "temp-";
    private const int MaxLine = 1024;

    public AofFileInfo? Base { get; set; }
    public List<AofFileInfo> History { get; } = new();
    public List<AofFileInfo> Incrs { get; } = new();
    public long CurrentBaseSeq { get; set; }
    public long CurrentIncrSeq { get; set; }

    /// <summary>Changed since it was last written to disk.</summary>
    public bool Dirty { get; set; }

    public AofManifest Clone()
    {
        var copy = new AofManifest { Base = Base, CurrentBaseSeq = CurrentBaseSeq, CurrentIncrSeq = CurrentIncrSeq, Dirty = Dirty };
        copy.History.AddRange(History);
        copy.Incrs.AddRange(Incrs);
        return copy;
    }

    public static string ManifestName(string appendFilename) => appendFilename + ManifestSuffix;
    public static string TempManifestName(string appendFilename) => TempPrefix + appendFilename + ManifestSuffix;

    /// <summary>The file INCR data accumulates in while AOF is being turned on (not yet in the manifest).</summary>
    public static string TempIncrName(string appendFilename) => TempPrefix + appendFilename + IncrSuffix;

    /// <summary>Makes a new BASE the current one; the previous BASE becomes the first HISTORY file.</summary>
    public string NewBase(string appendFilename, bool rdbPreamble)
    {
        if (Base is not null) History.Insert(0, Base with { Type = AofFileType.History });
        long seq = ++CurrentBaseSeq;
        string name = $"{appendFilename}.{seq.ToString(CultureInfo.InvariantCulture)}{BaseSuffix}{(rdbPreamble ? RdbSuffix : AofSuffix)}";
        Base = new AofFileInfo(name, seq, AofFileType.Base);
        Dirty = true;
        return name;
    }

    /// <summary>Appends a new INCR file name to the list.</summary>
    public string NewIncr(string appendFilename)
    {
        long seq = ++CurrentIncrSeq;
        string name = $"{appendFilename}.{seq.ToString(CultureInfo.InvariantCulture)}{IncrSuffix}{AofSuffix}";
        Incrs.Add(new AofFileInfo(name, seq, AofFileType.Incr));
        Dirty = true;
        return name;
    }

    /// <summary>The INCR file writes go to: the last one, or a new one when there is none.</summary>
    public string LastIncrOrNew(string appendFilename) =>
        Incrs.Count == 0 ? NewIncr(appendFilename) : Incrs[^1].Name;

    /// <summary>
    /// After a successful rewrite the INCR files the new BASE covers become HISTORY; with AOF on, the
    /// last one is the file being written and stays.
    /// </summary>
    public void MarkRewrittenIncrsAsHistory(bool keepLast)
    {
        int keep = keepLast && Incrs.Count > 0 ? 1 : 0;
        // Valkey walks the list from the tail and inserts each at the head of the history list, so
        // the history keeps the INCR order.
        for (int i = Incrs.Count - 1 - keep; i >= 0; i--)
            History.Insert(0, Incrs[i] with { Type = AofFileType.History });
        Incrs.RemoveRange(0, Incrs.Count - keep);
        Dirty = true;
    }

    /// <summary>The manifest text: BASE, HISTORY, INCR lines (Valkey's getAofManifestAsString).</summary>
    public string Format()
    {
        var sb = new StringBuilder();
        if (Base is not null) FormatLine(sb, Base);
        foreach (var h in History) FormatLine(sb, h);
        foreach (var i in Incrs) FormatLine(sb, i);
        return sb.ToString();
    }

    private static void FormatLine(StringBuilder sb, AofFileInfo info)
    {
        string name = NeedsRepr(info.Name) ? ConfigValues.Repr(info.Name) : info.Name;
        sb.Append("file ").Append(name).Append(" seq ").Append(info.Seq.ToString(CultureInfo.InvariantCulture))
          .Append(" type ").Append((char)info.Type).Append('\n');
    }

    private static bool NeedsRepr(string s)
    {
        foreach (char c in s)
            if (c is '\\' or '"' or < (char)33 or > (char)126) return true;
        return false;
    }

    /// <summary>Parses a manifest with Valkey's checks; errors carry the line for the fatal report.</summary>
    public static AofManifest Parse(string text)
    {
        var m = new AofManifest();
        long maxSeq = 0;
        int lineNo = 0;
        int pos = 0;
        while (pos < text.Length)
        {
            int nl = text.IndexOf('\n', pos);
            string raw = nl < 0 ? text[pos..] : text[pos..nl];
            pos = nl < 0 ? text.Length : nl + 1;
            lineNo++;
            if (raw.StartsWith('#')) continue;
            if (nl < 0 || raw.Length + 1 > MaxLine)
            {
                // fgets without a newline: a line longer than the buffer (a last line without one is accepted by Valkey
                // only if it fits; its check is strchr('\n'), so a missing final newline is refused too).
                throw new AofManifestException("The AOF manifest file contains too long line", lineNo, null);
            }
            string line = raw.Trim(' ', '\t', '\r', '\n');
            if (line.Length == 0) throw new AofManifestException("Invalid AOF manifest file format", lineNo, line);
            var argv = ConfigValues.SplitArgs(line);
            if (argv is null || argv.Count < 6 || argv.Count % 2 != 0)
                throw new AofManifestException("Invalid AOF manifest file format", lineNo, line);
            string? name = null;
            long seq = 0;
            char type = '\0';
            for (int i = 0; i < argv.Count; i += 2)
            {
                string key = argv[i], value = argv[i + 1];
                if (key.Equals("file", StringComparison.OrdinalIgnoreCase))
                {
                    name = value;
                    if (name.Contains('/') || name.Contains('\\'))
                        throw new AofManifestException("File can't be a path, just a filename", lineNo, line);
                }
                else if (key.Equals("seq", StringComparison.OrdinalIgnoreCase)) seq = AtoLL(value);
                else if (key.Equals("type", StringComparison.OrdinalIgnoreCase)) type = value.Length > 0 ? value[0] : '\0';
            }
            if (name is null || seq == 0 || type == '\0')
                throw new AofManifestException("Invalid AOF manifest file format", lineNo, line);
            switch (type)
            {
                case 'b':
                    if (m.Base is not null) throw new AofManifestException("Found duplicate base file information", lineNo, line);
                    m.Base = new AofFileInfo(name, seq, AofFileType.Base);
                    m.CurrentBaseSeq = seq;
                    break;
                case 'h':
                    m.History.Add(new AofFileInfo(name, seq, AofFileType.History));
                    break;
                case 'i':
                    if (seq <= maxSeq) throw new AofManifestException("Found a non-monotonic sequence number", lineNo, line);
                    m.Incrs.Add(new AofFileInfo(name, seq, AofFileType.Incr));
                    m.CurrentIncrSeq = seq;
                    maxSeq = seq;
                    break;
                default:
                    throw new AofManifestException("Unknown AOF file type", lineNo, line);
            }
        }
        if (lineNo == 0) throw new AofManifestException("Found an empty AOF manifest", 0, null);
        return m;
    }

    /// <summary>atoll: leading blanks, optional sign, digits; anything else ends the number.</summary>
    private static long AtoLL(string s)
    {
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        bool neg = false;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
        long v = 0;
        while (i < s.Length && s[i] >= '0' && s[i] <= '9') v = unchecked(v * 10 + (s[i++] - '0'));
        return neg ? -v : v;
    }
}
