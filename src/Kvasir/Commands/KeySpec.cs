using System.Text.Json;
using Kvasir.Protocol;

namespace Kvasir.Commands;

/// <summary>
/// One key specification of a command (Valkey's key specs): where the search for keys begins
/// (a fixed index, or after a keyword) and how keys are found from there (a range, or a count
/// argument). COMMAND GETKEYS, COMMAND INFO, ACL key patterns and cluster routing all read these.
/// </summary>
public sealed class KeySpec
{
    public required string[] Flags { get; init; }
    public string? Notes { get; init; }

    // Facts the key finders test on every call (ACL checks each command's keys): computed once.
    public bool IsNotKey { get; private init; }
    public bool IsIncomplete { get; private init; }
    public bool HasVariableFlags { get; private init; }
    /// <summary>The keyword in upper case, as bytes (keyword begin-search only).</summary>
    public byte[]? KeywordBytes { get; private init; }

    // begin_search
    public required string BeginType { get; init; }   // "index", "keyword", "unknown"
    public int BeginIndex { get; init; }
    public string? Keyword { get; init; }
    public int KeywordStartFrom { get; init; }

    // find_keys
    public required string FindType { get; init; }    // "range", "keynum", "unknown"
    public int LastKey { get; init; }
    public int KeyStep { get; init; } = 1;
    public int Limit { get; init; }
    public int KeyNumIndex { get; init; }
    public int FirstKey { get; init; }

    public static KeySpec FromJson(JsonElement e)
    {
        var flags = e.TryGetProperty("flags", out var f) ? f.EnumerateArray().Select(x => x.GetString()!).ToArray() : Array.Empty<string>();
        var bs = e.GetProperty("begin_search");
        var fk = e.GetProperty("find_keys");
        string bt = bs.GetProperty("type").GetString()!;
        string ft = fk.GetProperty("type").GetString()!;
        var bspec = bs.TryGetProperty("spec", out var b) ? b : default;
        var fspec = fk.TryGetProperty("spec", out var k) ? k : default;
        int Int(JsonElement el, string name) => el.ValueKind == JsonValueKind.Object && el.TryGetProperty(name, out var v) ? v.GetInt32() : 0;
        return new KeySpec
        {
            Flags = flags,
            Notes = e.TryGetProperty("notes", out var n) ? n.GetString() : null,
            BeginType = bt,
            BeginIndex = Int(bspec, "index"),
            Keyword = bt == "keyword" ? bspec.GetProperty("keyword").GetString() : null,
            KeywordBytes = bt == "keyword" ? System.Text.Encoding.ASCII.GetBytes(bspec.GetProperty("keyword").GetString()!.ToUpperInvariant()) : null,
            IsNotKey = Array.IndexOf(flags, "not_key") >= 0,
            IsIncomplete = Array.IndexOf(flags, "incomplete") >= 0,
            HasVariableFlags = Array.IndexOf(flags, "variable_flags") >= 0,
            KeywordStartFrom = Int(bspec, "startfrom"),
            FindType = ft,
            LastKey = Int(fspec, "lastkey"),
            KeyStep = ft == "range" || ft == "keynum" ? Math.Max(1, Int(fspec, "keystep")) : 1,
            Limit = Int(fspec, "limit"),
            KeyNumIndex = Int(fspec, "keynumidx"),
            FirstKey = Int(fspec, "firstkey"),
        };
    }

    /// <summary>Adds the argument positions of the keys this spec finds in <paramref name="args"/>.
    /// Returns false when the arguments contradict the spec (e.g. a bad key count).</summary>
    public bool FindKeys(CommandArgs args, List<int> positions)
    {
        int argc = args.Count;
        int first;
        if (BeginType == "index")
        {
            first = BeginIndex;
        }
        else if (BeginType == "keyword")
        {
            first = 0;
            int startIndex = KeywordStartFrom > 0 ? KeywordStartFrom : argc + KeywordStartFrom;
            int endIndex = KeywordStartFrom > 0 ? argc - 1 : 1;
            var kw = System.Text.Encoding.ASCII.GetBytes(Keyword!.ToUpperInvariant());
            for (int i = startIndex; i != endIndex; i = startIndex <= endIndex ? i + 1 : i - 1)
            {
                if (i >= argc || i < 1) break;
                if (args.Is(i, kw)) { first = i + 1; break; }
            }
            if (first == 0) return true;
        }
        else return true;

        int last, step;
        if (FindType == "range")
        {
            step = KeyStep;
            if (LastKey >= 0) last = first + LastKey;
            else if (Limit == 0) last = argc + LastKey;
            else last = first + ((argc - first) / Limit + LastKey);
        }
        else if (FindType == "keynum")
        {
            step = KeyStep;
            int numIdx = first + KeyNumIndex;
            if (numIdx >= argc) return false;
            if (!Types.NumberParser.TryParseLong(args[numIdx], out long num) || num < 0) return false;
            first += FirstKey;
            long l = first + (num - 1) * step;
            if (l >= argc) return false;
            last = (int)l;
        }
        else return true;

        for (int i = first; i <= last; i += step)
        {
            if (i >= argc || i < first) return false;
            positions.Add(i);
        }
        return true;
    }
}
