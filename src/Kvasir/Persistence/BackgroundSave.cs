using System.Collections.Concurrent;
using System.Diagnostics;
using Kvasir.Keyspace;

namespace Kvasir.Persistence;

/// <summary>
/// BGSAVE without fork: a point-in-time RDB image written while commands keep running. Every
/// database's key table is split into segments of <see cref="KeysPerSegment"/> consecutive entry
/// indexes (an index stays valid until its key is removed, whatever the table's resizes), so a
/// write that has to wait for its segment waits for a few dozen keys, and the save walks the
/// table's memory in order as a forked child would. A background thread serializes the groups one lock slice at a
/// time; a write that is about to change a key of a group not yet serialized first serializes that
/// group, under the lock, through <see cref="KeyspaceContext.BeforeKeyChange"/>. So each group is
/// written exactly as it was when the save started. The serialized pieces are queued in the order
/// they were made and appended to the temporary file outside the lock; each piece starts with its
/// own SELECTDB, so pieces of different databases may interleave (loaders accept that).
/// </summary>
internal sealed class BackgroundSave
{
    public const int KeysPerSegment = 32;
    private const long SliceTicks = TimeSpan.TicksPerMillisecond; // lock held at most ~1 ms per slice

    private readonly KvasirServer _server;
    private readonly SnapshotFormat _format;
    private readonly Database[] _dbs;
    private readonly int[][] _offsets;        // per db: start of each segment in _members (Segments + 1)
    private readonly int[][] _members;        // per db: indexes of the keys present at the start, ascending
    private readonly bool[][] _done;          // per db: segment serialized
    private readonly bool[] _resizeWritten;
    private readonly long[] _keysAtStart;
    private readonly long[] _expiresAtStart;
    private readonly ConcurrentQueue<byte[]> _pieces = new();
    private readonly Action<Database, int> _barrier;
    private readonly Action<Database> _onFlush;
    private readonly Action<Database, Database> _onSwap;
    private readonly string _tempPath;
    private readonly string? _finalPath;
    private readonly Stream? _target;
    private Thread? _thread;
    private volatile string? _abortReason;
    private volatile string? _error;
    private int _nextDb, _nextSegment;

    /// <param name="finalPath">Where the finished image is moved.</param>
    /// <param name="tempPath">Where it is written meanwhile; by default temp-&lt;pid&gt;-bg.rdb next to it.</param>
    public BackgroundSave(KvasirServer server, RdbWriteOptions options, string finalPath, string? tempPath = null)
        : this(server, new RdbSnapshotFormat(options), tempPath ?? Path.Combine(Path.GetDirectoryName(finalPath)!, $"temp-{Environment.ProcessId}-bg.rdb"), finalPath)
    {
    }

    /// <summary>
    /// A snapshot in <paramref name="format"/> written to <paramref name="tempPath"/> and, when
    /// <paramref name="finalPath"/> is given, renamed over it; without one the caller moves the file
    /// (an AOF rewrite names the new base file only when it is done).
    /// </summary>
    public BackgroundSave(KvasirServer server, SnapshotFormat format, string tempPath, string? finalPath)
        : this(server, format, tempPath, finalPath, null, includeData: true)
    {
    }

    /// <summary>
    /// A snapshot written to <paramref name="target"/> instead of a file (a diskless replica sync: the
    /// stream sends to the replicas' sockets, blocking this save's thread while they are slow). Without
    /// <paramref name="includeData"/> the image holds no keys (REPLCONF rdb-filter-only).
    /// </summary>
    public BackgroundSave(KvasirServer server, SnapshotFormat format, Stream target, bool includeData)
        : this(server, format, "", null, target, includeData)
    {
    }

    private BackgroundSave(KvasirServer server, SnapshotFormat format, string tempPath, string? finalPath, Stream? target, bool includeData)
    {
        _server = server;
        _format = format;
        _target = target;
        _dbs = includeData ? server.Databases : Array.Empty<Database>();
        _finalPath = finalPath;
        _tempPath = tempPath;
        int n = _dbs.Length;
        _offsets = new int[n][];
        _members = new int[n][];
        _done = new bool[n][];
        _resizeWritten = new bool[n];
        _keysAtStart = new long[n];
        _expiresAtStart = new long[n];
        _barrier = OnKeyChange;
        _onFlush = _ => Abort("the data set was flushed");
        _onSwap = (_, _) => Abort("databases were swapped");
        StartedAt = Stopwatch.GetTimestamp();
        DirtyAtStart = server.Keyspace.Dirty;
    }

    public long StartedAt { get; }

    /// <summary>Dirty counter when the image was taken; subtracted from the live counter on success.</summary>
    public long DirtyAtStart { get; }

    /// <summary>Bytes serialized by writes that had to wait for their segment (the fork-less copy-on-write).</summary>
    public long CopyOnWriteBytes { get; private set; }

    /// <summary>Completes with true when the file is in place, false when the save failed or was aborted.</summary>
    public TaskCompletionSource<bool> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string? AbortReason => _abortReason;

    /// <summary>Why the save failed (an I/O or serialization error), or null when it succeeded or was only aborted.</summary>
    public string? Error => _error;

