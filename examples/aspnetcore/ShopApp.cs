using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Kvasir.Examples.AspNetCore;

/// <summary>
/// A small shop on Kvasir: the product catalogue is cached through IDistributedCache (cache-aside,
/// absolute and sliding expiry) and each visitor's cart lives in ASP.NET Core session state, also
/// stored in Kvasir. Both go through Microsoft.Extensions.Caching.StackExchangeRedis, whose
/// InstanceName ("shop:") prefixes every key, so several applications can share one server.
/// </summary>
public static class ShopApp
{
    public const string InstanceName = "shop:";

    /// <param name="args">Command-line arguments; "--Kvasir host:port" names the server (default localhost:6379).</param>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateSlimBuilder(args);
        string kvasir = builder.Configuration["Kvasir"] ?? "localhost:6379";

        builder.Services.AddStackExchangeRedisCache(options =>
        {
            options.Configuration = kvasir;
            options.InstanceName = InstanceName;
        });
        builder.Services.AddSession(options =>
        {
            options.IdleTimeout = TimeSpan.FromMinutes(20);
            options.Cookie.Name = ".shop.session";
            options.Cookie.HttpOnly = true;
            options.Cookie.IsEssential = true;
        });

        var app = builder.Build();
        app.UseSession();

        // Session state: the cart is one session entry, read and written as JSON.
        app.MapPost("/cart/{item}", async (string item, HttpContext ctx) =>
        {
            await ctx.Session.LoadAsync();
            var cart = ReadCart(ctx.Session);
            cart.Add(item);
            ctx.Session.SetString("cart", JsonSerializer.Serialize(cart));
            return Results.Ok(cart);
        });
        app.MapGet("/cart", async (HttpContext ctx) =>
        {
            await ctx.Session.LoadAsync();
            return Results.Ok(ReadCart(ctx.Session));
        });

        // IDistributedCache: cache-aside in front of a slow catalogue.
        app.MapGet("/products/{id:int}", async (int id, IDistributedCache cache, HttpContext ctx) =>
        {
            string key = "product:" + id;
            string? json = await cache.GetStringAsync(key);
            ctx.Response.Headers["X-Cache"] = json is null ? "miss" : "hit";
            if (json is null)
            {
                json = JsonSerializer.Serialize(await Catalogue.LoadAsync(id));
                await cache.SetStringAsync(key, json, new DistributedCacheEntryOptions
                {
                    AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(10),
                    SlidingExpiration = TimeSpan.FromMinutes(2),
                });
            }
            return Results.Content(json, "application/json");
        });
        app.MapDelete("/products/{id:int}", async (int id, IDistributedCache cache) =>
        {
            await cache.RemoveAsync("product:" + id);
            return Results.NoContent();
        });
        return app;
    }

    private static List<string> ReadCart(ISession session) =>
        session.GetString("cart") is { } json ? JsonSerializer.Deserialize<List<string>>(json) ?? new() : new();

    /// <summary>Stands for the database behind the cache; counts its loads.</summary>
    public static class Catalogue
    {
        private static int _loads;
        public static int Loads => _loads;

        public static async Task<Product> LoadAsync(int id)
        {
            Interlocked.Increment(ref _loads);
            await Task.Delay(20);
            return new Product(id, "product " + id, 10m + id);
        }
    }

    public sealed record Product(int Id, string Name, decimal Price);
}
