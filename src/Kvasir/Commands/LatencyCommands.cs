using System.Globalization;
using System.Text;
using Kvasir.Observability;

namespace Kvasir.Commands;

/// <summary>
/// LATENCY LATEST HISTORY GRAPH DOCTOR RESET HISTOGRAM HELP: the latency spikes recorded above
/// latency-monitor-threshold, and the per-command latency distributions.
/// </summary>
public static class LatencyCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("latency|latest", Latest);
        t.Bind("latency|history", History);
        t.Bind("latency|graph", Graph);
        t.Bind("latency|doctor", Doctor);
        t.Bind("latency|reset", Reset);
        t.Bind("latency|histogram", Histogram);
        t.Bind("latency|help", Help);
    }

    private static void Latest(CommandContext ctx)
    {
        var events = ctx.Server.Latency.Events;
        ctx.Reply.WriteArray(events.Count);
        foreach (var (name, series) in events)
        {
            var last = series.Samples.Count > 0 ? series.Samples[^1] : (Time: 0L, Ms: 0L);
            ctx.Reply.WriteArray(4);
            ctx.Reply.WriteBulk(name);
            ctx.Reply.WriteInteger(last.Time);
            ctx.Reply.WriteInteger(last.Ms);
            ctx.Reply.WriteInteger(series.MaxMs);
        }
    }

    private static void History(CommandContext ctx)
    {
        if (!ctx.Server.Latency.Events.TryGetValue(ctx.Args.ToString(2), out var series))
        {
            ctx.Reply.WriteArray(0);
            return;
        }
        ctx.Reply.WriteArray(series.Samples.Count);
        foreach (var (time, ms) in series.Samples)
        {
            ctx.Reply.WriteArray(2);
            ctx.Reply.WriteInteger(time);
            ctx.Reply.WriteInteger(ms);
        }
    }

    private static void Graph(CommandContext ctx)
    {
        string name = ctx.Args.ToString(2);
        if (!ctx.Server.Latency.Events.TryGetValue(name, out var series))
        {
            ctx.Error($"ERR No samples available for event '{name}'");
            return;
        }
        ctx.Reply.WriteVerbatim(Sparkline.LatencyGraph(name, series));
    }

    private static void Reset(CommandContext ctx)
    {
        var latency = ctx.Server.Latency;
        var names = new List<string>();
        for (int i = 2; i < ctx.ArgCount; i++) names.Add(ctx.Args.ToString(i));
        ctx.Reply.WriteInteger(latency.Reset(names));
    }

    private static void Histogram(CommandContext ctx)
    {
        var table = ctx.Server.Commands;
        var reply = ctx.Reply;
        var found = new List<CommandDefinition>();
        if (ctx.ArgCount == 2)
        {
            foreach (var cmd in table.Implemented)
            {
                if (cmd.LatencyHistogram is not null) found.Add(cmd);
                foreach (var sub in CommandTable.ImplementedSubcommands(cmd))
                    if (sub.LatencyHistogram is not null) found.Add(sub);
            }
        }
        else
        {
            for (int i = 2; i < ctx.ArgCount; i++)
            {
                var cmd = CommandIntrospection.LookupByFullName(table, ctx.Args.ToString(i));
                if (cmd is null) continue;
                if (cmd.LatencyHistogram is not null) found.Add(cmd);
                foreach (var sub in CommandTable.ImplementedSubcommands(cmd))
                    if (sub.LatencyHistogram is not null) found.Add(sub);
            }
        }
        reply.WriteMap(found.Count);
        foreach (var cmd in found)
        {
            var h = cmd.LatencyHistogram!;
            reply.WriteBulk(cmd.Name);
            reply.WriteMap(2);
            reply.WriteBulk("calls"u8);
            reply.WriteInteger(h.TotalCount);
            reply.WriteBulk("histogram_usec"u8);
            var buckets = h.CumulativeBuckets();
            reply.WriteMap(buckets.Count);
            foreach (var (micros, cumulative) in buckets)
            {
                reply.WriteInteger(micros);
                reply.WriteInteger(cumulative);
            }
        }
    }

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "LATENCY",
        "DOCTOR",
        "    A report in plain words about the latency spikes seen so far.",
        "GRAPH <event>",
        "    An ASCII graph of the latency samples of <event>.",
        "HISTORY <event>",
        "    The time and latency of the samples of <event>.",
        "LATEST",
        "    The latest sample of every event.",
        "RESET [<event> ...]",
        "    Forget the samples of the given events (of all events when none is named).",
        "HISTOGRAM [COMMAND ...]",
        "    The cumulative latency distribution of the given commands (of all commands",
        "    when none is named).");

    // ----- DOCTOR -----

    private static void Doctor(CommandContext ctx) => ctx.Reply.WriteVerbatim(DoctorReport(ctx.Server));

    private static string DoctorReport(KvasirServer server)
    {
        var cfg = server.Config;
        var events = server.Latency.Events;
        var sb = new StringBuilder();
        if (events.Count == 0 && cfg.LatencyMonitorThreshold == 0)
        {
            sb.Append("Latency monitoring is off on this Kvasir server, so there is nothing to analyse. ")
              .Append("Turn it on with \"CONFIG SET latency-monitor-threshold <milliseconds>\".\n");
            return sb.ToString();
        }
        if (events.Count == 0)
        {
            sb.Append("No latency spike has been recorded since this Kvasir server started.\n");
            return sb.ToString();
        }

        var advice = new List<string>();
        void Advise(string text)
        {
            if (!advice.Contains(text)) advice.Add(text);
        }

        sb.Append("This Kvasir server recorded latency spikes.\n\n");
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        int n = 0;
        foreach (var (name, series) in events)
        {
            n++;
            var samples = series.Samples;
            long sum = 0, oldest = long.MaxValue;
            foreach (var (t, ms) in samples)
            {
                sum += ms;
                oldest = Math.Min(oldest, t);
            }
            long avg = samples.Count > 0 ? sum / samples.Count : 0;
            long deviation = 0;
            foreach (var (_, ms) in samples) deviation += Math.Abs(avg - ms);
            if (samples.Count > 0) deviation /= samples.Count;
            long period = samples.Count > 0 ? Math.Max(1, now - oldest) : 0;
            double every = samples.Count > 0 ? (double)period / samples.Count : 0;
            sb.Append(CultureInfo.InvariantCulture, $"{n}. {name}: {samples.Count} latency spikes (average {avg}ms, mean deviation {deviation}ms, one every {every:F2} sec on average). Worst ever: {series.MaxMs}ms.\n");

            switch (name)
            {
                case "command":
                    if (cfg.SlowlogLogSlowerThan < 0 || cfg.SlowlogMaxLen == 0)
                        Advise($"- Slow commands caused latency, but the slow log is off: \"CONFIG SET slowlog-log-slower-than {cfg.LatencyMonitorThreshold * 1000}\" records them.");
                    else if (cfg.SlowlogLogSlowerThan / 1000 > cfg.LatencyMonitorThreshold)
                        Advise($"- The slow log only records commands slower than the latency threshold; \"CONFIG SET slowlog-log-slower-than {cfg.LatencyMonitorThreshold * 1000}\" aligns the two.");
                    Advise("- SLOWLOG GET shows which commands were slow; commands over large values (KEYS, SMEMBERS of big sets, SORT...) are the usual suspects.");
                    Advise("- Deleting, expiring or evicting very large values blocks the server; splitting them into smaller keys avoids that.");
                    break;
                case "fast-command":
                    Advise("- Commands that should take microseconds took milliseconds: the machine is likely overloaded or the process was descheduled. Reduce the load or give the server dedicated CPU.");
                    break;
                case "expire-cycle":
                    Advise("- Expiring keys caused latency: a higher 'hz' spreads the work over more, smaller steps.");
                    Advise("- Deleting, expiring or evicting very large values blocks the server; splitting them into smaller keys avoids that.");
                    break;
                case "eviction-del":
                    Advise("- Deleting, expiring or evicting very large values blocks the server; splitting them into smaller keys avoids that.");
                    break;
                case "eviction-cycle":
                    Advise("- Evicting many keys at once caused latency: avoid sudden large drops of 'maxmemory' and bulk writes close to the limit.");
                    break;
                default:
                    if (name.StartsWith("aof", StringComparison.Ordinal) || name.StartsWith("rdb", StringComparison.Ordinal))
                        Advise("- Disk operations caused latency: local and fast disks, and less disk contention from other processes, help.");
                    break;
            }
        }
        if (advice.Count == 0)
        {
            sb.Append("\nThe recorded events have no simple remedy.\n");
        }
        else
        {
            sb.Append("\nSuggestions:\n\n");
            foreach (var a in advice) sb.Append(a).Append('\n');
        }
        return sb.ToString();
    }
}
