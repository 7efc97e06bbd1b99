using System.Runtime.CompilerServices;
using Kvasir.Config;

namespace Kvasir.Commands;

/// <summary>The one-line keyspace notification call of command handlers (see PubSub/KeyspaceEvents).</summary>
public static class Notifications
{
    /// <summary>Keyspace event <paramref name="evt"/> of class <paramref name="type"/> about <paramref name="key"/> in the client's database.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Notify(this CommandContext ctx, KeyspaceEventFlags type, ReadOnlySpan<byte> evt, ReadOnlySpan<byte> key) =>
        ctx.Server.KeyspaceEvents.Notify(type, evt, key, ctx.Client.DbIndex);

    /// <summary>The same, about a key of database <paramref name="db"/> (MOVE, COPY DB).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Notify(this CommandContext ctx, KeyspaceEventFlags type, ReadOnlySpan<byte> evt, ReadOnlySpan<byte> key, int db) =>
        ctx.Server.KeyspaceEvents.Notify(type, evt, key, db);
}
