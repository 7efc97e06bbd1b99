using System.Diagnostics;
using System.Globalization;
using System.Text;
using Kvasir.Observability;

namespace Kvasir.Persistence;

/// <summary>
/// The server's RDB file: loading it at startup, SAVE, the save at SHUTDOWN and after FLUSHALL when
/// save points are configured, DEBUG RELOAD. Saving is synchronous and runs under the data lock, as
/// Valkey's SAVE does (BGSAVE without fork is designed in docs/PERSISTENCE.md). The file is written
/// to a temporary name, flushed to disk and renamed over the old one, so a crash mid-save never
/// leaves a truncated dump.
/// </summary>
public sealed class PersistenceManager
{
    private readonly KvasirServer _server;
    private long _saves;
    private long _lastLoadKeysLoaded;
    private long _lastLoadKeysExpired;

    public PersistenceManager(KvasirServer server)
    {
        _server = server;
        server.ShutdownSave = ShutdownSave;
        server.Keyspace.FlushedAll += SaveAfterFlushAll;
        var gauges = server.Stats.Gauges;
        gauges["rdb_saves"] = () => Interlocked.Read(ref _saves);
        gauges["rdb_last_load_keys_loaded"] = () => Interlocked.Read(ref _lastLoadKeysLoaded);
        gauges["rdb_last_load_keys_expired"] = () => Interlocked.Read(ref _lastLoadKeysExpired);
    }

    /// <summary>
    /// The RDB version SAVE writes (hidden config rdb-version): 11 by default, 10 so that Redis 7.0
    /// can load the file.
    /// </summary>
    public int WriteVersion => _server.Config.RdbVersion;

    /// <summary>Function libraries read from a file that could not be compiled here (no engine for
    /// their language yet); kept so the next save writes them back unchanged.</summary>
    public List<byte[]> UnloadedFunctionLibraries { get; } = new();

    /// <summary>dir + dbfilename.</summary>
    public string RdbPath => Path.Combine(_server.Config.Dir, _server.Config.DbFilename);

    private ServerLog Log => _server.Log;

    // ----- loading -----

    /// <summary>
    /// Valkey's loadDataFromDisk for the RDB case: loads dir/dbfilename when it exists. Returns false
    /// when the file exists but cannot be loaded; the reasons are logged and the server must not start.
    /// </summary>
    public bool LoadAtStartup()
    {
        var config = _server.Config;
        // With appendonly the AOF is the source of truth; the AOF loader is not written yet.
        if (config.AppendOnly) return true;
        var start = Stopwatch.GetTimestamp();
        var outcome = LoadFile(RdbPath, allowDuplicates: false);
        if (outcome == LoadOutcome.Loaded)
        {
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            Log.Notice($"DB loaded from disk: {seconds.ToString("F3", CultureInfo.InvariantCulture)} seconds");
        }
        return outcome != LoadOutcome.Failed;
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

        var config = _server.Config;
        var options = new RdbLoadOptions
        {
            Values = new ServerValueFactory(config, _server.Debug.QuicklistPackedThreshold == 1L << 30 ? 0 : _server.Debug.QuicklistPackedThreshold),
            Log = (level, message) => Log.Write(level, message),
            NowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            DropExpiredKeys = true,
            VerifyChecksum = config.RdbChecksum && !_server.Debug.SkipChecksumValidation,
            AllowDuplicateKeys = allowDuplicates,
        };
        using (file)
        {
            long dirty = _server.Keyspace.Dirty;
            try
            {
                var result = new RdbLoader(_server.Databases, options).Load(file);
                Interlocked.Exchange(ref _lastLoadKeysLoaded, result.KeysLoaded);
                Interlocked.Exchange(ref _lastLoadKeysExpired, result.KeysExpired);
                LoadFunctions(result, allowDuplicates);
                return LoadOutcome.Loaded;
            }
            catch (RdbException e)
            {
                ReportLoadError(e);
                return LoadOutcome.Failed;
            }
            catch (IOException e)
            {
                Log.Warning($"Short read or OOM loading DB. Unrecoverable error, aborting now. ({e.Message})");
                return LoadOutcome.Failed;
            }
            finally
            {
                // Loading is not a change of the data set (Valkey's dbAddRDBLoad leaves dirty alone).
                _server.Keyspace.Dirty = dirty;
            }
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
            if (_server.Functions.Load(code, replace, out string? error) is not null) continue;
            // No engine for the library's language yet: keep the code so it is not lost on the next save.
            Log.Warning($"Function library kept without loading it: {error}");
            UnloadedFunctionLibraries.Add(payload);
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
        return true;
    }

    /// <summary>SAVE: counts the attempt (rdb_saves) and saves.</summary>
    public bool SaveCommand()
    {
        Interlocked.Increment(ref _saves);
        return Save();
    }

    public RdbWriteOptions WriteOptions()
    {
        var config = _server.Config;
        string policy = config.MaxMemoryPolicy;
        var libraries = new List<byte[]>();
        foreach (var lib in _server.Functions.All) libraries.Add(Encoding.UTF8.GetBytes(lib.Code));
        libraries.AddRange(UnloadedFunctionLibraries);
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
        };
    }

    /// <summary>
    /// SHUTDOWN: save when save points are configured or SAVE was given (and NOSAVE was not, which
    /// the caller has checked). False when saving failed.
    /// </summary>
    private bool ShutdownSave(bool explicitSave)
    {
        if (_server.Config.Save.Count == 0 && !explicitSave) return true;
        Log.Notice("Saving the final RDB snapshot before exiting.");
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
        if (save && !Save()) return "ERR";
        if (flush)
        {
            foreach (var db in _server.Databases) db.Clear();
            _server.Functions.Clear();
            UnloadedFunctionLibraries.Clear();
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
