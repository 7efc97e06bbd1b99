using System.Net.Sockets;
using System.Text;

namespace Kvasir.Observability;

/// <summary>
/// systemd's readiness protocol (sd_notify) for <c>supervised systemd</c>: datagrams such as
/// "READY=1" and "STOPPING=1" sent to the unix socket named by NOTIFY_SOCKET (a leading '@' names
/// an abstract socket). The messages and the moments they are sent are Valkey's, so a unit file
/// written for valkey-server (Type=notify) works unchanged. Failures are logged once and ignored:
/// a service manager that went away must not stop the server.
/// </summary>
public sealed class ServiceNotifier : IDisposable
{
    private readonly Socket _socket;
    private readonly UnixDomainSocketEndPoint _endpoint;
    private readonly ServerLog _log;
    private bool _warned;

    private ServiceNotifier(Socket socket, UnixDomainSocketEndPoint endpoint, ServerLog log)
    {
        _socket = socket;
        _endpoint = endpoint;
        _log = log;
    }

    /// <summary>The notifier for NOTIFY_SOCKET, or null when the variable is not set.</summary>
    public static ServiceNotifier? FromEnvironment(ServerLog log)
    {
        string? path = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        if (string.IsNullOrEmpty(path)) return null;
        if (path[0] == '@') path = "\0" + path[1..];
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        return new ServiceNotifier(socket, new UnixDomainSocketEndPoint(path), log);
    }

    /// <summary>Sends one notification ("READY=1\n", "STATUS=...\n"); false when it could not be delivered.</summary>
    public bool Notify(string message)
    {
        try
        {
            _socket.SendTo(Encoding.UTF8.GetBytes(message), _endpoint);
            return true;
        }
        catch (SocketException e)
        {
            if (!_warned) _log.Warning($"systemd supervision error: NOTIFY_SOCKET: {e.Message}");
            _warned = true;
            return false;
        }
    }

    public void Dispose() => _socket.Dispose();
}
