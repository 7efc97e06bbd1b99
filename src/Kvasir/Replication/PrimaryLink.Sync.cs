using System.Text;
using Kvasir.Keyspace;

namespace Kvasir.Replication;

/// <summary>
/// The full resynchronisation on the replica's side: the image read from the link ("$length" or
/// "$EOF:mark"), to a file or straight into the loader per repl-diskless-load, loaded apart from
/// the live data and installed; and Valkey 8's dual-channel variant, where the image comes on a
/// second connection while the main one already receives the stream that follows it.
/// </summary>
internal sealed partial class PrimaryLink
{
    private Persistence.KeyLoadPacer? _pacerInstance;
    private Persistence.KeyLoadPacer _pacer => _pacerInstance ??= new Persistence.KeyLoadPacer(_server.Config);
    private long _pendingPeak;
    // A dual-channel image finished loading (the PSYNC answer may come after it).
    private bool _imageLoaded;

    /// <summary>Stream bytes buffered on the main channel during a dual-channel load (replicas_repl_buffer_size).</summary>
    public long PendingStreamBytes => _rdb is not null ? _main.End - _main.Start : 0;
    public long PendingStreamPeak => _pendingPeak;

    /// <summary>+FULLRESYNC on the main link: the image follows on it, then the stream.</summary>
    private async Task FullSyncAsync(string primaryReplId, long primaryOffset)
    {
        var (loaded, result, diskless) = await ReceiveImageAsync(_main, primaryReplId);
        lock (_server.DataLock)
        {
            if (_stopped) throw new LinkFailure("");
            Install(loaded, result, diskless);
            int streamDb = int.TryParse(result.AuxText("repl-stream-db"), out int db) ? db : -1;
            _repl.FullSyncDone(primaryReplId, primaryOffset);
            Establish(streamDb);
            Log.Notice("PRIMARY <-> REPLICA sync: Finished with success");
            _server.Persistence.Aof.RestartAfterSync();
        }
    }

    /// <summary>
    /// +DUALCHANNELSYNC: a second connection asks for the image (REPLCONF rdb-channel, SYNC) and is
    /// told where it ends ($ENDOFF offset replid db client-id); the main link then continues from
    /// there with PSYNC, and what it receives is buffered while the image loads, then applied.
    /// </summary>
    private async Task DualChannelSyncAsync()
    {
        var cfg = _server.Config;
        var rdb = new LinkChannel(TouchIo);
        lock (_server.DataLock)
        {
            if (_stopped) throw new LinkFailure("");
            _rdb = rdb;
        }
        try
        {
            await rdb.ConnectAsync(Host, Port, cfg.ReplTimeout, TlsOptions());
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException or ArgumentException)
        {
            throw new LinkFailure($"Unable to connect to Primary: {e.Message}");
        }
        if (cfg.PrimaryAuth.Length > 0)
        {
            await rdb.SendAsync(cfg.PrimaryUser.Length > 0 ? Resp("AUTH", cfg.PrimaryUser, cfg.PrimaryAuth) : Resp("AUTH", cfg.PrimaryAuth));
            string auth = await rdb.ReadLineAsync();
            if (auth.StartsWith('-')) throw new LinkFailure($"Unable to AUTH to Primary: {auth}");
        }
        string port = (cfg.ReplicaAnnouncePort != 0 ? cfg.ReplicaAnnouncePort : _server.BoundPort).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await rdb.SendAsync(Resp("REPLCONF", "capa", "eof", "rdb-only", "1", "rdb-channel", "1", "listening-port", port));
        string conf = await rdb.ReadLineAsync();
        if (conf.StartsWith('-'))
        {
            Log.Notice($"Server does not support sync with offset, dual channel sync approach cannot be used: {conf}");
            throw new LinkFailure("");
        }
        await rdb.SendAsync("SYNC\r\n"u8.ToArray());
        string endoff;
        do endoff = await rdb.ReadLineAsync();
        while (endoff.Length == 0);
        var parts = endoff.Split(' ');
        if (!endoff.StartsWith("$ENDOFF:", StringComparison.Ordinal) || parts.Length != 4 ||
            !long.TryParse(parts[0]["$ENDOFF:".Length..], out long offset) || parts[1].Length != 40 ||
            !int.TryParse(parts[2], out int dbid) || !long.TryParse(parts[3], out long rdbClientId))
            throw new LinkFailure($"Received unexpected $ENDOFF response: {endoff}");
        string replid = parts[1];

        // The main link continues from the image's end (REPLCONF set-rdb-client-id, PSYNC) while the
        // image is read: the primary may answer before, during or after the load.
        var psync = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stopPump = new CancellationTokenSource();
        var pump = PsyncThenBufferAsync(replid, offset, rdbClientId, psync, stopPump.Token);
        // The pump runs until the load is over; ending before that means the main channel failed
        // (or its PSYNC was refused): the image is of no use then, so the load stops at once, as
        // Valkey's replica aborts the sync (and the primary sees its image channel go).
        _ = pump.ContinueWith(_ =>
        {
            if (stopPump.IsCancellationRequested) return;
            Log.Warning("Aborting dual channel sync. Main channel is closed");
            rdb.Close();
        }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        Database[] loaded;
        Persistence.RdbLoadResult result;
        bool diskless;
        try
        {
            (loaded, result, diskless) = await ReceiveImageAsync(rdb, replid);
            // The image channel has done its work: closing it now tells the primary (which keeps
            // the stream for the main channel a grace period longer, not forever).
            rdb.Close();
            if (!psync.Task.IsCompleted) Log.Debug("Dual channel sync - waiting for the main channel's PSYNC after the RDB load");
            bool established = await psync.Task.WaitAsync(TimeSpan.FromSeconds(Math.Max(1, cfg.ReplTimeout)));
            if (!established) throw new LinkFailure("");
        }
        catch (TimeoutException)
        {
            throw new LinkFailure("Timeout waiting for the main channel's PSYNC answer");
        }
        finally
        {
            stopPump.Cancel();
            try { await pump; }
            catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException or LinkFailure) { }
        }
        lock (_server.DataLock)
        {
            if (_stopped) throw new LinkFailure("");
            Install(loaded, result, diskless);
            _repl.FullSyncDone(replid, offset);
            Establish(dbid);
            Log.Notice("Successfully streamed replication data into memory");
            Log.Notice("PRIMARY <-> REPLICA sync: Finished with success");
            _server.Persistence.Aof.RestartAfterSync();
            _rdb = null;
        }
        rdb.Close();
    }

