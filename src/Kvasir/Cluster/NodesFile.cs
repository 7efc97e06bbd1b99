using System.Globalization;
using System.Net;
using System.Text;

namespace Kvasir.Cluster;

/// <summary>
/// nodes.conf (cluster-config-file): the CLUSTER NODES lines of every node, with auxiliary fields
/// (shard id, human node name, ports, client addresses) only a node reads, and a last "vars" line
/// with the current and last-vote epochs. Written whole to a temporary file and renamed over the old
/// one, so a crash leaves either version; read once at start.
/// </summary>
internal static class NodesFile
{
    // Aux fields in Valkey's order; nodes.conf lists them last to first.
    private static readonly string[] AuxNames = { "shard-id", "nodename", "tcp-port", "tls-port", "client-ipv4", "client-ipv6" };

    /// <summary>Loads <paramref name="content"/>; false when it is empty (a new node). Throws on a corrupt file.</summary>
    public static bool Load(ClusterState cluster, string content, string path)
    {
        if (content.Length == 0) return false;
        var log = cluster.LogSink;
        foreach (var raw in content.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            var argv = Config.ConfigValues.SplitArgs(line);
            if (argv is null || argv.Count == 0) Corrupt(log, line);
            if (string.Equals(argv![0], "vars", StringComparison.OrdinalIgnoreCase))
            {
                if (argv.Count % 2 == 0) Corrupt(log, line);
                ulong current = cluster.CurrentEpoch, vote = cluster.LastVoteEpoch;
                for (int j = 1; j < argv.Count; j += 2)
                {
                    if (string.Equals(argv[j], "currentEpoch", StringComparison.OrdinalIgnoreCase)) current = ParseULong(argv[j + 1]);
                    else if (string.Equals(argv[j], "lastVoteEpoch", StringComparison.OrdinalIgnoreCase)) vote = ParseULong(argv[j + 1]);
                    else log.Notice($"Skipping unknown cluster config variable '{argv[j]}'");
                }
                cluster.SetEpochs(current, vote);
                continue;
            }
            if (argv.Count < 8 || !ClusterState.IsValidName(argv[0])) Corrupt(log, line);
            var n = cluster.LookupNode(argv[0]);
            if (n is null)
            {
                n = cluster.CreateNode(argv[0], NodeFlags.None);
                cluster.AddNode(n);
            }
            // ip:port[@cport][,hostname][,aux=value]*
            var parts = argv[1].Split(',');
            n.Hostname = parts.Length > 1 ? parts[1] : "";
            bool auxTcp = false, auxTls = false, hasShardId = false;
            for (int i = 2; i < parts.Length; i++)
            {
                var field = parts[i].Split('=');
                if (field.Length != 2 || !IsValidAux(field[0]) || !IsValidAux(field[1])) Corrupt(log, line);
                switch (field[0])
                {
                    case "shard-id":
                        if (!ClusterState.IsValidName(field[1])) Corrupt(log, line);
                        n.ShardId = field[1];
                        foreach (var r in n.Replicas)
                            if (r.ShardId != n.ShardId) Corrupt(log, line);
                        cluster.AddNodeToShard(field[1], n);
                        hasShardId = true;
                        break;
                    case "nodename": n.HumanNodename = field[1]; break;
                    case "tcp-port":
                        n.TcpPort = ParsePort(field[1], log, line);
                        auxTcp = true;
                        break;
                    case "tls-port":
                        n.TlsPort = ParsePort(field[1], log, line);
                        auxTls = true;
                        break;
                    case "client-ipv4":
                        if (field[1].Length > 0 && !(IPAddress.TryParse(field[1], out var a4) && a4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)) Corrupt(log, line);
                        n.AnnounceClientIpv4 = field[1];
                        break;
                    case "client-ipv6":
                        if (field[1].Length > 0 && !(IPAddress.TryParse(field[1], out var a6) && a6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)) Corrupt(log, line);
                        n.AnnounceClientIpv6 = field[1];
                        break;
                    default: Corrupt(log, line); break;
                }
            }
            string address = parts[0];
            int colon = address.LastIndexOf(':');
            if (colon < 0) Corrupt(log, line);
            n.Ip = address[..colon];
            string portPart = address[(colon + 1)..];
            string? busPart = null;
            int at = portPart.IndexOf('@');
            if (at >= 0)
            {
                busPart = portPart[(at + 1)..];
                portPart = portPart[..at];
            }
            int port = AtoI(portPart);
            if (!auxTcp && !auxTls)
            {
                if (cluster.TlsCluster) n.TlsPort = port;
                else n.TcpPort = port;
            }
            else if (!auxTcp) n.TcpPort = port;
            else if (!auxTls) n.TlsPort = port;
            n.BusPort = busPart is not null ? AtoI(busPart) : (cluster.TlsCluster ? n.TlsPort : n.TcpPort) + ClusterState.PortIncrement;

            foreach (var flag in argv[2].Split(','))
            {
                switch (flag.ToLowerInvariant())
                {
                    case "myself":
                        n.Flags |= NodeFlags.Myself;
                        cluster.SetMyself(n);
                        break;
                    case "master" or "primary": n.Flags |= NodeFlags.Primary; break;
                    case "slave" or "replica": n.Flags |= NodeFlags.Replica; break;
                    case "fail?": n.Flags |= NodeFlags.PFail; break;
                    case "fail":
                        n.Flags |= NodeFlags.Fail;
                        n.FailTimeMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                        break;
                    case "handshake": n.Flags |= NodeFlags.Handshake; break;
                    case "noaddr": n.Flags |= NodeFlags.NoAddress; break;
                    case "nofailover": n.Flags |= NodeFlags.NoFailover; break;
                    case "noflags": break;
                    default: throw new InvalidOperationException($"Unknown flag in Valkey cluster config file");
                }
            }

            if (argv[3] != "-")
            {
                if (!ClusterState.IsValidName(argv[3])) Corrupt(log, line);
                var primary = cluster.LookupNode(argv[3]);
                if (primary is null)
                {
                    primary = cluster.CreateNode(argv[3], NodeFlags.None);
                    cluster.AddNode(primary);
                }
                if (!hasShardId)
                {
                    // Written by a version without shard ids: follow the primary's.
                    n.ShardId = primary.ShardId;
                    cluster.AddNodeToShard(primary.ShardId, n);
                }
                else if (cluster.NodesInShard(primary) is not null && primary.ShardId != n.ShardId)
                {
                    Corrupt(log, line);
                }
                n.ReplicaOf = primary;
                primary.AddReplica(n);
            }
            else if (!hasShardId)
            {
                cluster.AddNodeToShard(n.ShardId, n);
            }

            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (AtoI(argv[4]) != 0) n.PingSentMs = now;
            if (AtoI(argv[5]) != 0) n.PongReceivedMs = now;
            n.ConfigEpoch = n.IsReplica && n.ReplicaOf is not null ? 0 : ParseULong(argv[6]);

            for (int j = 8; j < argv.Count; j++)
            {
                string s = argv[j];
                if (s.StartsWith('['))
                {
                    // [slot->-node] migrating, [slot-<-node] importing
                    int dash = s.IndexOf('-');
                    if (dash < 0 || dash + 3 > s.Length) Corrupt(log, line);
                    char direction = s[dash + 1];
                    int slot = AtoI(s[1..dash]);
                    if (slot < 0 || slot >= KeySlot.Count) Corrupt(log, line);
                    int close = s.IndexOf(']');
                    if (close < 0) Corrupt(log, line);
                    string other = s[(dash + 3)..close];
                    if (!ClusterState.IsValidName(other)) Corrupt(log, line);
                    var cn = cluster.LookupNode(other);
                    if (cn is null)
                    {
                        cn = cluster.CreateNode(other, NodeFlags.None);
                        cluster.AddNode(cn);
                    }
                    if (direction == '>') cluster.SetMigrating(slot, cn);
                    else cluster.SetImporting(slot, cn);
                    continue;
                }
                int start, stop;
                int d = s.IndexOf('-');
                if (d >= 0)
                {
                    start = AtoI(s[..d]);
                    stop = AtoI(s[(d + 1)..]);
                }
                else start = stop = AtoI(s);
                if (start < 0 || start >= KeySlot.Count || stop < 0 || stop >= KeySlot.Count) Corrupt(log, line);
                while (start <= stop) cluster.AddSlot(n, start++);
            }
        }
        if (cluster.Myself is null) Corrupt(log, content.Split('\n')[0]);
        log.Notice($"Node configuration loaded, I'm {cluster.Myself!.Name}");
        cluster.RaiseCurrentEpochToMax();
        return true;
    }

