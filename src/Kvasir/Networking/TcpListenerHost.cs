using System.Net;
using System.Net.Sockets;

namespace Kvasir.Networking;

/// <summary>Accepts connections on one address (TCP or Unix socket) and starts a <see cref="Connection"/> for each.</summary>
public sealed class TcpListenerHost
{
    private readonly KvasirServer _server;
    private readonly EndPoint _endPoint;
    private readonly string? _unixPath;
    private readonly int _unixPerm;
    private Socket? _socket;
    private readonly CancellationTokenSource _stop = new();

    public TcpListenerHost(KvasirServer server, string address, int port, bool tls = false)
    {
        _server = server;
        _endPoint = new IPEndPoint(ParseAddress(address.TrimStart('-')), port);
        IsTls = tls;
    }

    /// <summary>Connections accepted here speak TLS (tls-port).</summary>
    public bool IsTls { get; }

    private TcpListenerHost(KvasirServer server, string path, uint perm)
    {
        _server = server;
        _unixPath = path;
        _unixPerm = (int)perm;
        _endPoint = new UnixDomainSocketEndPoint(path);
    }

    public static TcpListenerHost ForUnixSocket(KvasirServer server, string path, int perm) => new(server, path, (uint)perm);

    public int Port { get; private set; }

    public bool IsUnix => _unixPath is not null;

    private static IPAddress ParseAddress(string address) => address switch
    {
        "*" => IPAddress.Any,
        "::*" => IPAddress.IPv6Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.Parse(address),
    };

    public bool TryStart(out string? error)
    {
        error = null;
        try
        {
            if (_unixPath is not null)
            {
                if (File.Exists(_unixPath)) File.Delete(_unixPath);
                _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            }
            else
            {
                var ep = (IPEndPoint)_endPoint;
                _socket = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                if (ep.AddressFamily == AddressFamily.InterNetworkV6) _socket.DualMode = false;
                // SO_REUSEADDR only (a restart binds past TIME_WAIT, as Valkey's anetSetReuseAddr). .NET's
                // ReuseAddress option also sets SO_REUSEPORT on Linux, which let a second server listen on
                // a port already in use instead of failing with "Address already in use".
                if (OperatingSystem.IsLinux()) _socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
                else _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }
            _socket.Bind(_endPoint);
            _socket.Listen(_server.Config.TcpBacklog);
            if (_unixPath is not null && _unixPerm != 0)
                File.SetUnixFileMode(_unixPath, (UnixFileMode)_unixPerm);
            if (_socket.LocalEndPoint is IPEndPoint bound) Port = bound.Port;
            _ = Task.Run(AcceptLoopAsync);
            return true;
        }
        catch (Exception e) when (e is SocketException or IOException or UnauthorizedAccessException or FormatException)
        {
            error = e.Message;
            _socket?.Dispose();
            _socket = null;
            return false;
        }
    }

    private async Task AcceptLoopAsync()
    {
        var socket = _socket!;
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(_stop.Token);
            }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException) { continue; }
            if (!IsUnix) accepted.NoDelay = true;
            var connection = new Connection(_server, accepted, IsUnix, IsTls);
            _ = connection.RunAsync();
        }
    }

    public void Stop()
    {
        _stop.Cancel();
        try { _socket?.Dispose(); } catch (SocketException) { }
        if (_unixPath is not null)
        {
            try { File.Delete(_unixPath); } catch (IOException) { }
        }
    }
}
