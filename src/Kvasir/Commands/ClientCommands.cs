using System.Text;
using Kvasir.Clients;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// CLIENT subcommands about connections: ID, SETNAME, GETNAME, SETINFO, LIST, INFO, KILL, PAUSE,
/// UNPAUSE, REPLY, NO-EVICT, NO-TOUCH, CAPA, HELP.
/// </summary>
public static class ClientCommands
{
    public const string InvalidNameMessage = "Client names cannot contain spaces, newlines or special characters.";

    public static void Register(CommandTable t)
    {
        t.Bind("client|id", Id);
        t.Bind("client|setname", SetName);
        t.Bind("client|getname", GetName);
        t.Bind("client|setinfo", SetInfo);
        t.Bind("client|list", List);
        t.Bind("client|info", Info);
        t.Bind("client|kill", Kill);
        t.Bind("client|pause", Pause);
        t.Bind("client|unpause", Unpause);
        t.Bind("client|reply", Reply);
        t.Bind("client|no-evict", NoEvict);
        t.Bind("client|no-touch", NoTouch);
        t.Bind("client|capa", Capa);
        t.Bind("client|help", Help);
        t.Bind("client|tracking", Tracking);
        t.Bind("client|caching", Caching);
        t.Bind("client|getredir", GetRedir);
        t.Bind("client|trackinginfo", TrackingInfo);
    }

    /// <summary>Names and library attributes are shown space-separated in CLIENT LIST: only printable ASCII without spaces.</summary>
    public static bool IsValidAttribute(ReadOnlySpan<byte> value)
    {
        foreach (byte b in value)
            if (b < '!' || b > '~') return false;
        return true;
    }

    private static void Id(CommandContext ctx) => ctx.Reply.WriteInteger(ctx.Client.Id);

    private static void SetName(CommandContext ctx)
    {
        if (!IsValidAttribute(ctx.Args[2]))
        {
            ctx.Error("ERR " + InvalidNameMessage);
            return;
        }
        ctx.Client.Name = ctx.Args.ToString(2);
        ctx.Reply.WriteOk();
    }

    private static void GetName(CommandContext ctx)
    {
        if (ctx.Client.Name.Length == 0) ctx.Reply.WriteNull();
        else ctx.Reply.WriteBulk(ctx.Client.Name);
    }

    private static void SetInfo(CommandContext ctx)
    {
        bool libName = ctx.ArgIs(2, "LIB-NAME"u8);
        if (!libName && !ctx.ArgIs(2, "LIB-VER"u8))
        {
            ctx.Error($"ERR Unrecognized option '{ctx.Args.ToString(2)}'");
            return;
        }
        if (!IsValidAttribute(ctx.Args[3]))
        {
            ctx.Error($"ERR {ctx.Args.ToString(2)} cannot contain spaces, newlines or special characters.");
            return;
        }
        if (libName) ctx.Client.LibName = ctx.Args.ToString(3);
        else ctx.Client.LibVersion = ctx.Args.ToString(3);
        ctx.Reply.WriteOk();
    }

    // ----- LIST / INFO -----

    private enum ClientType { Any = -1, Normal, Replica, Master, PubSub }

    private static ClientType ParseType(ReadOnlySpan<byte> name)
    {
        if (Protocol.Ascii.EqualsIgnoreCase(name, "NORMAL"u8)) return ClientType.Normal;
        if (Protocol.Ascii.EqualsIgnoreCase(name, "REPLICA"u8) || Protocol.Ascii.EqualsIgnoreCase(name, "SLAVE"u8)) return ClientType.Replica;
        if (Protocol.Ascii.EqualsIgnoreCase(name, "MASTER"u8) || Protocol.Ascii.EqualsIgnoreCase(name, "PRIMARY"u8)) return ClientType.Master;
        if (Protocol.Ascii.EqualsIgnoreCase(name, "PUBSUB"u8)) return ClientType.PubSub;
        return ClientType.Any;
    }

    private static ClientType TypeOf(Client c)
    {
        if (c.Has(ClientFlags.Master)) return ClientType.Master;
        // MONITOR clients are shown as normal ones.
        if (c.Has(ClientFlags.Replica) && !c.Has(ClientFlags.Monitor)) return ClientType.Replica;
        if (c.Has(ClientFlags.PubSub)) return ClientType.PubSub;
        return ClientType.Normal;
    }

