using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kvasir.Replication;
using Microsoft.Win32.SafeHandles;

namespace Kvasir.Persistence.Aof;

/// <summary>
/// The multi-part append-only file as Valkey 7+ keeps it in <c>dir/appenddirname</c>: the manifest,
/// one BASE file (an RDB image with <c>aof-use-rdb-preamble yes</c>, else commands) and INCR files
/// the effect stream of the <see cref="Propagator"/> is appended to. Loading at startup and by DEBUG
/// LOADAOF, the upgrade of an old single-file AOF, BGREWRITEAOF (the new BASE is a fork-less
/// point-in-time snapshot written by <see cref="BackgroundSave"/> while new effects go to a new INCR
/// file, then the manifest is swapped and the old files deleted), turning AOF on and off at runtime,
/// automatic rewrites, and the INFO persistence fields. Every method runs under the data lock unless
/// said otherwise. Log lines and file names are Valkey's (aof.c).
/// </summary>
public sealed class AppendOnlyFile : IEffectLog
{
    private enum State { Off, On, WaitRewrite }

    /// <summary>The writer and where its offsets start in the server-wide stream; replaced as a whole.</summary>
    private sealed record Current(AofWriter Writer, long OffsetBase);

    private const int RewriteLimitThreshold = 3;
    private const int RewriteLimitMaxMinutes = 60;

    private readonly KvasirServer _server;
    private AofManifest _manifest = new();
    private State _state;
    private volatile Current? _current;
    private long _offsetEnd;            // server-wide stream offset where the last writer ended
    private BackgroundSave? _rewrite;
    private bool _rewriteScheduled;
    private bool _rewriteRdbPreamble;
    private long _rewriteStartUnix = -1;
    private long _lastRewriteSeconds = -1;
    private bool _lastRewriteOk = true;
    private long _rewrites;
    private long _consecutiveFailures;
    private long _nextDelayMinutes;
    private long _nextRewriteUnix;
    private long _otherFilesSize;       // base + INCR files other than the one being written
    private long _baseSize;             // aof_rewrite_base_size
    private volatile bool _lastWriteFailed;
    private long _lastWriteErrorLogUnix;
    private long _timestamp;
    private long _lastCowBytes;

    public AppendOnlyFile(KvasirServer server)
    {
        _server = server;
        var g = server.Stats.Gauges;
        g["aof_rewrite_in_progress"] = () => _rewrite is null ? 0 : 1;
        g["aof_rewrite_scheduled"] = () => _rewriteScheduled ? 1 : 0;
        g["aof_last_rewrite_time_sec"] = () => Interlocked.Read(ref _lastRewriteSeconds);
        g["aof_current_rewrite_time_sec"] = () =>
            _rewrite is null ? -1 : DateTimeOffset.UtcNow.ToUnixTimeSeconds() - Interlocked.Read(ref _rewriteStartUnix);
        g["aof_last_bgrewrite_failed"] = () => _lastRewriteOk ? 0 : 1;
        g["aof_rewrites"] = () => Interlocked.Read(ref _rewrites);
        g["aof_rewrites_consecutive_failures"] = () => Interlocked.Read(ref _consecutiveFailures);
        g["aof_last_write_failed"] = () => _lastWriteFailed ? 1 : 0;
        g["aof_current_size"] = () => CurrentSize;
        g["aof_base_size"] = () => Interlocked.Read(ref _baseSize);
        g["aof_buffer_length"] = () => _current?.Writer.BufferLength ?? 0;
        g["mem_aof_buffer"] = () => _current?.Writer.BufferLength ?? 0;
        g["aof_pending_bio_fsync"] = () => _current?.Writer.PendingFsyncs ?? 0;
        g["aof_delayed_fsync"] = () => 0;
        // Bytes writes had to serialize for the last rewrite's snapshot (the fork-less copy-on-write).
        g["aof_last_cow_size"] = () => Interlocked.Read(ref _lastCowBytes);
        server.Tick += CronTick;
    }

    private Config.ServerConfig Config => _server.Config;
    private Observability.ServerLog Log => _server.Log;

    /// <summary>dir/appenddirname.</summary>
    public string Directory => Path.Combine(Config.Dir, Config.AppendDirname);

    public bool Enabled => _state != State.Off;

    /// <summary>Turned on and still writing its first base: until then the AOF does not hold the data.</summary>
    public bool WritingInitialBase => _state == State.WaitRewrite;
    public bool RewriteInProgress => _rewrite is not null;
    public bool RewriteScheduled => _rewriteScheduled;

