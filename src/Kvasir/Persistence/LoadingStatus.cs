namespace Kvasir.Persistence;

/// <summary>
/// Whether a data set is being loaded while clients are served (a replica loading its primary's
/// image), for the <c>-LOADING</c> replies and INFO persistence's loading fields. While
/// <see cref="Active"/> and not <see cref="Async"/>, commands without the <c>loading</c> flag are
/// refused; an async load (repl-diskless-load swapdb of the same history) keeps serving the old data.
/// </summary>
public sealed class LoadingStatus
{
    private long _loadedBytes;

    public bool Active { get; private set; }
    public bool Async { get; private set; }
    public long StartUnix { get; private set; }
    public long TotalBytes { get; private set; }
    public long LoadedBytes => Interlocked.Read(ref _loadedBytes);

    /// <summary>Valkey's -LOADING error text.</summary>
    public const string Error = "LOADING Valkey is loading the dataset in memory";

    /// <summary>Under the data lock.</summary>
    public void Start(long totalBytes, bool async)
    {
        Active = true;
        Async = async;
        StartUnix = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        TotalBytes = totalBytes;
        Interlocked.Exchange(ref _loadedBytes, 0);
    }

    /// <summary>From the loading thread.</summary>
    public void Progress(long loadedBytes) => Interlocked.Exchange(ref _loadedBytes, loadedBytes);

    /// <summary>Under the data lock.</summary>
    public void Stop()
    {
        Active = false;
        Async = false;
    }

    /// <summary>INFO persistence's loading_* lines, present only while loading (as Valkey).</summary>
    public void AppendInfo(System.Text.StringBuilder sb)
    {
        if (!Active) return;
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        long elapsed = Math.Max(0, now - StartUnix);
        long loaded = LoadedBytes;
        double perc = TotalBytes > 0 ? (double)loaded / TotalBytes * 100 : 0;
        long eta = elapsed == 0 || loaded == 0 ? 1 : (TotalBytes - loaded) / (loaded / elapsed + 1);
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        sb.Append("loading_start_time:").Append(StartUnix.ToString(inv)).Append("\r\n");
        sb.Append("loading_total_bytes:").Append(TotalBytes.ToString(inv)).Append("\r\n");
        sb.Append("loading_rdb_used_mem:0\r\n");
        sb.Append("loading_loaded_bytes:").Append(loaded.ToString(inv)).Append("\r\n");
        sb.Append("loading_loaded_perc:").Append(perc.ToString("F2", inv)).Append("\r\n");
        sb.Append("loading_eta_seconds:").Append(Math.Max(0, eta).ToString(inv)).Append("\r\n");
    }
}
