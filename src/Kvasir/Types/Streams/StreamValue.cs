using Kvasir.Protocol;

namespace Kvasir.Types.Streams;

/// <summary>Why <see cref="StreamValue.Append"/> refused an entry.</summary>
public enum StreamAppendResult
{
    Added,
    /// <summary>The ID is not greater than the stream's last ID (Valkey's EDOM).</summary>
    IdTooSmall,
    /// <summary>Fields and values together exceed what a node can hold (ERANGE).</summary>
    TooLarge,
}

/// <summary>How <see cref="StreamValue.Trim"/> trims (XADD/XTRIM MAXLEN or MINID).</summary>
public enum StreamTrimStrategy { None, MaxLen, MinId }

/// <summary>
/// A stream with Valkey's encoding: a map from master IDs to listpack nodes (the rax of listpacks),
/// each node starting with a master entry (live count, deleted count, the field names of its first
/// entry) against which entries store their ID as a delta and, when their fields are the same,
/// only their values. Deleted entries stay in their node flagged until the whole node goes. The
/// same layout byte for byte as Valkey, so nodes travel unchanged in RDB files and DUMP payloads,
/// and trimming/deletion give the same results. Consumer groups hang off the stream.
/// </summary>
public sealed class StreamValue : IDataValue, IDigestible
{
    public const int FlagDeleted = 1;
    public const int FlagSameFields = 2;

    /// <summary>STREAM_LISTPACK_MAX_SIZE: no node (and no entry) beyond 1 GB.</summary>
    public const long MaxListpackSize = 1L << 30;

    /// <summary>STREAM_LISTPACK_MAX_PRE_ALLOCATE: room a new node starts with.</summary>
    private const int MaxPreallocate = 4096;

    internal StreamIdMap<byte[]> Nodes { get; } = new();

    private long _nodeBytes;   // arrays of the nodes (with their headers)

    /// <summary>
    /// The size the last node had when it was closed: a node started after the tail was dropped
    /// (trimming, deletion) begins with that much room.
    /// </summary>
    private int _closedNodeSize;

    /// <summary>Live entries.</summary>
    public ulong Length;

    /// <summary>The last ID ever generated or set (0-0 for a new stream).</summary>
    public StreamId LastId;

    /// <summary>The first live entry's ID (0-0 when empty).</summary>
    public StreamId FirstId;

    /// <summary>The largest ID ever deleted by XDEL (or set by XSETID MAXDELETEDID).</summary>
    public StreamId MaxDeletedId;

    /// <summary>Entries ever added (the logical offset of the last one).</summary>
    public ulong EntriesAdded;

    /// <summary>Consumer groups by name; null until the first one is created.</summary>
    public NameMap<StreamGroup>? Groups { get; private set; }

    public DataType Type => DataType.Stream;

    public ValueEncoding Encoding => ValueEncoding.Stream;

    public long MemoryUsage
    {
        get
        {
            long bytes = 96 + Nodes.OverheadBytes + _nodeBytes;
            if (Groups is { } groups)
            {
                bytes += groups.OverheadBytes;
                for (int i = 0; i < groups.Count; i++) bytes += groups.NameAt(i).Length + 24 + groups.ValueAt(i).MemoryUsage;
            }
            return bytes;
        }
    }

    /// <summary>Nodes (radix tree keys in Valkey's terms).</summary>
    public long NodeCount => Nodes.Count;

    private static long ArrayBytes(byte[] a) => 24 + a.Length;

    // ----- adding -----

    /// <summary>The ID XADD * gives at <paramref name="nowMs"/> (streamNextID): now, or the last ID plus one when the clock is behind.</summary>
    public StreamId NextId(long nowMs)
    {
        ulong ms = (ulong)nowMs;
        if (ms > LastId.Ms) return new StreamId(ms, 0);
        LastId.TryIncrement(out var next);
        return next;
    }

