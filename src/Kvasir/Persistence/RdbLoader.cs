using System.Globalization;
using System.Text;
using Kvasir.Keyspace;
using Kvasir.Observability;
using Kvasir.Persistence.Encodings;
using Kvasir.Types;

namespace Kvasir.Persistence;

/// <summary>How a payload is loaded.</summary>
public sealed class RdbLoadOptions
{
    /// <summary>Builds collection values; null means only strings can be loaded.</summary>
    public IValueFactory? Values { get; init; }

    /// <summary>Receives Valkey's loading log lines ("Loading RDB produced by ...", "Done loading RDB, ...").</summary>
    public Action<LogLevel, string>? Log { get; init; }

    /// <summary>Unix ms to compare expire times with.</summary>
    public long NowMs { get; init; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    /// <summary>
    /// Skip keys whose expire time has passed (a primary loading its own file). A replica, and the
    /// RDB preamble of an AOF, keep them: the primary or the AOF tail decides their fate.
    /// </summary>
    public bool DropExpiredKeys { get; init; } = true;

    /// <summary>Check the CRC-64 trailer (rdbchecksum yes and no DEBUG SET-SKIP-CHECKSUM-VALIDATION).</summary>
    public bool VerifyChecksum { get; init; } = true;

    /// <summary>A key that already exists is replaced instead of failing the load (DEBUG RELOAD modes).</summary>
    public bool AllowDuplicateKeys { get; init; }

    /// <summary>A key past its TTL was left out (database, key): a restarted primary tells its replicas with a DEL.</summary>
    public Action<int, byte[]>? ExpiredKeyDropped { get; init; }

    /// <summary>Called after every key with the bytes read so far (loading progress, the key-load-delay test knob).</summary>
    public Action<long>? KeyLoaded { get; init; }
}

/// <summary>What a load found besides the keys.</summary>
public sealed class RdbLoadResult
{
    public int Version { get; internal set; }
    public long KeysLoaded { get; internal set; }
    public long KeysExpired { get; internal set; }
    public long EmptyKeysSkipped { get; internal set; }

    /// <summary>Bytes consumed, from the magic to the checksum (a file may go on: an AOF tail).</summary>
    public long BytesRead { get; internal set; }

    /// <summary>AUX fields in file order (redis-ver, valkey-ver, ctime, used-mem, repl-id ...).</summary>
    public List<KeyValuePair<string, byte[]>> Aux { get; } = new();

    /// <summary>FUNCTION2 payloads: each the source code of one function library, kept as given.</summary>
    public List<byte[]> FunctionLibraries { get; } = new();

    public string? AuxText(string name)
    {
        foreach (var kv in Aux)
            if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)) return Encoding.UTF8.GetString(kv.Value);
        return null;
    }
}

/// <summary>
/// Reads an RDB payload (versions 1 to 11: Redis up to 7.2, Valkey 7.2 and 8; 80: Valkey 9) into
/// databases. Follows Valkey's rdbLoadRioWithLoadingCtx: opcodes before each key carry its expire time and LRU/LFU
/// data; empty collections are skipped with a notice; damaged content fails the whole load with
/// Valkey's reason text. Collections are decoded from every encoding writers have used (linked
/// types, ziplist, zipmap, intset, listpack, quicklist with ziplist or listpack nodes and plain
/// nodes) and rebuilt through <see cref="IValueFactory"/>, so their in-memory encoding follows this
/// server's thresholds. Streams keep their nodes as they are (<see cref="StreamRecord"/>). Module values are refused.
/// </summary>
public sealed class RdbLoader
{
    private readonly Database[] _dbs;
    private readonly RdbLoadOptions _options;
    private readonly RdbLoadResult _result = new();
    private RdbInput _in = null!;
    private int _version;
    // Reused for every key name and string value (they are copied into the key's blob); they grow
    // on first use, so loading one small RESTORE payload does not pay for a file's scratch space.
    private byte[] _keyScratch = Array.Empty<byte>();
    private byte[] _valueScratch = Array.Empty<byte>();
    // Elements of collections (two for pairs) and packed blobs: builders copy what they keep.
    private byte[] _elementScratch = Array.Empty<byte>();
    private byte[] _pairScratch = Array.Empty<byte>();
    // RESIZEDB hints are trusted up to what the remaining bytes could hold (3 bytes per key at least).
    private long _hintLimit = 1 << 20;

