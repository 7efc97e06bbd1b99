namespace Kvasir.Keyspace;

public delegate void KeyEvent(Database db, ReadOnlySpan<byte> key);

/// <summary>
/// What the databases need from the server around them: the clock of the current command, the
/// LRU/LFU settings, statistics, and the hooks that fire when a key changes or expires (WATCH,
/// blocked clients, keyspace notifications, propagation of expired keys as DEL).
/// </summary>
public sealed class KeyspaceContext
{
    /// <summary>Unix time in ms of the command being executed (Valkey's command time snapshot).
    /// Setting it starts a new <see cref="Epoch"/>.</summary>
    public long NowMs
    {
        get => _nowMs;
        set
        {
            _nowMs = value;
            Epoch++;
        }
    }

    private long _nowMs;

    /// <summary>
    /// Counts time snapshots, i.e. commands (and cron steps): a slab slot freed in one epoch is
    /// reused only in a later one (<see cref="ItemStore"/>), so a command can still read what it deleted.
    /// </summary>
    public long Epoch;

    /// <summary>Valkey's 24-bit LRU clock: seconds, wrapping.</summary>
    public uint LruClock => (uint)(NowMs / 1000) & LruClockMax;

    public const uint LruClockMax = (1 << 24) - 1;

    /// <summary>True when maxmemory-policy is an LFU policy: the 24 bits then hold LFU data.</summary>
    public bool UseLfu;
    public int LfuLogFactor = 10;
    public int LfuDecayTime = 1;

    /// <summary>False while active/lazy expiry must not delete keys (a replica, or DEBUG SET-ACTIVE-EXPIRE 0 for active
    /// only, or during a CLIENT PAUSE: expired keys then read as missing but stay until the pause ends).</summary>
    public bool ExpireDeletes
    {
        get => _expireDeletes && !ExpiryPaused;
        set => _expireDeletes = value;
    }

    private bool _expireDeletes = true;

    /// <summary>Cluster mode: databases keep their keys indexed by hash slot (set before any database is created).</summary>
    public bool TrackSlots;

    /// <summary>Set while an AOF is replayed: keys never count as expired (they expire once loading is over).</summary>
    public bool Loading;

    /// <summary>
    /// This server is a replica that takes writes (replica-read-only no): a write by one of its own
    /// clients removes a key past its TTL (Valkey's EXPIRE_FORCE_DELETE_EXPIRED), and keys given a
    /// TTL by its own clients are tracked so they expire here (nobody else will delete them).
    /// </summary>
    public bool WritableReplica;

    /// <summary>Keys a writable replica's own clients gave a TTL (Valkey's slaveKeysWithExpire): database, key.</summary>
    public readonly HashSet<(int Db, string Key)> ReplicaKeysWithExpire = new();

    /// <summary>Whether a write may delete a logically expired key now.</summary>
    public bool WriteDeletesExpired => ExpireDeletes || (WritableReplica && !ObeyPrimary && !ExpiryPaused);

    /// <summary>
    /// Set while a replica applies its primary's stream: keys past their TTL still exist for those
    /// commands (only the primary's DEL removes them), as Valkey's expireIfNeeded for the primary client.
    /// </summary>
    public bool ObeyPrimary;

    /// <summary>Set while a CLIENT PAUSE holds writes: expiring a key is a write (it propagates a DEL).</summary>
    public bool ExpiryPaused;

    public long KeyspaceHits;
    public long KeyspaceMisses;
    public long ExpiredKeys;

    /// <summary>Hash fields deleted because their TTL passed (INFO expired_fields).</summary>
    public long ExpiredFields;

    /// <summary>Hashes with fields that have a TTL, by earliest deadline (active expiry of hash fields).</summary>
    public readonly Types.VolatileHashes VolatileHashes = new();
    public long ExpiredStaleKeys;
    public long ExpiredTimeCapReached;

