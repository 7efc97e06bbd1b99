namespace Kvasir.Persistence;

/// <summary>
/// Implemented by collection values (lists, sets, hashes, sorted sets) so that snapshots, DUMP and
/// AOF rewrites can read their content without knowing their layout. The value keeps reporting its
/// <see cref="Types.IDataValue.Encoding"/>; the writer uses it only to pick the RDB type (listpack,
/// intset, plain) and rebuilds the bytes itself from the elements.
/// </summary>
public interface IElementSource
{
    /// <summary>List elements, set members, hash fields (pairs) or sorted set members.</summary>
    long ElementCount { get; }

    /// <summary>
    /// Calls <paramref name="visitor"/> once per element, synchronously, in the value's order:
    /// lists head to tail; sets and hashes in any order; sorted sets by ascending score, then member
    /// (a listpack-encoded sorted set is stored in that order and loaders rely on it). Lists and sets
    /// call <see cref="IElementVisitor.Element(ReadOnlySpan{byte})"/> or the integer overload,
    /// hashes <see cref="IElementVisitor.Pair"/>, sorted sets <see cref="IElementVisitor.Scored"/>.
    /// The spans are valid only during the call. The value must not change while it is visited.
    /// </summary>
    void VisitElements(IElementVisitor visitor);
}

/// <summary>Receives the elements of an <see cref="IElementSource"/>.</summary>
public interface IElementVisitor
{
    /// <summary>A list element or set member held as bytes.</summary>
    void Element(ReadOnlySpan<byte> value);

    /// <summary>A list element or set member held as an integer (its text is the decimal form).</summary>
    void Element(long value);

    /// <summary>A hash field and its value.</summary>
    void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value);

    /// <summary>A sorted set member and its score.</summary>
    void Scored(ReadOnlySpan<byte> member, double score);
}
