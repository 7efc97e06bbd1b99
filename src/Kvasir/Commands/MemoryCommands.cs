using System.Runtime;

namespace Kvasir.Commands;

/// <summary>
/// MEMORY USAGE, DOCTOR, PURGE, MALLOC-STATS and HELP. Sizes come from the keyspace's own
/// accounting (what used_memory adds up), so MEMORY USAGE of every key sums to the dataset.
/// MEMORY STATS comes with the memory accounting work.
/// </summary>
public static class MemoryCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("memory|usage", Usage);
        t.Bind("memory|doctor", Doctor);
        t.Bind("memory|purge", Purge);
        t.Bind("memory|malloc-stats", MallocStats);
        t.Bind("memory|help", Help);
    }

    private static void Usage(CommandContext ctx)
    {
        // SAMPLES is validated as Valkey does; our sizes are exact, so it does not change the answer.
        for (int j = 3; j < ctx.ArgCount; j++)
        {
            if (ctx.ArgIs(j, "SAMPLES"u8) && j + 1 < ctx.ArgCount)
            {
                if (!ctx.TryGetLong(j + 1, out long samples)) return;
                if (samples < 0)
                {
                    ctx.SyntaxError();
                    return;
                }
                j++;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        // Like Valkey's dbFind: the key as stored, even if its TTL has passed and it awaits deletion.
        int idx = ctx.Db.FindRaw(ctx.Args[2]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        ctx.Reply.WriteInteger(ctx.Db.MemoryAt(idx));
    }

    private static void Doctor(CommandContext ctx)
    {
        var server = ctx.Server;
        long used = Observability.MemoryAccounting.UsedMemory(server);
        string report = used < 5 * 1024 * 1024
            ? "Hi Sam, this instance holds too little data for a memory diagnosis. Ask again once it stores more."
            : "Hi Sam, I found no memory problem in this instance.";
        ctx.Reply.WriteVerbatim(report);
    }

    private static void Purge(CommandContext ctx)
    {
        // The managed heap's equivalent of returning dirty pages: a compacting collection that gives memory back to the OS.
        GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        ctx.Reply.WriteOk();
    }

    private static void MallocStats(CommandContext ctx) => ctx.Reply.WriteVerbatim("Stats not supported for the current allocator");

    private static void Help(CommandContext ctx)
    {
        string[] lines =
        {
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Report about memory problems and their possible remedies.",
            "MALLOC-STATS",
            "    Report about the allocator's internal state.",
            "PURGE",
            "    Ask the runtime to compact its heap and give free memory back to the system.",
            "USAGE <key> [SAMPLES <count>]",
            "    Report the bytes a key and its value take in memory.",
            "HELP",
            "    Print this help.",
        };
        ctx.Reply.WriteArray(lines.Length);
        foreach (var l in lines) ctx.Reply.WriteSimpleString(l);
    }
}