    /// <summary>
    /// streamAppendItem: adds the entry whose fields and values are <paramref name="args"/>[first ..
    /// first + 2 * numFields). The ID is generated (<paramref name="idGiven"/> false), taken as is, or
    /// given without its sequence ("ms-*": <paramref name="seqGiven"/> false).
    /// </summary>
    public StreamAppendResult Append(CommandArgs args, int first, int numFields, bool idGiven, StreamId requested, bool seqGiven,
        long nowMs, long nodeMaxBytes, long nodeMaxEntries, out StreamId added)
    {
        added = default;
        StreamId id;
        if (idGiven)
        {
            if (seqGiven) id = requested;
            else if (LastId.Ms == requested.Ms)
            {
                if (LastId.Seq == ulong.MaxValue) return StreamAppendResult.IdTooSmall;
                id = new StreamId(LastId.Ms, LastId.Seq + 1);
            }
            else id = requested;
        }
        else id = NextId(nowMs);
        if (id <= LastId) return StreamAppendResult.IdTooSmall;

        long total = 0;
        for (int i = 0; i < numFields * 2; i++) total += args[first + i].Length;
        if (total > MaxListpackSize) return StreamAppendResult.TooLarge;

        var tail = Nodes.Last();
        byte[]? lp = null;
        byte[]? reuse = null;
        if (tail.Valid)
        {
            lp = Nodes.ValueAt(tail);
            long lpBytes = StreamListpack.TotalBytes(lp);
            long maxBytes = nodeMaxBytes;
            if (maxBytes == 0 || maxBytes > MaxListpackSize) maxBytes = MaxListpackSize;
            bool newNode = false;
            if (lpBytes + total >= maxBytes) newNode = true;
            else if (nodeMaxEntries != 0)
            {
                int p = StreamListpack.First(lp);
                long count = StreamListpack.GetInteger(lp, p) + StreamListpack.GetInteger(lp, StreamListpack.Next(lp, p));
                if (count >= nodeMaxEntries) newNode = true;
            }
            if (newNode)
            {
                // The full node stays as an exact copy (lpShrinkToFit); its array is reused for the
                // next node, so filling a stream leaves no garbage behind, one node after the other.
                _closedNodeSize = StreamListpack.TotalBytes(lp);
                var sealedNode = StreamListpack.Seal(lp);
                _nodeBytes += ArrayBytes(sealedNode) - ArrayBytes(lp);
                Nodes.ValueAt(tail) = sealedNode;
                reuse = lp;
                lp = null;
            }
        }

        int flags = 0;
        StreamId master;
        long before;
        if (lp is null)
        {
            master = id;
            if (reuse is not null) lp = StreamListpack.Reset(reuse);
            else
            {
                // Sized like the last closed node; the first node of a stream with room for a few
                // entries like this one (Valkey's 4096-byte preallocation is too much for a stream
                // of a few entries).
                int prealloc = MaxPreallocate;
                if (nodeMaxBytes > 0 && nodeMaxBytes < prealloc) prealloc = (int)nodeMaxBytes;
                if (_closedNodeSize > 0) prealloc = _closedNodeSize + 16;
                else prealloc = (int)Math.Min(prealloc, 64 + 4 * total + 16L * numFields);
                lp = StreamListpack.New(prealloc);
            }
            before = 0;
            StreamListpack.AppendInteger(ref lp, 1);          // live entries: the one being added
            StreamListpack.AppendInteger(ref lp, 0);          // deleted entries
            StreamListpack.AppendInteger(ref lp, numFields);
            for (int i = 0; i < numFields; i++) StreamListpack.Append(ref lp, args[first + i * 2]);
            StreamListpack.AppendInteger(ref lp, 0);          // master entry terminator
            flags |= FlagSameFields;
        }
        else
        {
            master = Nodes.KeyAt(tail);
            before = ArrayBytes(lp);
            int p = StreamListpack.First(lp);
            long count = StreamListpack.GetInteger(lp, p);
            int widen = Listpack.IntegerEntrySize(count + 1) - Listpack.EntryLength(lp, p);
            p = StreamListpack.Next(lp, p);                   // deleted
            p = StreamListpack.Next(lp, p);                   // master field count
            long masterFields = StreamListpack.GetInteger(lp, p);
            p = StreamListpack.Next(lp, p);
            if (numFields == masterFields)
            {
                Span<byte> scratch = stackalloc byte[24];
                int i;
                for (i = 0; i < masterFields; i++)
                {
                    var name = StreamListpack.Get(lp, p).AsSpan(scratch);
                    if (!name.SequenceEqual(args[first + i * 2])) break;
                    p = StreamListpack.Next(lp, p);
                }
                if (i == masterFields) flags |= FlagSameFields;
            }
            // Room for the whole entry before anything is written: the node is copied once at most.
            StreamListpack.EnsureRoom(ref lp, widen + EntryBytes(args, first, numFields, flags, id, master));
            StreamListpack.ReplaceInteger(ref lp, StreamListpack.First(lp), count + 1);
        }

        bool same = (flags & FlagSameFields) != 0;
        StreamListpack.AppendInteger(ref lp, flags);
        StreamListpack.AppendInteger(ref lp, (long)(id.Ms - master.Ms));
        StreamListpack.AppendInteger(ref lp, (long)(id.Seq - master.Seq));
        if (!same) StreamListpack.AppendInteger(ref lp, numFields);
        for (int i = 0; i < numFields; i++)
        {
            if (!same) StreamListpack.Append(ref lp, args[first + i * 2]);
            StreamListpack.Append(ref lp, args[first + i * 2 + 1]);
        }
        long lpCount = numFields + 3;
        if (!same) lpCount += numFields + 1;
        StreamListpack.AppendInteger(ref lp, lpCount);

        if (before == 0) Nodes.TryAdd(master, lp);
        else Nodes.ValueAt(tail) = lp;
        _nodeBytes += ArrayBytes(lp) - before;

        Length++;
        EntriesAdded++;
        LastId = id;
        if (Length == 1) FirstId = id;
        added = id;
        return StreamAppendResult.Added;
    }

