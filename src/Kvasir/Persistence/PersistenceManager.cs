using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kvasir.Observability;

namespace Kvasir.Persistence;

/// <summary>
/// The server's RDB file: loading it at startup, SAVE, BGSAVE and the save points, the save at
/// SHUTDOWN and after FLUSHALL when save points are configured, DEBUG RELOAD. SAVE is synchronous
/// under the data lock, as Valkey's; BGSAVE writes a point-in-time image while commands go on
/// (<see cref="BackgroundSave"/>, docs/PERSISTENCE.md). The file is written
/// to a temporary name, flushed to disk and renamed over the old one, so a crash mid-save never
/// leaves a truncated dump.
/// </summary>
public sealed class PersistenceManager
{
    private readonly KvasirServer _server;
    private long _saves;
    private long _lastLoadKeysLoaded;
    private long _lastLoadKeysExpired;
    private BackgroundSave? _bgsave;
    private bool _bgsaveScheduled;
    private bool _lastBgsaveOk = true;
    private long _lastBgsaveTryUnix;
    private long _lastBgsaveSeconds = -1;
    private long _lastCowBytes;

    /// <summary>Seconds to wait after a failed background save before save points may try again.</summary>
    private const int BgsaveRetryDelay = 5;

    private long _snapshots;

    /// <summary>
    /// A background snapshot started (BGSAVE, an AOF rewrite, an image for replicas): what Valkey
    /// counts as a fork in INFO total_forks, since that is where Valkey forks.
    /// </summary>
    public void SnapshotStarted() => Interlocked.Increment(ref _snapshots);

    public PersistenceManager(KvasirServer server)
    {
        _server = server;
        Aof = new Aof.AppendOnlyFile(server);
        server.ShutdownSave = ShutdownSave;
        server.Keyspace.FlushedAll += SaveAfterFlushAll;
        var gauges = server.Stats.Gauges;
        gauges["rdb_saves"] = () => Interlocked.Read(ref _saves);
        gauges["total_forks"] = () => Interlocked.Read(ref _snapshots);
        gauges["rdb_last_load_keys_loaded"] = () => Interlocked.Read(ref _lastLoadKeysLoaded);
        gauges["rdb_last_load_keys_expired"] = () => Interlocked.Read(ref _lastLoadKeysExpired);
        // An image being made for replicas counts too, as Valkey's RDB child does.
        gauges["rdb_bgsave_in_progress"] = () => _bgsave is null && server.Replication.Job is null ? 0 : 1;
        gauges["rdb_last_bgsave_failed"] = () => _lastBgsaveOk ? 0 : 1;
        gauges["rdb_last_bgsave_time_sec"] = () => Interlocked.Read(ref _lastBgsaveSeconds);
        gauges["rdb_current_bgsave_time_sec"] = () =>
            _bgsave is { } b ? (long)Stopwatch.GetElapsedTime(b.StartedAt).TotalSeconds : -1;
        // Bytes that writes had to serialize for a running save: the fork-less copy-on-write.
        gauges["rdb_last_cow_size"] = () => Interlocked.Read(ref _lastCowBytes);
        server.Tick += CronTick;
    }

    /// <summary>
    /// The RDB version SAVE writes (hidden config rdb-version): 11 by default, 10 so that Redis 7.0
    /// can load the file.
    /// </summary>
    public int WriteVersion => _server.Config.RdbVersion;

    /// <summary>The multi-part append-only file (appendonly, BGREWRITEAOF, DEBUG LOADAOF).</summary>
    public Aof.AppendOnlyFile Aof { get; }

    /// <summary>
    /// Why writes (and PING) must be refused because data cannot be persisted (Valkey's
    /// writeCommandsDeniedByDiskError): the last background save failed while save points are set and
    /// stop-writes-on-bgsave-error is on, or writing the AOF fails. Null when nothing is wrong.
    /// </summary>
    public string? DiskErrorRefusal()
    {
        var cfg = _server.Config;
        if (cfg.StopWritesOnBgsaveError && cfg.Save.Count > 0 && !_lastBgsaveOk)
            return "MISCONF Valkey is configured to save RDB snapshots, but it's currently unable to persist to disk. " +
                   "Commands that may modify the data set are disabled, because this instance is configured to report errors " +
                   "during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Valkey logs " +
                   "for details about the RDB error.";
        if (cfg.AppendOnly && Aof.LastWriteError is { } error) return "MISCONF Errors writing to the AOF file: " + error;
        return null;
    }

