using Kvasir.Tests.Infrastructure;
using StackExchange.Redis;

namespace Kvasir.Tests.Clients;

/// <summary>
/// A real client library: StackExchange.Redis 3.x connects (its handshake is HELLO or AUTH, CLIENT
/// SETNAME and SETINFO, CONFIG GET and INFO when admin, ECHO as a tracer, the tie-breaker GET, on an
/// interactive and a subscription connection, over RESP2 or RESP3) and then works for strings,
/// databases, transactions, Pub/Sub, scripts, SCAN and the admin API.
/// </summary>
public sealed class StackExchangeRedisTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public StackExchangeRedisTests(SharedServerFixture fixture) => _server = fixture.Server;

    /// <summary>A connected multiplexer. Its synchronous Dispose waits about 10 s for its socket threads
    /// (against Valkey too), so it is closed without waiting first.</summary>
    private sealed class Connection(ConnectionMultiplexer mux) : IAsyncDisposable
    {
        public ConnectionMultiplexer Mux { get; } = mux;
        public bool IsConnected => Mux.IsConnected;
        public IDatabase GetDatabase(int db = -1) => Mux.GetDatabase(db);

        public async ValueTask DisposeAsync()
        {
            await Mux.CloseAsync(allowCommandsToComplete: false);
            Mux.Dispose();
        }
    }

    private async Task<Connection> Connect(string? password = null, int? port = null, RedisProtocol? protocol = null, bool admin = false)
    {
        var options = new ConfigurationOptions
        {
            AllowAdmin = admin,
            Protocol = protocol,
            AbortOnConnectFail = true,
            ConnectTimeout = 10000,
            SyncTimeout = 10000,
            ClientName = "se-test",
            Password = password,
        };
        options.EndPoints.Add("127.0.0.1", port ?? _server.Port);
        var log = new StringWriter();
        try
        {
            // The async connect does not hold a thread-pool thread while the in-process server answers.
            return new Connection(await ConnectionMultiplexer.ConnectAsync(options, log));
        }
        catch (Exception e)
        {
            throw new InvalidOperationException("connect failed:\n" + log, e);
        }
    }

    [Fact]
    public async Task ConnectsAndRoundTripsStrings()
    {
        await using var mux = await Connect();
        Assert.True(mux.IsConnected);
        var db = mux.GetDatabase();
        Assert.True(db.StringSet("se:k", "hello"));
        Assert.Equal("hello", (string?)db.StringGet("se:k"));
        Assert.True((await db.StringGetAsync("se:missing")).IsNull);
        Assert.True(await db.StringSetAsync("se:k2", new byte[] { 0, 1, 2, 255 }));
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, (byte[]?)await db.StringGetAsync("se:k2"));
        Assert.True(db.Ping() >= TimeSpan.Zero);
    }

    [Fact]
    public async Task PipelinedAsyncCommands()
    {
        await using var mux = await Connect();
        var db = mux.GetDatabase();
        var sets = Enumerable.Range(0, 1000).Select(i => db.StringSetAsync("se:p:" + i, i.ToString())).ToArray();
        Assert.All(await Task.WhenAll(sets), Assert.True);
        var gets = Enumerable.Range(0, 1000).Select(i => db.StringGetAsync("se:p:" + i)).ToArray();
        var values = await Task.WhenAll(gets);
        for (int i = 0; i < 1000; i++) Assert.Equal(i.ToString(), (string?)values[i]);
    }

    [Fact]
    public async Task SelectsOtherDatabases()
    {
        await using var mux = await Connect();
        mux.GetDatabase(3).StringSet("se:db", "three");
        mux.GetDatabase(0).StringSet("se:db", "zero");
        Assert.Equal("three", (string?)mux.GetDatabase(3).StringGet("se:db"));
        Assert.Equal("zero", (string?)mux.GetDatabase(0).StringGet("se:db"));
    }

    [Fact]
    public async Task TransactionsCommit()
    {
        await using var mux = await Connect();
        var db = mux.GetDatabase();
        var tran = db.CreateTransaction();
        var set = tran.StringSetAsync("se:tx", "1");
        var get = tran.StringGetAsync("se:tx");
        Assert.True(await tran.ExecuteAsync());
        Assert.True(await set);
        Assert.Equal("1", (string?)await get);
    }

    [Fact]
    public async Task TransactionConditionUsesWatch()
    {
        await using var mux = await Connect();
        var db = mux.GetDatabase();
        db.StringSet("se:cond", "expected");

        var ok = db.CreateTransaction();
        ok.AddCondition(Condition.StringEqual("se:cond", "expected"));
        _ = ok.StringSetAsync("se:cond", "updated");
        Assert.True(await ok.ExecuteAsync());
        Assert.Equal("updated", (string?)db.StringGet("se:cond"));

        var failing = db.CreateTransaction();
        failing.AddCondition(Condition.StringEqual("se:cond", "expected"));
        _ = failing.StringSetAsync("se:cond", "never");
        Assert.False(await failing.ExecuteAsync());
        Assert.Equal("updated", (string?)db.StringGet("se:cond"));
    }

    [Fact]
    public async Task ClientNameIsSetByTheHandshake()
    {
        await using var mux = await Connect();
        mux.GetDatabase().Ping();
        List<string> list;
        lock (_server.Server.DataLock) list = _server.Server.Clients.All.Select(c => c.Name).ToList();
        Assert.Contains("se-test", list);
    }

    [Fact]
    public async Task ExecuteRawCommands()
    {
        await using var mux = await Connect();
        var db = mux.GetDatabase();
        Assert.Equal("hi", (string?)db.Execute("ECHO", "hi"));
        var id = (long)db.Execute("CLIENT", "ID");
        Assert.True(id > 0);
        Assert.Equal("se-test", (string?)db.Execute("CLIENT", "GETNAME"));
    }

    [Fact]
    public async Task ConnectsWithAPassword()
    {
        await using var server = await TestServer.StartAsync(("requirepass", "se-secret"));
        await using var mux = await Connect("se-secret", server.Port);
        var db = mux.GetDatabase();
        Assert.True(db.StringSet("se:auth", "yes"));
        Assert.Equal("yes", (string?)db.StringGet("se:auth"));
    }

    [Fact]
    public async Task ServerErrorsSurfaceAsExceptions()
    {
        await using var mux = await Connect();
        var db = mux.GetDatabase();
        var e = Assert.Throws<RedisServerException>(() => db.Execute("CLIENT", "SETNAME", "a b"));
        Assert.Equal("ERR Client names cannot contain spaces, newlines or special characters.", e.Message);
    }

    [Theory]
    [InlineData(RedisProtocol.Resp2)]
    [InlineData(RedisProtocol.Resp3)]
    public async Task NegotiatesTheProtocolAndPublishesToSubscribers(RedisProtocol protocol)
    {
        await using var mux = await Connect(protocol: protocol);
        var server = mux.Mux.GetServer(mux.Mux.GetEndPoints()[0]);
        Assert.Equal(protocol, server.Protocol);
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var channel = RedisChannel.Literal("se:chan:" + protocol);
        var sub = mux.Mux.GetSubscriber();
        await sub.SubscribeAsync(channel, (_, message) => received.TrySetResult(message!));
        Assert.Equal(1, await sub.PublishAsync(channel, "hello " + protocol));
        Assert.Equal("hello " + protocol, await received.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        var db = mux.GetDatabase();
        await db.HashSetAsync("se:h:" + protocol, [new HashEntry("a", 1), new HashEntry("b", 2)]);
        Assert.Equal(2, (await db.HashGetAllAsync("se:h:" + protocol)).Length);
    }

    [Fact]
    public async Task CollectionsExpiryAndScripts()
    {
        await using var mux = await Connect();
        var db = mux.GetDatabase();
        await db.KeyDeleteAsync(["se:z", "se:l", "se:ttl"]);
        await db.SortedSetAddAsync("se:z", [new SortedSetEntry("a", 1), new SortedSetEntry("b", 2), new SortedSetEntry("c", 3)]);
        Assert.Equal(["c", "b"], (await db.SortedSetRangeByRankAsync("se:z", 0, 1, Order.Descending)).Select(v => (string)v!));
        await db.ListRightPushAsync("se:l", ["x", "y", "z"]);
        Assert.Equal("x", (string?)await db.ListLeftPopAsync("se:l"));
        Assert.Equal(2, await db.ListLengthAsync("se:l"));
        await db.StringSetAsync("se:ttl", "v", TimeSpan.FromSeconds(100));
        var ttl = await db.KeyTimeToLiveAsync("se:ttl");
        Assert.InRange(ttl!.Value.TotalSeconds, 90, 100);
        var sum = await db.ScriptEvaluateAsync("return redis.call('ZSCORE', KEYS[1], ARGV[1]) + 40", ["se:z"], ["b"]);
        Assert.Equal(42, (long)sum);
    }

    [Fact]
    public async Task AdminApiReadsInfoConfigAndScansKeys()
    {
        await using var mux = await Connect(admin: true);
        var db = mux.GetDatabase(7);
        for (int i = 0; i < 50; i++) await db.StringSetAsync("se:scan:" + i, i);
        var server = mux.Mux.GetServer(mux.Mux.GetEndPoints()[0]);
        Assert.True(server.Version >= new Version(7, 2));
        Assert.Equal(ServerType.Standalone, server.ServerType);
        Assert.Contains(server.Info("keyspace").SelectMany(g => g), kv => kv.Key == "db7");
        Assert.Equal("noeviction", server.ConfigGet("maxmemory-policy").Single().Value);
        var keys = server.Keys(7, "se:scan:*", pageSize: 7).Select(k => (string)k!).ToHashSet();
        Assert.Equal(50, keys.Count);
        Assert.Equal(50, await server.DatabaseSizeAsync(7));
    }
}