    /// <summary>The listpack bytes of one entry as <see cref="Append"/> writes it.</summary>
    private static long EntryBytes(CommandArgs args, int first, int numFields, int flags, StreamId id, StreamId master)
    {
        bool same = (flags & FlagSameFields) != 0;
        long bytes = Listpack.IntegerEntrySize(flags)
            + Listpack.IntegerEntrySize((long)(id.Ms - master.Ms))
            + Listpack.IntegerEntrySize((long)(id.Seq - master.Seq));
        long lpCount = numFields + 3;
        if (!same)
        {
            bytes += Listpack.IntegerEntrySize(numFields);
            lpCount += numFields + 1;
        }
        for (int i = 0; i < numFields; i++)
        {
            if (!same) bytes += Listpack.EntrySize(args[first + i * 2]);
            bytes += Listpack.EntrySize(args[first + i * 2 + 1]);
        }
        return bytes + Listpack.IntegerEntrySize(lpCount);
    }

    // ----- trimming -----

    /// <summary>
    /// streamTrim: removes entries from the head until at most <paramref name="maxLen"/> remain
    /// (MAXLEN) or none is below <paramref name="minId"/> (MINID). With <paramref name="approx"/>
    /// only whole nodes go; <paramref name="limit"/> (0: none) caps the entries removed. Returns
    /// how many were removed.
    /// </summary>
    public long Trim(StreamTrimStrategy strategy, long maxLen, StreamId minId, bool approx, long limit)
    {
        if (strategy == StreamTrimStrategy.None) return 0;
        long deleted = 0;
        var c = Nodes.First();
        while (c.Valid)
        {
            if (strategy == StreamTrimStrategy.MaxLen && Length <= (ulong)maxLen) break;
            var lp = Nodes.ValueAt(c);
            int p = StreamListpack.First(lp);
            long entries = StreamListpack.GetInteger(lp, p);
            if (limit != 0 && deleted + entries > limit) break;

            bool removeNode;
            var master = Nodes.KeyAt(c);
            if (strategy == StreamTrimStrategy.MaxLen) removeNode = Length - (ulong)entries >= (ulong)maxLen;
            else
            {
                TryEdgeOfNode(lp, master, first: false, out var last);
                removeNode = last < minId;
            }

            if (removeNode)
            {
                _nodeBytes -= ArrayBytes(lp);
                Nodes.RemoveAt(c);
                Length -= (ulong)entries;
                deleted += entries;
                c = Nodes.First();
                continue;
            }
            if (approx) break;

            // Mark entries of this node deleted, oldest first, until the target is met.
            long before = ArrayBytes(lp);
            long deletedFromNode = 0;
            p = StreamListpack.Next(lp, p);                   // deleted count
            p = StreamListpack.Next(lp, p);                   // master field count
            long masterFields = StreamListpack.GetInteger(lp, p);
            p = StreamListpack.Next(lp, p);
            for (long j = 0; j < masterFields; j++) p = StreamListpack.Next(lp, p);
            p = StreamListpack.Next(lp, p);                   // first entry's flags
            while (p >= 0)
            {
                int flagsPos = p;
                long flags = StreamListpack.GetInteger(lp, p);
                p = StreamListpack.Next(lp, p);
                long msDelta = StreamListpack.GetInteger(lp, p);
                p = StreamListpack.Next(lp, p);
                long seqDelta = StreamListpack.GetInteger(lp, p);
                p = StreamListpack.Next(lp, p);

                bool stop = strategy == StreamTrimStrategy.MaxLen
                    ? Length <= (ulong)maxLen
                    : new StreamId(master.Ms + (ulong)msDelta, master.Seq + (ulong)seqDelta) >= minId;
                if (stop) break;

                long toSkip;
                if ((flags & FlagSameFields) != 0) toSkip = masterFields;
                else
                {
                    toSkip = StreamListpack.GetInteger(lp, p) * 2;
                    p = StreamListpack.Next(lp, p);
                }
                while (toSkip-- > 0) p = StreamListpack.Next(lp, p);
                p = StreamListpack.Next(lp, p);               // past lp-count: the next entry, or -1

                if ((flags & FlagDeleted) == 0)
                {
                    int size = Listpack.EntryLength(lp, flagsPos);
                    StreamListpack.ReplaceInteger(ref lp, flagsPos, flags | FlagDeleted);
                    int moved = Listpack.EntryLength(lp, flagsPos) - size;
                    if (p >= 0) p += moved;
                    deletedFromNode++;
                    Length--;
                }
            }
            deleted += deletedFromNode;

            p = StreamListpack.First(lp);
            StreamListpack.ReplaceInteger(ref lp, p, entries - deletedFromNode);
            p = StreamListpack.Next(lp, p);
            long markedDeleted = StreamListpack.GetInteger(lp, p);
            StreamListpack.ReplaceInteger(ref lp, p, markedDeleted + deletedFromNode);
            Nodes.ValueAt(c) = lp;
            _nodeBytes += ArrayBytes(lp) - before;
            break;
        }

        if (Length == 0) FirstId = StreamId.Zero;
        else if (deleted > 0) FirstId = EdgeId(first: true, skipTombstones: true);
        return deleted;
    }

