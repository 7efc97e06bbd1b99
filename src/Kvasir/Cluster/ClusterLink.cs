using System.Net;
using System.Net.Sockets;

namespace Kvasir.Cluster;

/// <summary>
/// One TCP connection of the cluster bus (Valkey's clusterLink): outbound, opened by us to a node,
/// or inbound, accepted from a node that is identified by its first message. Reading assembles
/// whole messages and hands them to <see cref="ClusterState.ProcessPacket"/> under the data lock;
/// sending drains a queue of encoded messages on its own, outside the lock. A link is freed under
/// the data lock; its loops notice and stop.
/// </summary>
public sealed class ClusterLink
{
    private const int InitialBuffer = 1024;
    private readonly KvasirServer _server;
    private readonly ClusterState _cluster;
    private Socket? _socket;
    private readonly Queue<byte[]> _queue = new();
    private long _queueBytes;
    private bool _sending;
    private bool _connected;

    public ClusterLink(KvasirServer server, ClusterState cluster, ClusterNode? node, Socket? accepted, long nowMs)
    {
        _server = server;
        _cluster = cluster;
        Node = node;
        Inbound = node is null;
        CreatedMs = nowMs;
        if (accepted is not null)
        {
            _socket = accepted;
            _connected = true;
        }
    }

    public ClusterNode? Node { get; set; }
    public bool Inbound { get; }
    public long CreatedMs { get; }

    /// <summary>Set under the data lock when the link is dropped; nothing more is processed for it.</summary>
    public bool Freed { get; private set; }

    /// <summary>Bytes queued for sending (CLUSTER LINKS send-buffer-*, cluster-link-sendbuf-limit).</summary>
    public long SendQueueBytes => Interlocked.Read(ref _queueBytes);

    public bool HasPendingWrites
    {
        get { lock (_queue) return _queue.Count > 0 || _sending; }
    }

    /// <summary>The local address of the socket (the IP other nodes reach us at, for a MEET).</summary>
    public IPAddress? LocalAddress => (_socket?.LocalEndPoint as IPEndPoint)?.Address;

    public IPAddress? RemoteAddress => (_socket?.RemoteEndPoint as IPEndPoint)?.Address;

    public void StartReading() => _ = Task.Run(ReadLoopAsync);

    /// <summary>Opens an outbound link; the connect handler runs under the data lock when it completes.</summary>
    public void Connect(string ip, int port)
    {
        _ = ConnectAsync(ip, port);
    }

    private async Task ConnectAsync(string ip, int port)
    {
        Socket socket;
        try
        {
            var address = IPAddress.Parse(ip);
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            lock (_queue)
            {
                if (Freed)
                {
                    socket.Dispose();
                    return;
                }
                _socket = socket;
            }
            await socket.ConnectAsync(new IPEndPoint(address, port));
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or FormatException or ArgumentException)
        {
            lock (_server.DataLock)
            {
                if (Freed) return;
                _cluster.LinkConnectFailed(this, e.Message);
                _cluster.BeforeSleep();
            }
            return;
        }
        lock (_server.DataLock)
        {
            if (Freed) return;
            lock (_queue) _connected = true;
            _cluster.LinkConnected(this);
            _cluster.BeforeSleep();
        }
        StartReading();
        Pump();
    }

    /// <summary>
    /// Queues a message (under the data lock); it is sent in order after earlier ones, once
    /// <see cref="Pump"/> runs (from ClusterState.BeforeSleep, when the command or event that queued
    /// it is done: as Valkey writes a link's buffer before sleeping, so the queue is seen to grow).
    /// </summary>
    public void Send(byte[] message)
    {
        lock (_queue)
        {
            if (Freed) return;
            _queue.Enqueue(message);
            Interlocked.Add(ref _queueBytes, message.Length);
        }
    }

    /// <summary>Starts sending what is queued, unless a send is already under way.</summary>
    internal void Pump()
    {
        lock (_queue)
        {
            if (_sending || !_connected || _queue.Count == 0 || Freed) return;
            _sending = true;
        }
        _ = SendLoopAsync();
    }