    /// <summary>The manifest as last written (tests, INFO).</summary>
    public string ManifestText => _manifest.Format();

    /// <summary>aof_current_size: the files of the manifest plus what was written to the current INCR file.</summary>
    public long CurrentSize => Interlocked.Read(ref _otherFilesSize) + (_current?.Writer.FileSize ?? 0);

    private static long NowUnix => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    // ----- the effect stream -----

    /// <summary>Effects of one execution unit, encoded (the Propagator calls this under the data lock).</summary>
    public void Append(ReadOnlySpan<byte> encoded)
    {
        var current = _current;
        if (current is null) return;
        if (Config.AofTimestampEnabled)
        {
            long now = _server.Keyspace.NowMs / 1000;
            if (_timestamp < now)
            {
                _timestamp = now;
                current.Writer.Append(Encoding.ASCII.GetBytes($"#TS:{now.ToString(CultureInfo.InvariantCulture)}\r\n"));
            }
        }
        current.Writer.Append(encoded);
        // Where the replication stream was when these effects were appended: WAITAOF and the FACK a
        // replica sends count what is fsynced in replication offsets.
        if (_replicationMarks.Count < MaxReplicationMarks)
            _replicationMarks.Enqueue((current.OffsetBase + current.Writer.Appended, _server.Replication.Offset));
    }

    private const int MaxReplicationMarks = 1 << 16;
    private readonly Queue<(long AofEnd, long ReplicationOffset)> _replicationMarks = new();
    private long _fsyncedReplicationOffset = -1;

    /// <summary>
    /// The replication offset whose effects are all fsynced to the AOF (Valkey's fsynced_reploff),
    /// -1 with no AOF. When nothing appended is waiting for an fsync it is the current offset.
    /// Under the data lock.
    /// </summary>
    public long FsyncedReplicationOffset
    {
        get
        {
            if (!Enabled) return -1;
            // Turned on and waiting for its first rewrite: nothing counts as fsynced yet (Valkey's 0).
            if (_state == State.WaitRewrite) return 0;
            if (_current is not { } c) return _fsyncedReplicationOffset;
            long synced = c.OffsetBase + c.Writer.Synced;
            while (_replicationMarks.TryPeek(out var mark) && mark.AofEnd <= synced)
            {
                _fsyncedReplicationOffset = mark.ReplicationOffset;
                _replicationMarks.Dequeue();
            }
            if (_replicationMarks.Count == 0 && c.Writer.Appended == c.Writer.Synced) _fsyncedReplicationOffset = _server.Replication.Offset;
            return _fsyncedReplicationOffset;
        }
    }

    /// <summary>
    /// A replica finished a full sync (or was promoted): the AOF starts again from the new data set
    /// with a rewrite, as Valkey's restartAOFAfterSYNC. Under the data lock.
    /// </summary>
    public void RestartAfterSync()
    {
        if (_state == State.Off) return;
        if (_rewrite is not null) KillRewrite("the data set was replaced by a full sync");
        _replicationMarks.Clear();
        if (!StartRewrite()) _rewriteScheduled = true;
    }

    /// <summary>
    /// Under the data lock, when replies are handed to a connection for sending: the stream offset
    /// they depend on (everything appended so far), or 0 when there is no AOF.
    /// </summary>
    public long SendBarrier => _current is { } c ? c.OffsetBase + c.Writer.Appended : 0;

    /// <summary>
    /// Outside the data lock, before replies taken at <paramref name="barrier"/> are sent: with
    /// appendfsync always waits until an fsync covered them (group commit); otherwise makes sure they
    /// were written to the file. A writer replaced meanwhile was flushed and fsynced when it closed.
    /// </summary>
    public ValueTask BeforeSendAsync(long barrier)
    {
        var c = _current;
        if (c is null || barrier <= c.OffsetBase) return default;
        long offset = barrier - c.OffsetBase;
        if (c.Writer.IsDone(offset, Config.AppendFsync == "always")) return default;
        return c.Writer.WaitAsync(offset);
    }

    private void Attach(AofWriter writer)
    {
        _current = new Current(writer, _offsetEnd);
        writer.Start();
        _server.Propagator.Log = this;
    }