    private static void Corrupt(Observability.ServerLog log, string line)
    {
        log.Warning($"Unrecoverable error: corrupted cluster config file \"{line}\".");
        throw new InvalidOperationException("Unrecoverable error: corrupted cluster config file.");
    }

    private static int ParsePort(string s, Observability.ServerLog log, string line)
    {
        if (s.Length is < 1 or > 5) Corrupt(log, line);
        int p = AtoI(s);
        if (p is < 0 or >= 65536) Corrupt(log, line);
        return p;
    }

    private static ulong ParseULong(string s)
    {
        ulong v = 0;
        foreach (char c in s)
        {
            if (c is < '0' or > '9') break;
            v = v * 10 + (ulong)(c - '0');
        }
        return v;
    }

    private static int AtoI(string s)
    {
        int i = 0;
        bool neg = false;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
        long v = 0;
        while (i < s.Length && s[i] is >= '0' and <= '9' && v < int.MaxValue) v = v * 10 + (s[i++] - '0');
        return (int)(neg ? -v : v);
    }

    /// <summary>Characters allowed in aux field names and values (Valkey's isValidAuxChar).</summary>
    private static bool IsValidAux(string s)
    {
        foreach (char c in s)
            if (!char.IsAsciiLetterOrDigit(c) && "!#$%&()*+;<>?@[]^{|}~".Contains(c)) return false;
        return true;
    }

    // ----- description (CLUSTER NODES and nodes.conf) -----