    // ----- deleting -----

    /// <summary>streamDeleteItem: deletes a live entry; false when there is none with that ID.</summary>
    public bool Delete(StreamId id)
    {
        var it = new StreamIterator(this, id, id, reverse: false);
        if (!it.Next(out var found, out _)) return false;
        it.RemoveCurrent(found);
        return true;
    }

    /// <summary>The iterator's half of streamIteratorRemoveEntry: flag the entry, fix the counters or drop the node.</summary>
    internal void MarkDeleted(StreamIdMap<byte[]>.Cursor node, int flagsPos)
    {
        var lp = Nodes.ValueAt(node);
        long before = ArrayBytes(lp);
        long flags = StreamListpack.GetInteger(lp, flagsPos);
        StreamListpack.ReplaceInteger(ref lp, flagsPos, flags | FlagDeleted);
        int p = StreamListpack.First(lp);
        long live = StreamListpack.GetInteger(lp, p);
        if (live == 1)
        {
            _nodeBytes -= before;
            Nodes.RemoveAt(node);
        }
        else
        {
            StreamListpack.ReplaceInteger(ref lp, p, live - 1);
            p = StreamListpack.Next(lp, p);
            long dead = StreamListpack.GetInteger(lp, p);
            StreamListpack.ReplaceInteger(ref lp, p, dead + 1);
            Nodes.ValueAt(node) = lp;
            _nodeBytes += ArrayBytes(lp) - before;
        }
        Length--;
    }

    // ----- edges and lookups -----

    /// <summary>
    /// streamGetEdgeID: the first or last entry's ID (deleted ones too unless
    /// <paramref name="skipTombstones"/>); when there is none, the largest ID (first) or 0-0 (last).
    /// </summary>
    public StreamId EdgeId(bool first, bool skipTombstones)
    {
        var it = new StreamIterator(this, reverse: !first) { SkipTombstones = skipTombstones };
        if (it.Next(out var id, out _)) return id;
        return first ? StreamId.Max : StreamId.Zero;
    }

    /// <summary>streamLastValidID: the last live entry's ID (0-0 for an empty stream).</summary>
    public StreamId LastValidId() => Length == 0 ? StreamId.Zero : EdgeId(first: false, skipTombstones: true);

    /// <summary>streamEntryExists: a live entry with this ID.</summary>
    public bool EntryExists(StreamId id)
    {
        var it = new StreamIterator(this, id, id, reverse: false);
        return it.Next(out _, out _);
    }

