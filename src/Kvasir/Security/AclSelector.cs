using System.Text;
using Kvasir.Commands;
using Kvasir.Types;

namespace Kvasir.Security;

[Flags]
public enum SelectorFlags
{
    None = 0,
    /// <summary>The user's own permissions (outside parentheses); every user has exactly one.</summary>
    Root = 1,
    AllKeys = 2,
    AllCommands = 4,
    AllChannels = 8,
}

/// <summary>Read/write permission of a key pattern (%R~, %W~, or both for ~).</summary>
[Flags]
public enum KeyPermission
{
    None = 0,
    Read = 1,
    Write = 2,
    All = Read | Write,
}

/// <summary>Why an ACL rule was refused (Valkey's errno values of ACLSetUser).</summary>
public enum AclRuleError
{
    None,
    Syntax,               // EINVAL
    UnknownName,          // ENOENT
    KeyPatternAfterAll,   // EEXIST
    ChannelAfterAll,      // EISDIR
    NoSuchPassword,       // ENODEV
    BadHash,              // EBADMSG
    DuplicateUser,        // EALREADY
    FirstArgOfSubcommand, // ECHILD
}

/// <summary>A key pattern with the access it grants.</summary>
public sealed class KeyPattern
{
    public KeyPattern(string pattern, KeyPermission permission)
    {
        Pattern = pattern;
        Bytes = Encoding.UTF8.GetBytes(pattern);
        Permission = permission;
    }

    public string Pattern { get; }
    public byte[] Bytes { get; }
    public KeyPermission Permission { get; set; }

    /// <summary>"~p", "%R~p" or "%W~p", as ACL LIST shows it.</summary>
    public override string ToString() => Permission switch
    {
        KeyPermission.Read => "%R~" + Pattern,
        KeyPermission.Write => "%W~" + Pattern,
        _ => "~" + Pattern,
    };
}

/// <summary>
/// One set of permissions of a user (Valkey's aclSelector): the commands it may run (a bitmap over
/// command ids, plus allowed first arguments for the deprecated "+select|0" form), the keys and the
/// Pub/Sub channels it may touch. A command is allowed when one selector of the user allows it.
/// The rules that built the command bitmap are kept in order (<see cref="CommandRules"/>) so that
/// ACL LIST / GETUSER give them back as they were written, minus what later rules overrode.
/// </summary>
public sealed class AclSelector
{
    private readonly CommandTable _commands;
    private ulong[] _allowed;
    private Dictionary<int, List<string>>? _firstArgs;

    public AclSelector(CommandTable commands, SelectorFlags flags)
    {
        _commands = commands;
        Flags = flags;
        _allowed = new ulong[(commands.IdCount + 63) / 64];
    }

    public SelectorFlags Flags { get; private set; }

    /// <summary>Set by +@all (Valkey's reserved "future commands" bit): ACL LIST then starts from +@all.</summary>
    public bool AllowsFutureCommands { get; private set; }

    public List<KeyPattern> Keys { get; } = new();

    /// <summary>Channel patterns (glob); a PSUBSCRIBE pattern must equal one of them literally.</summary>
    public List<string> Channels { get; } = new();

    /// <summary>The ordered command and category rules, e.g. "-@string +incr -debug +debug|digest".</summary>
    public string CommandRules { get; private set; } = "";

    public bool Has(SelectorFlags f) => (Flags & f) != 0;

    public AclSelector Clone()
    {
        var copy = new AclSelector(_commands, Flags)
        {
            AllowsFutureCommands = AllowsFutureCommands,
            CommandRules = CommandRules,
        };
        copy._allowed = (ulong[])_allowed.Clone();
        foreach (var k in Keys) copy.Keys.Add(new KeyPattern(k.Pattern, k.Permission));
        copy.Channels.AddRange(Channels);
        if (_firstArgs is not null)
        {
            copy._firstArgs = new Dictionary<int, List<string>>();
            foreach (var (id, list) in _firstArgs) copy._firstArgs[id] = new List<string>(list);
        }
        return copy;
    }

