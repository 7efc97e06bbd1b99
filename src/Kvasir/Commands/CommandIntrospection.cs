using System.Text.Json;
using Kvasir.Protocol;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// COMMAND and its subcommands: what this server implements, described exactly as Valkey
/// describes its commands (clients such as valkey-cli and cluster-aware libraries read this to
/// learn arities, key positions and argument structure). Commands without a handler are absent.
/// </summary>
public static class CommandIntrospection
{
    public static void Register(CommandTable t)
    {
        t.Bind("command", Command);
        t.Bind("command|count", Count);
        t.Bind("command|info", Info);
        t.Bind("command|docs", Docs);
        t.Bind("command|list", List);
        t.Bind("command|getkeys", ctx => GetKeys(ctx, withFlags: false));
        t.Bind("command|getkeysandflags", ctx => GetKeys(ctx, withFlags: true));
        t.Bind("command|help", Help);
    }

    private static List<CommandDefinition> TopLevel(CommandTable table) => table.Implemented.ToList();

    private static void Command(CommandContext ctx)
    {
        var all = TopLevel(ctx.Server.Commands);
        ctx.Reply.WriteArray(all.Count);
        foreach (var cmd in all) WriteInfo(ctx.Reply, cmd);
    }

    private static void Count(CommandContext ctx) => ctx.Reply.WriteInteger(TopLevel(ctx.Server.Commands).Count);

    /// <summary>A command or "container|subcommand" by name, only when implemented (Valkey's lookupCommandBySds).</summary>
    public static CommandDefinition? LookupByFullName(CommandTable table, string name)
    {
        var parts = name.Split('|');
        if (parts.Length > 2) return null;
        var def = table.FindByFullName(parts[0]);
        if (def?.Handler is null) return null;
        if (parts.Length == 1) return def;
        var sub = def.Subcommands?.GetValueOrDefault(parts[1]);
        return sub?.Handler is null ? null : sub;
    }

