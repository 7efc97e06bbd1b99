using System.Text;
using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Protocol;

namespace Kvasir.Security;

/// <summary>
/// Valkey's ACL subsystem: the users (ordered by name), the default user every connection starts
/// as, the permission checks the Dispatcher, EXEC, scripts and ACL DRYRUN run, the security log,
/// and the ACL file (aclfile, ACL LOAD / SAVE) and `user` lines of the config file. Used under the
/// data lock.
/// </summary>
public sealed class AccessControl
{
    public const string DefaultUserName = "default";

    private readonly KvasirServer _server;
    private SortedDictionary<string, AclUser> _users = new(StringComparer.Ordinal);
    // Keys of the command being checked, found once and shared by all the user's selectors.
    private readonly List<KeyReference> _keys = new();
    private readonly Dictionary<string[], KeyPermission> _permissionOfFlags = new(ReferenceEqualityComparer.Instance);
    private readonly bool[] _hasKeys;

    public AccessControl(KvasirServer server)
    {
        _server = server;
        _hasKeys = new bool[server.Commands.IdCount];
        foreach (var cmd in server.Commands.Original)
        {
            _hasKeys[cmd.Id] = CommandKeys.HasKeys(cmd);
            if (cmd.Subcommands is null) continue;
            foreach (var sub in cmd.Subcommands.Values) _hasKeys[sub.Id] = CommandKeys.HasKeys(sub);
        }
        DefaultUser = CreateDefaultUser(DefaultUserName);
        _users[DefaultUserName] = DefaultUser;
        server.Stats.Gauges["acl_access_denied_auth"] = () => DeniedAuth;
        server.Stats.Gauges["acl_access_denied_cmd"] = () => DeniedCommand;
        server.Stats.Gauges["acl_access_denied_key"] = () => DeniedKey;
        server.Stats.Gauges["acl_access_denied_channel"] = () => DeniedChannel;
        server.Stats.Resetting += () => DeniedAuth = DeniedCommand = DeniedKey = DeniedChannel = 0;
        // requirepass is the default user's password (Valkey's ACLUpdateDefaultUserPassword).
        ApplyRequirePass();
        server.Config.Changed += name =>
        {
            if (name == "requirepass") ApplyRequirePass();
        };
    }

    /// <summary>The user new connections start as. Its object never changes (ACL LOAD copies into it).</summary>
    public AclUser DefaultUser { get; }

    public IEnumerable<AclUser> Users => _users.Values;

    public int UserCount => _users.Count;

    public AclLog Log { get; } = new();

    public long DeniedAuth, DeniedCommand, DeniedKey, DeniedChannel;

    /// <summary>Rules context with the current acl-pubsub-default.</summary>
    public AclRuleContext RuleContext => new(_server.Commands, _server.Config.AclPubsubDefault == "allchannels");

    public AclUser? Find(string name) => _users.GetValueOrDefault(name);

    /// <summary>
    /// True when connections must authenticate: the default user has a password or is off (Valkey's
    /// authRequired without the client part).
    /// </summary>
    public bool AuthRequired => !DefaultUser.NoPass || !DefaultUser.Enabled;

    private AclUser CreateDefaultUser(string name)
    {
        var context = RuleContext;
        var user = new AclUser(name, context);
        foreach (var op in new[] { "+@all", "~*", "&*", "on", "nopass" }) user.Apply(op, context);
        return user;
    }

    private void ApplyRequirePass()
    {
        var context = RuleContext;
        DefaultUser.Apply("resetpass", context);
        string password = _server.Config.RequirePass;
        if (password.Length > 0) DefaultUser.Apply(">" + password, context);
        else DefaultUser.Apply("nopass", context);
    }

    // ----- authentication -----

    /// <summary>
    /// Checks a username/password pair (AUTH, HELLO AUTH, a replica's masteruser/masterauth) and
    /// returns the user, or null: unknown user, user off, or wrong password.
    /// </summary>
    public AclUser? CheckCredentials(ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        var user = Find(Encoding.UTF8.GetString(username));
        return user is not null && user.CheckPassword(password) ? user : null;
    }

