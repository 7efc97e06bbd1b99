using System.Globalization;
using System.Text;
using Kvasir.Commands;
using Kvasir.Keyspace;
using Kvasir.Persistence.Encodings;
using Kvasir.Types;

namespace Kvasir.Persistence;

/// <summary>How a snapshot is written.</summary>
public sealed record RdbWriteOptions
{
    /// <summary>
    /// Format version: 11 (Redis 7.2, Valkey 7.2 and 8 read it) or 10 for Redis 7.0, which refuses
    /// 11. The only difference in what we write: version 10 has no listpack-encoded sets, so those
    /// are written as plain sets. 80 (Valkey 9) when hashes have fields with a TTL: see
    /// <see cref="ForContent"/>.
    /// </summary>
    public int Version { get; init; } = RdbFormat.Version;

    /// <summary>
    /// These options for a snapshot of <paramref name="databases"/> as they are now (under the data
    /// lock): version 80 when some hash has fields with a TTL, since only Valkey 9's
    /// <see cref="RdbType.Hash2"/> keeps them; otherwise unchanged, so Valkey 8 and Redis 7 can
    /// read the file.
    /// </summary>
    public RdbWriteOptions ForContent(IReadOnlyList<Database> databases)
    {
        if (Version >= RdbFormat.FieldTtlVersion || databases.Count == 0) return this;
        return databases[0].Context.VolatileHashes.AnyLive(databases) ? this with { Version = RdbFormat.FieldTtlVersion } : this;
    }

    /// <summary>rdbcompression.</summary>
    public bool Compress { get; init; } = true;

    /// <summary>rdbchecksum.</summary>
    public bool Checksum { get; init; } = true;

    /// <summary>Record each key's idle time (an LRU maxmemory-policy is set).</summary>
    public bool SaveLruIdle { get; init; }

    /// <summary>Record each key's LFU counter (an LFU maxmemory-policy is set).</summary>
    public bool SaveLfuFrequency { get; init; }

    /// <summary>list-max-listpack-size: how list elements are grouped into quicklist nodes.</summary>
    public int ListMaxListpackSize { get; init; } = -2;

    /// <summary>Elements at least this large get a quicklist node of their own (a plain node).</summary>
    public long ListPackedThreshold { get; init; } = 1L << 30;

    /// <summary>The "valkey-ver" aux field.</summary>
    public string ServerVersion { get; init; } = KvasirServer.ValkeyVersion;

    /// <summary>The "used-mem" aux field.</summary>
    public long UsedMemory { get; init; }

    /// <summary>Written as "aof-base": the snapshot is the base of a multi-part AOF.</summary>
    public bool AofBase { get; init; }

    /// <summary>
    /// The "repl-stream-db", "repl-id" and "repl-offset" aux fields (Valkey's rdbSaveInfo): the
    /// replication history the image belongs to, so a restarted server can continue it with a
    /// partial resync. Null when the server is in no replication chain.
    /// </summary>
    public Replication.ReplicationInfo? Replication { get; init; }

    /// <summary>Cluster mode, images for replicas: the open slots ("cluster-slot-states" aux field), or null.</summary>
    public string? ClusterSlotStates { get; init; }

    /// <summary>Function library sources, each written as a FUNCTION2 record.</summary>
    public IReadOnlyList<byte[]> FunctionLibraries { get; init; } = Array.Empty<byte[]>();
}

/// <summary>
/// Writes databases as an RDB snapshot the way Valkey's rdbSaveRio lays it out: magic and version,
/// aux fields, function libraries, then per non-empty database SELECTDB, RESIZEDB and its keys
/// (each with its expire time and, per the eviction policy, idle time or LFU counter), EOF and the
/// CRC-64. Collections are written in the listpack-based types Redis 7 and Valkey load directly:
/// QUICKLIST_2 for lists, SET_LISTPACK / SET_INTSET / SET, ZSET_LISTPACK / ZSET_2,
/// HASH_LISTPACK / HASH (HASH_2 when fields have a TTL), chosen by the value's current encoding;
/// streams as STREAM_LISTPACKS_3 (_2 for RDB 10), their nodes as they are (<see cref="StreamRecord"/>).
/// </summary>
public sealed class RdbWriter
{
    private readonly RdbOutput _out;
    private readonly RdbWriteOptions _options;

