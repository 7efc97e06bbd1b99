using Kvasir.Tests.Infrastructure;
using StackExchange.Redis;

namespace Kvasir.Tests.Clients;

/// <summary>
/// A real client library: StackExchange.Redis 1.2.6 connects (without allowAdmin its handshake is
/// AUTH, CLIENT SETNAME, ECHO as a tracer, GET of its tie-breaker key and PING, on an interactive
/// and a subscription connection) and then works for strings, databases and transactions.
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

    private async Task<Connection> Connect(string? password = null, int? port = null)
    {
        var options = new ConfigurationOptions
        {
            AllowAdmin = false,
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
}