    /// <summary>Drop hash fields whose TTL has passed: a primary loading a file, not RESTORE (see <see cref="ReadVolatileHash"/>).</summary>
    private bool _dropExpiredFields;

    /// <summary>What <see cref="ReadObject"/> returns for a hash all of whose fields had expired.</summary>
    private static readonly object AllFieldsExpired = new();

    public RdbLoader(Database[] databases, RdbLoadOptions? options = null)
    {
        _dbs = databases;
        _options = options ?? new RdbLoadOptions();
    }

    /// <summary>What was read so far: after a failed load, the keys loaded before the damage.</summary>
    public RdbLoadResult Progress => _result;

    /// <summary>Loads a payload. Throws <see cref="RdbException"/> when it cannot be loaded.</summary>
    public RdbLoadResult Load(Stream stream)
    {
        _in = new RdbInput(stream);
        _dropExpiredFields = _options.DropExpiredKeys;
        try
        {
            if (stream.CanSeek) _hintLimit = Math.Max(0, (stream.Length - stream.Position) / 3);
        }
        catch (NotSupportedException) { }
        try
        {
            LoadBody();
        }
        catch (RdbException e)
        {
            if (e.Offset < 0) e.Offset = _in.Offset;
            throw;
        }
        _result.BytesRead = _in.Offset;
        return _result;
    }

    /// <summary>
    /// Reads a single value, its type byte first, from <paramref name="stream"/> (the body of a DUMP
    /// payload: Valkey's rdbLoadObjectType + rdbLoadObject). Returns byte[] for a string, an
    /// <see cref="IDataValue"/>, or null for an empty collection. Throws <see cref="RdbException"/>
    /// on damage; bytes after the value are not looked at.
    /// </summary>
    public object? LoadValue(Stream stream, ReadOnlySpan<byte> key)
    {
        int size = stream.CanSeek ? (int)Math.Clamp(stream.Length - stream.Position, 64, RdbInput.BufferSize) : RdbInput.BufferSize;
        _in = new RdbInput(stream, size);
        _version = RdbFormat.Version;
        int type = _in.ReadByte();
        if (!RdbFormat.IsObjectType(type)) throw new RdbException($"Unknown RDB encoding type {type}", isCorruption: false);
        return ReadObject(type, key.ToArray());
    }

    private void Notice(string message) => _options.Log?.Invoke(LogLevel.Notice, message);

    private void Warning(string message) => _options.Log?.Invoke(LogLevel.Warning, message);

