using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Kvasir.Persistence.Aof;

/// <summary>
/// The open INCR file and the bytes on their way to it. Effects are appended to an in-memory buffer
/// under the data lock (Valkey's aof_buf); they reach the file before any reply that depends on
/// them leaves the server: with <c>appendfsync always</c> the first connection that needs an fsync
/// writes and fsyncs everything appended so far on its own thread (as Valkey's event loop does in
/// beforeSleep), and connections arriving meanwhile wait for that round or the next one, which the
/// background thread runs; whoever runs a round sends the waiting connections' replies itself
/// (their continuations run inline), so no reply hops through the thread pool (group commit: one
/// fsync for all the batches that ran meanwhile); with everysec and no
/// the connection about to send writes the buffer itself (a write(2) to the page cache, as Valkey's
/// beforeSleep does), and the thread fsyncs once a second (everysec) or never (no).
/// Offsets are positions in the stream of appended bytes, counted from the writer's creation.
/// </summary>
internal sealed class AofWriter : IDisposable
{
    private readonly object _bufferLock = new();   // inner lock: append / take (never held while taking another)
    private readonly object _fileLock = new();     // one writer of the file at a time
    private readonly object _waitLock = new();
    private readonly List<(long Offset, TaskCompletionSource Done)> _waiters = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Func<string> _policy;
    private readonly Func<bool> _skipFsync;
    private readonly Action<string> _writeError;
    private readonly Action _writeOk;
    private SafeFileHandle _file;
    private string _fileName;
    private byte[] _buffer = new byte[4096];
    private byte[] _spare = new byte[4096];
    private int _length;
    private long _appended;     // stream offset of the end of the buffer
    private long _written;      // stream offset written to the file
    private long _synced;       // stream offset known to be on disk
    private long _fileOffset;   // size of the current file
    private long _lastFsyncMs;
    private Thread? _thread;
    private volatile bool _stopping;
    private bool _failed;
    // appendfsync always: a round (write + fsync + release) is running; under _waitLock.
    private bool _roundActive;
    // The running round was handed to the background thread (waiters arrived during it).
    private volatile bool _threadOwnsRound;
    private readonly Func<int>? _flushSleep;

    public AofWriter(SafeFileHandle file, string fileName, long fileSize, Func<string> policy, Func<bool> skipFsync,
        Action<string> writeError, Action writeOk, Func<int>? flushSleepMicros = null)
    {
        _flushSleep = flushSleepMicros;
        _file = file;
        _fileName = fileName;
        _fileOffset = fileSize;
        _policy = policy;
        _skipFsync = skipFsync;
        _writeError = writeError;
        _writeOk = writeOk;
        _lastFsyncMs = Environment.TickCount64;
    }

    /// <summary>Name of the file being written (in the AOF directory).</summary>
    public string FileName => _fileName;

    /// <summary>Bytes of the current file on disk or in the buffer (Valkey's aof_last_incr_size plus the buffer).</summary>
    public long FileSize => Interlocked.Read(ref _fileOffset);

    public long Appended => Interlocked.Read(ref _appended);

    public int BufferLength => Volatile.Read(ref _length);

