namespace Kvasir;

public sealed partial class KvasirServer
{
    /// <summary>DEBUG SET-ACTIVE-EXPIRE: whether the background expiry cycle runs.</summary>
    public bool ActiveExpireEnabled { get; set; } = true;

    /// <summary>Per-tick bookkeeping run by the cron (hooks for persistence, stats, pauses).</summary>
    public event Action? Tick;

    internal void CronTick() => Tick?.Invoke();
}