    private void LoadBody()
    {
        Span<byte> magic = stackalloc byte[9];
        try
        {
            _in.ReadExactly(magic);
        }
        catch (RdbException)
        {
            throw RdbException.UnexpectedEof();
        }
        // "REDIS" and four digits, or Valkey 9's "VALKEY" and three.
        if (magic.Slice(0, 5).SequenceEqual("REDIS"u8)) _version = ParseVersion(magic.Slice(5));
        else if (magic.Slice(0, 6).SequenceEqual("VALKEY"u8)) _version = ParseVersion(magic.Slice(6));
        else throw new RdbException("Wrong signature trying to load DB from file", reported: false);
        if (!RdbFormat.CanRead(_version)) throw new RdbException($"Can't handle RDB format version {_version}", reported: false);
        _result.Version = _version;

        var db = _dbs[0];
        long expireMs = -1, lruIdle = -1;
        int lfuFreq = -1;
        while (true)
        {
            int type = _in.ReadByte();
            switch (type)
            {
                case RdbFormat.OpExpireTime:
                    expireMs = _in.ReadSecondTime() * 1000L;
                    continue;
                case RdbFormat.OpExpireTimeMs:
                    expireMs = _in.ReadMillisecondTime();
                    continue;
                case RdbFormat.OpFreq:
                    lfuFreq = _in.ReadByte();
                    continue;
                case RdbFormat.OpIdle:
                    lruIdle = (long)_in.ReadLength();
                    continue;
                case RdbFormat.OpEof:
                    break;
                case RdbFormat.OpSelectDb:
                {
                    ulong id = _in.ReadLength();
                    if (id >= (ulong)_dbs.Length)
                        throw new RdbException($"FATAL: Data file was created with a Valkey server configured to handle more than {_dbs.Length} databases. Exiting\n", reported: false);
                    db = _dbs[(int)id];
                    continue;
                }
                case RdbFormat.OpResizeDb:
                {
                    // Sizing hints: the tables are made big enough once instead of growing step by step.
                    ulong keys = _in.ReadLength();
                    ulong expires = _in.ReadLength();
                    if (keys <= (ulong)_hintLimit && expires <= keys) db.ExpectKeys((int)keys, (int)expires);
                    continue;
                }
                case RdbFormat.OpAux:
                    ReadAux();
                    continue;
                case RdbFormat.OpModuleAux:
                    ReadModuleAux();
                    continue;
                case RdbFormat.OpFunctionPreGa:
                    throw new RdbException("Pre-release function format not supported.");
                case RdbFormat.OpFunction2:
                    _result.FunctionLibraries.Add(_in.ReadString());
                    continue;
                default:
                    LoadKey(db, type, expireMs, lruIdle, lfuFreq);
                    _options.KeyLoaded?.Invoke(_in.Offset);
                    expireMs = -1;
                    lruIdle = -1;
                    lfuFreq = -1;
                    continue;
            }
            break;
        }

        if (_version >= 5)
        {
            ulong expected = _in.Checksum;
            Span<byte> trailer = stackalloc byte[8];
            _in.ReadExactly(trailer);
            ulong stored = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(trailer);
            if (_options.VerifyChecksum)
            {
                if (stored == 0) Notice("RDB file was saved with checksum disabled: no check performed.");
                else if (stored != expected)
                {
                    Warning($"Wrong RDB checksum expected: ({expected:x}) but got ({stored:x}). Aborting now.");
                    throw new RdbException("RDB CRC error");
                }
            }
        }

        if (_result.EmptyKeysSkipped > 0)
            Notice($"Done loading RDB, keys loaded: {_result.KeysLoaded}, keys expired: {_result.KeysExpired}, empty keys skipped: {_result.EmptyKeysSkipped}.");
        else
            Notice($"Done loading RDB, keys loaded: {_result.KeysLoaded}, keys expired: {_result.KeysExpired}.");
    }

    /// <summary>atoi on the four version digits.</summary>
    private static int ParseVersion(ReadOnlySpan<byte> digits)
    {
        int i = 0, v = 0;
        while (i < digits.Length && digits[i] == ' ') i++;
        bool neg = false;
        if (i < digits.Length && (digits[i] == '-' || digits[i] == '+')) neg = digits[i++] == '-';
        for (; i < digits.Length && digits[i] >= '0' && digits[i] <= '9'; i++) v = v * 10 + (digits[i] - '0');
        return neg ? -v : v;
    }

    private void ReadAux()
    {
        byte[] keyBytes = _in.ReadString();
        byte[] value = _in.ReadString();
        string key = Encoding.UTF8.GetString(keyBytes);
        string text = Encoding.UTF8.GetString(value);
        _result.Aux.Add(new(key, value));
        if (key.StartsWith('%'))
        {
            // Informational fields, logged as they are.
            Notice($"RDB '{key}': {text}");
            return;
        }
        switch (key.ToLowerInvariant())
        {
            case "redis-ver":
                Notice($"Loading RDB produced by Redis version {text}");
                break;
            case "valkey-ver":
                Notice($"Loading RDB produced by Valkey version {text}");
                break;
            case "ctime":
                long age = DateTimeOffset.UtcNow.ToUnixTimeSeconds() - ParseLeadingLong(text);
                Notice($"RDB age {Math.Max(age, 0)} seconds");
                break;
            case "used-mem":
                Notice($"RDB memory usage when created {(ParseLeadingLong(text) / (1024.0 * 1024)).ToString("F2", CultureInfo.InvariantCulture)} Mb");
                break;
            case "aof-preamble":
                if (ParseLeadingLong(text) != 0) Notice("RDB has an AOF tail");
                break;
            case "aof-base":
                if (ParseLeadingLong(text) != 0) Notice("RDB is base AOF");
                break;
            case "redis-bits" or "repl-stream-db" or "repl-id" or "repl-offset" or "lua":
                // Known: the replication history is read from the result (Aux) by whoever needs it.
                break;
            case "slot-info":
                // "slot,keys,expires": a sizing hint for cluster mode; malformed means a damaged file.
                if (text.Split(',').Length < 3) throw RdbException.UnexpectedEof();
                break;
            default:
                _options.Log?.Invoke(LogLevel.Debug, $"Unrecognized RDB AUX field: '{key}'");
                break;
        }
    }

