namespace Kvasir;

public sealed partial class KvasirServer
{
    /// <summary>Cluster mode's state and bus (cluster-enabled yes); null otherwise.</summary>
    public Cluster.ClusterState? Cluster { get; private set; }

    /// <summary>Creates the cluster state when cluster-enabled; before any database exists (they index keys by slot).</summary>
    private void CreateCluster()
    {
        Keyspace.TrackSlots = Config.ClusterEnabled;
        if (!Config.ClusterEnabled) return;
        if (Config.Databases > 1) Config.Databases = 1;
        Cluster = new Cluster.ClusterState(this);
    }

    /// <summary>
    /// Empties the data set (CLUSTER RESET of a replica): every database flushed, lazily with
    /// <paramref name="async"/>, as Valkey's emptyData.
    /// </summary>
    internal void FlushAllData(bool async)
    {
        Tracking.InvalidateAll();
        foreach (var db in Databases)
        {
            if (async) db.Clear(LazyFree.ReleaseTables);
            else db.Clear();
        }
    }
}
