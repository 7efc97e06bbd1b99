using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Keyspace;
using Kvasir.Protocol;

namespace Kvasir.Replication;

/// <summary>
/// A replica's connection to its primary (Valkey's syncWithPrimary, readSyncBulkPayload and the
/// primary client): connect, handshake (PING, AUTH, REPLCONF listening-port / ip-address / capa /
/// version), PSYNC, then either +CONTINUE from the cached state or +FULLRESYNC with an image
/// ("$length" or "$EOF:mark"), received to disk or parsed straight from the socket per
/// repl-diskless-load and loaded apart from the live data (which keeps serving, or answers
/// -LOADING), and finally the stream: commands executed as the privileged primary client (no
/// replies, no ACL, never refused for OOM or read-only), their bytes, once applied, proxied to the
/// backlog and the sub-replicas byte for byte. A failed attempt is retried every second; a dropped
/// connected link at once, continuing with PSYNC. Timeouts are watched by <see cref="Cron"/>.
/// </summary>
internal sealed class PrimaryLink : IClientTransport
{
    public enum LinkState { Connect, Connecting, Handshake, Transfer, Connected }

    private const int MaxLine = 64 * 1024;
    private const int EofMarkSize = 40;

    private readonly KvasirServer _server;
    private readonly ReplicationManager _repl;
    private readonly RespParser _parser = new();
    private readonly CommandArgs _args = new();
    private readonly ConcurrentQueue<byte[]> _outbox = new();
    private volatile bool _stopped;
    private Socket? _socket;
    // tls-replication: the link's bytes go through this stream once connected.
    private System.Net.Security.SslStream? _tls;
    private int _sending;

    // Received bytes not yet consumed: [_start, _end). In the stream phase, [_applied, _start) holds
    // commands executed inside a MULTI not yet closed: proxied to sub-replicas only once applied.
    private const int InitialBuffer = 64 * 1024;
    private byte[] _buf = new byte[InitialBuffer];
    private int _start, _end, _applied;

    private CommandContext? _ctx;
    private long _lastIoUnix;
    private long _transferSize = -1, _transferRead;
    private bool _loading;

    public PrimaryLink(KvasirServer server, string host, int port)
    {
        _server = server;
        _repl = server.Replication;
        Host = host;
        Port = port;
    }

    public string Host { get; }
    public int Port { get; }

    /// <summary>Under the data lock.</summary>
    public LinkState State { get; private set; } = LinkState.Connect;

    public bool Connected => State == LinkState.Connected;

    /// <summary>The primary client while connected.</summary>
    public Client? MasterClient { get; private set; }

    /// <summary>The primary sent something that is not the protocol: the next sync is a full one.</summary>
    public bool ProtocolError { get; private set; }

    /// <summary>The database the primary's stream has selected.</summary>
    public int StreamDb => MasterClient?.DbIndex ?? -1;

    /// <summary>Bytes of the stream received (slave_read_repl_offset).</summary>
    public long ReadOffset { get; private set; }

    /// <summary>Unix seconds of the last byte from the primary once connected (master_last_io_seconds_ago).</summary>
    public long LastInteractionUnix { get; private set; }

    /// <summary>The primary answered SYNC only (too old for PSYNC): it wants no ACKs.</summary>
    public bool PrePsyncPrimary { get; private set; }

    public long TransferSize => Interlocked.Read(ref _transferSize);
    public long TransferRead => Interlocked.Read(ref _transferRead);
    public long LastIoUnix => Interlocked.Read(ref _lastIoUnix);

    /// <summary>ROLE's replication state: handshake, connect, connecting, sync or connected.</summary>
    public string RoleState => State switch
    {
        LinkState.Connect => "connect",
        LinkState.Connecting => "connecting",
        LinkState.Handshake => "handshake",
        LinkState.Transfer => "sync",
        _ => "connected",
    };

    private static long NowUnix => DateTimeOffset.UtcNow.ToUnixTimeSeconds();
    private void TouchIo() => Interlocked.Exchange(ref _lastIoUnix, NowUnix);
    private Observability.ServerLog Log => _server.Log;

    public void Start() => _ = Task.Run(RunAsync);