    /// <summary>strtol/atoi: leading digits with an optional sign, 0 when there are none.</summary>
    private static long ParseLeadingLong(string s)
    {
        int i = 0;
        while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
        bool neg = false;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
        long v = 0;
        for (; i < s.Length && s[i] >= '0' && s[i] <= '9'; i++)
        {
            if (v > (long.MaxValue - 9) / 10) break;
            v = v * 10 + (s[i] - '0');
        }
        return neg ? -v : v;
    }

    private void ReadModuleAux()
    {
        ulong moduleId = _in.ReadLength();
        ulong whenOpcode = _in.ReadLength();
        _in.ReadLength();
        if (whenOpcode != RdbFormat.ModuleOpcodeUInt) throw new RdbException("bad when_opcode", isCorruption: false);
        throw new RdbException($"The RDB file contains AUX module data I can't load: no matching module '{RdbFormat.ModuleTypeName(moduleId)}'", reported: false);
    }

    private void LoadKey(Database db, int type, long expireMs, long lruIdle, int lfuFreq)
    {
        ReadOnlySpan<byte> key = _in.ReadStringInto(ref _keyScratch);
        ReadOnlySpan<byte> text = default;
        object? value = null;
        try
        {
            // Strings go from the read buffer into their key blob: no array of their own.
            if (type == (int)RdbType.String) text = _in.ReadStringInto(ref _valueScratch);
            else value = ReadObject(type, key);
        }
        catch (RdbException e)
        {
            e.Key ??= Encoding.UTF8.GetString(key);
            if (e.TypeId < 0) e.TypeId = type;
            throw;
        }

        if (value is null && type != (int)RdbType.String)
        {
            if (_result.EmptyKeysSkipped++ < 10) Notice($"rdbLoadObject skipping empty key: {Encoding.UTF8.GetString(key)}");
            return;
        }
        if (ReferenceEquals(value, AllFieldsExpired))
        {
            _result.KeysExpired++;
            return;
        }
        if (_options.DropExpiredKeys && expireMs != -1 && expireMs < _options.NowMs)
        {
            _result.KeysExpired++;
            _options.ExpiredKeyDropped?.Invoke(db.Index, key.ToArray());
            return;
        }

        var obj = (IDataValue?)value;
        int idx = db.AddLoaded(key, text, obj);
        if (idx < 0)
        {
            if (!_options.AllowDuplicateKeys)
            {
                Warning($"RDB has duplicated key '{Encoding.UTF8.GetString(key)}' in DB {db.Index}");
                throw new RdbException("Duplicated key found in RDB file", reported: false);
            }
            db.DeleteAt(db.FindRaw(key));
            idx = db.AddLoaded(key, text, obj);
        }
        _result.KeysLoaded++;
        if (expireMs != -1) db.SetExpireAt(idx, expireMs);
        // Field TTLs are enforced by the active expire cycle only for hashes it knows of.
        db.Context.VolatileHashes.TrackIfVolatile(value);
        SetAccessData(db, idx, lruIdle, lfuFreq);
    }

