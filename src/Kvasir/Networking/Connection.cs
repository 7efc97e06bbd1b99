using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Protocol;

namespace Kvasir.Networking;

/// <summary>
/// One client socket. The receive loop parses every complete command in what arrived, takes the
/// data lock once for the whole batch, executes it, and starts sending the replies after releasing
/// the lock (DESIGN §3). It does not wait for the send to finish before reading on, so a client that
/// pipelines a lot before reading never deadlocks against its own replies (as Valkey, which keeps
/// reading while output is pending); only a very large unsent backlog makes it wait. Output written
/// by other clients (MONITOR, pub/sub, unblocked pops) goes into the same reply buffer under the data
/// lock and is flushed by whichever side is not already sending.
/// </summary>
public sealed class Connection : IClientTransport, System.Threading.Tasks.Sources.IValueTaskSource
{
    private const int InitialBufferSize = 16 * 1024;
    private const int MaxBatch = 512;
    /// <summary>Unsent reply bytes above which the receive loop waits for the socket before reading more.</summary>
    private const int OutputHighWater = 64 * 1024 * 1024;
    /// <summary>Valkey's query buffer limit for connections that have not authenticated yet.</summary>
    private const long UnauthenticatedQueryBufferLimit = 1024 * 1024;

    private readonly KvasirServer _server;
    private readonly Socket _socket;
    // Accepted on the TLS port: every byte goes through this stream once the handshake is done.
    private readonly bool _tlsPort;
    private SslStream? _tls;
    private readonly Client _client;
    private readonly CommandContext _ctx;
    private readonly RespParser _parser = new();
    private readonly List<CommandArgs> _batch = new();
    // Holds a buffer only while a send is in flight: an idle connection keeps one reply buffer, not two.
    private readonly ReplyWriter _sending = ReplyWriter.CreateEmpty();
    private readonly SemaphoreSlim _resume = new(0);

    private byte[] _in = Array.Empty<byte>();
    private bool _pooledInput;
    private int _start, _end;

    // Plain sockets on Linux learn that input arrived from a ReadinessLoop and then read once, without
    // .NET's speculative receive (see ReadinessLoop). TLS and other systems use .NET's engine.
    private ReadinessLoop? _readiness;
    private ulong _readinessToken;
    private int _readinessFd;
    private int _readyState;      // ReadyIdle, ReadySeen (an edge came while busy) or ReadyWaiting
    private const int ReadyIdle = 0, ReadySeen = 1, ReadyWaiting = 2;
    private System.Threading.Tasks.Sources.ManualResetValueTaskSourceCore<bool> _readySource;
    // The last read left the socket empty: wait for the next edge before reading again.
    private bool _drained = true;
    // The readiness loop saw the peer's FIN or an error: read on until the end, edges or not.
    private bool _hungUp;

    private int _sendState;     // 1 while a send is in progress
    private int _pushPending;   // output arrived while someone else was sending
    private int _flushScheduled;
    private Task _inflightSend = Task.CompletedTask;
    private int _unsentBytes;   // part of the in-flight send not yet accepted by the socket
    private volatile bool _closed;

    public Connection(KvasirServer server, Socket socket, bool unix, bool tls = false)
    {
        _server = server;
        _socket = socket;
        _tlsPort = tls;
        _client = new Client(server.NextClientId(), this);
        if (unix) _client.Flags |= ClientFlags.UnixSocket;
        _client.RemoteEndPoint = socket.RemoteEndPoint;
        _client.LocalEndPoint = socket.LocalEndPoint;
        if (unix)
        {
            // Valkey names both ends of a Unix socket connection after the socket path.
            _client.RemoteAddress = _client.LocalAddress = server.Config.UnixSocket + ":0";
        }
        else
        {
            _client.RemoteAddress = FormatEndPoint(socket.RemoteEndPoint);
            _client.LocalAddress = FormatEndPoint(socket.LocalEndPoint);
        }
        try { _client.Fd = (int)socket.SafeHandle.DangerousGetHandle(); }
        catch (ObjectDisposedException) { }
        _client.QueryBufferCapacity = _in.Length;
        _ctx = new CommandContext(server, _client);
    }

    public Client Client => _client;

    /// <summary>Accepted on the TLS port (cluster replies then report TLS ports).</summary>
    public bool IsTls => _tlsPort;

    /// <summary>"ip:port", with IPv6 addresses in brackets, as Valkey's CLIENT LIST addr/laddr.</summary>
    internal static string FormatEndPoint(EndPoint? ep)
    {
        if (ep is IPEndPoint ip)
        {
            var addr = ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address;
            if (addr.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // inet_ntop does not print a scope id: format the bare address bytes.
                return $"[{new IPAddress(addr.GetAddressBytes())}]:{ip.Port}";
            }
            return $"{addr}:{ip.Port}";
        }
        return "?:0";
    }

