namespace Kvasir.Types;

/// <summary>The type of a value, as TYPE reports it.</summary>
public enum DataType : byte
{
    None = 0,
    String = 1,
    List = 2,
    Set = 3,
    ZSet = 4,
    Hash = 5,
    Stream = 6,
}

/// <summary>Encodings, named as OBJECT ENCODING reports them.</summary>
public enum ValueEncoding : byte
{
    Raw = 0,
    Int = 1,
    Embstr = 2,
    Hashtable = 3,
    Listpack = 4,
    Quicklist = 5,
    Intset = 6,
    Skiplist = 7,
    Stream = 8,
}

public static class DataTypeNames
{
    public static ReadOnlySpan<byte> TypeName(DataType t) => t switch
    {
        DataType.String => "string"u8,
        DataType.List => "list"u8,
        DataType.Set => "set"u8,
        DataType.ZSet => "zset"u8,
        DataType.Hash => "hash"u8,
        DataType.Stream => "stream"u8,
        _ => "none"u8,
    };

    public static string EncodingName(ValueEncoding e) => e switch
    {
        ValueEncoding.Raw => "raw",
        ValueEncoding.Int => "int",
        ValueEncoding.Embstr => "embstr",
        ValueEncoding.Hashtable => "hashtable",
        ValueEncoding.Listpack => "listpack",
        ValueEncoding.Quicklist => "quicklist",
        ValueEncoding.Intset => "intset",
        ValueEncoding.Skiplist => "skiplist",
        ValueEncoding.Stream => "stream",
        _ => "unknown",
    };
}

/// <summary>
/// A value that is not a plain inline string: lists, hashes, sets, sorted sets, streams and
/// mutable (raw) strings. Implementations report their type, encoding and memory so that TYPE,
/// OBJECT ENCODING, MEMORY USAGE and used_memory need no per-type switches.
/// </summary>
/// <summary>A collection whose member lookups a pipelined batch can start loading ahead (a big set, hash or sorted set).</summary>
public interface IMemberPrefetchSource
{
    /// <summary>The table its member lookups go through, or null in a packed encoding.</summary>
    Keyspace.IPrefetchable? MemberLookups { get; }
}

public interface IDataValue
{
    DataType Type { get; }
    ValueEncoding Encoding { get; }

    /// <summary>Approximate bytes this value occupies (payload plus object overhead).</summary>
    long MemoryUsage { get; }

    /// <summary>
    /// An independent deep copy with the same encoding (COPY). Every value type should implement
    /// it; a type that does not makes COPY answer "ERR unknown type object", as Valkey does for a
    /// type it cannot duplicate.
    /// </summary>
    IDataValue? Duplicate() => null;
}
