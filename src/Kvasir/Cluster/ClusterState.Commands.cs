using System.Net;

namespace Kvasir.Cluster;

/// <summary>Changes CLUSTER subcommands make (the handlers parse and answer; the state changes here).</summary>
public sealed partial class ClusterState
{
    /// <summary>
    /// CLUSTER MEET: a node in handshake is added for the address; the MEET it is sent makes the
    /// other side add us. False when not started: <paramref name="invalid"/> for a bad address,
    /// otherwise a handshake with that address is already under way (still answered OK).
    /// </summary>
    internal bool StartHandshake(string ip, long port, long busPort, out bool invalid)
    {
        invalid = false;
        if (!IPAddress.TryParse(ip, out var address) || ip.Contains('%') ||
            (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && ip.Count(c => c == '.') != 3))
        {
            invalid = true;
            return false;
        }
        if (port <= 0 || port > 65535 || busPort <= 0 || busPort > 65535)
        {
            invalid = true;
            return false;
        }
        string normalized = address.ToString();
        foreach (var n in _nodes.Values)
        {
            if (!n.InHandshake) continue;
            if (string.Equals(n.Ip, normalized, StringComparison.OrdinalIgnoreCase) && DefaultPortOf(n) == port && n.BusPort == busPort) return false;
        }
        var node = CreateNode(null, NodeFlags.Handshake | NodeFlags.Meet);
        node.Ip = normalized;
        if (Config.TlsCluster) node.TlsPort = (int)port;
        else node.TcpPort = (int)port;
        node.BusPort = (int)busPort;
        AddNode(node);
        return true;
    }

    /// <summary>CLUSTER ADDSLOTS / DELSLOTS / ...RANGE with validated slots.</summary>
    internal void UpdateSlots(bool[] chosen, bool delete)
    {
        for (int j = 0; j < KeySlot.Count; j++)
        {
            if (!chosen[j]) continue;
            // We own the slot now: no longer importing it.
            _importingFrom[j] = null;
            if (delete) DeleteSlot(j);
            else AddSlot(Myself, j);
        }
        SlotsChanged();
    }

    internal void SlotsChanged() => DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);

    /// <summary>CLUSTER FORGET: the node is removed and kept out for cluster-blacklist-ttl seconds.</summary>
    internal void Forget(ClusterNode n)
    {
        BlacklistAdd(n);
        DeleteNode(n);
        DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);
    }

    /// <summary>CLUSTER REPLICATE: follow <paramref name="n"/> with a full sync (a different history).</summary>
    internal void Replicate(ClusterNode n)
    {
        if (Myself.ReplicaOf == n) return;
        SetPrimary(n, closeSlots: true, fullSyncRequired: true);
        BroadcastPong(localReplicasOnly: false);
        DoBeforeSleep(Todo.UpdateState | Todo.SaveConfig);
    }

    /// <summary>CLUSTER SETSLOT slot MIGRATING node.</summary>
    internal void SetSlotMigrating(int slot, ClusterNode n)
    {
        Log.Notice($"Migrating slot {slot} to node {n}");
        _migratingTo[slot] = n;
        DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
    }

    /// <summary>CLUSTER SETSLOT slot IMPORTING node.</summary>
    internal void SetSlotImporting(int slot, ClusterNode n)
    {
        Log.Notice($"Importing slot {slot} from node {n}");
        _importingFrom[slot] = n;
        DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
    }

    /// <summary>CLUSTER SETSLOT slot STABLE.</summary>
    internal void SetSlotStable(int slot)
    {
        Log.Notice($"Marking slot {slot} stable");
        _importingFrom[slot] = null;
        _migratingTo[slot] = null;
        DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
    }

    /// <summary>
    /// CLUSTER SETSLOT slot NODE node: the slot's owner changes here. A shard that loses its last
    /// slot follows the new owner when replica migration is allowed; the importing node takes a new
    /// config epoch so its ownership wins everywhere.
    /// </summary>
    internal void SetSlotNode(int slot, ClusterNode n)
    {
        Log.Notice($"Assigning slot {slot} to node {n} in shard {n.ShardId}");
        // Migrating but empty: handing the slot over ends the migration.
        if (CountKeysInSlot(slot) == 0 && _migratingTo[slot] is not null) _migratingTo[slot] = null;
        var myPrimary = Myself.TopPrimary();
        bool wasMine = _slots[slot] == myPrimary;
        DeleteSlot(slot);
        AddSlot(n, slot);
        bool shardEmpty = myPrimary.SlotCount == 0;
        if (Config.ClusterAllowReplicaMigration && wasMine && shardEmpty && n != myPrimary)
        {
            Log.Notice($"Lost my last slot during slot migration. Reconfiguring myself as a replica of {n} in shard {n.ShardId}");
            SetPrimary(n, closeSlots: true, fullSyncRequired: true);
            DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState | Todo.FsyncConfig);
        }
        if (!Config.ClusterAllowReplicaMigration && Myself.IsPrimary && wasMine && shardEmpty && n != myPrimary)
            Log.Notice($"My last slot was migrated to node {n} in shard {n.ShardId}. I am now an empty primary.");
        if ((n == Myself || n == Myself.ReplicaOf) && _importingFrom[slot] is not null)
        {
            _importingFrom[slot] = null;
            if (n == Myself)
            {
                // A new epoch (without agreement) makes this ownership win; collisions resolve as usual.
                if (BumpEpochWithoutConsensus()) Log.Notice($"ConfigEpoch updated after importing slot {slot}");
                BroadcastPong(localReplicasOnly: false);
            }
        }
        DoBeforeSleep(Todo.SaveConfig | Todo.UpdateState);
    }

    /// <summary>The open slots as the "cluster-slot-states" aux field of an image for replicas ("slot&lt;node," importing, "slot&gt;node," migrating); null when none.</summary>
    internal string? EncodeOpenSlots()
    {
        System.Text.StringBuilder? sb = null;
        for (int pass = 0; pass < 2; pass++)
        {
            var nodes = pass == 0 ? _importingFrom : _migratingTo;
            for (int j = 0; j < KeySlot.Count; j++)
            {
                if (nodes[j] is not { } n) continue;
                (sb ??= new()).Append(j).Append(pass == 0 ? '<' : '>').Append(n.Name).Append(',');
            }
        }
        return sb?.ToString();
    }

    /// <summary>A replica's full sync brought its primary's open slots: they become ours (Valkey's clusterDecodeOpenSlotsAuxField).</summary>
    internal void DecodeOpenSlots(string? states)
    {
        if (string.IsNullOrEmpty(states)) return;
        foreach (var entry in states.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            int mark = entry.IndexOfAny(['<', '>']);
            if (mark <= 0 || !int.TryParse(entry.AsSpan(0, mark), out int slot) || slot < 0 || slot >= KeySlot.Count) return;
            string name = entry[(mark + 1)..];
            if (!IsValidName(name)) return;
            var node = LookupNode(name);
            if (node is null)
            {
                node = CreateNode(name, NodeFlags.None);
                AddNode(node);
            }
            if (entry[mark] == '<') _importingFrom[slot] = node;
            else _migratingTo[slot] = node;
        }
        DoBeforeSleep(Todo.SaveConfig);
    }
}
