using Kvasir.Tests.Infrastructure;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Types;

/// <summary>SORT and SORT_RO over TCP. Every expected reply was taken from a real Valkey 8.</summary>
public sealed class SortTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public SortTests(SharedServerFixture fixture) => _server = fixture.Server;

    private static async Task<string> Text(RespClient c, params object[] args) => (await c.CallAsync(args)).ToString();

    private async Task<RespClient> ListAsync(string key)
    {
        var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", key);
        await c.CallAsync("RPUSH", key, "3", "1", "2", "10", "-5", "1.5", "2");
        return c;
    }

    [Fact]
    public async Task NumericAlphaLimitAndDirection()
    {
        await using var c = await ListAsync("sort:l");
        Assert.Equal("[-5, 1, 1.5, 2, 2, 3, 10]", await Text(c, "SORT", "sort:l"));
        Assert.Equal("[10, 3, 2, 2, 1.5, 1, -5]", await Text(c, "SORT", "sort:l", "DESC"));
        Assert.Equal("[-5, 1, 1.5, 10, 2, 2, 3]", await Text(c, "SORT", "sort:l", "ALPHA"));
        Assert.Equal("[3, 2, 2, 10, 1.5, 1, -5]", await Text(c, "SORT", "sort:l", "ALPHA", "DESC"));
        Assert.Equal("[1, 1.5, 2]", await Text(c, "SORT", "sort:l", "LIMIT", "1", "3"));
        Assert.Equal("[-5, 1, 1.5]", await Text(c, "SORT", "sort:l", "LIMIT", "-1", "3"));
        Assert.Equal("[1.5, 2, 2, 3, 10]", await Text(c, "SORT", "sort:l", "LIMIT", "2", "-1"));
        Assert.Equal("[]", await Text(c, "SORT", "sort:l", "LIMIT", "100", "3"));
        Assert.Equal("[]", await Text(c, "SORT", "sort:l", "LIMIT", "0", "0"));
        await AssertError(c, "ERR value is not an integer or out of range", "SORT", "sort:l", "LIMIT", "x", "0");
        await AssertError(c, "ERR syntax error", "SORT", "sort:l", "LIMIT", "0");
        await AssertError(c, "ERR syntax error", "SORT", "sort:l", "foo");
        await AssertError(c, "ERR syntax error", "SORT_RO", "sort:l", "STORE", "x");
    }

    [Fact]
    public async Task NoSortKeepsNativeOrder()
    {
        await using var c = await ListAsync("sort:n");
        Assert.Equal("[3, 1, 2, 10, -5, 1.5, 2]", await Text(c, "SORT", "sort:n", "BY", "nosort"));
        Assert.Equal("[2, 1.5, -5, 10, 2, 1, 3]", await Text(c, "SORT", "sort:n", "BY", "nosort", "DESC"));
        Assert.Equal("[1, 2]", await Text(c, "SORT", "sort:n", "BY", "nosort", "LIMIT", "1", "2"));
        Assert.Equal("[1.5, -5]", await Text(c, "SORT", "sort:n", "BY", "nosort", "DESC", "LIMIT", "1", "2"));
        Assert.Equal("[-5, 1.5, 2]", await Text(c, "SORT_RO", "sort:n", "BY", "nosort", "LIMIT", "4", "9223372036854775807"));

        await c.CallAsync("DEL", "sort:z");
        await c.CallAsync("ZADD", "sort:z", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e");
        Assert.Equal("[a, c, e, b, d]", await Text(c, "SORT", "sort:z", "BY", "nosort"));
        Assert.Equal("[d, b, e, c, a]", await Text(c, "SORT", "sort:z", "BY", "nosort", "DESC"));
        Assert.Equal("[b, e]", await Text(c, "SORT", "sort:z", "BY", "nosort", "DESC", "LIMIT", "1", "2"));
        Assert.Equal("[]", await Text(c, "SORT", "sort:z", "BY", "nosort", "LIMIT", "5", "10"));
        Assert.Equal("[a, c, e, b, d]", await Text(c, "SORT", "sort:z", "BY", "nosort", "LIMIT", "-10", "100"));
    }

    [Fact]
    public async Task SortingASortedSetConvertsItToASkiplist()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "sort:zc");
        await c.CallAsync("ZADD", "sort:zc", "1", "a", "5", "b", "2", "c", "10", "d", "3", "e");
        Assert.Equal("listpack", (await c.CallAsync("OBJECT", "ENCODING", "sort:zc")).Text);
        Assert.Equal("[e, d, c, b, a]", await Text(c, "SORT", "sort:zc", "ALPHA", "DESC"));
        Assert.Equal("skiplist", (await c.CallAsync("OBJECT", "ENCODING", "sort:zc")).Text);
    }

    [Fact]
    public async Task ByAndGetPatterns()
    {
        await using var c = await ListAsync("sort:p");
        await c.CallAsync("MSET", "sw_3", "30", "sw_1", "10", "sw_2", "20", "sw_10", "5", "sw_-5", "100");
        await c.CallAsync("DEL", "sh_1", "sh_2", "sh_3");
        await c.CallAsync("HSET", "sh_1", "f", "a");
        await c.CallAsync("HSET", "sh_2", "f", "b");
        await c.CallAsync("HSET", "sh_3", "f", "c");
        // A missing weight counts as 0.
        Assert.Equal("[1.5, 10, 1, 2, 2, 3, -5]", await Text(c, "SORT", "sort:p", "BY", "sw_*"));
        Assert.Equal("[-5, 3, 2, 2, 1, 10, 1.5]", await Text(c, "SORT", "sort:p", "BY", "sw_*", "DESC"));
        Assert.Equal("[10, 1]", await Text(c, "SORT", "sort:p", "BY", "sw_*", "LIMIT", "1", "2"));
        Assert.Equal("[1.5, (nil), 10, 5, 1, 10, 2, 20, 2, 20, 3, 30, -5, 100]", await Text(c, "SORT", "sort:p", "BY", "sw_*", "GET", "#", "GET", "sw_*"));
        Assert.Equal("[(nil), (nil), (nil), (nil), (nil), (nil), (nil)]", await Text(c, "SORT", "sort:p", "BY", "sw_*", "GET", "nokey"));
        // Missing hash fields sort first with ALPHA and keep their loading order.
        Assert.Equal("[10, -5, 1.5, 1, 2, 2, 3]", await Text(c, "SORT", "sort:p", "BY", "sh_*->f", "ALPHA"));
        Assert.Equal("[3, 2, 2, 1, 10, -5, 1.5]", await Text(c, "SORT", "sort:p", "BY", "sh_*->f", "ALPHA", "DESC"));
        await AssertError(c, "ERR One or more scores can't be converted into double", "SORT", "sort:p", "BY", "sh_*->f");
        Assert.Equal("[(nil), -5, a, 1, (nil), 1.5, b, 2, b, 2, c, 3, (nil), 10]", await Text(c, "SORT", "sort:p", "GET", "sh_*->f", "GET", "#"));

        // "->" with nothing after it is part of the key name.
        await c.CallAsync("DEL", "sort:arrow");
        await c.CallAsync("LPUSH", "sort:arrow", "a");
        await c.CallAsync("SET", "sx:a->", "100");
        Assert.Equal("[100]", await Text(c, "SORT", "sort:arrow", "BY", "num", "GET", "sx:*->"));
        Assert.Equal("[100]", await Text(c, "SORT_RO", "sort:arrow", "BY", "nosort", "GET", "sx:*->"));
    }

    [Fact]
    public async Task EqualScoresSortByTheElements()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "sort:eq");
        await c.CallAsync("SADD", "sort:eq", "a", "b", "c", "d", "e", "f", "g", "h", "i", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "z", "aa", "aaa", "azz");
        Assert.Equal("[a, aa, aaa, azz, b, c, d, e, f, g, h, i, l, m, n, o, p, q, r, s, t, u, v, z]",
            await Text(c, "SORT", "sort:eq", "BY", "nosuchscore:*"));
        // BY <constant> with STORE still sorts a set (lexicographically), for a deterministic result.
        Assert.Equal(24, (await c.CallAsync("SORT", "sort:eq", "BY", "_", "STORE", "sort:eqdst")).Integer);
        Assert.Equal("[a, aa, aaa, azz, b, c, d, e, f, g, h, i, l, m, n, o, p, q, r, s, t, u, v, z]", await Text(c, "LRANGE", "sort:eqdst", "0", "-1"));
    }

    [Fact]
    public async Task StoreWritesAListOrDeletes()
    {
        await using var c = await ListAsync("sort:s");
        await c.CallAsync("MSET", "ssw_3", "30", "ssw_1", "10", "ssw_2", "20");
        Assert.Equal(7, (await c.CallAsync("SORT", "sort:s", "BY", "ssw_*", "STORE", "sort:sdst")).Integer);
        Assert.Equal("[-5, 1.5, 10, 1, 2, 2, 3]", await Text(c, "LRANGE", "sort:sdst", "0", "-1"));
        Assert.Equal("listpack", (await c.CallAsync("OBJECT", "ENCODING", "sort:sdst")).Text);
        // Missing GET values are stored as empty strings.
        Assert.Equal(7, (await c.CallAsync("SORT", "sort:s", "GET", "ssw_*", "STORE", "sort:sdst")).Integer);
        Assert.Equal("[, 10, , 20, 20, 30, ]", await Text(c, "LRANGE", "sort:sdst", "0", "-1"));
        Assert.Equal(0, (await c.CallAsync("SORT", "sort:nokey", "STORE", "sort:sdst")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "sort:sdst")).Integer);
        Assert.Equal(0, (await c.CallAsync("SORT", "sort:s", "ALPHA", "LIMIT", "10", "10", "STORE", "sort:sdst")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "sort:sdst")).Integer);
        Assert.Equal(3, (await c.CallAsync("SORT", "sort:s", "BY", "nosort", "LIMIT", "0", "3", "STORE", "sort:sdst")).Integer);
        Assert.Equal("[3, 1, 2]", await Text(c, "LRANGE", "sort:sdst", "0", "-1"));
    }

    [Fact]
    public async Task ErrorsAndTypes()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "sort:str", "x");
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "SORT", "sort:str");
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "SORT", "sort:str", "STORE", "x");
        await c.CallAsync("DEL", "sort:bad");
        await c.CallAsync("SADD", "sort:bad", "1", "2", "3", "4", "not-a-double");
        await AssertError(c, "ERR One or more scores can't be converted into double", "SORT", "sort:bad");
        Assert.Equal("[]", await Text(c, "SORT", "sort:nokey"));
        Assert.Equal("[]", await Text(c, "SORT", "sort:nokey", "BY", "nosort"));

        await c.CallAsync("HELLO", "3");
        var r = await c.CallAsync("SORT", "sort:nokey2", "GET", "x");
        Assert.Equal('*', r.Kind);
        await c.CallAsync("DEL", "sort:r3");
        await c.CallAsync("RPUSH", "sort:r3", "1");
        r = await c.CallAsync("SORT", "sort:r3", "GET", "nokey");
        Assert.Equal('_', r.Items![0].Kind);
    }

    [Fact]
    public async Task FloatsAndSpecialValues()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "sort:f");
        await c.CallAsync("LPUSH", "sort:f", "1.1", "5.10", "3.10", "7.44", "2.1", "5.75", "6.12", "0.25", "1.15");
        Assert.Equal("[0.25, 1.1, 1.15, 2.1, 3.10, 5.10, 5.75, 6.12, 7.44]", await Text(c, "SORT", "sort:f"));
        await c.CallAsync("DEL", "sort:f2");
        // strtod reads leading blanks, hex and infinities; an empty string reads as 0.
        await c.CallAsync("RPUSH", "sort:f2", "1.1", "inf", "-inf", " 3", "0x10", "");
        Assert.Equal("[-inf, , 1.1,  3, 0x10, inf]", await Text(c, "SORT", "sort:f2"));
        await c.CallAsync("RPUSH", "sort:f2", "3 ");
        await AssertError(c, "ERR One or more scores can't be converted into double", "SORT", "sort:f2");
    }
    [Fact]
    public async Task TiesFollowValkeysSorts()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "st:l");
        await c.CallAsync("RPUSH", "st:l", "e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "e10", "e11", "e12", "e13", "e14", "e15", "e16", "e17", "e18", "e19");
        string[] weights = { "b", "a", "b", "a", "c", "a", "b", "c", "a", "b", "a", "c", "a", "b", "b", "c", "a", "b", "c", "a" };
        for (int i = 0; i < weights.Length; i++) await c.CallAsync("SET", "sth_e" + i, weights[i]);
        // A full sort is stable (glibc's merge sort)...
        Assert.Equal("[e1, e3, e5, e8, e10, e12, e16, e19, e0, e2, e6, e9, e13, e14, e17, e4, e7, e11, e15, e18]",
            await Text(c, "SORT", "st:l", "BY", "sth_*", "ALPHA"));
        // ... a LIMIT with BY uses Valkey's partial quicksort, which is not.
        Assert.Equal("[e3, e5, e8, e10, e12]", await Text(c, "SORT", "st:l", "BY", "sth_*", "ALPHA", "LIMIT", "2", "5"));
        Assert.Equal("[e11, e15, e7]", await Text(c, "SORT", "st:l", "BY", "sth_*", "ALPHA", "LIMIT", "0", "3", "DESC"));

        await c.CallAsync("DEL", "st:g");
        await c.CallAsync("GEOADD", "st:g", "10", "40", "a", "10", "40", "b", "10", "40", "c", "10", "40", "d", "10", "40", "e",
            "10", "40", "f", "10", "40", "g", "10", "40", "h", "10.001", "40", "i", "10.001", "40", "j");
        Assert.Equal("[a, b, c, d, e, f, g, h, i, j]", await Text(c, "GEORADIUS", "st:g", "10", "40", "10", "km", "ASC"));
        Assert.Equal("[i, j, c, d, e, a, g, h, f]", await Text(c, "GEORADIUS", "st:g", "10", "40", "10", "km", "COUNT", "9", "DESC"));
    }

    [Fact]
    public void PartialQuickSortOrdersTheRequestedWindow()
    {
        var rnd = new Random(17);
        for (int round = 0; round < 200; round++)
        {
            int n = rnd.Next(1, 120);
            var data = Enumerable.Range(0, n).Select(_ => rnd.Next(1000)).ToArray();
            var full = data.OrderBy(x => x).ToArray();
            int lo = rnd.Next(n), hi = Math.Min(n - 1, lo + rnd.Next(20));
            var partial = (int[])data.Clone();
            Kvasir.Types.CSort.PartialQuickSort(partial, (a, b) => a.CompareTo(b), lo, hi);
            for (int i = lo; i <= hi; i++) Assert.Equal(full[i], partial[i]);
            var merged = (int[])data.Clone();
            Kvasir.Types.CSort.MergeSort(merged, (a, b) => a.CompareTo(b));
            Assert.Equal(full, merged);
        }
    }
}
