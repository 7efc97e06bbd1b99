using Kvasir.Types;

namespace Kvasir.Keyspace;

[Flags]
public enum LookupFlags
{
    None = 0,
    /// <summary>A write lookup: no keyspace_hits/misses accounting.</summary>
    Write = 1,
    /// <summary>Do not update the LRU/LFU bits (OBJECT, TYPE, CLIENT NO-TOUCH).</summary>
    NoTouch = 2,
    /// <summary>Do not count hits/misses.</summary>
    NoStats = 4,
    /// <summary>Report an expired key as missing but do not delete it.</summary>
    NoExpireDelete = 8,
}

/// <summary>
/// One numbered database (SELECT n): the key table and the expires table, as Valkey's redisDb.
/// Every read goes through <see cref="Lookup"/>, which applies lazy expiry (an expired key is never
/// visible), updates LRU/LFU bits and counts hits and misses. Values are addressed by the index
/// the lookup returns, valid until that key is deleted.
/// </summary>
public sealed class Database
{
    private ItemStore _store;
    private HashTable<long, MainKeyOf> _keys;
    private HashTable<KeyExpire, KeyExpireKeyOf> _expires;
    private readonly KeyspaceContext _ctx;
    private long _valueBytes;
    private ulong _expiresCursor;                 // where active expiry resumes in _expires
    private readonly List<int> _expireBatch = new();
    // Cluster mode: the keys of each hash slot (null otherwise).
    private SlotIndex? _slotIndex;

    public Database(int index, KeyspaceContext context)
    {
        Index = index;
        _ctx = context;
        _store = new ItemStore(context);
        _keys = new HashTable<long, MainKeyOf>(16, new MainKeyOf(_store));
        _expires = new HashTable<KeyExpire, KeyExpireKeyOf>(16, new KeyExpireKeyOf(_keys, _store));
        if (context.TrackSlots) _slotIndex = new SlotIndex();
    }

    public int Index { get; }

    public KeyspaceContext Context => _ctx;

    public int Count => _keys.Count;

    public int ExpiresCount => _expires.Count;

    /// <summary>Approximate bytes of keys, values, expires and table overhead (incrementally maintained).</summary>
    public long UsedMemory => _valueBytes + TableOverhead;

    /// <summary>Bytes of keys, values and expire entries alone, without the tables' own arrays.</summary>
    public long DataBytes => _valueBytes;

    /// <summary>The part of <see cref="UsedMemory"/> that is hash table structure rather than data (INFO used_memory_overhead).</summary>
    public long TableOverhead => _keys.OverheadBytes + _expires.OverheadBytes + (_slotIndex?.OverheadBytes ?? 0);

    /// <summary>The key table's own arrays (MEMORY STATS overhead.hashtable.main).</summary>
    public long MainTableOverhead => _keys.OverheadBytes;

    /// <summary>The expires table's own arrays (MEMORY STATS overhead.hashtable.expires).</summary>
    public long ExpiresTableOverhead => _expires.OverheadBytes;

    /// <summary>Running average TTL of sampled volatile keys, for INFO keyspace avg_ttl.</summary>
    public long AvgTtl { get; set; }

    // ----- lookups -----

    /// <summary>Finds a key applying lazy expiry, LRU/LFU touch and hit/miss stats. Returns an index or -1.</summary>
    public int Lookup(ReadOnlySpan<byte> key, LookupFlags flags = LookupFlags.None)
    {
        int hash = KeyHash.Hash(key);
        int idx = _keys.Find(key, hash);
        if (idx >= 0 && IsVolatileAt(idx) && IsExpired(idx))
        {
            if ((flags & LookupFlags.NoExpireDelete) == 0 && ((flags & LookupFlags.Write) != 0 ? _ctx.WriteDeletesExpired : _ctx.ExpireDeletes)) DeleteExpired(idx);
            idx = -1;
        }
        // A write lookup precedes in-place edits of the value.
        if (idx >= 0 && (flags & LookupFlags.Write) != 0) _ctx.BeforeKeyChange?.Invoke(this, idx);
        if ((flags & (LookupFlags.Write | LookupFlags.NoStats)) == 0)
        {
            if (idx >= 0) _ctx.KeyspaceHits++;
            else
            {
                _ctx.KeyspaceMisses++;
                _ctx.KeyMissed?.Invoke(this, key);
            }
        }
        if (idx >= 0 && (flags & LookupFlags.NoTouch) == 0 && !_ctx.NoTouch) Touch(idx);
        return idx;
    }

