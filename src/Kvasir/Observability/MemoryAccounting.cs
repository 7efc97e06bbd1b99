using System.Runtime;
using Kvasir.Clients;

namespace Kvasir.Observability;

/// <summary>
/// Kvasir's own memory figure (INFO used_memory, maxmemory decisions): the incrementally
/// maintained size of every database plus client buffers plus a fixed base for the server's
/// own structures. It deliberately does not come from the GC, whose numbers move with
/// collections; the GC's figures and the process RSS are reported next to it.
/// </summary>
public static class MemoryAccounting
{
    /// <summary>Server structures that exist before any data or client (INFO used_memory_startup, less empty tables).</summary>
    public const long BaseOverhead = 880 * 1024;

    /// <summary>Bookkeeping per connected client beyond its buffers (the client object, its context, parser state).</summary>
    public const long PerClientOverhead = 1024;

    public static long UsedMemory(KvasirServer server) => DatasetAndTables(server) + ClientsMemory(server, normal: true) + ClientsMemory(server, normal: false) + BaseOverhead;

    public static long DatasetAndTables(KvasirServer server)
    {
        long total = 0;
        foreach (var db in server.Databases) total += db.UsedMemory;
        return total;
    }

    public static long TablesOverhead(KvasirServer server)
    {
        long total = 0;
        foreach (var db in server.Databases) total += db.TableOverhead;
        return total;
    }

    /// <summary>Buffers of normal clients (<paramref name="normal"/>) or of replicas.</summary>
    public static long ClientsMemory(KvasirServer server, bool normal)
    {
        long total = 0;
        foreach (var c in server.Clients.All)
        {
            bool replica = c.Has(ClientFlags.Replica) && !c.Has(ClientFlags.Monitor);
            if (replica == normal) continue;
            total += ClientMemory(c);
        }
        return total;
    }

    public static long ClientMemory(Client c) =>
        PerClientOverhead + c.Reply.Capacity + c.QueryBufferCapacity + c.MultiMemory;

    /// <summary>Resident set size of the process in bytes (from /proc/self/statm on Linux).</summary>
    public static long ProcessRss()
    {
        try
        {
            if (OperatingSystem.IsLinux())
            {
                var parts = File.ReadAllText("/proc/self/statm").Split(' ');
                if (parts.Length > 1 && long.TryParse(parts[1], out long pages)) return pages * Environment.SystemPageSize;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return Environment.WorkingSet;
    }

    private static long _systemMemory = -1;

    /// <summary>Physical memory of the machine (total_system_memory).</summary>
    public static long TotalSystemMemory()
    {
        if (_systemMemory >= 0) return _systemMemory;
        long result = 0;
        try
        {
            if (OperatingSystem.IsLinux())
            {
                foreach (var line in File.ReadLines("/proc/meminfo"))
                {
                    if (!line.StartsWith("MemTotal:", StringComparison.Ordinal)) continue;
                    var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    if (fields.Length >= 2 && long.TryParse(fields[1], out long kb)) result = kb * 1024;
                    break;
                }
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        if (result == 0) result = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        _systemMemory = result;
        return result;
    }

    /// <summary>Valkey's bytesToHuman: 100B, 2.00K, 3.50M, ...</summary>
    public static string ToHuman(long n)
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        double d = n;
        if (n < 1024) return n.ToString(ci) + "B";
        if (n < 1024L * 1024) return (d / 1024).ToString("F2", ci) + "K";
        if (n < 1024L * 1024 * 1024) return (d / (1024 * 1024)).ToString("F2", ci) + "M";
        if (n < 1024L * 1024 * 1024 * 1024) return (d / (1024L * 1024 * 1024)).ToString("F2", ci) + "G";
        if (n < 1024L * 1024 * 1024 * 1024 * 1024) return (d / (1024L * 1024 * 1024 * 1024)).ToString("F2", ci) + "T";
        if (n < 1024L * 1024 * 1024 * 1024 * 1024 * 1024) return (d / (1024L * 1024 * 1024 * 1024 * 1024)).ToString("F2", ci) + "P";
        return n.ToString(ci) + "B";
    }

    public static string GcMode => GCSettings.IsServerGC ? "server" : "workstation";
}
