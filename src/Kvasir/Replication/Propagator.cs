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
    private static readonly byte[] Multi = "MULTI"u8.ToArray();
    private static readonly byte[] Exec = "EXEC"u8.ToArray();
    private static readonly byte[] Unlink = "UNLINK"u8.ToArray();
    private static readonly byte[] Del = "DEL"u8.ToArray();
    private static readonly byte[] Ping = "PING"u8.ToArray();
    private static readonly byte[] Select = "SELECT"u8.ToArray();

    private readonly KvasirServer _server;
    private readonly List<(int Db, byte[][] Argv, bool ReplicasOnly)> _pending = new();
    private readonly List<Client> _replicas = new();
    // Replicas waiting for their full-sync image: the stream after the snapshot point is kept here.
    private readonly Dictionary<Client, Protocol.ReplyWriter> _syncing = new();
    private readonly Protocol.ReplyWriter _encoded = new();
    private int _nesting;
    private int _streamDb = -1;

    public Propagator(KvasirServer server) => _server = server;

    /// <summary>True when anything consumes the stream; when false, handlers need not build their effects.</summary>
    public bool Active => !Paused && (_replicas.Count > 0 || _syncing.Count > 0 || _log is not null);

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

    public IReadOnlyList<Client> Replicas => _replicas;

    /// <summary>Bytes emitted into the replication stream since start (master_repl_offset).</summary>
    public long Offset { get; private set; }

    public void BeginUnit() => _nesting++;

    /// <summary>Ends an execution unit; the outermost one emits what the unit accumulated.</summary>
    public void EndUnit(bool touchesArbitraryKeys)
    {
        if (--_nesting > 0) return;
        Flush(touchesArbitraryKeys);
    }

    /// <summary>Adds an effect of the running unit (Valkey's alsoPropagate).</summary>
    public void Add(int db, byte[][] argv)
    {
        if (!Active) return;
        _pending.Add((db, argv, false));
    }

    /// <summary>An effect for replicas only, not the AOF (PUBLISH, as Valkey's PROPAGATE_REPL).</summary>
    public void AddForReplicas(int db, byte[][] argv)
    {
        if (!Active) return;
        _pending.Add((db, argv, true));
    }

    /// <summary>An expired key was deleted: propagate an explicit UNLINK (or DEL without lazy expire).</summary>
    public void ExpiredKeyDeleted(Database db, ReadOnlySpan<byte> key)
    {
        if (!Active) return;
        _pending.Add((db.Index, new[] { _server.Config.LazyfreeLazyExpire ? Unlink : Del, key.ToArray() }, false));
        if (_nesting == 0) Flush(touchesArbitraryKeys: true);
    }

    /// <summary>A key was evicted (maxmemory): propagate UNLINK with lazyfree-lazy-eviction, DEL otherwise, as its own unit between commands.</summary>
    public void KeyEvicted(Database db, ReadOnlySpan<byte> key, bool lazy)
    {
        if (!Active) return;
        _pending.Add((db.Index, new[] { lazy ? Unlink : Del, key.ToArray() }, false));
        if (_nesting == 0) Flush(touchesArbitraryKeys: true);
    }

    private void Flush(bool touchesArbitraryKeys)
    {
        if (_pending.Count == 0) return;
        bool transaction = _pending.Count > 1 && !touchesArbitraryKeys;
        if (transaction) Emit(-1, new[] { Multi });
        foreach (var (db, argv, replicasOnly) in _pending) Emit(db, argv, !replicasOnly);
        if (transaction) Emit(-1, new[] { Exec });
        _pending.Clear();
    }

    /// <summary>Writes one command into the stream (db -1: no SELECT before it).</summary>
    private void Emit(int db, byte[][] argv, bool toLog = true)
    {
        _encoded.Clear();
        if (db >= 0 && db != _streamDb)
        {
            Span<byte> digits = stackalloc byte[12];
            Utf8Formatter.TryFormat(db, digits, out int n);
            Encode(new[] { Select, digits.Slice(0, n).ToArray() });
            _streamDb = db;
        }
        int selectLength = _encoded.Length;
        Encode(argv);
        var bytes = _encoded.WrittenSpan;
        // The log and the replicas share one selected database: a replicas-only effect still gives the log its SELECT.
        if (toLog) _log?.Append(bytes);
        else if (selectLength > 0) _log?.Append(bytes[..selectLength]);
        // master_repl_offset counts what replicas get (those syncing included), not the AOF's share.
        if (_replicas.Count == 0 && _syncing.Count == 0) return;
        Offset += bytes.Length;
        foreach (var replica in _replicas)
        {
            bool enabled = replica.Reply.Enabled;
            replica.Reply.Enabled = true;
            replica.Reply.WriteRaw(bytes);
            replica.Reply.Enabled = enabled;
            replica.Transport?.OutputAvailable();
        }
        foreach (var kept in _syncing.Values) kept.WriteRaw(bytes);
    }

    private void Encode(byte[][] argv)
    {
        _encoded.WriteArray(argv.Length);
        foreach (var a in argv) _encoded.WriteBulk(a);
    }

    /// <summary>A replica finished its full sync: from now on it receives the stream, starting with a SELECT.</summary>
    public void AttachReplica(Client replica)
    {
        if (!_replicas.Contains(replica)) _replicas.Add(replica);
        _streamDb = -1;
    }

    public void DetachReplica(Client replica)
    {
        _replicas.Remove(replica);
        if (_syncing.Remove(replica, out var kept)) kept.Release();
    }

    /// <summary>
    /// A full sync starts: its image is the data as of now, so everything emitted from now on is
    /// kept for this replica until the image has been sent (<see cref="EndFullSync"/>).
    /// </summary>
    public void BeginFullSync(Client replica)
    {
        _syncing[replica] = new Protocol.ReplyWriter();
        // The kept stream must start by selecting its database.
        _streamDb = -1;
    }

    /// <summary>True while the replica's image is being prepared or sent.</summary>
    public bool IsSyncing(Client replica) => _syncing.ContainsKey(replica);

    /// <summary>The image was sent: the kept stream follows it, then the replica gets the live stream.</summary>
    public void EndFullSync(Client replica)
    {
        if (!_syncing.Remove(replica, out var kept)) return;
        bool enabled = replica.Reply.Enabled;
        replica.Reply.Enabled = true;
        replica.Reply.WriteRaw(kept.WrittenSpan);
        replica.Reply.Enabled = enabled;
        kept.Release();
        if (!_replicas.Contains(replica)) _replicas.Add(replica);
        replica.Transport?.OutputAvailable();
    }

    /// <summary>Periodic PING to replicas (repl-ping-replica-period) so they can detect a dead link.</summary>
    public void PingReplicas()
    {
        if (_replicas.Count == 0) return;
        Emit(-1, new[] { Ping }, toLog: false);
    }
}

/// <summary>A consumer of the encoded effect stream besides replicas (the AOF).</summary>
public interface IEffectLog
{
    /// <summary>One encoded command (RESP array), its SELECT included; called under the data lock.</summary>
    void Append(ReadOnlySpan<byte> encoded);
}
