using System.Net;
using System.Net.Sockets;

namespace Kvasir.Cluster;

/// <summary>
/// The cluster bus port (cluster-port, by default the client port + 10000) on every bind address:
/// each accepted connection becomes an inbound <see cref="ClusterLink"/>, identified by the node
/// it belongs to once its first message arrives.
/// </summary>
internal sealed class BusListener
{
    private readonly KvasirServer _server;
    private readonly ClusterState _cluster;
    private readonly List<Socket> _sockets = new();
    private readonly CancellationTokenSource _stop = new();

    public BusListener(KvasirServer server, ClusterState cluster)
    {
        _server = server;
        _cluster = cluster;
    }

    /// <summary>Binds and listens on every bind address; connections wait in the backlog until <see cref="StartAccepting"/>.</summary>
    public bool TryBind(int port, out string? error)
    {
        error = null;
        foreach (var address in _server.Config.Bind)
        {
            bool optional = address.StartsWith('-');
            string a = address.TrimStart('-');
            try
            {
                var ip = a switch
                {
                    "*" => IPAddress.Any,
                    "::*" => IPAddress.IPv6Any,
                    "localhost" => IPAddress.Loopback,
                    _ => IPAddress.Parse(a),
                };
                var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                if (ip.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                try
                {
                    socket.Bind(new IPEndPoint(ip, port));
                    socket.Listen(_server.Config.TcpBacklog);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
                _sockets.Add(socket);
            }
            catch (Exception e) when (e is SocketException or FormatException)
            {
                if (optional) continue;
                error = e.Message;
                Stop();
                return false;
            }
        }
        return true;
    }

    public void StartAccepting()
    {
        foreach (var socket in _sockets) _ = Task.Run(() => AcceptLoopAsync(socket));
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await listener.AcceptAsync(_stop.Token);
            }
            catch (OperationCanceledException) { break; }
            catch (ObjectDisposedException) { break; }
            catch (SocketException) { continue; }
            accepted.NoDelay = true;
            try { accepted.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true); }
            catch (SocketException) { }
            lock (_server.DataLock) _cluster.Accepted(accepted);
        }
    }

    public void Stop()
    {
        _stop.Cancel();
        foreach (var s in _sockets)
        {
            try { s.Dispose(); } catch (SocketException) { }
        }
        _sockets.Clear();
    }
}
