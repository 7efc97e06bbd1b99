using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>String commands (Valkey's t_string.c): GET SET and friends.</summary>
public static class StringCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("get", Get);
        t.Bind("set", Set);
    }

    private static void Get(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        ctx.Reply.WriteBulk(db.StringAt(idx));
    }

    private static void Set(CommandContext ctx)
    {
        var db = ctx.Db;
        db.SetString(ctx.Args[1], ctx.Args[2]);
        ctx.Reply.WriteOk();
    }
}
