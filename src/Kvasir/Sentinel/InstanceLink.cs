namespace Kvasir.Sentinel;

/// <summary>
/// The connections to one instance (Valkey's instanceLink): a command connection, and for primaries
/// and replicas a second one subscribed to the hello channel, plus the ping bookkeeping that failure
/// detection reads. A Sentinel monitoring several primaries sees the same other Sentinel once per
/// primary; those instances share one link (refcounted), so one connection and one PING a second.
/// </summary>
public sealed class InstanceLink
{
    public InstanceLink(long now)
    {
        // "Now" although nothing was sent yet: an instance we can never connect to times out.
        ActPingTime = now;
        LastAvailTime = now;
        LastPongTime = now;
    }

    public int RefCount = 1;

    /// <summary>True while one of the needed connections is missing.</summary>
    public bool Disconnected = true;

    /// <summary>Commands sent and not yet answered.</summary>
    public int PendingCommands;

    public InstanceConnection? Commands;
    public InstanceConnection? PubSub;

    public long CommandsConnectedAt;
    public long PubSubConnectedAt;

    /// <summary>Last message of any kind on the hello subscription.</summary>
    public long PubSubLastActivity;

    /// <summary>Last valid reply to PING (PONG, LOADING, MASTERDOWN).</summary>
    public long LastAvailTime;

    /// <summary>Time of the oldest PING still unanswered, 0 when every PING got its reply.</summary>
    public long ActPingTime;

    public long LastPingTime;

    /// <summary>Last reply to PING whatever it was (a link that answers anything is not idle).</summary>
    public long LastPongTime;

    public long LastReconnectTime;

    /// <summary>Closes one of the link's connections on our initiative (instanceLinkCloseConnection).</summary>
    public void CloseConnection(InstanceConnection? connection)
    {
        if (connection is null) return;
        if (Commands == connection)
        {
            Commands = null;
            PendingCommands = 0;
        }
        if (PubSub == connection) PubSub = null;
        Disconnected = true;
        connection.Close();
    }

    /// <summary>A connection failed or the peer closed it (instanceLinkConnectionError).</summary>
    internal void ConnectionLost(InstanceConnection connection)
    {
        if (PubSub == connection) PubSub = null;
        else if (Commands == connection) Commands = null;
        else return;
        Disconnected = true;
    }
}