    /// <summary>Ends the link for good (under the data lock): REPLICAOF to another primary, or NO ONE.</summary>
    public void Stop()
    {
        _stopped = true;
        if (_loading)
        {
            _server.Loading.Stop();
            _loading = false;
        }
        CloseSocket();
    }

    /// <summary>Takes the primary client out of the client list (the caller has cached what it needs).</summary>
    public void DetachMasterClient()
    {
        var master = MasterClient;
        if (master is null) return;
        MasterClient = null;
        _ctx = null;
        if (master.Has(ClientFlags.Multi)) TransactionCommands.DiscardTransaction(new CommandContext(_server, master));
        _server.ClientClosed(master);
    }

    private void CloseSocket()
    {
        var s = _socket;
        if (s is null) return;
        try { _tls?.Dispose(); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        _tls = null;
        try { s.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        s.Dispose();
    }

    private async Task RunAsync()
    {
        while (!_stopped)
        {
            bool again;
            try
            {
                again = await AttemptAsync();
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or OperationCanceledException or LinkFailure)
            {
                if (e is LinkFailure { Message.Length: > 0 } f) Log.Warning(f.Message);
                else if (e is not LinkFailure && !_stopped) Log.Warning($"I/O error with the PRIMARY: {e.Message}");
                again = false;
            }
            catch (Exception e)
            {
                // Never let a replication fault take the process down: log it and retry.
                Log.Warning($"Replication link error: {e}");
                again = false;
            }
            bool wasConnected;
            lock (_server.DataLock)
            {
                CloseSocket();
                _socket = null;
                wasConnected = MasterClient is not null;
                if (_loading)
                {
                    _server.Loading.Stop();
                    _loading = false;
                }
                if (_stopped) return;
                _repl.LinkLost(this);
                State = LinkState.Connect;
                _start = _end = _applied = 0;
                Interlocked.Exchange(ref _transferSize, -1);
                if (wasConnected || again) Log.Notice($"Reconnecting to PRIMARY {Host}:{Port}");
            }
            if (!wasConnected && !again) await Task.Delay(1000);
        }
    }

    /// <summary>An error that ends the attempt; its message (if any) is logged as a warning.</summary>
    private sealed class LinkFailure(string message) : Exception(message);

    /// <summary>One attempt: connect, handshake, sync, stream. True when the next attempt should come at once.</summary>
    private async Task<bool> AttemptAsync()
    {
        lock (_server.DataLock)
        {
            if (_stopped) return false;
            State = LinkState.Connecting;
            TouchIo();
            Log.Notice("PRIMARY <-> REPLICA sync started");
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        _socket = socket;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Max(1, _server.Config.ReplTimeout)));
            await socket.ConnectAsync(Host, Port, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ArgumentException)
        {
            if (e is OperationCanceledException) throw new LinkFailure("Timeout connecting to the PRIMARY...");
            throw new LinkFailure($"Unable to connect to PRIMARY: {e.Message}");
        }
        if (_stopped) return false;
        socket.NoDelay = true;
        if (_server.Config.TlsReplication) await StartTlsAsync(socket);
        lock (_server.DataLock)
        {
            if (_stopped) return false;
            State = LinkState.Handshake;
            Log.Notice("Non blocking connect for SYNC fired the event.");
        }

        await SendAsync(Resp("PING"));
        string pong = await ReadLineAsync();
        if (!pong.StartsWith('+') && !pong.StartsWith("-NOAUTH", StringComparison.Ordinal) && !pong.StartsWith("-NOPERM", StringComparison.Ordinal) &&
            !pong.StartsWith("-ERR operation not permitted", StringComparison.Ordinal))
            throw new LinkFailure($"Error reply to PING from primary: '{pong}'");
        Log.Notice("Primary replied to PING, replication can continue...");

        var cfg = _server.Config;
        bool auth = cfg.PrimaryAuth.Length > 0;
        var handshake = new List<byte[]>();
        if (auth) handshake.Add(cfg.PrimaryUser.Length > 0 ? Resp("AUTH", cfg.PrimaryUser, cfg.PrimaryAuth) : Resp("AUTH", cfg.PrimaryAuth));
        int announcedPort = cfg.ReplicaAnnouncePort != 0 ? cfg.ReplicaAnnouncePort : _server.BoundPort;
        handshake.Add(Resp("REPLCONF", "listening-port", announcedPort.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        bool announceIp = cfg.ReplicaAnnounceIp.Length > 0;
        if (announceIp) handshake.Add(Resp("REPLCONF", "ip-address", cfg.ReplicaAnnounceIp));
        handshake.Add(cfg.DualChannelReplicationEnabled
            ? Resp("REPLCONF", "capa", "eof", "capa", "psync2", "capa", "dual-channel")
            : Resp("REPLCONF", "capa", "eof", "capa", "psync2"));
        handshake.Add(Resp("REPLCONF", "version", KvasirServer.ValkeyVersion));
        await SendAsync(Concat(handshake));
        if (auth)
        {
            string reply = await ReadLineAsync();
            if (reply.StartsWith('-')) throw new LinkFailure($"Unable to AUTH to PRIMARY: {reply}");
        }
        await NonCritical("REPLCONF listening-port");
        if (announceIp) await NonCritical("REPLCONF ip-address");
        await NonCritical("REPLCONF capa");
        await NonCritical("REPLCONF VERSION");

        // PSYNC from where the cached primary left, or "? -1" for a full resync.
        string psyncId;
        long psyncOffset;
        bool failover;
        lock (_server.DataLock)
        {
            if (_stopped) return false;
            failover = _repl.Failover.InProgress;
            if (_repl.PsyncRequest is { } req)
            {
                (psyncId, psyncOffset) = req;
                Log.Notice($"Trying a partial resynchronization (request {psyncId}:{psyncOffset}).");
            }
            else
            {
                (psyncId, psyncOffset) = ("?", -1);
                Log.Notice("Partial resynchronization not possible (no cached primary)");
            }
        }
        string offsetText = psyncOffset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await SendAsync(failover ? Resp("PSYNC", psyncId, offsetText, "FAILOVER") : Resp("PSYNC", psyncId, offsetText));
        string answer;
        do answer = await ReadLineAsync();
        while (answer.Length == 0); // newlines keep the link alive while the primary prepares

        if (answer.StartsWith("+CONTINUE", StringComparison.Ordinal))
        {
            Log.Notice("Successful partial resynchronization with primary.");
            string? newId = answer.Length >= 10 + 40 ? answer.Substring(10, 40) : null;
            lock (_server.DataLock)
            {
                if (_stopped) return false;
                var cached = _repl.ContinueFromCache(newId);
                if (cached is null) throw new LinkFailure("");
                _repl.Failover.PsyncAnswered(ok: true);
                Establish(cached.StreamDb);
                Log.Notice("PRIMARY <-> REPLICA sync: Primary accepted a Partial Resynchronization.");
            }
            await StreamAsync();
            return true;
        }

        string primaryReplId;
        long primaryOffset;
        if (answer.StartsWith("+FULLRESYNC", StringComparison.Ordinal))
        {
            var parts = answer.Split(' ');
            if (parts.Length < 3 || parts[1].Length != 40 || !long.TryParse(parts[2], out primaryOffset))
            {
                Log.Warning("Primary replied with wrong +FULLRESYNC syntax.");
                primaryReplId = ReplicationManager.NoId;
                primaryOffset = -1;
            }
            else
            {
                primaryReplId = parts[1];
                Log.Notice($"Full resync from primary: {primaryReplId}:{primaryOffset}");
            }
            lock (_server.DataLock) _repl.Failover.PsyncAnswered(ok: true);
        }
        else if (answer.StartsWith("-NOMASTERLINK", StringComparison.Ordinal) || answer.StartsWith("-LOADING", StringComparison.Ordinal))
        {
            Log.Notice($"Primary is currently unable to PSYNC but should be in the future: {answer}");
            lock (_server.DataLock) _repl.Failover.PsyncAnswered(ok: false);
            return false;
        }
        else
        {
            if (answer.StartsWith("-ERR", StringComparison.Ordinal)) Log.Notice($"Primary does not support PSYNC or is in error state (reply: {answer})");
            else Log.Warning($"Unexpected reply to PSYNC from primary: {answer}");
            lock (_server.DataLock) _repl.Failover.PsyncAnswered(ok: false);
            if (failover) return false;
            Log.Notice("Retrying with SYNC...");
            await SendAsync("SYNC\r\n"u8.ToArray());
            PrePsyncPrimary = true;
            primaryReplId = ReplicationManager.NoId;
            primaryOffset = -1;
        }

        await FullSyncAsync(primaryReplId, primaryOffset);
        await StreamAsync();
        return true;
    }

    private async Task NonCritical(string what)
    {
        string reply = await ReadLineAsync();
        if (reply.StartsWith('-')) Log.Notice($"(Non critical) Primary does not understand {what}: {reply}");
    }

    // ----- full sync -----

    /// <summary>Receives and loads the primary's image, then installs it as the data set.</summary>
    private async Task FullSyncAsync(string primaryReplId, long primaryOffset)
    {
        lock (_server.DataLock)
        {
            if (_stopped) throw new LinkFailure("");
            State = LinkState.Transfer;
            Interlocked.Exchange(ref _transferSize, -1);
            Interlocked.Exchange(ref _transferRead, 0);
            TouchIo();
        }
        string header;
        while (true)
        {
            header = await ReadLineAsync();
            if (header.Length > 0) break;
        }
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

        Database[]? loaded;
        Persistence.RdbLoadResult? result;
        if (diskless) (loaded, result) = await LoadFromSocketAsync(primaryReplId, size, mark);
        else (loaded, result) = await LoadFromFileAsync(await ReceiveToFileAsync(size, mark));

        lock (_server.DataLock)
        {
            if (_stopped) throw new LinkFailure("");
            _server.Persistence.InstallLoaded(loaded, result!);
            _server.Keyspace.Dirty++;
            _server.Loading.Stop();
            _loading = false;
            if (_server.Config.ReplDisklessLoad == "swapdb" && diskless) Log.Notice("PRIMARY <-> REPLICA sync: Discarding old DB in background");
            int streamDb = int.TryParse(result!.AuxText("repl-stream-db"), out int db) ? db : -1;
            _repl.FullSyncDone(primaryReplId, primaryOffset);
            Establish(streamDb);
            Log.Notice("PRIMARY <-> REPLICA sync: Finished with success");
            _server.Persistence.Aof.RestartAfterSync();
        }
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
    private async Task<string> ReceiveToFileAsync(long size, byte[]? mark)
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
                    if (_start == _end && !await ReceiveMoreAsync()) throw new LinkFailure("I/O error trying to sync with PRIMARY: connection lost");
                    int n = _end - _start;
                    if (mark is null) n = (int)Math.Min(n, size - written);
                    var chunk = _buf.AsMemory(_start, n);
                    await file!.WriteAsync(chunk);
                    _start += n;
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
    private async Task<(Database[], Persistence.RdbLoadResult)> LoadFromSocketAsync(string primaryReplId, long size, byte[]? mark)
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
        var stream = new ImageStream(this, size);
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
        int delay = _server.Config.KeyLoadDelay;
        // Valkey's debugDelay: microseconds per key (negative: one microsecond every -N keys). Sleeps
        // are whole milliseconds here, so the delay accumulates until it is worth one.
        if (delay > 0) _pendingDelayMicros += delay;
        else if (delay < 0 && Random.Shared.Next(-delay) == 0) _pendingDelayMicros++;
        if (_pendingDelayMicros >= 1000)
        {
            Thread.Sleep((int)(_pendingDelayMicros / 1000));
            _pendingDelayMicros %= 1000;
        }
        if (_stopped) throw new IOException("the replication link was stopped");
    }

    private long _pendingDelayMicros;

    /// <summary>Empties the live data set before a non-swapdb load (Valkey's emptyData).</summary>
    private void FlushLiveData()
    {
        foreach (var db in _server.Databases) db.Clear();
    }

    // ----- the stream -----

    /// <summary>Under the data lock: the primary client exists, the link is up, and the primary hears our offset.</summary>
    private void Establish(int streamDb)
    {
        var socket = _socket!;
        var master = new Client(_server.NextClientId(), this)
        {
            Flags = ClientFlags.Master,
            Authenticated = true,
            ReplyMode = ReplyMode.Off,
            DbIndex = streamDb >= 0 && streamDb < _server.Databases.Length ? streamDb : 0,
            RemoteEndPoint = socket.RemoteEndPoint,
            LocalEndPoint = socket.LocalEndPoint,
        };
        master.RemoteAddress = Networking.Connection.FormatEndPoint(socket.RemoteEndPoint);
        master.LocalAddress = Networking.Connection.FormatEndPoint(socket.LocalEndPoint);
        try { master.Fd = (int)socket.SafeHandle.DangerousGetHandle(); }
        catch (ObjectDisposedException) { }
        MasterClient = master;
        _ctx = new CommandContext(_server, master);
        _server.Clients.Add(master);
        State = LinkState.Connected;
        LastInteractionUnix = NowUnix;
        ReadOffset = _repl.Offset;
        _applied = _start;
        SendAck();
    }

    /// <summary>Reads the primary's stream and applies it until the link drops.</summary>
    private async Task StreamAsync()
    {
        while (!_stopped)
        {
            bool again;
            lock (_server.DataLock)
            {
                if (_stopped || MasterClient is null) return;
                again = ApplyBuffered();
            }
            FlushOutbox();
            if (again)
            {
                // A script past its busy threshold holds the data: the stream waits for it (Valkey's busy replica).
                await Task.Delay(10);
                continue;
            }
            int before = _end;
            if (!await ReceiveMoreAsync()) throw new LinkFailure("");
            int n = _end - before;
            lock (_server.DataLock)
            {
                ReadOffset += n;
                LastInteractionUnix = NowUnix;
                _server.Stats.NetReplInputBytes += n;
            }
        }
    }

    /// <summary>
    /// Under the data lock: executes every complete command received, then proxies what was applied
    /// (whole transactions only) to the backlog and sub-replicas. True when it stopped early because
    /// a busy script holds the data set.
    /// </summary>
    private bool ApplyBuffered()
    {
        var master = MasterClient!;
        var ctx = _ctx!;
        var ks = _server.Keyspace;
        bool busy = false;
        _server.UpdateClock();
        while (_start < _end)
        {
            if (_server.Scripts.Running)
            {
                busy = true;
                break;
            }
            int pos = _start;
            var status = _parser.Parse(_buf, ref pos, _end, _args, authenticated: true, long.MaxValue);
            if (status == ParseStatus.Incomplete) break;
            if (status == ParseStatus.Error)
            {
                Log.Warning($"Protocol error from the PRIMARY ({_parser.Error}): closing the replication link");
                ProtocolError = true;
                CloseSocket();
                break;
            }
            _start = pos;
            if (_args.Count > 0)
            {
                ks.ObeyPrimary = true;
                try
                {
                    _server.Dispatcher.Execute(ctx, _args);
                }
                finally
                {
                    ks.ObeyPrimary = false;
                }
                _server.AdvanceClock();
            }
            if (!master.Has(ClientFlags.Multi)) ProxyApplied();
        }
        return busy;
    }

    /// <summary>What was applied since the last call joins the backlog and goes to the sub-replicas, byte for byte.</summary>
    private void ProxyApplied()
    {
        if (_start == _applied) return;
        _repl.FeedFromPrimary(_buf.AsSpan(_applied, _start - _applied));
        _applied = _start;
    }

    /// <summary>REPLCONF ACK offset [FACK aof-offset] to the primary (under the data lock).</summary>
    public void SendAck()
    {
        var master = MasterClient;
        if (master is null || PrePsyncPrimary) return;
        string offset = _repl.Offset.ToString(System.Globalization.CultureInfo.InvariantCulture);
        long fsynced = _server.Persistence.Aof.FsyncedReplicationOffset;
        byte[] ack = fsynced >= 0
            ? Resp("REPLCONF", "ACK", offset, "FACK", fsynced.ToString(System.Globalization.CultureInfo.InvariantCulture))
            : Resp("REPLCONF", "ACK", offset);
        _outbox.Enqueue(ack);
        OutputAvailable();
    }

    /// <summary>A newline to the primary while this replica loads its image, so the primary does not time it out.</summary>
    private void SendNewline()
    {
        _outbox.Enqueue("\n"u8.ToArray());
        FlushOutbox();
    }

    // ----- watchdog (replicationCron's replica half, under the data lock) -----

    public void Cron()
    {
        long now = NowUnix;
        int timeout = _server.Config.ReplTimeout;
        switch (State)
        {
            case LinkState.Connecting or LinkState.Handshake when now - LastIoUnix > timeout:
                Log.Warning("Timeout connecting to the PRIMARY...");
                CloseSocket();
                break;
            case LinkState.Transfer when _loading:
                SendNewline();
                break;
            case LinkState.Transfer when now - LastIoUnix > timeout:
                Log.Warning("Timeout receiving bulk data from PRIMARY... If the problem persists try to set the 'repl-timeout' parameter in valkey.conf to a larger value.");
                CloseSocket();
                break;
            case LinkState.Connected when now - LastInteractionUnix > timeout:
                Log.Warning("PRIMARY timeout: no data nor PING received...");
                CloseSocket();
                break;
            case LinkState.Connected:
                SendAck();
                break;
        }
    }

    // ----- I/O -----

    /// <summary>tls-replication: the TLS handshake with the primary (our client certificate, its certificate checked against our CA).</summary>
    private async Task StartTlsAsync(Socket socket)
    {
        var tls = new System.Net.Security.SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Max(1, _server.Config.ReplTimeout)));
            await tls.AuthenticateAsClientAsync(_server.Tls.ClientOptions(Host), timeout.Token);
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or InvalidOperationException)
        {
            await tls.DisposeAsync();
            throw new LinkFailure($"Unable to connect to PRIMARY over TLS: {e.Message}");
        }
        _tls = tls;
    }

