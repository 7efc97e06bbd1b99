using System.Buffers.Text;
using Kvasir.Clients;
using Kvasir.Keyspace;

namespace Kvasir.Replication;

/// <summary>
/// The propagation log (DESIGN §6): every write produces its effect in replayable form, and the
/// effects of one execution unit (a command, a MULTI/EXEC block, later a script) are emitted
/// together, wrapped in MULTI/EXEC when there is more than one, as Valkey's
/// propagatePendingCommands. Deletions of expired keys outside a command (active expiry) are units
/// of their own. The stream feeds attached replicas (and, later, the AOF), with a SELECT whenever
/// the database changes, and counts master_repl_offset.
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
    private readonly List<(int Db, byte[][] Argv)> _pending = new();
    private readonly List<Client> _replicas = new();
    private readonly Protocol.ReplyWriter _encoded = new();
    private int _nesting;
    private int _streamDb = -1;

    public Propagator(KvasirServer server) => _server = server;

    /// <summary>True when anything consumes the stream; when false, handlers need not build their effects.</summary>
    public bool Active => _replicas.Count > 0;

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

    /// <summary>Set while a script's redis.set_repl excludes replicas: its commands' effects are dropped.</summary>
    internal bool Muted;

    /// <summary>Adds an effect of the running unit (Valkey's alsoPropagate).</summary>
    public void Add(int db, byte[][] argv)
    {
        if (!Active || Muted) return;
        _pending.Add((db, argv));
    }

    /// <summary>An expired key was deleted: propagate an explicit UNLINK (or DEL without lazy expire).</summary>
    public void ExpiredKeyDeleted(Database db, ReadOnlySpan<byte> key)
    {
        if (!Active) return;
        _pending.Add((db.Index, new[] { _server.Config.LazyfreeLazyExpire ? Unlink : Del, key.ToArray() }));
        if (_nesting == 0) Flush(touchesArbitraryKeys: true);
    }

    private void Flush(bool touchesArbitraryKeys)
    {
        if (_pending.Count == 0) return;
        bool transaction = _pending.Count > 1 && !touchesArbitraryKeys;
        if (transaction) Emit(-1, new[] { Multi });
        foreach (var (db, argv) in _pending) Emit(db, argv);
        if (transaction) Emit(-1, new[] { Exec });
        _pending.Clear();
    }

    /// <summary>Writes one command into the stream (db -1: no SELECT before it).</summary>
    private void Emit(int db, byte[][] argv)
    {
        _encoded.Clear();
        if (db >= 0 && db != _streamDb)
        {
            Span<byte> digits = stackalloc byte[12];
            Utf8Formatter.TryFormat(db, digits, out int n);
            Encode(new[] { Select, digits.Slice(0, n).ToArray() });
            _streamDb = db;
        }
        Encode(argv);
        var bytes = _encoded.WrittenSpan;
        Offset += bytes.Length;
        foreach (var replica in _replicas)
        {
            bool enabled = replica.Reply.Enabled;
            replica.Reply.Enabled = true;
            replica.Reply.WriteRaw(bytes);
            replica.Reply.Enabled = enabled;
            replica.Transport?.OutputAvailable();
        }
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

    public void DetachReplica(Client replica) => _replicas.Remove(replica);

    /// <summary>Periodic PING to replicas (repl-ping-replica-period) so they can detect a dead link.</summary>
    public void PingReplicas()
    {
        if (_replicas.Count == 0) return;
        Emit(-1, new[] { Ping });
    }
}
