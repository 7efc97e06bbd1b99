using Kvasir.Persistence;

namespace Kvasir;

public sealed partial class KvasirServer
{
    /// <summary>The RDB file: startup load, SAVE, the save at SHUTDOWN, DEBUG RELOAD.</summary>
    public PersistenceManager Persistence { get; }
}