    /// <summary>Receives more bytes at the end of the buffer (growing or compacting it). False when the peer closed.</summary>
    private async Task<bool> ReceiveMoreAsync()
    {
        var socket = _socket ?? throw new LinkFailure("");
        MakeRoom();
        int n = _tls is { } tls ? await tls.ReadAsync(_buf.AsMemory(_end)) : await socket.ReceiveAsync(_buf.AsMemory(_end), SocketFlags.None);
        if (n <= 0) return false;
        _end += n;
        TouchIo();
        return true;
    }

    /// <summary>Synchronous receive for the loading thread (the socket's receive timeout is repl-timeout).</summary>
    private bool ReceiveMoreBlocking()
    {
        var socket = _socket ?? throw new IOException("the replication link was closed");
        MakeRoom();
        socket.ReceiveTimeout = Math.Max(1, _server.Config.ReplTimeout) * 1000;
        int n = _tls is { } tls ? tls.Read(_buf, _end, _buf.Length - _end) : socket.Receive(_buf, _end, _buf.Length - _end, SocketFlags.None);
        if (n <= 0) return false;
        _end += n;
        TouchIo();
        return true;
    }

    private void MakeRoom()
    {
        int keepFrom = State == LinkState.Connected ? _applied : _start;
        if (keepFrom == _end && !_parser.InCommand && _buf.Length > InitialBuffer)
        {
            // Everything was consumed: a buffer grown for a big command goes back to its usual size.
            _buf = new byte[InitialBuffer];
            _start = _end = _applied = 0;
            return;
        }
        if (_end < _buf.Length) return;
        int live = _end - keepFrom;
        if (live < _buf.Length / 2)
        {
            Array.Copy(_buf, keepFrom, _buf, 0, live);
        }
        else
        {
            var bigger = new byte[_buf.Length * 2];
            Array.Copy(_buf, keepFrom, bigger, 0, live);
            _buf = bigger;
        }
        _parser.Shift(keepFrom);
        // The arguments already parsed out of an incomplete command point into the old bytes.
        if (_parser.InCommand) _args.Rebase(_buf, keepFrom);
        _start -= keepFrom;
        _applied = Math.Max(0, _applied - keepFrom);
        _end = live;
    }

