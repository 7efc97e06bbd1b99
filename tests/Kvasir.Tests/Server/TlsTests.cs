using System.Diagnostics;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

/// <summary>
/// Certificates made with openssl for one test class: a CA, a server certificate, a client
/// certificate signed by it, a second server certificate (for reloads) and an encrypted key.
/// </summary>
public sealed class TlsCertificates : IDisposable
{
    public TlsCertificates()
    {
        Dir = Directory.CreateTempSubdirectory("kvasir-tls-").FullName;
        OpenSsl("req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256", "-days", "2", "-subj", "/O=Kvasir Test/CN=Kvasir Test CA",
            "-keyout", P("ca.key"), "-out", P("ca.crt"));
        Issue("server", "Server-1");
        Issue("server2", "Server-2");
        Issue("client", "Client");
        OpenSsl("rsa", "-in", P("server.key"), "-out", P("server.enc.key"), "-aes256", "-passout", "pass:s3cret");
    }

    public string Dir { get; }

    public string P(string name) => Path.Combine(Dir, name);

    private void Issue(string name, string cn)
    {
        OpenSsl("req", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256", "-subj", $"/O=Kvasir Test/CN={cn}", "-keyout", P(name + ".key"), "-out", P(name + ".csr"));
        OpenSsl("x509", "-req", "-sha256", "-days", "2", "-in", P(name + ".csr"), "-CA", P("ca.crt"), "-CAkey", P("ca.key"), "-CAcreateserial", "-out", P(name + ".crt"));
    }

    private static void OpenSsl(params string[] args)
    {
        var (code, _, err) = Tool.Run("openssl", null, args);
        Assert.True(code == 0, "openssl " + string.Join(' ', args) + ": " + err);
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}

/// <summary>Runs a command line tool with a time limit.</summary>
internal static class Tool
{
    public static (int Code, string Out, string Err) Run(string file, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try
        {
            p = Process.Start(psi)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip($"{file} is not installed");
            throw;
        }
        using (p)
        {
            if (stdin is not null) p.StandardInput.Write(stdin);
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(20_000))
            {
                p.Kill(entireProcessTree: true);
                return (-1, stdout.Result, "timed out");
            }
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
    }
}

/// <summary>TLS on tls-port beside the plain port, with redis-cli --tls and openssl s_client as the clients.</summary>
public sealed class TlsTests : IClassFixture<TlsCertificates>
{
    private readonly TlsCertificates _certs;

    public TlsTests(TlsCertificates certs) => _certs = certs;

    private async Task<(TestServer Server, int TlsPort)> StartAsync(params (string, string)[] more)
    {
        int port = ServerExecutable.FreePort();
        var settings = new List<(string, string)>
        {
            ("tls-port", port.ToString()),
            ("tls-cert-file", _certs.P("server.crt")),
            ("tls-key-file", _certs.P("server.key")),
            ("tls-ca-cert-file", _certs.P("ca.crt")),
        };
        settings.AddRange(more);
        var server = await TestServer.StartAsync(settings.ToArray());
        Assert.Equal(port, server.Server.BoundTlsPort);
        return (server, port);
    }

    private (int Code, string Out, string Err) Cli(int port, bool clientCert, params string[] command)
    {
        var args = new List<string> { "-p", port.ToString(), "--tls", "--cacert", _certs.P("ca.crt") };
        if (clientCert) args.AddRange(new[] { "--cert", _certs.P("client.crt"), "--key", _certs.P("client.key") });
        args.AddRange(command);
        return Tool.Run("redis-cli", null, args.ToArray());
    }

    private (int Code, string Out, string Err) SClient(int port, string input, params string[] extra)
    {
        var args = new List<string> { "s_client", "-connect", $"127.0.0.1:{port}", "-CAfile", _certs.P("ca.crt"),
            "-cert", _certs.P("client.crt"), "-key", _certs.P("client.key"), "-ign_eof" };
        args.AddRange(extra);
        return Tool.Run("openssl", input, args.ToArray());
    }

    [Fact]
    public async Task RedisCliTalksOverTlsWithAClientCertificateAndThePlainPortStillWorks()
    {
        var (server, port) = await StartAsync();
        await using (server)
        {
            var set = Cli(port, clientCert: true, "SET", "tls:key", "over-tls");
            Assert.Equal("OK", set.Out.Trim());
            Assert.Equal("over-tls", Cli(port, clientCert: true, "GET", "tls:key").Out.Trim());
            // The same data on the plain port.
            await using var plain = await server.ConnectAsync();
            Assert.Equal("over-tls", await plain.CallTextAsync("GET", "tls:key"));
            // tls-auth-clients yes (the default): no client certificate, no connection.
            Assert.NotEqual("PONG", Cli(port, clientCert: false, "PING").Out.Trim());
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-auth-clients", "optional"));
            Assert.Equal("PONG", Cli(port, clientCert: false, "PING").Out.Trim());
            Assert.Equal("PONG", Cli(port, clientCert: true, "PING").Out.Trim());
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-auth-clients", "no"));
            Assert.Equal("PONG", Cli(port, clientCert: false, "PING").Out.Trim());
            // Plain RESP on the TLS port gets nothing back, and the server goes on.
            var notTls = Tool.Run("redis-cli", null, "-p", port.ToString(), "PING");
            Assert.DoesNotContain("PONG", notTls.Out);
            Assert.Equal("PONG", await plain.CallTextAsync("PING"));
        }
    }

    [Fact]
    public async Task OpensslSClientVerifiesTheChainAndSpeaksResp()
    {
        var (server, port) = await StartAsync();
        await using (server)
        {
            var (code, output, _) = SClient(port, "PING\r\nECHO hello\r\nQUIT\r\n");
            Assert.Equal(0, code); // the session ends with close_notify after QUIT
            Assert.Contains("Verify return code: 0 (ok)", output);
            Assert.Contains("CN = Server-1", output);
            Assert.Contains("+PONG", output);
            Assert.Contains("$5\r\nhello", output.Replace("\r\r", "\r"));

            // tls-protocols: TLS 1.2 only refuses a TLS 1.3-only client and serves a TLS 1.2 one.
            await using var plain = await server.ConnectAsync();
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-protocols", "TLSv1.2"));
            Assert.DoesNotContain("+PONG", SClient(port, "PING\r\nQUIT\r\n", "-tls1_3").Out);
            Assert.Contains("+PONG", SClient(port, "PING\r\nQUIT\r\n", "-tls1_2").Out);
            // tls-ciphers: an OpenSSL cipher list for TLS 1.2.
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-ciphers", "DEFAULT:-AES128-SHA256"));
            Assert.DoesNotContain("+PONG", SClient(port, "PING\r\nQUIT\r\n", "-tls1_2", "-cipher", "AES128-SHA256").Out);
            Assert.Contains("+PONG", SClient(port, "PING\r\nQUIT\r\n", "-tls1_2", "-cipher", "AES256-SHA256").Out);
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-ciphers", "", "tls-protocols", ""));
            Assert.Contains("+PONG", SClient(port, "PING\r\nQUIT\r\n", "-tls1_3").Out);
        }
    }

    [Fact]
    public async Task CertificatesReloadOnConfigSetAndBadOnesAreRefused()
    {
        var (server, port) = await StartAsync();
        await using (server)
        {
            await using var plain = await server.ConnectAsync();
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-cert-file", _certs.P("server2.crt"), "tls-key-file", _certs.P("server2.key")));
            Assert.Contains("CN = Server-2", SClient(port, "QUIT\r\n").Out);
            // An encrypted key needs its password; without it nothing changes.
            var refused = await plain.CallAsync("CONFIG", "SET", "tls-key-file", _certs.P("server.enc.key"), "tls-cert-file", _certs.P("server.crt"));
            Assert.True(refused.IsError);
            Assert.Contains("Unable to update TLS configuration", refused.Text);
            Assert.Contains("CN = Server-2", SClient(port, "QUIT\r\n").Out);
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-key-file-pass", "s3cret", "tls-key-file", _certs.P("server.enc.key"),
                "tls-cert-file", _certs.P("server.crt")));
            Assert.Contains("CN = Server-1", SClient(port, "QUIT\r\n").Out);
            Assert.Equal("PONG", Cli(port, clientCert: true, "PING").Out.Trim());
            // Moving the TLS port: the old one closes, the new one serves.
            int newPort = ServerExecutable.FreePort();
            Assert.Equal("OK", await plain.CallTextAsync("CONFIG", "SET", "tls-port", newPort.ToString()));
            Assert.Equal("PONG", Cli(newPort, clientCert: true, "PING").Out.Trim());
            Assert.NotEqual("PONG", Cli(port, clientCert: true, "PING").Out.Trim());
        }
    }