    private void Detach(bool flush)
    {
        var c = _current;
        if (c is null) return;
        _server.Propagator.Log = null;
        if (flush) c.Writer.Dispose();
        else c.Writer.Abandon();
        _offsetEnd = c.OffsetBase + c.Writer.Appended;
        _current = null;
    }

    private AofWriter NewWriter(SafeFileHandle handle, string name, long size) =>
        new(handle, name, size, () => Config.AppendFsync, SkipFsync, WriteError, WriteRecovered, () => FlushSleepMicros);

    /// <summary>DEBUG AOF-FLUSH-SLEEP: microseconds to sleep before each write of the buffer (a test knob).</summary>
    public int FlushSleepMicros { get; set; }

    /// <summary>no-appendfsync-on-rewrite: no fsync while a snapshot is being written.</summary>
    private bool SkipFsync() => Config.NoAppendfsyncOnRewrite && (_rewrite is not null || _server.Persistence.BackgroundSaveInProgress);

    /// <summary>The last write error while writes to the AOF are failing, else null (MISCONF refuses writes then).</summary>
    public string? LastWriteError => _lastWriteFailed ? _lastWriteErrorText : null;

    private volatile string _lastWriteErrorText = "";

    private void WriteError(string message)
    {
        _lastWriteErrorText = message;
        _lastWriteFailed = true;
        long now = NowUnix;
        // Valkey logs write errors at most every 30 seconds.
        if (now - Interlocked.Read(ref _lastWriteErrorLogUnix) <= 30 && !message.StartsWith("Can't", StringComparison.Ordinal)) return;
        Interlocked.Exchange(ref _lastWriteErrorLogUnix, now);
        Log.Warning(message.StartsWith("Can't", StringComparison.Ordinal) ? message : $"Error writing to the AOF file: {message}");
    }

    private void WriteRecovered()
    {
        if (!_lastWriteFailed) return;
        _lastWriteFailed = false;
        Log.Notice("AOF write error looks solved. The server can write again.");
    }

    private static SafeFileHandle OpenForAppend(string path, bool truncate, out long size)
    {
        var handle = File.OpenHandle(path, truncate ? FileMode.Create : FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
        size = truncate ? 0 : RandomAccess.GetLength(handle);
        return handle;
    }

    // ----- startup -----

    /// <summary>
    /// Valkey's aofLoadManifestFromDisk + loadDataFromDisk + aofOpenIfNeededOnServerStart +
    /// aofDelHistoryFiles for <c>appendonly yes</c>. False when the server must not start.
    /// </summary>
    public bool LoadAtStartup()
    {
        if (!LoadManifestFromDisk()) return false;
        long start = Stopwatch.GetTimestamp();
        AofLoadStatus status;
        lock (_server.DataLock)
        {
            status = LoadFiles(_manifest, out _);
            // Replayed commands are not changes since the last save.
            _server.Keyspace.Dirty = 0;
        }
        if (status is AofLoadStatus.Failed or AofLoadStatus.OpenError) return false;
        if (status != AofLoadStatus.NotExist)
            Log.Notice($"DB loaded from append only file: {Seconds(start)} seconds");
        lock (_server.DataLock)
        {
            if (!OpenOnStart()) return false;
            DeleteHistoryFiles();
        }
        return true;
    }

    private static string Seconds(long startTimestamp) =>
        Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds.ToString("F3", CultureInfo.InvariantCulture);

    /// <summary>Reads dir/appenddirname/appendfilename.manifest when it exists; a bad one is fatal.</summary>
    private bool LoadManifestFromDisk()
    {
        _manifest = new AofManifest();
        string path = Path.Combine(Directory, AofManifest.ManifestName(Config.AppendFilename));
        if (!System.IO.Directory.Exists(Directory) || !File.Exists(path)) return true;
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.Latin1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Fatal error: can't open the AOF manifest file {path} for reading: {e.Message}");
            return false;
        }
        try
        {
            _manifest = AofManifest.Parse(text);
            return true;
        }
        catch (AofManifestException e)
        {
            Log.Warning("\n*** FATAL AOF MANIFEST FILE ERROR ***\n");
            if (e.Text is not null)
            {
                Log.Warning($"Reading the manifest file, at line {e.Line}\n");
                Log.Warning($">>> '{e.Text}'\n");
            }
            Log.Warning(e.Message + "\n");
            return false;
        }
    }

