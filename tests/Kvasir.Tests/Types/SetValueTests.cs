using System.Text;
using Kvasir.Types;

namespace Kvasir.Tests.Types;

/// <summary>The set value against a HashSet model under random edits, across encodings and limits.</summary>
public sealed class SetValueTests
{
    private static string Text(PackedValue v) => v.IsInteger ? v.Integer.ToString() : Encoding.UTF8.GetString(v.Span);

    private static void Verify(SetValue set, HashSet<string> model, SetLimits limits)
    {
        Assert.Equal(model.Count, set.Count);
        var seen = new HashSet<string>();
        foreach (var m in set) Assert.True(seen.Add(Text(m)), "each member once");
        Assert.True(model.SetEquals(seen));
        if (set.Encoding == ValueEncoding.Intset)
        {
            Assert.All(seen, s => Assert.True(long.TryParse(s, out _)));
            var ordered = new List<long>();
            foreach (var m in set) ordered.Add(m.Integer);
            Assert.Equal(ordered.OrderBy(x => x), ordered);
        }
        if (set.Encoding == ValueEncoding.Listpack) Assert.True(set.Count <= limits.MaxListpackEntries);
    }

    private static string RandomMember(Random r) => r.Next(6) switch
    {
        0 or 1 => r.Next(-50, 50).ToString(),
        2 => r.NextInt64(long.MinValue, long.MaxValue).ToString(),
        3 or 4 => ((char)('a' + r.Next(20))).ToString(),
        _ => new string('v', r.Next(1, 20)),
    };

    [Theory]
    [InlineData(512, 128, 64, 1)]
    [InlineData(10, 5, 3, 2)]
    [InlineData(2, 1, 1, 3)]
    [InlineData(0, 0, 0, 4)]
    public void RandomEditsMatchModel(long maxIntset, long maxEntries, long maxValue, int seed)
    {
        var limits = new SetLimits(maxIntset, maxEntries, maxValue);
        var r = new Random(seed);
        var set = SetValue.Create("1"u8, 1, limits);
        var model = new HashSet<string>();
        for (int step = 0; step < 4000; step++)
        {
            var m = RandomMember(r);
            switch (r.Next(6))
            {
                case 0:
                case 1:
                    Assert.Equal(model.Add(m), set.Add(Encoding.UTF8.GetBytes(m), limits));
                    break;
                case 2:
                    Assert.Equal(model.Remove(m), set.Remove(Encoding.UTF8.GetBytes(m)));
                    break;
                case 3:
                    Assert.Equal(model.Contains(m), set.Contains(Encoding.UTF8.GetBytes(m)));
                    break;
                case 4:
                    if (model.Count == 0) break;
                    var popped = Encoding.UTF8.GetString(set.PopRandom(r));
                    Assert.True(model.Remove(popped));
                    break;
                default:
                    if (model.Count == 0) break;
                    Assert.Contains(Text(set.RandomElement(r)), model);
                    Verify(set.Clone(), model, limits);
                    break;
            }
            Verify(set, model, limits);
        }
    }

    [Fact]
    public void ANonIntegerTurnsAnIntsetIntoAListpackOnlyWhenItFits()
    {
        var limits = SetLimits.Default;
        var set = SetValue.NewIntset();
        set.Add("12345678901"u8, limits);
        set.Add("x"u8, limits);
        Assert.Equal(ValueEncoding.Listpack, set.Encoding);

        // An integer wider than set-max-listpack-value characters cannot move to a listpack.
        var narrow = limits with { MaxListpackValue = 5 };
        var wide = SetValue.NewIntset();
        wide.Add("123456"u8, narrow);
        wide.Add("x"u8, narrow);
        Assert.Equal(ValueEncoding.Hashtable, wide.Encoding);
    }
}
