using System.Diagnostics;
using System.Text;
using Kvasir.Clients;
using Kvasir.Persistence;

namespace Kvasir.Replication;

/// <summary>
/// The primary's side of a full resynchronisation, as Valkey's disk-based sync: the image is a
/// fork-less <see cref="BackgroundSave"/> taken at the moment of SYNC/PSYNC, so writes keep
/// flowing; the propagation stream from that moment on is kept for the replica
/// (<see cref="Propagator.BeginFullSync"/>). When the file is complete it is sent as
/// "$&lt;length&gt;\r\n" + bytes, in chunks that wait for the socket to take the previous one (the
/// image does not count against the replica's output buffer limit, as in Valkey), then the kept
/// stream follows and the replica is online. While the image is prepared the replica receives a
/// newline every second, as Valkey's keep-alive for replicas waiting for a BGSAVE.
/// </summary>
internal static class FullSync
{
    private const int ChunkSize = 1 << 20;

    /// <summary>Starts the image for <paramref name="replica"/> (caller holds the data lock).</summary>
    public static void Start(KvasirServer server, Client replica)
    {
        server.Propagator.BeginFullSync(replica);
        string path = Path.Combine(server.Config.Dir, $"temp-{Environment.ProcessId}-repl-{replica.Id}.rdb");
        var save = new BackgroundSave(server, server.Persistence.WriteOptions(), path, path + ".part");
        save.Start();
        server.Log.Notice("Starting BGSAVE for SYNC with target: disk");
        _ = RunAsync(server, replica, save, path);
    }

    private static async Task RunAsync(KvasirServer server, Client replica, BackgroundSave save, string path)
    {
        try
        {
            var done = save.Completion.Task;
            while (await Task.WhenAny(done, Task.Delay(1000)) != done)
            {
                lock (server.DataLock)
                {
                    if (!server.Propagator.IsSyncing(replica))
                    {
                        save.Abort("the replica went away");
                        return;
                    }
                    WriteToReplica(replica, "\n"u8);
                }
            }
            if (!done.Result)
            {
                lock (server.DataLock)
                {
                    server.Log.Warning($"Background saving error for replica {replica.RemoteAddress} sync: {save.Error ?? save.AbortReason}");
                    server.Propagator.DetachReplica(replica);
                    replica.Transport?.Close();
                }
                return;
            }
            await SendImageAsync(server, replica, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            lock (server.DataLock)
            {
                server.Log.Warning($"Failed sending the sync image to replica {replica.RemoteAddress}: {e.Message}");
                server.Propagator.DetachReplica(replica);
                replica.Transport?.Close();
            }
        }
        finally
        {
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private static async Task SendImageAsync(KvasirServer server, Client replica, string path)
    {
        var started = Stopwatch.GetTimestamp();
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan | FileOptions.Asynchronous);
        lock (server.DataLock)
        {
            if (!server.Propagator.IsSyncing(replica)) return;
            server.Log.Notice($"Background saving terminated with success; sending {file.Length} bytes to replica {replica.RemoteAddress}");
            WriteToReplica(replica, Encoding.ASCII.GetBytes($"${file.Length}\r\n"));
        }
        var chunk = new byte[ChunkSize];
        while (true)
        {
            int n = await file.ReadAsync(chunk);
            if (n == 0) break;
            while (true)
            {
                lock (server.DataLock)
                {
                    if (!server.Propagator.IsSyncing(replica)) return;
                    // The previous chunk was handed to the socket: at most two are in memory.
                    if (replica.Reply.Length == 0)
                    {
                        WriteToReplica(replica, chunk.AsSpan(0, n));
                        break;
                    }
                }
                await Task.Delay(1);
            }
        }
        lock (server.DataLock)
        {
            if (!server.Propagator.IsSyncing(replica)) return;
            server.Propagator.EndFullSync(replica);
            server.Log.Notice($"Synchronization with replica {replica.RemoteAddress} succeeded ({Stopwatch.GetElapsedTime(started).TotalMilliseconds:F0} ms to send the image)");
        }
    }

    /// <summary>Raw bytes into a replica's output, whose own replies are switched off (under the data lock).</summary>
    private static void WriteToReplica(Client replica, ReadOnlySpan<byte> bytes)
    {
        bool enabled = replica.Reply.Enabled;
        replica.Reply.Enabled = true;
        replica.Reply.WriteRaw(bytes);
        replica.Reply.Enabled = enabled;
        replica.Transport?.OutputAvailable();
    }
}
