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
internal sealed partial class PrimaryLink : IClientTransport
{
    public enum LinkState { Connect, Connecting, Handshake, Transfer, Connected }

    private const int EofMarkSize = 40;

    private readonly KvasirServer _server;
    private readonly ReplicationManager _repl;
    private readonly RespParser _parser = new();
    private readonly CommandArgs _args = new();
    private readonly ConcurrentQueue<byte[]> _outbox = new();
    private volatile bool _stopped;
    private int _sending;

    // The connection to the primary. In the stream phase, [_applied, Start) of its buffer holds
    // commands executed inside a MULTI not yet closed: proxied to sub-replicas only once applied.
    private LinkChannel _main;
    private int _applied;

    // The image channel of a dual-channel sync, while one runs.
    private LinkChannel? _rdb;

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
        _main = NewMainChannel();
    }

    private LinkChannel NewMainChannel()
    {
        var channel = new LinkChannel(TouchIo);
        // A partly parsed command's arguments point into the buffer: they follow it when it moves.
        channel.Moved = (buffer, shift) =>
        {
            _parser.Shift(shift);
            if (_parser.InCommand) _args.Rebase(buffer, shift);
            _applied = Math.Max(0, _applied - shift);
        };
        return channel;
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
        CloseChannels();
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

    private void CloseChannels()
    {
        _main.Close();
        _rdb?.Close();
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
                CloseChannels();
                _rdb = null;
                wasConnected = MasterClient is not null;
                if (_loading)
                {
                    _server.Loading.Stop();
                    _loading = false;
                }
                if (_stopped) return;
                _repl.LinkLost(this);
                State = LinkState.Connect;
                _main = NewMainChannel();
                _applied = 0;
                _pendingPeak = 0;
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
        try
        {
            await _main.ConnectAsync(Host, Port, _server.Config.ReplTimeout, TlsOptions());
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ArgumentException)
        {
            if (e is OperationCanceledException) throw new LinkFailure("Timeout connecting to the PRIMARY...");
            throw new LinkFailure($"Unable to connect to PRIMARY: {e.Message}");
        }
        if (_stopped) return false;
        lock (_server.DataLock)
        {
            if (_stopped) return false;
            State = LinkState.Handshake;
            Log.Notice("Non blocking connect for SYNC fired the event.");
        }

        await _main.SendAsync(Resp("PING"));
        string pong = await _main.ReadLineAsync();
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
        await _main.SendAsync(Concat(handshake));
        if (auth)
        {
            string reply = await _main.ReadLineAsync();
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
        await _main.SendAsync(failover ? Resp("PSYNC", psyncId, offsetText, "FAILOVER") : Resp("PSYNC", psyncId, offsetText));
        string answer;
        do answer = await _main.ReadLineAsync();
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
        else if (answer.StartsWith("+DUALCHANNELSYNC", StringComparison.Ordinal))
        {
            Log.Notice("PSYNC is not possible, initialize RDB channel.");
            lock (_server.DataLock) _repl.Failover.PsyncAnswered(ok: true);
            await DualChannelSyncAsync();
            await StreamAsync();
            return true;
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
            await _main.SendAsync("SYNC\r\n"u8.ToArray());
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
        string reply = await _main.ReadLineAsync();
        if (reply.StartsWith('-')) Log.Notice($"(Non critical) Primary does not understand {what}: {reply}");
    }

    // ----- the stream -----

    /// <summary>Under the data lock: the primary client exists, the link is up, and the primary hears our offset.</summary>
    private void Establish(int streamDb)
    {
        var socket = _main.Socket!;
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
        ReadOffset = _repl.Offset + (_main.End - _main.Start);
        _applied = _main.Start;
        _main.KeepFrom = _applied;
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
            int before = _main.End - _main.Start;
            if (!await _main.ReceiveMoreAsync()) throw new LinkFailure("");
            int n = _main.End - _main.Start - before;
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
        var ch = _main;
        bool busy = false;
        _server.UpdateClock();
        while (ch.Start < ch.End)
        {
            if (_server.Scripts.Running)
            {
                busy = true;
                break;
            }
            int pos = ch.Start;
            var status = _parser.Parse(ch.Buffer, ref pos, ch.End, _args, authenticated: true, long.MaxValue);
            if (status == ParseStatus.Incomplete) break;
            if (status == ParseStatus.Error)
            {
                Log.Warning($"Protocol error from the PRIMARY ({_parser.Error}): closing the replication link");
                ProtocolError = true;
                CloseChannels();
                break;
            }
            _args.WireLength = pos - ch.Start;
            ch.Start = pos;
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
        var ch = _main;
        if (ch.Start == _applied) return;
        _repl.FeedFromPrimary(ch.Buffer.AsSpan(_applied, ch.Start - _applied));
        _applied = ch.Start;
        ch.KeepFrom = _applied;
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
                CloseChannels();
                break;
            case LinkState.Transfer when _loading:
                SendNewline();
                break;
            case LinkState.Transfer when now - LastIoUnix > timeout:
                Log.Warning("Timeout receiving bulk data from PRIMARY... If the problem persists try to set the 'repl-timeout' parameter in valkey.conf to a larger value.");
                CloseChannels();
                break;
            case LinkState.Connected when now - LastInteractionUnix > timeout:
                Log.Warning("PRIMARY timeout: no data nor PING received...");
                CloseChannels();
                break;
            case LinkState.Connected:
                SendAck();
                break;
        }
    }

    // ----- I/O -----

    /// <summary>tls-replication: our client certificate, the primary's checked against our CA; null for plain TCP.</summary>
    private System.Net.Security.SslClientAuthenticationOptions? TlsOptions() =>
        _server.Config.TlsReplication ? _server.Tls.ClientOptions(Host) : null;

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
                    if (_main.Socket is null) break;
                    try
                    {
                        await _main.SendAsync(bytes);
                        Interlocked.Add(ref _server.Stats.NetReplOutputBytes, bytes.Length);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
                    {
                        break;
                    }
                }
            }
            finally
            {
                Interlocked.Exchange(ref _sending, 0);
                if (!_outbox.IsEmpty && _main.Socket is not null) FlushOutbox();
            }
        });
    }

    public void Close()
    {
        if (_server.DataLock.IsHeldByCurrentThread) _repl.LinkClosing();
        CloseChannels();
    }

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
}
