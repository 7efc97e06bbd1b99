using System.Security.Cryptography;
using System.Text;
using Kvasir.Commands;

namespace Kvasir.Security;

[Flags]
public enum UserFlags
{
    None = 0,
    Enabled = 1,
    Disabled = 2,
    NoPass = 4,
    SkipSanitizePayload = 8,
    SanitizePayload = 16,
}

/// <summary>What rules need from their surroundings: the command table and acl-pubsub-default.</summary>
public sealed record AclRuleContext(CommandTable Commands, bool AllChannelsByDefault);

/// <summary>
/// An ACL user (Valkey's user): on/off, passwords (SHA-256 hex digests; never the clear text), and
/// its selectors, the first of which is the root one. Connections point at their user object, so a
/// change made by ACL SETUSER applies to their next command.
/// </summary>
public sealed class AclUser
{
    public const int HashLength = 64;

    private string? _description;

    public AclUser(string name, AclRuleContext context)
    {
        Name = name;
        Flags = UserFlags.Disabled | UserFlags.SanitizePayload;
        Selectors.Add(NewSelector(context, SelectorFlags.Root));
        UpdateUnrestricted();
    }

    public string Name { get; }
    public UserFlags Flags { get; private set; }
    public List<string> Passwords { get; } = new();

    /// <summary>The root selector first, then those added with "(...)".</summary>
    public List<AclSelector> Selectors { get; } = new();

    public AclSelector Root => Selectors[0];

    public bool Enabled => (Flags & UserFlags.Disabled) == 0;
    public bool NoPass => (Flags & UserFlags.NoPass) != 0;
    public bool SkipsPayloadSanitizing => (Flags & UserFlags.SkipSanitizePayload) != 0;

    /// <summary>
    /// True when some selector allows every command, key and channel: the dispatcher then skips the
    /// checks entirely (the default user, admin users), so they cost nothing per command.
    /// </summary>
    public bool Unrestricted { get; private set; }

    private static AclSelector NewSelector(AclRuleContext context, SelectorFlags flags) =>
        new(context.Commands, flags | (context.AllChannelsByDefault ? SelectorFlags.AllChannels : 0));

    private void UpdateUnrestricted()
    {
        const SelectorFlags everything = SelectorFlags.AllCommands | SelectorFlags.AllKeys | SelectorFlags.AllChannels;
        Unrestricted = Selectors.Exists(s => (s.Flags & everything) == everything);
        _description = null;
    }

    /// <summary>Copies another user's rules into this one (the name stays): SETUSER stages changes on a copy.</summary>
    public void CopyRulesFrom(AclUser other)
    {
        Flags = other.Flags;
        Passwords.Clear();
        Passwords.AddRange(other.Passwords);
        Selectors.Clear();
        foreach (var s in other.Selectors) Selectors.Add(s.Clone());
        UpdateUnrestricted();
    }

    public AclUser CloneAs(string name, AclRuleContext context)
    {
        var copy = new AclUser(name, context);
        copy.CopyRulesFrom(this);
        return copy;
    }

    /// <summary>SHA-256 of a password as 64 lowercase hex characters.</summary>
    public static string HashPassword(ReadOnlySpan<byte> password) => Convert.ToHexStringLower(SHA256.HashData(password));

