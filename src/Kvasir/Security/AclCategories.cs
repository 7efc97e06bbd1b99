using Kvasir.Commands;

namespace Kvasir.Security;

/// <summary>
/// The ACL command categories (@read, @write, @admin...), in Valkey's order (ACL CAT lists them so,
/// COMMAND INFO shows a command's categories in this order), with one bit each.
/// </summary>
public static class AclCategories
{
    public static readonly string[] Names =
    {
        "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog",
        "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection",
        "transaction", "scripting",
    };

    /// <summary>The bit of a category name (case-insensitive, without the '@'), 0 when unknown.</summary>
    public static ulong Find(ReadOnlySpan<char> name)
    {
        for (int i = 0; i < Names.Length; i++)
            if (name.Equals(Names[i], StringComparison.OrdinalIgnoreCase)) return 1UL << i;
        return 0;
    }

    /// <summary>The category bits of a command, from the "@category" names of the catalog.</summary>
    public static ulong MaskOf(CommandDefinition cmd)
    {
        ulong mask = 0;
        foreach (var c in cmd.AclCategories) mask |= Find(c.AsSpan().TrimStart('@'));
        return mask;
    }
}
