using Kvasir.Tests.Infrastructure;
using Kvasir.Types;
using static Kvasir.Tests.Infrastructure.RespAssert;

namespace Kvasir.Tests.Types;

/// <summary>The geohash arithmetic and the GEO commands over TCP. Every expected reply was taken from a real Valkey 8.</summary>
public sealed class GeoTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public GeoTests(SharedServerFixture fixture) => _server = fixture.Server;

    private async Task<RespClient> SicilyAsync(string key)
    {
        var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", key);
        Assert.Equal(2, (await c.CallAsync("GEOADD", key, "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania")).Integer);
        return c;
    }

    // ----- geohash arithmetic -----

    [Fact]
    public void InterleaveRoundTrips()
    {
        var rnd = new Random(7);
        for (int i = 0; i < 1000; i++)
        {
            uint x = (uint)rnd.NextInt64(0, 1L << 32), y = (uint)rnd.NextInt64(0, 1L << 32);
            ulong v = GeoHash.Interleave(x, y);
            ulong back = GeoHash.Deinterleave(v);
            Assert.Equal(x, (uint)back);
            Assert.Equal(y, (uint)(back >> 32));
        }
    }

    [Fact]
    public void ScoresAndDecodingMatchValkey()
    {
        Assert.Equal(3479099956230698UL, GeoHash.Score(13.361389, 38.115556));
        Assert.Equal(3479447370796909UL, GeoHash.Score(15.087269, 37.502669));
        Assert.True(GeoHash.DecodeScore(3479099956230698, out double lon, out double lat));
        Assert.Equal(13.361389338970184, lon, 12);
        Assert.Equal(38.115556395496299, lat, 12);
        Span<byte> hash = stackalloc byte[11];
        GeoHash.ToBase32(3479099956230698, hash);
        Assert.Equal("sqc8b49rny0", System.Text.Encoding.ASCII.GetString(hash));
    }

    [Fact]
    public void DistanceFormattingRoundsToFourDecimals()
    {
        var buf = new byte[40];
        string F(double v) => System.Text.Encoding.ASCII.GetString(buf, 0, GeoHash.FormatDistance(v, buf));
        Assert.Equal("0.0000", F(0));
        Assert.Equal("0.7750", F(0.775));
        GeoHash.DecodeScore(3479099956230698, out double lon1, out double lat1);
        GeoHash.DecodeScore(3479447370796909, out double lon2, out double lat2);
        Assert.Equal("166274.1516", F(GeoHash.Distance(lon1, lat1, lon2, lat2)));
        Assert.Equal("0.0001", F(0.00005000001));
        Assert.Equal("12.0000", F(12));
    }

    [Fact]
    public void SearchAreasCoverTheShape()
    {
        var shape = new GeoShape { Longitude = 15, Latitude = 37, Radius = 200, Conversion = 1000 };
        var cells = GeoHash.AreasForShape(ref shape);
        Assert.Equal(9, cells.Length);
        Assert.False(cells[0].IsZero);
        Assert.True(shape.MinLat < 37 && shape.MaxLat > 37 && shape.MinLon < 15 && shape.MaxLon > 15);
        Assert.Equal(6, GeoHash.EstimateStepsByRadius(200000, 37));
        Assert.Equal(26, GeoHash.EstimateStepsByRadius(0, 0));
    }

    // ----- commands -----

    [Fact]
    public async Task GeoAddOptionsAndErrors()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "geo:add");
        Assert.Equal(1, (await c.CallAsync("GEOADD", "geo:add", "-73.9454966", "40.747533", "lic market")).Integer);
        Assert.Equal(0, (await c.CallAsync("GEOADD", "geo:add", "-73.9454966", "40.747533", "lic market")).Integer);
        Assert.Equal(1, (await c.CallAsync("GEOADD", "geo:add", "CH", "40.747533", "-73.9454966", "lic market")).Integer);
        Assert.Equal(0, (await c.CallAsync("GEOADD", "geo:add", "NX", "-73.9454966", "40.747533", "lic market")).Integer);
        Assert.Equal(0, (await c.CallAsync("GEOADD", "geo:add", "XX", "-83.9454966", "40.747533", "lic market")).Integer);
        Assert.Equal(1, (await c.CallAsync("GEOADD", "geo:add", "CH", "XX", "-73.9454966", "40.747533", "lic market")).Integer);
        await AssertError(c, "ERR syntax error", "GEOADD", "geo:add", "xx", "nx", "-73.9454966", "40.747533", "lic market");
        await AssertError(c, "ERR syntax error", "GEOADD", "geo:add", "ch", "xx", "foo", "-73.9454966", "40.747533", "lic market");
        await AssertError(c, "ERR value is not a valid float", "GEOADD", "geo:add", "-73.9454966", "40.747533", "a", "foo", "bar", "b");
        await AssertError(c, "ERR invalid longitude,latitude pair 200.000000,100.000000", "GEOADD", "geo:add", "200", "100", "bad");
        await AssertError(c, "ERR invalid longitude,latitude pair 13.000000,inf", "GEOADD", "geo:add", "13", "inf", "bad");
        Assert.Equal(0, (await c.CallAsync("GEOADD", "geo:none", "XX", "1", "1", "a")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "geo:none")).Integer);
        await c.CallAsync("SET", "geo:str", "x");
        await AssertError(c, "WRONGTYPE Operation against a key holding the wrong kind of value", "GEOADD", "geo:str", "1", "1", "a");
    }

    [Fact]
    public async Task PosDistHashLikeValkey()
    {
        await using var c = await SicilyAsync("geo:sicily");
        Assert.Equal("3479099956230698", (await c.CallAsync("ZSCORE", "geo:sicily", "Palermo")).Text);
        Assert.Equal("[[13.36138933897018433, 38.11555639549629859], [15.08726745843887329, 37.50266842333162032], (nil)]",
            (await c.CallAsync("GEOPOS", "geo:sicily", "Palermo", "Catania", "NonExisting")).ToString());
        Assert.Equal("166274.1516", (await c.CallAsync("GEODIST", "geo:sicily", "Palermo", "Catania")).Text);
        Assert.Equal("166.2742", (await c.CallAsync("GEODIST", "geo:sicily", "Palermo", "Catania", "km")).Text);
        Assert.Equal("103.3182", (await c.CallAsync("GEODIST", "geo:sicily", "Palermo", "Catania", "MI")).Text);
        Assert.Equal("545518.8700", (await c.CallAsync("GEODIST", "geo:sicily", "Palermo", "Catania", "ft")).Text);
        Assert.True((await c.CallAsync("GEODIST", "geo:sicily", "Palermo", "nope")).IsNull);
        Assert.True((await c.CallAsync("GEODIST", "geo:nokey", "a", "b")).IsNull);
        await AssertError(c, "ERR unsupported unit provided. please use M, KM, FT, MI", "GEODIST", "geo:sicily", "Palermo", "Catania", "parsec");
        await AssertError(c, "ERR syntax error", "GEODIST", "geo:sicily", "Palermo", "Catania", "km", "x");
        Assert.Equal("[sqc8b49rny0, sqdtr74hyu0, (nil)]", (await c.CallAsync("GEOHASH", "geo:sicily", "Palermo", "Catania", "nope")).ToString());
        Assert.Equal("[]", (await c.CallAsync("GEOHASH", "geo:sicily")).ToString());
        Assert.Equal("[(nil)]", (await c.CallAsync("GEOPOS", "geo:nokey", "a")).ToString());
    }

    [Fact]
    public async Task Resp3RepliesCoordinatesAsDoubles()
    {
        await using var c = await SicilyAsync("geo:r3");
        await c.CallAsync("HELLO", "3");
        var pos = await c.CallAsync("GEOPOS", "geo:r3", "Palermo", "nope");
        Assert.Equal(',', pos.Items![0].Items![0].Kind);
        Assert.Equal("13.36138933897018433", pos.Items[0].Items![0].Text);
        Assert.Equal('_', pos.Items[1].Kind);
        var found = await c.CallAsync("GEOSEARCH", "geo:r3", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC", "WITHCOORD", "WITHDIST", "WITHHASH");
        Assert.Equal("[[Catania, 56.4413, 3479447370796909, [15.08726745843887329, 37.50266842333162032]], [Palermo, 190.4424, 3479099956230698, [13.36138933897018433, 38.11555639549629859]]]",
            found.ToString());
        Assert.Equal('$', found.Items![0].Items![1].Kind);
        Assert.Equal(':', found.Items[0].Items![2].Kind);
    }

    [Fact]
    public async Task SearchesAndTheirOptions()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "geo:nyc");
        Assert.Equal(7, (await c.CallAsync("GEOADD", "geo:nyc", "-73.9454966", "40.747533", "lic market", "-73.9733487", "40.7648057", "central park n/q/r",
            "-73.9903085", "40.7362513", "union square", "-74.0131604", "40.7126674", "wtc one", "-73.7858139", "40.6428986", "jfk",
            "-73.9375699", "40.7498929", "q4", "-73.9564142", "40.7480973", "4545")).Integer);
        // Without an order the members come in the order of the cells scanned.
        Assert.Equal("[wtc one, union square, central park n/q/r, 4545, lic market, q4]",
            (await c.CallAsync("GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "10", "km")).ToString());
        Assert.Equal("[central park n/q/r, 4545, union square]",
            (await c.CallAsync("GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "3", "km", "asc")).ToString());
        Assert.Equal("[central park n/q/r, 4545, union square, lic market]",
            (await c.CallAsync("GEOSEARCH", "geo:nyc", "FROMLONLAT", "-73.9798091", "40.7598464", "BYBOX", "6", "6", "km", "asc")).ToString());
        Assert.Equal("[[central park n/q/r, 0.7750], [4545, 2.3651], [union square, 2.7697]]",
            (await c.CallAsync("GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "3", "km", "withdist", "asc")).ToString());
        Assert.Equal("[wtc one, union square, central park n/q/r]",
            (await c.CallAsync("GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "10", "km", "COUNT", "3", "ANY")).ToString());
        Assert.Equal("[wtc one, q4]",
            (await c.CallAsync("GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "10", "km", "COUNT", "2", "DESC")).ToString());
        Assert.Equal("[wtc one, union square, central park n/q/r, 4545, lic market]",
            (await c.CallAsync("GEORADIUSBYMEMBER", "geo:nyc", "wtc one", "7", "km")).ToString());
        Assert.Equal("[[wtc one, 0.0000], [union square, 3.2544], [central park n/q/r, 6.7000], [4545, 6.1975], [lic market, 6.8969]]",
            (await c.CallAsync("GEORADIUSBYMEMBER_RO", "geo:nyc", "wtc one", "7", "km", "withdist")).ToString());

        await AssertError(c, "ERR the ANY argument requires COUNT argument", "GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "10", "km", "ANY", "ASC");
        await AssertError(c, "ERR syntax error", "GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "10", "km", "COUNT");
        await AssertError(c, "ERR COUNT must be > 0", "GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "10", "km", "COUNT", "0");
        await AssertError(c, "ERR radius cannot be negative", "GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "-10", "km");
        await AssertError(c, "ERR need numeric radius", "GEORADIUS", "geo:nyc", "-73.9798091", "40.7598464", "abc", "km");
        await AssertError(c, "ERR could not decode requested zset member", "GEORADIUSBYMEMBER", "geo:nyc", "nope", "7", "km");
        await AssertError(c, "ERR syntax error", "GEOSEARCH", "geo:nyc", "FROMLONLAT", "-73.9798091", "40.7598464", "FROMMEMBER", "xxx", "BYBOX", "6", "6", "km");
        await AssertError(c, "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for GEOSEARCH", "GEOSEARCH", "geo:nyc", "BYBOX", "3", "3", "km", "asc");
        await AssertError(c, "ERR exactly one of BYRADIUS and BYBOX can be specified for geosearch", "geosearch", "geo:nyc", "FROMLONLAT", "-73.9798091", "40.7598464", "asc", "withhash");
        await AssertError(c, "ERR syntax error", "GEOSEARCH", "geo:nyc", "FROMLONLAT", "-73.9798091", "40.7598464", "BYBOX", "6", "6", "km", "STOREDIST");
        await AssertError(c, "ERR height or width cannot be negative", "GEOSEARCH", "geo:nyc", "FROMLONLAT", "1", "1", "BYBOX", "-6", "6", "km");
        await AssertError(c, "ERR need numeric height", "GEOSEARCH", "geo:nyc", "FROMLONLAT", "1", "1", "BYBOX", "6", "a", "km");
        await AssertError(c, "ERR syntax error", "GEORADIUS_RO", "geo:nyc", "-73.9798091", "40.7598464", "10", "km", "STORE", "x");

        // Missing source: empty replies; the member is not even looked for.
        Assert.Equal("[]", (await c.CallAsync("GEORADIUSBYMEMBER", "geo:nokey", "nope", "abc", "kmx")).ToString());
        Assert.Equal("[]", (await c.CallAsync("GEOSEARCH", "geo:nokey", "FROMMEMBER", "x", "BYRADIUS", "1", "km", "ASC")).ToString());
    }

    [Fact]
    public async Task StoreAndStoreDist()
    {
        await using var c = await SicilyAsync("geo:src");
        await AssertError(c, "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            "GEORADIUS", "geo:src", "15", "37", "200", "km", "STORE", "geo:dst", "WITHDIST");
        await AssertError(c, "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
            "GEOSEARCHSTORE", "geo:dst", "geo:src", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "WITHHASH");
        Assert.Equal(2, (await c.CallAsync("GEOSEARCHSTORE", "geo:dst", "geo:src", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "STOREDIST")).Integer);
        Assert.Equal("[Catania, 56.4412578701582, Palermo, 190.44242984775784]", (await c.CallAsync("ZRANGE", "geo:dst", "0", "-1", "WITHSCORES")).ToString());
        Assert.Equal("listpack", (await c.CallAsync("OBJECT", "ENCODING", "geo:dst")).Text);
        Assert.Equal(1, (await c.CallAsync("GEORADIUS", "geo:src", "15", "37", "200", "km", "COUNT", "1", "STORE", "geo:dst")).Integer);
        Assert.Equal("[Catania, 3479447370796909]", (await c.CallAsync("ZRANGE", "geo:dst", "0", "-1", "WITHSCORES")).ToString());
        // An empty result deletes the destination.
        Assert.Equal(0, (await c.CallAsync("GEORADIUS", "geo:src", "1", "1", "1", "km", "STORE", "geo:dst")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "geo:dst")).Integer);
        await c.CallAsync("SET", "geo:dst", "x");
        Assert.Equal(0, (await c.CallAsync("GEOSEARCHSTORE", "geo:dst", "geo:nokey", "FROMLONLAT", "15", "37", "BYBOX", "6", "6", "km")).Integer);
        Assert.Equal(0, (await c.CallAsync("EXISTS", "geo:dst")).Integer);
    }

    [Fact]
    public async Task WrongTypeSources()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("SET", "geo:wrong", "x");
        const string wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
        await AssertError(c, wrongType, "GEOPOS", "geo:wrong", "a");
        await AssertError(c, wrongType, "GEOHASH", "geo:wrong", "a");
        await AssertError(c, wrongType, "GEODIST", "geo:wrong", "a", "b");
        await AssertError(c, wrongType, "GEORADIUS", "geo:wrong", "1", "1", "1", "km");
        await AssertError(c, wrongType, "GEOSEARCH", "geo:wrong", "FROMMEMBER", "a", "BYBOX", "1", "1", "km");
    }

    [Fact]
    public async Task BoxesAcrossTheAntimeridian()
    {
        await using var c = await _server.ConnectAsync();
        await c.CallAsync("DEL", "geo:points");
        await c.CallAsync("GEOADD", "geo:points", "179.5", "36", "point1", "-179.5", "36", "point2");
        Assert.Equal("[point1, point2]", (await c.CallAsync("GEOSEARCH", "geo:points", "FROMLONLAT", "179", "37", "BYBOX", "400", "400", "km", "ASC")).ToString());
        Assert.Equal("[point2, point1]", (await c.CallAsync("GEOSEARCH", "geo:points", "FROMLONLAT", "-179", "37", "BYBOX", "400", "400", "km", "ASC")).ToString());
    }
    [Fact]
    public async Task GeoAddIsReplicatedAsZAdd()
    {
        await using var server = await TestServer.StartAsync();
        // AttachAsync skips the newlines a primary sends while it prepares the image (a busy machine).
        await using var replica = await ReplicationStream.AttachAsync(server);
        await using var c = await server.ConnectAsync();
        await c.CallAsync("GEOADD", "geo:repl", "CH", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania");
        await c.CallAsync("GEOADD", "geo:repl", "13.361389", "38.115556", "Palermo"); // no change, not replicated
        await c.CallAsync("GEOSEARCHSTORE", "geo:repl2", "geo:repl", "FROMLONLAT", "15", "37", "BYRADIUS", "100", "km");
        Task<string> Next() => ReplicationStream.NextAsync(replica);
        Assert.Equal("SELECT 0", await Next());
        Assert.Equal("zadd geo:repl CH 3479099956230698 Palermo 3479447370796909 Catania", await Next());
        Assert.Equal("GEOSEARCHSTORE geo:repl2 geo:repl FROMLONLAT 15 37 BYRADIUS 100 km", await Next());
    }
}
