using System.Buffers.Text;
using Kvasir.Clients;
using Kvasir.Keyspace;

namespace Kvasir.Replication;

/// <summary>
/// The propagation log (DESIGN §6): every write produces its effect in replayable form, and the
/// effects of one execution unit (a command, a MULTI/EXEC block, later a script) are emitted
/// together, wrapped in MULTI/EXEC when there is more than one, as Valkey's
/// propagatePendingCommands. Deletions of expired keys outside a command (active expiry) are units
/// of their own. The stream feeds attached replicas and the AOF, with a SELECT whenever the
/// database changes, and counts master_repl_offset (bytes sent to replicas).
/// </summary>
public sealed class Propagator
{
    private static readonly byte[] Select = "SELECT"u8.ToArray();

    private readonly KvasirServer _server;
    // The running unit's effects, already encoded one after the other in _staged (no per-command
    // argv copies): each entry is the database and the byte range of one command in _staged.
    private readonly List<(int Db, int Start, int Length, bool ReplicasOnly)> _pending = new();
    // Where the replicas-only commands of the unit being flushed sit in _encoded (the AOF skips them).
    private readonly List<(int Start, int Length)> _replicasOnlyRanges = new();
    private readonly Protocol.ReplyWriter _logCopy = new();
    private readonly Protocol.ReplyWriter _staged = new();
    private readonly Protocol.ReplyWriter _encoded = new();
    private int _nesting;
    private int _streamDb = -1;

    public Propagator(KvasirServer server) => _server = server;

    /// <summary>True when anything consumes the stream; when false, handlers need not build their effects.</summary>
    public bool Active => !Paused && (_server.Replication.FeedsStream || _log is not null);

    /// <summary>
    /// Set while an AOF is replayed (DEBUG LOADAOF): the commands it runs are not effects to send
    /// anywhere again, as Valkey's loading runs them outside call().
    /// </summary>
    public bool Paused { get; set; }

    private IEffectLog? _log;

    /// <summary>
    /// The AOF: receives every unit's effects (not the replica PINGs). Attaching or replacing it
    /// starts the next effect with a SELECT, so a new file never depends on an earlier one.
    /// </summary>
    public IEffectLog? Log
    {
        get => _log;
        set
        {
            _log = value;
            _streamDb = -1;
        }
    }

    /// <summary>The next effect starts with a SELECT (the AOF continues in a new file).</summary>
    public void ForceSelect() => _streamDb = -1;

    /// <summary>True inside an execution unit that contains others (EXEC, scripts): effects are still pending.</summary>
    public bool InNestedUnit => _nesting > 1;

    /// <summary>The database the stream last selected, -1 when the next effect starts with a SELECT.</summary>
    public int StreamDb => _streamDb;

    public void BeginUnit() => _nesting++;

    /// <summary>Ends an execution unit; the outermost one emits what the unit accumulated.</summary>
    public void EndUnit(bool touchesArbitraryKeys)
    {
        if (--_nesting > 0) return;
        Flush(touchesArbitraryKeys);
    }

    /// <summary>Set while a script's redis.set_repl excludes replicas: its commands' effects are dropped.</summary>
    internal bool Muted;

    /// <summary>Adds an effect of the running unit (Valkey's alsoPropagate).</summary>
    public void Add(int db, byte[][] argv)
    {
        if (!Active || Muted) return;
        int start = _staged.Length;
        _staged.WriteArray(argv.Length);
        foreach (var a in argv) _staged.WriteBulk(a);
        _pending.Add((db, start, _staged.Length - start, false));
    }

    private int _effectStart = -1;
    private int _effectDb;

    /// <summary>
    /// Starts an effect of <paramref name="argc"/> arguments built piece by piece with
    /// <see cref="EffectArg(ReadOnlySpan{byte})"/> and closed by <see cref="EndEffect"/>: what
    /// <see cref="Add(int, byte[][])"/> does without an argv array (XREADGROUP's XCLAIM per entry).
    /// </summary>
    public void BeginEffect(int db, int argc)
    {
        if (!Active || Muted)
        {
            _effectStart = -1;
            return;
        }
        _effectStart = _staged.Length;
        _effectDb = db;
        _staged.WriteArray(argc);
    }

    public void EffectArg(ReadOnlySpan<byte> arg)
    {
        if (_effectStart >= 0) _staged.WriteBulk(arg);
    }

    public void EffectArg(long arg)
    {
        if (_effectStart >= 0) _staged.WriteBulk(arg);
    }

    public void EndEffect()
    {
        if (_effectStart < 0) return;
        _pending.Add((_effectDb, _effectStart, _staged.Length - _effectStart, false));
        _effectStart = -1;
    }

    /// <summary>Adds a command as it was received: encoded straight from the request's slices, nothing allocated.</summary>
    public void Add(int db, Protocol.CommandArgs args) => Stage(db, args, replicasOnly: false);

    /// <summary>An effect for replicas only, not the AOF (PUBLISH, as Valkey's PROPAGATE_REPL).</summary>
    public void AddForReplicas(int db, Protocol.CommandArgs args) => Stage(db, args, replicasOnly: true);