    /// <summary>
    /// The TLS handshake of a connection on the TLS port, bounded in time so a peer that never
    /// speaks TLS cannot hold the connection. False when it failed (the connection is dropped).
    /// </summary>
    private async Task<bool> HandshakeAsync()
    {
        var stream = new SslStream(new NetworkStream(_socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            using var timeout = new CancellationTokenSource(TlsHandshakeTimeoutMs);
            await stream.AuthenticateAsServerAsync(_server.Tls.ServerOptions(), timeout.Token);
            _tls = stream;
            return true;
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or
                                      SocketException or ObjectDisposedException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            _server.Log.Verbose($"Error accepting a client connection: {e.Message} (addr={_client.RemoteAddress} laddr={_client.LocalAddress})");
            await stream.DisposeAsync();
            return false;
        }
    }

    private const int TlsHandshakeTimeoutMs = 10_000;

    private ValueTask<int> ReceiveAsync(Memory<byte> buffer) =>
        _tls is { } tls ? tls.ReadAsync(buffer) : _socket.ReceiveAsync(buffer, SocketFlags.None);

    public async Task RunAsync()
    {
        if (_tlsPort && !await HandshakeAsync())
        {
            _socket.Dispose();
            return;
        }
        string? refusal;
        lock (_server.DataLock)
        {
            refusal = _server.AdmitClient(_client);
        }
        if (refusal is not null)
        {
            var bytes = System.Text.Encoding.UTF8.GetBytes("-" + refusal + "\r\n");
            try
            {
                if (_tls is not null) await _tls.WriteAsync(bytes);
                else await _socket.SendAsync(bytes, SocketFlags.None);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException) { }
            _tls?.Dispose();
            _socket.Dispose();
            return;
        }
        // Admitted synchronously on the accept loop (so the client is listed at once); the rest runs
        // on the pool: a first request already buffered (a long script, DEBUG SLEEP) must not run on
        // the accept loop's thread and stop it accepting anyone until it ends.
        await Task.Yield();
        if (_tls is null) UseReadinessLoop();
        try
        {
            while (!_closed)
            {
                int n;
                if (_readiness is not null)
                {
                    if (_drained)
                    {
                        // Nothing pending: hand the buffer back while waiting for the next request, so
                        // an idle connection holds no input memory (Valkey reads into a shared buffer).
                        if (_start == _end && !_parser.InCommand) ReleaseInputBuffer();
                        var readable = WaitReadableAsync();
                        if (!readable.IsCompletedSuccessfully) await readable;
                        if (_closed) break;
                    }
                    if (!EnsureReceiveSpace()) break;
                    int space = _in.Length - _end;
                    n = _socket.Receive(_in.AsSpan(_end), SocketFlags.None, out var error);
                    if (error == SocketError.WouldBlock)
                    {
                        _drained = true; // a stale edge: nothing there after all
                        continue;
                    }
                    if (error != SocketError.Success) break;
                    _drained = n < space && !Volatile.Read(ref _hungUp);
                }
                else
                {
                    if (_start == _end && !_parser.InCommand)
                    {
                        // As above, with .NET's engine: a zero-byte receive waits for input.
                        ReleaseInputBuffer();
                        await ReceiveAsync(Memory<byte>.Empty);
                    }
                    if (!EnsureReceiveSpace()) break;
                    n = await ReceiveAsync(_in.AsMemory(_end));
                }
                if (n <= 0) break;
                _end += n;
                _client.NetInputBytes += n;
                _client.LastInteractionMs = Environment.TickCount64;
                Interlocked.Add(ref _server.Stats.NetInputBytes, n);
                Interlocked.Increment(ref _server.Stats.TotalReadsProcessed);
                if (QueryBufferLimitReached()) break;
                if (!await ProcessInputAsync()) break;
            }
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        catch (IOException) { } // TLS: the stream wraps socket errors
        finally
        {
            Cleanup();
        }
    }

    /// <summary>Registers with a readiness loop where there is one (the socket then reads without blocking).</summary>
    private void UseReadinessLoop()
    {
        if (_server.NextReadinessLoop() is not { } loop) return;
        try
        {
            int fd = (int)_socket.SafeHandle.DangerousGetHandle();
            _socket.Blocking = false;
            if (!loop.Register(this, fd, out _readinessToken))
            {
                _socket.Blocking = true;
                return;
            }
            _readinessFd = fd;
            _readiness = loop;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    /// <summary>
    /// Completes when the readiness loop has seen input since the last wait (at once when it came
    /// while this connection was busy).
    /// </summary>
    private ValueTask WaitReadableAsync()
    {
        if (Interlocked.CompareExchange(ref _readyState, ReadyIdle, ReadySeen) == ReadySeen) return ValueTask.CompletedTask;
        _readySource.Reset();
        if (Interlocked.CompareExchange(ref _readyState, ReadyWaiting, ReadyIdle) != ReadyIdle)
        {
            // The edge came in between.
            Volatile.Write(ref _readyState, ReadyIdle);
            return ValueTask.CompletedTask;
        }
        return new ValueTask(this, _readySource.Version);
    }

    /// <summary>
    /// Input arrived (or the connection is closing). <paramref name="inline"/>: the readiness loop's
    /// thread, which runs the waiting connection's code; anyone else hands it to the thread pool (they
    /// may hold the data lock in the middle of iterating the clients).
    /// </summary>
    internal void OnReadable(bool inline)
    {
        if (Interlocked.Exchange(ref _readyState, ReadySeen) != ReadyWaiting) return;
        Volatile.Write(ref _readyState, ReadyIdle);
        if (inline) _readySource.SetResult(true);
        else ThreadPool.UnsafeQueueUserWorkItem(static c => c._readySource.SetResult(true), this, preferLocal: false);
    }

    /// <summary>The readiness loop saw the peer's FIN or an error (before <see cref="OnReadable"/>).</summary>
    internal void PeerHungUp() => Volatile.Write(ref _hungUp, true);

    void System.Threading.Tasks.Sources.IValueTaskSource.GetResult(short token) => _readySource.GetResult(token);

    System.Threading.Tasks.Sources.ValueTaskSourceStatus System.Threading.Tasks.Sources.IValueTaskSource.GetStatus(short token) =>
        _readySource.GetStatus(token);

    void System.Threading.Tasks.Sources.IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token,
        System.Threading.Tasks.Sources.ValueTaskSourceOnCompletedFlags flags) =>
        _readySource.OnCompleted(continuation, state, token, flags);

    /// <summary>Makes room to receive. False when the pending query exceeds client-query-buffer-limit.</summary>
    private bool EnsureReceiveSpace()
    {
        if (_start == _end && !_parser.InCommand)
        {
            _start = _end = 0;
            if (_in.Length == 0)
            {
                _in = System.Buffers.ArrayPool<byte>.Shared.Rent(InitialBufferSize);
                _pooledInput = true;
                _client.QueryBufferCapacity = _in.Length;
            }
        }
        long pending = _end - _start;
        long needed = Math.Max(_parser.BytesNeeded, pending + 1);
        bool fits = _start + needed <= _in.Length;
        if (fits && _end < _in.Length) return true;
        // A large argument still arriving: keep filling, grow only when full (no up-front allocation
        // of whatever size a client announces).
        if (!fits && _in.Length - _end >= InitialBufferSize) return true;
        if (_start > 0 && needed <= _in.Length)
        {
            Compact(_in);
            return true;
        }
        if (needed > Array.MaxLength) return false; // one command larger than an array can hold
        // Double (never past what the command needs): memory follows the bytes that actually arrive.
        // Only a known large element bounds the growth; a command of many small arguments (needed is
        // then just "one more byte") must still double, or every read would copy the buffer for one byte.
        long size = _parser.BytesNeeded > pending
            ? Math.Max(Math.Min((long)_in.Length * 2, needed), pending + 1)
            : Math.Max((long)_in.Length * 2, pending + 1);
        size = Math.Min(size, Array.MaxLength);
        Compact(new byte[size]);
        return true;
    }

    private void ReleaseInputBuffer()
    {
        _start = _end = 0;
        if (_pooledInput) System.Buffers.ArrayPool<byte>.Shared.Return(_in);
        _pooledInput = false;
        _in = Array.Empty<byte>();
        _client.QueryBufferCapacity = 0;
    }

    /// <summary>
    /// Checked after every read, before parsing, as Valkey does: unprocessed input plus queued MULTI
    /// commands above client-query-buffer-limit (1 MB before authentication) closes the connection
    /// without a reply, even when the input holds complete commands.
    /// </summary>
    private bool QueryBufferLimitReached()
    {
        // Arguments already parsed out of an incomplete command no longer count, as in Valkey, whose
        // query buffer only keeps the unparsed bytes (so one huge MSET is limited per argument).
        int unparsedFrom = _parser.InCommand ? _parser.ScanPosition : _start;
        long queryMemory = (_end - unparsedFrom) + _client.MultiMemory;
        bool unauthenticated = !_client.Authenticated && _server.AuthRequired;
        if (queryMemory <= _server.Config.ClientQueryBufferLimit && !(unauthenticated && queryMemory > UnauthenticatedQueryBufferLimit))
            return false;
        _server.Log.Warning($"Closing client that reached max query buffer length: id={_client.Id} addr={_client.RemoteAddress} (qbuf initial bytes: {QueryPreview()})");
        lock (_server.DataLock) _server.Stats.ClientQueryBufferLimitDisconnections++;
        return true;
    }

    private string QueryPreview()
    {
        var sb = new System.Text.StringBuilder("\"");
        Repr.Append(sb, _in.AsSpan(_start, Math.Min(64, _end - _start)));
        return sb.Append('"').ToString();
    }

    /// <summary>
    /// Where the query buffer starts for CLIENT LIST qbuf: a big argument (32 KB or more) being
    /// received is read into a buffer of its own in Valkey, so only its bytes are pending there.
    /// </summary>
    private int QueryStart() =>
        _parser.PendingBulkLength >= BigArgument ? _parser.ScanPosition : _start;

    private const long BigArgument = 32 * 1024;

    /// <summary>Moves the unparsed bytes to the start of <paramref name="target"/> (the same or a larger buffer).</summary>
    private void Compact(byte[] target)
    {
        int len = _end - _start;
        Buffer.BlockCopy(_in, _start, target, 0, len);
        int delta = _start;
        _parser.Shift(delta);
        if (_batch.Count > 0 && _parser.InCommand) _batch[0].Rebase(target, delta);
        if (target != _in && _pooledInput)
        {
            // Grown past the pooled size: the new buffer is a plain array.
            System.Buffers.ArrayPool<byte>.Shared.Return(_in);
            _pooledInput = false;
        }
        _in = target;
        _start = 0;
        _end = len;
        _client.QueryBufferCapacity = target.Length;
    }

    private CommandArgs BatchSlot(int i)
    {
        while (_batch.Count <= i) _batch.Add(new CommandArgs());
        return _batch[i];
    }

    /// <summary>Parses and executes what the buffer holds. False when the connection must close.</summary>
    private async ValueTask<bool> ProcessInputAsync()
    {
        while (true)
        {
            // A send put off for the wake-up goes now if this connection has more to run: replies
            // must not pile up unsent while a client keeps streaming commands (redis-cli --pipe).
            SendDeferred();
            int count = 0;
            string? protocolError = null;
            bool authenticated = _client.Authenticated || !_server.AuthRequired;
            // Before authentication, parse one command at a time: after a successful AUTH the next
            // command is parsed with the normal limits, as Valkey does.
            int maxBatch = authenticated ? MaxBatch : 1;
            while (count < maxBatch)
            {
                var args = BatchSlot(count);
                int pos = _start;
                var status = _parser.Parse(_in, ref pos, _end, args, authenticated, _server.Config.ProtoMaxBulkLen);
                if (status == ParseStatus.Complete)
                {
                    args.WireLength = pos - _start;
                    _start = pos;
                    if (args.Count > 0) count++;
                    continue;
                }
                if (status == ParseStatus.Error) protocolError = _parser.Error;
                break;
            }
            // Keep a partially parsed command in slot 0 so it survives the next batch.
            if (_parser.InCommand && count > 0) (_batch[0], _batch[count]) = (_batch[count], _batch[0]);
            _client.QueryBufferLength = _end - QueryStart();
            if (count == 0 && protocolError is null)
            {
                // Input is still arriving: with maxmemory-clients, a growing query buffer may make
                // this (or a bigger) client the one to evict.
                if (_server.ClientEviction.Enabled)
                {
                    lock (_server.DataLock)
                    {
                        _server.ClientEviction.Update(_client);
                        _server.ClientEviction.EvictIfNeeded();
                    }
                    if (_closed) return false;
                }
                return true;
            }

            // A script can run long enough that other clients must be served meanwhile (-BUSY, SCRIPT
            // KILL): it must not hold a socket I/O thread (inline completions), so a batch with one
            // moves to the thread pool first.
            if (!Thread.CurrentThread.IsThreadPoolThread && BatchRunsScript(count)) await Task.Yield();

            int next = 0;
            bool mustSend;
            int pendingOutput;
            while (true)
            {
                bool suspended = false;
                bool attack = false;
                lock (_server.DataLock)
                {
                    _server.Clock.BeginBatch();
                    try
                    {
                        int prefetched = next;
                        for (; next < count; next++)
                        {
                            if (next == prefetched && count - next >= 2) prefetched = PrefetchKeys(next, count);
                            // Valkey takes a new time snapshot for every command, pipelined or not: here
                            // the end of the previous command (see CommandClock).
                            _server.AdvanceClock();
                            // Killed (CLIENT KILL, timeout) or told to close: nothing more runs.
                            if (_client.Has(ClientFlags.CloseAfterReply) || _client.Has(ClientFlags.CloseAsap)) break;
                            var slot = BatchCommand(next, count);
                            if (IsCrossProtocolAttack(slot))
                            {
                                attack = true;
                                break;
                            }
                            if (_server.Dispatcher.Execute(_ctx, slot) == DispatchResult.Suspended)
                            {
                                suspended = true;
                                break;
                            }
                            if (_client.Reply.Length > StaticReplyBuffer && OutputLimitReached()) break;
                        }
                    }
                    finally
                    {
                        _server.Clock.EndBatch();
                    }
                    if (!suspended && !attack && protocolError is not null && !_client.Has(ClientFlags.CloseAsap) && !_client.Has(ClientFlags.CloseAfterReply))
                    {
                        // Replies switched off by CLIENT REPLY stay off, even for this error.
                        _client.Reply.Enabled = _client.ReplyMode == ReplyMode.On;
                        _ctx.Error("ERR " + protocolError);
                        _client.Flags |= ClientFlags.CloseAfterReply;
                        _server.Log.Verbose($"Protocol error ({protocolError}) from client: id={_client.Id} addr={_client.RemoteAddress}");
                    }
                    // maxmemory-clients: this client's buffers changed (arguments, replies, MULTI queue...).
                    if (!attack && _server.ClientEviction.Enabled)
                    {
                        _server.ClientEviction.Update(_client);
                        _server.ClientEviction.EvictIfNeeded();
                    }
                    mustSend = !attack && TakeOutputForSend();
                    pendingOutput = _client.Reply.Length;
                }
                if (attack)
                {
                    _server.Log.Warning("Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Redis. " +
                                        $"This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your Redis instance. Connection from {_client.RemoteAddress} aborted.");
                    return false;
                }
                bool closing = _client.Has(ClientFlags.CloseAfterReply) || _client.Has(ClientFlags.CloseAsap) || _closed;
                // On a readiness loop the send waits until every connection of the wake-up has run
                // (ReadinessLoop.DeferSend); not when closing or suspended, which wait for it here.
                if (mustSend)
                {
                    Volatile.Write(ref _sendDeferred, 1);
                    // Replication links send at once: a full sync may write its image to the socket
                    // itself right after +FULLRESYNC, which must be out first.
                    bool replication = _client.Has(ClientFlags.Replica) || _client.Has(ClientFlags.Master) || _client.StreamSource is not null;
                    if (closing || suspended || replication || !ReadinessLoop.DeferSend(this)) SendDeferred();
                }
                if (closing)
                {
                    if (!_client.Has(ClientFlags.CloseAsap))
                    {
                        await DrainOutputAsync();
                        // TLS: end the session properly (close_notify) before the socket closes.
                        if (_tls is not null)
                        {
                            try { await _tls.ShutdownAsync(); }
                            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or NotSupportedException) { }
                        }
                    }
                    return false;
                }
                if (!suspended) break;
                // Paused: wait to be resumed (or poll, for pauses that simply expire).
                await _resume.WaitAsync(ResumeWaitMs());
                if (_closed) return false;
                // Nothing reads the socket while a blocking command waits: notice a peer that left
                // (readable with no bytes) so the wait ends and leaves nothing behind, as in Valkey.
                if (_client.Blocking is not null && PeerClosed()) return false;
            }
            if (pendingOutput > OutputHighWater && !_inflightSend.IsCompleted) await _inflightSend;
            if (count < maxBatch) return true;
        }
    }

    /// <summary>
    /// The <paramref name="i"/>th complete command of a batch of <paramref name="count"/>: while a
    /// partially parsed command waits in slot 0, the first complete one sits at <paramref name="count"/>.
    /// </summary>
    private CommandArgs BatchCommand(int i, int count) => _parser.InCommand && i == 0 ? _batch[count] : _batch[i];

    /// <summary>Commands of a pipelined batch whose keys are prefetched together (Database.Prefetch):
    /// enough to overlap their cache misses, few enough that the lines are still cached when used.</summary>
    private const int PrefetchWindow = 16;

    /// <summary>
    /// Hashes the first argument (the key of most commands; a wasted hash otherwise) of the next
    /// <see cref="PrefetchWindow"/> commands of the batch from <paramref name="from"/> and has the
    /// client's database prefetch their memory. Returns where the next window starts. Under the data lock.
    /// </summary>
    private int PrefetchKeys(int from, int count)
    {
        int to = Math.Min(count, from + PrefetchWindow);
        Span<int> hashes = stackalloc int[PrefetchWindow];
        int n = 0;
        for (int i = from; i < to; i++)
        {
            var slot = BatchCommand(i, count);
            if (slot.Count >= 2 && slot[1].Length <= 128) hashes[n++] = Keyspace.KeyHash.Hash(slot[1]);
        }
        if (n >= 2)
        {
            _ctx.Db.Prefetch(hashes[..n]);
            PrefetchMembers(from, to, count);
        }
        return to;
    }

    private readonly Keyspace.IPrefetchable?[] _memberTables = new Keyspace.IPrefetchable?[PrefetchWindow];

    /// <summary>
    /// The second half of <see cref="PrefetchKeys"/>: commands that look a member up in a big
    /// collection (SADD, HSET, ZSCORE...) start loading that member's bucket, entry and bytes, one step
    /// for all of the window's commands before the next, as their keys were.
    /// </summary>
    private void PrefetchMembers(int from, int to, int count)
    {
        Span<int> hashes = stackalloc int[PrefetchWindow];
        var tables = _memberTables;
        var db = _ctx.Db;
        int n = 0;
        for (int i = from; i < to; i++)
        {
            var slot = BatchCommand(i, count);
            int pos = MemberArgument(slot);
            if (pos < 0 || slot[pos].Length > 128) continue;
            int idx = db.FindRaw(slot[1]);
            if (idx < 0 || db.MemberLookupsAt(idx) is not { } table) continue;
            tables[n] = table;
            hashes[n++] = Keyspace.KeyHash.Hash(slot[pos]);
        }
        if (n >= 2)
        {
            for (int k = 0; k < n; k++) tables[k]!.PrefetchBucket(hashes[k]);
            for (int k = 0; k < n; k++) tables[k]!.PrefetchEntry(hashes[k]);
            for (int k = 0; k < n; k++) tables[k]!.PrefetchItem(hashes[k]);
        }
        Array.Clear(tables, 0, n); // hold no value past the batch
    }

    /// <summary>Where the (first) member a command looks up is, for the common member commands; -1 otherwise.</summary>
    private static int MemberArgument(CommandArgs slot)
    {
        if (slot.Count < 3) return -1;
        switch (slot[0].Length == 0 ? 0 : slot[0][0] | 0x20)
        {
            case 's':
                return slot.Is(0, "SADD"u8) || slot.Is(0, "SREM"u8) || slot.Is(0, "SISMEMBER"u8) ? 2 : -1;
            case 'h':
                return slot.Is(0, "HSET"u8) || slot.Is(0, "HGET"u8) || slot.Is(0, "HDEL"u8) || slot.Is(0, "HEXISTS"u8) ||
                       slot.Is(0, "HINCRBY"u8) || slot.Is(0, "HSETNX"u8) || slot.Is(0, "HMGET"u8) ? 2 : -1;
            case 'z':
                // Not ZADD: its skiplist walk outweighs the member lookup, and the prefetch measured no gain there.
                return slot.Is(0, "ZSCORE"u8) || slot.Is(0, "ZREM"u8) || slot.Is(0, "ZRANK"u8) ? 2 : -1;
            default:
                return -1;
        }
    }

    private bool BatchRunsScript(int count)
    {
        for (int i = 0; i < count; i++)
        {
            var slot = BatchCommand(i, count);
            if (Scripting.ScriptHost.IsScriptCommand(slot)) return true;
            // DEBUG LOADAOF and RELOAD replay files that may hold slow scripts (others are told LOADING meanwhile).
            if (slot.Count >= 2 && slot.Is(0, "DEBUG"u8)) return true;
            // EXEC runs the scripts queued in the transaction (the queue is only touched by this connection).
            if (slot.Count == 1 && slot.Is(0, "EXEC"u8) && _client.MultiQueue is { } queue)
                foreach (var queued in queue)
                    if (Scripting.ScriptHost.IsScriptName(queued[0])) return true;
        }
        return false;
    }

    /// <summary>POST and "Host:" lines are HTTP reaching this port (cross protocol scripting): close without answering.</summary>
    private static bool IsCrossProtocolAttack(CommandArgs args) =>
        args.Count > 0 && (args.Is(0, "POST"u8) || args.Is(0, "HOST:"u8));

    // ----- output -----

    /// <summary>Under the data lock: moves pending replies to the send buffer if no one is sending. True: caller must send.</summary>
    private bool TakeOutputForSend()
    {
        int length = _client.Reply.Length;
        // A streaming replica also sends the shared replication stream from its cursor.
        var stream = _client.StreamSource;
        long streamEnd = stream is null ? 0 : stream.Owner.EndOffset;
        bool streamPending = stream is not null && stream.Offset <= streamEnd;
        if (length == 0 && !streamPending) return false;
        // The peak counts what fits in the reply buffer, as Valkey's static buffer (the rest spills).
        int held = Math.Min(length, _client.ReplyBufferSize);
        if (held > _client.ReplyPeak) _client.ReplyPeak = held;
        // Announce the output before trying to become the sender: a sender that is just finishing
        // either fails our CAS (and then sees this flag after releasing) or has already released.
        Interlocked.Exchange(ref _pushPending, 1);
        if (Interlocked.CompareExchange(ref _sendState, 1, 0) != 0) return false;
        Interlocked.Exchange(ref _pushPending, 0);
        if (length > 0)
        {
            _client.Reply.SwapBuffers(_sending);
            Volatile.Write(ref _client.OutputInFlight, _sending.Capacity);
        }
        // The stream as far as it is fed now: what comes later waits for the next round, behind
        // its own AOF barrier.
        _stream = streamPending ? stream : null;
        _streamEnd = streamEnd;
        // AOF: these replies may depend on every effect appended so far; SendLoopAsync makes sure
        // those are written (fsynced with appendfsync always) before the replies leave.
        _aofBarrier = _server.Persistence.Aof.SendBarrier;
        return true;
    }

    /// <summary>AOF stream offset the replies in <see cref="_sending"/> depend on (0: no AOF).</summary>
    private long _aofBarrier;

    /// <summary>The replication stream to send after <see cref="_sending"/>, up to offset <see cref="_streamEnd"/>.</summary>
    private Replication.StreamCursor? _stream;
    private long _streamEnd;

    // 1 while a send handed to ReadinessLoop.DeferSend has not started: whoever clears it starts it.
    private int _sendDeferred;

    /// <summary>Starts the send <see cref="ReadinessLoop.DeferSend"/> put off, unless it has started already.</summary>
    internal void SendDeferred()
    {
        if (Interlocked.Exchange(ref _sendDeferred, 0) == 1) StartSend();
    }

    /// <summary>Sends what <see cref="TakeOutputForSend"/> handed over; usually completes synchronously.</summary>
    private void StartSend()
    {
        var pending = SendLoopAsync();
        if (!pending.IsCompletedSuccessfully) _inflightSend = pending.AsTask();
    }

    private async ValueTask SendLoopAsync()
    {
        while (true)
        {
            try
            {
                // Group commit: with appendfsync always the batch's effects (and everything appended
                // before them) are fsynced before any of its replies is sent; one fsync serves every
                // connection waiting at that moment. With everysec/no they are at least written.
                if (_aofBarrier != 0)
                {
                    var durable = _server.Persistence.Aof.BeforeSendAsync(_aofBarrier);
                    if (!durable.IsCompletedSuccessfully) await durable;
                }
                var data = _sending.WrittenMemory;
                Volatile.Write(ref _unsentBytes, data.Length);
                while (data.Length > 0)
                {
                    int sent;
                    if (_tls is { } tls)
                    {
                        await tls.WriteAsync(data);
                        sent = data.Length;
                    }
                    else sent = await _socket.SendAsync(data, SocketFlags.None);
                    if (sent <= 0) break;
                    data = data.Slice(sent);
                    Volatile.Write(ref _unsentBytes, data.Length);
                    _client.NetOutputBytes += sent;
                    Interlocked.Add(ref _server.Stats.NetOutputBytes, sent);
                    Interlocked.Increment(ref _server.Stats.TotalWritesProcessed);
                }
                if (_stream is { } stream && !_closed) await SendStreamAsync(stream, _streamEnd);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException or NotSupportedException)
            {
                _closed = true;
            }
            _sending.Release();
            Volatile.Write(ref _unsentBytes, 0);
            Volatile.Write(ref _client.OutputInFlight, 0);
            Interlocked.Exchange(ref _sendState, 0);
            if (_closed || Interlocked.CompareExchange(ref _pushPending, 0, 0) == 0) return;
            bool again;
            lock (_server.DataLock)
            {
                again = TakeOutputForSend();
            }
            if (!again) return;
        }
    }

    /// <summary>Sends the replication stream from the replica's cursor up to <paramref name="end"/>, straight from the shared blocks.</summary>
    private async ValueTask SendStreamAsync(Replication.StreamCursor cursor, long end)
    {
        while (cursor.TryGetPending(end, out var data))
        {
            int sent;
            if (_tls is { } tls)
            {
                await tls.WriteAsync(data);
                sent = data.Length;
            }
            else sent = await _socket.SendAsync(data, SocketFlags.None);
            if (sent <= 0) return;
            cursor.Advance(sent);
            _client.NetOutputBytes += sent;
            Interlocked.Add(ref _server.Stats.NetOutputBytes, sent);
            Interlocked.Increment(ref _server.Stats.TotalWritesProcessed);
        }
    }

    /// <summary>Waits until every queued reply is on the socket (before closing after QUIT or an error).</summary>
    private async ValueTask DrainOutputAsync()
    {
        for (int i = 0; i < 10_000 && !_closed; i++)
        {
            if (!_inflightSend.IsCompleted) await _inflightSend;
            bool send;
            lock (_server.DataLock)
            {
                send = TakeOutputForSend();
                if (!send && _client.Reply.Length == 0 && Volatile.Read(ref _sendState) == 0) return;
            }
            if (send) await SendLoopAsync();
            else await Task.Delay(1);
        }
    }

    /// <summary>Replies up to this size count as Valkey's static per-client buffer, outside output limits.</summary>
    private const int StaticReplyBuffer = 16 * 1024;

    /// <summary>
    /// Under the data lock: client-output-buffer-limit for this client's class (normal, replica,
    /// pubsub; a primary counts as normal). The hard limit closes at once, the soft one when exceeded
    /// for longer than its seconds. The pending output is dropped, as Valkey's freeClientAsync.
    /// </summary>
    private bool OutputLimitReached()
    {
        if (_client.Has(ClientFlags.CloseAsap)) return false;
        int cls = _client.Has(ClientFlags.Replica) && !_client.Has(ClientFlags.Monitor) ? 1
                : _client.Has(ClientFlags.PubSub) ? 2 : 0;
        var limit = _server.Config.ClientOutputBufferLimits[cls];
        long used = Math.Max(0, _client.Reply.Length - StaticReplyBuffer) + Math.Max(0, Volatile.Read(ref _unsentBytes));
        long hardLimit = limit.HardBytes;
        if (_client.StreamSource is { } stream)
        {
            // A replica's share of the replication buffer counts, and its hard limit is never below
            // repl-backlog-size (Valkey's rule: the backlog holds that much for it anyway).
            used += stream.Pending;
            if (hardLimit > 0 && hardLimit < _server.Config.ReplBacklogSize) hardLimit = _server.Config.ReplBacklogSize;
        }
        bool hard = hardLimit > 0 && used >= hardLimit;
        bool soft = limit.SoftBytes > 0 && used >= limit.SoftBytes;
        if (soft)
        {
            long now = Environment.TickCount64;
            if (_client.OutputSoftLimitSinceMs == 0)
            {
                _client.OutputSoftLimitSinceMs = now;
                soft = false;
            }
            else if ((now - _client.OutputSoftLimitSinceMs) / 1000 <= limit.SoftSeconds)
            {
                soft = false;
            }
        }
        else
        {
            _client.OutputSoftLimitSinceMs = 0;
        }
        if (!hard && !soft) return false;
        _server.Log.Warning($"Client id={_client.Id} addr={_client.RemoteAddress} scheduled to be closed ASAP for overcoming of output buffer limits.");
        _server.Stats.ClientOutputBufferLimitDisconnections++;
        _client.Reply.Clear();
        // A replica lets go of the stream now, not when its connection has wound down: the backlog
        // shrinks back at once, so the same replica reconnecting cannot continue from bytes it was
        // dropped for (Valkey frees such clients before it serves the next connection).
        _client.ReplicaInfo?.CloseCursor();
        Close();
        return true;
    }

    /// <summary>Someone else wrote into this client's reply buffer (under the data lock).</summary>
    public void OutputAvailable()
    {
        if ((_client.Reply.Length > StaticReplyBuffer || _client.StreamSource is not null) && OutputLimitReached()) return;
        _server.ClientEviction.Update(_client);
        Interlocked.Exchange(ref _pushPending, 1);
        if (Volatile.Read(ref _sendState) != 0) return;
        if (Interlocked.CompareExchange(ref _flushScheduled, 1, 0) != 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static c => _ = c.FlushFromOthersAsync(), this, preferLocal: false);
    }

    private async Task FlushFromOthersAsync()
    {
        Interlocked.Exchange(ref _flushScheduled, 0);
        bool send;
        lock (_server.DataLock)
        {
            send = TakeOutputForSend();
        }
        if (send) await SendLoopAsync();
        if (_client.Has(ClientFlags.CloseAsap)) Close();
    }

    public void Close()
    {
        _closed = true;
        _client.Flags |= ClientFlags.CloseAsap;
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _resume.Release();
        OnReadable(inline: false);
    }

    public void Resume() => _resume.Release();

    public bool PeerHasClosed() => PeerClosed();

    /// <summary>How long a suspended command sleeps before looking again: up to a blocked client's deadline, so timeouts are punctual.</summary>
    private int ResumeWaitMs()
    {
        if (_client.Blocking is not { DeadlineMs: > 0 } waiting) return 50;
        long left = waiting.DeadlineMs - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        return (int)Math.Clamp(left, 0, 50);
    }

    private bool PeerClosed()
    {
        try { return _socket.Poll(0, SelectMode.SelectRead) && _socket.Available == 0; }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return true; }
    }

    private void Cleanup()
    {
        _closed = true;
        lock (_server.DataLock)
        {
            _server.ClientClosed(_client);
        }
        try { _tls?.Dispose(); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        _readiness?.Unregister(_readinessFd, _readinessToken);
        try { _socket.Dispose(); } catch (ObjectDisposedException) { }
        ReleaseInputBuffer();
    }
}