    /// <summary>dir + dbfilename.</summary>
    public string RdbPath => Path.Combine(_server.Config.Dir, _server.Config.DbFilename);

    private ServerLog Log => _server.Log;

    // ----- loading -----

    /// <summary>
    /// The AOF at start (appendonly yes), before clients are served: its commands replay into the
    /// live data set. The dump file is loaded by <see cref="LoadRdbAtStartupAsync"/> instead.
    /// </summary>
    public bool LoadAofAtStartup() => Aof.LoadAtStartup();

    /// <summary>
    /// The dump file at start, with the ports already open as in Valkey (which loads after
    /// listening): meanwhile clients get <c>-LOADING</c> (after the first
    /// loading-process-events-interval-bytes) and INFO shows the loading_* fields. The image is
    /// read on a thread of its own into fresh databases that replace the empty live ones under the
    /// data lock at the end. False when the file exists and cannot be loaded (the start fails).
    /// </summary>
    public async Task<bool> LoadRdbAtStartupAsync()
    {
        var start = Stopwatch.GetTimestamp();
        FileStream file;
        try
        {
            file = new FileStream(RdbPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Fatal error: can't open the RDB file {_server.Config.DbFilename} for reading: {Describe(e)}");
            return false;
        }
        // A primary drops keys that expired while it was down; its replicas learn it with DELs.
        var expired = _server.Config.ReplicaOfHost.Length == 0 ? new List<(int, byte[])>() : null;
        lock (_server.DataLock) _server.Loading.Start(file.Length, async: false);
        try
        {
            var (loaded, result) = await Task.Factory.StartNew(() =>
            {
                using (file)
                {
                    var pacer = new KeyLoadPacer(_server.Config);
                    var dbs = LoadDetached(file, bytes =>
                    {
                        _server.Loading.Progress(bytes);
                        pacer.KeyLoaded();
                    }, out var r, dropExpiredKeys: true, expired);
                    return (dbs, r);
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            if (loaded is null) return false;
            lock (_server.DataLock)
            {
                long dirty = _server.Keyspace.Dirty;
                InstallLoaded(loaded, result!);
                // Loading is not a change of the data set (Valkey's dbAddRDBLoad leaves dirty alone).
                _server.Keyspace.Dirty = dirty;
                LastLoad = result;
                Interlocked.Exchange(ref _lastLoadKeysLoaded, result!.KeysLoaded);
                Interlocked.Exchange(ref _lastLoadKeysExpired, result.KeysExpired);
                double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                Log.Notice($"DB loaded from disk: {seconds.ToString("F3", CultureInfo.InvariantCulture)} seconds");
                // The replication history saved with the data lets this server continue it (PSYNC).
                _server.Replication.RestoreFromImage(result, expired);
            }
            return true;
        }
        finally
        {
            lock (_server.DataLock) _server.Loading.Stop();
        }
    }

    public enum LoadOutcome { Loaded, NotFound, Failed }

    /// <summary>Loads an RDB file into the (normally empty) databases, logging as Valkey does.</summary>
    public LoadOutcome LoadFile(string path, bool allowDuplicates)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.SequentialScan);
        }
        catch (FileNotFoundException)
        {
            return LoadOutcome.NotFound;
        }
        catch (DirectoryNotFoundException)
        {
            return LoadOutcome.NotFound;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Fatal error: can't open the RDB file {_server.Config.DbFilename} for reading: {Describe(e)}");
            return LoadOutcome.Failed;
        }

        using (file) return LoadStream(file, allowDuplicates, dropExpiredKeys: true, out _);
    }

    /// <summary>The aux fields of the last image loaded by <see cref="LoadStream"/> (replication history at start).</summary>
    internal RdbLoadResult? LastLoad { get; private set; }

    /// <summary>
    /// Loads an RDB image from <paramref name="stream"/> (a dump file, or the RDB base / preamble of
    /// an AOF, whose keys stay even when expired: the AOF tail decides their fate). On success
    /// <paramref name="bytesRead"/> is where the image ended.
    /// </summary>
    internal LoadOutcome LoadStream(Stream stream, bool allowDuplicates, bool dropExpiredKeys, out long bytesRead)
    {
        bytesRead = 0;
        var config = _server.Config;
        var options = new RdbLoadOptions
        {
            Values = new ServerValueFactory(config, _server.Debug.QuicklistPackedThreshold == 1L << 30 ? 0 : _server.Debug.QuicklistPackedThreshold),
            Log = (level, message) => Log.Write(level, message),
            NowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            DropExpiredKeys = dropExpiredKeys,
            VerifyChecksum = config.RdbChecksum && !_server.Debug.SkipChecksumValidation,
            AllowDuplicateKeys = allowDuplicates,
        };
        long dirty = _server.Keyspace.Dirty;
        var loader = new RdbLoader(_server.Databases, options);
        bool noGc = BeginLoadGcPause(stream);
        try
        {
            var result = loader.Load(stream);
            LastLoad = result;
            bytesRead = result.BytesRead;
            Interlocked.Exchange(ref _lastLoadKeysLoaded, result.KeysLoaded);
            Interlocked.Exchange(ref _lastLoadKeysExpired, result.KeysExpired);
            LoadFunctions(result, allowDuplicates);
            return LoadOutcome.Loaded;
        }
        catch (RdbException e)
        {
            LogFailurePosition(stream, e.Offset, e.Message, e.Key, e.TypeId, loader.Progress.KeysLoaded);
            ReportLoadError(e);
            return LoadOutcome.Failed;
        }
        catch (IOException e)
        {
            Log.Warning($"Short read or OOM loading DB. Unrecoverable error, aborting now. ({e.Message})");
            LogFailurePosition(stream, SafePosition(stream), e.Message, null, -1, loader.Progress.KeysLoaded);
            return LoadOutcome.Failed;
        }
        finally
        {
            // Loading is not a change of the data set (Valkey's dbAddRDBLoad leaves dirty alone).
            _server.Keyspace.Dirty = dirty;
            EndLoadGcPause(noGc);
        }
    }

    /// <summary>
    /// Loads an image from a primary into fresh databases, apart from the live ones (which keep
    /// serving, or stay empty, meanwhile): the replica side of a full sync. Keys past their TTL are
    /// kept (the primary's DEL decides). Returns null when the image cannot be loaded (logged);
    /// <see cref="InstallLoaded"/> puts a loaded set in place under the data lock.
    /// </summary>
    internal Keyspace.Database[]? LoadDetached(Stream stream, Action<long>? progress, out RdbLoadResult? result,
        bool dropExpiredKeys = false, List<(int Db, byte[] Key)>? expiredKeys = null)
    {
        result = null;
        var config = _server.Config;
        var context = new Keyspace.KeyspaceContext { NowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
        var dbs = new Keyspace.Database[_server.Databases.Length];
        for (int i = 0; i < dbs.Length; i++) dbs[i] = new Keyspace.Database(i, context);
        var options = new RdbLoadOptions
        {
            Values = new ServerValueFactory(config, _server.Debug.QuicklistPackedThreshold == 1L << 30 ? 0 : _server.Debug.QuicklistPackedThreshold),
            Log = (level, message) => Log.Write(level, message),
            NowMs = context.NowMs,
            DropExpiredKeys = dropExpiredKeys,
            VerifyChecksum = config.RdbChecksum && !_server.Debug.SkipChecksumValidation,
            KeyLoaded = progress,
            ExpiredKeyDropped = expiredKeys is { } list ? (db, key) => list.Add((db, key)) : null,
        };
        var loader = new RdbLoader(dbs, options);
        // The same GC treatment as a load at start (BeginLoadGcPause): everything loaded survives.
        bool noGc = BeginLoadGcPause(stream);
        try
        {
            result = loader.Load(stream);
            return dbs;
        }
        catch (RdbException e)
        {
            LogFailurePosition(stream, e.Offset, e.Message, e.Key, e.TypeId, loader.Progress.KeysLoaded);
            ReportLoadError(e);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
        {
            Log.Warning($"Short read or OOM loading DB. Unrecoverable error, aborting now. ({e.Message})");
        }
        finally
        {
            EndLoadGcPause(noGc);
        }
        return null;
    }

    /// <summary>
    /// Under the data lock: replaces the live data set with one loaded by <see cref="LoadDetached"/>,
    /// function libraries included. The old content goes the way of a flush (WATCH, blocked clients
    /// and running saves see the change).
    /// </summary>
    internal void InstallLoaded(Keyspace.Database[] loaded, RdbLoadResult result)
    {
        var live = _server.Databases;
        for (int i = 0; i < live.Length; i++)
        {
            live[i].Clear();
            live[i].SwapContents(loaded[i]);
        }
        if (loaded.Length > 0) loaded[0].Context.VolatileHashes.MoveTo(_server.Keyspace.VolatileHashes);
        _server.Scripts.FlushLibraries();
        try
        {
            LoadFunctions(result, replace: true);
        }
        catch (RdbException e)
        {
            Log.Warning($"Function libraries of the loaded data set were not restored: {e.Message}");
        }
        Interlocked.Exchange(ref _lastLoadKeysLoaded, result.KeysLoaded);
        Interlocked.Exchange(ref _lastLoadKeysExpired, result.KeysExpired);
    }

    /// <summary>
    /// Everything a load allocates survives, so collections during it only mark and copy live
    /// objects again and again (a 1M-key mixed file: 16 gen0 + 16 gen1 + 4 gen2 collections, about
    /// 400 ms of pauses). The load runs in a no-GC region sized from the file when the runtime grants
    /// one (past that size the runtime collects and leaves the region by itself), and one gen0
    /// collection at the end promotes what was loaded (regions are promoted in place: 40-250 ms).
    /// </summary>
    private static bool BeginLoadGcPause(Stream stream)
    {
        long size;
        try { size = stream.CanSeek ? stream.Length - stream.Position : 0; }
        catch (NotSupportedException) { size = 0; }
        if (size < 1 << 20) return false;
        // Loaded data takes 1.1x (big strings) to 5x (small collections: objects, tables) the file;
        // the budget is address space until used, and stays under half the memory.
        long budget = Math.Min(Math.Max(size * 6, 256L << 20), GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2);
        try
        {
            return GC.TryStartNoGCRegion(budget);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or InvalidOperationException)
        {
            return false;
        }
    }

    private static void EndLoadGcPause(bool started)
    {
        if (!started) return;
        try
        {
            if (System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
        catch (InvalidOperationException) { } // the budget ran out and the runtime already left the region
        // Promote what was loaded now rather than in the first collection while serving clients.
        GC.Collect(0, GCCollectionMode.Forced, blocking: true, compacting: false);
    }

    /// <summary>
    /// One line naming the file, the byte offset and what was being read, so an operator can find
    /// the damage (Valkey prints valkey-check-rdb's report for the same purpose).
    /// </summary>
    private void LogFailurePosition(Stream stream, long offset, string reason, string? key, int typeId, long keysLoaded)
    {
        string path = stream is FileStream file ? Path.GetFullPath(file.Name) : "(stream)";
        string where = key is null ? "" : $", while reading key '{key}' of type {typeId} ({RdbFormat.TypeName(typeId)})";
        Log.Warning($"RDB file {path} cannot be loaded: {reason} at byte offset {offset}{where}; {keysLoaded} keys were read before it. Nothing was loaded.");
    }

    private static long SafePosition(Stream file)
    {
        try
        {
            return file.Position;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
            return -1;
        }
    }

    /// <summary>Logs a failed load the way Valkey reports it before exiting.</summary>
    private void ReportLoadError(RdbException e)
    {
        if (!e.Reported)
        {
            Log.Warning(e.Message);
            Log.Warning("Fatal error loading the DB, check server logs. Exiting.");
            return;
        }
        if (!e.IsCorruption && e.Message == "Unexpected EOF reading RDB file")
            Log.Warning("Short read or OOM loading DB. Unrecoverable error, aborting now.");
        Log.Warning($"Internal error in RDB reading offset {e.Offset}, function at rdbLoad -> {e.Message}");
        if (e.Key is not null)
            Log.Warning($"While reading key '{e.Key}' of type {(e.TypeId >= 0 ? e.TypeId.ToString(CultureInfo.InvariantCulture) : "?")} ({RdbFormat.TypeName(e.TypeId)})");
        Log.Warning("Terminating server after rdb file reading failure.");
    }

    private void LoadFunctions(RdbLoadResult result, bool replace)
    {
        foreach (var payload in result.FunctionLibraries)
        {
            string code = Encoding.UTF8.GetString(payload);
            // As Valkey: a library that cannot be created (it exists already without MERGE, its
            // engine is unknown, it does not compile) fails the whole load.
            if (_server.Functions.Load(code, replace, out string? error) is null)
                throw new RdbException($"Failed loading library: {error}", isCorruption: false, reported: false);
        }
    }

    // ----- saving -----

    /// <summary>
    /// Valkey's rdbSave: writes the whole data set to dir/dbfilename. The caller holds the data lock.
    /// On success the dirty counter restarts at zero and LASTSAVE moves; failures are logged and
    /// leave the previous file in place.
    /// </summary>
    public bool Save()
    {
        var config = _server.Config;
        string tempName = $"temp-{Environment.ProcessId}.rdb";
        string tempPath = Path.Combine(config.Dir, tempName);
        FileStream file;
        try
        {
            file = new FileStream(tempPath, FileMode.Create, FileAccess.Write, FileShare.None, 1);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            Log.Warning($"Failed opening the temp RDB file {tempName} (in server root dir {config.Dir}) for saving: {Describe(e)}");
            return false;
        }

        string step = "rdbSaveRio";
        try
        {
            using (file)
            {
                RdbWriter.Write(file, _server.Databases, WriteOptions());
                step = "fsync";
                file.Flush(flushToDisk: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or InvalidOperationException)
        {
            Log.Warning($"Write error while saving DB to the disk({step}): {Describe(e)}");
            TryDelete(tempPath);
            return false;
        }

        try
        {
            File.Move(tempPath, RdbPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Warning($"Error moving temp DB file {tempName} on the final destination {config.DbFilename} (in server root dir {config.Dir}): {Describe(e)}");
            TryDelete(tempPath);
            return false;
        }

        Log.Notice("DB saved on disk");
        _server.Keyspace.Dirty = 0;
        _server.LastSaveUnix = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        // A successful save clears a failed background save's MISCONF, as in Valkey's rdbSave.
        _lastBgsaveOk = true;
        return true;
    }

    /// <summary>True while a BGSAVE (or a save point's background save) is running.</summary>
    public bool BackgroundSaveInProgress => _bgsave is not null;

    /// <summary>SAVE: counts the attempt (rdb_saves) and saves. Returns null or the error reply.</summary>
    public string? SaveCommand()
    {
        if (_bgsave is not null) return "ERR Background save already in progress";
        Interlocked.Increment(ref _saves);
        return Save() ? null : "ERR";
    }

    // ----- background saves -----

    /// <summary>
    /// Valkey's rdbSaveBackground (caller holds the data lock): takes a point-in-time image and
    /// writes it on a background thread while commands go on. False when one is already running.
    /// </summary>
    public bool StartBackgroundSave()
    {
        // One snapshot at a time, as Valkey runs one child at a time.
        if (_bgsave is not null || Aof.RewriteInProgress) return false;
        Interlocked.Increment(ref _saves);
        _lastBgsaveTryUnix = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        BackgroundSave save;
        try
        {
            save = new BackgroundSave(_server, WriteOptions(), RdbPath);
            save.Start();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _lastBgsaveOk = false;
            Log.Warning($"Can't save in background: {Describe(e)}");
            return false;
        }
        _bgsave = save;
        _bgsaveScheduled = false;
        SnapshotStarted();
        Log.Notice($"Background saving started by pid {Environment.ProcessId}");
        save.Completion.Task.ContinueWith(t => BackgroundSaveDone(save, t.Result), TaskScheduler.Default);
        return true;
    }

    private void BackgroundSaveDone(BackgroundSave save, bool ok)
    {
        lock (_server.DataLock)
        {
            if (_bgsave != save) return;
            _bgsave = null;
            Interlocked.Exchange(ref _lastBgsaveSeconds, (long)Stopwatch.GetElapsedTime(save.StartedAt).TotalSeconds);
            Interlocked.Exchange(ref _lastCowBytes, save.CopyOnWriteBytes);
            if (ok)
            {
                Log.Notice("Background saving terminated with success");
                // Changes made while the image was being written still count toward the next save.
                var ks = _server.Keyspace;
                ks.Dirty = Math.Max(0, ks.Dirty - save.DirtyAtStart);
                _server.LastSaveUnix = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
                _lastBgsaveOk = true;
            }
            else if (save.Error is not null)
            {
                Log.Warning($"Write error saving DB on disk: {save.Error}");
                Log.Warning("Background saving error");
                _lastBgsaveOk = false;
            }
            else
            {
                // Stopped on purpose (BGSAVE CANCEL, FLUSHALL, shutdown): not a failure, as for Valkey's killed child.
                Log.Warning($"Background saving terminated: {save.AbortReason}");
            }
        }
    }

    /// <summary>BGSAVE CANCEL and the paths that make a running save pointless (caller holds the data lock).</summary>
    public bool CancelBackgroundSave(string reason)
    {
        if (_bgsave is null) return false;
        _bgsave.Abort(reason);
        return true;
    }

    /// <summary>BGSAVE SCHEDULE, or BGSAVE inside a transaction: the cron starts it.</summary>
    public void ScheduleBackgroundSave() => _bgsaveScheduled = true;

    /// <summary>Cancels a scheduled save; false when none was scheduled.</summary>
    public bool CancelScheduledBackgroundSave()
    {
        if (!_bgsaveScheduled) return false;
        _bgsaveScheduled = false;
        return true;
    }

    /// <summary>Waits until the running background save ends (tests, SHUTDOWN paths outside the lock).</summary>
    public Task<bool> BackgroundSaveCompletion => _bgsave?.Completion.Task ?? Task.FromResult(true);

    /// <summary>serverCron's part: the save points, and a scheduled BGSAVE.</summary>
    private void CronTick()
    {
        if (_server.IsShuttingDown) return;
        lock (_server.DataLock)
        {
            if (_bgsave is not null || Aof.RewriteInProgress) return;
            long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            bool mayRetry = now - _lastBgsaveTryUnix > BgsaveRetryDelay || _lastBgsaveOk;
            long dirty = _server.Keyspace.Dirty;
            foreach (var (seconds, changes) in _server.Config.Save)
            {
                if (dirty >= changes && now - _server.LastSaveUnix > seconds && mayRetry)
                {
                    Log.Notice($"{changes} changes in {seconds} seconds. Saving...");
                    StartBackgroundSave();
                    return;
                }
            }
            if (_bgsaveScheduled && mayRetry) StartBackgroundSave();
        }
    }

    /// <summary>
    /// How a snapshot of the data set as it is now is written (caller holds the data lock: the RDB
    /// version depends on whether hashes have field TTLs); <paramref name="aofBase"/> marks the base
    /// of an AOF (aux aof-base 1).
    /// </summary>
    public RdbWriteOptions WriteOptions(bool aofBase = false)
    {
        var config = _server.Config;
        string policy = config.MaxMemoryPolicy;
        var libraries = new List<byte[]>();
        foreach (var lib in _server.Functions.All) libraries.Add(Encoding.UTF8.GetBytes(lib.Code));
        return new RdbWriteOptions
        {
            Version = WriteVersion,
            Compress = config.RdbCompression,
            Checksum = config.RdbChecksum,
            SaveLruIdle = policy is "allkeys-lru" or "volatile-lru",
            SaveLfuFrequency = policy is "allkeys-lfu" or "volatile-lfu",
            ListMaxListpackSize = config.ListMaxListpackSize,
            ListPackedThreshold = _server.Debug.QuicklistPackedThreshold,
            UsedMemory = MemoryAccounting.UsedMemory(_server),
            FunctionLibraries = libraries,
            AofBase = aofBase,
            Replication = aofBase ? null : _server.Replication.SaveInfo(),
        }.ForContent(_server.Databases);
    }

    /// <summary>
    /// SHUTDOWN: save when save points are configured or SAVE was given (and NOSAVE was not, which
    /// the caller has checked). False when saving failed.
    /// </summary>
    private bool ShutdownSave(bool explicitSave)
    {
        if (_bgsave is not null)
        {
            Log.Warning("There is a child saving an .rdb. Killing it!");
            CancelBackgroundSave("the server is shutting down");
        }
        if (_server.Config.Save.Count == 0 && !explicitSave) return true;
        Log.Notice("Saving the final RDB snapshot before exiting.");
        _server.Systemd?.Notify("STATUS=Saving the final RDB snapshot\n");
        return Save();
    }

    /// <summary>FLUSHALL with save points configured writes the (now empty) snapshot right away.</summary>
    private void SaveAfterFlushAll()
    {
        if (_server.Config.Save.Count > 0) Save();
    }

    // ----- DEBUG RELOAD -----

    /// <summary>
    /// DEBUG RELOAD: save (unless <paramref name="save"/> is false), empty the data set (unless
    /// <paramref name="flush"/> is false), load the file back (replacing existing keys when
    /// <paramref name="merge"/>). Returns null on success or the error reply.
    /// </summary>
    public string? Reload(bool save, bool flush, bool merge)
    {
        CancelBackgroundSave("DEBUG RELOAD");
        if (save && !Save()) return "ERR";
        if (flush)
        {
            foreach (var db in _server.Databases) db.Clear();
            _server.Scripts.FlushLibraries();
        }
        if (LoadFile(RdbPath, merge) != LoadOutcome.Loaded) return "ERR Error trying to load the RDB dump, check server logs.";
        Log.Notice("DB reloaded by DEBUG RELOAD");
        return null;
    }

    private static string Describe(Exception e) => e switch
    {
        FileNotFoundException or DirectoryNotFoundException => "No such file or directory",
        UnauthorizedAccessException => "Permission denied",
        _ => e.Message,
    };

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
}
