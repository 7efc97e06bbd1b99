using Kvasir.Persistence.Encodings;
using Kvasir.Types;

namespace Kvasir.Persistence;

/// <summary>
/// Receives the elements of one collection while the loader decodes it, and makes the value. The
/// loader never sees the value's internals: it only streams elements in file order.
/// </summary>
public interface IValueBuilder
{
    /// <summary>A list element or set member. Returns false when a set already holds it.</summary>
    bool Add(in PackedElement element);

    /// <summary>A hash field and its value. Returns false when the field is already present.</summary>
    bool AddPair(in PackedElement field, in PackedElement value);

    /// <summary>A sorted set member and its score. Returns false when the member is already present.</summary>
    bool AddScored(in PackedElement member, double score);

    /// <summary>Elements (pairs for a hash) added so far.</summary>
    long Count { get; }

    /// <summary>The finished value, in the encoding the server would choose for this content.</summary>
    IDataValue Build();
}

/// <summary>
/// Implemented by hash builders that keep field expire times (<see cref="RdbType.Hash2"/>, Valkey 9).
/// </summary>
public interface IVolatileFieldBuilder
{
    /// <summary>A hash field, its value and its expire time in unix ms (-1: none). Returns false when the field is already present.</summary>
    bool AddPair(in PackedElement field, in PackedElement value, long expireMs);
}

/// <summary>
/// Creates builders for the collection types. <paramref name="source"/> is the RDB type the data
/// came in (some encodings are kept as loaded, e.g. a list read from a ziplist stays a quicklist in
/// Valkey); <paramref name="sizeHint"/> is the element count the file announced (for lists read
/// from a quicklist: its node count), or -1.
/// </summary>
public interface IValueFactory
{
    /// <summary>Null when this server has no such type; the loader then refuses the file.</summary>
    IValueBuilder? Create(DataType type, RdbType source, long sizeHint);
}
