using Kvasir.Persistence;

namespace Kvasir.Types;

public sealed partial class ListValue : IChunkedElementSource
{
    long IElementSource.ElementCount => Count;

    /// <summary>Elements head to tail, integers as integers (snapshots, DUMP).</summary>
    public void VisitElements(IElementVisitor visitor)
    {
        for (int n = 0; n < NodeCount; n++) VisitChunk(n, visitor);
    }

    int IChunkedElementSource.ChunkCount => NodeCount;

    bool IChunkedElementSource.IsPlainChunk(int chunk) => Node(chunk).Plain;

    public void VisitChunk(int chunk, IElementVisitor visitor)
    {
        ref readonly PackedNode node = ref Node(chunk);
        for (int p = node.First; p < node.Tail; p = node.Next(p))
        {
            var v = node.Read(p);
            if (v.IsInteger) visitor.Element(v.Integer);
            else visitor.Element(v.Span);
        }
    }
}
