using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Kvasir.Sentinel;

/// <summary>
/// An asynchronous client connection from the Sentinel to an instance (what hiredis' async context
/// is to Valkey). Commands can be sent at once: they wait in the output buffer until the connection
/// is established. Replies are matched with their callbacks in order and handed over under the
/// server's data lock, so the Sentinel's state only ever changes on one thread of control at a time.
/// After SUBSCRIBE, replies without a waiting callback go to the subscription handler. As in hiredis,
/// an error reply nobody waits for (a refused SUBSCRIBE) drops the connection, and callbacks still
/// waiting when the connection goes away are never called.
/// </summary>
public sealed class InstanceConnection
{
    private readonly SentinelState _sentinel;
    private readonly InstanceLink _link;
    private readonly Socket _socket;
    private readonly Queue<Action<RespReply>?> _callbacks = new();
    private byte[] _out = new byte[256];
    private int _outLength;
    private bool _connected;
    private bool _sending;
    private bool _closed;
    private Action<RespReply>? _subscription;

    private InstanceConnection(SentinelState sentinel, InstanceLink link, Socket socket)
    {
        _sentinel = sentinel;
        _link = link;
        _socket = socket;
    }

    public bool IsClosed => _closed;

    /// <summary>
    /// Starts connecting to <paramref name="ip"/>:<paramref name="port"/>; null (and <paramref name="error"/>)
    /// when that fails at once (an address that is not an IP). Under the data lock.
    /// </summary>
    public static InstanceConnection? Open(SentinelState sentinel, InstanceLink link, string ip, int port, out string? error)
    {
        error = null;
        if (!IPAddress.TryParse(ip, out var address))
        {
            error = $"Can't resolve: {ip}";
            return null;
        }
        Socket socket;
        try
        {
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            string source = sentinel.Server.Config.BindSourceAddr;
            if (source.Length > 0 && IPAddress.TryParse(source, out var local)) socket.Bind(new IPEndPoint(local, 0));
        }
        catch (SocketException e)
        {
            error = e.Message;
            return null;
        }
        var connection = new InstanceConnection(sentinel, link, socket);
        _ = connection.RunAsync(new IPEndPoint(address, port));
        return connection;
    }

    /// <summary>Queues a command; <paramref name="callback"/> gets its reply. False when the connection is closed.</summary>
    public bool Send(Action<RespReply>? callback, params string[] argv)
    {
        if (_closed) return false;
        Append(argv);
        _callbacks.Enqueue(callback);
        StartSending();
        return true;
    }

    /// <summary>SUBSCRIBE: from now on replies nobody waits for (the confirmation, the messages) go to <paramref name="handler"/>.</summary>
    public bool Subscribe(Action<RespReply> handler, params string[] argv)
    {
        if (_closed) return false;
        Append(argv);
        _subscription = handler;
        StartSending();
        return true;
    }

    /// <summary>Closes the connection on the Sentinel's initiative: nothing is reported back, pending callbacks are dropped.</summary>
    public void Close()
    {
        if (_closed) return;
        _closed = true;
        _callbacks.Clear();
        _subscription = null;
        CloseSocket();
    }

    /// <summary>The local address of the established connection (the address a hello message announces).</summary>
    public string? LocalAddress()
    {
        try
        {
            if (_socket.LocalEndPoint is not IPEndPoint ep) return null;
            var a = ep.Address.IsIPv4MappedToIPv6 ? ep.Address.MapToIPv4() : ep.Address;
            return a.ToString();
        }
        catch (ObjectDisposedException)
        {
            return null;
        }
    }

    private void Append(string[] argv)
    {
        int size = 16;
        foreach (var a in argv) size += Encoding.UTF8.GetMaxByteCount(a.Length) + 16;
        if (_out.Length - _outLength < size) Array.Resize(ref _out, Math.Max(_out.Length * 2, _outLength + size));
        _outLength += WriteHeader('*', argv.Length);
        foreach (var a in argv)
        {
            int bytes = Encoding.UTF8.GetByteCount(a);
            _outLength += WriteHeader('$', bytes);
            _outLength += Encoding.UTF8.GetBytes(a, _out.AsSpan(_outLength));
            _out[_outLength++] = (byte)'\r';
            _out[_outLength++] = (byte)'\n';
        }
    }

