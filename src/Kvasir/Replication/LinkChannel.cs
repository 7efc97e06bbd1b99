using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Kvasir.Replication;

/// <summary>
/// One TCP connection from a replica to its primary with its receive buffer: the main link, or the
/// image channel of a dual-channel sync. Bytes received and not yet consumed are
/// <c>Buffer[Start..End)</c>; <see cref="KeepFrom"/> lets the stream phase keep applied-but-not-yet-
/// proxied bytes when the buffer is compacted. Every read refreshes the owner's I/O clock.
/// </summary>
internal sealed class LinkChannel(Action touchIo) : IDisposable
{
    public const int InitialBuffer = 64 * 1024;
    private const int MaxLine = 64 * 1024;

    private Socket? _socket;
    // tls-replication: once connected, every byte goes through this stream.
    private SslStream? _tls;

    public byte[] Buffer = new byte[InitialBuffer];
    public int Start, End;

    /// <summary>Bytes before this index may be dropped when the buffer is compacted (the stream phase sets it).</summary>
    public int KeepFrom = -1;

    /// <summary>Called with the shift when the buffer content moved left (parsers with absolute offsets follow it).</summary>
    public Action<byte[], int>? Moved;

    public Socket? Socket => _socket;

    /// <summary>Connects; with <paramref name="tls"/> (tls-replication) the TLS handshake follows, and a failed one is an IOException.</summary>
    public async Task ConnectAsync(string host, int port, int timeoutSeconds, SslClientAuthenticationOptions? tls = null)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        _socket = socket;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Math.Max(1, timeoutSeconds)));
        await socket.ConnectAsync(host, port, timeout.Token);
        socket.NoDelay = true;
        if (tls is null) return;
        var stream = new SslStream(new NetworkStream(socket, ownsSocket: false), leaveInnerStreamOpen: false);
        try
        {
            await stream.AuthenticateAsClientAsync(tls, timeout.Token);
        }
        catch (System.Security.Authentication.AuthenticationException e)
        {
            await stream.DisposeAsync();
            throw new IOException($"Unable to connect to PRIMARY over TLS: {e.Message}", e);
        }
        _tls = stream;
    }

    public async Task SendAsync(byte[] bytes)
    {
        var socket = _socket ?? throw new IOException("the link is closed");
        if (_tls is { } tls)
        {
            await tls.WriteAsync(bytes);
            return;
        }
        int sent = 0;
        while (sent < bytes.Length) sent += await socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
    }

    /// <summary>One reply line, without its line ending ("" for a bare newline, the primary's keepalive).</summary>
    public async Task<string> ReadLineAsync()
    {
        while (true)
        {
            int nl = Array.IndexOf(Buffer, (byte)'\n', Start, End - Start);
            if (nl >= 0)
            {
                int stop = nl > Start && Buffer[nl - 1] == '\r' ? nl - 1 : nl;
                string line = Encoding.UTF8.GetString(Buffer, Start, stop - Start);
                Start = nl + 1;
                touchIo();
                return line;
            }
            if (End - Start > MaxLine) throw new IOException("Bad protocol from PRIMARY: a line too long");
            if (!await ReceiveMoreAsync()) throw new IOException("connection lost");
        }
    }

    /// <summary>Receives more bytes at the end of the buffer. False when the peer closed.</summary>
    public async Task<bool> ReceiveMoreAsync(CancellationToken cancel = default)
    {
        var socket = _socket ?? throw new IOException("the link is closed");
        MakeRoom();
        int n = _tls is { } tls ? await tls.ReadAsync(Buffer.AsMemory(End), cancel) : await socket.ReceiveAsync(Buffer.AsMemory(End), SocketFlags.None, cancel);
        if (n <= 0) return false;
        End += n;
        touchIo();
        return true;
    }

    /// <summary>Synchronous receive for a loading thread (the socket's receive timeout bounds it).</summary>
    public bool ReceiveMoreBlocking(int timeoutSeconds)
    {
        var socket = _socket ?? throw new IOException("the link is closed");
        MakeRoom();
        socket.ReceiveTimeout = Math.Max(1, timeoutSeconds) * 1000;
        int n = _tls is { } tls ? tls.Read(Buffer, End, Buffer.Length - End) : socket.Receive(Buffer, End, Buffer.Length - End, SocketFlags.None);
        if (n <= 0) return false;
        End += n;
        touchIo();
        return true;
    }

    /// <summary>Makes room at the end: compacts (dropping consumed bytes) or doubles the buffer.</summary>
    private void MakeRoom()
    {
        int keep = KeepFrom >= 0 ? Math.Min(KeepFrom, Start) : Start;
        if (keep == End && Buffer.Length > InitialBuffer)
        {
            // Everything was consumed: a buffer grown for something big goes back to its usual size.
            Buffer = new byte[InitialBuffer];
            Start = End = 0;
            if (KeepFrom >= 0) KeepFrom = 0;
            Moved?.Invoke(Buffer, keep);
            return;
        }
        if (End < Buffer.Length) return;
        int live = End - keep;
        if (live < Buffer.Length / 2)
        {
            Array.Copy(Buffer, keep, Buffer, 0, live);
        }
        else
        {
            var bigger = new byte[Buffer.Length * 2];
            Array.Copy(Buffer, keep, bigger, 0, live);
            Buffer = bigger;
        }
        Start -= keep;
        End = live;
        if (KeepFrom >= 0) KeepFrom -= keep;
        Moved?.Invoke(Buffer, keep);
    }

    public void Close()
    {
        var s = _socket;
        if (s is null) return;
        try { _tls?.Dispose(); } catch (Exception e) when (e is IOException or ObjectDisposedException) { }
        _tls = null;
        try { s.Shutdown(SocketShutdown.Both); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        s.Dispose();
    }

    public void Dispose() => Close();
}