    /// <summary>Valkey's objectSetLRUOrLFU: LFU frequency under an LFU policy, otherwise the idle time.</summary>
    internal static void SetAccessData(Database db, int idx, long lruIdle, int lfuFreq)
    {
        var ks = db.Context;
        if (ks.UseLfu)
        {
            if (lfuFreq >= 0) db.SetLruAt(idx, (Lfu.MinutesNow(ks) << 8) | (uint)lfuFreq);
        }
        else if (lruIdle >= 0)
        {
            long abs = ks.LruClock - lruIdle;
            if (abs < 0) abs = KeyspaceContext.LruClockMax + 1 + abs;
            if (abs < 0) abs = 0; // an idle time longer than the whole clock period
            db.SetLruAt(idx, (uint)abs);
        }
    }

    // ----- values -----

    /// <summary>The value of one key: byte[] for a string, an <see cref="IDataValue"/>, or null for an empty collection.</summary>
    private object? ReadObject(int type, ReadOnlySpan<byte> key)
    {
        switch ((RdbType)type)
        {
            case RdbType.String:
                return _in.ReadString();
            case RdbType.List:
                return ReadLinkedList();
            case RdbType.Set:
                return ReadLinkedSet();
            case RdbType.ZSet:
            case RdbType.ZSet2:
                return ReadLinkedZSet((RdbType)type);
            case RdbType.Hash:
                return ReadLinkedHash();
            case RdbType.Hash2:
                return ReadVolatileHash();
            case RdbType.ListQuicklist:
            case RdbType.ListQuicklist2:
                return ReadQuicklist((RdbType)type);
            case RdbType.HashZipmap:
            case RdbType.ListZiplist:
            case RdbType.SetIntset:
            case RdbType.SetListpack:
            case RdbType.ZSetZiplist:
            case RdbType.ZSetListpack:
            case RdbType.HashZiplist:
            case RdbType.HashListpack:
                return ReadBlobEncoded((RdbType)type, _in.ReadStringInto(ref _valueScratch));
            case RdbType.StreamListpacks:
            case RdbType.StreamListpacks2:
            case RdbType.StreamListpacks3:
                return StreamRecord.Read(_in, (RdbType)type);
            case RdbType.ModulePreGa:
                throw new RdbException("Pre-release module format not supported");
            case RdbType.Module2:
                ulong moduleId = _in.ReadLength();
                throw new RdbException($"The RDB file contains module data I can't load: no matching module type '{RdbFormat.ModuleTypeName(moduleId)}'");
            default:
                throw new RdbException($"Unknown RDB encoding type {type}", isCorruption: false);
        }
    }

    private IValueBuilder NewBuilder(DataType type, RdbType source, long sizeHint)
    {
        var b = _options.Values?.Create(type, source, sizeHint);
        if (b is null)
            throw new RdbException($"{Encoding.ASCII.GetString(DataTypeNames.TypeName(type))} values are not supported by this server", isCorruption: false);
        return b;
    }

    private object? ReadLinkedList()
    {
        ulong len = _in.ReadLength();
        if (len == 0) return null;
        var b = NewBuilder(DataType.List, RdbType.List, Hint(len));
        for (ulong i = 0; i < len; i++)
        {
            b.Add(new PackedElement(_in.ReadStringInto(ref _elementScratch)));
        }
        return b.Build();
    }

    private object? ReadLinkedSet()
    {
        ulong len = _in.ReadLength();
        if (len == 0) return null;
        var b = NewBuilder(DataType.Set, RdbType.Set, Hint(len));
        for (ulong i = 0; i < len; i++)
        {
            var member = _in.ReadStringInto(ref _elementScratch);
            if (!b.Add(new PackedElement(member))) throw new RdbException("Duplicate set members detected");
        }
        return b.Build();
    }

    private object? ReadLinkedZSet(RdbType type)
    {
        ulong len = _in.ReadLength();
        if (len == 0) return null;
        var b = NewBuilder(DataType.ZSet, type, Hint(len));
        for (ulong i = 0; i < len; i++)
        {
            var member = _in.ReadStringInto(ref _elementScratch);
            double score = type == RdbType.ZSet2 ? _in.ReadBinaryDouble() : _in.ReadTextDouble();
            if (double.IsNaN(score)) throw new RdbException("Zset with NAN score detected");
            if (!b.AddScored(new PackedElement(member), score)) throw new RdbException("Duplicate zset fields detected");
        }
        return b.Build();
    }