    private async Task SendLoopAsync()
    {
        while (true)
        {
            byte[] message;
            Socket? socket;
            lock (_queue)
            {
                if (_queue.Count == 0 || Freed)
                {
                    _sending = false;
                    return;
                }
                message = _queue.Peek();
                socket = _socket;
            }
            try
            {
                int sent = 0;
                while (sent < message.Length)
                {
                    int n = await socket!.SendAsync(message.AsMemory(sent), SocketFlags.None);
                    if (n <= 0) throw new SocketException((int)SocketError.ConnectionReset);
                    sent += n;
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or NullReferenceException or InvalidOperationException)
            {
                lock (_queue) _sending = false;
                IoError();
                return;
            }
            lock (_queue)
            {
                _queue.Dequeue();
                Interlocked.Add(ref _queueBytes, -message.Length);
            }
        }
    }

    private async Task ReadLoopAsync()
    {
        var buffer = new byte[InitialBuffer];
        int filled = 0;
        var socket = _socket!;
        try
        {
            while (!Freed)
            {
                if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
                int n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None);
                if (n <= 0) break;
                filled += n;
                int consumed = 0;
                bool bad = false;
                // Every complete message in the buffer, under one acquisition of the lock.
                while (filled - consumed >= BusMessage.MinReadLength)
                {
                    var head = buffer.AsSpan(consumed, filled - consumed);
                    uint total = BusMessage.U32(head, BusMessage.OffTotalLength);
                    ushort type = BusMessage.U16(head, BusMessage.OffType);
                    int min = BusMessage.IsLight(type) ? BusMessage.LightHeaderLength : BusMessage.HeaderLength;
                    if (head[0] != 'R' || head[1] != 'C' || head[2] != 'm' || head[3] != 'b' || total < min || total > int.MaxValue / 2)
                    {
                        bad = true;
                        break;
                    }
                    if (filled - consumed < total)
                    {
                        if (total > buffer.Length) Array.Resize(ref buffer, (int)Math.Max(total, (uint)buffer.Length * 2));
                        break;
                    }
                    bool keep;
                    lock (_server.DataLock)
                    {
                        if (Freed) return;
                        keep = _cluster.ProcessPacket(this, buffer.AsSpan(consumed, (int)total));
                        _cluster.BeforeSleep();
                    }
                    if (!keep) return;
                    consumed += (int)total;
                }
                if (bad)
                {
                    lock (_server.DataLock)
                    {
                        if (Freed) return;
                        var peer = socket.RemoteEndPoint as IPEndPoint;
                        _server.Log.Warning(peer is null
                            ? "Bad message length or signature received on the Cluster bus."
                            : $"Bad message length or signature received on the Cluster bus from {peer.Address}:{peer.Port}");
                        _cluster.FreeLink(this);
                    }
                    return;
                }
                if (consumed > 0)
                {
                    Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
                    filled -= consumed;
                    // A big message is gone: go back to a small buffer, as Valkey does.
                    if (filled < InitialBuffer && buffer.Length > 1 << 20) buffer = CopySmall(buffer, filled);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
        }
        IoError();
    }

    private static byte[] CopySmall(byte[] buffer, int filled)
    {
        var small = new byte[InitialBuffer];
        Buffer.BlockCopy(buffer, 0, small, 0, filled);
        return small;
    }

    private void IoError()
    {
        if (Freed) return;
        lock (_server.DataLock)
        {
            if (Freed) return;
            _cluster.FreeLink(this);
            _cluster.BeforeSleep();
        }
    }

    /// <summary>Closes the socket (under the data lock, from <see cref="ClusterState.FreeLink"/>).</summary>
    internal void Close()
    {
        Socket? socket;
        lock (_queue)
        {
            Freed = true;
            socket = _socket;
            _queue.Clear();
            Interlocked.Exchange(ref _queueBytes, 0);
        }
        if (socket is null) return;
        try { socket.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        socket.Dispose();
    }
}