    private async Task<string> ReadLineAsync()
    {
        while (true)
        {
            int nl = Array.IndexOf(_buf, (byte)'\n', _start, _end - _start);
            if (nl >= 0)
            {
                int stop = nl > _start && _buf[nl - 1] == '\r' ? nl - 1 : nl;
                string line = Encoding.UTF8.GetString(_buf, _start, stop - _start);
                _start = nl + 1;
                TouchIo();
                return line;
            }
            if (_end - _start > MaxLine) throw new LinkFailure("Bad protocol from PRIMARY: a line too long");
            if (!await ReceiveMoreAsync()) throw new LinkFailure("Primary did not respond to command during SYNC handshake");
        }
    }

    private async Task SendAsync(byte[] bytes)
    {
        var socket = _socket ?? throw new LinkFailure("");
        if (_tls is { } tls)
        {
            await tls.WriteAsync(bytes);
            return;
        }
        int sent = 0;
        while (sent < bytes.Length) sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
    }

    public void OutputAvailable()
    {
        // ACKs come through the outbox; anything else a command wrote for the primary is dropped
        // (a replica never answers its primary).
        MasterClient?.Reply.Clear();
        FlushOutbox();
    }

    private void FlushOutbox()
    {
        if (_outbox.IsEmpty || Interlocked.Exchange(ref _sending, 1) != 0) return;
        _ = Task.Run(async () =>
        {
            try
            {
                while (_outbox.TryDequeue(out var bytes))
                {
                    var socket = _socket;
                    if (socket is null) break;
                    try
                    {
                        await SendAsync(bytes);
                        Interlocked.Add(ref _server.Stats.NetReplOutputBytes, bytes.Length);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException or LinkFailure or IOException)
                    {
                        break;
                    }
                }
            }
            finally
            {
                Interlocked.Exchange(ref _sending, 0);
                if (!_outbox.IsEmpty && _socket is not null) FlushOutbox();
            }
        });
    }

