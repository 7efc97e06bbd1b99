using Kvasir.Keyspace;

namespace Kvasir.Clients;

/// <summary>One key a client WATCHes.</summary>
public sealed class WatchedKey
{
    public required byte[] Key { get; init; }
    public required int DbIndex { get; init; }
    public required Client Client { get; init; }

    /// <summary>The key was already logically expired when it was watched: its deletion by expiry is not a change.</summary>
    public bool Expired;
}

/// <summary>
/// WATCH bookkeeping, as Valkey's per-database watched_keys: for each (database, key) the clients
/// watching it, so a modification marks exactly those clients dirty (their EXEC then fails).
/// Used under the data lock. When nobody watches anything the keyspace hooks return at once.
/// </summary>
public sealed class WatchRegistry
{
    private readonly Dictionary<int, Dictionary<byte[], List<WatchedKey>>> _byDb = new();
    private int _watchedEntries;

    /// <summary>Clients that watch at least one key (INFO watching_clients).</summary>
    public int WatchingClients { get; private set; }

    /// <summary>Distinct watched (database, key) pairs (INFO total_watched_keys).</summary>
    public int TotalWatchedKeys => _watchedEntries;

    public void Watch(Client client, Database db, ReadOnlySpan<byte> key)
    {
        client.WatchedKeys ??= new List<WatchedKey>();
        foreach (var existing in client.WatchedKeys)
            if (existing.DbIndex == db.Index && key.SequenceEqual(existing.Key)) return;

        if (!_byDb.TryGetValue(db.Index, out var map))
        {
            map = new Dictionary<byte[], List<WatchedKey>>(ByteArrayComparer.Instance);
            _byDb[db.Index] = map;
        }
        var lookup = map.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!lookup.TryGetValue(key, out var watchers))
        {
            watchers = new List<WatchedKey>(1);
            map[key.ToArray()] = watchers;
            _watchedEntries++;
        }
        if (client.WatchedKeys.Count == 0) WatchingClients++;
        var wk = new WatchedKey { Key = key.ToArray(), DbIndex = db.Index, Client = client, Expired = IsLogicallyExpired(db, key) };
        watchers.Add(wk);
        client.WatchedKeys.Add(wk);
    }

    public void UnwatchAll(Client client)
    {
        var keys = client.WatchedKeys;
        if (keys is null || keys.Count == 0) return;
        foreach (var wk in keys)
        {
            if (!_byDb.TryGetValue(wk.DbIndex, out var map)) continue;
            var lookup = map.GetAlternateLookup<ReadOnlySpan<byte>>();
            if (!lookup.TryGetValue(wk.Key, out var watchers)) continue;
            watchers.Remove(wk);
            if (watchers.Count == 0)
            {
                lookup.Remove(wk.Key);
                _watchedEntries--;
            }
        }
        keys.Clear();
        WatchingClients--;
    }

    /// <summary>EXEC check: a watched key that was alive when watched is now logically expired.</summary>
    public bool AnyWatchedKeyExpired(Client client, Database[] databases)
    {
        var keys = client.WatchedKeys;
        if (keys is null) return false;
        foreach (var wk in keys)
        {
            if (wk.Expired) continue;
            if (IsLogicallyExpired(databases[wk.DbIndex], wk.Key)) return true;
        }
        return false;
    }

    /// <summary>A key was modified (the keyspace's KeyModified hook).</summary>
    public void Touch(Database db, ReadOnlySpan<byte> key)
    {
        if (_watchedEntries == 0) return;
        if (!_byDb.TryGetValue(db.Index, out var map) || map.Count == 0) return;
        if (!map.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(key, out var watchers)) return;
        // Marking a client dirty unwatches all its keys, which edits this list: walk a snapshot.
        foreach (var wk in watchers.ToArray())
        {
            if (wk.Expired)
            {
                // Deleting a key that was already expired when watched is no logical change.
                if (db.FindRaw(key) < 0) wk.Expired = false;
                continue;
            }
            MarkDirty(wk.Client);
        }
    }

    /// <summary>
    /// <paramref name="emptied"/> is about to lose all its keys (FLUSHDB/FLUSHALL) or to be swapped with
    /// <paramref name="replacedWith"/> (SWAPDB). A watch is invalidated when its key exists on either side,
    /// with Valkey's exceptions for keys that were (or become) merely expired.
    /// </summary>
    public void TouchAll(Database emptied, Database? replacedWith)
    {
        if (_watchedEntries == 0) return;
        if (!_byDb.TryGetValue(emptied.Index, out var map) || map.Count == 0) return;
        var dirty = new List<Client>();
        foreach (var (key, watchers) in map)
        {
            bool existsInEmptied = emptied.FindRaw(key) >= 0;
            bool existsInReplacement = replacedWith is not null && replacedWith.FindRaw(key) >= 0;
            if (!existsInEmptied && !existsInReplacement) continue;
            foreach (var wk in watchers)
            {
                if (wk.Expired)
                {
                    if (!existsInReplacement)
                    {
                        wk.Expired = false;
                        continue;
                    }
                    if (IsLogicallyExpired(replacedWith!, key)) continue;
                }
                else if (!existsInEmptied && IsLogicallyExpired(replacedWith!, key))
                {
                    wk.Expired = true;
                    continue;
                }
                dirty.Add(wk.Client);
            }
        }
        foreach (var c in dirty) MarkDirty(c);
    }

    private void MarkDirty(Client c)
    {
        c.Flags |= ClientFlags.DirtyCas;
        c.ClearMultiQueue();
        // Once dirty, further changes cannot matter: stop watching to save work until EXEC.
        UnwatchAll(c);
    }

    private static bool IsLogicallyExpired(Database db, ReadOnlySpan<byte> key)
    {
        int idx = db.FindRaw(key);
        return idx >= 0 && db.IsExpiredAt(idx);
    }
}

/// <summary>Content equality for byte[] keys, with span lookups (no allocation to probe).</summary>
public sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ByteArrayComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x is null ? y is null : y is not null && x.AsSpan().SequenceEqual(y);
    public int GetHashCode(byte[] obj) => KeyHash.Hash(obj);
    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
    public int GetHashCode(ReadOnlySpan<byte> alternate) => KeyHash.Hash(alternate);
    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}