    private object? ReadLinkedHash()
    {
        ulong len = _in.ReadLength();
        if (len == 0) return null;
        var b = NewBuilder(DataType.Hash, RdbType.Hash, Hint(len));
        for (ulong i = 0; i < len; i++)
        {
            var field = _in.ReadStringInto(ref _elementScratch);
            var value = _in.ReadStringInto(ref _pairScratch);
            if (!b.AddPair(new PackedElement(field), new PackedElement(value))) throw new RdbException("Duplicate hash fields detected");
        }
        return b.Build();
    }

    /// <summary>
    /// Valkey 9's HASH_2: a count, then per field its name, value and expire time (unix ms, 8 bytes
    /// little endian, -1 for none). A primary loading a file drops the fields already expired (the
    /// whole key when none is left, counted as an expired key); a replica or an AOF preamble keeps
    /// them for the primary's or the AOF tail's HDEL, and RESTORE keeps them for the expire cycle,
    /// which deletes and propagates them.
    /// </summary>
    private object? ReadVolatileHash()
    {
        ulong len = _in.ReadLength();
        if (len == 0) return null;
        var b = NewBuilder(DataType.Hash, RdbType.Hash2, Hint(len));
        if (b is not IVolatileFieldBuilder fb)
            throw new RdbException("hash field expire times are not supported by this server", isCorruption: false);
        long dropped = 0;
        for (ulong i = 0; i < len; i++)
        {
            byte[] field = _in.ReadString();
            byte[] value = _in.ReadString();
            long expireMs = _in.ReadMillisecondTime();
            if (expireMs < -1) throw new RdbException("Invalid hash field expire time");
            if (_dropExpiredFields && expireMs >= 0 && expireMs <= _options.NowMs)
            {
                dropped++;
                continue;
            }
            if (!fb.AddPair(new PackedElement(field), new PackedElement(value), expireMs)) throw new RdbException("Duplicate hash fields detected");
        }
        if (b.Count == 0) return dropped > 0 ? AllFieldsExpired : null;
        return b.Build();
    }

    private static long Hint(ulong announced) => announced > int.MaxValue ? -1 : (long)announced;

    private object? ReadQuicklist(RdbType type)
    {
        ulong nodes = _in.ReadLength();
        if (nodes == 0) return null;
        var b = NewBuilder(DataType.List, type, Hint(nodes));
        for (ulong n = 0; n < nodes; n++)
        {
            ulong container = RdbFormat.QuicklistNodePacked;
            if (type == RdbType.ListQuicklist2)
            {
                container = _in.ReadLength();
                if (container != RdbFormat.QuicklistNodePacked && container != RdbFormat.QuicklistNodePlain)
                    throw new RdbException("Quicklist integrity check failed.");
            }
            var data = _in.ReadStringInto(ref _valueScratch);
            if (data.Length == 0) throw RdbException.UnexpectedEof();
            if (container == RdbFormat.QuicklistNodePlain)
            {
                b.Add(new PackedElement(data));
                continue;
            }
            if (type == RdbType.ListQuicklist2)
            {
                if (!AddListpack(b, data, Packing.Single, rejectDuplicates: false))
                    throw new RdbException("Listpack integrity check failed.");
            }
            else if (!AddZiplist(b, data, Packing.Single, rejectDuplicates: false))
                throw new RdbException("Ziplist integrity check failed.");
        }
        // Empty nodes are skipped; a list left with no elements at all is an empty key.
        return b.Count == 0 ? null : b.Build();
    }

