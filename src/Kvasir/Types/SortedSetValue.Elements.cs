using Kvasir.Persistence;

namespace Kvasir.Types;

public sealed partial class SortedSetValue : IElementSource
{
    long IElementSource.ElementCount => Count;

    /// <summary>Members by ascending score, then member (snapshots, DUMP).</summary>
    public void VisitElements(IElementVisitor visitor)
    {
        var it = IterateFrom(0, reverse: false);
        while (it.MoveNext()) visitor.Scored(it.Member, it.Score);
    }
}
