using System.Text;
using Kvasir.Keyspace;
using Kvasir.Tests.Infrastructure;
using Kvasir.Types;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Types;

/// <summary>The sorted set type: skiplist, value class (encodings, order, ranks), score parsing and the
/// commands over TCP. Every command expectation was checked against a real Valkey 8.</summary>
public sealed class SortedSetTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public SortedSetTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static string S(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);

    private static int Compare((double Score, string Member) a, (double Score, string Member) b)
    {
        int c = a.Score.CompareTo(b.Score);
        return c != 0 ? c : string.CompareOrdinal(a.Member, b.Member);
    }

    // ----- skiplist -----

    [Fact]
    public void SkipSetRanksStayCorrectUnderRandomOperations()
    {
        var rnd = new Random(42);
        var set = new SkipSet(4, new Random(99));
        var model = new List<(double Score, string Member)>();
        for (int step = 0; step < 6000; step++)
        {
            int op = rnd.Next(12);
            if (op < 6 || model.Count == 0)
            {
                string m = "m" + rnd.Next(2000);
                if (model.Exists(e => e.Member == m)) continue;
                double score = rnd.Next(50); // many equal scores: order falls back to member bytes
                set.Add(score, B(m), KeyHash.Hash(B(m)));
                model.Add((score, m));
            }
            else if (op < 8)
            {
                var e = model[rnd.Next(model.Count)];
                Assert.True(set.Remove(B(e.Member)));
                model.Remove(e);
                Assert.False(set.Remove(B(e.Member)));
            }
            else if (op < 10)
            {
                // A new score moves the element (and may give it another height).
                int k = rnd.Next(model.Count);
                var e = model[k];
                double score = rnd.Next(50);
                set.UpdateScore(set.Find(B(e.Member)), score);
                model[k] = (score, e.Member);
            }
            else
            {
                int n = model.Count;
                long start = rnd.Next(n), end = start + rnd.Next(5);
                model.Sort(Compare);
                long removed = set.RemoveRangeByRank(start + 1, end + 1);
                long expected = Math.Min(end, n - 1) - start + 1;
                Assert.Equal(expected, removed);
                foreach (var e in model.GetRange((int)start, (int)expected)) Assert.Equal(SkipSet.Nil, set.Find(B(e.Member)));
                model.RemoveRange((int)start, (int)expected);
            }
            Assert.Equal(model.Count, set.Length);
            if (step % 50 != 0) continue;

            model.Sort(Compare);
            int node = set.First, prev = SkipSet.Nil;
            for (int i = 0; i < model.Count; i++)
            {
                Assert.NotEqual(SkipSet.Nil, node);
                Assert.Equal(model[i].Member, S(set.MemberOf(node).ToArray()));
                Assert.Equal(model[i].Score, set.ScoreOf(node));
                Assert.Equal(prev, set.Previous(node));
                Assert.Equal(node, set.Find(set.MemberOf(node)));
                Assert.Equal(i + 1, set.GetRank(set.ScoreOf(node), set.MemberOf(node)));
                Assert.Equal(node, set.GetByRank(i + 1));
                prev = node;
                node = set.Next(node);
            }
            Assert.Equal(SkipSet.Nil, node);
            Assert.Equal(prev, set.Last);
        }
    }

    [Fact]
    public void EncodingsAgreeOnOrderRanksAndRanges()
    {
        var rnd = new Random(5);
        var packed = new SortedSetValue();
        var skip = new SortedSetValue();
        skip.ConvertToSkiplist();
        for (int i = 0; i < 300; i++)
        {
            string m = "k" + rnd.Next(150);
            double score = rnd.Next(-20, 20) / 4.0;
            var flags = (ZAddFlags)(rnd.Next(3) == 0 ? (int)ZAddFlags.Incr : 0);
            var a = packed.Add(score, B(m), flags, long.MaxValue, long.MaxValue, out double sa);
            var b = skip.Add(score, B(m), flags, long.MaxValue, long.MaxValue, out double sb);
            Assert.Equal(a, b);
            Assert.Equal(sa, sb);
            if (rnd.Next(5) == 0) Assert.Equal(packed.Remove(B(m)), skip.Remove(B(m)));
        }
        Assert.Equal(ValueEncoding.Listpack, packed.Encoding);
        Assert.Equal(ValueEncoding.Skiplist, skip.Encoding);
        Assert.Equal(packed.Count, skip.Count);
        var ia = packed.IterateFrom(0, false);
        var ib = skip.IterateFrom(0, false);
        long rank = 0;
        while (ia.MoveNext())
        {
            Assert.True(ib.MoveNext());
            Assert.Equal(S(ia.Member), S(ib.Member));
            Assert.Equal(ia.Score, ib.Score);
            Assert.Equal(rank, packed.Rank(ia.Member, out _));
            Assert.Equal(rank, skip.Rank(ia.Member, out _));
            rank++;
        }
        Assert.False(ib.MoveNext());
        var range = new ScoreRange(-1, true, 2, false);
        Assert.Equal(packed.CountPrefix(new ScoreRange.BelowMin(range)), skip.CountPrefix(new ScoreRange.BelowMin(range)));
        Assert.Equal(packed.CountPrefix(new ScoreRange.NotAboveMax(range)), skip.CountPrefix(new ScoreRange.NotAboveMax(range)));
        var ra = packed.IterateFrom(packed.Count - 1, true);
        var rb = skip.IterateFrom(skip.Count - 1, true);
        while (ra.MoveNext())
        {
            Assert.True(rb.MoveNext());
            Assert.Equal(S(ra.Member), S(rb.Member));
        }
        Assert.Equal(packed.RemoveRange(3, 10), skip.RemoveRange(3, 10));
        Assert.Equal(packed.Count, skip.Count);
    }

    [Fact]
    public void ConversionFollowsLimitsAndPackedSetsDropTheSignOfZero()
    {
        var z = SortedSetValue.Create(1, 1, 3, 64);
        Assert.Equal(ValueEncoding.Listpack, z.Encoding);
        z.Add(-0.0, B("a"), ZAddFlags.None, 3, 64, out _);
        Assert.True(z.TryGetScore(B("a"), out double s));
        Assert.False(double.IsNegative(s));
        z.Add(2, B("b"), ZAddFlags.None, 3, 64, out _);
        z.Add(3, B("c"), ZAddFlags.None, 3, 64, out _);
        Assert.Equal(ValueEncoding.Listpack, z.Encoding);
        z.Add(4, B("d"), ZAddFlags.None, 3, 64, out _);
        Assert.Equal(ValueEncoding.Skiplist, z.Encoding);
        z.Add(-0.0, B("e"), ZAddFlags.None, 3, 64, out _);
        Assert.True(z.TryGetScore(B("e"), out s));
        Assert.True(double.IsNegative(s));
        Assert.Equal(ValueEncoding.Skiplist, SortedSetValue.Create(4, 1, 3, 64).Encoding);
        Assert.Equal(ValueEncoding.Skiplist, SortedSetValue.Create(1, 65, 3, 64).Encoding);
        z.RemoveRange(0, 2);
        z.ConvertToPackedIfFits(3, 64);
        Assert.Equal(ValueEncoding.Listpack, z.Encoding);
        Assert.Equal(2, z.Count);
    }

    [Theory]
    [InlineData("1.5", true, 1.5)]
    [InlineData("-inf", true, double.NegativeInfinity)]
    [InlineData("+Infinity", true, double.PositiveInfinity)]
    [InlineData("0x10", true, 16.0)]
    [InlineData("1e308", true, 1e308)]
    [InlineData("1e400", false, 0)]
    [InlineData("1e-400", false, 0)]
    [InlineData(" 1", false, 0)]
    [InlineData("1 ", false, 0)]
    [InlineData("nan", false, 0)]
    [InlineData("", false, 0)]
    [InlineData(".5", true, 0.5)]
    [InlineData("5.", true, 5.0)]
    [InlineData("1e", false, 0)]
    public void StrictScoreParsingFollowsString2d(string text, bool ok, double expected)
    {
        Assert.Equal(ok, CFloat.TryParseStrict(B(text), out double v));
        if (ok) Assert.Equal(expected, v);
    }

    [Fact]
    public void RangeBoundsParseLikeStrtod()
    {
        Assert.True(ScoreRange.TryParse(B("(1.5"), B(" 2"), out var r));
        Assert.True(r.MinExclusive);
        Assert.Equal(2, r.Max);
        Assert.True(ScoreRange.TryParse(B(""), B("("), out r));
        Assert.Equal(0, r.Min);
        Assert.True(ScoreRange.TryParse(B("-inf"), B("1e400"), out r));
        Assert.Equal(double.PositiveInfinity, r.Max);
        Assert.False(ScoreRange.TryParse(B("a"), B("1"), out _));
        Assert.False(ScoreRange.TryParse(B("nan"), B("1"), out _));
        Assert.True(LexRange.TryParse(B("-"), B("[b"), out var lex));
        Assert.True(lex.GteMin(B("")));
        Assert.True(lex.LteMax(B("b")));
        Assert.False(lex.LteMax(B("ba")));
        Assert.False(LexRange.TryParse(B("a"), B("+"), out _));
        Assert.False(LexRange.TryParse(B("--"), B("+"), out _));
    }

    // ----- commands -----

    [Fact]
    public async Task ZAddOptionsRepliesAndErrors()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal(3, (await c.CallAsync("ZADD", "z:add", "1", "a", "2", "b", "3", "c")).Integer);
        Assert.Equal(2, (await c.CallAsync("ZADD", "z:add", "CH", "10", "a", "2", "b", "7", "f")).Integer);
        Assert.Equal(0, (await c.CallAsync("ZADD", "z:add", "NX", "100", "a")).Integer);
        Assert.Equal("10", await c.CallTextAsync("ZSCORE", "z:add", "a"));
        Assert.Equal(1, (await c.CallAsync("ZADD", "z:add", "XX", "CH", "11", "a", "12", "zz")).Integer);
        Assert.Null(await c.CallTextAsync("ZSCORE", "z:add", "zz"));
        Assert.Equal(0, (await c.CallAsync("ZADD", "z:add", "GT", "CH", "5", "a")).Integer);
        Assert.Equal(1, (await c.CallAsync("ZADD", "z:add", "LT", "CH", "5", "a")).Integer);
        Assert.Equal("7.5", await c.CallTextAsync("ZADD", "z:add", "INCR", "2.5", "a"));
        Assert.Null(await c.CallTextAsync("ZADD", "z:add", "INCR", "NX", "1", "a"));
        Assert.Equal("1.5", await c.CallTextAsync("ZINCRBY", "z:add", "1.5", "new"));
        Assert.Equal("3.5", await c.CallTextAsync("ZINCRBY", "z:add", "2", "new"));
        await AssertError(c, "ERR XX and NX options at the same time are not compatible", "ZADD", "z:add", "NX", "XX", "1", "a");
        await AssertError(c, "ERR GT, LT, and/or NX options at the same time are not compatible", "ZADD", "z:add", "GT", "LT", "1", "a");
        await AssertError(c, "ERR GT, LT, and/or NX options at the same time are not compatible", "ZADD", "z:add", "NX", "GT", "1", "a");
        await AssertError(c, "ERR INCR option supports a single increment-element pair", "ZADD", "z:add", "INCR", "1", "a", "2", "b");
        await AssertError(c, "ERR syntax error", "ZADD", "z:add", "1", "a", "2");
        await AssertError(c, "ERR value is not a valid float", "ZADD", "z:add", "1", "a", "x", "b");
        await AssertError(c, "ERR value is not a valid float", "ZADD", "z:add", "nan", "a");
        await c.CallAsync("ZADD", "z:add", "inf", "inf");
        await AssertError(c, "ERR resulting score is not a number (NaN)", "ZADD", "z:add", "INCR", "-inf", "inf");
        await AssertError(c, "ERR resulting score is not a number (NaN)", "ZINCRBY", "z:add", "-inf", "inf");
        Assert.Equal(0, (await c.CallAsync("ZADD", "z:none", "XX", "1", "a")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "z:none")).Integer);
    }

    [Fact]
    public async Task RangesByRankScoreAndLex()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("ZADD", "z:r", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e");
        Assert.Equal("[a, 1, b, 2]", (await c.CallAsync("ZRANGE", "z:r", "0", "1", "WITHSCORES")).ToString());
        Assert.Equal("[e, d]", (await c.CallAsync("ZRANGE", "z:r", "0", "1", "REV")).ToString());
        Assert.Equal("[d, e]", (await c.CallAsync("ZRANGE", "z:r", "-2", "-1")).ToString());
        Assert.Equal("[]", (await c.CallAsync("ZRANGE", "z:r", "3", "1")).ToString());
        Assert.Equal("[b, c, d]", (await c.CallAsync("ZRANGE", "z:r", "(1", "4", "BYSCORE")).ToString());
        Assert.Equal("[d, c]", (await c.CallAsync("ZRANGE", "z:r", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2")).ToString());
        Assert.Equal("[b, c]", (await c.CallAsync("ZRANGEBYSCORE", "z:r", "-inf", "+inf", "LIMIT", "1", "2")).ToString());
        Assert.Equal("[e, 5, d, 4]", (await c.CallAsync("ZREVRANGEBYSCORE", "z:r", "5", "(3", "WITHSCORES")).ToString());
        Assert.Equal("[a, b, c]", (await c.CallAsync("ZRANGEBYLEX", "z:r", "-", "[c")).ToString());
        Assert.Equal("[d, c]", (await c.CallAsync("ZREVRANGEBYLEX", "z:r", "(e", "[c")).ToString());
        Assert.Equal(3, (await c.CallAsync("ZCOUNT", "z:r", "(1", "4")).Integer);
        Assert.Equal(2, (await c.CallAsync("ZLEXCOUNT", "z:r", "[b", "(d")).Integer);
        await AssertError(c, "ERR min or max is not a float", "ZRANGEBYSCORE", "z:r", "a", "1");
        await AssertError(c, "ERR min or max not valid string range item", "ZRANGEBYLEX", "z:r", "a", "+");
        await AssertError(c, "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            "ZRANGE", "z:r", "0", "1", "LIMIT", "0", "1");
        await AssertError(c, "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            "ZRANGE", "z:r", "-", "+", "BYLEX", "WITHSCORES");
        await AssertError(c, "ERR syntax error", "ZRANGE", "z:r", "0", "1", "BOGUS");
        Assert.Equal("[]", (await c.CallAsync("ZRANGE", "z:none", "0", "-1")).ToString());
    }

    [Fact]
    public async Task LexRangesOverUnequalScoresWalkLikeValkey()
    {
        // Member order differs from score order here: Valkey's answer comes from how it walks a
        // listpack (first element at or above min, then on while at or below max).
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("ZADD", "z:lx", "1", "b", "2", "a", "3", "d", "4", "c");
        Assert.Equal("[b, a]", (await c.CallAsync("ZRANGEBYLEX", "z:lx", "[a", "[c")).ToString());
        Assert.Equal("[c, d, a, b]", (await c.CallAsync("ZREVRANGEBYLEX", "z:lx", "[c", "[a")).ToString());
        Assert.Equal(2, (await c.CallAsync("ZLEXCOUNT", "z:lx", "[a", "[c")).Integer);
        Assert.Equal("[b, a, d, c]", (await c.CallAsync("ZRANGEBYLEX", "z:lx", "[b", "+")).ToString());
    }

    [Fact]
    public async Task NegativeLimitOffsetDependsOnTheEncodingAsInValkey()
    {
        await using var server = await TestServer.StartAsync(("zset-max-listpack-entries", "4"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("ZADD", "small", "1", "a", "2", "b", "3", "c", "4", "d");
        await c.CallAsync("ZADD", "big", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e");
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "small"));
        Assert.Equal("skiplist", await c.CallTextAsync("OBJECT", "ENCODING", "big"));
        Assert.Equal("[]", (await c.CallAsync("ZRANGEBYSCORE", "small", "-inf", "+inf", "LIMIT", "-1", "5")).ToString());
        Assert.Equal("[e]", (await c.CallAsync("ZRANGEBYSCORE", "big", "-inf", "+inf", "LIMIT", "-1", "5")).ToString());
        Assert.Equal("[a]", (await c.CallAsync("ZREVRANGEBYSCORE", "big", "+inf", "-inf", "LIMIT", "-1", "5")).ToString());
        Assert.Equal("[c, b, a]", (await c.CallAsync("ZREVRANGEBYSCORE", "big", "+inf", "-inf", "LIMIT", "-3", "5")).ToString());
    }

    [Fact]
    public async Task RankScoreAndRemoval()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("ZADD", "z:k", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e");
        Assert.Equal(2, (await c.CallAsync("ZRANK", "z:k", "c")).Integer);
        Assert.Equal("[1, 4]", (await c.CallAsync("ZREVRANK", "z:k", "d", "WITHSCORE")).ToString());
        Assert.True((await c.CallAsync("ZRANK", "z:k", "zz", "WITHSCORE")).IsNull);
        await AssertError(c, "ERR syntax error", "ZRANK", "z:k", "a", "BOGUS");
        await AssertError(c, "ERR wrong number of arguments for 'zrank' command", "ZRANK", "z:k", "a", "WITHSCORE", "x");
        Assert.Equal("[1, (nil), 3]", (await c.CallAsync("ZMSCORE", "z:k", "a", "zz", "c")).ToString());
        Assert.Equal(1, (await c.CallAsync("ZREMRANGEBYRANK", "z:k", "0", "0")).Integer);
        Assert.Equal(2, (await c.CallAsync("ZREMRANGEBYSCORE", "z:k", "(2", "4")).Integer);
        Assert.Equal(1, (await c.CallAsync("ZREMRANGEBYLEX", "z:k", "-", "[b")).Integer);
        Assert.Equal("[e]", (await c.CallAsync("ZRANGE", "z:k", "0", "-1")).ToString());
        Assert.Equal(1, (await c.CallAsync("ZREM", "z:k", "e", "x")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "z:k")).Integer);
    }

    [Fact]
    public async Task PopsAndMPop()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("ZADD", "z:p", "1", "a", "2", "b", "3", "c");
        Assert.Equal("[a, 1]", (await c.CallAsync("ZPOPMIN", "z:p")).ToString());
        Assert.Equal("[c, 3, b, 2]", (await c.CallAsync("ZPOPMAX", "z:p", "5")).ToString());
        Assert.Equal(0, (await c.CallAsync("EXISTS", "z:p")).Integer);
        Assert.Equal("[]", (await c.CallAsync("ZPOPMIN", "z:p")).ToString());
        await AssertError(c, "ERR value is out of range, must be positive", "ZPOPMIN", "z:p", "-1");
        await c.CallAsync("ZADD", "z:p2", "1", "a", "2", "b");
        Assert.Equal("[z:p2, [[b, 2]]]", (await c.CallAsync("ZMPOP", "2", "z:none", "z:p2", "MAX")).ToString());
        Assert.True((await c.CallAsync("ZMPOP", "1", "z:none", "MIN")).IsNull);
        await AssertError(c, "ERR numkeys should be greater than 0", "ZMPOP", "0", "z:p2", "MIN");
        await AssertError(c, "ERR count should be greater than 0", "ZMPOP", "1", "z:p2", "MIN", "COUNT", "0");
        await AssertError(c, "ERR syntax error", "ZMPOP", "1", "z:p2", "MIN", "COUNT", "1", "COUNT", "1");
        await AssertError(c, "ERR syntax error", "ZMPOP", "5", "z:p2", "MIN");
    }

    [Fact]
    public async Task SetAlgebraAndStores()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("ZADD", "{s}a", "1", "a", "2", "b", "3", "c");
        await c.CallAsync("ZADD", "{s}b", "2", "b", "3", "c", "4", "d");
        Assert.Equal("[a, 1, b, 4, d, 4, c, 6]", (await c.CallAsync("ZUNION", "2", "{s}a", "{s}b", "WITHSCORES")).ToString());
        Assert.Equal("[a, 2, b, 10, d, 12, c, 15]", (await c.CallAsync("ZUNION", "2", "{s}a", "{s}b", "WEIGHTS", "2", "3", "WITHSCORES")).ToString());
        Assert.Equal("[b, 2, c, 3]", (await c.CallAsync("ZINTER", "2", "{s}a", "{s}b", "AGGREGATE", "MIN", "WITHSCORES")).ToString());
        Assert.Equal("[a]", (await c.CallAsync("ZDIFF", "2", "{s}a", "{s}b")).ToString());
        Assert.Equal(2, (await c.CallAsync("ZINTERCARD", "2", "{s}a", "{s}b")).Integer);
        Assert.Equal(1, (await c.CallAsync("ZINTERCARD", "2", "{s}a", "{s}b", "LIMIT", "1")).Integer);
        Assert.Equal(4, (await c.CallAsync("ZUNIONSTORE", "{s}dst", "2", "{s}a", "{s}b")).Integer);
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "{s}dst"));
        Assert.Equal(0, (await c.CallAsync("ZDIFFSTORE", "{s}dst", "2", "{s}a", "{s}a")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "{s}dst")).Integer);
        Assert.Equal(2, (await c.CallAsync("ZRANGESTORE", "{s}dst", "{s}a", "(1", "+inf", "BYSCORE")).Integer);
        Assert.Equal("[b, 2, c, 3]", (await c.CallAsync("ZRANGE", "{s}dst", "0", "-1", "WITHSCORES")).ToString());
        await AssertError(c, "ERR at least 1 input key is needed for 'zunionstore' command", "ZUNIONSTORE", "{s}dst", "0", "{s}a");
        await AssertError(c, "ERR at least 1 input key is needed for 'zinter' command", "ZINTER", "0", "{s}a");
        await AssertError(c, "ERR syntax error", "ZUNION", "3", "{s}a", "{s}b");
        await AssertError(c, "ERR weight value is not a float", "ZUNION", "2", "{s}a", "{s}b", "WEIGHTS", "1", "x");
        await AssertError(c, "ERR LIMIT can't be negative", "ZINTERCARD", "1", "{s}a", "LIMIT", "-1");
        await AssertError(c, "ERR syntax error", "ZUNIONSTORE", "{s}dst", "2", "{s}a", "{s}b", "WITHSCORES");
        await c.CallAsync("SET", "{s}str", "x");
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "ZUNION", "2", "{s}a", "{s}str");
    }

    [Fact]
    public async Task PlainSetsTakePartWithScoreOne()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SADD", "{p}set", "a", "b", "c");
        await c.CallAsync("ZADD", "{p}z", "2", "b", "3", "c", "4", "d");
        Assert.Equal("[a, 2, b, 8, c, 11, d, 12]", (await c.CallAsync("ZUNION", "2", "{p}set", "{p}z", "WEIGHTS", "2", "3", "WITHSCORES")).ToString());
        Assert.Equal("[b, 2, c, 3]", (await c.CallAsync("ZINTER", "2", "{p}z", "{p}set", "AGGREGATE", "MAX", "WITHSCORES")).ToString());
        Assert.Equal("[a, 1]", (await c.CallAsync("ZDIFF", "2", "{p}set", "{p}z", "WITHSCORES")).ToString());
        Assert.Equal(2, (await c.CallAsync("ZINTERCARD", "2", "{p}set", "{p}z")).Integer);
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "ZRANGE", "{p}set", "0", "-1");
    }

    [Fact]
    public async Task Resp3UsesDoublesAndNestedPairs()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("HELLO", "3");
        await c.CallAsync("ZADD", "z:r3", "1.5", "a", "2", "b");
        var score = await c.CallAsync("ZSCORE", "z:r3", "a");
        Assert.Equal(',', score.Kind);
        Assert.Equal("1.5", score.Text);
        var withScores = await c.CallAsync("ZRANGE", "z:r3", "0", "-1", "WITHSCORES");
        Assert.Equal("[[a, 1.5], [b, 2]]", withScores.ToString());
        Assert.Equal("[[a, 1.5]]", (await c.CallAsync("ZPOPMIN", "z:r3", "1")).ToString());
        Assert.Equal("[b, 2]", (await c.CallAsync("ZPOPMIN", "z:r3")).ToString());
        Assert.Equal('_', (await c.CallAsync("ZSCORE", "z:r3", "a")).Kind);
    }

    [Fact]
    public async Task ScoresAreFormattedLikeValkey()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("ZADD", "z:fmt", "0.1", "a", "1e-7", "b", "1.5e300", "c", "123456789012345678901", "d", "-inf", "e");
        Assert.Equal("[e, -inf, b, 1e-7, a, 0.1, d, 123456789012345680000, c, 1.5e+300]",
            (await c.CallAsync("ZRANGE", "z:fmt", "0", "-1", "WITHSCORES")).ToString());
        // ZSCAN of a packed set prints the stored score text.
        Assert.Equal("[0, [e, -inf, b, 1e-7, a, 0.1, d, 123456789012345680000, c, 1.5e+300]]",
            (await c.CallAsync("ZSCAN", "z:fmt", "0")).ToString());
        Assert.Equal("[0, [e, b]]", (await c.CallAsync("ZSCAN", "z:fmt", "0", "MATCH", "[eb]", "NOSCORES")).ToString());
        await AssertError(c, "ERR NOVALUES option can only be used in HSCAN", "ZSCAN", "z:fmt", "0", "NOVALUES");
    }

    [Fact]
    public async Task SkiplistZScanPrintsSeventeenDigitScores()
    {
        await using var server = await TestServer.StartAsync(("zset-max-ziplist-entries", "0"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("ZADD", "z", "1.1", "a");
        Assert.Equal("skiplist", await c.CallTextAsync("OBJECT", "ENCODING", "z"));
        Assert.Equal("[0, [a, 1.1000000000000001]]", (await c.CallAsync("ZSCAN", "z", "0")).ToString());
        Assert.Equal("1.1", await c.CallTextAsync("ZSCORE", "z", "a"));
    }

    [Fact]
    public async Task ZRandMemberCounts()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("ZADD", "z:rand", "1", "a", "2", "b", "3", "c");
        Assert.Equal("[c, 3, b, 2, a, 1]", (await c.CallAsync("ZRANDMEMBER", "z:rand", "10", "WITHSCORES")).ToString());
        Assert.Equal(2, (await c.CallAsync("ZRANDMEMBER", "z:rand", "2")).Items!.Select(i => i.Text).Distinct().Count());
        Assert.Equal(7, (await c.CallAsync("ZRANDMEMBER", "z:rand", "-7")).Items!.Count);
        Assert.True((await c.CallAsync("ZRANDMEMBER", "z:none")).IsNull);
        await AssertError(c, "ERR value is out of range", "ZRANDMEMBER", "z:rand", "-9223372036854775807", "WITHSCORES");
        await AssertError(c, "ERR syntax error", "ZRANDMEMBER", "z:rand", "1", "WITHVALUES");
    }

    [Fact]
    public async Task EncodingConversionWithConfig()
    {
        await using var server = await TestServer.StartAsync(("zset-max-listpack-entries", "3"), ("zset-max-listpack-value", "4"));
        await using var c = await server.ConnectAsync();
        await c.CallAsync("ZADD", "z", "1", "a", "2", "b", "3", "c");
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "z"));
        await c.CallAsync("ZADD", "z", "4", "d");
        Assert.Equal("skiplist", await c.CallTextAsync("OBJECT", "ENCODING", "z"));
        await c.CallAsync("ZREM", "z", "a", "b", "c");
        Assert.Equal("skiplist", await c.CallTextAsync("OBJECT", "ENCODING", "z"));
        await c.CallAsync("ZADD", "long", "1", "abcde");
        Assert.Equal("skiplist", await c.CallTextAsync("OBJECT", "ENCODING", "long"));
        Assert.Equal(1, (await c.CallAsync("ZUNIONSTORE", "u", "1", "z")).Integer);
        Assert.Equal("listpack", await c.CallTextAsync("OBJECT", "ENCODING", "u"));
        Assert.Equal(2, (await c.CallAsync("ZADD", "many", "1", "a", "1", "a", "1", "a", "1", "b")).Integer);
        Assert.Equal("skiplist", await c.CallTextAsync("OBJECT", "ENCODING", "many"));
    }

    [Fact]
    public async Task ZMPopReplicatesAsPopWithCount()
    {
        await using var server = await TestServer.StartAsync();
        await using var replica = await ReplicationStream.AttachAsync(server);
        await using var c = await server.ConnectAsync();
        await c.CallAsync("ZADD", "z", "1", "one", "2", "two", "3", "three");
        await c.CallAsync("ZMPOP", "1", "z", "MIN");
        await c.CallAsync("ZMPOP", "2", "none", "z", "MAX", "COUNT", "10");
        await c.CallAsync("ZMPOP", "1", "z", "MAX");
        await c.CallAsync("ZPOPMIN", "none");
        await c.CallAsync("ZADD", "z", "1", "a");
        Assert.Equal("SELECT 0", await ReplicationStream.NextAsync(replica));
        Assert.Equal("ZADD z 1 one 2 two 3 three", await ReplicationStream.NextAsync(replica));
        Assert.Equal("ZPOPMIN z 1", await ReplicationStream.NextAsync(replica));
        Assert.Equal("ZPOPMAX z 2", await ReplicationStream.NextAsync(replica));
        Assert.Equal("ZADD z 1 a", await ReplicationStream.NextAsync(replica));
    }
}
