using Kvasir.Persistence;

namespace Kvasir.Types;

public sealed partial class ListValue : IElementSource
{
    long IElementSource.ElementCount => Count;

    /// <summary>Elements head to tail, integers as integers (snapshots, DUMP).</summary>
    public void VisitElements(IElementVisitor visitor)
    {
        for (int n = 0; n < NodeCount; n++)
        {
            ref readonly PackedNode node = ref Node(n);
            for (int p = node.First; p < node.Tail; p = node.Next(p))
            {
                var v = node.Read(p);
                if (v.IsInteger) visitor.Element(v.Integer);
                else visitor.Element(v.Span);
            }
        }
    }
}
