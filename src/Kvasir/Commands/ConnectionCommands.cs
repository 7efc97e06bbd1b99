using Kvasir.Clients;

namespace Kvasir.Commands;

/// <summary>Connection commands: PING ECHO QUIT SELECT HELLO AUTH RESET.</summary>
public static class ConnectionCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("ping", Ping);
        t.Bind("echo", Echo);
        t.Bind("quit", Quit);
        t.Bind("select", Select);
    }

    private static void Ping(CommandContext ctx)
    {
        if (ctx.ArgCount > 2)
        {
            ctx.WrongArity();
            return;
        }
        if (ctx.Client.Has(ClientFlags.PubSub) && !ctx.Reply.IsResp3)
        {
            // In RESP2 subscriber mode PING answers with a pong message array.
            ctx.Reply.WriteArray(2);
            ctx.Reply.WriteBulk("pong"u8);
            if (ctx.ArgCount == 2) ctx.Reply.WriteBulk(ctx.Args[1]);
            else ctx.Reply.WriteBulk(ReadOnlySpan<byte>.Empty);
            return;
        }
        if (ctx.ArgCount == 2) ctx.Reply.WriteBulk(ctx.Args[1]);
        else ctx.Reply.WriteSimpleString("PONG"u8);
    }

    private static void Echo(CommandContext ctx) => ctx.Reply.WriteBulk(ctx.Args[1]);

    private static void Quit(CommandContext ctx)
    {
        ctx.Reply.WriteOk();
        ctx.Client.Flags |= ClientFlags.CloseAfterReply;
    }

    private static void Select(CommandContext ctx)
    {
        if (!Types.NumberParser.TryParseInt(ctx.Args[1], out int index))
        {
            ctx.Error("ERR value is not an integer or out of range");
            return;
        }
        if (index < 0 || index >= ctx.Server.Databases.Length)
        {
            ctx.Error("ERR DB index is out of range");
            return;
        }
        ctx.Client.DbIndex = index;
        ctx.Reply.WriteOk();
    }
}
