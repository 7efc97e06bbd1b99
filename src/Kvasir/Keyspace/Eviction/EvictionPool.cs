namespace Kvasir.Keyspace.Eviction;

/// <summary>
/// The candidates of Valkey's approximated LRU/LFU/TTL eviction (evict.c's pool of EVPOOL_SIZE):
/// the best victims seen so far over all databases, sorted by ascending score (idle time,
/// inverted LFU counter or inverted expire time), so the best one is last. Each round of sampling
/// only adds keys that beat the current candidates, which makes a handful of samples per eviction
/// approximate a true LRU well. Keys are held by copy: a candidate may be deleted or changed
/// meanwhile and is looked up again when chosen. Slots keep their key buffers, so a steady
/// eviction load allocates nothing here.
/// </summary>
public sealed class EvictionPool
{
    public const int Size = 16;

    private struct Entry
    {
        public ulong Score;
        public byte[]? Buffer;  // kept when the slot is freed, reused by the next key that fits
        public int KeyLength;
        public int Db;
        public bool Used;
    }

    private readonly Entry[] _entries = new Entry[Size];

    public int Count
    {
        get
        {
            int n = 0;
            foreach (var e in _entries) if (e.Used) n++;
            return n;
        }
    }

    /// <summary>Offers a sampled key; it enters when the pool has room or it beats the worst candidate.</summary>
    public void Offer(ReadOnlySpan<byte> key, int db, ulong score)
    {
        var pool = _entries;
        // A key sampled again takes its old slot's place rather than a second slot.
        for (int i = 0; i < Size; i++)
        {
            if (!pool[i].Used || pool[i].Db != db || !key.SequenceEqual(pool[i].Buffer.AsSpan(0, pool[i].KeyLength))) continue;
            if (pool[i].Score == score) return;
            RemoveAt(i);
            break;
        }
        int k = 0;
        while (k < Size && pool[k].Used && pool[k].Score < score) k++;
        if (k == 0 && pool[Size - 1].Used) return; // worse than every candidate of a full pool
        if (k < Size && !pool[k].Used)
        {
            // A free slot at the insertion point.
        }
        else if (!pool[Size - 1].Used)
        {
            // Room at the end: shift the better candidates right (a rotation, so buffers stay unique).
            var spare = pool[Size - 1];
            Array.Copy(pool, k, pool, k + 1, Size - k - 1);
            pool[k] = spare;
        }
        else
        {
            // Full: the worst (first) candidate leaves, the worse ones shift left.
            k--;
            var dropped = pool[0];
            Array.Copy(pool, 1, pool, 0, k);
            pool[k] = dropped;
        }
        ref Entry e = ref pool[k];
        if (e.Buffer is null || e.Buffer.Length < key.Length) e.Buffer = new byte[Math.Max(key.Length, 32)];
        key.CopyTo(e.Buffer);
        e.KeyLength = key.Length;
        e.Db = db;
        e.Score = score;
        e.Used = true;
    }

    /// <summary>
    /// Takes the best candidate out of the pool; false when empty. The key span stays valid until the
    /// next <see cref="Offer"/>.
    /// </summary>
    public bool TakeBest(out ReadOnlySpan<byte> key, out int db)
    {
        for (int k = Size - 1; k >= 0; k--)
        {
            ref Entry e = ref _entries[k];
            if (!e.Used) continue;
            e.Used = false;
            key = e.Buffer.AsSpan(0, e.KeyLength);
            db = e.Db;
            return true;
        }
        key = default;
        db = 0;
        return false;
    }

    /// <summary>Forgets every candidate (FLUSHALL, a policy change: their scores no longer compare).</summary>
    public void Clear()
    {
        for (int i = 0; i < Size; i++) _entries[i].Used = false;
    }

    private void RemoveAt(int i)
    {
        var removed = _entries[i];
        Array.Copy(_entries, i + 1, _entries, i, Size - i - 1);
        removed.Used = false;
        _entries[Size - 1] = removed;
    }
}