    /// <summary>Valkey's loadAppendOnlyFiles: the BASE then every INCR file, in manifest order.</summary>
    private AofLoadStatus LoadFiles(AofManifest am, out (string? File, long Length) truncated)
    {
        truncated = (null, -1);
        string oldPath = Path.Combine(Config.Dir, Config.AppendFilename);
        if (File.Exists(oldPath))
        {
            // An AOF from before multi-part files (Redis < 7): move it into the directory as the BASE.
            bool noDir = !System.IO.Directory.Exists(Directory);
            bool emptyManifest = am.Base is null && am.Incrs.Count == 0;
            bool halfUpgraded = am.Base is not null && am.Incrs.Count == 0 && am.Base.Name == Config.AppendFilename &&
                                !File.Exists(Path.Combine(Directory, Config.AppendFilename));
            if ((noDir || emptyManifest || halfUpgraded) && !UpgradeOldFile(am)) return AofLoadStatus.Failed;
        }
        if (am.Base is null && am.Incrs.Count == 0) return AofLoadStatus.NotExist;

        var files = new List<AofFileInfo>();
        if (am.Base is not null) files.Add(am.Base);
        files.AddRange(am.Incrs);
        long total = 0, baseSize = 0;
        foreach (var f in files)
        {
            var info = new FileInfo(Path.Combine(Directory, f.Name));
            if (!info.Exists)
            {
                Log.Warning($"Unable to obtain the AOF file {f.Name} length. stat: No such file or directory");
                return AofLoadStatus.Failed;
            }
            total += info.Length;
            if (f == am.Base) baseSize = info.Length;
        }
        if (total == 0) return AofLoadStatus.Empty;

        var loader = new AofLoader(_server);
        var status = AofLoadStatus.Ok;
        for (int i = 0; i < files.Count; i++)
        {
            var f = files[i];
            bool last = i == files.Count - 1;
            long start = Stopwatch.GetTimestamp();
            status = loader.LoadFile(Directory, f.Name, oldStyle: f.Name == Config.AppendFilename);
            if (status == AofLoadStatus.Ok || (status == AofLoadStatus.Truncated && last))
                Log.Notice($"DB loaded from {(f.Type == AofFileType.Base ? "base" : "incr")} file {f.Name}: {Seconds(start)} seconds");
            if (status == AofLoadStatus.Empty && f.Type == AofFileType.Incr) status = AofLoadStatus.Ok;
            if (status == AofLoadStatus.Truncated && !last)
            {
                Log.Warning("Fatal error: the truncated file is not the last file");
                return AofLoadStatus.Failed;
            }
            if (status is AofLoadStatus.Failed or AofLoadStatus.OpenError or AofLoadStatus.NotExist)
                return status == AofLoadStatus.NotExist ? AofLoadStatus.Failed : status;
        }
        truncated = (loader.TruncatedFile, loader.TruncatedLength);
        Interlocked.Exchange(ref _baseSize, baseSize);
        return status;
    }