    /// <summary>
    /// AUTH for a connection: on success the client is authenticated as the user; on failure an
    /// "auth" entry goes to the ACL LOG. Returns whether it succeeded.
    /// </summary>
    public bool Authenticate(CommandContext ctx, ReadOnlySpan<byte> username, ReadOnlySpan<byte> password)
    {
        var user = CheckCredentials(username, password);
        var client = ctx.Client;
        if (user is not null)
        {
            client.User = user;
            client.Authenticated = true;
            return true;
        }
        AddLogEntry(ctx, AclDenial.Auth, client.Has(ClientFlags.Multi) ? AclLogContext.Multi : AclLogContext.TopLevel,
            ctx.Args.ToString(0), Encoding.UTF8.GetString(username));
        return false;
    }

    // ----- permission checks -----

    /// <summary>
    /// Whether <paramref name="user"/> may run the command with these arguments (Valkey's
    /// ACLCheckAllUserCommandPerm). On refusal <paramref name="position"/> is the argument at fault
    /// (0 for the command itself): with several selectors, the command error unless some selector
    /// allowed the command, then the last key or channel no selector allowed.
    /// </summary>
    public AclDenial Check(AclUser user, CommandDefinition cmd, CommandArgs args, out int position)
    {
        position = 0;
        if (user.Unrestricted) return AclDenial.None;
        var relevant = AclDenial.Command;
        int lastPosition = 0;
        bool keysFound = false;
        foreach (var selector in user.Selectors)
        {
            var result = CheckSelector(selector, cmd, args, ref keysFound, out int at);
            if (result == AclDenial.None) return AclDenial.None;
            if (result > relevant || (result == relevant && at > lastPosition))
            {
                relevant = result;
                lastPosition = at;
            }
        }
        position = lastPosition;
        return relevant;
    }

    private AclDenial CheckSelector(AclSelector selector, CommandDefinition cmd, CommandArgs args, ref bool keysFound, out int position)
    {
        position = 0;
        if (!selector.AllowsCommand(cmd, args)) return AclDenial.Command;
        if (!selector.Has(SelectorFlags.AllKeys) && _hasKeys[cmd.Id])
        {
            if (!keysFound)
            {
                _keys.Clear();
                CommandKeys.GetKeysForAcl(cmd, args, _keys);
                keysFound = true;
            }
            foreach (var key in _keys)
            {
                if (selector.AllowsKey(args[key.Position], PermissionOf(key.Flags))) continue;
                position = key.Position;
                return AclDenial.Key;
            }
        }
        if (!selector.Has(SelectorFlags.AllChannels) && ChannelArguments(cmd, args.Count, out int first, out int last, out bool patterns))
        {
            for (int i = first; i < last; i++)
            {
                if (selector.AllowsChannel(args[i], patterns)) continue;
                position = i;
                return AclDenial.Channel;
            }
        }
        return AclDenial.None;
    }

