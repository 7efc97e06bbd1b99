using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Protocol;

namespace Kvasir.Cluster;

/// <summary>Why a command cannot run here (Valkey's CLUSTER_REDIR_*).</summary>
public enum Redirect
{
    None,
    CrossSlot,
    /// <summary>Several keys of a slot being migrated, not all of them here: -TRYAGAIN.</summary>
    Unstable,
    Ask,
    Moved,
    DownState,
    DownReadOnlyState,
    DownUnbound,
}

/// <summary>Which node serves a command, decided from its keys before it runs (Valkey's getNodeByQuery).</summary>
public sealed partial class ClusterState
{
    private readonly List<KeyReference> _routingKeys = new();
    private readonly CommandArgs _routingArgs = new();

    /// <summary>The slot of the first key of <paramref name="cmd"/>, -1 when it has none.</summary>
    public int FirstKeySlot(CommandDefinition cmd, CommandArgs args)
    {
        var keys = _routingKeys;
        keys.Clear();
        CommandKeys.GetKeysForRouting(cmd, args, keys);
        return keys.Count == 0 ? -1 : KeySlot.Of(args[keys[0].Position]);
    }

    /// <summary>
    /// The node that must serve <paramref name="cmd"/> (for EXEC: the whole transaction), or null
    /// with the reason in <paramref name="redirect"/>. <paramref name="slot"/> is the slot of its keys
    /// (-1 without keys). Myself when it runs here.
    /// </summary>
    public ClusterNode? GetNodeByQuery(Client client, CommandDefinition cmd, CommandArgs args, out int slot, out Redirect redirect)
    {
        redirect = Redirect.None;
        slot = -1;
        ClusterNode? n = null;
        // Only an importing slot compares keys with the first one (a copy: EXEC reuses the arguments).
        byte[]? firstKey = null;
        bool multipleKeys = false, migrating = false, importing = false;
        int missing = 0, existing = 0;
        // A script's own flags (shebang) say whether it writes, as Valkey's getCommandFlags.
        var flags = _server.Scripts.EffectiveFlags(cmd, args);
        bool isExec = cmd.Name == "exec";
        if (isExec)
        {
            if (!client.Has(ClientFlags.Multi)) return Myself;
            flags |= client.MultiCommandFlags;
        }
        bool pubsubShard = (flags & CommandFlags.PubSub) != 0;
        var db = _server.Databases[0];

        int commands = isExec ? client.MultiQueue?.Count ?? 0 : 1;
        for (int c = 0; c < commands; c++)
        {
            CommandDefinition mcmd;
            CommandArgs margs;
            if (isExec)
            {
                margs = _routingArgs;
                margs.SetOwned(client.MultiQueue![c]);
                var found = ResolveCommand(margs);
                if (found is null) continue;
                mcmd = found;
            }
            else
            {
                mcmd = cmd;
                margs = args;
            }
            var keys = _routingKeys;
            keys.Clear();
            CommandKeys.GetKeysForRouting(mcmd, margs, keys);
            foreach (var k in keys)
            {
                var key = margs[k.Position];
                int thisSlot = KeySlot.Of(key);
                if (slot < 0)
                {
                    slot = thisSlot;
                    n = _slots[slot];
                    if (n is null)
                    {
                        redirect = Redirect.DownUnbound;
                        return null;
                    }
                    // Only a node that serves (or imports) the slot needs to know which keys it has.
                    if (Myself.IsPrimary || client.Has(ClientFlags.ReadOnly))
                    {
                        if (n == Myself.TopPrimary() && _migratingTo[slot] is not null) migrating = true;
                        else if (_importingFrom[slot] is not null)
                        {
                            importing = true;
                            firstKey = key.ToArray();
                        }
                    }
                }
                else
                {
                    if (slot != thisSlot)
                    {
                        redirect = Redirect.CrossSlot;
                        return null;
                    }
                    if (importing && !multipleKeys && !key.SequenceEqual(firstKey!)) multipleKeys = true;
                }
                // Shard channels stay with the source until the slot is handed over: no key lookup for them.
                if ((migrating || importing) && !pubsubShard)
                {
                    if (db.Lookup(key, Keyspace.LookupFlags.NoTouch | Keyspace.LookupFlags.NoStats | Keyspace.LookupFlags.NoExpireDelete) < 0) missing++;
                    else existing++;
                }
            }
        }

        if (n is null) return Myself;

        if (!IsOk)
        {
            if (pubsubShard)
            {
                if (!Config.ClusterAllowPubsubshardWhenDown)
                {
                    redirect = Redirect.DownState;
                    return null;
                }
            }
            else if (!Config.ClusterAllowReadsWhenDown)
            {
                redirect = Redirect.DownState;
                return null;
            }
            else if ((flags & CommandFlags.Write) != 0)
            {
                redirect = Redirect.DownReadOnlyState;
                return null;
            }
        }

        // MIGRATE moves keys of an open slot freely.
        if ((migrating || importing) && cmd.Name == "migrate" && Myself.IsPrimary) return Myself;

        if (migrating && missing > 0)
        {
            if (existing > 0)
            {
                redirect = Redirect.Unstable;
                return null;
            }
            redirect = Redirect.Ask;
            return _migratingTo[slot];
        }

        if (importing && (client.Has(ClientFlags.Asking) || cmd.Has(CommandFlags.Asking)))
        {
            if (multipleKeys && missing > 0)
            {
                redirect = Redirect.Unstable;
                return null;
            }
            return Myself;
        }

        bool isWrite = (flags & CommandFlags.Write) != 0;
        if ((client.Has(ClientFlags.ReadOnly) || pubsubShard) && !isWrite && Myself.IsReplica && Myself.TopPrimary() == n)
            return Myself;

        if (n != Myself) redirect = Redirect.Moved;
        return n;
    }