    private static void List(CommandContext ctx)
    {
        var sb = new StringBuilder();
        if (ctx.ArgCount == 4 && ctx.ArgIs(2, "TYPE"u8))
        {
            var type = ParseType(ctx.Args[3]);
            if (type == ClientType.Any)
            {
                ctx.Error($"ERR Unknown client type '{ctx.Args.ToString(3)}'");
                return;
            }
            foreach (var c in ctx.Server.Clients.All)
                if (TypeOf(c) == type) AppendInfo(sb, c, ctx).Append('\n');
        }
        else if (ctx.ArgCount > 3 && ctx.ArgIs(2, "ID"u8))
        {
            for (int i = 3; i < ctx.ArgCount; i++)
            {
                if (!NumberParser.TryParseLong(ctx.Args[i], out long id))
                {
                    ctx.Error("ERR Invalid client ID");
                    return;
                }
                var c = ctx.Server.Clients.Find(id);
                if (c is not null) AppendInfo(sb, c, ctx).Append('\n');
            }
        }
        else if (ctx.ArgCount != 2)
        {
            ctx.SyntaxError();
            return;
        }
        else
        {
            foreach (var c in ctx.Server.Clients.All) AppendInfo(sb, c, ctx).Append('\n');
        }
        ctx.Reply.WriteVerbatim(sb.ToString());
    }

    private static void Info(CommandContext ctx) =>
        ctx.Reply.WriteVerbatim(AppendInfo(new StringBuilder(), ctx.Client, ctx).Append('\n').ToString());

    /// <summary>One CLIENT LIST line, with Valkey's fields in Valkey's order.</summary>
    public static StringBuilder AppendInfo(StringBuilder sb, Client c, CommandContext? ctx)
    {
        long now = Environment.TickCount64;
        bool self = ctx is not null && c == ctx.Client;
        long argvMem = 0;
        if (self && c.ExecArgvMemory >= 0) argvMem = c.ExecArgvMemory;
        else if (self)
            for (int i = 0; i < ctx!.ArgCount; i++) argvMem += ctx.Args[i].Length;
        int pending = c.Reply.Length;
        const int StaticBuffer = 16 * 1024;
        // What does not fit in the reply buffer counts as the reply list, in 16 KB nodes (Valkey's layout).
        long obl = Math.Min(pending, c.ReplyBufferSize);
        long omem = Math.Max(0, pending - c.ReplyBufferSize);
        long oll = (omem + StaticBuffer - 1) / StaticBuffer;
        // A replica's share of the replication buffer: the stream from its position on (Valkey's
        // getClientOutputBufferMemoryUsage for replicas).
        long streamPending = c.ReplicaInfo?.Cursor?.Pending ?? 0;
        omem += streamPending;
        // A connection keeps an input buffer only while input is pending; otherwise it is given back
        // after the batch (qbuf=0 qbuf-free=0, like a Valkey client reading into the shared buffer).
        long qbufFree = c.QueryBufferLength == 0 ? 0 : Math.Max(0, c.QueryBufferCapacity - c.QueryBufferLength);
        // The reply buffer is taken from a pool when a reply is written: report the size it will have.
        long replyBufferSize = c.ReplyBufferSize;
        long totalMem = Observability.MemoryAccounting.ClientMemory(c) + argvMem + streamPending;
        sb.Append("id=").Append(c.Id)
          .Append(" addr=").Append(c.RemoteAddress)
          .Append(" laddr=").Append(c.LocalAddress)
          .Append(" fd=").Append(c.Fd)
          .Append(" name=").Append(c.Name)
          .Append(" age=").Append((now - c.CreatedMs) / 1000)
          .Append(" idle=").Append(Math.Max(0, now - c.LastInteractionMs) / 1000)
          .Append(" flags=").Append(c.FlagLetters())
          .Append(" db=").Append(c.DbIndex)
          .Append(" sub=").Append(c.Subscriptions)
          .Append(" psub=").Append(c.PatternSubscriptions)
          .Append(" ssub=").Append(c.ShardSubscriptions)
          .Append(" multi=").Append(c.Has(ClientFlags.Multi) ? c.MultiQueue?.Count ?? 0 : -1)
          .Append(" watch=").Append(c.WatchedKeyCount)
          .Append(" qbuf=").Append(c.QueryBufferLength)
          .Append(" qbuf-free=").Append(qbufFree)
          .Append(" argv-mem=").Append(argvMem)
          .Append(" multi-mem=").Append(c.MultiMemory)
          .Append(" rbs=").Append(replyBufferSize)
          .Append(" rbp=").Append(c.ReplyPeak)
          .Append(" obl=").Append(obl)
          .Append(" oll=").Append(oll)
          .Append(" omem=").Append(omem)
          .Append(" tot-mem=").Append(totalMem)
          .Append(" events=r")
          .Append(" cmd=").Append(c.LastCommand)
          .Append(" user=").Append(c.User?.Name ?? "(superuser)")
          .Append(" redir=").Append(c.Has(ClientFlags.Tracking) ? c.TrackingRedirection : -1)
          .Append(" resp=").Append(c.Reply.Protocol)
          .Append(" lib-name=").Append(c.LibName)
          .Append(" lib-ver=").Append(c.LibVersion)
          .Append(" tot-net-in=").Append(c.NetInputBytes)
          .Append(" tot-net-out=").Append(c.NetOutputBytes)
          .Append(" tot-cmds=").Append(c.TotalCommands);
        return sb;
    }

