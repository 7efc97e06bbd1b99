using Kvasir.Clients;

namespace Kvasir.Commands;

/// <summary>
/// The cluster family. For now only READONLY and READWRITE, which also matter without cluster
/// mode: a client that announced CLIENT CAPA REDIRECT and sent READONLY may read from a replica
/// instead of being redirected to its primary. CLUSTER itself answers the unknown-command error
/// until cluster mode exists.
/// </summary>
public static class ClusterCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("readonly", ctx =>
        {
            ctx.Client.Flags |= ClientFlags.ReadOnly;
            ctx.Reply.WriteOk();
        });
        t.Bind("readwrite", ctx =>
        {
            ctx.Client.Flags &= ~ClientFlags.ReadOnly;
            ctx.Reply.WriteOk();
        });
    }
}