    private static bool IsValidHash(string hash)
    {
        if (hash.Length != HashLength) return false;
        foreach (char c in hash)
            if (!((c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'))) return false;
        return true;
    }

    /// <summary>Whether <paramref name="password"/> opens this user (enabled, and nopass or a matching digest, compared in constant time).</summary>
    public bool CheckPassword(ReadOnlySpan<byte> password)
    {
        if (!Enabled) return false;
        if (NoPass) return true;
        Span<byte> given = stackalloc byte[32];
        SHA256.HashData(password, given);
        Span<byte> expected = stackalloc byte[32];
        bool match = false;
        foreach (var p in Passwords)
        {
            Convert.FromHexString(p, expected, out _, out _);
            match |= CryptographicOperations.FixedTimeEquals(given, expected);
        }
        return match;
    }

    /// <summary>Applies one rule (Valkey's ACLSetUser); <paramref name="op"/> may be a whole "(...)" selector.</summary>
    public AclRuleError Apply(string op, AclRuleContext context) => Apply(op, Encoding.UTF8.GetBytes(op), context);

    /// <summary>Applies one rule given as raw bytes too (a ">password" may be any bytes).</summary>
    public AclRuleError Apply(string op, ReadOnlySpan<byte> raw, AclRuleContext context)
    {
        var error = ApplyCore(op, raw, context);
        UpdateUnrestricted();
        return error;
    }

    private AclRuleError ApplyCore(string op, ReadOnlySpan<byte> raw, AclRuleContext context)
    {
        if (op.Length == 0) return AclRuleError.None;
        if (op.Equals("on", StringComparison.OrdinalIgnoreCase))
        {
            Flags = (Flags | UserFlags.Enabled) & ~UserFlags.Disabled;
        }
        else if (op.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            Flags = (Flags | UserFlags.Disabled) & ~UserFlags.Enabled;
        }
        else if (op.Equals("skip-sanitize-payload", StringComparison.OrdinalIgnoreCase))
        {
            Flags = (Flags | UserFlags.SkipSanitizePayload) & ~UserFlags.SanitizePayload;
        }
        else if (op.Equals("sanitize-payload", StringComparison.OrdinalIgnoreCase))
        {
            Flags = (Flags | UserFlags.SanitizePayload) & ~UserFlags.SkipSanitizePayload;
        }
        else if (op.Equals("nopass", StringComparison.OrdinalIgnoreCase))
        {
            Flags |= UserFlags.NoPass;
            Passwords.Clear();
        }
        else if (op.Equals("resetpass", StringComparison.OrdinalIgnoreCase))
        {
            Flags &= ~UserFlags.NoPass;
            Passwords.Clear();
        }
        else if (op[0] == '>' || op[0] == '#')
        {
            string hash;
            if (op[0] == '>') hash = HashPassword(raw[1..]);
            else
            {
                hash = op[1..];
                if (!IsValidHash(hash)) return AclRuleError.BadHash;
            }
            if (!Passwords.Contains(hash)) Passwords.Add(hash);
            Flags &= ~UserFlags.NoPass;
        }
        else if (op[0] == '<' || op[0] == '!')
        {
            string hash;
            if (op[0] == '<') hash = HashPassword(raw[1..]);
            else
            {
                hash = op[1..];
                if (!IsValidHash(hash)) return AclRuleError.BadHash;
            }
            if (!Passwords.Remove(hash)) return AclRuleError.NoSuchPassword;
        }
        else if (op[0] == '(' && op[^1] == ')')
        {
            var selector = NewSelector(context, SelectorFlags.None);
            foreach (var rule in SplitRules(op[1..^1]))
            {
                var error = selector.Apply(rule);
                if (error != AclRuleError.None) return error;
            }
            Selectors.Add(selector);
        }
        else if (op.Equals("clearselectors", StringComparison.OrdinalIgnoreCase))
        {
            Selectors.RemoveRange(1, Selectors.Count - 1);
        }
        else if (op.Equals("reset", StringComparison.OrdinalIgnoreCase))
        {
            ApplyCore("resetpass", default, context);
            ApplyCore("resetkeys", default, context);
            ApplyCore("resetchannels", default, context);
            if (context.AllChannelsByDefault) ApplyCore("allchannels", default, context);
            ApplyCore("off", default, context);
            ApplyCore("sanitize-payload", default, context);
            ApplyCore("clearselectors", default, context);
            ApplyCore("-@all", default, context);
        }
        else
        {
            return Root.Apply(op);
        }
        return AclRuleError.None;
    }

    /// <summary>The rules inside a selector's parentheses, split on spaces (sdssplitargs: quotes allowed).</summary>
    private static IEnumerable<string> SplitRules(string inner) =>
        Config.ConfigValues.SplitArgs(inner) ?? new List<string> { inner };

    /// <summary>
    /// The user as rules ACL SETUSER would accept: flags, password digests, the root selector, then
    /// each other selector in parentheses (ACL LIST, ACL SAVE, CONFIG REWRITE).
    /// </summary>
    public string Describe()
    {
        if (_description is not null) return _description;
        var sb = new StringBuilder();
        if ((Flags & UserFlags.Enabled) != 0) sb.Append("on ");
        if ((Flags & UserFlags.Disabled) != 0) sb.Append("off ");
        if ((Flags & UserFlags.NoPass) != 0) sb.Append("nopass ");
        if ((Flags & UserFlags.SkipSanitizePayload) != 0) sb.Append("skip-sanitize-payload ");
        if ((Flags & UserFlags.SanitizePayload) != 0) sb.Append("sanitize-payload ");
        foreach (var p in Passwords) sb.Append('#').Append(p).Append(' ');
        sb.Append(Root.Describe());
        for (int i = 1; i < Selectors.Count; i++) sb.Append(" (").Append(Selectors[i].Describe()).Append(')');
        return _description = sb.ToString();
    }

    /// <summary>The flag names ACL GETUSER lists, in Valkey's order.</summary>
    public List<string> FlagNames()
    {
        var names = new List<string>();
        if ((Flags & UserFlags.Enabled) != 0) names.Add("on");
        if ((Flags & UserFlags.Disabled) != 0) names.Add("off");
        if ((Flags & UserFlags.NoPass) != 0) names.Add("nopass");
        if ((Flags & UserFlags.SkipSanitizePayload) != 0) names.Add("skip-sanitize-payload");
        if ((Flags & UserFlags.SanitizePayload) != 0) names.Add("sanitize-payload");
        return names;
    }
}