    /// <summary>Takes the image (caller holds the data lock) and starts the background thread.</summary>
    public void Start()
    {
        // The header first: ctime, used-mem and the function libraries as of now.
        _pieces.Enqueue(_format.Header());

        for (int d = 0; d < _dbs.Length; d++)
        {
            var db = _dbs[d];
            _keysAtStart[d] = db.Count;
            _expiresAtStart[d] = db.ExpiresCount;
            int limit = db.IndexLimit;
            int segments = Math.Max(1, (limit + KeysPerSegment - 1) / KeysPerSegment);
            _done[d] = new bool[segments];
            var offsets = new int[segments + 1];
            var members = new int[db.Count];
            int m = 0;
            for (int idx = 0; idx < limit; idx++)
            {
                if (idx % KeysPerSegment == 0) offsets[idx / KeysPerSegment] = m;
                if (db.IsOccupied(idx)) members[m++] = idx;
            }
            for (int s = (limit + KeysPerSegment - 1) / KeysPerSegment; s <= segments; s++) offsets[s] = m;
            _offsets[d] = offsets;
            _members[d] = members;
        }

        var ks = _server.Keyspace;
        // Several saves may run at once (BGSAVE and replicas' full syncs): each adds its own barrier.
        ks.BeforeKeyChange += _barrier;
        ks.DatabaseFlushing += _onFlush;
        ks.DatabasesSwapping += _onSwap;
        _thread = new Thread(Run) { IsBackground = true, Name = "kvasir-bgsave" };
        _thread.Start();
    }

    /// <summary>Stops the save (caller holds the data lock): the temporary file is removed, dump.rdb is untouched.</summary>
    public void Abort(string reason)
    {
        _abortReason ??= reason;
        Detach();
    }

    private void Detach()
    {
        var ks = _server.Keyspace;
        ks.BeforeKeyChange -= _barrier;
        ks.DatabaseFlushing -= _onFlush;
        ks.DatabasesSwapping -= _onSwap;
    }

    /// <summary>The write barrier, under the data lock.</summary>
    private void OnKeyChange(Database db, int idx)
    {
        if (_abortReason is not null) return;
        int d = db.Index;
        if (d >= _dbs.Length || !ReferenceEquals(_dbs[d], db)) return;
        int s = idx / KeysPerSegment;
        // Past the table's end at the start: a key created since, no part of the image.
        if (s >= _done[d].Length || _done[d][s]) return;
        try
        {
            CopyOnWriteBytes += SerializeSegment(d, s);
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException)
        {
            // The write must go on whatever happens to the snapshot.
            _error ??= e.Message;
            Abort("a value could not be serialized");
        }
    }

    /// <summary>Serializes one segment as it was at the start (caller holds the data lock). Returns the bytes produced.</summary>
    private long SerializeSegment(int d, int s)
    {
        _done[d][s] = true;
        int from = _offsets[d][s], to = _offsets[d][s + 1];
        if (from == to) return 0;
        bool first = !_resizeWritten[d];
        _resizeWritten[d] = true;
        var piece = _format.Segment(_dbs[d], _members[d].AsSpan(from, to - from), first, _keysAtStart[d], _expiresAtStart[d]);
        _pieces.Enqueue(piece);
        return piece.Length;
    }

    private void Run()
    {
        bool ok = false;
        try
        {
            using (var file = _target ?? new FileStream(_tempPath, FileMode.Create, FileAccess.Write, FileShare.None, 1))
            {
                var output = _format.Open(file);
                var data = _server.DataLock;
                while (true)
                {
                    long keysInSlice = 0;
                    bool finished;
                    lock (data)
                    {
                        if (_abortReason is null && _server.IsShuttingDown) Abort("the server is shutting down");
                        if (_abortReason is not null) break;
                        long start = Stopwatch.GetTimestamp();
                        finished = Step(start, ref keysInSlice);
                        if (finished) Detach();
                    }
                    Drain(output);
                    int delay = _server.Config.RdbKeySaveDelay;
                    if (delay > 0 && keysInSlice > 0) SaveDelay((long)delay * keysInSlice);
                    if (finished) break;
                }
                if (_abortReason is null)
                {
                    Drain(output);
                    output.End();
                    if (file is FileStream fs) fs.Flush(flushToDisk: true);
                    else file.Flush();
                    ok = true;
                }
            }
            if (ok && _finalPath is not null) File.Move(_tempPath, _finalPath, overwrite: true);
        }
        catch (Exception e)
        {
            // A background thread must never take the process down: any failure fails the save.
            ok = false;
            _error ??= e.Message;
        }
        if (!ok && _target is null)
        {
            try
            {
                File.Delete(_tempPath);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        if (!ok) lock (_server.DataLock) Detach();
        Completion.TrySetResult(ok);
    }

    /// <summary>
    /// rdb-key-save-delay (a test knob, microseconds per key, as Valkey's child sleeps per key): the
    /// whole delay is honoured, in short sleeps so an abort or a shutdown is not held up.
    /// </summary>
    private void SaveDelay(long micros)
    {
        while (micros > 0 && _abortReason is null && !_server.IsShuttingDown)
        {
            long step = Math.Min(micros, 50_000);
            Thread.Sleep(TimeSpan.FromMicroseconds(step));
            micros -= step;
        }
    }

    /// <summary>Serializes segments until the slice's time is up; true when every segment is done.</summary>
    private bool Step(long sliceStart, ref long keys)
    {
        while (_nextDb < _dbs.Length)
        {
            var done = _done[_nextDb];
            while (_nextSegment < done.Length)
            {
                int s = _nextSegment++;
                if (done[s]) continue;
                keys += _offsets[_nextDb][s + 1] - _offsets[_nextDb][s];
                SerializeSegment(_nextDb, s);
                // With a save delay (a test knob) each slice handles one segment, so saving is slow
                // while the server stays responsive.
                if (_server.Config.RdbKeySaveDelay > 0 && keys > 0) return false;
                if (Stopwatch.GetTimestamp() - sliceStart > SliceTicks * Stopwatch.Frequency / TimeSpan.TicksPerSecond) return false;
            }
            _nextDb++;
            _nextSegment = 0;
        }
        return true;
    }

    private void Drain(ISnapshotSink output)
    {
        while (_pieces.TryDequeue(out var piece)) output.Write(piece);
    }
}
