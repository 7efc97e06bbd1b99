namespace Kvasir.Config;

/// <summary>Encoding thresholds of lists and sets (when small values stay packed, see ListValue and SetValue).</summary>
public sealed partial class ServerConfig
{
    /// <summary>Per-node limit of a list: negative = -1..-5 for 4/8/16/32/64 KB, positive = entries per node.</summary>
    public int ListMaxListpackSize = -2;

    /// <summary>Accepted and reported like Valkey's; nodes are not compressed.</summary>
    public int ListCompressDepth;

    public long SetMaxIntsetEntries = 512;
    public long SetMaxListpackEntries = 128;
    public long SetMaxListpackValue = 64;

    public Types.SetLimits SetLimits => new(SetMaxIntsetEntries, SetMaxListpackEntries, SetMaxListpackValue);

    private void RegisterListSetEncodings()
    {
        // Same names, ranges and aliases as Valkey's config.c; the ziplist name is the pre-7.0 alias.
        Int("list-max-listpack-size", () => ListMaxListpackSize, v => ListMaxListpackSize = v, int.MinValue, int.MaxValue,
            aliases: new[] { "list-max-ziplist-size" });
        Int("list-compress-depth", () => ListCompressDepth, v => ListCompressDepth = v, 0, int.MaxValue);
        Long("set-max-intset-entries", () => SetMaxIntsetEntries, v => SetMaxIntsetEntries = v, 0, long.MaxValue);
        Long("set-max-listpack-entries", () => SetMaxListpackEntries, v => SetMaxListpackEntries = v, 0, long.MaxValue);
        Long("set-max-listpack-value", () => SetMaxListpackValue, v => SetMaxListpackValue = v, 0, long.MaxValue);
    }
}
