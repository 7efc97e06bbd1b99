using Kvasir.Clients;
using Kvasir.PubSub;

namespace Kvasir.Commands;

/// <summary>
/// Pub/Sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH, the shard variants
/// SSUBSCRIBE SUNSUBSCRIBE SPUBLISH (standalone: one shard), and PUBSUB introspection. The
/// subscribe family answers with push messages only (one per argument).
/// </summary>
public static class PubSubCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("subscribe", Subscribe);
        t.Bind("unsubscribe", Unsubscribe);
        t.Bind("psubscribe", PSubscribe);
        t.Bind("punsubscribe", PUnsubscribe);
        t.Bind("ssubscribe", SSubscribe);
        t.Bind("sunsubscribe", SUnsubscribe);
        t.Bind("publish", Publish);
        t.Bind("spublish", SPublish);
        t.Bind("pubsub|channels", Channels);
        t.Bind("pubsub|shardchannels", ShardChannels);
        t.Bind("pubsub|numsub", NumSub);
        t.Bind("pubsub|shardnumsub", ShardNumSub);
        t.Bind("pubsub|numpat", NumPat);
        t.Bind("pubsub|help", Help);
    }

    private static void Subscribe(CommandContext ctx)
    {
        var pubsub = ctx.Server.PubSub;
        for (int i = 1; i < ctx.ArgCount; i++) pubsub.Subscribe(ctx.Client, ctx.Args[i], ChannelKind.Global);
    }

    private static void PSubscribe(CommandContext ctx)
    {
        var pubsub = ctx.Server.PubSub;
        for (int i = 1; i < ctx.ArgCount; i++) pubsub.SubscribePattern(ctx.Client, ctx.Args[i]);
    }

    private static void SSubscribe(CommandContext ctx)
    {
        // Valkey refuses it to clients that expect one reply per command (inside EXEC, scripts).
        if (ctx.Client.Has(ClientFlags.Multi) || ctx.Client.Has(ClientFlags.Fake))
        {
            ctx.Error("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
            return;
        }
        var pubsub = ctx.Server.PubSub;
        for (int i = 1; i < ctx.ArgCount; i++) pubsub.Subscribe(ctx.Client, ctx.Args[i], ChannelKind.Shard);
    }

    private static void Unsubscribe(CommandContext ctx) => UnsubscribeChannels(ctx, ChannelKind.Global);

    private static void SUnsubscribe(CommandContext ctx) => UnsubscribeChannels(ctx, ChannelKind.Shard);

    private static void UnsubscribeChannels(CommandContext ctx, ChannelKind kind)
    {
        var pubsub = ctx.Server.PubSub;
        if (ctx.ArgCount == 1) pubsub.UnsubscribeAllChannels(ctx.Client, kind, notify: true);
        else
            for (int i = 1; i < ctx.ArgCount; i++) pubsub.Unsubscribe(ctx.Client, ctx.Args[i], kind);
        pubsub.UpdateMode(ctx.Client);
    }

    private static void PUnsubscribe(CommandContext ctx)
    {
        var pubsub = ctx.Server.PubSub;
        if (ctx.ArgCount == 1) pubsub.UnsubscribeAllPatterns(ctx.Client, notify: true);
        else
            for (int i = 1; i < ctx.ArgCount; i++) pubsub.UnsubscribePattern(ctx.Client, ctx.Args[i]);
        pubsub.UpdateMode(ctx.Client);
    }

    private static void Publish(CommandContext ctx) => PublishTo(ctx, ChannelKind.Global);

    private static void SPublish(CommandContext ctx) => PublishTo(ctx, ChannelKind.Shard);

    private static void PublishTo(CommandContext ctx, ChannelKind kind)
    {
        int receivers = ctx.Server.PubSub.Publish(ctx.Args[1], ctx.Args[2], kind);
        // A cluster carries the message to the other nodes over its bus (every node, or the shard's
        // nodes for SPUBLISH); otherwise replicas get it in their stream (not the AOF).
        if (ctx.Server.Cluster is { } cluster) cluster.PropagatePublish(ctx.Args[1], ctx.Args[2], kind == ChannelKind.Shard);
        else if (ctx.Propagating) ctx.Server.Propagator.AddForReplicas(ctx.Client.DbIndex, ctx.Args);
        ctx.Reply.WriteInteger(receivers);
    }

    private static void Channels(CommandContext ctx) => ListChannels(ctx, ChannelKind.Global);

    private static void ShardChannels(CommandContext ctx) => ListChannels(ctx, ChannelKind.Shard);

    private static void ListChannels(CommandContext ctx, ChannelKind kind)
    {
        if (ctx.ArgCount > 3)
        {
            HelpText.SubcommandSyntaxError(ctx);
            return;
        }
        bool filtered = ctx.ArgCount == 3;
        var names = ctx.Server.PubSub.ChannelNames(kind, filtered ? ctx.Args[2] : default, filtered);
        ctx.Reply.WriteArray(names.Count);
        foreach (var name in names) ctx.Reply.WriteBulk(name);
    }

    private static void NumSub(CommandContext ctx) => CountSubscribers(ctx, ChannelKind.Global);

    private static void ShardNumSub(CommandContext ctx) => CountSubscribers(ctx, ChannelKind.Shard);

    private static void CountSubscribers(CommandContext ctx, ChannelKind kind)
    {
        var pubsub = ctx.Server.PubSub;
        // A flat array of channel, count pairs (not a map, in RESP3 too).
        ctx.Reply.WriteArray((ctx.ArgCount - 2) * 2);
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            ctx.Reply.WriteBulk(ctx.Args[i]);
            ctx.Reply.WriteInteger(pubsub.SubscriberCount(kind, ctx.Args[i]));
        }
    }

    private static void NumPat(CommandContext ctx) => ctx.Reply.WriteInteger(ctx.Server.PubSub.PatternCount);

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "PUBSUB",
        "CHANNELS [<pattern>]",
        "    The channels that have at least one subscriber, optionally only those matching <pattern>.",
        "NUMPAT",
        "    The number of distinct patterns subscribed to.",
        "NUMSUB [<channel> ...]",
        "    The number of subscribers of each <channel> (pattern subscriptions not counted).",
        "SHARDCHANNELS [<pattern>]",
        "    The shard channels that have at least one subscriber, optionally only those matching <pattern>.",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    The number of subscribers of each shard channel.");
}
