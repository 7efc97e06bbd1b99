using System.Net.Security;

namespace Kvasir.Networking;

/// <summary>
/// tls-ciphers and tls-ciphersuites as .NET cipher suite policies. tls-ciphers is an OpenSSL cipher
/// list for TLS 1.2 and below ("DEFAULT:-AES128-SHA256", "ECDHE-RSA-AES256-GCM-SHA384:..."): the
/// words DEFAULT, ALL and HIGH, OpenSSL suite names, and "-" / "!" to remove; tls-ciphersuites lists
/// TLS 1.3 suites by their standard names. Both empty: the platform's defaults.
/// </summary>
public static class TlsCiphers
{
    /// <summary>OpenSSL names of the TLS 1.2 suites, strongest first (OpenSSL's DEFAULT order).</summary>
    private static readonly (string Name, TlsCipherSuite Suite)[] Tls12 =
    {
        ("ECDHE-ECDSA-AES256-GCM-SHA384", TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
        ("ECDHE-RSA-AES256-GCM-SHA384", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
        ("DHE-RSA-AES256-GCM-SHA384", TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_GCM_SHA384),
        ("ECDHE-ECDSA-CHACHA20-POLY1305", TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
        ("ECDHE-RSA-CHACHA20-POLY1305", TlsCipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ("DHE-RSA-CHACHA20-POLY1305", TlsCipherSuite.TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
        ("ECDHE-ECDSA-AES128-GCM-SHA256", TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
        ("ECDHE-RSA-AES128-GCM-SHA256", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
        ("DHE-RSA-AES128-GCM-SHA256", TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_GCM_SHA256),
        ("ECDHE-ECDSA-AES256-SHA384", TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384),
        ("ECDHE-RSA-AES256-SHA384", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384),
        ("DHE-RSA-AES256-SHA256", TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_CBC_SHA256),
        ("ECDHE-ECDSA-AES128-SHA256", TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256),
        ("ECDHE-RSA-AES128-SHA256", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256),
        ("DHE-RSA-AES128-SHA256", TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_CBC_SHA256),
        ("ECDHE-ECDSA-AES256-SHA", TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA),
        ("ECDHE-RSA-AES256-SHA", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA),
        ("DHE-RSA-AES256-SHA", TlsCipherSuite.TLS_DHE_RSA_WITH_AES_256_CBC_SHA),
        ("ECDHE-ECDSA-AES128-SHA", TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA),
        ("ECDHE-RSA-AES128-SHA", TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA),
        ("DHE-RSA-AES128-SHA", TlsCipherSuite.TLS_DHE_RSA_WITH_AES_128_CBC_SHA),
        ("AES256-GCM-SHA384", TlsCipherSuite.TLS_RSA_WITH_AES_256_GCM_SHA384),
        ("AES128-GCM-SHA256", TlsCipherSuite.TLS_RSA_WITH_AES_128_GCM_SHA256),
        ("AES256-SHA256", TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA256),
        ("AES128-SHA256", TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA256),
        ("AES256-SHA", TlsCipherSuite.TLS_RSA_WITH_AES_256_CBC_SHA),
        ("AES128-SHA", TlsCipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA),
    };

    private static readonly TlsCipherSuite[] Tls13Default =
    {
        TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_AES_128_GCM_SHA256,
    };

    /// <summary>The policy for the two settings; null when both are empty (platform defaults).</summary>
    public static CipherSuitesPolicy? Policy(string ciphers, string ciphersuites)
    {
        if (ciphers.Length == 0 && ciphersuites.Length == 0) return null;
        var suites = new List<TlsCipherSuite>();
        suites.AddRange(ciphersuites.Length > 0 ? ParseTls13(ciphersuites) : Tls13Default);
        suites.AddRange(ciphers.Length > 0 ? ParseOpenSslList(ciphers) : Tls12.Select(t => t.Suite));
        if (suites.Count == 0) throw new ArgumentException("no cipher can be used with these settings");
        return new CipherSuitesPolicy(suites);
    }

    private static IEnumerable<TlsCipherSuite> ParseTls13(string text)
    {
        foreach (var name in text.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Enum.TryParse<TlsCipherSuite>(name, out var suite)) throw new ArgumentException($"unknown TLS 1.3 cipher suite '{name}'");
            yield return suite;
        }
    }

    /// <summary>An OpenSSL cipher list, for the suites listed above; unknown words select nothing (as in OpenSSL).</summary>
    public static List<TlsCipherSuite> ParseOpenSslList(string text)
    {
        var selected = new List<TlsCipherSuite>();
        var removed = new HashSet<TlsCipherSuite>();
        foreach (var raw in text.Split(new[] { ':', ',', ' ' }, StringSplitOptions.RemoveEmptyEntries))
        {
            char op = raw[0] is '-' or '!' or '+' ? raw[0] : ' ';
            string word = op == ' ' ? raw : raw[1..];
            var matching = Select(word);
            switch (op)
            {
                case '!':
                    foreach (var s in matching) removed.Add(s);
                    selected.RemoveAll(matching.Contains);
                    break;
                case '-':
                    selected.RemoveAll(matching.Contains);
                    break;
                case '+':
                    // Moves the suites to the end of the list (lower preference).
                    foreach (var s in matching)
                        if (selected.Remove(s)) selected.Add(s);
                    break;
                default:
                    foreach (var s in matching)
                        if (!selected.Contains(s) && !removed.Contains(s)) selected.Add(s);
                    break;
            }
        }
        return selected;
    }

    private static List<TlsCipherSuite> Select(string word)
    {
        var upper = word.ToUpperInvariant();
        if (upper is "DEFAULT" or "ALL" or "HIGH" or "COMPLEMENTOFDEFAULT") return Tls12.Select(t => t.Suite).ToList();
        var result = new List<TlsCipherSuite>();
        foreach (var (name, suite) in Tls12)
            if (string.Equals(name, word, StringComparison.OrdinalIgnoreCase)) result.Add(suite);
        return result;
    }
}