    [Fact]
    public async Task AReplicaReachesItsPrimaryOverTls()
    {
        var (primary, port) = await StartAsync(("repl-diskless-sync-delay", "0"));
        await using (primary)
        {
            var (replica, _) = await StartAsync(("tls-replication", "yes"));
            await using (replica)
            {
                await using var p = await primary.ConnectAsync();
                await using var r = await replica.ConnectAsync();
                Assert.Equal("OK", await p.CallTextAsync("SET", "over-tls", "replicated"));
                Assert.Equal("OK", await r.CallTextAsync("REPLICAOF", "127.0.0.1", port.ToString()));
                var deadline = DateTime.UtcNow.AddSeconds(20);
                while (!(await r.CallTextAsync("INFO", "replication"))!.Contains("master_link_status:up"))
                {
                    Assert.True(DateTime.UtcNow < deadline, "the replica did not connect over TLS");
                    await Task.Delay(50);
                }
                Assert.Equal("replicated", await r.CallTextAsync("GET", "over-tls"));
                Assert.Equal("OK", await p.CallTextAsync("SET", "live", "stream"));
                while ((await r.CallAsync("GET", "live")).IsNull)
                {
                    Assert.True(DateTime.UtcNow < deadline, "the stream did not arrive over TLS");
                    await Task.Delay(20);
                }
                // The replica's link is a TLS client of the primary's TLS port.
                Assert.Contains("slave0:ip=127.0.0.1", (await p.CallTextAsync("INFO", "replication"))!);
            }
        }
    }

    [Fact]
    public async Task AMissingCertificateStopsTheStart()
    {
        int port = ServerExecutable.FreePort();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => TestServer.StartAsync(
            ("tls-port", port.ToString()), ("tls-cert-file", _certs.P("nothere.crt")), ("tls-key-file", _certs.P("server.key")),
            ("tls-ca-cert-file", _certs.P("ca.crt"))));
        Assert.Equal("Failed to configure TLS. Check logs for more info.", e.Message);
    }
}
