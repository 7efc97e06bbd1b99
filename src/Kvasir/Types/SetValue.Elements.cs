using Kvasir.Persistence;

namespace Kvasir.Types;

public sealed partial class SetValue : IElementSource
{
    long IElementSource.ElementCount => Count;

    /// <summary>Members in storage order, integers as integers (snapshots, DUMP).</summary>
    public void VisitElements(IElementVisitor visitor)
    {
        var e = GetEnumerator();
        while (e.MoveNext())
        {
            var v = e.Current;
            if (v.IsInteger) visitor.Element(v.Integer);
            else visitor.Element(v.Span);
        }
    }
}