    // ----- KILL -----

    private static void Kill(CommandContext ctx)
    {
        string? addr = null, laddr = null, user = null;
        var type = ClientType.Any;
        long id = 0, maxAge = 0;
        bool skipMe = true;
        bool oldForm = ctx.ArgCount == 3;

        if (oldForm)
        {
            addr = ctx.Args.ToString(2);
            skipMe = false; // the old form may kill the caller itself
        }
        else if (ctx.ArgCount > 3)
        {
            for (int i = 2; i < ctx.ArgCount; i += 2)
            {
                bool more = ctx.ArgCount > i + 1;
                if (ctx.ArgIs(i, "ID"u8) && more)
                {
                    if (!NumberParser.TryParseLong(ctx.Args[i + 1], out id) || id < 1)
                    {
                        ctx.Error("ERR client-id should be greater than 0");
                        return;
                    }
                }
                else if (ctx.ArgIs(i, "MAXAGE"u8) && more)
                {
                    if (!NumberParser.TryParseLong(ctx.Args[i + 1], out maxAge))
                    {
                        ctx.Error("ERR maxage is not an integer or out of range");
                        return;
                    }
                    if (maxAge <= 0)
                    {
                        ctx.Error("ERR maxage should be greater than 0");
                        return;
                    }
                }
                else if (ctx.ArgIs(i, "TYPE"u8) && more)
                {
                    type = ParseType(ctx.Args[i + 1]);
                    if (type == ClientType.Any)
                    {
                        ctx.Error($"ERR Unknown client type '{ctx.Args.ToString(i + 1)}'");
                        return;
                    }
                }
                else if (ctx.ArgIs(i, "ADDR"u8) && more)
                {
                    addr = ctx.Args.ToString(i + 1);
                }
                else if (ctx.ArgIs(i, "LADDR"u8) && more)
                {
                    laddr = ctx.Args.ToString(i + 1);
                }
                else if (ctx.ArgIs(i, "USER"u8) && more)
                {
                    user = ctx.Args.ToString(i + 1);
                    if (ctx.Server.Acl.Find(user) is null)
                    {
                        ctx.Error($"ERR No such user '{user}'");
                        return;
                    }
                }
                else if (ctx.ArgIs(i, "SKIPME"u8) && more)
                {
                    if (ctx.ArgIs(i + 1, "YES"u8)) skipMe = true;
                    else if (ctx.ArgIs(i + 1, "NO"u8)) skipMe = false;
                    else
                    {
                        ctx.SyntaxError();
                        return;
                    }
                }
                else
                {
                    ctx.SyntaxError();
                    return;
                }
            }
        }

        long now = Environment.TickCount64;
        var victims = new List<Client>();
        bool killSelf = false;
        foreach (var c in ctx.Server.Clients.All)
        {
            if (addr is not null && c.RemoteAddress != addr) continue;
            if (laddr is not null && c.LocalAddress != laddr) continue;
            if (type != ClientType.Any && TypeOf(c) != type) continue;
            if (id != 0 && c.Id != id) continue;
            if (user is not null && c.User?.Name != user) continue;
            if (c == ctx.Client && skipMe) continue;
            if (maxAge != 0 && (now - c.CreatedMs) / 1000 < maxAge) continue;
            if (c == ctx.Client) killSelf = true;
            else victims.Add(c);
        }
        foreach (var c in victims) ctx.Server.DisconnectClient(c);
        int killed = victims.Count + (killSelf ? 1 : 0);

        if (oldForm)
        {
            if (killed == 0)
            {
                ctx.Error("ERR No such client");
                return;
            }
            ctx.Reply.WriteOk();
        }
        else
        {
            ctx.Reply.WriteInteger(killed);
        }
        // Only after the reply is queued, so the caller still gets it.
        if (killSelf) ctx.Client.Flags |= ClientFlags.CloseAfterReply;
    }