    public void Close() => CloseSocket();

    public void Resume() { }

    public bool PeerHasClosed() => false;

    private static byte[] Resp(params string[] args)
    {
        var sb = new StringBuilder();
        sb.Append('*').Append(args.Length).Append("\r\n");
        foreach (var a in args)
        {
            int len = Encoding.UTF8.GetByteCount(a);
            sb.Append('$').Append(len).Append("\r\n").Append(a).Append("\r\n");
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static byte[] Concat(List<byte[]> parts)
    {
        var all = new byte[parts.Sum(p => p.Length)];
        int at = 0;
        foreach (var p in parts)
        {
            p.CopyTo(all, at);
            at += p.Length;
        }
        return all;
    }

    private static void TryDelete(string path)
    {
        if (path.Length == 0) return;
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>
    /// The image as the loader reads it, from the link's buffer and socket: never past a sized
    /// image's end; after an $EOF image, what the loader read past the RDB's end is given back so
    /// the mark can be checked.
    /// </summary>
    private sealed class ImageStream(PrimaryLink link, long size) : Stream
    {
        private long _handed;
        private int _lastChunkLength;

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (size >= 0 && _handed >= size) return 0;
            if (link._start == link._end && !link.ReceiveMoreBlocking()) throw new IOException("connection lost");
            int n = Math.Min(count, link._end - link._start);
            if (size >= 0) n = (int)Math.Min(n, size - _handed);
            Array.Copy(link._buf, link._start, buffer, offset, n);
            _lastChunkLength = n;
            link._start += n;
            _handed += n;
            Interlocked.Exchange(ref link._transferRead, _handed);
            return n;
        }

        /// <summary>The loader consumed <paramref name="bytesRead"/>: the rest of its last read goes back to the buffer.</summary>
        public void GiveBackUnread(long bytesRead)
        {
            long over = _handed - bytesRead;
            if (over <= 0 || over > _lastChunkLength) return;
            // The last chunk still sits right before _start (nothing was received since it was handed out).
            link._start -= (int)over;
            _handed -= over;
        }

        public bool ReadMark(Span<byte> into)
        {
            int got = 0;
            while (got < into.Length)
            {
                if (link._start == link._end && !link.ReceiveMoreBlocking()) return false;
                int n = Math.Min(into.Length - got, link._end - link._start);
                link._buf.AsSpan(link._start, n).CopyTo(into[got..]);
                link._start += n;
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
