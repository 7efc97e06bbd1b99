using System.Security.Cryptography;
using Kvasir.Security;

namespace Kvasir.Commands;

/// <summary>ACL: SETUSER GETUSER DELUSER LIST USERS WHOAMI CAT GENPASS DRYRUN LOG LOAD SAVE HELP.</summary>
public static class AclCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("acl|setuser", SetUser);
        t.Bind("acl|getuser", GetUser);
        t.Bind("acl|deluser", DelUser);
        t.Bind("acl|list", List);
        t.Bind("acl|users", Users);
        t.Bind("acl|whoami", WhoAmI);
        t.Bind("acl|cat", Cat);
        t.Bind("acl|genpass", GenPass);
        t.Bind("acl|dryrun", DryRun);
        t.Bind("acl|log", Log);
        t.Bind("acl|load", Load);
        t.Bind("acl|save", Save);
        t.Bind("acl|help", Help);
    }

    private static void SetUser(CommandContext ctx)
    {
        // Rules hold passwords: nothing of them reaches the slow log or MONITOR.
        for (int i = 2; i < ctx.ArgCount; i++) ctx.RedactArgument(i);
        string name = ctx.Args.ToString(2);
        if (AclSelector.HasSpaces(name))
        {
            ctx.Error("ERR Usernames can't contain spaces or null characters");
            return;
        }
        var rules = new List<string>(ctx.ArgCount - 3);
        var raw = new List<byte[]>(ctx.ArgCount - 3);
        for (int i = 3; i < ctx.ArgCount; i++)
        {
            rules.Add(ctx.Args.ToString(i));
            raw.Add(ctx.Args.ToArray(i));
        }
        if (ctx.Server.Acl.SetUser(name, rules, raw, ctx.Client) is { } error) ctx.Error("ERR " + error);
        else ctx.Reply.WriteOk();
    }

    private static void DelUser(CommandContext ctx)
    {
        for (int i = 2; i < ctx.ArgCount; i++) ctx.RedactArgument(i);
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            if (ctx.Args[i].SequenceEqual("default"u8))
            {
                ctx.Error("ERR The 'default' user cannot be removed");
                return;
            }
        }
        int deleted = 0;
        for (int i = 2; i < ctx.ArgCount; i++)
            if (ctx.Server.Acl.DeleteUser(ctx.Args.ToString(i), ctx.Client)) deleted++;
        ctx.Reply.WriteInteger(deleted);
    }

    private static void GetUser(CommandContext ctx)
    {
        ctx.RedactArgument(2);
        var user = ctx.Server.Acl.Find(ctx.Args.ToString(2));
        var r = ctx.Reply;
        if (user is null)
        {
            r.WriteNull();
            return;
        }
        r.WriteMap(6);
        r.WriteBulk("flags"u8);
        var flags = user.FlagNames();
        r.WriteSet(flags.Count);
        foreach (var f in flags) r.WriteBulk(f);
        r.WriteBulk("passwords"u8);
        r.WriteArray(user.Passwords.Count);
        foreach (var p in user.Passwords) r.WriteBulk(p);
        // The root selector's fields stay at the top level (as before selectors existed).
        WriteSelector(r, user.Root);
        r.WriteBulk("selectors"u8);
        r.WriteArray(user.Selectors.Count - 1);
        for (int i = 1; i < user.Selectors.Count; i++)
        {
            r.WriteMap(3);
            WriteSelector(r, user.Selectors[i]);
        }
    }

    private static void WriteSelector(Protocol.ReplyWriter r, AclSelector s)
    {
        r.WriteBulk("commands"u8);
        r.WriteBulk(s.DescribeCommands());
        r.WriteBulk("keys"u8);
        r.WriteBulk(s.DescribeKeys());
        r.WriteBulk("channels"u8);
        r.WriteBulk(s.DescribeChannels());
    }

    private static void List(CommandContext ctx)
    {
        var acl = ctx.Server.Acl;
        ctx.Reply.WriteArray(acl.UserCount);
        foreach (var line in acl.DescribeAll()) ctx.Reply.WriteBulk(line);
    }

    private static void Users(CommandContext ctx)
    {
        var acl = ctx.Server.Acl;
        ctx.Reply.WriteArray(acl.UserCount);
        foreach (var u in acl.Users) ctx.Reply.WriteBulk(u.Name);
    }

    private static void WhoAmI(CommandContext ctx)
    {
        if (ctx.Client.User is { } user) ctx.Reply.WriteBulk(user.Name);
        else ctx.Reply.WriteNull();
    }

    private static void Cat(CommandContext ctx)
    {
        if (ctx.ArgCount > 3)
        {
            SubcommandSyntaxError(ctx);
            return;
        }
        var r = ctx.Reply;
        if (ctx.ArgCount == 2)
        {
            r.WriteArray(AclCategories.Names.Length);
            foreach (var name in AclCategories.Names) r.WriteBulk(name);
            return;
        }
        string categoryName = ctx.Args.ToString(2);
        ulong category = AclCategories.Find(categoryName);
        if (category == 0)
        {
            ctx.Error($"ERR Unknown category '{Truncate(categoryName)}'");
            return;
        }
        var names = new List<string>();
        foreach (var cmd in ctx.Server.Commands.Implemented)
        {
            if ((cmd.AclCategoryMask & category) != 0) names.Add(cmd.Name);
            foreach (var sub in CommandTable.ImplementedSubcommands(cmd))
                if ((sub.AclCategoryMask & category) != 0) names.Add(sub.Name);
        }
        r.WriteArray(names.Count);
        foreach (var n in names) r.WriteBulk(n);
    }

    private const int GenPassMaxBits = 4096;

    private static void GenPass(CommandContext ctx)
    {
        if (ctx.ArgCount > 3)
        {
            SubcommandSyntaxError(ctx);
            return;
        }
        long bits = 256;
        if (ctx.ArgCount == 3 && !ctx.TryGetLong(2, out bits)) return;
        if (bits <= 0 || bits > GenPassMaxBits)
        {
            ctx.Error($"ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to {GenPassMaxBits}");
            return;
        }
        int chars = (int)((bits + 3) / 4);
        var hex = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes((chars + 1) / 2));
        ctx.Reply.WriteBulk(hex[..chars]);
    }

    private static void DryRun(CommandContext ctx)
    {
        var server = ctx.Server;
        string username = ctx.Args.ToString(2);
        var user = server.Acl.Find(username);
        if (user is null)
        {
            ctx.Error($"ERR User '{username}' not found");
            return;
        }
        var args = new Protocol.CommandArgs();
        var argv = new byte[ctx.ArgCount - 3][];
        for (int i = 3; i < ctx.ArgCount; i++) argv[i - 3] = ctx.Args.ToArray(i);
        args.SetOwned(argv);
        var cmd = ResolveForDryRun(server.Commands, args);
        if (cmd is null)
        {
            ctx.Error($"ERR Command '{args.ToString(0)}' not found");
            return;
        }
        if ((cmd.Arity > 0 && cmd.Arity != args.Count) || args.Count < -cmd.Arity)
        {
            ctx.Error($"ERR wrong number of arguments for '{cmd.Name}' command");
            return;
        }
        var denial = server.Acl.Check(user, cmd, args, out int position);
        if (denial == AclDenial.None) ctx.Reply.WriteOk();
        else ctx.Reply.WriteBulk(AccessControl.DenialMessage(denial, user, cmd, args.ToString(position), verbose: true));
    }

    /// <summary>
    /// The command DRYRUN asks about: as the dispatcher would find it (a container's subcommand when
    /// there are arguments). Commands Kvasir does not implement yet are still answered from their
    /// Valkey definition, since the question is about permissions.
    /// </summary>
    private static CommandDefinition? ResolveForDryRun(CommandTable table, Protocol.CommandArgs args)
    {
        var cmd = table.Find(args[0]);
        if (cmd is null)
        {
            cmd = table.FindOriginal(args.ToString(0));
            if (cmd is null || cmd.Handler is not null || args.ToString(0).Contains('|')) return null;
        }
        if (!cmd.IsContainer || args.Count < 2) return cmd;
        return cmd.Subcommands!.GetValueOrDefault(args.ToString(1));
    }

    private static void Log(CommandContext ctx)
    {
        if (ctx.ArgCount > 3)
        {
            SubcommandSyntaxError(ctx);
            return;
        }
        var log = ctx.Server.Acl.Log;
        long count = 10;
        if (ctx.ArgCount == 3)
        {
            if (ctx.ArgIs(2, "RESET"u8))
            {
                log.Reset();
                ctx.Reply.WriteOk();
                return;
            }
            if (!ctx.TryGetLong(2, out count)) return;
            if (count < 0) count = 0;
        }
        count = Math.Min(count, log.Count);
        var r = ctx.Reply;
        long now = ctx.NowMs;
        r.WriteArray(count);
        foreach (var e in log.Newest())
        {
            if (count-- == 0) break;
            r.WriteMap(10);
            r.WriteBulk("count"u8);
            r.WriteInteger(e.Count);
            r.WriteBulk("reason"u8);
            r.WriteBulk(e.ReasonName);
            r.WriteBulk("context"u8);
            r.WriteBulk(e.ContextName);
            r.WriteBulk("object"u8);
            r.WriteBulk(e.Object);
            r.WriteBulk("username"u8);
            r.WriteBulk(e.Username);
            r.WriteBulk("age-seconds"u8);
            r.WriteDouble((double)(now - e.UpdatedMs) / 1000);
            r.WriteBulk("client-info"u8);
            r.WriteBulk(e.ClientInfo);
            r.WriteBulk("entry-id"u8);
            r.WriteInteger(e.EntryId);
            r.WriteBulk("timestamp-created"u8);
            r.WriteInteger(e.CreatedMs);
            r.WriteBulk("timestamp-last-updated"u8);
            r.WriteInteger(e.UpdatedMs);
        }
    }

    private const string NoAclFile = "ERR This instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER " +
                                     "command and then issue a CONFIG REWRITE (assuming you have a configuration file set) in order to store users " +
                                     "in the configuration.";

    private static void Load(CommandContext ctx)
    {
        string path = ctx.Server.Config.AclFile;
        if (path.Length == 0)
        {
            ctx.Error(NoAclFile);
            return;
        }
        if (ctx.Server.Acl.LoadFromFile(path, ctx.Client) is { } errors) ctx.Error("ERR " + errors);
        else ctx.Reply.WriteOk();
    }

    private static void Save(CommandContext ctx)
    {
        string path = ctx.Server.Config.AclFile;
        if (path.Length == 0)
        {
            ctx.Error(NoAclFile);
            return;
        }
        if (ctx.Server.Acl.SaveToFile(path)) ctx.Reply.WriteOk();
        else ctx.Error("ERR There was an error trying to save the ACLs. Please check the server logs for more information");
    }

    private static void SubcommandSyntaxError(CommandContext ctx) =>
        ctx.Error($"ERR unknown subcommand or wrong number of arguments for '{Truncate(ctx.Args.ToString(1))}'. Try ACL HELP.");

    private static string Truncate(string s) => s.Length <= 128 ? s : s[..128];

    private static readonly string[] HelpLines =
    {
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CAT [<category>]",
        "    List the command categories, or the commands and subcommands of <category>.",
        "DELUSER <username> [<username> ...]",
        "    Delete users; their connections are closed.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Tell whether the user could run the command, without running it.",
        "GETUSER <username>",
        "    Show a user's flags, password digests, commands, keys, channels and selectors.",
        "GENPASS [<bits>]",
        "    Generate a random password of 256 bits, or of <bits> bits.",
        "LIST",
        "    Show every user as a config file `user` line.",
        "LOAD",
        "    Replace the users with those of the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the newest entries of the ACL log (10 by default), or empty it.",
        "SAVE",
        "    Write the users to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create a user, or change one, with the given rules.",
        "USERS",
        "    List the user names.",
        "WHOAMI",
        "    Show the user this connection is authenticated as.",
        "HELP",
        "    Print this help.",
    };

    private static void Help(CommandContext ctx)
    {
        ctx.Reply.WriteArray(HelpLines.Length);
        foreach (var line in HelpLines) ctx.Reply.WriteSimpleString(line);
    }
}