    // ----- command bits -----

    public bool IsAllowed(int id) => (_allowed[id >> 6] & (1UL << (id & 63))) != 0;

    private void SetBit(int id, bool allow)
    {
        if (allow) _allowed[id >> 6] |= 1UL << (id & 63);
        else
        {
            _allowed[id >> 6] &= ~(1UL << (id & 63));
            Flags &= ~SelectorFlags.AllCommands;
        }
    }

    /// <summary>Allows or blocks a command; for a container, all its subcommands too.</summary>
    private void ChangePermission(CommandDefinition cmd, bool allow)
    {
        SetBit(cmd.Id, allow);
        _firstArgs?.Remove(cmd.Id);
        if (cmd.Subcommands is null) return;
        foreach (var sub in cmd.Subcommands.Values) SetBit(sub.Id, allow);
    }

    private void ChangeCategory(IEnumerable<CommandDefinition> commands, ulong category, bool allow)
    {
        foreach (var cmd in commands)
        {
            if ((cmd.AclCategoryMask & category) != 0) ChangePermission(cmd, allow);
            if (cmd.Subcommands is not null) ChangeCategory(cmd.Subcommands.Values, category, allow);
        }
    }

    /// <summary>Whether the command (with its arguments, for allowed first arguments) may run, ignoring keys and channels.</summary>
    public bool AllowsCommand(CommandDefinition cmd, Protocol.CommandArgs args)
    {
        if (Has(SelectorFlags.AllCommands) || cmd.Has(CommandFlags.NoAuth) || IsAllowed(cmd.Id)) return true;
        if (args.Count < 2 || _firstArgs is null || !_firstArgs.TryGetValue(cmd.Id, out var allowed)) return false;
        int index = cmd.Parent is not null ? 2 : 1;
        if (index >= args.Count) return false;
        string first = args.ToString(index);
        foreach (var a in allowed)
            if (string.Equals(a, first, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>
    /// Records a command rule, dropping earlier rules it overrides: the same command, or subcommands
    /// of a command allowed or blocked as a whole (Valkey's ACLUpdateCommandRules).
    /// </summary>
    private void UpdateCommandRules(string rule, bool allow)
    {
        rule = rule.ToLowerInvariant();
        var kept = new StringBuilder();
        foreach (var existing in CommandRules.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var name = existing.AsSpan(1);
            bool overridden = name.SequenceEqual(rule) || (name.Length > rule.Length && name.StartsWith(rule) && name[rule.Length] == '|');
            if (overridden) continue;
            if (kept.Length > 0) kept.Append(' ');
            kept.Append(existing);
        }
        if (kept.Length > 0) kept.Append(' ');
        kept.Append(allow ? '+' : '-').Append(rule);
        CommandRules = kept.ToString();
    }

    // ----- rules -----

    /// <summary>Applies one selector rule (keys, channels, commands). Valkey's ACLSetSelector.</summary>
    public AclRuleError Apply(string op)
    {
        if (op.Equals("allkeys", StringComparison.OrdinalIgnoreCase) || op == "~*")
        {
            Flags |= SelectorFlags.AllKeys;
            Keys.Clear();
        }
        else if (op.Equals("resetkeys", StringComparison.OrdinalIgnoreCase))
        {
            Flags &= ~SelectorFlags.AllKeys;
            Keys.Clear();
        }
        else if (op.Equals("allchannels", StringComparison.OrdinalIgnoreCase) || op == "&*")
        {
            Flags |= SelectorFlags.AllChannels;
            Channels.Clear();
        }
        else if (op.Equals("resetchannels", StringComparison.OrdinalIgnoreCase))
        {
            Flags &= ~SelectorFlags.AllChannels;
            Channels.Clear();
        }
        else if (op.Equals("allcommands", StringComparison.OrdinalIgnoreCase) || op.Equals("+@all", StringComparison.OrdinalIgnoreCase))
        {
            Array.Fill(_allowed, ulong.MaxValue);
            AllowsFutureCommands = true;
            Flags |= SelectorFlags.AllCommands;
            CommandRules = "";
            _firstArgs = null;
        }
        else if (op.Equals("nocommands", StringComparison.OrdinalIgnoreCase) || op.Equals("-@all", StringComparison.OrdinalIgnoreCase))
        {
            Array.Clear(_allowed);
            AllowsFutureCommands = false;
            Flags &= ~SelectorFlags.AllCommands;
            CommandRules = "";
            _firstArgs = null;
        }
        else if (op.Length > 0 && (op[0] == '~' || op[0] == '%'))
        {
            return AddKeyPattern(op);
        }
        else if (op.Length > 0 && op[0] == '&')
        {
            if (Has(SelectorFlags.AllChannels)) return AclRuleError.ChannelAfterAll;
            string pattern = op[1..];
            if (HasSpaces(pattern)) return AclRuleError.Syntax;
            if (!Channels.Contains(pattern)) Channels.Add(pattern);
            Flags &= ~SelectorFlags.AllChannels;
        }
        else if (op.Length > 0 && op[0] == '+' && (op.Length == 1 || op[1] != '@'))
        {
            return AllowCommand(op[1..]);
        }
        else if (op.Length > 0 && op[0] == '-' && (op.Length == 1 || op[1] != '@'))
        {
            var cmd = _commands.FindOriginal(op[1..]);
            if (cmd is null) return AclRuleError.UnknownName;
            ChangePermission(cmd, false);
            UpdateCommandRules(cmd.Name, false);
        }
        else if (op.Length > 1 && (op[0] == '+' || op[0] == '-') && op[1] == '@')
        {
            ulong category = AclCategories.Find(op.AsSpan(2));
            if (category == 0) return AclRuleError.UnknownName;
            bool allow = op[0] == '+';
            UpdateCommandRules(op[1..], allow);
            ChangeCategory(_commands.Original, category, allow);
        }
        else
        {
            return AclRuleError.Syntax;
        }
        return AclRuleError.None;
    }

    private AclRuleError AddKeyPattern(string op)
    {
        if (Has(SelectorFlags.AllKeys)) return AclRuleError.KeyPatternAfterAll;
        var permission = KeyPermission.None;
        int offset = 1;
        if (op[0] == '%')
        {
            for (; offset < op.Length; offset++)
            {
                char c = char.ToUpperInvariant(op[offset]);
                if (c == 'R' && (permission & KeyPermission.Read) == 0) permission |= KeyPermission.Read;
                else if (c == 'W' && (permission & KeyPermission.Write) == 0) permission |= KeyPermission.Write;
                else if (op[offset] == '~' && permission != 0)
                {
                    offset++;
                    break;
                }
                else return AclRuleError.Syntax;
            }
        }
        else
        {
            permission = KeyPermission.All;
        }
        string pattern = op[offset..];
        if (HasSpaces(pattern)) return AclRuleError.Syntax;
        var existing = Keys.Find(k => k.Pattern == pattern);
        if (existing is null) Keys.Add(new KeyPattern(pattern, permission));
        else existing.Permission |= permission;
        Flags &= ~SelectorFlags.AllKeys;
        return AclRuleError.None;
    }

    /// <summary>"+cmd", "+container|sub", or the deprecated "+cmd|firstarg" of a command without subcommands.</summary>
    private AclRuleError AllowCommand(string name)
    {
        int bar = name.LastIndexOf('|');
        if (bar < 0)
        {
            var cmd = _commands.FindOriginal(name);
            if (cmd is null) return AclRuleError.UnknownName;
            ChangePermission(cmd, true);
            UpdateCommandRules(cmd.Name, true);
            return AclRuleError.None;
        }
        var parent = _commands.FindOriginal(name[..bar]);
        if (parent is null) return AclRuleError.UnknownName;
        if (parent.Parent is not null) return AclRuleError.FirstArgOfSubcommand;
        string sub = name[(bar + 1)..];
        if (sub.Length == 0) return AclRuleError.Syntax;
        if (parent.Subcommands is not null)
        {
            var subcommand = _commands.FindOriginal(name);
            if (subcommand is null) return AclRuleError.UnknownName;
            ChangePermission(subcommand, true);
        }
        else
        {
            _firstArgs ??= new Dictionary<int, List<string>>();
            if (!_firstArgs.TryGetValue(parent.Id, out var list)) _firstArgs[parent.Id] = list = new List<string>();
            if (!list.Exists(a => string.Equals(a, sub, StringComparison.OrdinalIgnoreCase))) list.Add(sub);
        }
        UpdateCommandRules(name, true);
        return AclRuleError.None;
    }

    /// <summary>Spaces and NULs are refused in names and patterns (simpler rewriting, no escaping games).</summary>
    public static bool HasSpaces(ReadOnlySpan<char> s)
    {
        foreach (char c in s)
            if (c == '\0' || c == ' ' || (c >= '\t' && c <= '\r')) return true;
        return false;
    }

    // ----- checks -----

    /// <summary>Whether a key with the given access needs may be touched by this selector.</summary>
    public bool AllowsKey(ReadOnlySpan<byte> key, KeyPermission needed)
    {
        if (Has(SelectorFlags.AllKeys)) return true;
        foreach (var p in Keys)
        {
            if ((p.Permission & needed) != needed) continue;
            if (GlobPattern.Match(p.Bytes, key)) return true;
        }
        return false;
    }

    /// <summary>Whether some pattern is "*" with the needed access (SORT BY/GET need read access to every key).</summary>
    public bool HasUnrestrictedKeyAccess(KeyPermission needed)
    {
        if (Has(SelectorFlags.AllKeys)) return true;
        foreach (var p in Keys)
            if ((p.Permission & needed) == needed && p.Pattern == "*") return true;
        return false;
    }

    /// <summary>A channel (glob-matched) or, for PSUBSCRIBE, a pattern (which must be listed literally).</summary>
    public bool AllowsChannel(ReadOnlySpan<byte> channel, bool isPattern)
    {
        if (Has(SelectorFlags.AllChannels)) return true;
        return MatchesChannelList(Channels, channel, isPattern);
    }

    public static bool MatchesChannelList(List<string> patterns, ReadOnlySpan<byte> channel, bool isPattern)
    {
        Span<byte> buffer = stackalloc byte[256];
        foreach (var p in patterns)
        {
            int max = Encoding.UTF8.GetMaxByteCount(p.Length);
            var bytes = max <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(p, buffer)] : Encoding.UTF8.GetBytes(p);
            if (isPattern ? bytes.SequenceEqual(channel) : GlobPattern.Match(bytes, channel)) return true;
        }
        return false;
    }

    // ----- description -----

    /// <summary>"+@all ..." or "-@all ...": the command part of ACL LIST and GETUSER.</summary>
    public string DescribeCommands()
    {
        string start = AllowsFutureCommands ? "+@all" : "-@all";
        return CommandRules.Length == 0 ? start : start + " " + CommandRules;
    }

    /// <summary>Keys, channels and commands as one rule string (Valkey's ACLDescribeSelector).</summary>
    public string Describe()
    {
        var sb = new StringBuilder();
        if (Has(SelectorFlags.AllKeys)) sb.Append("~* ");
        else foreach (var k in Keys) sb.Append(k).Append(' ');
        if (Has(SelectorFlags.AllChannels)) sb.Append("&* ");
        else
        {
            sb.Append("resetchannels ");
            foreach (var c in Channels) sb.Append('&').Append(c).Append(' ');
        }
        sb.Append(DescribeCommands());
        return sb.ToString();
    }

    /// <summary>The "keys" field of ACL GETUSER.</summary>
    public string DescribeKeys() => Has(SelectorFlags.AllKeys) ? "~*" : string.Join(' ', Keys.Select(k => k.ToString()));

    /// <summary>The "channels" field of ACL GETUSER.</summary>
    public string DescribeChannels() => Has(SelectorFlags.AllChannels) ? "&*" : string.Join(' ', Channels.Select(c => "&" + c));
}