    // ----- PAUSE -----

    private static void Pause(CommandContext ctx)
    {
        if (ctx.ArgCount > 4)
        {
            SubcommandSyntaxError(ctx);
            return;
        }
        bool all = true;
        if (ctx.ArgCount == 4)
        {
            if (ctx.ArgIs(3, "WRITE"u8)) all = false;
            else if (!ctx.ArgIs(3, "ALL"u8))
            {
                ctx.Error("ERR CLIENT PAUSE mode must be WRITE or ALL");
                return;
            }
        }
        if (!NumberParser.TryParseLong(ctx.Args[2], out long timeout))
        {
            ctx.Error("ERR timeout is not an integer or out of range");
            return;
        }
        if (timeout < 0)
        {
            ctx.Error("ERR timeout is negative");
            return;
        }
        long now = Environment.TickCount64;
        if (timeout > long.MaxValue - now)
        {
            ctx.Error("ERR timeout is out of range");
            return;
        }
        // A zero timeout sets no end time: it can only change the mode of a pause in progress.
        ctx.Server.Clients.Pause(timeout > 0 ? now + timeout : 0, !all);
        ctx.Reply.WriteOk();
    }

    private static void Unpause(CommandContext ctx)
    {
        ctx.Server.Clients.Unpause();
        ctx.Reply.WriteOk();
    }

    // ----- per-connection switches -----

    private static void Reply(CommandContext ctx)
    {
        var client = ctx.Client;
        if (ctx.ArgIs(2, "ON"u8))
        {
            client.ReplyMode = ReplyMode.On;
            ctx.Reply.Enabled = true;
            ctx.Reply.WriteOk();
        }
        else if (ctx.ArgIs(2, "OFF"u8))
        {
            client.ReplyMode = ReplyMode.Off;
        }
        else if (ctx.ArgIs(2, "SKIP"u8))
        {
            // The Dispatcher turns SkipNext into Skip once this command is done.
            if (client.ReplyMode != ReplyMode.Off) client.ReplyMode = ReplyMode.SkipNext;
        }
        else
        {
            ctx.SyntaxError();
        }
    }

    private static void NoEvict(CommandContext ctx) => OnOff(ctx, ClientFlags.NoEvict);

    private static void NoTouch(CommandContext ctx) => OnOff(ctx, ClientFlags.NoTouch);

    private static void OnOff(CommandContext ctx, ClientFlags flag)
    {
        if (ctx.ArgIs(2, "ON"u8)) ctx.Client.Flags |= flag;
        else if (ctx.ArgIs(2, "OFF"u8)) ctx.Client.Flags &= ~flag;
        else
        {
            ctx.SyntaxError();
            return;
        }
        ctx.Reply.WriteOk();
    }

    // ----- client-side caching -----

