using Kvasir.Clients;
using Kvasir.Keyspace;
using Kvasir.Protocol;

namespace Kvasir.Commands;

/// <summary>
/// What a handler works with: the arguments, the client and its reply writer, the selected
/// database and the server. One instance per client is reused for every command.
/// </summary>
public sealed class CommandContext
{
    public CommandContext(KvasirServer server, Client client)
    {
        Server = server;
        Client = client;
    }

    public KvasirServer Server { get; }
    public Client Client { get; }
    public CommandArgs Args { get; set; } = null!;
    public CommandDefinition Command { get; set; } = null!;

    public ReplyWriter Reply => Client.Reply;

    /// <summary>The database the client has selected.</summary>
    public Database Db => Server.Databases[Client.DbIndex];

    /// <summary>Unix ms time of this command (the same for the whole command, like Valkey's command time snapshot).</summary>
    public long NowMs => Server.Keyspace.NowMs;

    public int ArgCount => Args.Count;

    /// <summary>Set by a handler that failed with an error reply (for INFO errorstats / failed_calls).</summary>
    public bool Failed { get; private set; }

    internal void ResetForCommand(CommandArgs args, CommandDefinition command)
    {
        Args = args;
        Command = command;
        Failed = false;
        PropagateArgv = null;
        PropagationPrevented = false;
        PropagationForced = false;
        _redacted?.Clear();
    }

    private HashSet<int>? _redacted;

    /// <summary>
    /// Set while a blocked command runs again after a write to a key it waits on: its wait keeps
    /// the deadline it had (Valkey's CLIENT_REPROCESSING_COMMAND), and MONITOR does not see it twice.
    /// </summary>
    public Clients.BlockState? Reprocessing { get; internal set; }

    /// <summary>Time the current blocking command spent running so far, counted once when it completes.</summary>
    internal long BlockedMicros;

    /// <summary>
    /// Hides an argument (a password, a secret config value) from the slow log and MONITOR, which
    /// then show "(redacted)" in its place, as Valkey's redactClientCommandArgument does.
    /// </summary>
    public void RedactArgument(int index) => (_redacted ??= new HashSet<int>()).Add(index);

    public bool IsRedacted(int index) => _redacted is { Count: > 0 } r && r.Contains(index);

    // ----- common replies (Valkey's shared error objects) -----

    public void Error(string message)
    {
        Failed = true;
        Server.Stats.CountError(message);
        Reply.WriteError(message);
        // The primary's stream failed here: the data sets may diverge, which Valkey logs loudly.
        if (Client.Has(ClientFlags.Master)) Server.Replication.PrimaryCommandFailed(this, message);
    }

    /// <summary>An error reply already counted in errorstats where it arose (a script relaying its command's error).</summary>
    public void ErrorCountedElsewhere(string message)
    {
        Failed = true;
        Reply.WriteError(message);
    }

    public void WrongType() => Error("WRONGTYPE Operation against a key holding the wrong kind of value");
    public void SyntaxError() => Error("ERR syntax error");
    public void NotInteger() => Error("ERR value is not an integer or out of range");
    public void NotFloat() => Error("ERR value is not a valid float");
    public void NoSuchKey() => Error("ERR no such key");
    public void OutOfRangeIndex() => Error("ERR index out of range");
    public void WrongArity() => Error($"ERR wrong number of arguments for '{Command.Name}' command");

    // ----- argument helpers -----

    public bool TryGetLong(int index, out long value)
    {
        if (Types.NumberParser.TryParseLong(Args[index], out value)) return true;
        NotInteger();
        return false;
    }

    public bool TryGetDouble(int index, out double value)
    {
        if (Types.NumberParser.TryParseDouble(Args[index], out value)) return true;
        NotFloat();
        return false;
    }

    public bool ArgIs(int index, ReadOnlySpan<byte> upperKeyword) => Args.Is(index, upperKeyword);

    /// <summary>Increments the change counter without a keyspace write (e.g. FLUSHALL of an empty server still counts).</summary>
    public void AddDirty(long n = 1) => Server.Keyspace.Dirty += n;

    // ----- propagation (replicas, later the AOF) -----

    /// <summary>The command's replayable form when it differs from what the client sent.</summary>
    internal byte[][]? PropagateArgv { get; private set; }

    internal bool PropagationPrevented { get; private set; }

    internal bool PropagationForced { get; private set; }

    /// <summary>Propagate this command even though it changed nothing (Valkey's forceCommandPropagation).</summary>
    public void ForcePropagation() => PropagationForced = true;

    /// <summary>True when something consumes the propagation stream; check before building effects.</summary>
    public bool Propagating => Server.Propagator.Active;

    /// <summary>Propagate this command as <paramref name="argv"/> instead of its arguments
    /// (Valkey's rewriteClientCommandVector: SET EX becomes SET PXAT, GETDEL becomes DEL, ...).</summary>
    public void PropagateAs(params byte[][] argv)
    {
        if (Propagating) PropagateArgv = argv;
    }

    /// <summary>Adds an extra effect of this command to the stream (Valkey's alsoPropagate).</summary>
    public void AlsoPropagate(params byte[][] argv) => Server.Propagator.Add(Client.DbIndex, argv);

    /// <summary>This command's own arguments are not propagated (its effects were, or it changed nothing replayable).</summary>
    public void PreventPropagation() => PropagationPrevented = true;
}