    /// <summary>fsyncs queued or running in the background (INFO aof_pending_bio_fsync).</summary>
    public int PendingFsyncs { get; private set; }

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "kvasir-aof" };
        _thread.Start();
    }

    /// <summary>Adds encoded commands (caller holds the data lock).</summary>
    public void Append(ReadOnlySpan<byte> bytes)
    {
        lock (_bufferLock)
        {
            if (_length + bytes.Length > _buffer.Length)
            {
                var bigger = new byte[Math.Max(_buffer.Length * 2, _length + bytes.Length)];
                _buffer.AsSpan(0, _length).CopyTo(bigger);
                _buffer = bigger;
            }
            bytes.CopyTo(_buffer.AsSpan(_length));
            _length += bytes.Length;
            Interlocked.Add(ref _appended, bytes.Length);
        }
        // No wake-up here: with always the connection sending the replies starts the fsync (and the
        // thread's periodic pass covers effects no reply waits for).
    }

    /// <summary>Stream offset known to be on disk.</summary>
    public long Synced => Interlocked.Read(ref _synced);

    /// <summary>True when the bytes up to <paramref name="offset"/> need no more waiting for this policy.</summary>
    public bool IsDone(long offset, bool always) =>
        always ? Interlocked.Read(ref _synced) >= offset : Interlocked.Read(ref _written) >= offset;

    /// <summary>
    /// Before a reply is sent: with always, makes sure an fsync covered <paramref name="offset"/>,
    /// running the write + fsync on this thread when no one else is (group commit leader), or waiting
    /// (asynchronously) for the round in progress or the next one; otherwise writes the buffer now if
    /// it still holds bytes below the offset.
    /// </summary>
    public ValueTask WaitAsync(long offset)
    {
        if (_policy() != "always")
        {
            WritePending(offset);
            return default;
        }
        TaskCompletionSource done;
        lock (_waitLock)
        {
            if (Interlocked.Read(ref _synced) >= offset || _stopping) return default;
            if (!_roundActive)
            {
                _roundActive = true;
                done = null!;
            }
            else
            {
                // Synchronous continuation: whoever finishes the round sends this connection's replies.
                done = new TaskCompletionSource();
                _waiters.Add((offset, done));
            }
        }
        if (done is not null) return new ValueTask(done.Task);
        // One round covers this offset: the buffer held it when the barrier was taken. Waiters that
        // arrived meanwhile and need more go to the background thread, so these replies are not held.
        if (RunRound()) HandRoundToThread();
        return default;
    }

    /// <summary>
    /// appendfsync always, by the round's owner: writes and fsyncs everything appended so far, releases
    /// the waiters it covers (sending their replies inline). Returns true when waiters remain that
    /// need a further round (the caller still owns the round), false when the round is given up.
    /// </summary>
    private bool RunRound()
    {
        if (!WritePending())
        {
            // A reply must never claim durability we do not have (Valkey exits here too).
            _writeError("Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...");
            Environment.Exit(1);
        }
        if (_skipFsync())
        {
            // no-appendfsync-on-rewrite: written is as good as it gets while a snapshot runs.
            Interlocked.Exchange(ref _synced, Interlocked.Read(ref _written));
        }
        else if (Interlocked.Read(ref _synced) < Interlocked.Read(ref _written) && !Sync())
        {
            _writeError("Can't persist AOF for fsync error when the AOF fsync policy is 'always'. Exiting...");
            Environment.Exit(1);
        }
        List<TaskCompletionSource>? ready = null;
        bool more;
        lock (_waitLock)
        {
            long synced = Interlocked.Read(ref _synced);
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Offset > synced) continue;
                (ready ??= new()).Add(_waiters[i].Done);
                _waiters.RemoveAt(i);
            }
            more = _waiters.Count > 0 && !_stopping;
            if (!more) _roundActive = false;
        }
        Complete(ready, inline: true);
        return more;
    }

    private void HandRoundToThread()
    {
        _threadOwnsRound = true;
        _wake.Set();
    }

    /// <summary>Writes what the buffer holds if the file is not yet past <paramref name="upTo"/>. Returns false on a write error.</summary>
    public bool WritePending(long upTo = long.MaxValue)
    {
        lock (_fileLock)
        {
            if (_file.IsClosed) return true;
            if (Interlocked.Read(ref _written) >= Math.Min(upTo, Appended)) return !_failed;
            byte[] chunk;
            int n;
            long end;
            lock (_bufferLock)
            {
                chunk = _buffer;
                n = _length;
                end = _appended;
                _buffer = _spare;
                _spare = chunk;
                _length = 0;
            }
            if (n == 0) return !_failed;
            // DEBUG AOF-FLUSH-SLEEP: widens the window between a write and its reply for tests.
            if (_flushSleep?.Invoke() is > 0 and var micros) Thread.Sleep(TimeSpan.FromMicroseconds(micros));
            try
            {
                RandomAccess.Write(_file, chunk.AsSpan(0, n), _fileOffset);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ObjectDisposedException)
            {
                // Keep the bytes: they go first on the next attempt (Valkey keeps aof_buf and retries from the cron).
                lock (_bufferLock)
                {
                    var merged = new byte[Math.Max(_buffer.Length, n + _length)];
                    chunk.AsSpan(0, n).CopyTo(merged);
                    _buffer.AsSpan(0, _length).CopyTo(merged.AsSpan(n));
                    _buffer = merged;
                    _length += n;
                }
                _failed = true;
                _writeError(e.Message);
                return false;
            }
            if (chunk.Length > 1 << 20) _spare = new byte[4096];
            Interlocked.Add(ref _fileOffset, n);
            Interlocked.Exchange(ref _written, end);
            if (_failed)
            {
                _failed = false;
                _writeOk();
            }
            return true;
        }
    }

    /// <summary>Writes and fsyncs everything appended so far (SHUTDOWN, file switches, DEBUG LOADAOF).</summary>
    public bool FlushAndSync()
    {
        if (!WritePending()) return false;
        return Sync();
    }

    private bool Sync()
    {
        long target;
        lock (_fileLock)
        {
            target = Interlocked.Read(ref _written);
            if (Interlocked.Read(ref _synced) >= target || _file.IsClosed) return true;
            try
            {
                PendingFsyncs++;
                FlushData(_file);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                _writeError(e.Message);
                return false;
            }
            finally
            {
                PendingFsyncs--;
            }
        }
        Interlocked.Exchange(ref _synced, target);
        _lastFsyncMs = Environment.TickCount64;
        ReleaseWaiters(target);
        return true;
    }

    private void ReleaseWaiters(long synced, bool inline = true)
    {
        List<TaskCompletionSource>? ready = null;
        lock (_waitLock)
        {
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Offset > synced) continue;
                (ready ??= new()).Add(_waiters[i].Done);
                _waiters.RemoveAt(i);
            }
        }
        Complete(ready, inline);
    }

    /// <summary>
    /// Releases waiting connections, outside every lock. Inline, their continuations (the replies
    /// being sent) run on this thread; otherwise on the thread pool (a caller holding the data lock).
    /// </summary>
    private void Complete(List<TaskCompletionSource>? ready, bool inline)
    {
        if (ready is null) return;
        if (!inline)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static r => { foreach (var w in r) w.TrySetResult(); }, ready, preferLocal: false);
            return;
        }
        bool aofThread = Thread.CurrentThread == _thread;
        if (aofThread) _runningContinuations = true;
        try
        {
            foreach (var w in ready) w.TrySetResult();
        }
        finally
        {
            if (aofThread) _runningContinuations = false;
        }
    }

    // Set while the AOF thread runs connections' continuations, which may wait for the data lock.
    private volatile bool _runningContinuations;

    /// <summary>
    /// Stops the thread: waits for it unless it is running connections' continuations (they may be
    /// waiting for the data lock our caller holds). The file itself is guarded by _fileLock.
    /// </summary>
    private void StopThread()
    {
        _stopping = true;
        _wake.Set();
        if (_thread is null) return;
        for (int i = 0; i < 200 && !_thread.Join(10); i++)
            if (_runningContinuations) break;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int fdatasync(int fd);

    /// <summary>
    /// fdatasync on Linux, as Valkey's redis_fsync: the data and the size, not the timestamps; the
    /// runtime's FlushToDisk (fsync) elsewhere.
    /// </summary>
    private static void FlushData(SafeFileHandle file)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(file);
            return;
        }
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
            if (fdatasync((int)file.DangerousGetHandle()) != 0)
                throw new IOException($"fdatasync failed: {Marshal.GetLastPInvokeErrorMessage()}");
        }
        finally
        {
            if (added) file.DangerousRelease();
        }
    }

    /// <summary>
    /// The rounds handed over by connections and a periodic pass for effects no reply waits for
    /// (always), the once-a-second fsync (everysec).
    /// </summary>
    private void Run()
    {
        while (!_stopping)
        {
            string policy = _policy();
            _wake.Wait(policy == "always" ? 100 : 50);
            _wake.Reset();
            if (_stopping) break;
            policy = _policy();
            if (_threadOwnsRound)
            {
                // A connection handed its round over: keep going while waiters need more.
                _threadOwnsRound = false;
                while (RunRound()) { }
                continue;
            }
            if (policy == "always")
            {
                bool own = false;
                lock (_waitLock)
                {
                    if (!_roundActive && (Appended > Interlocked.Read(ref _synced) || _waiters.Count > 0))
                        own = _roundActive = true;
                }
                if (own)
                {
                    while (RunRound()) { }
                }
                continue;
            }
            WritePending();
            if (_skipFsync())
            {
                // no-appendfsync-on-rewrite: written is as good as it gets while a snapshot runs.
                Interlocked.Exchange(ref _synced, Interlocked.Read(ref _written));
                ReleaseWaiters(Interlocked.Read(ref _synced));
                continue;
            }
            if (policy == "everysec" && Environment.TickCount64 - _lastFsyncMs >= 1000)
            {
                Sync();
            }
            else if (policy == "no")
            {
                // Nobody waits for an fsync that never comes.
                ReleaseWaiters(long.MaxValue);
            }
        }
    }

    /// <summary>
    /// Continues in another file (a rewrite started): what is buffered goes to the old file, which
    /// is fsynced and closed. Caller holds the data lock, so nothing is appended meanwhile.
    /// </summary>
    public void SwitchTo(SafeFileHandle file, string fileName)
    {
        FlushAndSync();
        lock (_fileLock)
        {
            var old = _file;
            _file = file;
            _fileName = fileName;
            Interlocked.Exchange(ref _fileOffset, 0);
            old.Dispose();
        }
    }

    /// <summary>The file was renamed (the temporary INCR file of an AOF being turned on got its final name).</summary>
    public void Renamed(string fileName) => _fileName = fileName;

    /// <summary>DEBUG LOADAOF cut the file being written at <paramref name="length"/>: continue from there.</summary>
    public void Truncated(string fileName, long length)
    {
        if (fileName != _fileName) return;
        lock (_fileLock) Interlocked.Exchange(ref _fileOffset, length);
    }

    /// <summary>Final write and fsync, then close (AOF turned off, shutdown). Waiters are released.</summary>
    public void Dispose()
    {
        FlushAndSync();
        StopThread();
        lock (_fileLock) _file.Dispose();
        ReleaseWaiters(long.MaxValue, inline: false);
    }

    /// <summary>Closes without writing the buffer (a failed AOF start: the temporary INCR file is deleted anyway).</summary>
    public void Abandon()
    {
        StopThread();
        lock (_fileLock) _file.Dispose();
        ReleaseWaiters(long.MaxValue, inline: false);
    }
}
