using System.Buffers.Text;
using System.Text;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Persistence.Aof;

/// <summary>
/// The data set as commands, the base file of an AOF when <c>aof-use-rdb-preamble</c> is no
/// (Valkey's rewriteAppendOnlyFileRio): FUNCTION LOAD per library, then per piece a SELECT and for
/// each key SET / RPUSH / SADD / ZADD / HMSET with at most 64 elements per command, then for a
/// hash one HPEXPIREAT key ms FIELDS 1 field per field with a TTL (Valkey 9), streams as XADD,
/// XSETID, XGROUP and XCLAIM commands, then PEXPIREAT when the key has a TTL.
/// </summary>
internal sealed class AofCommandFormat(IReadOnlyList<byte[]> functionLibraries, bool timestamp) : SnapshotFormat
{
    /// <summary>Valkey's AOF_REWRITE_ITEMS_PER_CMD.</summary>
    public const int ItemsPerCommand = 64;

    public override byte[] Header()
    {
        var w = new RespBuffer();
        if (timestamp) w.Raw(Encoding.ASCII.GetBytes($"#TS:{DateTimeOffset.UtcNow.ToUnixTimeSeconds()}\r\n"));
        foreach (var code in functionLibraries)
        {
            w.ArrayHeader(3);
            w.Bulk("FUNCTION"u8);
            w.Bulk("LOAD"u8);
            w.Bulk(code);
        }
        return w.ToArray();
    }

    public override byte[] Segment(Database db, ReadOnlySpan<int> keys, bool firstOfDb, long keysAtStart, long expiresAtStart)
    {
        var w = new RespBuffer();
        w.ArrayHeader(2);
        w.Bulk("SELECT"u8);
        w.Bulk(db.Index);
        var visitor = new Emitter(w);
        foreach (int idx in keys)
        {
            var key = db.KeyAt(idx);
            if (db.TypeAt(idx) == DataType.String)
            {
                w.ArrayHeader(3);
                w.Bulk("SET"u8);
                w.Bulk(key);
                w.Bulk(db.StringAt(idx));
            }
            else if (db.ObjectAt(idx) is Types.Streams.StreamValue stream)
            {
                WriteStream(w, key, stream);
            }
            else
            {
                var value = db.ObjectAt(idx)!;
                if (value is not IElementSource source)
                    throw new NotSupportedException($"{Encoding.ASCII.GetString(DataTypeNames.TypeName(value.Type))} values cannot be rewritten yet");
                visitor.Begin(value.Type, key.ToArray(), source.ElementCount);
                source.VisitElements(visitor);
                if (value is HashValue { HasVolatileFields: true } hash) WriteFieldExpires(w, key, hash);
            }
            long expire = db.GetExpireAt(idx);
            if (expire >= 0)
            {
                w.ArrayHeader(3);
                w.Bulk("PEXPIREAT"u8);
                w.Bulk(key);
                w.Bulk(expire);
            }
        }
        return w.ToArray();
    }

    /// <summary>
    /// A stream as Valkey's rewriteStreamObject emits it: XADD per entry (an empty stream: XADD
    /// MAXLEN 0 of a placeholder), XSETID with the counters, then per group XGROUP CREATE and, per
    /// consumer, XCLAIM ... JUSTID FORCE for each pending entry or XGROUP CREATECONSUMER when it has none.
    /// </summary>
    private static void WriteStream(RespBuffer w, ReadOnlySpan<byte> key, Types.Streams.StreamValue s)
    {
        Span<byte> id = stackalloc byte[Types.Streams.StreamId.MaxTextLength];
        Span<byte> scratch = stackalloc byte[24];
        Span<byte> scratch2 = stackalloc byte[24];
        if (s.Length > 0)
        {
            var it = new Types.Streams.StreamIterator(s, reverse: false);
            while (it.Next(out var entryId, out long fields))
            {
                w.ArrayHeader(3 + fields * 2);
                w.Bulk("XADD"u8);
                w.Bulk(key);
                w.Bulk(id[..entryId.Format(id)]);
                for (long i = 0; i < fields; i++)
                {
                    it.Field(out var field, out var value);
                    w.Bulk(field.AsSpan(scratch));
                    w.Bulk(value.AsSpan(scratch2));
                }
            }
        }
        else
        {
            w.ArrayHeader(7);
            w.Bulk("XADD"u8);
            w.Bulk(key);
            w.Bulk("MAXLEN"u8);
            w.Bulk("0"u8);
            w.Bulk("0-1"u8);
            w.Bulk("x"u8);
            w.Bulk("y"u8);
        }
        w.ArrayHeader(7);
        w.Bulk("XSETID"u8);
        w.Bulk(key);
        w.Bulk(id[..s.LastId.Format(id)]);
        w.Bulk("ENTRIESADDED"u8);
        w.Bulk((long)s.EntriesAdded);
        w.Bulk("MAXDELETEDID"u8);
        w.Bulk(id[..s.MaxDeletedId.Format(id)]);

        var groups = s.Groups;
        for (int g = 0; g < (groups?.Count ?? 0); g++)
        {
            var group = groups!.ValueAt(g);
            var name = groups.NameAt(g);
            w.ArrayHeader(7);
            w.Bulk("XGROUP"u8);
            w.Bulk("CREATE"u8);
            w.Bulk(key);
            w.Bulk(name);
            w.Bulk(id[..group.LastId.Format(id)]);
            w.Bulk("ENTRIESREAD"u8);
            w.Bulk(group.EntriesRead);
            for (int c = 0; c < group.Consumers.Count; c++)
            {
                var consumer = group.Consumers.ValueAt(c);
                if (consumer.Pel.Count == 0)
                {
                    w.ArrayHeader(5);
                    w.Bulk("XGROUP"u8);
                    w.Bulk("CREATECONSUMER"u8);
                    w.Bulk(key);
                    w.Bulk(name);
                    w.Bulk(consumer.Name);
                    continue;
                }
                foreach (var kv in consumer.Pel)
                {
                    w.ArrayHeader(12);
                    w.Bulk("XCLAIM"u8);
                    w.Bulk(key);
                    w.Bulk(name);
                    w.Bulk(consumer.Name);
                    w.Bulk("0"u8);
                    w.Bulk(id[..kv.Key.Format(id)]);
                    w.Bulk("TIME"u8);
                    w.Bulk(kv.Value.DeliveryTime);
                    w.Bulk("RETRYCOUNT"u8);
                    w.Bulk(kv.Value.DeliveryCount);
                    w.Bulk("JUSTID"u8);
                    w.Bulk("FORCE"u8);
                }
            }
        }
    }

