namespace Kvasir.Config;

/// <summary>Encoding thresholds of hashes and sorted sets (small ones stay packed "listpack" values).</summary>
public sealed partial class ServerConfig
{
    public long HashMaxListpackEntries = 512;
    public long HashMaxListpackValue = 64;
    public long ZsetMaxListpackEntries = 128;
    public long ZsetMaxListpackValue = 64;

    private void RegisterHashZset()
    {
        // Entry counts are plain integers and byte limits are memory values, as in Valkey's config.c;
        // the ziplist names are the pre-7.0 aliases.
        Long("hash-max-listpack-entries", () => HashMaxListpackEntries, v => HashMaxListpackEntries = v, 0, long.MaxValue,
            aliases: new[] { "hash-max-ziplist-entries" });
        Long("hash-max-listpack-value", () => HashMaxListpackValue, v => HashMaxListpackValue = v, 0, long.MaxValue,
            memory: true, aliases: new[] { "hash-max-ziplist-value" });
        Long("zset-max-listpack-entries", () => ZsetMaxListpackEntries, v => ZsetMaxListpackEntries = v, 0, long.MaxValue,
            aliases: new[] { "zset-max-ziplist-entries" });
        Long("zset-max-listpack-value", () => ZsetMaxListpackValue, v => ZsetMaxListpackValue = v, 0, long.MaxValue,
            memory: true, aliases: new[] { "zset-max-ziplist-value" });
    }
}