    /// <summary>A writer of RDB records to <paramref name="output"/> (pieces of a snapshot, DUMP payloads).</summary>
    public RdbWriter(RdbOutput output, RdbWriteOptions? options = null)
    {
        options ??= new RdbWriteOptions();
        if ((options.Version < RdbFormat.MinWriteVersion || options.Version > RdbFormat.Version) && options.Version != RdbFormat.FieldTtlVersion)
            throw new ArgumentOutOfRangeException(nameof(options), $"RDB version {options.Version} cannot be written");
        _options = options;
        _out = output;
    }

    public RdbOutput Output => _out;

    /// <summary>Keys written (expired ones included: loaders drop them).</summary>
    public long KeysWritten { get; private set; }

    /// <summary>Writes a complete snapshot of <paramref name="databases"/>; returns the number of keys written.</summary>
    public static long Write(Stream stream, IReadOnlyList<Database> databases, RdbWriteOptions? options = null)
    {
        options = (options ?? new RdbWriteOptions()).ForContent(databases);
        var w = new RdbWriter(new RdbOutput(stream, options.Compress, options.Checksum), options);
        w.WriteHeader();
        for (int i = 0; i < databases.Count; i++) w.WriteDatabase(databases[i]);
        w.WriteEnd();
        return w.KeysWritten;
    }

    /// <summary>
    /// Bytes the value takes in an RDB file, without its type byte and key (Valkey's
    /// rdbSavedObjectLen, DEBUG OBJECT's serializedlength).
    /// </summary>
    public static long SerializedLength(IDataValue value, RdbWriteOptions? options = null)
    {
        options ??= new RdbWriteOptions();
        if (value is HashValue { HasVolatileFields: true }) options = options with { Version = RdbFormat.FieldTtlVersion };
        var output = new RdbOutput(Stream.Null, options.Compress, checksum: false);
        new RdbWriter(output, options).WriteValue(value);
        return output.Length;
    }