    /// <summary>lpGetEdgeStreamID: the first or last entry of one node (deleted or not); false when it has none.</summary>
    private static bool TryEdgeOfNode(byte[] lp, StreamId master, bool first, out StreamId edge)
    {
        edge = StreamId.Zero;
        int p;
        if (first)
        {
            p = StreamListpack.First(lp);
            p = StreamListpack.Next(lp, p);
            p = StreamListpack.Next(lp, p);
            long masterFields = StreamListpack.GetInteger(lp, p);
            p = StreamListpack.Next(lp, p);
            for (long i = 0; i < masterFields; i++) p = StreamListpack.Next(lp, p);
            p = StreamListpack.Next(lp, p);
            if (p < 0) return false;
        }
        else
        {
            p = StreamListpack.Last(lp);
            long lpCount = StreamListpack.GetInteger(lp, p);
            if (lpCount == 0) return false;
            while (lpCount-- > 0) p = StreamListpack.Previous(lp, p);
        }
        p = StreamListpack.Next(lp, p);
        ulong ms = master.Ms + (ulong)StreamListpack.GetInteger(lp, p);
        p = StreamListpack.Next(lp, p);
        ulong seq = master.Seq + (ulong)StreamListpack.GetInteger(lp, p);
        edge = new StreamId(ms, seq);
        return true;
    }

    // ----- consumer group bookkeeping -----

    /// <summary>streamRangeHasTombstones: whether [start, end] may hold a deleted entry (the stream is non-empty and start is below its last ID).</summary>
    public bool RangeHasTombstones(StreamId start, StreamId end)
    {
        if (Length == 0 || MaxDeletedId.IsZero) return false;
        if (FirstId > MaxDeletedId) return false;
        return start <= MaxDeletedId && MaxDeletedId <= end;
    }

    /// <summary>
    /// streamEstimateDistanceFromFirstEverEntry: the logical read counter of <paramref name="id"/>
    /// when it can be known, else <see cref="StreamGroup.InvalidEntriesRead"/>.
    /// </summary>
    public long EstimateDistanceFromFirstEverEntry(StreamId id)
    {
        if (EntriesAdded == 0) return 0;
        if (Length == 0 && id <= LastId) return (long)EntriesAdded;
        int cmpLast = id.CompareTo(LastId);
        if (cmpLast == 0) return (long)EntriesAdded;
        if (cmpLast > 0) return StreamGroup.InvalidEntriesRead;
        int cmpFirst = id.CompareTo(FirstId);
        if (MaxDeletedId.IsZero || MaxDeletedId < FirstId)
        {
            if (cmpFirst < 0) return (long)(EntriesAdded - Length);
            if (cmpFirst == 0) return (long)(EntriesAdded - Length + 1);
        }
        return StreamGroup.InvalidEntriesRead;
    }

    /// <summary>streamReplyWithCGLag: entries not yet delivered to the group, when that can be known.</summary>
    public bool TryGetLag(StreamGroup group, out long lag)
    {
        lag = 0;
        if (EntriesAdded == 0) return true;
        if (group.EntriesRead != StreamGroup.InvalidEntriesRead && !RangeHasTombstones(group.LastId, StreamId.Max))
        {
            lag = (long)EntriesAdded - group.EntriesRead;
            return true;
        }
        long read = EstimateDistanceFromFirstEverEntry(group.LastId);
        if (read == StreamGroup.InvalidEntriesRead) return false;
        lag = (long)EntriesAdded - read;
        return true;
    }

    public StreamGroup? LookupGroup(ReadOnlySpan<byte> name) => Groups is { } g && g.TryGet(name, out var group) ? group : null;

    /// <summary>streamCreateCG: null when a group has that name.</summary>
    public StreamGroup? CreateGroup(ReadOnlySpan<byte> name, StreamId lastId, long entriesRead)
    {
        Groups ??= new NameMap<StreamGroup>();
        int at = Groups.IndexOf(name);
        if (at >= 0) return null;
        var group = new StreamGroup(lastId, entriesRead);
        Groups.InsertAt(~at, name.ToArray(), group);
        return group;
    }

    public bool DestroyGroup(ReadOnlySpan<byte> name) => Groups is { } g && g.Remove(name);

    public int GroupCount => Groups?.Count ?? 0;

    // ----- COPY, digest, introspection -----

