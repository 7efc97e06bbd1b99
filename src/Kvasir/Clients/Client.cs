using System.Net;
using Kvasir.Protocol;

namespace Kvasir.Clients;

[Flags]
public enum ClientFlags
{
    None = 0,
    Monitor = 1 << 0,
    Multi = 1 << 1,
    DirtyCas = 1 << 2,
    DirtyExec = 1 << 3,
    PubSub = 1 << 4,
    Blocked = 1 << 5,
    Replica = 1 << 6,
    Master = 1 << 7,
    ReadOnly = 1 << 8,
    NoEvict = 1 << 9,
    NoTouch = 1 << 10,
    CloseAfterReply = 1 << 11,
    CloseAsap = 1 << 12,
    Fake = 1 << 13,
    UnixSocket = 1 << 14,
    Tracking = 1 << 15,
    ProtectedAddress = 1 << 16,
}

public enum ReplyMode { On, Off, Skip, SkipNext }

/// <summary>
/// The state of one client, whether it has a socket or not (Lua, AOF loading and replication use
/// clients without one): selected database, protocol, authentication, flags, statistics that
/// CLIENT LIST and INFO show, and its reply buffer. All fields are read and written under the
/// server's data lock, except the I/O counters owned by its connection.
/// </summary>
public sealed class Client
{
    public Client(long id, IClientTransport? transport)
    {
        Id = id;
        Transport = transport;
        CreatedMs = Environment.TickCount64;
        LastInteractionMs = CreatedMs;
    }

    public long Id { get; }

    /// <summary>The connection this client talks through (null for internal clients).</summary>
    public IClientTransport? Transport { get; }

    public ReplyWriter Reply { get; } = new();

    public string Name = "";
    public string LibName = "";
    public string LibVersion = "";
    public int DbIndex;
    public ClientFlags Flags;
    public string User = "default";
    public bool Authenticated;
    public ReplyMode ReplyMode = ReplyMode.On;

    public EndPoint? RemoteEndPoint;
    public EndPoint? LocalEndPoint;
    public string RemoteAddress = "";
    public string LocalAddress = "";

    /// <summary>Environment.TickCount64 at creation and at the last command (age and idle in CLIENT LIST).</summary>
    public long CreatedMs;
    public long LastInteractionMs;

    public string LastCommand = "NULL";
    public long TotalCommands;
    public long NetInputBytes;
    public long NetOutputBytes;
    public int QueryBufferLength;
    public int QueryBufferCapacity;

    /// <summary>Transaction state (MULTI ... EXEC).</summary>
    public List<byte[][]>? MultiQueue;
    public long MultiMemory;

    public bool Has(ClientFlags f) => (Flags & f) != 0;

    /// <summary>CLIENT LIST "flags" letters.</summary>
    public string FlagLetters()
    {
        var sb = new System.Text.StringBuilder();
        if (Has(ClientFlags.Replica)) sb.Append(Has(ClientFlags.Monitor) ? "O" : "S");
        if (Has(ClientFlags.Master)) sb.Append('M');
        if (Has(ClientFlags.PubSub)) sb.Append('P');
        if (Has(ClientFlags.Multi)) sb.Append('x');
        if (Has(ClientFlags.Blocked)) sb.Append('b');
        if (Has(ClientFlags.Tracking)) sb.Append('t');
        if (Has(ClientFlags.DirtyCas)) sb.Append('d');
        if (Has(ClientFlags.CloseAfterReply)) sb.Append('c');
        if (Has(ClientFlags.UnixSocket)) sb.Append('U');
        if (Has(ClientFlags.ReadOnly)) sb.Append('r');
        if (Has(ClientFlags.NoEvict)) sb.Append('e');
        if (Has(ClientFlags.NoTouch)) sb.Append('T');
        if (Has(ClientFlags.Monitor) && !Has(ClientFlags.Replica)) sb.Append('O');
        if (sb.Length == 0) sb.Append('N');
        return sb.ToString();
    }
}

/// <summary>What the server needs from a client's connection: wake its writer, close it.</summary>
public interface IClientTransport
{
    /// <summary>New output was written into the client's reply buffer by someone else (under the data lock).</summary>
    void OutputAvailable();

    /// <summary>Close the connection as soon as possible (CLIENT KILL, timeout, output limit).</summary>
    void Close();

    /// <summary>A suspended command (paused or blocked client) may be retried.</summary>
    void Resume();
}
