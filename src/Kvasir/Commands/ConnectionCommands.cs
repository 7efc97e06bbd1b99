using Kvasir.Clients;

namespace Kvasir.Commands;

/// <summary>Connection commands: PING ECHO QUIT SELECT HELLO AUTH RESET.</summary>
public static class ConnectionCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("ping", Ping);
        t.Bind("echo", Echo);
        t.Bind("quit", Quit);
        t.Bind("select", Select);
        t.Bind("hello", Hello);
        t.Bind("auth", Auth);
        t.Bind("reset", Reset);
    }

    private static void Ping(CommandContext ctx)
    {
        if (ctx.ArgCount > 2)
        {
            ctx.WrongArity();
            return;
        }
        if (ctx.Client.Has(ClientFlags.PubSub) && !ctx.Reply.IsResp3)
        {
            // In RESP2 subscriber mode PING answers with a pong message array.
            ctx.Reply.WriteArray(2);
            ctx.Reply.WriteBulk("pong"u8);
            if (ctx.ArgCount == 2) ctx.Reply.WriteBulk(ctx.Args[1]);
            else ctx.Reply.WriteBulk(ReadOnlySpan<byte>.Empty);
            return;
        }
        if (ctx.ArgCount == 2) ctx.Reply.WriteBulk(ctx.Args[1]);
        else ctx.Reply.WriteSimpleString("PONG"u8);
    }

    private static void Echo(CommandContext ctx) => ctx.Reply.WriteBulk(ctx.Args[1]);

    private static void Quit(CommandContext ctx)
    {
        ctx.Reply.WriteOk();
        ctx.Client.Flags |= ClientFlags.CloseAfterReply;
    }

    private static void Select(CommandContext ctx)
    {
        if (!Types.NumberParser.TryParseInt(ctx.Args[1], out int index))
        {
            ctx.Error("ERR value is not an integer or out of range");
            return;
        }
        if (index != 0 && ctx.Server.Config.ClusterEnabled)
        {
            ctx.Error("ERR SELECT is not allowed in cluster mode");
            return;
        }
        if (index < 0 || index >= ctx.Server.Databases.Length)
        {
            ctx.Error("ERR DB index is out of range");
            return;
        }
        ctx.Client.DbIndex = index;
        ctx.Reply.WriteOk();
    }

    // ----- authentication -----

    private const string WrongPass = "WRONGPASS invalid username-password pair or user is disabled.";

    /// <summary>
    /// Checks a username/password pair against the ACL users and, when it is valid, authenticates
    /// the client as that user; a failure is logged in ACL LOG (reason "auth").
    /// </summary>
    public static bool TryAuthenticate(CommandContext ctx, ReadOnlySpan<byte> user, ReadOnlySpan<byte> password) =>
        ctx.Server.Acl.Authenticate(ctx, user, password);

    private static void Auth(CommandContext ctx)
    {
        if (ctx.ArgCount > 3)
        {
            ctx.SyntaxError();
            return;
        }
        ctx.RedactArgument(1);
        if (ctx.ArgCount == 3) ctx.RedactArgument(2);
        bool ok;
        if (ctx.ArgCount == 2)
        {
            if (ctx.Server.Acl.DefaultUser.NoPass)
            {
                ctx.Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
                return;
            }
            ok = TryAuthenticate(ctx, "default"u8, ctx.Args[1]);
        }
        else
        {
            ok = TryAuthenticate(ctx, ctx.Args[1], ctx.Args[2]);
        }
        if (ok) ctx.Reply.WriteOk();
        else ctx.Error(WrongPass);
    }

    /// <summary>HELLO [protover [AUTH username password] [SETNAME clientname]]</summary>
    private static void Hello(CommandContext ctx)
    {
        var client = ctx.Client;
        long version = 0;
        int next = 1;
        if (ctx.ArgCount >= 2)
        {
            if (!Types.NumberParser.TryParseLong(ctx.Args[next++], out version))
            {
                ctx.Error("ERR Protocol version is not an integer or out of range");
                return;
            }
            if (version < 2 || version > 3)
            {
                ctx.Error("NOPROTO unsupported protocol version");
                return;
            }
        }

        int userArg = -1, nameArg = -1;
        for (int j = next; j < ctx.ArgCount; j++)
        {
            int more = ctx.ArgCount - 1 - j;
            if (ctx.ArgIs(j, "AUTH"u8) && more >= 2)
            {
                ctx.RedactArgument(j + 1);
                ctx.RedactArgument(j + 2);
                userArg = j + 1;
                j += 2;
            }
            else if (ctx.ArgIs(j, "SETNAME"u8) && more >= 1)
            {
                if (!ClientCommands.IsValidAttribute(ctx.Args[j + 1]))
                {
                    ctx.Error("ERR " + ClientCommands.InvalidNameMessage);
                    return;
                }
                nameArg = j + 1;
                j++;
            }
            else
            {
                ctx.Error($"ERR Syntax error in HELLO option '{ctx.Args.ToString(j)}'");
                return;
            }
        }

        if (userArg > 0 && !TryAuthenticate(ctx, ctx.Args[userArg], ctx.Args[userArg + 1]))
        {
            ctx.Error(WrongPass);
            return;
        }
        if (!client.Authenticated && ctx.Server.AuthRequired)
        {
            ctx.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> " +
                      "option can be used to authenticate the client and select the RESP protocol version at the same time");
            return;
        }
        if (nameArg > 0) client.Name = ctx.Args.ToString(nameArg);
        if (version != 0) ctx.Reply.Protocol = (int)version;

        bool redisCompat = ctx.Server.Config.ExtendedRedisCompatibility;
        var r = ctx.Reply;
        r.WriteMap(7);
        r.WriteBulk("server"u8);
        r.WriteBulk(redisCompat ? "redis"u8 : "valkey"u8);
        r.WriteBulk("version"u8);
        r.WriteBulk(redisCompat ? KvasirServer.RedisVersion : KvasirServer.ValkeyVersion);
        r.WriteBulk("proto"u8);
        r.WriteInteger(r.Protocol);
        r.WriteBulk("id"u8);
        r.WriteInteger(client.Id);
        r.WriteBulk("mode"u8);
        r.WriteBulk(ctx.Server.Config.SentinelMode ? "sentinel"u8 : ctx.Server.Config.ClusterEnabled ? "cluster"u8 : "standalone"u8);
        r.WriteBulk("role"u8);
        r.WriteBulk(ctx.Server.Config.ReplicaOfHost.Length > 0 ? "replica"u8 : "master"u8);
        r.WriteBulk("modules"u8);
        r.WriteArray(0);
    }

    /// <summary>RESET: the connection goes back to the state of a new one (Valkey's clearClientConnectionState).</summary>
    private static void Reset(CommandContext ctx)
    {
        var client = ctx.Client;
        var server = ctx.Server;
        bool replicaLink = client.Has(ClientFlags.Master) || (client.Has(ClientFlags.Replica) && !client.Has(ClientFlags.Monitor));
        if (replicaLink)
        {
            ctx.Error("ERR can only reset normal client connections");
            return;
        }
        if (client.Has(ClientFlags.Monitor))
        {
            server.Clients.RemoveMonitor(client);
            client.Flags &= ~(ClientFlags.Monitor | ClientFlags.Replica);
        }
        // Subscriptions and client tracking belong to their subsystems.
        server.Clients.RaiseResetting(client);
        client.Flags &= ~(ClientFlags.PubSub | ClientFlags.Tracking);

        client.DbIndex = 0;
        ctx.Reply.Protocol = 2;
        client.User = server.Acl.DefaultUser;
        client.Authenticated = !server.AuthRequired;
        TransactionCommands.DiscardTransaction(ctx);
        client.Name = "";
        // Library name and version still describe the library behind the connection: kept.
        client.Flags &= ~(ClientFlags.ReadOnly | ClientFlags.NoTouch | ClientFlags.NoEvict);
        if (client.ReplyMode is ReplyMode.Off or ReplyMode.SkipNext)
        {
            client.ReplyMode = ReplyMode.On;
            ctx.Reply.Enabled = true;
        }
        ctx.Reply.WriteSimpleString("RESET"u8);
    }
}
