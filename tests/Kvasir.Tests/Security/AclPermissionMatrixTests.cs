using System.Text.Json;
using Kvasir.Commands;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Security;

/// <summary>
/// The ACL permission matrix: every command and subcommand Kvasir implements, called with
/// arguments built from its documented syntax, by a user without one of its categories (refused
/// with -NOPERM, data unchanged), by a user allowed just that command (not refused), and, for every
/// command with keys or channels, by users whose key or channel patterns exclude the ones named
/// (refused, data unchanged) or include them (not refused). Nothing may slip through.
/// </summary>
public sealed class AclPermissionMatrixTests
{
    /// <summary>Commands that stay allowed to everyone (Valkey's no-auth commands: ACL never refuses them).</summary>
    private static readonly HashSet<string> AlwaysAllowed = new() { "auth", "hello", "quit", "reset" };

    /// <summary>
    /// Commands whose real run would disturb the test (shut down, block, replicate, sleep, pause or
    /// reach the network): "allowed" is asked with ACL DRYRUN instead. Refusals are still real calls.
    /// </summary>
    private static readonly HashSet<string> NotRunWhenAllowed = new()
    {
        "shutdown", "debug", "sync", "psync", "replicaof", "slaveof", "failover", "migrate", "monitor",
        "client|kill", "client|pause", "client|reply", "save", "bgsave", "bgrewriteaof", "wait", "waitaof", "pfselftest",
        "acl|load", "acl|save", "config|rewrite", "function|restore",
    };

    private const string DeniedKey = "denied:key";
    private const string AllowedKey = "allowed:key";

