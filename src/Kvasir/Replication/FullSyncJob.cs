using System.Diagnostics;
using System.Text;
using Kvasir.Clients;
using Kvasir.Persistence;

namespace Kvasir.Replication;

/// <summary>
/// One image of the data set for the replicas of a full resynchronisation (Valkey's BGSAVE for
/// SYNC), made without fork by <see cref="BackgroundSave"/> while writes go on. Every recipient gets
/// "+FULLRESYNC replid offset", then the image, then the stream fed since the snapshot point, which
/// its cursor in the shared replication buffer holds meanwhile (<see cref="ReplicaState.Cursor"/>).
/// <list type="bullet">
/// <item>Disk target: the image is written to a temporary file, then sent to each recipient as
/// "$length" + bytes, in chunks that wait for the socket. Replicas arriving while it is written
/// join it (their cursors start at the same snapshot point).</item>
/// <item>Socket target (repl-diskless-sync, replicas with capa eof): the image goes straight to the
/// recipients' sockets as "$EOF:mark" + bytes + mark, at the pace of the slowest; a recipient
/// stalled past repl-timeout is dropped, and the image stops when none is left.</item>
/// </list>
/// A replica that sent no REPLCONF version (Redis 7.0 and older) gets an RDB 10 image, which they
/// can load, when the data fits that format.
/// </summary>
internal sealed class FullSyncJob
{
    private const int ChunkSize = 1 << 20;
    /// <summary>Image bytes a recipient may have queued before the image waits for its socket.</summary>
    private const int MaxQueuedImageBytes = 4 << 20;
    private const int EofMarkSize = 40;

    private readonly KvasirServer _server;
    private readonly List<Client> _recipients = new();
    private readonly ReplicaState _first;
    private BackgroundSave _save = null!;
    private string? _path;
    private int _pendingSends;
    private byte[] _eofMark = [];
    private static int _nextId;
    private bool _pauseWhenOut;

    private FullSyncJob(KvasirServer server, ReplicaState first, bool socket)
    {
        _server = server;
        _first = first;
        SocketTarget = socket;
    }

    public bool SocketTarget { get; }

    /// <summary>The offset the image corresponds to (+FULLRESYNC's offset).</summary>
    public long Offset { get; private set; }

    /// <summary>Starts an image for <paramref name="group"/> (caller holds the data lock); null when it cannot be made.</summary>
    public static FullSyncJob? Start(KvasirServer server, List<Client> group, bool socket)
    {
        var repl = server.Replication;
        var first = group[0].ReplicaInfo!;
        var log = server.Log;
        log.Notice($"Starting BGSAVE for SYNC with target: {(socket ? "replicas sockets" : "disk")} using: {(first.RdbChannel ? "dual-channel" : "normal sync")}");
        if (repl.SaveInfo() is not { } info)
        {
            log.Warning("BGSAVE for replication: replication information not available, can't generate the RDB file right now. Try later.");
            return null;
        }
        var options = server.Persistence.WriteOptions() with { Replication = info, ClusterSlotStates = server.Cluster?.EncodeOpenSlots() };
        // Redis 7.0 and older never send REPLCONF version and refuse RDB 11: give them 10 when the data fits.
        if (first.Version == -1 && options.Version == RdbFormat.Version) options = options with { Version = 10 };
        if (first.ExcludeFunctions) options = options with { FunctionLibraries = Array.Empty<byte[]>() };
        var job = new FullSyncJob(server, first, socket) { Offset = repl.Offset };
        var format = new RdbSnapshotFormat(options);
        try
        {
            if (socket)
            {
                job._eofMark = Encoding.ASCII.GetBytes(KvasirServer.NewRandomId());
                job._save = new BackgroundSave(server, format, new ImageFanout(job), includeData: !first.ExcludeData);
            }
            else
            {
                job._path = Path.Combine(server.Config.Dir, $"temp-{Environment.ProcessId}-repl-{Interlocked.Increment(ref _nextId)}.rdb");
                job._save = new BackgroundSave(server, format, job._path + ".part", job._path);
            }
            foreach (var r in group) job.Attach(r);
            job._save.Start();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning($"Can't save in background: {e.Message}");
            foreach (var r in group) r.ReplicaInfo!.Job = null;
            return null;
        }
        if (socket) log.Notice($"Background RDB transfer started by pid {Environment.ProcessId}");
        else log.Notice($"Background saving started by pid {Environment.ProcessId}");
        server.Persistence.SnapshotStarted();
        if (server.Debug.PauseAfterFork)
        {
            // DEBUG PAUSE-AFTER-FORK: Valkey's main process stops right after forking while its child
            // writes the image. Here the image thread is part of the process: clients are held until
            // the image is out, then the whole process stops (see ImageOutThenPause).
            server.Clients.Pause(long.MaxValue, writesOnly: false);
            job._pauseWhenOut = true;
        }
        job._save.Completion.Task.ContinueWith(t => job.ImageDone(t.Result), TaskScheduler.Default);
        return job;
    }

