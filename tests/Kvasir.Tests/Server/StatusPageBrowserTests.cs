using System.Globalization;
using System.Text.RegularExpressions;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

/// <summary>
/// The status page in a real browser (Debian's chromium, headless): it loads from a running server,
/// polls /api/status and renders charts and tables with the server's real figures. Virtual time
/// lets the page's one-second polls happen without waiting one second each.
/// </summary>
public sealed partial class StatusPageBrowserTests
{
    private static string Chromium() =>
        ExternalProcess.Find("chromium") ?? ExternalProcess.Find("chromium-browser") ??
        ExternalProcess.Require("chromium", "apt-get install chromium");

    private static string[] BrowserArgs(string profile) =>
    [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + profile, "--window-size=1280,1000",
    ];

    [GeneratedRegex("""id="ops">([0-9,]+)<""")]
    private static partial Regex OpsValue();

    [GeneratedRegex("""data-samples="(\d+)""")]
    private static partial Regex Samples();

    [GeneratedRegex("""<svg[^>]*id="chart-ops".*?data-points="(\d+)".*?</svg>""", RegexOptions.Singleline)]
    private static partial Regex OpsChartPoints();

    [Fact]
    public async Task ChartsAndTablesShowTheServersFigures()
    {
        string chromium = Chromium();
        int metricsPort = ServerExecutable.FreePort();
        await using var server = await TestServer.StartAsync(("metrics-port", metricsPort.ToString()), ("maxmemory", "100mb"));
        await using (var setup = await server.ConnectAsync())
        {
            await setup.CallAsync("SELECT", "5");
            for (int i = 0; i < 7; i++) await setup.CallAsync("SET", "page:" + i, "v");
            await setup.CallAsync("EXPIRE", "page:0", "1000");
        }

        // Traffic while the page polls, so operations per second is not zero.
        using var stop = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            await using var c = await server.ConnectAsync();
            while (!stop.IsCancellationRequested)
            {
                await c.CallAsync("SET", "page:load", "x");
                await c.CallAsync("GET", "page:load");
                await c.CallAsync("GET", "page:missing");
            }
        });
        await Task.Delay(1500); // instantaneous_ops_per_sec is a 1.6 s moving average sampled by the cron

        var profile = Directory.CreateTempSubdirectory("kvasir-chromium-");
        try
        {
            string url = $"http://127.0.0.1:{metricsPort}/";
            var dom = await ExternalProcess.RunAsync(chromium,
                [.. BrowserArgs(profile.FullName), "--virtual-time-budget=4000", "--dump-dom", url], TimeSpan.FromMinutes(2));
            Assert.True(dom.ExitCode == 0, dom.Output);
            string html = dom.Stdout;

            Assert.True(int.Parse(Samples().Match(html).Groups[1].Value) >= 3, "fewer than 3 polls rendered:\n" + html);
            Assert.Contains(">live<", html);
            long ops = long.Parse(OpsValue().Match(html).Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
            Assert.True(ops > 0, "operations per second shown as 0");
            Assert.True(int.Parse(OpsChartPoints().Match(html).Groups[1].Value) >= 3, "the ops chart has fewer than 3 points");
            Assert.Matches(@"<tr><td>db5</td><td class=""num"">7</td><td class=""num"">1</td></tr>", html);
            Assert.Contains("of 100.0 MB maxmemory (noeviction)", html);
            Assert.Matches(@"id=""hits"">[0-9.]+ %<", html);
            Assert.Contains($"port {server.Port}", html);

            string png = Path.Combine(profile.FullName, "status.png");
            var shot = await ExternalProcess.RunAsync(chromium,
                [.. BrowserArgs(profile.FullName), "--virtual-time-budget=3000", "--screenshot=" + png, url], TimeSpan.FromMinutes(2));
            Assert.True(shot.ExitCode == 0, shot.Output);
            var bytes = await File.ReadAllBytesAsync(png);
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            Assert.True(bytes.Length > 20_000, $"screenshot of {bytes.Length} bytes: an empty page?");
        }
        finally
        {
            stop.Cancel();
            await traffic.WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { });
            try { profile.Delete(recursive: true); } catch (IOException) { }
        }
    }
}
