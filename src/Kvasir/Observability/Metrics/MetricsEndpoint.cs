using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Kvasir.Observability.Metrics;

/// <summary>
/// The HTTP side of observability, on <c>metrics-port</c> (0 = off) and <c>metrics-bind</c>, served by
/// Kestrel: <c>GET /metrics</c> (Prometheus text, redis_exporter's names plus Kvasir's runtime
/// metrics), <c>GET /</c> (the status page) and <c>GET /api/status</c> (the JSON it polls). Nothing here
/// runs while the port is 0: no type of ASP.NET Core is loaded and the command path has no hook.
/// </summary>
public sealed class MetricsEndpoint
{
    private readonly KvasirServer _server;
    private readonly object _gate = new();
    private WebApplication? _app;
    private RuntimeMetrics? _runtime;
    private CancellationTokenSource? _stopping;
    private static byte[]? _page;

    public MetricsEndpoint(KvasirServer server) => _server = server;

    /// <summary>The port served (the configured one), 0 when off.</summary>
    public int BoundPort { get; private set; }

    /// <summary>Addresses actually listened on.</summary>
    public IReadOnlyList<IPEndPoint> Endpoints { get; private set; } = Array.Empty<IPEndPoint>();

    /// <summary>
    /// Stops what is served and starts again from the current metrics-port/metrics-bind. Returns an
    /// error text (nothing is served then) or null. May run under the data lock (CONFIG SET): requests
    /// waiting for the lock give up when the endpoint stops, so stopping never waits for them.
    /// </summary>
    public string? Apply()
    {
        lock (_gate)
        {
            StopLocked();
            int port = _server.Config.MetricsPort;
            if (port == 0) return null;
            var endpoints = new List<IPEndPoint>();
            foreach (var address in _server.Config.MetricsBind)
            {
                bool optional = address.StartsWith('-');
                var ip = ParseAddress(optional ? address[1..] : address);
                if (ip is null) return $"Invalid metrics-bind address '{address}'";
                if (optional && !CanBind(ip)) continue;
                endpoints.Add(new IPEndPoint(ip, port));
            }
            if (endpoints.Count == 0) return "No metrics-bind address can be used";
            // Kestrel listens on [::] in dual mode, which takes the IPv4 wildcard too: "* ::*" (as in
            // valkey.conf's "bind * -::*") would otherwise fail with "address already in use".
            if (endpoints.Exists(e => e.Address.Equals(IPAddress.IPv6Any)))
                endpoints.RemoveAll(e => e.Address.Equals(IPAddress.Any));
            var stopping = new CancellationTokenSource();
            WebApplication? app = null;
            try
            {
                var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "kvasir-metrics" });
                builder.Logging.ClearProviders();
                builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
                {
                    o.AddServerHeader = false;
                    o.Limits.MaxRequestBodySize = 1024;
                    o.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
                    o.Limits.MaxConcurrentConnections = 64;
                    foreach (var ep in endpoints) o.Listen(ep);
                });
                app = builder.Build();
                var runtime = new RuntimeMetrics();
                app.Run(ctx => Serve(ctx, runtime, stopping.Token));
                app.StartAsync().GetAwaiter().GetResult();
                _app = app;
                _runtime = runtime;
                _stopping = stopping;
                BoundPort = port;
                Endpoints = endpoints;
                _server.Log.Notice($"Metrics and status page on http://{Describe(endpoints[0])}/ (metrics-port {port})");
                return null;
            }
            catch (Exception e) when (e is IOException or SocketException or InvalidOperationException or AggregateException)
            {
                _runtime?.Dispose();
                _runtime = null;
                if (app is not null) StopApp(app, stopping);
                string why = (e.InnerException ?? e).Message;
                _server.Log.Warning($"Could not listen on metrics port {port}: {why}");
                return $"Unable to listen on metrics port {port}: {why}";
            }
        }
    }

    public void Stop()
    {
        lock (_gate) StopLocked();
    }

    private void StopLocked()
    {
        var app = _app;
        _app = null;
        BoundPort = 0;
        Endpoints = Array.Empty<IPEndPoint>();
        _runtime?.Dispose();
        _runtime = null;
        if (app is not null) StopApp(app, _stopping!);
        _stopping = null;
    }

    private static void StopApp(WebApplication app, CancellationTokenSource stopping)
    {
        stopping.Cancel();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            app.StopAsync(timeout.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
        }
        app.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    private static string Describe(IPEndPoint ep) =>
        ep.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ep.Address}]:{ep.Port}" : $"{ep.Address}:{ep.Port}";

    /// <summary>metrics-bind addresses: IPs, "*" (every IPv4 address), "::*" (every IPv6 address), "localhost".</summary>
    public static IPAddress? ParseAddress(string text) => text switch
    {
        "*" or "0.0.0.0" => IPAddress.Any,
        "::*" or "::" => IPAddress.IPv6Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.TryParse(text, out var ip) ? ip : null,
    };

    /// <summary>Whether an optional address ("-::1") exists on this host (IPv6 may be off).</summary>
    private static bool CanBind(IPAddress ip)
    {
        try
        {
            using var s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(ip, 0));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task Serve(HttpContext ctx, RuntimeMetrics runtime, CancellationToken stopping)
    {
        var request = ctx.Request;
        var response = ctx.Response;
        response.Headers.CacheControl = "no-store";
        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            response.Headers.Allow = "GET, HEAD";
            return;
        }
        switch (request.Path.Value)
        {
            case "/metrics":
            {
                var snapshot = await Task.Run(() => ServerSnapshot.Take(_server, stopping));
                if (snapshot is null) { response.StatusCode = StatusCodes.Status503ServiceUnavailable; return; }
                var text = new PrometheusText();
                RedisExporterMetrics.Write(text, snapshot);
                runtime.Write(text);
                text.Single("kvasir_metrics_info_lock_seconds", "gauge",
                    "How long this scrape held the data lock to read INFO (an INFO ALL holds it as long)", snapshot.InfoLockHold.TotalSeconds);
                await Send(response, PrometheusText.ContentType, Encoding.UTF8.GetBytes(text.ToString()), request);
                return;
            }
            case "/api/status":
            {
                var snapshot = await Task.Run(() => ServerSnapshot.Take(_server, stopping));
                if (snapshot is null) { response.StatusCode = StatusCodes.Status503ServiceUnavailable; return; }
                await Send(response, "application/json; charset=utf-8", StatusJson.Write(snapshot, runtime), request);
                return;
            }
            case "/" or "/index.html":
                await Send(response, "text/html; charset=utf-8", StatusPage(), request);
                return;
            default:
                response.StatusCode = StatusCodes.Status404NotFound;
                await Send(response, "text/plain; charset=utf-8", "Not found: try /metrics or /\n"u8.ToArray(), request);
                return;
        }
    }

    private static async Task Send(HttpResponse response, string contentType, byte[] body, HttpRequest request)
    {
        response.ContentType = contentType;
        response.ContentLength = body.Length;
        if (HttpMethods.IsHead(request.Method)) return;
        await response.Body.WriteAsync(body);
    }

    /// <summary>The self-contained status page (HTML, CSS and JS in one embedded file; no CDN).</summary>
    private static byte[] StatusPage()
    {
        if (_page is not null) return _page;
        using var stream = typeof(MetricsEndpoint).Assembly.GetManifestResourceStream("Kvasir.Observability.Metrics.status.html")!;
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return _page = ms.ToArray();
    }
}
