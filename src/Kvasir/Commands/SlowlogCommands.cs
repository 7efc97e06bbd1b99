namespace Kvasir.Commands;

/// <summary>SLOWLOG GET LEN RESET HELP: the commands that took longer than slowlog-log-slower-than.</summary>
public static class SlowlogCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("slowlog|get", Get);
        t.Bind("slowlog|len", ctx => ctx.Reply.WriteInteger(ctx.Server.SlowLog.Count));
        t.Bind("slowlog|reset", Reset);
        t.Bind("slowlog|help", Help);
    }

    private static void Get(CommandContext ctx)
    {
        if (ctx.ArgCount > 3)
        {
            HelpText.SubcommandSyntaxError(ctx);
            return;
        }
        var log = ctx.Server.SlowLog;
        long count = 10;
        if (ctx.ArgCount == 3)
        {
            const string range = "ERR count should be greater than or equal to -1";
            if (!Types.NumberParser.TryParseLong(ctx.Args[2], out count) || count < -1)
            {
                ctx.Error(range);
                return;
            }
            if (count == -1) count = log.Count;
        }
        count = Math.Min(count, log.Count);
        var reply = ctx.Reply;
        reply.WriteArray(count);
        foreach (var e in log.Newest((int)count))
        {
            reply.WriteArray(6);
            reply.WriteInteger(e.Id);
            reply.WriteInteger(e.UnixTime);
            reply.WriteInteger(e.Microseconds);
            reply.WriteArray(e.Args.Length);
            foreach (var a in e.Args) reply.WriteBulk(a);
            reply.WriteBulk(e.Peer);
            reply.WriteBulk(e.ClientName);
        }
    }

    private static void Reset(CommandContext ctx)
    {
        ctx.Server.SlowLog.Reset();
        ctx.Reply.WriteOk();
    }

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "SLOWLOG",
        "GET [<count>]",
        "    The newest <count> entries of the slow log (10 by default, -1 for all).",
        "    Each entry holds: id, unix time, duration in microseconds, the arguments,",
        "    the client address and port, the client name.",
        "LEN",
        "    Number of entries in the slow log.",
        "RESET",
        "    Empty the slow log.");
}
