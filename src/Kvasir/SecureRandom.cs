using System.Security.Cryptography;

namespace Kvasir;

/// <summary>
/// Random bytes for seeds and IDs (the key hash seed, run and replication IDs) read from the
/// kernel's /dev/urandom, as Valkey's getRandomBytes does. RandomNumberGenerator would load
/// OpenSSL (libcrypto and libssl: ~3.6 MB of resident pages and a few ms of start-up) into a
/// server that uses neither TLS nor a hash yet; it remains the fallback where /dev/urandom is missing.
/// </summary>
public static class SecureRandom
{
    public static void Fill(Span<byte> buffer)
    {
        try
        {
            using var urandom = new FileStream("/dev/urandom", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
            urandom.ReadExactly(buffer);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException) { }
        RandomNumberGenerator.Fill(buffer);
    }

    public static ulong NextUInt64()
    {
        Span<byte> b = stackalloc byte[8];
        Fill(b);
        return BitConverter.ToUInt64(b);
    }

    /// <summary>Lower-case hex of <paramref name="bytes"/> random bytes (run IDs, replication IDs).</summary>
    public static string Hex(int bytes)
    {
        Span<byte> b = stackalloc byte[bytes];
        Fill(b);
        return Convert.ToHexStringLower(b);
    }
}