    /// <summary>A replica that arrives while this disk image is written may share it when it has the first one's needs.</summary>
    public bool CanAttach(ReplicaState st) =>
        !SocketTarget && _recipients.Exists(r => r.ReplicaInfo!.State == ReplicaSyncState.WaitBgsaveEnd && (!r.ReplicaInfo.RdbOnly || st.RdbOnly)) &&
        st.CanJoin(_first) && (st.Version == -1) == (_first.Version == -1);

    /// <summary>Adds a recipient (under the data lock): FULLRESYNC, and its hold on the stream from the snapshot point.</summary>
    public void Attach(Client replica)
    {
        var st = replica.ReplicaInfo!;
        // Plain image-only replicas (valkey-cli --rdb) never get the stream; an image channel's
        // stream goes to its main channel. The recipients already here hold the stream since the
        // snapshot point, so a late one can still start there.
        st.CloseCursor();
        if (!st.RdbOnly || st.RdbChannel) st.Cursor = _server.Replication.OpenStreamCursor(Offset + 1);
        st.PsyncInitialOffset = Offset;
        st.State = ReplicaSyncState.WaitBgsaveEnd;
        st.Job = this;
        st.ImageProgressMs = Environment.TickCount64;
        _recipients.Add(replica);
        // The stream the new replica receives must start by selecting its database.
        if (_recipients.Count == 1) _server.Propagator.ForceSelect();
        if (st.RdbChannel) _server.Replication.RdbChannelStarted(replica, Offset);
        else if (!st.PrePsync)
            ReplicationManager.WriteToReplica(replica, Encoding.ASCII.GetBytes($"+FULLRESYNC {_server.Replication.ReplId} {Offset}\r\n"));
        if (SocketTarget)
            ReplicationManager.WriteToReplica(replica, Encoding.ASCII.GetBytes($"$EOF:{Encoding.ASCII.GetString(_eofMark)}\r\n"));
    }

    /// <summary>A recipient went away (under the data lock). A socket image nobody reads any more stops.</summary>
    public void Detach(Client replica)
    {
        if (!_recipients.Remove(replica)) return;
        // Valkey's child writes to a dual-channel replica's image channel itself, so losing that
        // channel is a failed write of the child (a transfer error), not the parent killing it.
        if (replica.ReplicaInfo?.RdbChannel == true && !_save.Completion.Task.IsCompleted) _channelLost = true;
        if (SocketTarget && _recipients.Count == 0 && !_save.Completion.Task.IsCompleted)
        {
            if (!_channelLost) _server.Log.Warning("Diskless rdb transfer, last replica dropped, killing fork child.");
            _save.Abort("the last replica dropped");
        }
    }

    private bool _channelLost;

    private void ImageDone(bool ok)
    {
        List<Client> recipients;
        lock (_server.DataLock)
        {
            _server.Replication.JobEnded(this);
            recipients = new List<Client>(_recipients);
            if (!ok)
            {
                _server.Log.Warning(_save.Error is { } error ? $"Background RDB transfer error: {error}"
                    : _channelLost ? "Background RDB transfer error: the replica's rdb channel was lost"
                    : $"Background RDB transfer terminated: {_save.AbortReason}");
                foreach (var r in recipients)
                {
                    _server.Log.Warning("SYNC failed. BGSAVE child returned an error");
                    _server.DisconnectClient(r);
                }
                DeleteFile();
                if (_pauseWhenOut) _server.Clients.Unpause();
                return;
            }
            if (SocketTarget)
            {
                _server.Log.Notice($"Diskless rdb transfer, done reading from pipe, {recipients.Count} replicas still up.");
                foreach (var r in recipients)
                {
                    ReplicationManager.WriteToReplica(r, _eofMark);
                    _server.Replication.ReplicaImageSent(r, eofImage: true);
                }
                _server.Log.Notice("Background RDB transfer terminated with success");
                if (_pauseWhenOut) _ = ImageOutThenPauseAsync(recipients);
                return;
            }
            _server.Log.Notice("Background saving terminated with success");
            _pendingSends = recipients.Count;
            foreach (var r in recipients) r.ReplicaInfo!.State = ReplicaSyncState.SendBulk;
            if (_pendingSends == 0) DeleteFile();
        }
        if (_pauseWhenOut) _ = ImageOutThenPauseAsync(new List<Client>());
        foreach (var r in recipients) _ = SendFileAsync(r);
    }