    private CommandDefinition? ResolveCommand(CommandArgs args)
    {
        var cmd = _server.Commands.Find(args[0]);
        if (cmd is null || !cmd.IsContainer || args.Count < 2) return cmd;
        var sub = cmd.Subcommands!.GetValueOrDefault(Ascii.ToLowerString(args[1]));
        return sub?.Handler is null ? null : sub;
    }

    /// <summary>The error a client gets for <paramref name="redirect"/> (Valkey's clusterRedirectClient).</summary>
    public string RedirectError(Client client, ClusterNode? n, int slot, Redirect redirect) => redirect switch
    {
        Redirect.CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot",
        Redirect.Unstable => "TRYAGAIN Multiple keys request during rehashing of slot",
        Redirect.DownState => "CLUSTERDOWN The cluster is down",
        Redirect.DownReadOnlyState => "CLUSTERDOWN The cluster is down and only accepts read commands",
        Redirect.DownUnbound => "CLUSTERDOWN Hash slot not served",
        Redirect.Moved or Redirect.Ask =>
            $"{(redirect == Redirect.Ask ? "ASK" : "MOVED")} {slot} {PreferredEndpoint(n!, client)}:{n!.ClientPort(ClientUsesTls(client))}",
        _ => "ERR unexpected cluster redirection",
    };

    /// <summary>Whether ports reported to this client are the TLS ones (it came in over TLS).</summary>
    internal bool ClientUsesTls(Client client) => client.Transport is Networking.Connection { IsTls: true } || (client.Transport is null && Config.TlsCluster);

    internal static bool ClientIsIpv6(Client client) =>
        client.RemoteEndPoint is System.Net.IPEndPoint ip && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !ip.Address.IsIPv4MappedToIPv6;

    /// <summary>The address a client should use: an announced client address for its IP family, else the node's IP.</summary>
    internal string ClientVisibleIp(ClusterNode n, bool clientIpv6)
    {
        if (clientIpv6) return n.AnnounceClientIpv6.Length > 0 ? n.AnnounceClientIpv6 : n.Ip;
        return n.AnnounceClientIpv4.Length > 0 ? n.AnnounceClientIpv4 : n.Ip;
    }

    /// <summary>cluster-preferred-endpoint-type: the IP, the hostname ("?" when none) or "" (unknown-endpoint).</summary>
    internal string PreferredEndpoint(ClusterNode n, Client client) => Config.ClusterPreferredEndpointType switch
    {
        "hostname" => n.Hostname.Length > 0 ? n.Hostname : "?",
        "unknown-endpoint" => "",
        _ => ClientVisibleIp(n, ClientIsIpv6(client)),
    };

    /// <summary>
    /// Clients blocked on keys of a slot this node no longer serves get -MOVED (or -CLUSTERDOWN)
    /// instead of waiting forever (Valkey's clusterRedirectBlockedClientIfNeeded).
    /// </summary>
    private void RedirectBlockedClients()
    {
        if (_server.Blocking.BlockedClients == 0) return;
        foreach (var c in _server.Clients.All.ToList())
        {
            var state = c.Blocking;
            if (state is null || state.Keys.Length == 0) continue;
            if (!IsOk)
            {
                _server.Blocking.FailWith(c, "CLUSTERDOWN The cluster is down");
                continue;
            }
            int slot = KeySlot.Of(System.Text.Encoding.Latin1.GetBytes(state.Keys[0]));
            var node = _slots[slot];
            if (c.Has(ClientFlags.ReadOnly) && !state.Command.Has(CommandFlags.Write) && Myself.IsReplica && Myself.TopPrimary() == node)
                node = Myself;
            if (node != Myself && _importingFrom[slot] is null)
            {
                if (node is null) _server.Blocking.FailWith(c, "CLUSTERDOWN Hash slot not served");
                else _server.Blocking.FailWith(c, RedirectError(c, node, slot, Redirect.Moved));
            }
        }
    }

    /// <summary>Slot ranges per node (for CLUSTER NODES, nodes.conf, CLUSTER SHARDS).</summary>
    internal Dictionary<ClusterNode, List<(int Start, int End)>> SlotRangesByNode()
    {
        var result = new Dictionary<ClusterNode, List<(int, int)>>();
        ClusterNode? n = null;
        int start = 0;
        for (int i = 0; i <= KeySlot.Count; i++)
        {
            var owner = i < KeySlot.Count ? _slots[i] : null;
            if (i < KeySlot.Count && owner == n) continue;
            if (n is not null)
            {
                if (!result.TryGetValue(n, out var list)) result[n] = list = new List<(int, int)>();
                list.Add((start, i - 1));
            }
            n = owner;
            start = i;
        }
        return result;
    }
}
