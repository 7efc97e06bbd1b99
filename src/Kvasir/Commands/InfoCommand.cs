using Kvasir.Observability;

namespace Kvasir.Commands;

/// <summary>INFO [section ...]: the server's state as "field:value" lines grouped in sections.</summary>
public static class InfoCommand
{
    public static void Register(CommandTable t) => t.Bind("info", Info);

    private static void Info(CommandContext ctx)
    {
        var sections = new List<string>(ctx.ArgCount - 1);
        for (int i = 1; i < ctx.ArgCount; i++) sections.Add(ctx.Args.ToString(i));
        ctx.Reply.WriteVerbatim(InfoBuilder.Build(ctx.Server, sections));
    }
}
