using System.Net;
using Kvasir.Clients;

namespace Kvasir;

public sealed partial class KvasirServer
{
    /// <summary>True when new connections must authenticate: the default user has a password or is off.</summary>
    public bool AuthRequired => Acl.AuthRequired;

    /// <summary>Hooks for subsystems that keep per-client state (pub/sub, blocking, tracking).</summary>
    public event Action<Client>? ClientClosing;

    /// <summary>Under the data lock: registers a new connection, or returns the error that refuses it.</summary>
    internal string? AdmitClient(Client client)
    {
        Stats.TotalConnectionsReceived++;
        if (Clients.Count >= Config.MaxClients)
        {
            Stats.RejectedConnections++;
            return "ERR max number of clients reached";
        }
        if (Config.ProtectedMode && Acl.DefaultUser.NoPass && !IsLoopback(client) && !client.Has(ClientFlags.UnixSocket) && UsesDefaultBind())
        {
            Stats.RejectedConnections++;
            return "DENIED Running in protected mode because protected mode is enabled and no password is set for the default user. " +
                   "In this mode connections are only accepted from the loopback interface. If you want to connect from external computers, " +
                   "you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' " +
                   "from the loopback interface by connecting from the same host the server is running, however MAKE SURE it's not publicly accessible " +
                   "from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode " +
                   "by editing the configuration file, and setting the protected mode option to 'no', and then restarting the server. " +
                   "3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. " +
                   "4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server " +
                   "to start accepting connections from the outside.";
        }
        client.User = Acl.DefaultUser;
        client.Authenticated = !AuthRequired;
        Clients.Add(client);
        return null;
    }

    private bool UsesDefaultBind() => Config.Bind.Length == 2 && Config.Bind[0] == "*" && Config.Bind[1] == "-::*";

    private static bool IsLoopback(Client client) =>
        client.RemoteEndPoint is IPEndPoint ip && (IPAddress.IsLoopback(ip.Address) ||
            (ip.Address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(ip.Address.MapToIPv4())));

    /// <summary>Under the data lock: closes a client now (CLIENT KILL). It leaves the client list at once,
    /// as Valkey's freeClient, and its connection stops executing commands.</summary>
    public void DisconnectClient(Client client)
    {
        client.Flags |= ClientFlags.CloseAsap;
        client.Transport?.Close();
        ClientClosed(client);
    }

    /// <summary>Under the data lock: a connection ended.</summary>
    internal void ClientClosed(Client client)
    {
        if (Clients.Find(client.Id) is null) return;
        ClientClosing?.Invoke(client);
        Clients.Remove(client);
        client.Reply.Release();
    }
}
