using System.Net;
using System.Net.Http.Json;
using Kvasir.Examples.AspNetCore;
using Kvasir.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Kvasir.Tests.Examples;

/// <summary>
/// examples/aspnetcore against Kvasir: Microsoft.Extensions.Caching.StackExchangeRedis stores the
/// session and the cache entries as hashes (absexp, sldexp, data) under the InstanceName prefix,
/// with TTLs from the entry options, refreshed on use (sliding expiry).
/// </summary>
public sealed class AspNetCoreExampleTests
{
    private static async Task<(WebApplication App, HttpClient Http)> StartShop(TestServer kvasir)
    {
        var app = ShopApp.Build(["--Kvasir", $"127.0.0.1:{kvasir.Port}", "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default", "Warning"]);
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() })
        {
            BaseAddress = new Uri(address),
            Timeout = TimeSpan.FromSeconds(30),
        };
        return (app, http);
    }

    private static async Task<List<string>> Keys(RespClient c) =>
        (await c.CallAsync("KEYS", "*")).Items!.Select(i => i.Text!).Order().ToList();

    [Fact]
    public async Task SessionCartLivesInKvasirUnderTheInstanceName()
    {
        await using var kvasir = await TestServer.StartAsync();
        var (app, http) = await StartShop(kvasir);
        await using var _ = app;
        using var __ = http;

        (await http.PostAsync("/cart/book", null)).EnsureSuccessStatusCode();
        (await http.PostAsync("/cart/pen", null)).EnsureSuccessStatusCode();
        Assert.Equal(["book", "pen"], await http.GetFromJsonAsync<List<string>>("/cart"));

        await using var c = await kvasir.ConnectAsync();
        var keys = await Keys(c);
        string sessionKey = Assert.Single(keys);
        Assert.StartsWith(ShopApp.InstanceName, sessionKey);
        Assert.Equal("hash", (await c.CallAsync("TYPE", sessionKey)).Text);
        Assert.Contains("book", (await c.CallAsync("HGET", sessionKey, "data")).Text);
        // Session entries slide: 20 minutes of idle timeout, renewed by each request.
        long ttl = (await c.CallAsync("TTL", sessionKey)).Integer;
        Assert.InRange(ttl, 20 * 60 - 30, 20 * 60);
        await c.CallAsync("EXPIRE", sessionKey, "100");
        Assert.Equal(["book", "pen"], await http.GetFromJsonAsync<List<string>>("/cart"));
        Assert.InRange((await c.CallAsync("TTL", sessionKey)).Integer, 20 * 60 - 30, 20 * 60);

        // Another visitor (no cookie) gets a session of their own.
        using var other = new HttpClient { BaseAddress = http.BaseAddress };
        Assert.Empty((await other.GetFromJsonAsync<List<string>>("/cart"))!);
        await other.PostAsync("/cart/lamp", null);
        Assert.Equal(2, (await Keys(c)).Count(k => k.StartsWith(ShopApp.InstanceName, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task DistributedCacheIsCacheAsideWithExpiry()
    {
        await using var kvasir = await TestServer.StartAsync();
        var (app, http) = await StartShop(kvasir);
        await using var _ = app;
        using var __ = http;

        int loads = ShopApp.Catalogue.Loads;
        using (var first = await http.GetAsync("/products/7"))
        {
            Assert.Equal("miss", first.Headers.GetValues("X-Cache").Single());
            Assert.Equal(7, (await first.Content.ReadFromJsonAsync<ShopApp.Product>())!.Id);
        }
        using (var second = await http.GetAsync("/products/7"))
            Assert.Equal("hit", second.Headers.GetValues("X-Cache").Single());
        Assert.Equal(loads + 1, ShopApp.Catalogue.Loads);

        await using var c = await kvasir.ConnectAsync();
        const string key = ShopApp.InstanceName + "product:7";
        Assert.Equal(["shop:product:7"], await Keys(c));
        var fields = (await c.CallAsync("HGETALL", key)).Items!.Select(i => i.Text).ToList();
        Assert.Contains("absexp", fields);
        Assert.Contains("sldexp", fields);
        Assert.Contains("data", fields);
        // The sliding window (2 minutes) bounds the TTL, never past the absolute expiry (10 minutes).
        Assert.InRange((await c.CallAsync("TTL", key)).Integer, 100, 120);

        (await http.DeleteAsync("/products/7")).EnsureSuccessStatusCode();
        Assert.Empty(await Keys(c));
        using (var third = await http.GetAsync("/products/7"))
            Assert.Equal("miss", third.Headers.GetValues("X-Cache").Single());
    }
}