    /// <summary>
    /// Starts loading, for a batch of lookups to come (the keys of a pipelined batch, by their
    /// <see cref="KeyHash.Hash"/>), the memory each will touch: bucket, entry and item, one step for
    /// all of them before the next, so the cache misses of different keys overlap instead of following
    /// one another (Valkey 8 prefetches a batch's keys the same way). With a big keyspace a lookup is
    /// mostly waiting for memory.
    /// </summary>
    public void Prefetch(ReadOnlySpan<int> hashes)
    {
        foreach (int h in hashes) _keys.PrefetchBucket(h);
        foreach (int h in hashes) _keys.PrefetchEntry(h);
        foreach (int h in hashes) PrefetchItem(h);
    }

    private unsafe void PrefetchItem(int hash)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported) return;
        int i = _keys.ChainHead(hash);
        if (i < 0) return;
        nint address = _store.AddressOf(_keys.ItemAt(i));
        if (address != 0) System.Runtime.Intrinsics.X86.Sse.Prefetch0((void*)address);
    }

    /// <summary>The member lookup table of the collection at <paramref name="idx"/> (a big set, hash or sorted
    /// set), for prefetching a batch's members; null for anything else.</summary>
    public IPrefetchable? MemberLookupsAt(int idx)
    {
        long item = _keys.ItemAt(idx);
        return ItemStore.IsObject(item) && _store.ObjectOf(item) is KeyedObject { Value: IMemberPrefetchSource source } ? source.MemberLookups : null;
    }

    /// <summary>Finds a key ignoring expiry entirely (persistence, debugging).</summary>
    public int FindRaw(ReadOnlySpan<byte> key) => _keys.Find(key);

    public bool Exists(ReadOnlySpan<byte> key) => Lookup(key, LookupFlags.NoStats | LookupFlags.NoTouch) >= 0;

    private bool IsExpired(int idx)
    {
        // While an AOF is replayed nothing expires (Valkey's keyIsExpired): the log's own UNLINK/DEL decide.
        if (_ctx.Loading || _ctx.ObeyPrimary) return false;
        long when = GetExpire(idx);
        return when >= 0 && when <= _ctx.NowMs;
    }

    private void Touch(int idx)
    {
        long item = _keys.ItemAt(idx);
        if (_store.TryGetBlob(item, out var blob)) KeyBlob.SetLru(blob, _ctx.AccessStamp(KeyBlob.GetLru(blob), false));
        else
        {
            var o = (KeyedObject)_store.ObjectOf(item);
            o.Lru = _ctx.AccessStamp(o.Lru, false);
        }
    }

    /// <summary>The object value holder of a non-blob item.</summary>
    private KeyedObject Keyed(long item) => (KeyedObject)_store.ObjectOf(item);

    // ----- accessors by index -----

    public ReadOnlySpan<byte> KeyAt(int idx) => _store.KeyOf(_keys.ItemAt(idx));

    public byte[] KeyBytesAt(int idx) => KeyAt(idx).ToArray();

    public DataType TypeAt(int idx) => _store.TryGetBlob(_keys.ItemAt(idx), out var blob) ? KeyBlob.Type(blob) : Keyed(_keys.ItemAt(idx)).Value.Type;

    public ValueEncoding EncodingAt(int idx) => _store.TryGetBlob(_keys.ItemAt(idx), out var blob) ? KeyBlob.Encoding(blob) : Keyed(_keys.ItemAt(idx)).Value.Encoding;

    /// <summary>The object value, or null when the key is an inline string. A packed hash is stored as a
    /// blob: it comes back as a new <see cref="HashValue"/> over that blob (commit edits with <see cref="ReplaceObjectAt"/>).</summary>
    public IDataValue? ObjectAt(int idx)
    {
        long item = _keys.ItemAt(idx);
        if (!ItemStore.IsObject(item)) return null;
        return _store.ObjectOf(item) switch
        {
            KeyedObject o => o.Value,
            byte[] blob when KeyBlob.Type(blob) == DataType.Hash => HashValue.OverBlob(blob),
            _ => null,
        };
    }

    /// <summary>The bytes of a string value (the caller checked the type). They stay readable until the
    /// command ends even if the key is overwritten or deleted meanwhile.</summary>
    public ReadOnlySpan<byte> StringAt(int idx)
    {
        long item = _keys.ItemAt(idx);
        if (_store.TryGetBlob(item, out var blob)) return KeyBlob.Value(blob);
        return ((RawString)Keyed(item).Value).Span;
    }

    /// <summary>A number that stays the same while the key's value is the same one (DEBUG OBJECT "Value at").</summary>
    public int IdentityAt(int idx)
    {
        long item = _keys.ItemAt(idx);
        return ItemStore.IsObject(item) ? System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(_store.ObjectOf(item)) : (int)(item ^ (item >> 32));
    }

    public uint LruAt(int idx) => _store.TryGetBlob(_keys.ItemAt(idx), out var blob) ? KeyBlob.GetLru(blob) : Keyed(_keys.ItemAt(idx)).Lru;

    public void SetLruAt(int idx, uint value)
    {
        if (_store.TryGetBlob(_keys.ItemAt(idx), out var blob)) KeyBlob.SetLru(blob, value);
        else Keyed(_keys.ItemAt(idx)).Lru = value;
    }

    public long MemoryAt(int idx) => ItemBytes(_keys.ItemAt(idx)) + 20;

    /// <summary>Bytes of a key-table item's data: its slab slot, or its objects on the heap.</summary>
    private long ItemBytes(long item)
    {
        if (!ItemStore.IsObject(item) || _store.ObjectOf(item) is byte[]) return _store.BlobBytes(item);
        return Keyed(item).MemoryUsage;
    }

    private bool IsVolatileAt(int idx)
    {
        long item = _keys.ItemAt(idx);
        return _store.TryGetBlob(item, out var blob) ? KeyBlob.IsVolatile(blob) : Keyed(item).IsVolatile;
    }

    private void SetVolatileAt(int idx, bool value)
    {
        long item = _keys.ItemAt(idx);
        if (_store.TryGetBlob(item, out var blob)) KeyBlob.SetVolatile(blob, value);
        else Keyed(item).IsVolatile = value;
    }

    /// <summary>The key-table item for an object value (see <see cref="KeyedObject.CreateItem"/>).</summary>
    private long NewObjectItem(ReadOnlySpan<byte> key, IDataValue value, uint lru, bool isVolatile) =>
        _store.AddObject(KeyedObject.CreateItem(key, value, lru, isVolatile));

    // ----- writes -----

    /// <summary>SET semantics: creates or overwrites <paramref name="key"/> with a string value of any previous type.
    /// The TTL is removed unless <paramref name="keepTtl"/>.</summary>
    public int SetString(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool keepTtl = false)
    {
        int hash = KeyHash.Hash(key);
        int idx = _keys.Find(key, hash);
        if (idx >= 0) _ctx.BeforeKeyChange?.Invoke(this, idx);
        // A logically expired key is gone: its TTL must not survive into the new value (SET KEEPTTL).
        if (idx >= 0 && IsVolatileAt(idx) && IsExpired(idx) && _ctx.WriteDeletesExpired)
        {
            DeleteExpired(idx);
            idx = -1;
        }
        if (idx < 0)
        {
            long blob = _store.NewBlob(key, value, _ctx.AccessStamp(0, true), false);
            idx = _keys.Add(blob, hash);
            _slotIndex?.Add(idx, key);
            _valueBytes += ItemBytes(blob);
            _ctx.KeyCreated?.Invoke(this, key);
        }
        else
        {
            bool wasVolatile = IsVolatileAt(idx);
            if (wasVolatile && !keepTtl)
            {
                RemoveExpireEntry(idx);
                wasVolatile = false;
            }
            ReplaceWithString(idx, value, wasVolatile);
            // An overwrite counts as an access (Valkey looks the key up for writing first).
            SetLruAt(idx, _ctx.AccessStamp(LruAt(idx), false));
        }
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, key);
        return idx;
    }

    /// <summary>Changes the value of an existing key to the string <paramref name="value"/>, keeping its TTL.</summary>
    public void SetStringAt(int idx, ReadOnlySpan<byte> value)
    {
        _ctx.BeforeKeyChange?.Invoke(this, idx);
        ReplaceWithString(idx, value, IsVolatileAt(idx));
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, KeyAt(idx));
    }

    private void ReplaceWithString(int idx, ReadOnlySpan<byte> value, bool isVolatile)
    {
        // The LRU/LFU bits carry over: the caller's lookup already counted the access.
        ref long item = ref _keys.ItemAt(idx);
        _valueBytes -= ItemBytes(item);
        if (_store.TryGetBlob(item, out _)) item = _store.WithValue(item, value);
        else
        {
            var o = Keyed(item);
            long next = _store.NewBlob(o.Key, value, o.Lru, isVolatile);
            _store.Free(item);
            item = next;
        }
        _valueBytes += ItemBytes(item);
        _store.TryGetBlob(item, out var blob);
        KeyBlob.SetVolatile(blob, isVolatile);
    }

    /// <summary>Adds a new key (known not to exist) holding an object value. Returns its index.</summary>
    public int AddObject(ReadOnlySpan<byte> key, IDataValue value)
    {
        int hash = KeyHash.Hash(key);
        // A logically expired key that could not be reclaimed (expiry deletion suspended) may still
        // be in the table; never let it become a duplicate entry.
        int stale = _keys.Find(key, hash);
        if (stale >= 0) RemoveAt(stale);
        long item = NewObjectItem(key, value, _ctx.AccessStamp(0, true), false);
        int idx = _keys.Add(item, hash);
        _slotIndex?.Add(idx, key);
        _valueBytes += ItemBytes(item);
        _ctx.KeyCreated?.Invoke(this, key);
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, _store.KeyOf(item));
        return idx;
    }

    /// <summary>
    /// Loading (RDB): adds a new key holding the string <paramref name="stringValue"/>, or
    /// <paramref name="objectValue"/> when not null, hashing the key once. Returns its index, or -1
    /// when the key exists (nothing changed; the loader decides).
    /// </summary>
    public int AddLoaded(ReadOnlySpan<byte> key, ReadOnlySpan<byte> stringValue, IDataValue? objectValue)
    {
        int hash = KeyHash.Hash(key);
        if (_keys.Find(key, hash) >= 0) return -1;
        int idx;
        long item = objectValue is null
            ? _store.NewBlob(key, stringValue, _ctx.AccessStamp(0, true), false)
            : NewObjectItem(key, objectValue, _ctx.AccessStamp(0, true), false);
        idx = _keys.Add(item, hash);
        _valueBytes += ItemBytes(item);
        _slotIndex?.Add(idx, key);
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, key);
        return idx;
    }

    /// <summary>Loading: the file announces how many keys (and keys with a TTL) follow (RESIZEDB).</summary>
    public void ExpectKeys(int keys, int expires)
    {
        _keys.EnsureCapacity(_keys.Count + keys);
        _expires.EnsureCapacity(_expires.Count + expires);
    }

    /// <summary>Creates or overwrites a key with an object value; the TTL is removed unless <paramref name="keepTtl"/>.</summary>
    public int SetObject(ReadOnlySpan<byte> key, IDataValue value, bool keepTtl = false)
    {
        int hash = KeyHash.Hash(key);
        int idx = _keys.Find(key, hash);
        if (idx >= 0) _ctx.BeforeKeyChange?.Invoke(this, idx);
        if (idx >= 0 && IsVolatileAt(idx) && IsExpired(idx) && _ctx.WriteDeletesExpired)
        {
            DeleteExpired(idx);
            idx = -1;
        }
        if (idx < 0) return AddObject(key, value);
        SetLruAt(idx, _ctx.AccessStamp(LruAt(idx), false));
        bool wasVolatile = IsVolatileAt(idx);
        if (wasVolatile && !keepTtl)
        {
            RemoveExpireEntry(idx);
            wasVolatile = false;
        }
        ReplaceObjectAt(idx, value);
        SetVolatileAt(idx, wasVolatile);
        return idx;
    }

    /// <summary>Replaces the value of an existing key with an object, keeping its TTL.</summary>
    public void ReplaceObjectAt(int idx, IDataValue value)
    {
        _ctx.BeforeKeyChange?.Invoke(this, idx);
        ReplaceItemWithObject(idx, value);
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, KeyAt(idx));
    }

    /// <summary>
    /// Call after editing an object value in place (APPEND into a raw string, pushing to a list...):
    /// re-measures memory and signals the modification. <paramref name="memoryBefore"/> is
    /// <see cref="MemoryAt"/> from before the edit.
    /// </summary>
    public void ValueEdited(int idx, long memoryBefore)
    {
        _valueBytes += MemoryAt(idx) - memoryBefore;
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, KeyAt(idx));
    }

    /// <summary>
    /// Re-measures a value whose memory changed without a change of content (an encoding conversion
    /// done before a write that then did not happen): no dirty count, no modification signal.
    /// </summary>
    public void ValueResized(int idx, long memoryBefore) => _valueBytes += MemoryAt(idx) - memoryBefore;

    /// <summary>Converts an inline string key into an editable <see cref="RawString"/> and returns it.</summary>
    public RawString MakeRawString(int idx)
    {
        if (ObjectAt(idx) is RawString raw) return raw;
        var value = new RawString(StringAt(idx));
        // The conversion itself is not a change: no dirty count and no modification signal (a
        // WATCHed key must survive SETBIT of a bit to its current value), as Valkey's dbUnshareStringValue.
        ReplaceItemWithObject(idx, value);
        return value;
    }

    /// <summary>Puts an object value in place of the key's item (string blob or object), keeping key, LRU and TTL flag.</summary>
    private void ReplaceItemWithObject(int idx, IDataValue value)
    {
        ref long item = ref _keys.ItemAt(idx);
        _valueBytes -= ItemBytes(item);
        if (ItemStore.IsObject(item) && _store.ObjectOf(item) is BoxedObject boxed && value is not IKeyEmbeddingValue) boxed.SetValue(value);
        else
        {
            object next = KeyedObject.CreateItem(KeyAt(idx), value, LruAt(idx), IsVolatileAt(idx));
            if (ItemStore.IsObject(item)) _store.SetObject(item, next);
            else
            {
                long handle = _store.AddObject(next);
                _store.Free(item);
                item = handle;
            }
        }
        _valueBytes += ItemBytes(item);
    }

    public bool Delete(ReadOnlySpan<byte> key)
    {
        int idx = Lookup(key, LookupFlags.Write | LookupFlags.NoTouch);
        if (idx < 0) return false;
        DeleteAt(idx);
        return true;
    }

    /// <summary>Deletes the key at <paramref name="idx"/> and returns its removed object (for lazy freeing;
    /// null for a string blob; callers may ignore it).</summary>
    public object? DeleteAt(int idx)
    {
        // The key's bytes stay readable until the command ends (ItemStore frees slots one command late).
        var key = KeyAt(idx);
        object? item = RemoveAt(idx);
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, key);
        return item;
    }

    /// <summary>Removes a key and returns its object (null for a string blob) without signalling.</summary>
    private object? RemoveAt(int idx)
    {
        _ctx.BeforeKeyChange?.Invoke(this, idx);
        if (IsVolatileAt(idx)) RemoveExpireEntry(idx);
        long size = MemoryAt(idx) - 20;
        _valueBytes -= size;
        _slotIndex?.Remove(idx);
        long item = _keys.RemoveAt(idx);
        object? removed = ItemStore.IsObject(item) ? _store.ObjectOf(item) : null;
        _store.Free(item);
        return removed;
    }

    private void DeleteExpired(int idx)
    {
        var key = KeyAt(idx);
        object? item = RemoveAt(idx);
        if (item is not null) _ctx.ExpiredValueRemoved?.Invoke(item);
        _ctx.ExpiredKeys++; // not a dirty change: Valkey does not count expirations toward save points
        _ctx.ChangeByServer = true;
        _ctx.KeyModified?.Invoke(this, key);
        _ctx.ChangeByServer = false;
        _ctx.KeyExpired?.Invoke(this, key);
    }

    // ----- moving values between keys and databases (RENAME, MOVE, COPY, SWAPDB) -----

    /// <summary>A detached value: what a key holds, without the key itself.</summary>
    public readonly record struct Detached(DataType Type, byte[]? StringValue, IDataValue? Object, long ExpireMs, uint Lru);

    /// <summary>Removes a key and returns its value, expire and LRU, for re-insertion under another name.</summary>
    public Detached Detach(int idx)
    {
        long expire = GetExpireAt(idx);
        uint lru = LruAt(idx);
        var key = KeyAt(idx);
        Detached detached;
        long handle = _keys.ItemAt(idx);
        if (_store.TryGetBlob(handle, out var blob))
        {
            // A packed hash (always an array of its own) leaves with its blob, which no longer belongs to the table.
            detached = KeyBlob.Type(blob) == DataType.Hash
                ? new Detached(DataType.Hash, null, HashValue.OverBlob((byte[])_store.ObjectOf(handle)), expire, lru)
                : new Detached(DataType.String, KeyBlob.Value(blob).ToArray(), null, expire, lru);
        }
        else
        {
            var o = Keyed(handle);
            detached = new Detached(o.Value.Type, null, o.Value, expire, lru);
        }
        RemoveAt(idx);
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, key);
        return detached;
    }

    /// <summary>Stores a detached value under <paramref name="key"/>, replacing whatever is there.</summary>
    public int Attach(ReadOnlySpan<byte> key, Detached value)
    {
        int existing = _keys.Find(key);
        if (existing >= 0) DeleteAt(existing);
        int idx = value.StringValue is not null ? SetString(key, value.StringValue) : AddObject(key, value.Object!);
        SetLruAt(idx, value.Lru);
        if (value.ExpireMs >= 0) SetExpireAt(idx, value.ExpireMs);
        return idx;
    }

    /// <summary>
    /// Exchanges the whole content of two databases (SWAPDB). Clients stay on their database
    /// number and so see the other content. <see cref="KeyspaceContext.DatabasesSwapping"/> runs first,
    /// while both databases still hold their old content.
    /// </summary>
    public void SwapContents(Database other)
    {
        if (other == this) return;
        _ctx.DatabasesSwapping?.Invoke(this, other);
        (_keys, other._keys) = (other._keys, _keys);
        (_store, other._store) = (other._store, _store);
        (_slotIndex, other._slotIndex) = (other._slotIndex, _slotIndex);
        RebuildSlotIndexIfNeeded();
        other.RebuildSlotIndexIfNeeded();
        (_expires, other._expires) = (other._expires, _expires);
        (_valueBytes, other._valueBytes) = (other._valueBytes, _valueBytes);
        (AvgTtl, other.AvgTtl) = (other.AvgTtl, AvgTtl);
        (_expiresCursor, other._expiresCursor) = (other._expiresCursor, _expiresCursor);
    }

    /// <summary>
    /// Removes every key (FLUSHDB, FLUSHALL, loading a new data set) and returns how many there were.
    /// <see cref="KeyspaceContext.DatabaseFlushing"/> runs first, while the keys are still there.
    /// Not counted in the dirty counter: the caller knows whether the flush is a user write.
    /// </summary>
    public long Clear() => Clear(null);

    /// <summary>
    /// <see cref="Clear()"/> that hands the old tables to <paramref name="release"/> (with the key
    /// count and their bytes) instead of dropping them: FLUSHDB/FLUSHALL ASYNC.
    /// </summary>
    public long Clear(Action<object, long, long>? release)
    {
        long removed = _keys.Count;
        if (removed > 0) _ctx.DatabaseFlushing?.Invoke(this);
        if (removed > 0 && release is not null) release((_keys, _expires, _store), removed, UsedMemory);
        _store = new ItemStore(_ctx);
        _keys = new HashTable<long, MainKeyOf>(16, new MainKeyOf(_store));
        _slotIndex = _ctx.TrackSlots ? new SlotIndex() : null;
        _expires = new HashTable<KeyExpire, KeyExpireKeyOf>(16, new KeyExpireKeyOf(_keys, _store));
        _valueBytes = 0;
        AvgTtl = 0;
        _expiresCursor = 0;
        return removed;
    }

    // ----- expires -----

    /// <summary>Absolute expire time in unix ms, or -1 when the key has none.</summary>
    public long GetExpireAt(int idx)
    {
        if (!IsVolatileAt(idx)) return -1;
        return GetExpire(idx);
    }

    // Both tables hash keys the same way: the key table's stored hash finds the expire entry.
    private int ExpireEntryOf(int idx) => _expires.Find(KeyAt(idx), _keys.HashAt(idx));

    private long GetExpire(int idx)
    {
        int e = ExpireEntryOf(idx);
        return e < 0 ? -1 : _expires.ItemAt(e).WhenMs;
    }

    public void SetExpireAt(int idx, long whenMs)
    {
        _ctx.BeforeKeyChange?.Invoke(this, idx);
        var key = KeyAt(idx);
        int e = ExpireEntryOf(idx);
        if (e >= 0) _expires.ItemAt(e).WhenMs = whenMs;
        else _expires.Add(new KeyExpire { WhenMs = whenMs, KeyRef = idx + 1 }, _keys.HashAt(idx));
        SetVolatileAt(idx, true);
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, key);
        if (_ctx.WritableReplica && !_ctx.ObeyPrimary) _ctx.ReplicaKeysWithExpire.Add((Index, System.Text.Encoding.Latin1.GetString(key)));
    }

    /// <summary>
    /// A writable replica's own keys with a TTL (Valkey's expireReplicaKeys): deletes those that
    /// expired, forgets those gone or persisted. Returns how many were deleted.
    /// </summary>
    public static int ExpireReplicaKeys(KeyspaceContext ctx, Database[] dbs)
    {
        if (ctx.ReplicaKeysWithExpire.Count == 0) return 0;
        int deleted = 0;
        foreach (var entry in ctx.ReplicaKeysWithExpire.ToArray())
        {
            var db = dbs[entry.Db];
            var key = System.Text.Encoding.Latin1.GetBytes(entry.Key);
            int idx = db._keys.Find(key);
            if (idx < 0 || !db.IsVolatileAt(idx))
            {
                ctx.ReplicaKeysWithExpire.Remove(entry);
                continue;
            }
            if (db.GetExpire(idx) > ctx.NowMs) continue;
            db.DeleteExpired(idx);
            ctx.ReplicaKeysWithExpire.Remove(entry);
            deleted++;
        }
        return deleted;
    }

    /// <summary>Removes the TTL of a key (PERSIST). Returns false when it had none.</summary>
    public bool RemoveExpireAt(int idx)
    {
        if (!IsVolatileAt(idx)) return false;
        _ctx.BeforeKeyChange?.Invoke(this, idx);
        RemoveExpireEntry(idx);
        SetVolatileAt(idx, false);
        _ctx.Dirty++;
        _ctx.KeyModified?.Invoke(this, KeyAt(idx));
        return true;
    }

    private void RemoveExpireEntry(int idx)
    {
        int e = ExpireEntryOf(idx);
        if (e >= 0) _expires.RemoveAt(e);
    }

    /// <summary>
    /// One step of active expiry, as a pass of Valkey's activeExpireCycle over one database: walks the
    /// expires table from a persistent cursor (so every volatile key is checked within a full sweep,
    /// unlike random sampling) until <paramref name="samples"/> keys were checked or 20 times as many
    /// buckets were visited, deleting the expired ones. Returns (sampled, expired) so the caller can
    /// decide to repeat. Does nothing while expired keys must not be deleted (a replica).
    /// </summary>
    public (int Sampled, int Expired) ActiveExpireStep(int samples)
    {
        if (_expires.Count == 0)
        {
            AvgTtl = 0;
            return (0, 0);
        }
        if (!_ctx.ExpireDeletes) return (0, 0);
        int num = Math.Min(samples, _expires.Count);
        long maxBuckets = (long)num * 20;
        var batch = _expireBatch;
        batch.Clear();
        long buckets = 0;
        while (batch.Count < num && buckets < maxBuckets)
        {
            _expiresCursor = _expires.ScanBucket(_expiresCursor, batch);
            buckets++;
            if (_expiresCursor == 0) break;
        }
        int expired = 0, ttlSamples = 0;
        long ttlSum = 0, now = _ctx.NowMs;
        foreach (int e in batch)
        {
            var entry = _expires.ItemAt(e);
            if (entry.KeyRef == 0) continue; // removed by an earlier deletion of this batch
            if (entry.WhenMs <= now)
            {
                DeleteExpired(entry.KeyRef - 1);
                expired++;
            }
            else
            {
                ttlSum += entry.WhenMs - now;
                ttlSamples++;
            }
        }
        if (ttlSamples > 0)
        {
            long avg = ttlSum / ttlSamples;
            AvgTtl = AvgTtl == 0 ? avg : (AvgTtl / 50 * 49) + (avg / 50);
        }
        return (batch.Count, expired);
    }

    // ----- eviction (Keyspace/Eviction/Evictor) -----

    /// <summary>
    /// Fills <paramref name="into"/> with random key indexes (keys with a TTL only, drawn from the
    /// expires table, when <paramref name="volatileOnly"/>) and returns how many it drew: the sample
    /// of one round of eviction, as Valkey's dictGetSomeKeys.
    /// </summary>
    public int SampleKeys(bool volatileOnly, Span<int> into)
    {
        var random = _ctx.Random;
        int n = 0;
        if (!volatileOnly)
        {
            if (_keys.Count == 0) return 0;
            for (; n < into.Length; n++) into[n] = _keys.RandomIndex(random);
            return n;
        }
        if (_expires.Count == 0) return 0;
        for (int i = 0; i < into.Length; i++)
        {
            int e = _expires.RandomIndex(random);
            if (e >= 0) into[n++] = _expires.ItemAt(e).KeyRef - 1;
        }
        return n;
    }

    /// <summary>True when the key at <paramref name="idx"/> has a TTL (a volatile-* policy may evict it).</summary>
    public bool HasExpireAt(int idx) => IsVolatileAt(idx);

    /// <summary>
    /// Removes a key chosen by eviction and returns its item: no dirty count (as Valkey, eviction is
    /// not a user write) but the modification signal (WATCH, client tracking).
    /// </summary>
    public object? EvictAt(int idx)
    {
        var key = KeyAt(idx);
        object? item = RemoveAt(idx);
        _ctx.ChangeByServer = true;
        _ctx.KeyModified?.Invoke(this, key);
        _ctx.ChangeByServer = false;
        return item;
    }

    // ----- cluster hash slots -----

    /// <summary>Keys in hash slot <paramref name="slot"/> (cluster mode; 0 otherwise).</summary>
    public int CountKeysInSlot(int slot) => _slotIndex?.CountIn(slot) ?? 0;

    /// <summary>The first key of a slot (an index for <see cref="KeyAt"/>), -1 when none or not in cluster mode.</summary>
    public int FirstInSlot(int slot) => _slotIndex?.First(slot) ?? -1;

    /// <summary>The next key of the same slot after <paramref name="idx"/>, -1 at the end.</summary>
    public int NextInSlot(int idx) => _slotIndex!.Next(idx);

    /// <summary>
    /// A data set swapped in from a database built without the slot index (or the reverse) gets the
    /// index this database needs: rebuilt from the keys once, or dropped.
    /// </summary>
    private void RebuildSlotIndexIfNeeded()
    {
        if (!_ctx.TrackSlots)
        {
            _slotIndex = null;
            return;
        }
        if (_slotIndex is not null) return;
        var index = new SlotIndex();
        for (int i = 0; i < _keys.IndexLimit; i++)
            if (_keys.IsOccupied(i)) index.Add(i, KeyAt(i));
        _slotIndex = index;
    }

    // ----- iteration -----

    /// <summary>Visits one SCAN bucket: adds live key indexes to <paramref name="into"/>, returns the next cursor.</summary>
    public ulong ScanStep(ulong cursor, List<int> into) => _keys.ScanBucket(cursor, into);

    public int RandomIndex() => _keys.RandomIndex(_ctx.Random);

    /// <summary>
    /// RANDOMKEY's choice: a random key that is not expired, deleting the expired ones it draws.
    /// Where expired keys must not be deleted (a replica) and every key is volatile, gives up after
    /// 100 draws and returns a possibly expired key rather than looping forever, as Valkey does.
    /// Returns -1 when the database is empty.
    /// </summary>
    public int RandomLiveIndex()
    {
        int triesLeft = 100;
        bool allVolatile = _keys.Count == _expires.Count;
        while (true)
        {
            int idx = _keys.RandomIndex(_ctx.Random);
            if (idx < 0) return -1;
            if (!IsVolatileAt(idx)) return idx;
            if (allVolatile && !_ctx.ExpireDeletes && --triesLeft == 0) return idx;
            if (!ExpireIfNeededAt(idx)) return idx;
        }
    }

    /// <summary>
    /// Valkey's expireIfNeeded for a key found by iteration (SCAN, RANDOMKEY): true when the key
    /// is logically expired, in which case it has been deleted unless deletion is suspended.
    /// No hit/miss accounting. The indexes of other keys stay valid.
    /// </summary>
    public bool ExpireIfNeededAt(int idx)
    {
        if (!IsVolatileAt(idx) || !IsExpired(idx)) return false;
        if (_ctx.ExpireDeletes) DeleteExpired(idx);
        return true;
    }

    /// <summary>Index bound for allocation-free iteration with <see cref="IsOccupied"/>.</summary>
    public int IndexLimit => _keys.IndexLimit;

    public bool IsOccupied(int idx) => _keys.IsOccupied(idx);

    /// <summary>The stored hash of the key at <paramref name="idx"/> (snapshots group keys by it).</summary>
    public int HashAt(int idx) => _keys.HashAt(idx);

    /// <summary>True when the key at <paramref name="idx"/> has expired (for iteration that must skip them).</summary>
    public bool IsExpiredAt(int idx) => IsVolatileAt(idx) && IsExpired(idx);
}
