namespace Kvasir.Commands;

/// <summary>The reply shape of every "X HELP" (Valkey's addReplyHelp) and the error for a bad subcommand.</summary>
public static class HelpText
{
    /// <summary>A header naming the command as typed, the given lines, and the HELP entry, all as simple strings.</summary>
    public static void Write(CommandContext ctx, string command, params string[] lines)
    {
        var reply = ctx.Reply;
        string typed = ctx.ArgCount > 0 ? ctx.Args.ToString(0).ToUpperInvariant() : command;
        reply.WriteArray(lines.Length + 3);
        reply.WriteSimpleString($"{typed} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        foreach (var line in lines) reply.WriteSimpleString(line);
        reply.WriteSimpleString("HELP"u8);
        reply.WriteSimpleString("    Print this help."u8);
    }

    /// <summary>Valkey's reply when a subcommand is unknown or has the wrong number of arguments.</summary>
    public static void SubcommandSyntaxError(CommandContext ctx)
    {
        string sub = ctx.ArgCount > 1 ? ctx.Args.ToString(1) : "";
        if (sub.Length > 128) sub = sub[..128];
        ctx.Error($"ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {ctx.Args.ToString(0).ToUpperInvariant()} HELP.");
    }
}