    /// <summary>Total writes since the last save (rdb_changes_since_last_save) and for save points.</summary>
    public long Dirty;

    /// <summary>A key was created, changed or deleted (WATCH invalidation, client tracking).</summary>
    public KeyEvent? KeyModified;

    /// <summary>True while <see cref="KeyModified"/> reports a change no client made (expiry, eviction):
    /// client tracking's NOLOOP then never hides it.</summary>
    public bool ChangeByServer;

    /// <summary>A key was added to a database (keyspace event "new"); set only while someone listens.</summary>
    public KeyEvent? KeyCreated;

    /// <summary>A read lookup found no key (keyspace event "keymiss"); set only while someone listens.</summary>
    public KeyEvent? KeyMissed;

    /// <summary>A key was deleted because it expired (notification, propagation as DEL/UNLINK).</summary>
    public KeyEvent? KeyExpired;

    /// <summary>An expired key's item was removed: lazyfree-lazy-expire may free it in the background.</summary>
    public Action<object>? ExpiredValueRemoved;

    /// <summary>A database is about to be emptied (FLUSHDB/FLUSHALL); it still holds its keys
    /// (WATCH on existing keys, blocked stream readers, client tracking).</summary>
    public Action<Database>? DatabaseFlushing;

    /// <summary>Two databases are about to exchange their content (SWAPDB); both still hold the old one.</summary>
    public Action<Database, Database>? DatabasesSwapping;

    /// <summary>FLUSHALL finished (Valkey then saves an empty RDB when save points are configured,
    /// which resets the dirty counter).</summary>
    public Action? FlushedAll;

    /// <summary>
    /// Set while a background snapshot runs: called under the data lock before an existing key (given
    /// by its index in the table, which stays valid until the key is removed) is changed in place (a
    /// write lookup), overwritten, given or stripped of a TTL, or removed, so the snapshot can copy
    /// the key's part of the table out first (BGSAVE without fork). Keys created meanwhile are no
    /// part of the snapshot and need no call: they only reuse slots whose removal made one.
    /// </summary>
    public Action<Database, int>? BeforeKeyChange;

    /// <summary>True while the executing client has CLIENT NO-TOUCH on: lookups do not update LRU/LFU.</summary>
    public bool NoTouch;

    public readonly Random Random = new();

    /// <summary>The value the 24 LRU/LFU bits get when a key is created or accessed.</summary>
    public uint AccessStamp(uint previous, bool created)
    {
        if (!UseLfu) return LruClock;
        return Lfu.Touch(previous, created, this);
    }
}

/// <summary>Valkey's LFU: 16 bits of minutes (last decrement time) and an 8-bit logarithmic counter.</summary>
public static class Lfu
{
    public const int InitValue = 5;

    public static uint MinutesNow(KeyspaceContext c) => (uint)(c.NowMs / 1000 / 60) & 0xFFFF;

    public static uint Touch(uint data, bool created, KeyspaceContext c)
    {
        uint now = MinutesNow(c);
        if (created) return (now << 8) | InitValue;
        uint counter = Decay(data, c);
        counter = LogIncrement(counter, c);
        return (now << 8) | counter;
    }

    public static uint Decay(uint data, KeyspaceContext c)
    {
        uint ldt = data >> 8;
        uint counter = data & 0xFF;
        uint now = MinutesNow(c);
        uint elapsed = now >= ldt ? now - ldt : 65535 - ldt + now;
        uint periods = c.LfuDecayTime > 0 ? elapsed / (uint)c.LfuDecayTime : 0;
        return periods > counter ? 0 : counter - periods;
    }

    private static uint LogIncrement(uint counter, KeyspaceContext c)
    {
        if (counter == 255) return 255;
        double r = c.Random.NextDouble();
        double baseval = counter - InitValue;
        if (baseval < 0) baseval = 0;
        double p = 1.0 / (baseval * c.LfuLogFactor + 1);
        return r < p ? counter + 1 : counter;
    }
}