    /// <summary>Valkey's aofUpgradePrepare: manifest with the old file as BASE, then the file moved in.</summary>
    private bool UpgradeOldFile(AofManifest am)
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Can't open or create append-only dir {Config.AppendDirname}: {e.Message}");
            return false;
        }
        am.Base = new AofFileInfo(Config.AppendFilename, 1, AofFileType.Base);
        am.CurrentBaseSeq = 1;
        am.Dirty = true;
        if (!Persist(am)) return false;
        try
        {
            File.Move(Path.Combine(Config.Dir, Config.AppendFilename), Path.Combine(Directory, Config.AppendFilename));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Error trying to move the old AOF file {Config.AppendFilename} into dir {Config.AppendDirname}: {e.Message}");
            return false;
        }
        Log.Notice($"Successfully migrated an old-style AOF file ({Config.AppendFilename}) into the AOF directory ({Config.AppendDirname}).");
        return true;
    }

    /// <summary>Valkey's aofOpenIfNeededOnServerStart: a BASE for an empty start, then the last INCR file opened.</summary>
    private bool OpenOnStart()
    {
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Can't open or create append-only dir {Config.AppendDirname}: {e.Message}");
            return false;
        }
        int incrs = _manifest.Incrs.Count;
        if (_manifest.Base is null && incrs == 0)
        {
            string baseName = _manifest.NewBase(Config.AppendFilename, Config.AofUseRdbPreamble);
            if (!WriteBaseNow(Path.Combine(Directory, baseName))) return false;
            Log.Notice($"Creating AOF base file {baseName} on server start");
        }
        string name = _manifest.LastIncrOrNew(Config.AppendFilename);
        SafeFileHandle handle;
        long size;
        try
        {
            handle = OpenForAppend(Path.Combine(Directory, name), truncate: false, out size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Can't open the append-only file {name}: {e.Message}");
            return false;
        }
        if (!Persist(_manifest))
        {
            handle.Dispose();
            return false;
        }
        Interlocked.Exchange(ref _otherFilesSize, FilesSize(_manifest, except: name));
        if (_baseSize == 0) Interlocked.Exchange(ref _baseSize, _manifest.Base is { } b ? SizeOf(b.Name) : 0);
        _state = State.On;
        Attach(NewWriter(handle, name, size));
        Log.Notice(incrs > 0 ? $"Opening AOF incr file {name} on server start" : $"Creating AOF incr file {name} on server start");
        return true;
    }

    private long SizeOf(string name)
    {
        var info = new FileInfo(Path.Combine(Directory, name));
        return info.Exists ? info.Length : 0;
    }

    private long FilesSize(AofManifest am, string except)
    {
        long total = am.Base is { } b ? SizeOf(b.Name) : 0;
        foreach (var i in am.Incrs)
            if (i.Name != except) total += SizeOf(i.Name);
        return total;
    }

    /// <summary>Writes the data set as a BASE file in the foreground (Valkey's rewriteAppendOnlyFile).</summary>
    private bool WriteBaseNow(string path)
    {
        string temp = Path.Combine(Config.Dir, $"temp-rewriteaof-{Environment.ProcessId}.aof");
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1))
            {
                var format = NewFormat();
                var sink = format.Open(file);
                sink.Write(format.Header());
                foreach (var db in _server.Databases)
                {
                    if (db.Count == 0) continue;
                    var keys = new List<int>((int)db.Count);
                    for (int idx = 0; idx < db.IndexLimit; idx++)
                        if (db.IsOccupied(idx)) keys.Add(idx);
                    sink.Write(format.Segment(db, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(keys), true, db.Count, db.ExpiresCount));
                }
                sink.End();
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or InvalidOperationException)
        {
            Log.Warning($"Write error writing append only file on disk: {e.Message}");
            try { File.Delete(temp); } catch (IOException) { }
            return false;
        }
    }

    private SnapshotFormat NewFormat()
    {
        var options = _server.Persistence.WriteOptions(aofBase: true);
        return Config.AofUseRdbPreamble
            ? new RdbSnapshotFormat(options)
            : new AofCommandFormat(options.FunctionLibraries, Config.AofTimestampEnabled);
    }

    // ----- manifest on disk -----

    /// <summary>Valkey's persistAofManifest: temp file, fsync, rename over the manifest.</summary>
    private bool Persist(AofManifest am)
    {
        if (!am.Dirty) return true;
        string tempName = AofManifest.TempManifestName(Config.AppendFilename);
        string tempPath = Path.Combine(Directory, tempName);
        string finalName = AofManifest.ManifestName(Config.AppendFilename);
        try
        {
            using (var f = new FileStream(tempPath, FileMode.Create, FileAccess.Write, FileShare.None, 1))
            {
                f.Write(Encoding.Latin1.GetBytes(am.Format()));
                f.Flush(flushToDisk: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Error trying to write the temporary AOF manifest file {tempName}: {e.Message}");
            return false;
        }
        try
        {
            File.Move(tempPath, Path.Combine(Directory, finalName), overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Error trying to rename the temporary AOF manifest file {tempName} into {finalName}: {e.Message}");
            return false;
        }
        am.Dirty = false;
        return true;
    }

    /// <summary>Valkey's aofDelHistoryFiles (unless aof-disable-auto-gc).</summary>
    public void DeleteHistoryFiles()
    {
        if (Config.AofDisableAutoGc || _manifest.History.Count == 0) return;
        foreach (var h in _manifest.History)
        {
            Log.Notice($"Removing the history file {h.Name} in the background");
            TryDelete(Path.Combine(Directory, h.Name));
        }
        _manifest.History.Clear();
        _manifest.Dirty = true;
        Persist(_manifest);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    // ----- rewrite -----

    /// <summary>
    /// Valkey's rewriteAppendOnlyFileBackground: new effects go to a new INCR file from this moment,
    /// and a point-in-time snapshot of this same moment becomes the new BASE.
    /// </summary>
    public bool StartRewrite()
    {
        if (_rewrite is not null || _server.Persistence.BackgroundSaveInProgress) return false;
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Can't open or create append-only dir {Config.AppendDirname}: {e.Message}");
            _lastRewriteOk = false;
            return false;
        }
        _server.Propagator.ForceSelect();
        _current?.Writer.WritePending();
        if (!OpenNewIncrForAppend())
        {
            _lastRewriteOk = false;
            return false;
        }
        Interlocked.Increment(ref _rewrites);
        var format = NewFormat();
        // Valkey names it after the child's pid, new for every rewrite: a killed rewrite still
        // finishing its last slice must not delete the file of the next one.
        string temp = Path.Combine(Config.Dir, $"temp-rewriteaof-bg-{Environment.ProcessId}-{Interlocked.Read(ref _rewrites)}.aof");
        var save = new BackgroundSave(_server, format, temp, finalPath: null);
        save.Start();
        _server.Persistence.SnapshotStarted();
        _rewrite = save;
        _rewriteScheduled = false;
        _rewriteRdbPreamble = Config.AofUseRdbPreamble;
        Interlocked.Exchange(ref _rewriteStartUnix, NowUnix);
        Log.Notice($"Background append only file rewriting started by pid {Environment.ProcessId}");
        save.Completion.Task.ContinueWith(t => RewriteDone(save, temp, t.Result), TaskScheduler.Default);
        return true;
    }

    /// <summary>Valkey's openNewIncrAofForAppend.</summary>
    private bool OpenNewIncrForAppend()
    {
        if (_state == State.Off) return true;
        AofManifest? am = null;
        string name;
        if (_state == State.WaitRewrite) name = AofManifest.TempIncrName(Config.AppendFilename);
        else
        {
            am = _manifest.Clone();
            name = am.NewIncr(Config.AppendFilename);
        }
        SafeFileHandle handle;
        try
        {
            handle = OpenForAppend(Path.Combine(Directory, name), truncate: true, out _);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Can't open the append-only file {name}: {e.Message}");
            return false;
        }
        if (am is not null && !Persist(am))
        {
            handle.Dispose();
            return false;
        }
        Log.Notice($"Creating AOF incr file {name} on background rewrite");
        if (_current is { } c)
        {
            Interlocked.Add(ref _otherFilesSize, c.Writer.FileSize);
            c.Writer.SwitchTo(handle, name);
        }
        else Attach(NewWriter(handle, name, 0));
        if (am is not null) _manifest = am;
        return true;
    }

    /// <summary>Valkey's backgroundRewriteDoneHandler.</summary>
    private void RewriteDone(BackgroundSave save, string tempPath, bool ok)
    {
        lock (_server.DataLock)
        {
            if (_rewrite != save) return;
            _rewrite = null;
            Interlocked.Exchange(ref _lastCowBytes, save.CopyOnWriteBytes);
            string tempName = Path.GetFileName(tempPath);
            bool success = false;
            if (ok)
            {
                Log.Notice("Background AOF rewrite terminated with success");
                success = InstallNewBase(tempPath, tempName);
            }
            else if (save.Error is not null)
            {
                Log.Warning($"Write error writing append only file on disk: {save.Error}");
                Log.Warning("Background AOF rewrite terminated with error");
                _lastRewriteOk = false;
                Interlocked.Increment(ref _consecutiveFailures);
            }
            else
            {
                // Stopped on purpose (FLUSHALL, SWAPDB, shutdown): like Valkey's child killed by SIGUSR1, not a failure.
                Log.Warning($"Background AOF rewrite stopped: {save.AbortReason}");
            }
            TryDelete(tempPath);
            if (!success && _state == State.WaitRewrite)
            {
                // Turning AOF on needs a BASE: try again from the cron, with a fresh snapshot.
                Detach(flush: false);
                Log.Notice($"Removing the temp incr aof file {AofManifest.TempIncrName(Config.AppendFilename)} in the background");
                TryDelete(Path.Combine(Directory, AofManifest.TempIncrName(Config.AppendFilename)));
                _rewriteScheduled = true;
            }
            Interlocked.Exchange(ref _lastRewriteSeconds, NowUnix - Interlocked.Read(ref _rewriteStartUnix));
            Interlocked.Exchange(ref _rewriteStartUnix, -1);
        }
    }

    private bool InstallNewBase(string tempPath, string tempName)
    {
        var am = _manifest.Clone();
        string baseName = am.NewBase(Config.AppendFilename, _rewriteRdbPreamble);
        string basePath = Path.Combine(Directory, baseName);
        try
        {
            File.Move(tempPath, basePath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Error trying to rename the temporary AOF base file {tempName} into {basePath}: {e.Message}");
            return Failed();
        }
        Log.Notice($"Successfully renamed the temporary AOF base file {tempName} into {baseName}");
        string? incrPath = null;
        if (_state == State.WaitRewrite)
        {
            string tempIncr = AofManifest.TempIncrName(Config.AppendFilename);
            string incrName = am.NewIncr(Config.AppendFilename);
            incrPath = Path.Combine(Directory, incrName);
            try
            {
                File.Move(Path.Combine(Directory, tempIncr), incrPath, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Log.Warning($"Error trying to rename the temporary AOF incr file {tempIncr} into {incrName}: {e.Message}");
                TryDelete(basePath);
                return Failed();
            }
            _current?.Writer.Renamed(incrName);
            Log.Notice($"Successfully renamed the temporary AOF incr file {tempIncr} into {incrName}");
        }
        am.MarkRewrittenIncrsAsHistory(keepLast: _current is not null);
        if (!Persist(am))
        {
            TryDelete(basePath);
            if (incrPath is not null) TryDelete(incrPath);
            return Failed();
        }
        _manifest = am;
        if (_state != State.Off)
        {
            Interlocked.Exchange(ref _otherFilesSize, SizeOf(baseName));
            Interlocked.Exchange(ref _baseSize, CurrentSize);
        }
        DeleteHistoryFiles();
        _lastRewriteOk = true;
        Interlocked.Exchange(ref _consecutiveFailures, 0);
        Log.Notice("Background AOF rewrite finished successfully");
        if (_state == State.WaitRewrite) _state = State.On;
        return true;
    }

    private bool Failed()
    {
        _lastRewriteOk = false;
        Interlocked.Increment(ref _consecutiveFailures);
        return false;
    }

    /// <summary>Valkey's aofRewriteLimited: after 3 failures in a row, automatic retries back off from 1 minute to 1 hour.</summary>
    private bool RewriteLimited()
    {
        if (Interlocked.Read(ref _consecutiveFailures) < RewriteLimitThreshold)
        {
            _nextDelayMinutes = 0;
            _nextRewriteUnix = 0;
            return false;
        }
        long now = NowUnix;
        if (_nextRewriteUnix != 0)
        {
            if (now < _nextRewriteUnix) return true;
            _nextRewriteUnix = 0;
            return false;
        }
        _nextDelayMinutes = Math.Min(_nextDelayMinutes == 0 ? 1 : _nextDelayMinutes * 2, RewriteLimitMaxMinutes);
        _nextRewriteUnix = now + _nextDelayMinutes * 60;
        Log.Warning($"Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {_nextDelayMinutes} minutes");
        return true;
    }

    /// <summary>Stops a running rewrite without installing anything (caller holds the data lock).</summary>
    private void KillRewrite(string reason)
    {
        if (_rewrite is not { } r) return;
        Log.Notice($"Killing running AOF rewrite child: {Environment.ProcessId}");
        _rewrite = null;
        r.Abort(reason);
        Interlocked.Exchange(ref _rewriteStartUnix, -1);
    }

    /// <summary>serverCron's part: scheduled and automatic rewrites.</summary>
    private void CronTick()
    {
        if (_server.IsShuttingDown) return;
        lock (_server.DataLock)
        {
            if (_rewrite is not null || _server.Persistence.BackgroundSaveInProgress) return;
            if (_rewriteScheduled && !RewriteLimited())
            {
                StartRewrite();
                return;
            }
            long perc = Config.AutoAofRewritePercentage;
            long size = CurrentSize;
            if (_state == State.On && perc > 0 && size > Config.AutoAofRewriteMinSize)
            {
                long baseSize = Math.Max(1, Interlocked.Read(ref _baseSize));
                long growth = size * 100 / baseSize - 100;
                if (growth >= perc && !RewriteLimited())
                {
                    Log.Notice($"Starting automatic rewriting of AOF on {growth}% growth");
                    StartRewrite();
                }
            }
        }
    }

    // ----- commands and config -----

    /// <summary>BGREWRITEAOF. Returns the status reply, or null after writing an error through <paramref name="error"/>.</summary>
    public string? BgRewriteCommand(bool inTransaction, out string? error)
    {
        error = null;
        if (_rewrite is not null)
        {
            error = "ERR Background append only file rewriting already in progress";
            return null;
        }
        if (_server.Persistence.BackgroundSaveInProgress || inTransaction)
        {
            _rewriteScheduled = true;
            // A rewrite asked for by hand may run at once, whatever the failures before.
            Interlocked.Exchange(ref _consecutiveFailures, 0);
            Log.Notice("Background append only file rewriting scheduled.");
            return "Background append only file rewriting scheduled";
        }
        if (StartRewrite()) return "Background append only file rewriting started";
        error = "ERR Can't execute an AOF background rewriting. Please check the server logs for more information.";
        return null;
    }

    /// <summary>CONFIG SET appendonly: Valkey's startAppendOnly / stopAppendOnly.</summary>
    public string? ApplyAppendOnly()
    {
        if (!Config.AppendOnly && _state != State.Off) Stop();
        else if (Config.AppendOnly && _state == State.Off && !Start())
            return "Unable to turn on AOF. Check server logs.";
        return null;
    }

    private bool Start()
    {
        _state = State.WaitRewrite;
        if (_server.Persistence.BackgroundSaveInProgress)
        {
            _rewriteScheduled = true;
            Log.Notice("AOF was enabled but there is already another background operation. An AOF background was scheduled to start when possible.");
        }
        else if (_server.Propagator.InNestedUnit)
        {
            _rewriteScheduled = true;
            Log.Notice("AOF was enabled during a transaction. An AOF background was scheduled to start when possible.");
        }
        else
        {
            if (_rewrite is not null)
            {
                Log.Notice("AOF was enabled but there is already an AOF rewriting in background. Stopping background AOF and starting a rewrite now.");
                KillRewrite("AOF was turned on");
            }
            if (!StartRewrite())
            {
                _state = State.Off;
                Log.Warning("The server needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.");
                return false;
            }
        }
        if (_lastWriteFailed)
        {
            Log.Warning("AOF reopen, just ignore the last error.");
            _lastWriteFailed = false;
        }
        return true;
    }

    private void Stop()
    {
        Detach(flush: true);
        _state = State.Off;
        Interlocked.Exchange(ref _otherFilesSize, 0);
        if (_rewriteScheduled)
        {
            _rewriteScheduled = false;
            Log.Notice("AOF was disabled but there is a scheduled AOF background, cancel it.");
        }
        if (_rewrite is not null)
        {
            KillRewrite("AOF was turned off");
            TryDelete(Path.Combine(Directory, AofManifest.TempIncrName(Config.AppendFilename)));
        }
    }

    /// <summary>SHUTDOWN, SIGTERM, server stop: the rewrite is dropped and the AOF written and fsynced.</summary>
    public void Shutdown()
    {
        if (_rewrite is not null)
        {
            Log.Warning("There is a child rewriting the AOF. Killing it!");
            KillRewrite("the server is shutting down");
        }
        if (_current is null) return;
        Log.Notice("Calling fsync() on the AOF file.");
        Detach(flush: true);
    }

    /// <summary>DEBUG LOADAOF: write what is buffered, empty the data set and load the AOF back. Null or the error reply.</summary>
    public string? DebugLoadAof()
    {
        _current?.Writer.FlushAndSync();
        _server.Persistence.CancelBackgroundSave("DEBUG LOADAOF");
        foreach (var db in _server.Databases) db.Clear();
        if (!LoadManifestFromDisk()) return "ERR Error trying to load the AOF files, check server logs.";
        DeleteHistoryFiles();
        var propagator = _server.Propagator;
        propagator.Paused = true;
        AofLoadStatus status;
        (string? File, long Length) truncated;
        // Loading as far as other clients can tell: a script that runs past its time limit in the
        // replay lets them in, and they get -LOADING (Valkey's processEventsWhileBlocked).
        _server.Loading.Start(0, async: false);
        try
        {
            status = LoadFiles(_manifest, out truncated);
        }
        finally
        {
            _server.Loading.Stop();
            propagator.Paused = false;
        }
        if (truncated.File is not null && _current is { } c) c.Writer.Truncated(truncated.File, truncated.Length);
        if (status is not (AofLoadStatus.Ok or AofLoadStatus.Empty))
            return "ERR Error trying to load the AOF files, check server logs.";
        _server.Keyspace.Dirty = 0;
        Log.Notice("Append Only File loaded by DEBUG LOADAOF");
        return null;
    }
}
