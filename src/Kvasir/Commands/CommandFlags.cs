namespace Kvasir.Commands;

/// <summary>Command flags as COMMAND INFO lists them; the dispatcher's checks read these bits.</summary>
[Flags]
public enum CommandFlags : long
{
    None = 0,
    Write = 1L << 0,
    ReadOnly = 1L << 1,
    DenyOom = 1L << 2,
    Module = 1L << 3,
    Admin = 1L << 4,
    PubSub = 1L << 5,
    NoScript = 1L << 6,
    Blocking = 1L << 7,
    Loading = 1L << 8,
    Stale = 1L << 9,
    SkipMonitor = 1L << 10,
    SkipSlowlog = 1L << 11,
    Asking = 1L << 12,
    Fast = 1L << 13,
    NoAuth = 1L << 14,
    MayReplicate = 1L << 15,
    Sentinel = 1L << 16,
    OnlySentinel = 1L << 17,
    NoMandatoryKeys = 1L << 18,
    Protected = 1L << 19,
    NoAsyncLoading = 1L << 20,
    NoMulti = 1L << 21,
    MovableKeys = 1L << 22,
    AllowBusy = 1L << 23,
    ModuleGetChannels = 1L << 24,
    TouchesArbitraryKeys = 1L << 25,
}

public static class CommandFlagNames
{
    public static CommandFlags Parse(string name) => name switch
    {
        "write" => CommandFlags.Write,
        "readonly" => CommandFlags.ReadOnly,
        "denyoom" => CommandFlags.DenyOom,
        "module" => CommandFlags.Module,
        "admin" => CommandFlags.Admin,
        "pubsub" => CommandFlags.PubSub,
        "noscript" => CommandFlags.NoScript,
        "blocking" => CommandFlags.Blocking,
        "loading" => CommandFlags.Loading,
        "stale" => CommandFlags.Stale,
        "skip_monitor" => CommandFlags.SkipMonitor,
        "skip_slowlog" => CommandFlags.SkipSlowlog,
        "asking" => CommandFlags.Asking,
        "fast" => CommandFlags.Fast,
        "no_auth" => CommandFlags.NoAuth,
        "may_replicate" => CommandFlags.MayReplicate,
        "sentinel" => CommandFlags.Sentinel,
        "only_sentinel" => CommandFlags.OnlySentinel,
        "no_mandatory_keys" => CommandFlags.NoMandatoryKeys,
        "protected" => CommandFlags.Protected,
        "no_async_loading" => CommandFlags.NoAsyncLoading,
        "no_multi" => CommandFlags.NoMulti,
        "movablekeys" => CommandFlags.MovableKeys,
        "allow_busy" => CommandFlags.AllowBusy,
        "module_getchannels" => CommandFlags.ModuleGetChannels,
        "touches_arbitrary_keys" => CommandFlags.TouchesArbitraryKeys,
        _ => CommandFlags.None,
    };
}