    /// <summary>DEBUG PAUSE-AFTER-FORK: once the image left (the replicas' output drained), the process stops, then clients resume.</summary>
    private async Task ImageOutThenPauseAsync(List<Client> recipients)
    {
        for (int i = 0; i < 3000; i++)
        {
            bool drained;
            lock (_server.DataLock) drained = recipients.TrueForAll(r => r.Reply.Length == 0 || r.Transport is null);
            if (drained) break;
            await Task.Delay(10);
        }
        await Task.Delay(50);
        _server.Debug.PauseProcessIfRequested(_server.Log);
        lock (_server.DataLock) _server.Clients.Unpause();
    }

    /// <summary>Sends the finished image file to one recipient, a chunk at a time as its socket takes them.</summary>
    private async Task SendFileAsync(Client replica)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await using var file = new FileStream(_path!, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan | FileOptions.Asynchronous);
            lock (_server.DataLock)
            {
                if (!StillMine(replica)) return;
                ReplicationManager.WriteToReplica(replica, Encoding.ASCII.GetBytes($"${file.Length}\r\n"));
            }
            var chunk = new byte[ChunkSize];
            while (true)
            {
                int n = await file.ReadAsync(chunk);
                if (n == 0) break;
                while (true)
                {
                    lock (_server.DataLock)
                    {
                        if (!StillMine(replica)) return;
                        if (replica.Reply.Length < ChunkSize)
                        {
                            ReplicationManager.WriteToReplica(replica, chunk.AsSpan(0, n));
                            break;
                        }
                    }
                    await Task.Delay(1);
                }
            }
            lock (_server.DataLock)
            {
                if (!StillMine(replica)) return;
                _server.Log.Verbose($"Sent the sync image to replica {ReplicationManager.ReplicaName(replica)} in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms");
                _server.Replication.ReplicaImageSent(replica, eofImage: false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            lock (_server.DataLock)
            {
                _server.Log.Warning($"SYNC failed. Can't open/stat DB after BGSAVE: {e.Message}");
                _server.DisconnectClient(replica);
            }
        }
        finally
        {
            lock (_server.DataLock)
            {
                if (--_pendingSends == 0) DeleteFile();
            }
        }
    }

    private bool StillMine(Client replica) => replica.ReplicaInfo is { Job: { } job } && job == this;

    private void DeleteFile()
    {
        if (_path is null) return;
        try
        {
            File.Delete(_path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Drops socket-image recipients that took nothing for repl-timeout seconds (under the data lock).</summary>
    public void DropStalledRecipients(int timeoutSeconds)
    {
        if (!SocketTarget) return;
        long now = Environment.TickCount64;
        foreach (var r in _recipients.ToArray())
        {
            if (r.Reply.Length == 0) r.ReplicaInfo!.ImageProgressMs = now;
            else if (now - r.ReplicaInfo!.ImageProgressMs > timeoutSeconds * 1000L)
            {
                _server.Log.Warning($"Disconnecting timedout replica (full sync): {ReplicationManager.ReplicaName(r)}");
                _server.DisconnectClient(r);
            }
        }
    }

    /// <summary>
    /// The socket target: what the image writer produces goes to every recipient's output, waiting
    /// (on the save's own thread, never holding the data lock) while one has too much queued.
    /// </summary>
    private sealed class ImageFanout(FullSyncJob job) : Stream
    {
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var server = job._server;
            while (true)
            {
                lock (server.DataLock)
                {
                    if (job._recipients.Count == 0) throw new IOException("no replica is left to receive the image");
                    if (job._recipients.TrueForAll(r => r.Reply.Length < MaxQueuedImageBytes))
                    {
                        long now = Environment.TickCount64;
                        foreach (var r in job._recipients)
                        {
                            if (r.Reply.Length == 0) r.ReplicaInfo!.ImageProgressMs = now;
                            ReplicationManager.WriteToReplica(r, buffer);
                        }
                        return;
                    }
                    job.DropStalledRecipients(server.Config.ReplTimeout);
                }
                Thread.Sleep(1);
            }
        }

        public override void Flush() { }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
