using System.Net;
using System.Net.Sockets;

namespace Kvasir.Sentinel;

/// <summary>Why an address or an instance could not be created (Valkey's errno values there).</summary>
public enum InstanceCreateError { None, Duplicate, Unresolved, InvalidPort }

/// <summary>
/// An instance's address (Valkey's sentinelAddr): the name it was given (hostname or address) and
/// the resolved IP used to connect. Without resolve-hostnames only IP addresses are accepted.
/// </summary>
public sealed class SentinelAddress
{
    public SentinelAddress(string hostname, string ip, int port)
    {
        Hostname = hostname;
        Ip = ip;
        Port = port;
    }

    public string Hostname { get; }

    /// <summary>The resolved address; empty when a hostname could not be resolved yet (resolve-hostnames).</summary>
    public string Ip { get; }

    public int Port { get; }

    /// <summary>Valkey's createSentinelAddr.</summary>
    public static SentinelAddress? Create(SentinelState sentinel, string hostname, int port, bool acceptUnresolved, out InstanceCreateError error)
    {
        error = InstanceCreateError.None;
        if (port < 0 || port > 65535)
        {
            error = InstanceCreateError.InvalidPort;
            return null;
        }
        string? ip = Resolve(hostname, sentinel.ResolveHostnames);
        if (ip is null)
        {
            sentinel.Log.Warning($"Failed to resolve hostname '{hostname}'");
            if (sentinel.ResolveHostnames && acceptUnresolved)
            {
                ip = "";
            }
            else
            {
                error = InstanceCreateError.Unresolved;
                return null;
            }
        }
        return new SentinelAddress(hostname, ip, port);
    }

    /// <summary>
    /// The textual IP of <paramref name="host"/> (Valkey's anetResolve): an IP address as given (in its
    /// canonical form), or, when <paramref name="allowNames"/>, the first address the resolver returns.
    /// </summary>
    public static string? Resolve(string host, bool allowNames)
    {
        if (TryParseIp(host, out var literal)) return Format(literal);
        if (!allowNames || host.Length == 0) return null;
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            foreach (var a in addresses)
                if (a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) return Format(a);
        }
        catch (Exception e) when (e is SocketException or ArgumentException) { }
        return null;
    }

    /// <summary>inet_pton's rules: dotted quads for IPv4 (no short forms such as "127.1"), or an IPv6 address.</summary>
    public static bool TryParseIp(string s, out IPAddress address)
    {
        address = IPAddress.None;
        if (s.Contains(':'))
        {
            if (!IPAddress.TryParse(s, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6 || s.Contains('%')) return false;
            address = v6;
            return true;
        }
        var parts = s.Split('.');
        if (parts.Length != 4) return false;
        foreach (var p in parts)
        {
            if (p.Length is 0 or > 3) return false;
            foreach (char c in p)
                if (c is < '0' or > '9') return false;
            if (int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) > 255) return false;
        }
        if (!IPAddress.TryParse(s, out var v4)) return false;
        address = v4;
        return true;
    }

    private static string Format(IPAddress a) =>
        a.IsIPv4MappedToIPv6 ? a.MapToIPv4().ToString() : a.ToString();

    public SentinelAddress Copy() => new(Hostname, Ip, Port);

    /// <summary>Same port and same IP, or same name when either could not be resolved (sentinelAddrOrHostnameEqual).</summary>
    public bool SameAs(SentinelAddress other) =>
        Port == other.Port && (Ip == other.Ip || string.Equals(Hostname, other.Hostname, StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether a host name reported by an instance (INFO master_host, a hello message) means this address.</summary>
    public bool MatchesHost(SentinelState sentinel, string? host)
    {
        if (host is null) return false;
        string? ip = Resolve(host, sentinel.ResolveHostnames);
        if (ip is null)
            return string.Equals(sentinel.ResolveHostnames ? Hostname : Ip, host, StringComparison.OrdinalIgnoreCase);
        return string.Equals(Ip, ip, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The name other parties are told: the hostname with announce-hostnames, else the IP.</summary>
    public string Announced(SentinelState sentinel) => sentinel.AnnounceHostnames ? Hostname : Ip;

    /// <summary>"host:port", IPv6 addresses in brackets (also the name of a replica instance).</summary>
    public string AnnouncedWithPort(SentinelState sentinel)
    {
        string host = Announced(sentinel);
        return host.Contains(':') ? $"[{host}]:{Port}" : $"{host}:{Port}";
    }
}