    [Fact]
    public async Task EveryCommandIsCheckedForCommandKeysAndChannels()
    {
        // DEBUG and MODULE are protected before ACL is asked: let them reach the ACL check.
        await using var server = await TestServer.StartAsync(("enable-debug-command", "yes"), ("enable-module-command", "yes"), ("save", ""));
        await using var admin = await server.ConnectAsync();
        // Allowed runs such as SETEX denied:key 1 1 leave keys with a 1 s TTL; the active expire cycle
        // deleting one between two digests would read as a refused command changing data.
        Assert.Equal("OK", await admin.CallTextAsync("DEBUG", "SET-ACTIVE-EXPIRE", "0"));
        // Some data of every type under the names the commands will use, so a slipped write shows.
        foreach (var prefix in new[] { "denied:", "allowed:" })
        {
            await admin.CallAsync("SET", prefix + "str", "v");
            await admin.CallAsync("HSET", prefix + "hash", "f", "v");
            await admin.CallAsync("RPUSH", prefix + "list", "a");
            await admin.CallAsync("SADD", prefix + "set", "a");
            await admin.CallAsync("ZADD", prefix + "zset", "1", "a");
            await admin.CallAsync("SET", prefix + "key", "v");
        }
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "keys", "on", "nopass", "&*", "+@all", "~allowed:*"));
        Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", "channels", "on", "nopass", "~*", "+@all", "resetchannels", "&allowed:*"));

        var failures = new List<string>();
        var checkedKeys = new List<string>();
        var createdCategoryUsers = new HashSet<string>();
        foreach (var cmd in AllCommands(server.Server.Commands))
        {
            var args = BuildArguments(cmd, DeniedKey);
            Assert.Equal(AlwaysAllowed.Contains(cmd.Name), cmd.Has(CommandFlags.NoAuth));
            if (cmd.Has(CommandFlags.NoAuth)) continue;

            // 1. A user without one of the command's categories is refused, and nothing changes.
            string category = cmd.AclCategories[0].TrimStart('@');
            string categoryUser = "no-" + category;
            if (createdCategoryUsers.Add(categoryUser))
                Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", categoryUser, "on", "nopass", "~*", "&*", "+@all", "-@" + category));
            string before = (await admin.CallTextAsync("DEBUG", "DIGEST"))!;
            var refused = await RunAsAsync(server, categoryUser, args);
            if (refused.Text != $"NOPERM User {categoryUser} has no permissions to run the '{cmd.Name}' command")
                failures.Add($"{cmd.Name} without @{category}: {refused}");
            if ((await admin.CallTextAsync("DEBUG", "DIGEST")) != before) failures.Add($"{cmd.Name} without @{category} changed data");

            // 2. A user allowed only this command is not refused.
            string onlyUser = "only-" + cmd.Name.Replace('|', '-');
            Assert.Equal("OK", await admin.CallTextAsync("ACL", "SETUSER", onlyUser, "on", "nopass", "~*", "&*", "-@all", "+" + cmd.Name));
            var allowed = await AllowedReplyAsync(server, admin, onlyUser, cmd, args);
            if (allowed.IsError && allowed.Text!.StartsWith("NOPERM", StringComparison.Ordinal)) failures.Add($"{cmd.Name} allowed: {allowed}");
            await admin.CallAsync("ACL", "DELUSER", onlyUser);
            await admin.CallAsync("SELECT", "0");

            // 3. Keys outside the user's patterns are refused; keys inside are not.
            if (CommandKeys.HasKeys(cmd))
            {
                checkedKeys.Add(cmd.Name);
                before = (await admin.CallTextAsync("DEBUG", "DIGEST"))!;
                var keyRefused = await RunAsAsync(server, "keys", args);
                if (keyRefused.Text != "NOPERM No permissions to access a key") failures.Add($"{cmd.Name} on {DeniedKey}: {keyRefused}");
                if ((await admin.CallTextAsync("DEBUG", "DIGEST")) != before) failures.Add($"{cmd.Name} on {DeniedKey} changed data");
                var keyAllowed = await AllowedReplyAsync(server, admin, "keys", cmd, BuildArguments(cmd, AllowedKey));
                if (keyAllowed.IsError && keyAllowed.Text!.StartsWith("NOPERM", StringComparison.Ordinal))
                    failures.Add($"{cmd.Name} on {AllowedKey}: {keyAllowed}");
            }

            // 4. Channels: publishing and subscribing are checked against the channel patterns.
            if (cmd.Name is "publish" or "spublish" or "subscribe" or "ssubscribe" or "psubscribe")
            {
                var denied = await RunAsAsync(server, "channels", WithChannel(args, "denied:ch"));
                if (denied.Text != "NOPERM No permissions to access a channel") failures.Add($"{cmd.Name} on denied:ch: {denied}");
                // A PSUBSCRIBE pattern must be one of the user's channel patterns, literally.
                var ok = await RunAsAsync(server, "channels", WithChannel(args, cmd.Name == "psubscribe" ? "allowed:*" : "allowed:ch"));
                if (ok.IsError) failures.Add($"{cmd.Name} on allowed:ch: {ok}");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // The matrix really covered the keyed commands (strings, lists, sets, hashes, sorted sets, scripts...).
        Assert.Contains("get", checkedKeys);
        Assert.Contains("eval", checkedKeys);
        Assert.Contains("sort", checkedKeys);
        Assert.Contains("zunionstore", checkedKeys);
        Assert.True(checkedKeys.Count > 150, $"only {checkedKeys.Count} keyed commands checked");
    }

    private static IEnumerable<CommandDefinition> AllCommands(CommandTable table)
    {
        foreach (var cmd in table.Implemented.OrderBy(c => c.Name, StringComparer.Ordinal))
        {
            if (cmd.IsContainer)
            {
                foreach (var sub in CommandTable.ImplementedSubcommands(cmd).OrderBy(c => c.Name, StringComparer.Ordinal)) yield return sub;
            }
            else yield return cmd;
        }
    }

    /// <summary>One call on a fresh connection authenticated as <paramref name="user"/> (connection state never leaks between calls).</summary>
    private static async Task<RespValue> RunAsAsync(TestServer server, string user, string[] args)
    {
        await using var c = await server.ConnectAsync();
        Assert.Equal("OK", await c.CallTextAsync("AUTH", user, "x"));
        return await c.CallAsync(args.Cast<object>().ToArray());
    }

    private static async Task<RespValue> AllowedReplyAsync(TestServer server, RespClient admin, string user, CommandDefinition cmd, string[] args)
    {
        string top = cmd.Parent?.Name ?? cmd.Name;
        if (NotRunWhenAllowed.Contains(cmd.Name) || NotRunWhenAllowed.Contains(top) || cmd.Has(CommandFlags.Blocking))
        {
            var dry = await admin.CallAsync(new object[] { "ACL", "DRYRUN", user }.Concat(args).ToArray());
            // DRYRUN answers OK, or the reason as a bulk string.
            return dry.Text == "OK" ? dry : new RespValue('-', "NOPERM " + dry.Text, 0, null);
        }
        return await RunAsAsync(server, user, args);
    }

    private static string[] WithChannel(string[] args, string channel)
    {
        var copy = (string[])args.Clone();
        copy[1] = channel;
        return copy;
    }

    // ----- arguments from the documented syntax -----

    /// <summary>
    /// The command's name (container and subcommand), then its required arguments (optional ones too
    /// when they name a key), each with a plausible value; keys are <paramref name="key"/>, and the
    /// count of keys (numkeys) is 1. Padded to the arity.
    /// </summary>
    public static string[] BuildArguments(CommandDefinition cmd, string key)
    {
        var args = new List<string>();
        if (cmd.Parent is not null)
        {
            args.Add(cmd.Parent.Name.ToUpperInvariant());
            args.Add(cmd.ShortName.ToUpperInvariant());
        }
        else args.Add(cmd.Name.ToUpperInvariant());
        bool keyAdded = false;
        if (cmd.Arguments is { } docs && docs.ValueKind == JsonValueKind.Array)
            foreach (var a in docs.EnumerateArray()) AddArgument(a, key, args, ref keyAdded);
        int arity = cmd.Arity;
        while ((arity > 0 && args.Count < arity) || (arity < 0 && args.Count < -arity)) args.Add("1");
        if (arity > 0 && args.Count > arity) args.RemoveRange(arity, args.Count - arity);
        return args.ToArray();
    }

    private static bool HasFlag(JsonElement a, string flag) =>
        a.TryGetProperty("flags", out var f) && f.EnumerateArray().Any(x => x.GetString() == flag);

    private static bool NamesAKey(JsonElement a)
    {
        if (a.GetProperty("type").GetString() == "key") return true;
        return a.TryGetProperty("arguments", out var inner) && inner.EnumerateArray().Any(NamesAKey);
    }

    /// <summary>Adds one documented argument; an optional one only when it names the first key of the call.</summary>
    private static void AddArgument(JsonElement a, string key, List<string> args, ref bool keyAdded)
    {
        if (HasFlag(a, "optional") && (keyAdded || !NamesAKey(a))) return;
        string type = a.GetProperty("type").GetString()!;
        string name = a.TryGetProperty("name", out var n) ? n.GetString()! : "";
        if (a.TryGetProperty("token", out var token) && type != "pure-token") args.Add(token.GetString()!);
        switch (type)
        {
            case "key":
                args.Add(key);
                keyAdded = true;
                break;
            case "pure-token":
                args.Add(token.GetString()!);
                break;
            case "integer":
                args.Add(name is "numkeys" or "numchannels" ? "1" : "1");
                break;
            case "double":
            case "unix-time":
                args.Add("1");
                break;
            case "pattern":
                args.Add("*");
                break;
            case "oneof":
            {
                // The first alternative, or the one that names a key when the choice is about keys.
                var choices = a.GetProperty("arguments").EnumerateArray().ToList();
                var pick = choices.FirstOrDefault(NamesAKey);
                AddArgument(pick.ValueKind == JsonValueKind.Undefined ? choices[0] : pick, key, args, ref keyAdded);
                break;
            }
            case "block":
                foreach (var inner in a.GetProperty("arguments").EnumerateArray()) AddArgument(inner, key, args, ref keyAdded);
                break;
            default:
                args.Add(name is "channel" or "shardchannel" ? "ch" : "1");
                break;
        }
    }
}
