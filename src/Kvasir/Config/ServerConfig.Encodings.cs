namespace Kvasir.Config;

public sealed partial class ServerConfig
{
    /// <summary>The set encoding thresholds as one value for SetValue.</summary>
    public Types.SetLimits SetLimits => new(SetMaxIntsetEntries, SetMaxListpackEntries, SetMaxListpackValue);
}