    public IDataValue? Duplicate()
    {
        var copy = new StreamValue
        {
            Length = Length,
            LastId = LastId,
            FirstId = FirstId,
            MaxDeletedId = MaxDeletedId,
            EntriesAdded = EntriesAdded,
        };
        foreach (var kv in Nodes)
        {
            var lp = StreamListpack.ShrinkToFit(kv.Value);
            if (ReferenceEquals(lp, kv.Value)) lp = (byte[])lp.Clone();
            copy.AddLoadedNode(kv.Key, lp);
        }
        if (Groups is null) return copy;
        for (int g = 0; g < Groups.Count; g++)
        {
            var group = Groups.ValueAt(g);
            var newGroup = copy.CreateGroup(Groups.NameAt(g), group.LastId, group.EntriesRead)!;
            foreach (var kv in group.Pel)
                newGroup.Pel.TryAdd(kv.Key, new PendingEntry(kv.Value.DeliveryTime, null) { DeliveryCount = kv.Value.DeliveryCount });
            for (int i = 0; i < group.Consumers.Count; i++)
            {
                var consumer = group.Consumers.ValueAt(i);
                var newConsumer = new StreamConsumer((byte[])consumer.Name.Clone(), consumer.SeenTime) { ActiveTime = consumer.ActiveTime };
                newGroup.Consumers.TryAdd(newConsumer.Name, newConsumer);
                foreach (var kv in consumer.Pel)
                {
                    newGroup.Pel.TryGetValue(kv.Key, out var nack);
                    nack.Consumer = newConsumer;
                    newConsumer.Pel.TryAdd(kv.Key, nack);
                }
            }
        }
        return copy;
    }

    /// <summary>Adds a node as loaded (RDB, COPY); false when its master ID is already present.</summary>
    public bool AddLoadedNode(StreamId master, byte[] lp)
    {
        if (!Nodes.TryAdd(master, lp)) return false;
        _nodeBytes += ArrayBytes(lp);
        return true;
    }

    /// <summary>DEBUG DIGEST: every entry's "ms.seq", fields and values mixed in order (xorObjectDigest).</summary>
    public void AddTo(ValueDigest digest)
    {
        Span<byte> idText = stackalloc byte[StreamId.MaxTextLength];
        Span<byte> scratch = stackalloc byte[24];
        Span<byte> scratch2 = stackalloc byte[24];
        var it = new StreamIterator(this, reverse: false);
        while (it.Next(out var id, out long fields))
        {
            int n = id.Format(idText);
            idText[idText.Slice(0, n).IndexOf((byte)'-')] = (byte)'.';
            digest.Mix(idText.Slice(0, n));
            for (long i = 0; i < fields; i++)
            {
                it.Field(out var field, out var value);
                digest.Mix(field.AsSpan(scratch));
                digest.Mix(value.AsSpan(scratch2));
            }
        }
    }

    /// <summary>
    /// The node count of a rax holding the node keys (XINFO STREAM radix-tree-nodes): the compressed
    /// trie of the 16-byte big-endian master IDs, as rax keeps it.
    /// </summary>
    public long RadixTreeNodes()
    {
        int n = (int)Nodes.Count;
        if (n == 0) return 1;
        var keys = new byte[n][];
        int k = 0;
        foreach (var kv in Nodes)
        {
            var key = new byte[16];
            kv.Key.WriteBigEndian(key);
            keys[k++] = key;
        }
        return TrieNodes(keys, 0, n, 0);
    }

    private static long TrieNodes(byte[][] keys, int from, int to, int depth)
    {
        if (depth == 16) return 1;
        var a = keys[from];
        var b = keys[to - 1];
        int common = depth;
        while (common < 16 && a[common] == b[common]) common++;
        // A chain of bytes every key shares is one compressed node above what follows.
        if (common > depth) return 1 + TrieNodes(keys, from, to, common);
        long nodes = 1;
        int start = from;
        for (int i = from + 1; i <= to; i++)
        {
            if (i == to || keys[i][depth] != keys[start][depth])
            {
                nodes += TrieNodes(keys, start, i, depth + 1);
                start = i;
            }
        }
        return nodes;
    }

    /// <summary>
    /// lazyfreeGetFreeEffort: the radix tree's node count (exact while small; every key adds at least
    /// one node, so a large tree is above the threshold anyway) plus, per group, one plus the size of
    /// the first group's PEL.
    /// </summary>
    public long FreeEffort
    {
        get
        {
            long effort = Nodes.Count < 64 ? RadixTreeNodes() : Nodes.Count + 1;
            if (Groups is { Count: > 0 } g) effort += g.Count * (1 + g.ValueAt(0).Pel.Count);
            return effort;
        }
    }

    public override string ToString() => $"stream length={Length} last={LastId} nodes={Nodes.Count}";
}
