using Kvasir.Commands;

namespace Kvasir.Scripting;

/// <summary>Script flags from a "#!lua flags=..." shebang or server.register_function (Valkey's SCRIPT_FLAG_*).</summary>
[Flags]
public enum ScriptFlags
{
    None = 0,
    NoWrites = 1 << 0,
    AllowOom = 1 << 1,
    AllowStale = 1 << 2,
    NoCluster = 1 << 3,
    AllowCrossSlot = 1 << 4,
    /// <summary>An EVAL script without shebang: Valkey's pre-7 rules (checks happen per command inside).</summary>
    EvalCompat = 1 << 5,
}

public static class ScriptFlagNames
{
    public static bool TryParse(string name, out ScriptFlags flag)
    {
        flag = name switch
        {
            "no-writes" => ScriptFlags.NoWrites,
            "allow-oom" => ScriptFlags.AllowOom,
            "allow-stale" => ScriptFlags.AllowStale,
            "no-cluster" => ScriptFlags.NoCluster,
            "allow-cross-slot-keys" => ScriptFlags.AllowCrossSlot,
            _ => ScriptFlags.None,
        };
        return flag != ScriptFlags.None;
    }
}

/// <summary>The state of the one script running now (Valkey's scriptRunCtx).</summary>
internal sealed class ScriptRun
{
    public required CommandContext Caller;
    /// <summary>The script's SHA1 (EVAL) or the function's name (FCALL), as error messages and logs show it.</summary>
    public required string Name;
    public bool IsEval;
    public ScriptFlags Flags;
    public bool ReadOnly;
    public bool AllowOom;
    /// <summary>A write command ran: the script can no longer be killed, nor refused for OOM / replica state.</summary>
    public bool WriteDirty;
    /// <summary>The memory was over maxmemory when the script started (Valkey's pre_command_oom_state).</summary>
    public bool OomAtStart;
    public long StartTicks;
    public long StartUnixMicros;
    /// <summary>Past busy-reply-threshold: other clients get -BUSY.</summary>
    public bool TimedOut;
    /// <summary>SCRIPT KILL / FUNCTION KILL asked to stop it.</summary>
    public volatile bool Killed;
    public string? KillPosition;
    /// <summary>The protocol server.call replies are parsed in (server.setresp).</summary>
    public int Resp = 2;
    /// <summary>server.set_repl flags (REPL_AOF | REPL_REPLICA).</summary>
    public int ReplFlags = 3;

    /// <summary>Cluster mode: the slot the script's keys belong to so far (-1: none yet).</summary>
    public int Slot = -1;

    /// <summary>allow-cross-slot-keys (or an EVAL without flags): keys of any local slot may be used.</summary>
    public bool AllowCrossSlot;
}
