using Kvasir.Persistence;

namespace Kvasir.Types;

public sealed partial class HashValue : IElementSource
{
    long IElementSource.ElementCount => Count;

    /// <summary>Field/value pairs in storage order (snapshots, DUMP).</summary>
    public void VisitElements(IElementVisitor visitor)
    {
        var e = GetEnumerator();
        while (e.MoveNext()) visitor.Pair(e.Field, e.Value);
    }
}