    private static void Info(CommandContext ctx)
    {
        if (ctx.ArgCount == 2)
        {
            Command(ctx);
            return;
        }
        ctx.Reply.WriteArray(ctx.ArgCount - 2);
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            var cmd = LookupByFullName(ctx.Server.Commands, ctx.Args.ToString(i));
            if (cmd is null) ctx.Reply.WriteNull();
            else WriteInfo(ctx.Reply, cmd);
        }
    }

    private static void Docs(CommandContext ctx)
    {
        var reply = ctx.Reply;
        if (ctx.ArgCount == 2)
        {
            var all = TopLevel(ctx.Server.Commands);
            reply.WriteMap(all.Count);
            foreach (var cmd in all)
            {
                reply.WriteBulk(cmd.Name);
                WriteDocs(reply, cmd);
            }
            return;
        }
        var found = new List<CommandDefinition>();
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            var cmd = LookupByFullName(ctx.Server.Commands, ctx.Args.ToString(i));
            if (cmd is not null) found.Add(cmd);
        }
        reply.WriteMap(found.Count);
        foreach (var cmd in found)
        {
            reply.WriteBulk(cmd.Name);
            WriteDocs(reply, cmd);
        }
    }

    private static void List(CommandContext ctx)
    {
        string? filterType = null, filterArg = null;
        for (int i = 2; i < ctx.ArgCount; i++)
        {
            int more = ctx.ArgCount - 1 - i;
            if (ctx.Args.Is(i, "FILTERBY"u8) && more == 2)
            {
                if (ctx.Args.Is(i + 1, "MODULE"u8)) filterType = "module";
                else if (ctx.Args.Is(i + 1, "ACLCAT"u8)) filterType = "aclcat";
                else if (ctx.Args.Is(i + 1, "PATTERN"u8)) filterType = "pattern";
                else
                {
                    ctx.SyntaxError();
                    return;
                }
                filterArg = ctx.Args.ToString(i + 2);
                i += 2;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        var names = new List<string>();
        foreach (var cmd in TopLevel(ctx.Server.Commands))
        {
            if (Passes(cmd, filterType, filterArg)) names.Add(cmd.Name);
            foreach (var sub in CommandTable.ImplementedSubcommands(cmd))
                if (Passes(sub, filterType, filterArg)) names.Add(sub.Name);
        }
        ctx.Reply.WriteArray(names.Count);
        foreach (var n in names) ctx.Reply.WriteBulk(n);
    }

    private static bool Passes(CommandDefinition cmd, string? type, string? arg)
    {
        switch (type)
        {
            case null: return true;
            case "module": return false; // no modules: no command belongs to one
            case "aclcat":
                foreach (var c in cmd.AclCategories)
                    if (c.Length > 1 && string.Equals(c[1..], arg, StringComparison.OrdinalIgnoreCase)) return true;
                return false;
            default: return GlobPattern.Match(arg!, cmd.Name, noCase: true);
        }
    }

    private static void GetKeys(CommandContext ctx, bool withFlags)
    {
        var table = ctx.Server.Commands;
        var cmd = table.FindByFullName(ctx.Args.ToString(2));
        if (cmd?.Handler is null || ctx.Args[2].IndexOf((byte)'|') >= 0) cmd = null;
        if (cmd is not null && cmd.IsContainer && ctx.ArgCount > 3)
        {
            var sub = cmd.Subcommands!.GetValueOrDefault(ctx.Args.ToString(3));
            cmd = sub?.Handler is null ? null : sub;
        }
        if (cmd is null)
        {
            ctx.Error("ERR Invalid command specified");
            return;
        }
        if (!CommandKeys.HasKeys(cmd))
        {
            ctx.Error("ERR The command has no key arguments");
            return;
        }
        int argc = ctx.ArgCount - 2;
        if ((cmd.Arity > 0 && cmd.Arity != argc) || argc < -cmd.Arity)
        {
            ctx.Error("ERR Invalid number of arguments specified for command");
            return;
        }
        var keys = new List<KeyReference>();
        if (CommandKeys.GetKeys(cmd, ctx.Args, 2, keys) == 0)
        {
            if (cmd.Has(CommandFlags.NoMandatoryKeys)) ctx.Reply.WriteArray(0);
            else ctx.Error("ERR Invalid arguments specified for command");
            return;
        }
        ctx.Reply.WriteArray(keys.Count);
        foreach (var k in keys)
        {
            if (!withFlags)
            {
                ctx.Reply.WriteBulk(ctx.Args[2 + k.Position]);
                continue;
            }
            ctx.Reply.WriteArray(2);
            ctx.Reply.WriteBulk(ctx.Args[2 + k.Position]);
            WriteStatusSet(ctx.Reply, k.Flags);
        }
    }

    private static void Help(CommandContext ctx) => HelpText.Write(ctx, "COMMAND",
        "(no subcommand)",
        "    Describe every command this server implements.",
        "COUNT",
        "    Number of implemented commands.",
        "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
        "    Names of the commands and subcommands, optionally filtered.",
        "INFO [<command-name> ...]",
        "    Describe the given commands, or all of them when none are named.",
        "DOCS [<command-name> ...]",
        "    Documentation of the given commands, or of all of them when none are named.",
        "GETKEYS <full-command>",
        "    The keys a complete command would access.",
        "GETKEYSANDFLAGS <full-command>",
        "    The keys a complete command would access, with their access flags.");

    // ----- COMMAND INFO format -----

    private static void WriteStatusSet(ReplyWriter reply, IReadOnlyList<string> items)
    {
        reply.WriteSet(items.Count);
        foreach (var s in items) reply.WriteSimpleString(s);
    }

    public static void WriteInfo(ReplyWriter reply, CommandDefinition cmd)
    {
        reply.WriteArray(10);
        reply.WriteBulk(cmd.Name);
        reply.WriteInteger(cmd.Arity);
        WriteStatusSet(reply, cmd.FlagNames);
        reply.WriteInteger(cmd.FirstKey);
        reply.WriteInteger(cmd.LastKey);
        reply.WriteInteger(cmd.KeyStep);
        WriteStatusSet(reply, cmd.AclCategories);
        reply.WriteSet(cmd.Tips.Length);
        foreach (var tip in cmd.Tips) reply.WriteBulk(tip);
        WriteKeySpecs(reply, cmd.KeySpecs);
        if (cmd.Subcommands is null)
        {
            reply.WriteSet(0);
            return;
        }
        var subs = CommandTable.ImplementedSubcommands(cmd).ToList();
        reply.WriteArray(subs.Count);
        foreach (var s in subs) WriteInfo(reply, s);
    }

    private static void WriteKeySpecs(ReplyWriter reply, KeySpec[] specs)
    {
        reply.WriteSet(specs.Length);
        foreach (var spec in specs)
        {
            reply.WriteMap(spec.Notes is null ? 3 : 4);
            if (spec.Notes is not null)
            {
                reply.WriteBulk("notes"u8);
                reply.WriteBulk(spec.Notes);
            }
            reply.WriteBulk("flags"u8);
            WriteStatusSet(reply, spec.Flags);

            reply.WriteBulk("begin_search"u8);
            reply.WriteMap(2);
            reply.WriteBulk("type"u8);
            reply.WriteBulk(spec.BeginType);
            reply.WriteBulk("spec"u8);
            switch (spec.BeginType)
            {
                case "index":
                    reply.WriteMap(1);
                    reply.WriteBulk("index"u8);
                    reply.WriteInteger(spec.BeginIndex);
                    break;
                case "keyword":
                    reply.WriteMap(2);
                    reply.WriteBulk("keyword"u8);
                    reply.WriteBulk(spec.Keyword!);
                    reply.WriteBulk("startfrom"u8);
                    reply.WriteInteger(spec.KeywordStartFrom);
                    break;
                default:
                    reply.WriteMap(0);
                    break;
            }

            reply.WriteBulk("find_keys"u8);
            reply.WriteMap(2);
            reply.WriteBulk("type"u8);
            reply.WriteBulk(spec.FindType);
            reply.WriteBulk("spec"u8);
            switch (spec.FindType)
            {
                case "range":
                    reply.WriteMap(3);
                    reply.WriteBulk("lastkey"u8);
                    reply.WriteInteger(spec.LastKey);
                    reply.WriteBulk("keystep"u8);
                    reply.WriteInteger(spec.KeyStep);
                    reply.WriteBulk("limit"u8);
                    reply.WriteInteger(spec.Limit);
                    break;
                case "keynum":
                    reply.WriteMap(3);
                    reply.WriteBulk("keynumidx"u8);
                    reply.WriteInteger(spec.KeyNumIndex);
                    reply.WriteBulk("firstkey"u8);
                    reply.WriteInteger(spec.FirstKey);
                    reply.WriteBulk("keystep"u8);
                    reply.WriteInteger(spec.KeyStep);
                    break;
                default:
                    reply.WriteMap(0);
                    break;
            }
        }
    }

    // ----- COMMAND DOCS format -----

    public static void WriteDocs(ReplyWriter reply, CommandDefinition cmd)
    {
        string? summary = CommandSummaries.Summary(cmd.Name);
        string? replacedBy = CommandSummaries.ReplacedBy(cmd.Name);
        bool hasArgs = cmd.Arguments is { ValueKind: JsonValueKind.Array } a && a.GetArrayLength() > 0;
        var subs = cmd.Subcommands is null ? null : CommandTable.ImplementedSubcommands(cmd).ToList();
        int pairs = 1;
        if (summary is not null) pairs++;
        if (cmd.Since is not null) pairs++;
        if (cmd.DocFlags.Length > 0) pairs++;
        if (cmd.DeprecatedSince is not null) pairs++;
        if (replacedBy is not null) pairs++;
        if (hasArgs) pairs++;
        if (subs is not null) pairs++;
        reply.WriteMap(pairs);
        if (summary is not null)
        {
            reply.WriteBulk("summary"u8);
            reply.WriteBulk(summary);
        }
        if (cmd.Since is not null)
        {
            reply.WriteBulk("since"u8);
            reply.WriteBulk(cmd.Since);
        }
        reply.WriteBulk("group"u8);
        reply.WriteBulk(cmd.Group);
        if (cmd.DocFlags.Length > 0)
        {
            reply.WriteBulk("doc_flags"u8);
            WriteStatusSet(reply, cmd.DocFlags);
        }
        if (cmd.DeprecatedSince is not null)
        {
            reply.WriteBulk("deprecated_since"u8);
            reply.WriteBulk(cmd.DeprecatedSince);
        }
        if (replacedBy is not null)
        {
            reply.WriteBulk("replaced_by"u8);
            reply.WriteBulk(replacedBy);
        }
        if (hasArgs)
        {
            reply.WriteBulk("arguments"u8);
            WriteArguments(reply, cmd.Arguments!.Value);
        }
        if (subs is not null)
        {
            reply.WriteBulk("subcommands"u8);
            reply.WriteMap(subs.Count);
            foreach (var s in subs)
            {
                reply.WriteBulk(s.Name);
                WriteDocs(reply, s);
            }
        }
    }

    private static void WriteArguments(ReplyWriter reply, JsonElement args)
    {
        reply.WriteArray(args.GetArrayLength());
        foreach (var arg in args.EnumerateArray())
        {
            string name = arg.GetProperty("name").GetString()!;
            string type = arg.GetProperty("type").GetString()!;
            bool container = type is "oneof" or "block";
            string? Optional(string p) => arg.TryGetProperty(p, out var v) ? (v.ValueKind == JsonValueKind.Number ? v.GetInt32().ToString() : v.GetString()) : null;
            string? token = Optional("token");
            string? since = Optional("since");
            string? deprecated = Optional("deprecated_since");
            bool hasKeySpec = arg.TryGetProperty("key_spec_index", out var ksi);
            bool hasFlags = arg.TryGetProperty("flags", out var flags) && flags.GetArrayLength() > 0;
            int pairs = 2;
            if (hasKeySpec) pairs++;
            if (token is not null) pairs++;
            if (since is not null) pairs++;
            if (deprecated is not null) pairs++;
            if (hasFlags) pairs++;
            pairs++; // display_text, or the nested arguments of a oneof/block
            reply.WriteMap(pairs);
            reply.WriteBulk("name"u8);
            reply.WriteBulk(name);
            reply.WriteBulk("type"u8);
            reply.WriteBulk(type);
            if (!container)
            {
                reply.WriteBulk("display_text"u8);
                reply.WriteBulk(Optional("display_text") ?? name);
            }
            if (hasKeySpec)
            {
                reply.WriteBulk("key_spec_index"u8);
                reply.WriteInteger(ksi.GetInt32());
            }
            if (token is not null)
            {
                reply.WriteBulk("token"u8);
                reply.WriteBulk(token);
            }
            if (since is not null)
            {
                reply.WriteBulk("since"u8);
                reply.WriteBulk(since);
            }
            if (deprecated is not null)
            {
                reply.WriteBulk("deprecated_since"u8);
                reply.WriteBulk(deprecated);
            }
            if (hasFlags)
            {
                reply.WriteBulk("flags"u8);
                reply.WriteSet(flags.GetArrayLength());
                foreach (var f in flags.EnumerateArray()) reply.WriteSimpleString(f.GetString()!);
            }
            if (container)
            {
                reply.WriteBulk("arguments"u8);
                if (arg.TryGetProperty("arguments", out var nested)) WriteArguments(reply, nested);
                else reply.WriteArray(0);
            }
        }
    }
}
