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
    /// <summary>Client tracking options (CLIENT TRACKING ... BCAST / OPTIN / OPTOUT / NOLOOP).</summary>
    TrackingBcast = 1 << 17,
    TrackingOptIn = 1 << 18,
    TrackingOptOut = 1 << 19,
    TrackingNoLoop = 1 << 20,
    /// <summary>CLIENT CACHING yes/no was given for the next command (or transaction).</summary>
    TrackingCaching = 1 << 21,
    /// <summary>The client invalidations are redirected to has gone.</summary>
    TrackingBrokenRedirect = 1 << 22,
    /// <summary>ASKING: the next command may use a slot this node is importing (cluster mode).</summary>
    Asking = 1 << 23,
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

    /// <summary>Cluster mode: the hash slot of the running command's keys (-1 without keys), set by routing.</summary>
    public int Slot = -1;

    /// <summary>
    /// The input bytes of the command being run (Valkey's net_input_bytes_curr_cmd): they count for
    /// its slot in CLUSTER SLOT-STATS once the command is over, even when that is after a block.
    /// </summary>
    public long CommandBytesIn;

    /// <summary>The connection this client talks through (null for internal clients).</summary>
    public IClientTransport? Transport { get; }

    /// <summary>Pending replies. Takes a pooled buffer when first written to; the connection gives it back once sent.</summary>
    public ReplyWriter Reply { get; } = ReplyWriter.CreateEmpty();

    public string Name = "";

    /// <summary>What this client told us as a replica (REPLCONF) and its sync state; null for other clients.</summary>
    public Replication.ReplicaState? ReplicaInfo;

    /// <summary>The replication offset right after this client's last write that propagated (WAIT waits for it).</summary>
    public long WriteOffset;
    public string LibName = "";
    public string LibVersion = "";
    public int DbIndex;
    public ClientFlags Flags;
    /// <summary>
    /// The ACL user this client acts as; null for the server's own clients (AOF loading, the link to
    /// a primary), which no ACL restricts (CLIENT LIST shows them as "(superuser)").
    /// </summary>
    public Security.AclUser? User;
    public bool Authenticated;
    public ReplyMode ReplyMode = ReplyMode.On;

    public EndPoint? RemoteEndPoint;
    public EndPoint? LocalEndPoint;
    public string RemoteAddress = "";
    public string LocalAddress = "";

    /// <summary>Environment.TickCount64 at creation and at the last command (age and idle in CLIENT LIST).</summary>
    public long CreatedMs;
    public long LastInteractionMs;

    /// <summary>The socket's file descriptor (CLIENT LIST fd), -1 for clients without one.</summary>
    public int Fd = -1;

    /// <summary>Pub/sub subscription counts (CLIENT LIST sub/psub/ssub), kept by the pub/sub subsystem.</summary>
    public int Subscriptions;
    public int PatternSubscriptions;
    public int ShardSubscriptions;

    /// <summary>Client tracking redirection target (CLIENT LIST redir), meaningful with the Tracking flag.</summary>
    public long TrackingRedirection;

    /// <summary>BCAST prefixes of this client, in byte order (owned by <see cref="TrackingRegistry"/>).</summary>
    public List<byte[]>? TrackingPrefixes;

    /// <summary>CLIENT CAPA REDIRECT: a replica may answer this client's writes with -REDIRECT.</summary>
    public bool CanRedirect;

    /// <summary>When the output first went over the soft client-output-buffer-limit (TickCount64 ms), 0 when under.</summary>
    public long OutputSoftLimitSinceMs;

    /// <summary>
    /// The reply buffer's size (CLIENT LIST rbs): 16 KB at first, then shrunk for idle clients and
    /// grown for busy ones by the cron (<see cref="ReplyBufferPolicy"/>), as Valkey's clientsCron does.
    /// </summary>
    public int ReplyBufferSize = ReplyBufferPolicy.ChunkBytes;

    /// <summary>Largest use of the reply buffer since the last peak reset, capped at its size (CLIENT LIST rbp).</summary>
    public int ReplyPeak = ReplyBufferPolicy.ChunkBytes;

    /// <summary>When the peak was last reset (TickCount64 ms), and when the cron last looked at the buffer.</summary>
    public long ReplyPeakResetMs = Environment.TickCount64, ReplyBufferCheckedMs;

    public string LastCommand = "NULL";
    public long TotalCommands;
    public long NetInputBytes;
    public long NetOutputBytes;
    public int QueryBufferLength;
    public int QueryBufferCapacity;

    /// <summary>Bytes of replies handed to the socket and not yet sent (set by the connection, read under the lock).</summary>
    public long OutputInFlight;

    /// <summary>
    /// Set while this replica streams: its connection sends the shared replication stream from this
    /// cursor, after its own pending output (set and cleared under the data lock).
    /// </summary>
    public Replication.StreamCursor? StreamSource;

    /// <summary>This client's memory as last counted by <see cref="ClientEviction"/> (maxmemory-clients).</summary>
    internal long CountedMemory;

    /// <summary>Transaction state (MULTI ... EXEC).</summary>
    public List<byte[][]>? MultiQueue;
    public long MultiMemory;

    /// <summary>Union of the flags of the queued commands: EXEC is a write (for CLIENT PAUSE WRITE) when one of them is.</summary>
    public Commands.CommandFlags MultiCommandFlags;

    /// <summary>Flags (stale, loading) that some queued command lacks: EXEC is refused where one of them would be (Valkey's cmd_inv_flags).</summary>
    public Commands.CommandFlags MultiMissingFlags;

    /// <summary>Keys this client WATCHes (owned by <see cref="WatchRegistry"/>).</summary>
    public List<WatchedKey>? WatchedKeys;

    public int WatchedKeyCount => WatchedKeys?.Count ?? 0;

    /// <summary>True while a command of this client waits for a CLIENT PAUSE to end (Valkey's postponed clients).</summary>
    public bool Postponed;

    /// <summary>Set while waiting in a blocking command (BLPOP, BZPOPMIN...); owned by <see cref="BlockingRegistry"/>.</summary>
    public BlockState? Blocking;

    /// <summary>
    /// The blocking command this client's connection is suspended in was answered by someone else
    /// (served after a write, timed out, CLIENT UNBLOCK): the connection goes on with its next command.
    /// </summary>
    public bool BlockedCommandAnswered;

    /// <summary>While EXEC runs its queue: the size of EXEC's own arguments (CLIENT LIST argv-mem), else -1.</summary>
    public long ExecArgvMemory = -1;

    /// <summary>Drops the queued commands but stays in MULTI (a WATCHed key changed or a command was refused).</summary>
    public void ClearMultiQueue()
    {
        MultiQueue = null;
        MultiMemory = 0;
        MultiCommandFlags = 0;
        MultiMissingFlags = 0;
    }

    public bool Has(ClientFlags f) => (Flags & f) != 0;

    /// <summary>The client that replays an AOF (Valkey's CLIENT_ID_AOF).</summary>
    public const long AofClientId = -1;

    /// <summary>
    /// Valkey's mustObeyClient: the primary's link and the AOF replay run whatever they carry, even
    /// on a read-only replica or past maxmemory, since refusing would lose what was already accepted.
    /// </summary>
    public bool MustObey => Has(ClientFlags.Master) || (Id == AofClientId && Has(ClientFlags.Fake));

    /// <summary>CLIENT LIST "flags" letters, in Valkey's order.</summary>
    public string FlagLetters()
    {
        Span<char> letters = stackalloc char[20];
        int n = 0;
        if (Has(ClientFlags.Monitor)) letters[n++] = 'O';
        else if (Has(ClientFlags.Replica)) letters[n++] = 'S';
        if (Has(ClientFlags.Master)) letters[n++] = 'M';
        if (Has(ClientFlags.PubSub)) letters[n++] = 'P';
        if (Has(ClientFlags.Multi)) letters[n++] = 'x';
        if (Has(ClientFlags.Blocked)) letters[n++] = 'b';
        if (Has(ClientFlags.Tracking)) letters[n++] = 't';
        if (Has(ClientFlags.TrackingBrokenRedirect)) letters[n++] = 'R';
        if (Has(ClientFlags.TrackingBcast)) letters[n++] = 'B';
        if (Has(ClientFlags.DirtyCas)) letters[n++] = 'd';
        if (Has(ClientFlags.CloseAfterReply)) letters[n++] = 'c';
        if (Has(ClientFlags.CloseAsap)) letters[n++] = 'A';
        if (Has(ClientFlags.UnixSocket)) letters[n++] = 'U';
        if (Has(ClientFlags.ReadOnly)) letters[n++] = 'r';
        if (Has(ClientFlags.NoEvict)) letters[n++] = 'e';
        if (Has(ClientFlags.NoTouch)) letters[n++] = 'T';
        if (n == 0) letters[n++] = 'N';
        return new string(letters[..n]);
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

    /// <summary>True when the peer has closed its side (readable with nothing to read).</summary>
    bool PeerHasClosed();
}
