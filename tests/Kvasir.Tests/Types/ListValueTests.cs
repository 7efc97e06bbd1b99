using System.Text;
using Kvasir.Types;

namespace Kvasir.Tests.Types;

/// <summary>
/// The list value against a plain model list under random edits, for several node limits, checking
/// content (both directions), node invariants and the listpack/quicklist conversions.
/// </summary>
public sealed class ListValueTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string Text(PackedValue v) => v.IsInteger ? v.Integer.ToString() : Encoding.UTF8.GetString(v.Span);

    private static void Verify(ListValue list, List<string> model)
    {
        Assert.Equal(model.Count, list.Count);
        long total = 0;
        for (int i = 0; i < list.NodeCount; i++)
        {
            ref readonly var node = ref list.Node(i);
            if (list.IsQuicklist) Assert.True(node.Count > 0, "quicklist nodes are never empty");
            int n = 0;
            for (int p = node.First; p < node.Tail; p = node.Next(p)) n++;
            Assert.Equal(node.Count, n);
            int back = 0;
            for (int p = node.Last; p >= 0; p = node.Previous(p)) back++;
            Assert.Equal(node.Count, back);
            if (node.Plain) Assert.Equal(1, node.Count);
            total += node.Count;
        }
        Assert.Equal(model.Count, total);
        if (model.Count == 0) return;
        Assert.True(list.TrySeek(0, out var c));
        var forward = new List<string>();
        do forward.Add(Text(list.Read(c))); while (list.MoveNext(ref c));
        Assert.Equal(model, forward);
        Assert.True(list.TrySeek(-1, out c));
        var backward = new List<string>();
        do backward.Add(Text(list.Read(c))); while (list.MovePrevious(ref c));
        backward.Reverse();
        Assert.Equal(model, backward);
    }

    private static string RandomValue(Random r) => r.Next(10) switch
    {
        0 or 1 => r.Next(-10, 200).ToString(),
        2 => r.NextInt64(long.MinValue, long.MaxValue).ToString(),
        3 or 4 or 5 => ((char)('a' + r.Next(6))).ToString(),
        6 or 7 => new string('s', r.Next(1, 300)),
        8 => new string('m', r.Next(300, 3000)),
        _ => new string('L', r.Next(4000, 9000)),
    };

    [Theory]
    [InlineData(-2, 1)]
    [InlineData(-1, 2)]
    [InlineData(-5, 3)]
    [InlineData(1, 4)]
    [InlineData(3, 5)]
    [InlineData(0, 6)]
    [InlineData(5, 7)]
    public void RandomEditsMatchModel(int fillValue, int seed)
    {
        var fill = new ListLimits(fillValue);
        var r = new Random(seed);
        var list = new ListValue();
        var model = new List<string>();
        for (int step = 0; step < 3000; step++)
        {
            int op = r.Next(9);
            switch (op)
            {
                case 0:
                case 1:
                {
                    var v = RandomValue(r);
                    bool head = op == 0;
                    list.ConvertForGrowth(fill, v.Length, 1);
                    list.Push(B(v), head, fill);
                    if (head) model.Insert(0, v);
                    else model.Add(v);
                    break;
                }
                case 2:
                    if (model.Count == 0) break;
                    bool fromHead = r.Next(2) == 0;
                    Assert.Equal(fromHead ? model[0] : model[^1], Encoding.UTF8.GetString(list.Pop(fromHead)));
                    model.RemoveAt(fromHead ? 0 : model.Count - 1);
                    list.ConvertAfterShrink(fill);
                    break;
                case 3:
                {
                    if (model.Count == 0) break;
                    int i = r.Next(model.Count);
                    var v = RandomValue(r);
                    list.ConvertForGrowth(fill, v.Length, 1);
                    Assert.True(list.Set(i, B(v), fill));
                    model[i] = v;
                    list.ConvertAfterShrink(fill);
                    break;
                }
                case 4:
                {
                    if (model.Count == 0) break;
                    var pivot = model[r.Next(model.Count)];
                    var v = RandomValue(r);
                    bool after = r.Next(2) == 0;
                    list.ConvertForGrowth(fill, v.Length, 1);
                    Assert.True(list.TryFind(B(pivot), out var c));
                    list.Insert(c, B(v), after, fill);
                    int at = model.IndexOf(pivot);
                    model.Insert(after ? at + 1 : at, v);
                    break;
                }
                case 5:
                {
                    if (model.Count == 0) break;
                    var target = model[r.Next(model.Count)];
                    long count = r.Next(-3, 4);
                    long removed = list.RemoveMatching(B(target), count);
                    long expected = 0;
                    if (count >= 0)
                    {
                        for (int i = 0; i < model.Count && (count == 0 || expected < count);)
                        {
                            if (model[i] == target) { model.RemoveAt(i); expected++; }
                            else i++;
                        }
                    }
                    else
                    {
                        for (int i = model.Count - 1; i >= 0 && expected < -count; i--)
                            if (model[i] == target) { model.RemoveAt(i); expected++; }
                    }
                    Assert.Equal(expected, removed);
                    list.ConvertAfterShrink(fill);
                    break;
                }
                case 6:
                {
                    if (model.Count == 0 || r.Next(4) != 0) break;
                    int start = r.Next(model.Count);
                    int n = r.Next(1, model.Count - start + 1);
                    list.DeleteRange(start, n);
                    model.RemoveRange(start, n);
                    list.ConvertAfterShrink(fill);
                    break;
                }
                case 7:
                {
                    if (model.Count == 0) break;
                    int i = r.Next(-model.Count, model.Count);
                    Assert.True(list.TryGet(i, out var v));
                    Assert.Equal(model[i < 0 ? model.Count + i : i], Text(v));
                    Assert.False(list.TryGet(model.Count, out _));
                    break;
                }
                default:
                {
                    var copy = list.Clone();
                    Verify(copy, model);
                    break;
                }
            }
            Verify(list, model);
            if (model.Count > 60 && r.Next(3) == 0)
            {
                // Keep lists short enough to cross the encoding boundary often.
                int n = model.Count - 20;
                list.DeleteRange(0, n);
                model.RemoveRange(0, n);
                list.ConvertAfterShrink(fill);
                Verify(list, model);
            }
        }
    }
}
