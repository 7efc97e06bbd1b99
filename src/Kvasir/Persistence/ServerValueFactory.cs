using Kvasir.Config;
using Kvasir.Persistence.Encodings;
using Kvasir.Types;

namespace Kvasir.Persistence;

/// <summary>
/// Builds the server's own value types (<see cref="ListValue"/>, <see cref="SetValue"/>,
/// <see cref="HashValue"/>, <see cref="SortedSetValue"/>) through their public operations, with the
/// encoding choices Valkey's rdbLoadObject makes: lists are filled as quicklists then converted if
/// small (except those read from a plain ziplist or from a quicklist of several nodes, which Valkey
/// leaves as quicklists; the nodes themselves follow our list-max-listpack-size); linked sets
/// start as intsets unless announced too big; linked sorted sets are built then packed if they fit;
/// packed sources stay packed until an encoding threshold is passed.
/// </summary>
public sealed class ServerValueFactory : IValueFactory
{
    private readonly ServerConfig _config;
    private readonly long _packedThreshold;

    /// <param name="config">Encoding thresholds (hash-max-listpack-entries and friends).</param>
    /// <param name="listPackedThreshold">DEBUG QUICKLIST-PACKED-THRESHOLD, 0 when not set.</param>
    public ServerValueFactory(ServerConfig config, long listPackedThreshold = 0)
    {
        _config = config;
        _packedThreshold = listPackedThreshold;
    }

    public IValueBuilder? Create(DataType type, RdbType source, long sizeHint) => type switch
    {
        // Valkey keeps a loaded quicklist's nodes, and only a single-node list can become a listpack;
        // a list from a plain ziplist is never converted.
        DataType.List => new ListBuilder(new ListLimits(_config.ListMaxListpackSize, _packedThreshold),
            keepQuicklist: source == RdbType.ListZiplist || (source is RdbType.ListQuicklist or RdbType.ListQuicklist2 && sizeHint > 1)),
        DataType.Set => new SetBuilder(_config.SetLimits, source, sizeHint),
        DataType.Hash => new HashBuilder(_config.HashMaxListpackEntries, _config.HashMaxListpackValue, sizeHint, source == RdbType.Hash2),
        DataType.ZSet => new SortedSetBuilder(_config.ZsetMaxListpackEntries, _config.ZsetMaxListpackValue, source, sizeHint),
        _ => null,
    };

    private sealed class ListBuilder : IValueBuilder
    {
        private readonly ListValue _list = new();
        private readonly ListLimits _limits;
        private readonly bool _keepQuicklist;

        public ListBuilder(ListLimits limits, bool keepQuicklist)
        {
            _limits = limits;
            _keepQuicklist = keepQuicklist;
            // Valkey fills a quicklist and only then picks the encoding.
            _list.ConvertForGrowth(limits, long.MaxValue / 4, int.MaxValue);
        }

        public long Count => _list.Count;

        public bool Add(in PackedElement element)
        {
            Span<byte> scratch = stackalloc byte[24];
            _list.Push(element.AsSpan(scratch), head: false, _limits);
            return true;
        }

        public bool AddPair(in PackedElement field, in PackedElement value) => throw new InvalidOperationException("not a hash");

        public bool AddScored(in PackedElement member, double score) => throw new InvalidOperationException("not a sorted set");

        public IDataValue Build()
        {
            if (!_keepQuicklist) _list.ConvertAuto(_limits);
            return _list;
        }
    }

    private sealed class SetBuilder : IValueBuilder
    {
        private readonly SetValue _set;
        private readonly SetLimits _limits;

        public SetBuilder(SetLimits limits, RdbType source, long sizeHint)
        {
            _limits = limits;
            _set = source switch
            {
                RdbType.SetListpack => SetValue.NewListpack(),
                RdbType.SetIntset => SetValue.NewIntset(),
                // A linked set: a hash table right away when it is announced bigger than an intset may be.
                _ => sizeHint > limits.IntsetMax || sizeHint < 0 ? SetValue.NewHashtable(Math.Max(sizeHint, 4)) : SetValue.NewIntset(),
            };
        }