    /// <summary>The channels a command publishes or subscribes to (Valkey's channel specs); unsubscribing needs no permission.</summary>
    private static bool ChannelArguments(CommandDefinition cmd, int argc, out int first, out int last, out bool patterns)
    {
        first = 1;
        last = argc;
        patterns = false;
        switch (cmd.Name)
        {
            case "subscribe":
            case "ssubscribe":
                return true;
            case "psubscribe":
                patterns = true;
                return true;
            case "publish":
            case "spublish":
                last = Math.Min(2, argc);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Key spec flags to the access a key pattern must grant: reading for "access", writing for insert/update/delete.</summary>
    private KeyPermission PermissionOf(string[] flags)
    {
        if (_permissionOfFlags.TryGetValue(flags, out var known)) return known;
        var permission = KeyPermission.None;
        foreach (var f in flags)
        {
            if (f.Equals("access", StringComparison.OrdinalIgnoreCase)) permission |= KeyPermission.Read;
            else if (f.Equals("insert", StringComparison.OrdinalIgnoreCase) || f.Equals("delete", StringComparison.OrdinalIgnoreCase) ||
                     f.Equals("update", StringComparison.OrdinalIgnoreCase)) permission |= KeyPermission.Write;
        }
        _permissionOfFlags[flags] = permission;
        return permission;
    }

    /// <summary>Whether some selector allows the command and has the access to every key (SORT's BY and GET patterns).</summary>
    public bool AllowsWithUnrestrictedKeys(AclUser user, CommandDefinition cmd, CommandArgs args, KeyPermission needed)
    {
        bool keysFound = false;
        foreach (var selector in user.Selectors)
            if (CheckSelector(selector, cmd, args, ref keysFound, out _) == AclDenial.None && selector.HasUnrestrictedKeyAccess(needed)) return true;
        return false;
    }

    /// <summary>The error text for a refusal; <paramref name="verbose"/> names the key or channel (ACL DRYRUN).</summary>
    public static string DenialMessage(AclDenial denial, AclUser user, CommandDefinition cmd, string argument, bool verbose) => denial switch
    {
        AclDenial.Command => $"User {user.Name} has no permissions to run the '{cmd.Name}' command",
        AclDenial.Key => verbose ? $"User {user.Name} has no permissions to access the '{argument}' key" : "No permissions to access a key",
        AclDenial.Channel => verbose ? $"User {user.Name} has no permissions to access the '{argument}' channel" : "No permissions to access a channel",
        _ => "",
    };

    /// <summary>
    /// Logs a refused command: counts it for INFO and adds an ACL LOG entry naming the command, key
    /// or channel at <paramref name="position"/>, with the client shown as CLIENT INFO shows it.
    /// </summary>
    public void LogDenial(CommandContext ctx, AclUser user, AclDenial denial, AclLogContext context, CommandDefinition cmd, CommandArgs args, int position)
    {
        string obj = denial == AclDenial.Command ? cmd.Name : args.ToString(position);
        AddLogEntry(ctx, denial, context, obj, user.Name);
    }

    private void AddLogEntry(CommandContext ctx, AclDenial denial, AclLogContext context, string obj, string username)
    {
        switch (denial)
        {
            case AclDenial.Auth: DeniedAuth++; break;
            case AclDenial.Command: DeniedCommand++; break;
            case AclDenial.Key: DeniedKey++; break;
            case AclDenial.Channel: DeniedChannel++; break;
        }
        long maxLength = _server.Config.AcllogMaxLen;
        string info = maxLength == 0 ? "" : ClientCommands.AppendInfo(new StringBuilder(), ctx.Client, ctx).ToString();
        Log.Add(new AclLogEntry
        {
            Reason = denial,
            Context = context,
            Object = obj,
            Username = username,
            UpdatedMs = _server.Keyspace.NowMs,
            ClientInfo = info,
        }, maxLength);
    }

    // ----- ACL SETUSER / DELUSER -----

    /// <summary>
    /// Selectors may be written across several arguments ("(+get" "~key)"): joins them back into
    /// one rule each. Null when a parenthesis is never closed (<paramref name="unmatched"/> is then
    /// the index of the argument that opened it).
    /// </summary>
    public static List<string>? MergeSelectorArguments(IReadOnlyList<string> args, out int unmatched)
    {
        unmatched = -1;
        var merged = new List<string>(args.Count);
        StringBuilder? selector = null;
        int openedAt = -1;
        for (int i = 0; i < args.Count; i++)
        {
            string op = args[i];
            if (openedAt < 0 && op.Length > 0 && op[0] == '(' && op[^1] != ')')
            {
                selector = new StringBuilder(op);
                openedAt = i;
                continue;
            }
            if (openedAt >= 0)
            {
                selector!.Append(' ').Append(op);
                if (op.Length > 0 && op[^1] == ')')
                {
                    merged.Add(selector.ToString());
                    openedAt = -1;
                }
                continue;
            }
            merged.Add(op);
        }
        if (openedAt >= 0)
        {
            unmatched = openedAt;
            return null;
        }
        return merged;
    }

    /// <summary>The error text of a refused rule (Valkey's ACLSetUserStringError).</summary>
    public static string RuleErrorMessage(AclRuleError error) => error switch
    {
        AclRuleError.UnknownName => "Unknown command or category name in ACL",
        AclRuleError.Syntax => "Syntax error",
        AclRuleError.KeyPatternAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. " +
                                           "Try 'resetkeys' to start with an empty list of patterns",
        AclRuleError.ChannelAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. " +
                                        "Try 'resetchannels' to start with an empty list of channels",
        AclRuleError.NoSuchPassword => "The password you are trying to remove from the user does not exist",
        AclRuleError.BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
        AclRuleError.DuplicateUser => "Duplicate user found. A user can only be defined once in config files",
        AclRuleError.FirstArgOfSubcommand => "Allowing first-arg of a subcommand is not supported",
        _ => "Wrong format",
    };

    /// <summary>
    /// ACL SETUSER: applies every rule to a copy of the user (or a new one), and only when all are
    /// valid to the user itself, so a bad rule changes nothing. Subscribers who lose a channel are
    /// disconnected. Returns the error text or null.
    /// </summary>
    public string? SetUser(string name, IReadOnlyList<string> rules, IReadOnlyList<byte[]> rawRules, Client? current)
    {
        var merged = MergeSelectorArguments(rules, out int unmatched);
        if (merged is null) return $"Unmatched parenthesis in acl selector starting at '{rules[unmatched]}'.";
        var context = RuleContext;
        var existing = Find(name);
        var staged = existing is not null ? existing.CloneAs(name, context) : new AclUser(name, context);
        // Raw bytes matter for passwords only, and those are never part of a merged selector.
        bool sameShape = merged.Count == rules.Count;
        for (int i = 0; i < merged.Count; i++)
        {
            var error = sameShape ? staged.Apply(merged[i], rawRules[i], context) : staged.Apply(merged[i], context);
            if (error != AclRuleError.None) return $"Error in ACL SETUSER modifier '{merged[i]}': {RuleErrorMessage(error)}";
        }
        if (existing is not null)
        {
            KillSubscribersWhoLostChannels(staged, existing, current);
            existing.CopyRulesFrom(staged);
        }
        else
        {
            _users[name] = staged;
        }
        return null;
    }

    /// <summary>
    /// ACL DELUSER of one user: its connections go back to the (unauthenticated) default user and are
    /// closed; the caller's own connection after its reply.
    /// </summary>
    public bool DeleteUser(string name, Client current)
    {
        if (!_users.Remove(name, out var user)) return false;
        foreach (var c in _server.Clients.All.ToList())
        {
            if (c.User != user) continue;
            c.User = DefaultUser;
            c.Authenticated = false;
            if (c == current) c.Flags |= ClientFlags.CloseAfterReply;
            else _server.DisconnectClient(c);
        }
        return true;
    }

    /// <summary>
    /// The channels <paramref name="updated"/> allows, or null when it allows every channel the
    /// <paramref name="original"/> did (then no subscriber needs to go).
    /// </summary>
    private static List<string>? ChannelsIfNarrowed(AclUser updated, AclUser original)
    {
        foreach (var s in updated.Selectors)
            if (s.Has(SelectorFlags.AllChannels)) return null;
        var upcoming = new List<string>();
        foreach (var s in updated.Selectors) upcoming.AddRange(s.Channels);
        foreach (var s in original.Selectors)
        {
            if (s.Has(SelectorFlags.AllChannels)) return upcoming;
            foreach (var c in s.Channels)
                if (!upcoming.Contains(c)) return upcoming;
        }
        return null;
    }

    private bool SubscriptionsViolate(Client c, List<string> allowed)
    {
        if (!c.Has(ClientFlags.PubSub)) return false;
        foreach (var (name, isPattern) in _server.PubSub.SubscriptionsOf(c))
            if (!AclSelector.MatchesChannelList(allowed, name, isPattern)) return true;
        return false;
    }

    private void KillSubscribersWhoLostChannels(AclUser updated, AclUser original, Client? current)
    {
        if (!_server.PubSub.HasAnySubscriber) return;
        var allowed = ChannelsIfNarrowed(updated, original);
        if (allowed is null) return;
        foreach (var c in _server.Clients.All.ToList())
        {
            if (c.User != original || !SubscriptionsViolate(c, allowed)) continue;
            if (c == current) c.Flags |= ClientFlags.CloseAfterReply;
            else _server.DisconnectClient(c);
        }
    }

    // ----- ACL file and config file users -----

    /// <summary>
    /// Loads the users an ACL file describes, all or nothing (ACL LOAD, startup). On success the
    /// connections of deleted users, and subscribers who lost a channel, are closed; the others
    /// follow their user's new rules. Returns the errors (one line), or null.
    /// </summary>
    public string? LoadFromFile(string path, Client? current)
    {
        string content;
        try
        {
            content = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return $"Error loading ACLs, opening file '{path}': {Config.ConfigFileParser.ErrnoText(e)}";
        }
        var errors = new StringBuilder();
        var context = RuleContext;
        var loaded = new SortedDictionary<string, AclUser>(StringComparer.Ordinal);
        var lines = content.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            int lineNumber = i + 1;
            string line = lines[i].Trim(' ', '\t', '\r', '\n');
            if (line.Length == 0) continue;
            var argv = line.Split(' ');
            if (argv[0] != "user" || argv.Length < 2)
            {
                errors.Append($"{path}:{lineNumber} should start with user keyword followed by the username. ");
                continue;
            }
            string name = argv[1];
            if (AclSelector.HasSpaces(name))
            {
                errors.Append($"'{path}:{lineNumber}: username '{name}' contains invalid characters. ");
                continue;
            }
            if (loaded.ContainsKey(name))
            {
                errors.Append($"WARNING: Duplicate user '{name}' found on line {lineNumber}. ");
                continue;
            }
            var user = new AclUser(name, context);
            loaded[name] = user;
            var rules = MergeSelectorArguments(argv[2..], out _);
            if (rules is null)
            {
                errors.Append($"{path}:{lineNumber}: Unmatched parenthesis in selector definition.");
                continue;
            }
            bool syntaxErrorReported = false;
            foreach (var raw in rules)
            {
                string rule = raw.Trim('\t', '\r', '\n');
                var error = user.Apply(rule, context);
                if (error == AclRuleError.None) continue;
                if (error == AclRuleError.UnknownName)
                    errors.Append($"{path}:{lineNumber}: Error in applying operation '{rule}': {RuleErrorMessage(error)}. ");
                else if (!syntaxErrorReported)
                {
                    errors.Append($"{path}:{lineNumber}: {RuleErrorMessage(error)}. ");
                    syntaxErrorReported = true;
                }
            }
        }
        if (errors.Length > 0)
            return errors.Append("WARNING: ACL errors detected, no change to the previously active ACL rules was performed").ToString();
        InstallUsers(loaded, current);
        return null;
    }

    /// <summary>Replaces the user set; the default user object stays, with the new rules.</summary>
    private void InstallUsers(SortedDictionary<string, AclUser> loaded, Client? current)
    {
        var newDefault = loaded.GetValueOrDefault(DefaultUserName) ?? CreateDefaultUser(DefaultUserName);
        var oldDefault = DefaultUser.CloneAs(DefaultUserName, RuleContext);
        var narrowedDefault = ChannelsIfNarrowed(newDefault, oldDefault);
        DefaultUser.CopyRulesFrom(newDefault);
        loaded[DefaultUserName] = DefaultUser;
        var narrowed = new Dictionary<string, List<string>?>();
        foreach (var c in _server.Clients.All.ToList())
        {
            if (c.User is not { } original) continue;
            var replacement = loaded.GetValueOrDefault(original.Name);
            bool kill = replacement is null;
            if (!kill && _server.PubSub.HasAnySubscriber && c.Has(ClientFlags.PubSub))
            {
                if (!narrowed.TryGetValue(original.Name, out var allowed))
                    narrowed[original.Name] = allowed = original == DefaultUser ? narrowedDefault : ChannelsIfNarrowed(replacement!, original);
                kill = allowed is not null && SubscriptionsViolate(c, allowed);
            }
            if (kill)
            {
                if (c == current) c.Flags |= ClientFlags.CloseAfterReply;
                else _server.DisconnectClient(c);
                continue;
            }
            c.User = replacement;
        }
        _users = loaded;
    }

    /// <summary>ACL SAVE: every user as a "user" line, written to a temporary file renamed over the ACL file.</summary>
    public bool SaveToFile(string path)
    {
        var sb = new StringBuilder();
        foreach (var line in DescribeAll()) sb.Append(line).Append('\n');
        string tmp = $"{path}.tmp-{Environment.ProcessId}-{_server.Keyspace.NowMs}";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write))
            {
                fs.Write(Encoding.UTF8.GetBytes(sb.ToString()));
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _server.Log.Warning($"Writing ACL file for ACL SAVE: {e.Message}");
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            return false;
        }
    }

    /// <summary>"user name rules..." for every user, in name order (ACL LIST, ACL SAVE, CONFIG REWRITE).</summary>
    public IEnumerable<string> DescribeAll()
    {
        foreach (var u in _users.Values) yield return "user " + u.Name + " " + u.Describe();
    }

    /// <summary>
    /// At startup: the config file's `user` lines, then the aclfile (both at once is refused, as
    /// Valkey refuses it). Throws with Valkey's log message when something is wrong.
    /// </summary>
    public void LoadAtStartup()
    {
        var config = _server.Config;
        if (config.AclFile.Length > 0 && config.UserLines.Count > 0)
            throw new InvalidOperationException("Configuring valkey with users defined in valkey.conf and at the same setting an ACL file path is invalid. " +
                                                "This setup is very likely to lead to configuration errors and security holes, please define either an " +
                                                "ACL file or declare users directly in your valkey.conf, but not both.");
        var context = RuleContext;
        foreach (var line in config.UserLines)
        {
            string name = line[0];
            if (AclSelector.HasSpaces(name)) throw new InvalidOperationException("Spaces not allowed in ACL usernames");
            var user = Find(name);
            if (user is null) _users[name] = user = new AclUser(name, context);
            else user.Apply("reset", context); // only "default" can already exist
            var rules = MergeSelectorArguments(line[1..], out _) ?? new List<string>();
            foreach (var rule in rules)
            {
                var error = user.Apply(rule, context);
                if (error != AclRuleError.None)
                {
                    _server.Log.Warning($"Error loading ACL rule '{rule}' for the user named '{name}': {RuleErrorMessage(error)}");
                    throw new InvalidOperationException("Critical error while loading ACLs. Exiting.");
                }
            }
            if (!user.Enabled)
                _server.Log.Notice($"The user '{name}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.");
        }
        if (config.AclFile.Length > 0 && LoadFromFile(config.AclFile, null) is { } errors)
            throw new InvalidOperationException($"Aborting valkey startup because of ACL errors: {errors}");
    }

    /// <summary>
    /// Validates a config file `user` line when it is read (Valkey's ACLAppendUserForLoading):
    /// unknown commands are accepted (they are checked at load), other rule errors are not.
    /// Returns the error text, or null.
    /// </summary>
    public static string? ValidateUserLine(IReadOnlyList<string> argv, IReadOnlyList<string[]> earlier, bool allChannelsByDefault)
    {
        string name = argv[1];
        foreach (var previous in earlier)
            if (previous[0] == name) return $"Error in user declaration '{name}': {RuleErrorMessage(AclRuleError.DuplicateUser)}";
        var rules = MergeSelectorArguments(argv.Skip(2).ToList(), out int unmatched);
        if (rules is null) return $"Error in user declaration '{argv[unmatched + 2]}': {RuleErrorMessage(AclRuleError.None)}";
        var context = new AclRuleContext(CatalogTable.Value, allChannelsByDefault);
        var fake = new AclUser("__fakeuser__", context);
        for (int i = 0; i < rules.Count; i++)
        {
            var error = fake.Apply(rules[i], context);
            if (error != AclRuleError.None && error != AclRuleError.UnknownName)
                return $"Error in user declaration '{argv[i + 2]}': {RuleErrorMessage(error)}";
        }
        return null;
    }

    private static readonly Lazy<CommandTable> CatalogTable = new(() => new CommandTable());
}