    /// <summary>Magic, version, aux fields and function libraries.</summary>
    public void WriteHeader()
    {
        // Valkey 9 marks its own versions (80 on) with its name: "VALKEY080".
        _out.WriteRaw(Encoding.ASCII.GetBytes(_options.Version >= RdbFormat.FieldTtlVersion ? $"VALKEY{_options.Version:D3}" : $"REDIS{_options.Version:D4}"));
        Aux("valkey-ver", _options.ServerVersion);
        Aux("redis-bits", "64");
        Aux("ctime", DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture));
        Aux("used-mem", _options.UsedMemory.ToString(CultureInfo.InvariantCulture));
        if (_options.Replication is { } repl)
        {
            Aux("repl-stream-db", repl.StreamDb.ToString(CultureInfo.InvariantCulture));
            Aux("repl-id", repl.ReplicationId);
            Aux("repl-offset", repl.Offset.ToString(CultureInfo.InvariantCulture));
        }
        Aux("aof-base", _options.AofBase ? "1" : "0");
        if (_options.ClusterSlotStates is { } slotStates) Aux("cluster-slot-states", slotStates);
        foreach (var code in _options.FunctionLibraries)
        {
            _out.WriteByte(RdbFormat.OpFunction2);
            _out.WriteString(code);
        }
    }

    /// <summary>EOF, the checksum, and a flush.</summary>
    public void WriteEnd() => _out.WriteEnd();

    private void Aux(string key, string value) => _out.WriteAux(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value));

    /// <summary>SELECTDB, and RESIZEDB with the given sizes when <paramref name="keys"/> is not negative.</summary>
    public void WriteSelectDb(int index, long keys = -1, long expires = 0)
    {
        _out.WriteByte(RdbFormat.OpSelectDb);
        _out.WriteLength((ulong)index);
        if (keys < 0) return;
        _out.WriteByte(RdbFormat.OpResizeDb);
        _out.WriteLength((ulong)keys);
        _out.WriteLength((ulong)expires);
    }

    private void WriteDatabase(Database db)
    {
        if (db.Count == 0) return;
        WriteSelectDb(db.Index, db.Count, db.ExpiresCount);
        int limit = db.IndexLimit;
        for (int idx = 0; idx < limit; idx++)
            if (db.IsOccupied(idx)) WriteKey(db, idx);
    }

    /// <summary>One key with its expire time, idle time or LFU counter, type and value (rdbSaveKeyValuePair).</summary>
    public void WriteKey(Database db, int idx)
    {
        var ks = db.Context;
        long expire = db.GetExpireAt(idx);
        if (expire >= 0)
        {
            _out.WriteByte(RdbFormat.OpExpireTimeMs);
            _out.WriteMillisecondTime(expire);
        }
        if (_options.SaveLruIdle)
        {
            _out.WriteByte(RdbFormat.OpIdle);
            _out.WriteLength((ulong)KeyCommands.IdleSeconds(db.LruAt(idx), ks));
        }
        else if (_options.SaveLfuFrequency)
        {
            _out.WriteByte(RdbFormat.OpFreq);
            _out.WriteByte((byte)Lfu.Decay(db.LruAt(idx), ks));
        }
        if (db.TypeAt(idx) == DataType.String)
        {
            _out.WriteByte((byte)RdbType.String);
            _out.WriteString(db.KeyAt(idx));
            _out.WriteString(db.StringAt(idx));
        }
        else
        {
            var value = db.ObjectAt(idx)!;
            _out.WriteByte((byte)TypeOf(value));
            _out.WriteString(db.KeyAt(idx));
            WriteValue(value);
        }
        KeysWritten++;
    }

    /// <summary>The RDB type a value is written as (rdbSaveObjectType), given its current encoding.</summary>
    public RdbType TypeOf(IDataValue value) => value.Type switch
    {
        DataType.String => RdbType.String,
        DataType.List => RdbType.ListQuicklist2,
        DataType.Set => value.Encoding switch
        {
            ValueEncoding.Intset => RdbType.SetIntset,
            ValueEncoding.Listpack when _options.Version >= 11 => RdbType.SetListpack,
            _ => RdbType.Set,
        },
        DataType.ZSet => value.Encoding == ValueEncoding.Listpack ? RdbType.ZSetListpack : RdbType.ZSet2,
        // Field TTLs need Valkey 9's type whatever the header says: dropping them would silently make
        // the fields permanent (the header is chosen from the same data, see RdbWriteOptions.ForContent).
        DataType.Hash => value.Encoding == ValueEncoding.Listpack ? RdbType.HashListpack
            : value is HashValue { HasVolatileFields: true } ? RdbType.Hash2 : RdbType.Hash,
        DataType.Stream => StreamRecord.TypeFor(_options.Version),
        _ => throw new NotSupportedException($"{Encoding.ASCII.GetString(DataTypeNames.TypeName(value.Type))} values cannot be saved yet"),
    };

    /// <summary>The value itself in the layout of <see cref="TypeOf"/> (rdbSaveObject).</summary>
    public void WriteValue(IDataValue value)
    {
        var type = TypeOf(value);
        if (value is RawString raw)
        {
            _out.WriteString(raw.Span);
            return;
        }
        if (value is Types.Streams.StreamValue stream)
        {
            StreamRecord.Write(_out, stream, type);
            return;
        }
        if (value is not IElementSource source)
            throw new NotSupportedException($"{Encoding.ASCII.GetString(DataTypeNames.TypeName(value.Type))} values cannot be saved yet");
        switch (type)
        {
            case RdbType.ListQuicklist2:
                WriteList(source);
                break;
            case RdbType.SetIntset:
            {
                var ints = new IntegerCollector();
                source.VisitElements(ints);
                if (!ints.AllIntegers) throw new InvalidOperationException("an intset-encoded set holds a member that is not an integer");
                _out.WriteString(IntsetBlob.Build(ints.SortedDistinct()));
                break;
            }
            case RdbType.SetListpack:
            case RdbType.ZSetListpack:
            case RdbType.HashListpack:
            {
                var lp = new PackingVisitor();
                source.VisitElements(lp);
                _out.WriteString(lp.Builder.Finish());
                break;
            }
            case RdbType.Hash2:
                WriteVolatileHash((HashValue)value);
                break;
            default: // Set, ZSet2, Hash: a count then the elements
            {
                _out.WriteLength((ulong)source.ElementCount);
                var v = new StreamingVisitor(_out);
                source.VisitElements(v);
                v.Check(source.ElementCount);
                break;
            }
        }
    }

    /// <summary>
    /// HASH_2: every field followed by its expire time in unix ms (-1 for none). Fields whose time
    /// has passed are written too, as Valkey 9 does: a replica must hold them until its primary's
    /// HDEL arrives, and a primary loading the file drops them.
    /// </summary>
    private void WriteVolatileHash(HashValue hash)
    {
        var table = hash.Table!;
        _out.WriteLength((ulong)hash.Count);
        foreach (var pair in hash)
        {
            _out.WriteString(pair.Field);
            _out.WriteString(pair.Value);
            _out.WriteMillisecondTime(table.ExpireOf(pair.Field));
        }
    }

    /// <summary>
    /// A list as quicklist nodes. A chunked list keeps its chunks (one node each, plain chunks as
    /// plain nodes); otherwise elements are grouped into listpacks by the list-max-listpack-size rule
    /// (a byte budget when negative, an element count when positive), huge elements as plain nodes.
    /// The node count comes first in the format, so then a first pass only measures.
    /// </summary>
    private void WriteList(IElementSource source)
    {
        if (source is IChunkedElementSource chunked)
        {
            int chunks = chunked.ChunkCount;
            _out.WriteLength((ulong)chunks);
            var node = new PackingVisitor();
            for (int i = 0; i < chunks; i++)
            {
                node.Builder.Reset();
                if (chunked.IsPlainChunk(i))
                {
                    var plain = new PlainChunkVisitor(_out);
                    chunked.VisitChunk(i, plain);
                    if (plain.Count != 1) throw new InvalidOperationException("a plain list node holds exactly one element");
                    continue;
                }
                chunked.VisitChunk(i, node);
                _out.WriteLength(RdbFormat.QuicklistNodePacked);
                _out.WriteString(node.Builder.Finish());
            }
            return;
        }
        var plan = new ListNodePlanner(_options.ListMaxListpackSize, _options.ListPackedThreshold, null);
        source.VisitElements(plan);
        plan.Close();
        _out.WriteLength((ulong)plan.Nodes);
        var emit = new ListNodePlanner(_options.ListMaxListpackSize, _options.ListPackedThreshold, _out);
        source.VisitElements(emit);
        emit.Close();
        if (emit.Nodes != plan.Nodes) throw new InvalidOperationException("list changed while it was being saved");
    }

    /// <summary>Writes the single element of a plain node.</summary>
    private sealed class PlainChunkVisitor(RdbOutput output) : IElementVisitor
    {
        public int Count { get; private set; }

        public void Element(ReadOnlySpan<byte> value)
        {
            output.WriteLength(RdbFormat.QuicklistNodePlain);
            output.WriteString(value);
            Count++;
        }

        public void Element(long value)
        {
            Span<byte> text = stackalloc byte[24];
            Element(text.Slice(0, NumberFormat.FormatLong(value, text)));
        }

        public void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value) => throw new InvalidOperationException("a list yields elements");

        public void Scored(ReadOnlySpan<byte> member, double score) => throw new InvalidOperationException("a list yields elements");
    }

    // ----- visitors -----

    /// <summary>Writes elements as consecutive RDB strings (plain sets, hashes, skiplist sorted sets).</summary>
    private sealed class StreamingVisitor(RdbOutput output) : IElementVisitor
    {
        private long _count;

        public void Element(ReadOnlySpan<byte> value)
        {
            output.WriteString(value);
            _count++;
        }

        public void Element(long value)
        {
            output.WriteString(value);
            _count++;
        }

        public void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value)
        {
            output.WriteString(field);
            output.WriteString(value);
            _count++;
        }

        public void Scored(ReadOnlySpan<byte> member, double score)
        {
            output.WriteString(member);
            output.WriteBinaryDouble(score);
            _count++;
        }

        /// <summary>The count was written before the elements; a mismatch would make a file no one can load.</summary>
        public void Check(long announced)
        {
            if (_count != announced) throw new InvalidOperationException($"value reported {announced} elements but produced {_count}");
        }
    }

    /// <summary>Packs elements into one listpack (small sets, hashes and sorted sets).</summary>
    private sealed class PackingVisitor : IElementVisitor
    {
        public ListpackBuilder Builder { get; } = new();

        public void Element(ReadOnlySpan<byte> value) => Builder.Append(value);

        public void Element(long value) => Builder.AppendInteger(value);

        public void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value)
        {
            Builder.Append(field);
            Builder.Append(value);
        }

        public void Scored(ReadOnlySpan<byte> member, double score)
        {
            Builder.Append(member);
            // A listpack sorted set keeps scores as text, integral ones as integer entries.
            Span<byte> text = stackalloc byte[40];
            int n = NumberFormat.FormatDouble(score, text);
            Builder.Append(text.Slice(0, n));
        }
    }

    /// <summary>Collects the members of an intset-encoded set.</summary>
    private sealed class IntegerCollector : IElementVisitor
    {
        private readonly List<long> _values = new();

        public bool AllIntegers { get; private set; } = true;

        public void Element(ReadOnlySpan<byte> value)
        {
            if (NumberParser.TryParseLong(value, out long v)) _values.Add(v);
            else AllIntegers = false;
        }

        public void Element(long value) => _values.Add(value);

        public void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value) => AllIntegers = false;

        public void Scored(ReadOnlySpan<byte> member, double score) => AllIntegers = false;

        public ReadOnlySpan<long> SortedDistinct()
        {
            _values.Sort();
            int n = 0;
            for (int i = 0; i < _values.Count; i++)
                if (n == 0 || _values[i] != _values[n - 1]) _values[n++] = _values[i];
            return System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_values).Slice(0, n);
        }
    }

    /// <summary>Groups list elements into quicklist nodes; with an output it also writes them.</summary>
    private sealed class ListNodePlanner(int fill, long packedThreshold, RdbOutput? output) : IElementVisitor
    {
        private static readonly int[] SizeLimits = { 4096, 8192, 16384, 32768, 65536 };
        private const int SafetyLimit = 8192;   // positive fills still cap a node's bytes
        private readonly ListpackBuilder? _node = output is null ? null : new ListpackBuilder();
        private long _bytes;
        private long _count;

        public long Nodes { get; private set; }

        public void Element(ReadOnlySpan<byte> value)
        {
            if (value.Length >= packedThreshold)
            {
                Close();
                Nodes++;
                if (output is not null)
                {
                    output.WriteLength(RdbFormat.QuicklistNodePlain);
                    output.WriteString(value);
                }
                return;
            }
            Fit(ListpackBuilder.EntrySize(value));
            _node?.Append(value);
        }

        public void Element(long value)
        {
            Fit(ListpackBuilder.EntrySize(value));
            _node?.AppendInteger(value);
        }

        public void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value) => throw new InvalidOperationException("a list yields elements");

        public void Scored(ReadOnlySpan<byte> member, double score) => throw new InvalidOperationException("a list yields elements");

        private void Fit(long entry)
        {
            if (_count > 0 && !Allows(entry)) Close();
            _bytes += entry;
            _count++;
        }

        private bool Allows(long entry)
        {
            long newBytes = ListpackReader.HeaderSize + 1 + _bytes + entry;
            if (fill < 0) return newBytes <= SizeLimits[Math.Min(-fill, SizeLimits.Length) - 1];
            return _count + 1 <= fill && newBytes <= SafetyLimit;
        }

        /// <summary>Ends the current node (if any element is in it).</summary>
        public void Close()
        {
            if (_count == 0) return;
            Nodes++;
            if (output is not null)
            {
                output.WriteLength(RdbFormat.QuicklistNodePacked);
                output.WriteString(_node!.Finish());
                _node.Reset();
            }
            _bytes = 0;
            _count = 0;
        }
    }
}