    private int WriteHeader(char kind, int n)
    {
        var span = _out.AsSpan(_outLength);
        span[0] = (byte)kind;
        n.TryFormat(span[1..], out int digits, default, System.Globalization.CultureInfo.InvariantCulture);
        span[1 + digits] = (byte)'\r';
        span[2 + digits] = (byte)'\n';
        return digits + 3;
    }

    private void StartSending()
    {
        if (!_connected || _sending || _outLength == 0 || _closed) return;
        _sending = true;
        var bytes = _out.AsSpan(0, _outLength).ToArray();
        _outLength = 0;
        _ = SendLoopAsync(bytes);
    }

    private async Task SendLoopAsync(byte[] bytes)
    {
        try
        {
            while (true)
            {
                int sent = 0;
                while (sent < bytes.Length) sent += await _socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None).ConfigureAwait(false);
                lock (_sentinel.Lock)
                {
                    if (_closed || _outLength == 0)
                    {
                        _sending = false;
                        return;
                    }
                    bytes = _out.AsSpan(0, _outLength).ToArray();
                    _outLength = 0;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            lock (_sentinel.Lock) Lost();
        }
    }

    private async Task RunAsync(IPEndPoint endPoint)
    {
        // Off the caller's thread: it holds the data lock and has not stored this connection in its
        // link yet, so a connect failing at once must be reported only after that.
        await Task.Yield();
        try
        {
            await _socket.ConnectAsync(endPoint).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            lock (_sentinel.Lock) Lost();
            return;
        }
        // Connecting to a dead local port of the ephemeral range can connect the socket to itself
        // (TCP simultaneous open): that is no instance, and it would hold the port its server
        // needs to start again.
        if (_socket.LocalEndPoint is IPEndPoint local && local.Equals(endPoint))
        {
            lock (_sentinel.Lock) Lost();
            return;
        }
        lock (_sentinel.Lock)
        {
            if (_closed) return;
            _connected = true;
            StartSending();
        }

        var buffer = new byte[16 * 1024];
        int start = 0, end = 0;
        var replies = new List<RespReply>();
        while (true)
        {
            int n;
            try
            {
                n = await _socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
            {
                n = 0;
            }
            if (n <= 0)
            {
                lock (_sentinel.Lock) Lost();
                return;
            }
            end += n;
            try
            {
                while (RespReplyReader.TryParse(buffer.AsSpan(0, end), ref start) is { } reply) replies.Add(reply);
            }
            catch (RespReplyReader.ProtocolException)
            {
                lock (_sentinel.Lock) Lost();
                return;
            }
            if (replies.Count > 0)
            {
                lock (_sentinel.Lock)
                {
                    foreach (var reply in replies)
                    {
                        if (_closed) return;
                        Dispatch(reply);
                    }
                    if (_closed) return;
                }
                replies.Clear();
            }
            // Keep the unparsed tail at the front; grow when a single reply does not fit.
            if (start == end) start = end = 0;
            else if (start > 0)
            {
                Array.Copy(buffer, start, buffer, 0, end - start);
                end -= start;
                start = 0;
            }
            if (end == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
        }
    }

    private void Dispatch(RespReply reply)
    {
        if (_callbacks.TryDequeue(out var callback))
        {
            callback?.Invoke(reply);
            return;
        }
        if (reply.IsError || _subscription is null)
        {
            // A reply to nothing we asked: an error the server sent on its own (max clients, a refused
            // SUBSCRIBE): the connection is useless.
            if (reply.IsError) Lost();
            return;
        }
        _subscription(reply);
    }

    /// <summary>The connection failed: the link learns it (under the data lock).</summary>
    private void Lost()
    {
        if (_closed) return;
        _closed = true;
        _callbacks.Clear();
        _subscription = null;
        CloseSocket();
        _link.ConnectionLost(this);
    }

    private void CloseSocket()
    {
        try { _socket.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _socket.Dispose();
    }
}
