namespace Kvasir.Keyspace;

/// <summary>
/// The keys of a database grouped by cluster hash slot, for cluster mode: a doubly linked list per
/// slot threaded through the key table's stable item indexes (two ints and a slot number per key,
/// no object). CLUSTER COUNTKEYSINSLOT is O(1), GETKEYSINSLOT and deleting a slot's keys cost the
/// keys of that slot, never a scan of the database.
/// </summary>
public sealed class SlotIndex
{
    private const int Slots = Cluster.KeySlot.Count;
    private readonly int[] _head = new int[Slots];   // item index + 1 of the slot's first key; 0 = none
    private readonly int[] _count = new int[Slots];
    private int[] _next = new int[16];                // item index + 1; 0 = end
    private int[] _prev = new int[16];
    private ushort[] _slot = new ushort[16];

    /// <summary>Bytes of the index's own arrays (counted as table overhead).</summary>
    public long OverheadBytes => Slots * 8L + _next.Length * 10L;

    public int CountIn(int slot) => _count[slot];

    /// <summary>The slot of the key stored at item index <paramref name="idx"/>.</summary>
    public int SlotOf(int idx) => _slot[idx];

    /// <summary>The first key of <paramref name="slot"/> (an item index), -1 when the slot is empty.</summary>
    public int First(int slot) => _head[slot] - 1;

    /// <summary>The key after <paramref name="idx"/> in its slot, -1 at the end.</summary>
    public int Next(int idx) => _next[idx] - 1;

    public void Add(int idx, ReadOnlySpan<byte> key)
    {
        if (idx >= _next.Length)
        {
            int size = Math.Max(_next.Length * 2, idx + 1);
            Array.Resize(ref _next, size);
            Array.Resize(ref _prev, size);
            Array.Resize(ref _slot, size);
        }
        int slot = Cluster.KeySlot.Of(key);
        int head = _head[slot];
        _slot[idx] = (ushort)slot;
        _prev[idx] = 0;
        _next[idx] = head;
        if (head != 0) _prev[head - 1] = idx + 1;
        _head[slot] = idx + 1;
        _count[slot]++;
    }

    public void Remove(int idx)
    {
        int slot = _slot[idx];
        int prev = _prev[idx], next = _next[idx];
        if (prev != 0) _next[prev - 1] = next;
        else _head[slot] = next;
        if (next != 0) _prev[next - 1] = prev;
        _next[idx] = _prev[idx] = 0;
        _count[slot]--;
    }
}