    /// <summary>The field TTLs of a hash, as absolute times (replayed even when they have passed: the AOF tail has their HDEL).</summary>
    private static void WriteFieldExpires(RespBuffer w, ReadOnlySpan<byte> key, HashValue hash)
    {
        foreach (var pair in hash)
        {
            long when = hash.FieldExpireTime(pair.Field);
            if (when < 0) continue;
            w.ArrayHeader(6);
            w.Bulk("HPEXPIREAT"u8);
            w.Bulk(key);
            w.Bulk(when);
            w.Bulk("FIELDS"u8);
            w.Bulk(1);
            w.Bulk(pair.Field);
        }
    }

    public override ISnapshotSink Open(Stream file) => new Sink(file);

    private sealed class Sink(Stream file) : ISnapshotSink
    {
        private readonly BufferedStream _out = new(file, 64 * 1024);
        public void Write(byte[] piece) => _out.Write(piece);
        public void End() => _out.Flush();
    }

    /// <summary>Turns visited elements into variadic commands of at most 64 items.</summary>
    private sealed class Emitter(RespBuffer w) : IElementVisitor
    {
        private byte[] _key = Array.Empty<byte>();
        private long _left;
        private int _inCommand;
        private int _perItem;
        private byte[] _name = Array.Empty<byte>();

        public void Begin(DataType type, byte[] key, long count)
        {
            _key = key;
            _left = count;
            _inCommand = 0;
            (_name, _perItem) = type switch
            {
                DataType.List => ("RPUSH"u8.ToArray(), 1),
                DataType.Set => ("SADD"u8.ToArray(), 1),
                DataType.ZSet => ("ZADD"u8.ToArray(), 2),
                DataType.Hash => ("HMSET"u8.ToArray(), 2),
                _ => throw new NotSupportedException("unknown value type"),
            };
        }

        private void Item()
        {
            if (_inCommand == 0)
            {
                long items = Math.Min(_left, ItemsPerCommand);
                w.ArrayHeader(2 + items * _perItem);
                w.Bulk(_name);
                w.Bulk(_key);
            }
            if (++_inCommand == ItemsPerCommand) _inCommand = 0;
            _left--;
        }

        public void Element(ReadOnlySpan<byte> value)
        {
            Item();
            w.Bulk(value);
        }

        public void Element(long value)
        {
            Item();
            w.Bulk(value);
        }

        public void Pair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value)
        {
            Item();
            w.Bulk(field);
            w.Bulk(value);
        }

        public void Scored(ReadOnlySpan<byte> member, double score)
        {
            Item();
            Span<byte> text = stackalloc byte[40];
            w.Bulk(text[..NumberFormat.FormatDoubleShortest(score, text)]);
            w.Bulk(member);
        }
    }
}

/// <summary>A growable buffer of RESP arrays of bulk strings (the AOF's command encoding).</summary>
internal sealed class RespBuffer
{
    private byte[] _buf = new byte[256];
    private int _len;

    public int Length => _len;

    public ReadOnlySpan<byte> Span => _buf.AsSpan(0, _len);

    public void Clear() => _len = 0;

    public byte[] ToArray() => _buf.AsSpan(0, _len).ToArray();

    private Span<byte> Reserve(int n)
    {
        if (_len + n > _buf.Length) Array.Resize(ref _buf, Math.Max(_buf.Length * 2, _len + n));
        return _buf.AsSpan(_len, n);
    }

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Reserve(bytes.Length));
        _len += bytes.Length;
    }

    private void Prefixed(byte prefix, long n)
    {
        var s = Reserve(24);
        s[0] = prefix;
        Utf8Formatter.TryFormat(n, s[1..], out int w);
        s[1 + w] = (byte)'\r';
        s[2 + w] = (byte)'\n';
        _len += w + 3;
    }

    public void ArrayHeader(long n) => Prefixed((byte)'*', n);

    public void Bulk(ReadOnlySpan<byte> value)
    {
        Prefixed((byte)'$', value.Length);
        Raw(value);
        Raw("\r\n"u8);
    }

    public void Bulk(long value)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(value, digits, out int w);
        Bulk(digits[..w]);
    }
}