    private object? ReadBlobEncoded(RdbType type, ReadOnlySpan<byte> blob)
    {
        switch (type)
        {
            case RdbType.HashZipmap:
            {
                var b = NewBuilder(DataType.Hash, type, -1);
                if (!ZipmapReader.TryOpen(blob, out var zm)) throw new RdbException("Zipmap integrity check failed.");
                while (zm.Next(out var field, out var value))
                {
                    if (!b.AddPair(new PackedElement(field), new PackedElement(value)))
                        throw new RdbException($"Hash zipmap with dup elements, or big length ({field.Length})");
                }
                if (!zm.IsValid) throw new RdbException("Zipmap integrity check failed.");
                return b.Build();
            }
            case RdbType.ListZiplist:
            {
                var b = NewBuilder(DataType.List, type, -1);
                if (!AddZiplist(b, blob, Packing.Single, rejectDuplicates: false)) throw new RdbException("List ziplist integrity check failed.");
                return b.Count == 0 ? null : b.Build();
            }
            case RdbType.SetIntset:
            {
                int count = IntsetBlob.Validate(blob);
                if (count < 0) throw new RdbException("Intset integrity check failed.");
                var b = NewBuilder(DataType.Set, type, count);
                for (int i = 0; i < count; i++) b.Add(new PackedElement(IntsetBlob.Get(blob, i)));
                return b.Build();
            }
            case RdbType.SetListpack:
            {
                var b = NewBuilder(DataType.Set, type, -1);
                if (!AddListpack(b, blob, Packing.Single, rejectDuplicates: true)) throw new RdbException("Set listpack integrity check failed.");
                return b.Count == 0 ? null : b.Build();
            }
            case RdbType.ZSetZiplist:
            {
                var b = NewBuilder(DataType.ZSet, type, -1);
                if (!AddZiplist(b, blob, Packing.MemberScore, rejectDuplicates: true)) throw new RdbException("Zset ziplist integrity check failed.");
                return b.Count == 0 ? null : b.Build();
            }
            case RdbType.ZSetListpack:
            {
                var b = NewBuilder(DataType.ZSet, type, -1);
                if (!AddListpack(b, blob, Packing.MemberScore, rejectDuplicates: true)) throw new RdbException("Zset listpack integrity check failed.");
                return b.Count == 0 ? null : b.Build();
            }
            case RdbType.HashZiplist:
            {
                var b = NewBuilder(DataType.Hash, type, -1);
                if (!AddZiplist(b, blob, Packing.FieldValue, rejectDuplicates: true)) throw new RdbException("Hash ziplist integrity check failed.");
                return b.Count == 0 ? null : b.Build();
            }
            default: // HashListpack
            {
                var b = NewBuilder(DataType.Hash, type, -1);
                if (!AddListpack(b, blob, Packing.FieldValue, rejectDuplicates: true)) throw new RdbException("Hash listpack integrity check failed.");
                return b.Count == 0 ? null : b.Build();
            }
        }
    }

    /// <summary>How the elements of a packed blob group: one by one, field+value, member+score.</summary>
    private enum Packing { Single, FieldValue, MemberScore }

    /// <summary>
    /// Streams a listpack into a builder; false on damage, an odd number of elements where pairs are
    /// expected, a score that is not a number, or (when rejected) a duplicate.
    /// </summary>
    private static bool AddListpack(IValueBuilder b, ReadOnlySpan<byte> blob, Packing packing, bool rejectDuplicates)
    {
        if (!ListpackReader.TryOpen(blob, out var lp)) return false;
        if (packing == Packing.Single)
        {
            while (lp.Next(out var e))
                if (!b.Add(e) && rejectDuplicates) return false;
            return lp.IsValid;
        }
        while (lp.Next(out var first))
        {
            if (!lp.Next(out var second)) return false;
            if (!AddPair(b, packing, first, second)) return false;
        }
        return lp.IsValid;
    }

    private static bool AddZiplist(IValueBuilder b, ReadOnlySpan<byte> blob, Packing packing, bool rejectDuplicates)
    {
        if (!ZiplistReader.TryOpen(blob, out var zl)) return false;
        if (packing == Packing.Single)
        {
            while (zl.Next(out var e))
                if (!b.Add(e) && rejectDuplicates) return false;
            return zl.IsValid;
        }
        while (zl.Next(out var first))
        {
            if (!zl.Next(out var second)) return false;
            if (!AddPair(b, packing, first, second)) return false;
        }
        return zl.IsValid;
    }

    private static bool AddPair(IValueBuilder b, Packing packing, in PackedElement first, in PackedElement second)
    {
        if (packing == Packing.FieldValue) return b.AddPair(first, second);
        double score;
        if (second.IsInteger) score = second.Integer;
        else if (!NumberParser.TryParseDouble(second.Bytes, out score)) return false;
        return b.AddScored(first, score);
    }
}
