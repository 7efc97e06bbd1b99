using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Kvasir.Networking;

/// <summary>
/// TLS with .NET's SslStream, configured from Valkey's tls-* parameters: the server certificate
/// and key (an encrypted key with tls-key-file-pass), the CA that client certificates must chain to
/// (tls-ca-cert-file / -dir), tls-auth-clients, tls-protocols, tls-ciphers (TLS 1.2, OpenSSL names)
/// and tls-ciphersuites (TLS 1.3). The material is loaded once and replaced as a whole by CONFIG SET,
/// so connections in their handshake keep a consistent snapshot; a bad change is refused and the
/// previous material stays.
/// </summary>
public sealed class TlsContext
{
    private readonly KvasirServer _server;
    private volatile Material? _material;

    /// <summary>What one configuration produced; immutable once built.</summary>
    private sealed record Material(
        SslStreamCertificateContext ServerCertificate,
        X509Certificate2? ClientCertificate,
        X509Certificate2Collection Authorities,
        SslProtocols Protocols,
        CipherSuitesPolicy? Ciphers);

    public TlsContext(KvasirServer server) => _server = server;

    public bool IsConfigured => _material is not null;

    /// <summary>
    /// Loads certificates, keys and settings from the config. Returns null on success, or the reason
    /// (also logged) without changing what is in use.
    /// </summary>
    public string? Configure()
    {
        var cfg = _server.Config;
        string? error = null;
        if (cfg.TlsCertFile.Length == 0) error = "No tls-cert-file configured!";
        else if (cfg.TlsKeyFile.Length == 0) error = "No tls-key-file configured!";
        else if ((cfg.TlsAuthClients != "no" || cfg.TlsCluster || cfg.TlsReplication) && cfg.TlsCaCertFile.Length == 0 && cfg.TlsCaCertDir.Length == 0)
            error = "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!";
        if (error is not null)
        {
            _server.Log.Warning(error);
            return error;
        }
        try
        {
            var protocols = ParseProtocols(cfg.TlsProtocols);
            var ciphers = TlsCiphers.Policy(cfg.TlsCiphers, cfg.TlsCiphersuites);
            var (cert, chain) = LoadCertificate(cfg.TlsCertFile, cfg.TlsKeyFile, cfg.TlsKeyFilePass);
            X509Certificate2? clientCert = null;
            if (cfg.TlsClientCertFile.Length > 0 && cfg.TlsClientKeyFile.Length > 0)
                clientCert = LoadCertificate(cfg.TlsClientCertFile, cfg.TlsClientKeyFile, cfg.TlsClientKeyFilePass).Cert;
            var authorities = LoadAuthorities(cfg.TlsCaCertFile, cfg.TlsCaCertDir);
            var context = SslStreamCertificateContext.Create(cert, chain, offline: true);
            _material = new Material(context, clientCert, authorities, protocols, ciphers);
            return null;
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException or
                                      FormatException or PlatformNotSupportedException or NotSupportedException)
        {
            _server.Log.Warning("Failed to configure TLS: " + e.Message);
            return e.Message;
        }
    }

    /// <summary>tls-protocols: "TLSv1.2 TLSv1.3" and so on; empty means TLS 1.2 and 1.3.</summary>
    private static SslProtocols ParseProtocols(string text)
    {
        if (text.Length == 0) return SslProtocols.Tls12 | SslProtocols.Tls13;
        var protocols = SslProtocols.None;
        foreach (var token in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
#pragma warning disable SYSLIB0039 // TLS 1.0/1.1 only when the operator asks for them, as Valkey allows
            protocols |= token.ToLowerInvariant() switch
            {
                "tlsv1" => SslProtocols.Tls,
                "tlsv1.1" => SslProtocols.Tls11,
                "tlsv1.2" => SslProtocols.Tls12,
                "tlsv1.3" => SslProtocols.Tls13,
                _ => throw new ArgumentException("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'."),
            };
#pragma warning restore SYSLIB0039
        }
        return protocols;
    }

    /// <summary>A certificate (with any intermediate certificates in the same file) and its private key.</summary>
    private static (X509Certificate2 Cert, X509Certificate2Collection Chain) LoadCertificate(string certFile, string keyFile, string password)
    {
        X509Certificate2 cert;
        if (password.Length == 0) cert = X509Certificate2.CreateFromPemFile(certFile, keyFile);
        else
        {
            // OpenSSL ignores a password given for a key that is not encrypted: so do we.
            try
            {
                cert = X509Certificate2.CreateFromEncryptedPemFile(certFile, password, keyFile);
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException)
            {
                cert = X509Certificate2.CreateFromPemFile(certFile, keyFile);
            }
        }
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certFile);
        var chain = new X509Certificate2Collection();
        foreach (var c in all)
            if (c.Thumbprint != cert.Thumbprint) chain.Add(c);
        return (cert, chain);
    }

    private static X509Certificate2Collection LoadAuthorities(string file, string dir)
    {
        var cas = new X509Certificate2Collection();
        if (file.Length > 0) cas.ImportFromPemFile(file);
        if (dir.Length > 0)
        {
            foreach (var path in Directory.EnumerateFiles(dir))
            {
                try
                {
                    cas.ImportFromPemFile(path);
                }
                catch (CryptographicException)
                {
                    // Not a certificate (OpenSSL's hashed-name directories hold other files too).
                }
            }
        }
        return cas;
    }

    /// <summary>Options for accepting one connection, with the tls-auth-clients mode in force now.</summary>
    public SslServerAuthenticationOptions ServerOptions()
    {
        var m = _material ?? throw new InvalidOperationException("TLS is not configured");
        string authClients = _server.Config.TlsAuthClients;
        return new SslServerAuthenticationOptions
        {
            ServerCertificateContext = m.ServerCertificate,
            EnabledSslProtocols = m.Protocols,
            CipherSuitesPolicy = m.Ciphers,
            ClientCertificateRequired = authClients != "no",
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            AllowRenegotiation = false,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is null) return authClients != "yes";
                return authClients == "no" || ChainsToAuthorities(certificate, m.Authorities);
            },
        };
    }

    /// <summary>
    /// Options for connecting to another server over TLS (a replica to its primary with
    /// tls-replication): our client certificate (tls-client-cert-file, else tls-cert-file) and the
    /// peer's certificate checked against the same CA. The host name is not checked, as in Valkey.
    /// </summary>
    public SslClientAuthenticationOptions ClientOptions(string targetHost)
    {
        var m = _material ?? throw new InvalidOperationException("TLS is not configured");
        var own = m.ClientCertificate ?? m.ServerCertificate.TargetCertificate;
        return new SslClientAuthenticationOptions
        {
            TargetHost = targetHost,
            ClientCertificates = new X509CertificateCollection { own },
            EnabledSslProtocols = m.Protocols,
            // Without tls-ciphers, offer what OpenSSL's DEFAULT offers (as a Valkey replica does), so
            // a primary restricted to older TLS 1.2 suites can still be reached.
            CipherSuitesPolicy = m.Ciphers ?? TlsCiphers.Policy("DEFAULT", ""),
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && ChainsToAuthorities(certificate, m.Authorities),
        };
    }

    private static bool ChainsToAuthorities(X509Certificate certificate, X509Certificate2Collection authorities)
    {
        if (authorities.Count == 0) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }
}