        public long Count => _set.Count;

        public bool Add(in PackedElement element)
        {
            if (element.IsInteger) return _set.Add(new PackedValue(element.Integer), _limits);
            return _set.Add(element.Bytes, _limits);
        }

        public bool AddPair(in PackedElement field, in PackedElement value) => throw new InvalidOperationException("not a hash");

        public bool AddScored(in PackedElement member, double score) => throw new InvalidOperationException("not a sorted set");

        public IDataValue Build() => _set;
    }

    private sealed class HashBuilder : IValueBuilder, IVolatileFieldBuilder
    {
        private readonly HashValue _hash = new();
        private readonly long _maxEntries;
        private readonly long _maxValue;
        private long _count;

        public HashBuilder(long maxEntries, long maxValue, long sizeHint, bool volatileFields)
        {
            _maxEntries = maxEntries;
            _maxValue = maxValue;
            // Too many fields announced, or a hash saved with field TTLs (Valkey 9 loads those as a
            // hash table even when no TTL survives): a hash table from the start.
            if (sizeHint > maxEntries || volatileFields) _hash.ConvertToTable((int)Math.Min(Math.Max(sizeHint, 0), 1 << 20));
        }

        public long Count => _count;

        public bool Add(in PackedElement element) => throw new InvalidOperationException("a hash takes pairs");

        public bool AddPair(in PackedElement field, in PackedElement value)
        {
            Span<byte> f = stackalloc byte[24];
            Span<byte> v = stackalloc byte[24];
            if (!_hash.Set(field.AsSpan(f), value.AsSpan(v), _maxEntries, _maxValue)) return false;
            _count++;
            return true;
        }

        public bool AddPair(in PackedElement field, in PackedElement value, long expireMs)
        {
            if (expireMs < 0) return AddPair(field, value);
            Span<byte> f = stackalloc byte[24];
            Span<byte> v = stackalloc byte[24];
            if (!_hash.SetWithExpire(field.AsSpan(f), value.AsSpan(v), expireMs, keepTtl: false, _maxEntries, _maxValue)) return false;
            _count++;
            return true;
        }

        public bool AddScored(in PackedElement member, double score) => throw new InvalidOperationException("not a sorted set");

        public IDataValue Build() => _hash;
    }

    private sealed class SortedSetBuilder : IValueBuilder
    {
        private readonly SortedSetValue _zset;
        private readonly long _maxEntries;
        private readonly long _maxValue;
        private readonly bool _packAtEnd;
        private long _count;

        public SortedSetBuilder(long maxEntries, long maxValue, RdbType source, long sizeHint)
        {
            _maxEntries = maxEntries;
            _maxValue = maxValue;
            // Linked sorted sets are loaded into a skiplist and packed afterwards if they fit, since
            // the file does not keep them ordered; packed sources arrive ordered and stay packed.
            _packAtEnd = source is RdbType.ZSet or RdbType.ZSet2;
            _zset = _packAtEnd ? SortedSetValue.Create(Math.Clamp(sizeHint, 1, 1024), 0, 0, 0) : new SortedSetValue();
        }

        public long Count => _count;

        public bool Add(in PackedElement element) => throw new InvalidOperationException("a sorted set takes scores");

        public bool AddPair(in PackedElement field, in PackedElement value) => throw new InvalidOperationException("not a hash");

        public bool AddScored(in PackedElement member, double score)
        {
            Span<byte> m = stackalloc byte[24];
            var r = _zset.Add(score, member.AsSpan(m), ZAddFlags.NX, _maxEntries, _maxValue, out _);
            if (r != ZAddResult.Added) return false;
            _count++;
            return true;
        }

        public IDataValue Build()
        {
            if (_packAtEnd) _zset.ConvertToPackedIfFits(_maxEntries, _maxValue);
            return _zset;
        }
    }
}