    private void Stage(int db, Protocol.CommandArgs args, bool replicasOnly)
    {
        if (!Active || Muted) return;
        int start = _staged.Length;
        _staged.WriteArray(args.Count);
        for (int i = 0; i < args.Count; i++) _staged.WriteBulk(args[i]);
        _pending.Add((db, start, _staged.Length - start, replicasOnly));
    }

    /// <summary>An expired key was deleted: propagate an explicit UNLINK (or DEL without lazy expire).</summary>
    public void ExpiredKeyDeleted(Database db, ReadOnlySpan<byte> key) =>
        KeyRemovedBetweenCommands(db, key, _server.Config.LazyfreeLazyExpire);

    /// <summary>A key was evicted (maxmemory): propagate UNLINK with lazyfree-lazy-eviction, DEL otherwise.</summary>
    public void KeyEvicted(Database db, ReadOnlySpan<byte> key, bool lazy) => KeyRemovedBetweenCommands(db, key, lazy);

    /// <summary>
    /// A deletion the server made on its own (expiry, eviction): UNLINK or DEL, inside the running
    /// unit when there is one, otherwise as a unit of its own.
    /// </summary>
    private void KeyRemovedBetweenCommands(Database db, ReadOnlySpan<byte> key, bool lazy)
    {
        if (!Active) return;
        int start = _staged.Length;
        _staged.WriteArray(2);
        _staged.WriteBulk(lazy ? Effects.Unlink : Effects.Del);
        _staged.WriteBulk(key);
        _pending.Add((db.Index, start, _staged.Length - start, false));
        if (_nesting == 0) Flush(touchesArbitraryKeys: true);
    }

    /// <summary>Emits the unit's effects as one piece of the stream (one AOF append, one write per replica).</summary>
    private void Flush(bool touchesArbitraryKeys)
    {
        if (_pending.Count == 0) return;
        bool transaction = _pending.Count > 1 && !touchesArbitraryKeys;
        _encoded.Clear();
        // Valkey 8 sends MULTI first, then the SELECT of the first effect (checked against a real one).
        if (transaction) _encoded.WriteRaw("*1\r\n$5\r\nMULTI\r\n"u8);
        var staged = _staged.WrittenSpan;
        foreach (var (db, start, length, replicasOnly) in _pending)
        {
            WriteSelectIfNeeded(db);
            if (replicasOnly) _replicasOnlyRanges.Add((_encoded.Length, length));
            _encoded.WriteRaw(staged.Slice(start, length));
        }
        if (transaction) _encoded.WriteRaw("*1\r\n$4\r\nEXEC\r\n"u8);
        _pending.Clear();
        _staged.ResetAfterFlush();
        bool someReplicasOnly = _replicasOnlyRanges.Count > 0;
        Publish(toLog: !someReplicasOnly);
        if (someReplicasOnly) LogWithoutReplicasOnly();
        _replicasOnlyRanges.Clear();
        _encoded.ResetAfterFlush();
    }

    /// <summary>
    /// The AOF's share of a unit holding replicas-only commands: the same bytes without those
    /// commands (their SELECTs stay: the log and the replicas share one selected database).
    /// </summary>
    private void LogWithoutReplicasOnly()
    {
        if (_log is null) return;
        var bytes = _encoded.WrittenSpan;
        _logCopy.Clear();
        int at = 0;
        foreach (var (start, length) in _replicasOnlyRanges)
        {
            _logCopy.WriteRaw(bytes[at..start]);
            at = start + length;
        }
        _logCopy.WriteRaw(bytes[at..]);
        if (_logCopy.Length > 0) _log.Append(_logCopy.WrittenSpan);
        _logCopy.ResetAfterFlush();
    }

    private void WriteSelectIfNeeded(int db)
    {
        if (db < 0 || db == _streamDb) return;
        Span<byte> digits = stackalloc byte[12];
        Utf8Formatter.TryFormat(db, digits, out int n);
        int before = _encoded.Length;
        _encoded.WriteArray(2);
        _encoded.WriteBulk(Select);
        _encoded.WriteBulk(digits.Slice(0, n));
        SelectBytes += _encoded.Length - before;
        _streamDb = db;
    }

    /// <summary>
    /// Bytes of the SELECTs written into the stream so far: CLUSTER SLOT-STATS leaves them out of a
    /// command's replication bytes, as they belong to no slot.
    /// </summary>
    public long SelectBytes { get; private set; }

    /// <summary>
    /// Sends what <see cref="_encoded"/> holds to the AOF (unless <paramref name="toLog"/> is false)
    /// and the replication stream. A replica's own effects go to its AOF only: its sub-replicas get
    /// its primary's stream, proxied as applied.
    /// </summary>
    private void Publish(bool toLog)
    {
        var bytes = _encoded.WrittenSpan;
        var replication = _server.Replication;
        if (!replication.IsReplica) replication.Feed(bytes);
        // After the feed: the AOF records which replication offset these effects end at (WAITAOF).
        if (toLog) _log?.Append(bytes);
    }
}

/// <summary>A consumer of the encoded effect stream besides replicas (the AOF).</summary>
public interface IEffectLog
{
    /// <summary>One encoded command (RESP array), its SELECT included; called under the data lock.</summary>
    void Append(ReadOnlySpan<byte> encoded);
}