    /// <summary>
    /// During a dual-channel load: reads the main link into its buffer, up to the replica class's
    /// output buffer hard limit (past it the primary's socket waits, as Valkey stops reading).
    /// </summary>
    private async Task PsyncThenBufferAsync(string replid, long offset, long rdbClientId, TaskCompletionSource<bool> psync, CancellationToken stop)
    {
        try
        {
            await _main.SendAsync(Resp("REPLCONF", "set-rdb-client-id", rdbClientId.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            string set = await _main.ReadLineAsync().WaitAsync(stop);
            if (set.StartsWith('-'))
            {
                Log.Warning($"Dual channel sync failed with error {set}");
                psync.TrySetResult(false);
                return;
            }
            string next = (offset + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            _server.Debug.PauseProcessIfRequested(Log);
            Log.Notice($"Trying a partial resynchronization using main channel (request {replid}:{next}).");
            await _main.SendAsync(Resp("PSYNC", replid, next));
            string answer;
            do answer = await _main.ReadLineAsync().WaitAsync(stop);
            while (answer.Length == 0);
            if (!answer.StartsWith("+CONTINUE", StringComparison.Ordinal))
            {
                Log.Warning($"Dual channel sync failed with error {answer}");
                psync.TrySetResult(false);
                return;
            }
            bool loadedAlready;
            lock (_server.DataLock) loadedAlready = _imageLoaded;
            if (loadedAlready) Log.Debug("Dual channel sync - psync established after rdb load");
            psync.TrySetResult(true);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            psync.TrySetResult(false);
            return;
        }
        await BufferStreamAsync(stop);
    }

    private async Task BufferStreamAsync(CancellationToken stop)
    {
        var limit = _server.Config.ClientOutputBufferLimits[(int)Config.ClientBufferClass.Replica].HardBytes;
        bool told = false;
        while (!stop.IsCancellationRequested)
        {
            long pending = _main.End - _main.Start;
            if (pending > _pendingPeak) _pendingPeak = pending;
            if (limit > 0 && pending >= limit)
            {
                if (!told) Log.Notice("Replication buffer limit reached, stopping buffering.");
                told = true;
                await Task.Delay(100, stop);
                continue;
            }
            int before = _main.End - _main.Start;
            if (!await _main.ReceiveMoreAsync(stop)) throw new LinkFailure("");
            lock (_server.DataLock)
            {
                ReadOffset += _main.End - _main.Start - before;
                _server.Stats.NetReplInputBytes += _main.End - _main.Start - before;
            }
        }
    }

    /// <summary>Under the data lock: the loaded data set replaces the live one.</summary>
    private void Install(Database[] loaded, Persistence.RdbLoadResult result, bool diskless)
    {
        _server.Persistence.InstallLoaded(loaded, result);
        // Cluster mode: the primary's open slots (migrating/importing) come with its image.
        _server.Cluster?.DecodeOpenSlots(result.AuxText("cluster-slot-states"));
        _server.Keyspace.Dirty++;
        _server.Loading.Stop();
        _loading = false;
        if (_server.Config.ReplDisklessLoad == "swapdb" && diskless) Log.Notice("PRIMARY <-> REPLICA sync: Discarding old DB in background");
    }

    /// <summary>Reads the image header from <paramref name="ch"/> and loads the image (to disk first, or from the socket).</summary>
    private async Task<(Database[] Loaded, Persistence.RdbLoadResult Result, bool Diskless)> ReceiveImageAsync(LinkChannel ch, string primaryReplId)
    {
        lock (_server.DataLock)
        {
            if (_stopped) throw new LinkFailure("");
            State = LinkState.Transfer;
            _imageLoaded = false;
            Interlocked.Exchange(ref _transferSize, -1);
            Interlocked.Exchange(ref _transferRead, 0);
            TouchIo();
        }
        string header;
        do header = await ch.ReadLineAsync();
        while (header.Length == 0);
        if (header.StartsWith('-')) throw new LinkFailure($"PRIMARY aborted replication with an error: {header[1..]}");
        if (!header.StartsWith('$'))
            throw new LinkFailure($"Bad protocol from PRIMARY, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?");
        byte[]? mark = null;
        long size = -1;
        if (header.StartsWith("$EOF:", StringComparison.Ordinal) && header.Length >= 5 + EofMarkSize)
            mark = Encoding.ASCII.GetBytes(header.Substring(5, EofMarkSize));
        else if (!long.TryParse(header.AsSpan(1), out size) || size < 0)
            throw new LinkFailure($"Bad protocol from PRIMARY, the first byte is not '$' (we received '{header}'), are you sure the host and port are right?");
        Interlocked.Exchange(ref _transferSize, mark is null ? size : 0);

        bool diskless;
        lock (_server.DataLock) diskless = UseDisklessLoad();
        if (mark is not null) Log.Notice($"PRIMARY <-> REPLICA sync: receiving streamed RDB from primary with EOF {(diskless ? "to parser" : "to disk")}");
        else Log.Notice($"PRIMARY <-> REPLICA sync: receiving {size} bytes from primary {(diskless ? "to parser" : "to disk")}");

        if (diskless)
        {
            var (loaded, result) = await LoadFromSocketAsync(ch, primaryReplId, size, mark);
            lock (_server.DataLock) _imageLoaded = true;
            return (loaded, result, true);
        }
        var (fromFile, fileResult) = await LoadFromFileAsync(await ReceiveToFileAsync(ch, size, mark));
        lock (_server.DataLock) _imageLoaded = true;
        return (fromFile, fileResult, false);
    }

    /// <summary>Valkey's useDisklessLoad: swapdb and flush-before-load always, on-empty-db while the data set is empty.</summary>
    private bool UseDisklessLoad()
    {
        string mode = _server.Config.ReplDisklessLoad;
        if (mode is "swapdb" or "flush-before-load") return true;
        if (mode != "on-empty-db") return false;
        foreach (var db in _server.Databases)
            if (db.Count > 0) return false;
        return true;
    }

    /// <summary>Disk-based load: the image goes to a temporary file first, the data keeps being served meanwhile.</summary>
    private async Task<string> ReceiveToFileAsync(LinkChannel ch, long size, byte[]? mark)
    {
        string dir = _server.Config.Dir;
        string path = "";
        FileStream? file = null;
        for (int tries = 0; tries < 5 && file is null; tries++)
        {
            path = Path.Combine(dir, $"temp-{NowUnix}.{Environment.ProcessId}.rdb");
            try
            {
                file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous);
            }
            catch (IOException) when (tries < 4)
            {
                await Task.Delay(1000);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new LinkFailure($"Opening the temp file needed for PRIMARY <-> REPLICA synchronization: {e.Message}");
            }
        }
        bool ok = false;
        try
        {
            await using (file!)
            {
                var tail = new byte[EofMarkSize];
                int tailLength = 0;
                long written = 0;
                while (true)
                {
                    if (mark is null && written == size) break;
                    if (ch.Start == ch.End && !await ch.ReceiveMoreAsync()) throw new LinkFailure("I/O error trying to sync with PRIMARY: connection lost");
                    int n = ch.End - ch.Start;
                    if (mark is null) n = (int)Math.Min(n, size - written);
                    var chunk = ch.Buffer.AsMemory(ch.Start, n);
                    await file!.WriteAsync(chunk);
                    ch.Start += n;
                    written += n;
                    Interlocked.Exchange(ref _transferRead, written);
                    if (mark is null) continue;
                    // The mark ends the image: the primary sends nothing more before our first ACK.
                    UpdateTail(tail, ref tailLength, chunk.Span);
                    if (tailLength == EofMarkSize && tail.AsSpan().SequenceEqual(mark))
                    {
                        file!.SetLength(written - EofMarkSize);
                        break;
                    }
                }
                file!.Flush(flushToDisk: true);
            }
            ok = true;
            return path;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new LinkFailure($"Write error or short write writing to the DB dump file needed for PRIMARY <-> REPLICA synchronization: {e.Message}");
        }
        finally
        {
            if (!ok) TryDelete(path);
        }
    }

    private static void UpdateTail(byte[] tail, ref int tailLength, ReadOnlySpan<byte> data)
    {
        if (data.Length >= tail.Length)
        {
            data[^tail.Length..].CopyTo(tail);
            tailLength = tail.Length;
            return;
        }
        int keep = Math.Min(tailLength, tail.Length - data.Length);
        tail.AsSpan(tailLength - keep, keep).CopyTo(tail);
        data.CopyTo(tail.AsSpan(keep));
        tailLength = keep + data.Length;
    }

    private async Task<(Database[], Persistence.RdbLoadResult)> LoadFromFileAsync(string tempPath)
    {
        string rdbPath = _server.Persistence.RdbPath;
        lock (_server.DataLock)
        {
            if (_stopped)
            {
                TryDelete(tempPath);
                throw new LinkFailure("");
            }
            try
            {
                File.Move(tempPath, rdbPath, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                TryDelete(tempPath);
                throw new LinkFailure($"Failed trying to rename the temp DB into {_server.Config.DbFilename} in PRIMARY <-> REPLICA synchronization: {e.Message}");
            }
            _repl.AttachToNewPrimary();
            Log.Notice("PRIMARY <-> REPLICA sync: Flushing old data");
            FlushLiveData();
            long length = new FileInfo(rdbPath).Length;
            _server.Loading.Start(length, async: false);
            _loading = true;
            Log.Notice("PRIMARY <-> REPLICA sync: Loading DB in memory");
        }
        var (loaded, result) = await Task.Factory.StartNew(() =>
        {
            using var file = new FileStream(rdbPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.SequentialScan);
            var dbs = _server.Persistence.LoadDetached(file, LoadProgress, out var r);
            return (dbs, r);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (loaded is null)
        {
            lock (_server.DataLock)
            {
                Log.Warning("Failed trying to load the PRIMARY synchronization DB from disk, check server logs.");
                Log.Notice("PRIMARY <-> REPLICA sync: Discarding the half-loaded data");
            }
            throw new LinkFailure("");
        }
        return (loaded, result!);
    }

    /// <summary>
    /// Diskless load: the image is parsed as it arrives. With swapdb the old data keeps being served
    /// (async_loading when the primary's history is ours) and stays if the load fails; otherwise it
    /// is flushed first and the server answers -LOADING.
    /// </summary>
    private async Task<(Database[], Persistence.RdbLoadResult)> LoadFromSocketAsync(LinkChannel ch, string primaryReplId, long size, byte[]? mark)
    {
        bool swapdb;
        lock (_server.DataLock)
        {
            if (_stopped) throw new LinkFailure("");
            swapdb = _server.Config.ReplDisklessLoad == "swapdb";
            bool async = swapdb && string.Equals(_repl.ReplId, primaryReplId, StringComparison.OrdinalIgnoreCase);
            if (!swapdb)
            {
                _repl.AttachToNewPrimary();
                Log.Notice("PRIMARY <-> REPLICA sync: Flushing old data");
                FlushLiveData();
            }
            _server.Loading.Start(Math.Max(0, size), async);
            _loading = true;
            Log.Notice("PRIMARY <-> REPLICA sync: Loading DB in memory");
        }
        var stream = new ImageStream(this, ch, size);
        var (loaded, result, markOk) = await Task.Factory.StartNew(() =>
        {
            var dbs = _server.Persistence.LoadDetached(stream, LoadProgress, out var r);
            bool good = true;
            if (dbs is not null)
            {
                stream.GiveBackUnread(r!.BytesRead);
                if (mark is not null)
                {
                    Span<byte> got = stackalloc byte[EofMarkSize];
                    good = stream.ReadMark(got) && got.SequenceEqual(mark);
                    if (!good) Log.Warning("Replication stream EOF marker is broken");
                }
                else
                {
                    stream.SkipRest();
                }
            }
            return (dbs, r, good);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        if (loaded is null || !markOk)
        {
            lock (_server.DataLock)
            {
                Log.Warning("Failed trying to load the PRIMARY synchronization DB from socket, check server logs.");
                Log.Notice(swapdb ? "PRIMARY <-> REPLICA sync: Discarding temporary DB in background" : "PRIMARY <-> REPLICA sync: Discarding the half-loaded data");
            }
            throw new LinkFailure("");
        }
        if (swapdb)
        {
            lock (_server.DataLock)
            {
                if (_stopped) throw new LinkFailure("");
                _repl.AttachToNewPrimary();
                Log.Notice("PRIMARY <-> REPLICA sync: Swapping active DB with loaded DB");
            }
        }
        return (loaded, result!);
    }

    /// <summary>Loading progress, from the loading thread: keeps the transfer alive and honours key-load-delay.</summary>
    private void LoadProgress(long bytes)
    {
        _server.Loading.Progress(bytes);
        TouchIo();
        _pacer.KeyLoaded();
        if (_stopped) throw new IOException("the replication link was stopped");
    }

    /// <summary>Empties the live data set before a non-swapdb load (Valkey's emptyData).</summary>
    private void FlushLiveData()
    {
        foreach (var db in _server.Databases) db.Clear();
    }

    private static void TryDelete(string path)
    {
        if (path.Length == 0) return;
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>
    /// The image as the loader reads it, from a channel's buffer and socket: never past a sized
    /// image's end; after an $EOF image, what the loader read past the RDB's end is given back so
    /// the mark can be checked.
    /// </summary>
    private sealed class ImageStream(PrimaryLink link, LinkChannel ch, long size) : Stream
    {
        private long _handed;
        private int _lastChunkLength;

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (size >= 0 && _handed >= size) return 0;
            if (ch.Start == ch.End && !ch.ReceiveMoreBlocking(link._server.Config.ReplTimeout)) throw new IOException("connection lost");
            int n = Math.Min(count, ch.End - ch.Start);
            if (size >= 0) n = (int)Math.Min(n, size - _handed);
            Array.Copy(ch.Buffer, ch.Start, buffer, offset, n);
            _lastChunkLength = n;
            ch.Start += n;
            _handed += n;
            Interlocked.Exchange(ref link._transferRead, _handed);
            return n;
        }

        /// <summary>The loader consumed <paramref name="bytesRead"/>: the rest of its last read goes back to the buffer.</summary>
        public void GiveBackUnread(long bytesRead)
        {
            long over = _handed - bytesRead;
            if (over <= 0 || over > _lastChunkLength) return;
            // The last chunk still sits right before Start (nothing was received since it was handed out).
            ch.Start -= (int)over;
            _handed -= over;
        }

        public bool ReadMark(Span<byte> into)
        {
            int got = 0;
            while (got < into.Length)
            {
                if (ch.Start == ch.End && !ch.ReceiveMoreBlocking(link._server.Config.ReplTimeout)) return false;
                int n = Math.Min(into.Length - got, ch.End - ch.Start);
                ch.Buffer.AsSpan(ch.Start, n).CopyTo(into[got..]);
                ch.Start += n;
                got += n;
            }
            return true;
        }

        /// <summary>A sized image longer than what the loader needed: the rest is skipped.</summary>
        public void SkipRest()
        {
            var scratch = new byte[16 * 1024];
            while (size >= 0 && _handed < size && Read(scratch, 0, scratch.Length) > 0) { }
        }

        public override void Flush() { }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _handed; set => throw new NotSupportedException(); }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