    /// <summary>CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]</summary>
    private static void Tracking(CommandContext ctx)
    {
        var client = ctx.Client;
        long redirect = 0;
        var options = ClientFlags.None;
        var prefixes = new List<byte[]>();
        for (int j = 3; j < ctx.ArgCount; j++)
        {
            bool more = j < ctx.ArgCount - 1;
            if (ctx.ArgIs(j, "REDIRECT"u8) && more)
            {
                j++;
                if (redirect != 0)
                {
                    ctx.Error("ERR A client can only redirect to a single other client");
                    return;
                }
                if (!ctx.TryGetLong(j, out redirect)) return;
                // The target must exist now, though it may leave later (then the redirection is "broken").
                if (ctx.Server.Clients.Find(redirect) is null)
                {
                    ctx.Error("ERR The client ID you want redirect to does not exist");
                    return;
                }
            }
            else if (ctx.ArgIs(j, "BCAST"u8)) options |= ClientFlags.TrackingBcast;
            else if (ctx.ArgIs(j, "OPTIN"u8)) options |= ClientFlags.TrackingOptIn;
            else if (ctx.ArgIs(j, "OPTOUT"u8)) options |= ClientFlags.TrackingOptOut;
            else if (ctx.ArgIs(j, "NOLOOP"u8)) options |= ClientFlags.TrackingNoLoop;
            else if (ctx.ArgIs(j, "PREFIX"u8) && more) prefixes.Add(ctx.Args.ToArray(++j));
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        var tracking = ctx.Server.Tracking;
        if (ctx.ArgIs(2, "ON"u8))
        {
            bool bcast = (options & ClientFlags.TrackingBcast) != 0;
            bool optIn = (options & ClientFlags.TrackingOptIn) != 0, optOut = (options & ClientFlags.TrackingOptOut) != 0;
            string? error = null;
            if (!bcast && prefixes.Count > 0) error = "ERR PREFIX option requires BCAST mode to be enabled";
            else if (client.Has(ClientFlags.Tracking) && client.Has(ClientFlags.TrackingBcast) != bcast)
                error = "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.";
            else if (bcast && (optIn || optOut)) error = "ERR OPTIN and OPTOUT are not compatible with BCAST";
            else if (optIn && optOut) error = "ERR You can't specify both OPTIN mode and OPTOUT mode";
            else if ((optIn && client.Has(ClientFlags.TrackingOptOut)) || (optOut && client.Has(ClientFlags.TrackingOptIn)))
                error = "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.";
            else if (bcast) error = TrackingRegistry.PrefixCollision(client, prefixes);
            if (error is not null)
            {
                ctx.Error(error);
                return;
            }
            tracking.Enable(client, redirect, options, prefixes);
        }
        else if (ctx.ArgIs(2, "OFF"u8))
        {
            tracking.Disable(client);
        }
        else
        {
            ctx.SyntaxError();
            return;
        }
        ctx.Reply.WriteOk();
    }

    /// <summary>CLIENT CACHING YES|NO: whether the next command's keys are tracked (OPTIN / OPTOUT).</summary>
    private static void Caching(CommandContext ctx)
    {
        var client = ctx.Client;
        if (!client.Has(ClientFlags.Tracking))
        {
            ctx.Error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
            return;
        }
        if (ctx.ArgIs(2, "YES"u8))
        {
            if (!client.Has(ClientFlags.TrackingOptIn))
            {
                ctx.Error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
                return;
            }
        }
        else if (ctx.ArgIs(2, "NO"u8))
        {
            if (!client.Has(ClientFlags.TrackingOptOut))
            {
                ctx.Error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
                return;
            }
        }
        else
        {
            ctx.SyntaxError();
            return;
        }
        client.Flags |= ClientFlags.TrackingCaching;
        ctx.Reply.WriteOk();
    }

    private static void GetRedir(CommandContext ctx) =>
        ctx.Reply.WriteInteger(ctx.Client.Has(ClientFlags.Tracking) ? ctx.Client.TrackingRedirection : -1);

    private static void TrackingInfo(CommandContext ctx)
    {
        var c = ctx.Client;
        var flags = new List<string> { c.Has(ClientFlags.Tracking) ? "on" : "off" };
        if (c.Has(ClientFlags.TrackingBcast)) flags.Add("bcast");
        if (c.Has(ClientFlags.TrackingOptIn))
        {
            flags.Add("optin");
            if (c.Has(ClientFlags.TrackingCaching)) flags.Add("caching-yes");
        }
        if (c.Has(ClientFlags.TrackingOptOut))
        {
            flags.Add("optout");
            if (c.Has(ClientFlags.TrackingCaching)) flags.Add("caching-no");
        }
        if (c.Has(ClientFlags.TrackingNoLoop)) flags.Add("noloop");
        if (c.Has(ClientFlags.TrackingBrokenRedirect)) flags.Add("broken_redirect");
        var r = ctx.Reply;
        r.WriteMap(3);
        r.WriteBulk("flags"u8);
        r.WriteSet(flags.Count);
        foreach (var f in flags) r.WriteBulk(f);
        r.WriteBulk("redirect"u8);
        r.WriteInteger(c.Has(ClientFlags.Tracking) ? c.TrackingRedirection : -1);
        r.WriteBulk("prefixes"u8);
        var prefixes = c.TrackingPrefixes;
        r.WriteArray(prefixes?.Count ?? 0);
        if (prefixes is not null)
            foreach (var p in prefixes) r.WriteBulk(p);
    }

    /// <summary>CLIENT CAPA: capabilities the client declares; unknown ones are ignored.</summary>
    private static void Capa(CommandContext ctx)
    {
        for (int i = 2; i < ctx.ArgCount; i++)
            if (ctx.ArgIs(i, "REDIRECT"u8)) ctx.Client.CanRedirect = true;
        ctx.Reply.WriteOk();
    }

    private static void SubcommandSyntaxError(CommandContext ctx) =>
        ctx.Error($"ERR unknown subcommand or wrong number of arguments for '{ctx.Args.ToString(1)}'. Try CLIENT HELP.");

    private static readonly string[] HelpLines =
    {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CACHING (YES|NO)",
        "    Track (OPTIN) or do not track (OPTOUT) the keys of the next command.",
        "CAPA <option> [options...]",
        "    Declare client capabilities. Known option:",
        "    * REDIRECT",
        "      The client follows -REDIRECT replies from a replica to its primary.",
        "GETNAME",
        "    Return the name of this connection.",
        "GETREDIR",
        "    Return the id of the client invalidations are redirected to (-1 when tracking is off).",
        "ID",
        "    Return the ID of this connection.",
        "INFO",
        "    Return information about this connection.",
        "KILL <ip:port>",
        "    Close the connection coming from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Close the connections matching all the filters:",
        "    * ADDR (<ip:port>|<unixsocket>:0)",
        "      Connections from this address.",
        "    * LADDR (<ip:port>|<unixsocket>:0)",
        "      Connections to this local address.",
        "    * TYPE (NORMAL|PRIMARY|REPLICA|PUBSUB)",
        "      Connections of this type.",
        "    * USER <username>",
        "      Connections authenticated as <username>.",
        "    * SKIPME (YES|NO)",
        "      Whether to spare the calling connection (default: yes).",
        "    * ID <client-id>",
        "      The connection with this ID.",
        "    * MAXAGE <maxage>",
        "      Connections older than <maxage> seconds.",
        "LIST [options ...]",
        "    Return information about the connections. Options:",
        "    * TYPE (NORMAL|PRIMARY|REPLICA|PUBSUB)",
        "      Only connections of this type.",
        "    * ID <client-id> [<client-id> ...]",
        "      Only the connections with these IDs.",
        "UNPAUSE",
        "    End a CLIENT PAUSE now.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Hold the commands of all clients (or only their writes) for <timeout> milliseconds.",
        "REPLY (ON|OFF|SKIP)",
        "    Turn the replies to this connection on, off, or off for the next command only.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Turn server-assisted client-side caching on or off for this connection.",
        "TRACKINGINFO",
        "    Show this connection's client-side caching state.",
        "SETNAME <name>",
        "    Name this connection <name>.",
        "SETINFO <option> <value>",
        "    Record client library information. Options:",
        "    * LIB-NAME: the library name.",
        "    * LIB-VER: the library version.",
        "NO-EVICT (ON|OFF)",
        "    Exempt this connection from client eviction.",
        "NO-TOUCH (ON|OFF)",
        "    When on, the commands of this connection do not update the LRU/LFU of the keys they read.",
        "HELP",
        "    Print this help.",
    };

    private static void Help(CommandContext ctx)
    {
        ctx.Reply.WriteArray(HelpLines.Length);
        foreach (var line in HelpLines) ctx.Reply.WriteSimpleString(line);
    }
}