    private static readonly (NodeFlags Flag, string Name)[] FlagNames =
    {
        (NodeFlags.Myself, "myself"), (NodeFlags.Primary, "master"), (NodeFlags.Replica, "slave"), (NodeFlags.PFail, "fail?"),
        (NodeFlags.Fail, "fail"), (NodeFlags.Handshake, "handshake"), (NodeFlags.NoAddress, "noaddr"), (NodeFlags.NoFailover, "nofailover"),
    };

    public static void AppendFlags(StringBuilder sb, NodeFlags flags)
    {
        int start = sb.Length;
        foreach (var (flag, name) in FlagNames)
        {
            if ((flags & flag) == 0) continue;
            if (sb.Length > start) sb.Append(',');
            sb.Append(name);
        }
        if (sb.Length == start) sb.Append("noflags");
    }

    /// <summary>All nodes, one line each (handshake nodes left out of nodes.conf).</summary>
    public static string Describe(ClusterState cluster, bool forConfigFile, bool tlsPrimary = false, bool clientIpv6 = false)
    {
        var ranges = cluster.SlotRangesByNode();
        var sb = new StringBuilder();
        foreach (var n in cluster.Nodes)
        {
            if (forConfigFile && n.InHandshake) continue;
            AppendNode(sb, cluster, n, forConfigFile, tlsPrimary, clientIpv6, ranges.GetValueOrDefault(n));
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>One node's line (Valkey's clusterGenNodeDescription).</summary>
    public static void AppendNode(StringBuilder sb, ClusterState cluster, ClusterNode n, bool forConfigFile, bool tlsPrimary, bool clientIpv6,
        List<(int Start, int End)>? ranges)
    {
        string ip = forConfigFile ? n.Ip : cluster.ClientVisibleIp(n, clientIpv6);
        sb.Append(n.Name).Append(' ').Append(ip).Append(':').Append(n.ClientPort(tlsPrimary)).Append('@').Append(n.BusPort);
        if (n.Hostname.Length > 0) sb.Append(',').Append(n.Hostname);
        if (forConfigFile)
        {
            if (n.Hostname.Length == 0) sb.Append(',');
            for (int i = AuxNames.Length - 1; i >= 0; i--)
            {
                if ((tlsPrimary && i == 3) || (!tlsPrimary && i == 2)) continue;
                string? value = i switch
                {
                    0 => n.ShardId,
                    1 => n.HumanNodename.Length > 0 ? n.HumanNodename : null,
                    2 => n.TcpPort.ToString(CultureInfo.InvariantCulture),
                    3 => n.TlsPort.ToString(CultureInfo.InvariantCulture),
                    4 => n.AnnounceClientIpv4.Length > 0 ? n.AnnounceClientIpv4 : null,
                    _ => n.AnnounceClientIpv6.Length > 0 ? n.AnnounceClientIpv6 : null,
                };
                if (value is null) continue;
                sb.Append(',').Append(AuxNames[i]).Append('=').Append(value);
            }
        }
        sb.Append(' ');
        AppendFlags(sb, n.Flags);
        sb.Append(' ').Append(n.ReplicaOf?.Name ?? "-");
        sb.Append(' ').Append(n.PingSentMs).Append(' ').Append(n.PongReceivedMs).Append(' ').Append(n.Epoch)
          .Append(' ').Append(n.Link is not null || n.IsMyself ? "connected" : "disconnected");
        if (ranges is not null)
        {
            foreach (var (start, end) in ranges)
            {
                sb.Append(' ').Append(start);
                if (end != start) sb.Append('-').Append(end);
            }
        }
        if (n.IsMyself)
        {
            for (int j = 0; j < KeySlot.Count; j++)
            {
                if (cluster.MigratingTo(j) is { } to) sb.Append(" [").Append(j).Append("->-").Append(to.Name).Append(']');
                else if (cluster.ImportingFrom(j) is { } from) sb.Append(" [").Append(j).Append("-<-").Append(from.Name).Append(']');
            }
        }
    }

    /// <summary>Writes a temporary file, optionally fsyncs it, and renames it over <paramref name="path"/>.</summary>
    public static bool WriteAtomically(string path, string content, bool fsync, Observability.ServerLog log)
    {
        string tmp = $"{path}.tmp-{Environment.ProcessId}-{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
            {
                var bytes = Encoding.UTF8.GetBytes(content);
                fs.Write(bytes);
                if (fsync) fs.Flush(flushToDisk: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning($"Could not open temp cluster config file: {e.Message}");
            TryDelete(tmp);
            return false;
        }
        try
        {
            File.Move(tmp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning($"Could not rename tmp cluster config file: {e.Message}");
            TryDelete(tmp);
            return false;
        }
        if (fsync) FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".");
        return true;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int SysOpen(string path, int flags);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int SysFsync(int fd);

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int SysClose(int fd);

    /// <summary>The rename itself is durable only once the directory is synced (Valkey's fsyncFileDir).</summary>
    private static void FsyncDirectory(string dir)
    {
        if (!OperatingSystem.IsLinux()) return;
        int fd = SysOpen(dir, 0);
        if (fd < 0) return;
        SysFsync(fd);
        SysClose(fd);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
