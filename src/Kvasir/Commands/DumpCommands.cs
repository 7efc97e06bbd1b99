using Kvasir.Config;
using Kvasir.Clients;
using Kvasir.Keyspace;
using Kvasir.Persistence;
using Kvasir.Replication;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// DUMP, RESTORE and RESTORE-ASKING (Valkey's cluster.c): a value travels as its RDB
/// serialization with a version and CRC footer (<see cref="DumpPayload"/>), so payloads move
/// between Kvasir, Valkey and Redis in both directions.
/// </summary>
public static class DumpCommands
{
    private static readonly byte[] AbsTtl = "ABSTTL"u8.ToArray();

    public static void Register(CommandTable t)
    {
        t.Bind("dump", Dump);
        t.Bind("restore", Restore);
        // Only the cluster's ASKING redirection differs, and that is checked before the handler.
        t.Bind("restore-asking", Restore);
    }

    /// <summary>The writer settings a DUMP payload is made with (rdbcompression, list node sizes).</summary>
    internal static RdbWriteOptions PayloadOptions(KvasirServer server) => new()
    {
        Compress = server.Config.RdbCompression,
        ListMaxListpackSize = server.Config.ListMaxListpackSize,
        ListPackedThreshold = server.Debug.QuicklistPackedThreshold,
    };

    private static void Dump(CommandContext ctx)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteNull();
            return;
        }
        byte[] payload;
        try
        {
            payload = DumpPayload.Create(db, idx, PayloadOptions(ctx.Server));
        }
        catch (NotSupportedException e)
        {
            ctx.Error("ERR " + e.Message);
            return;
        }
        ctx.Reply.WriteBulk(payload);
    }

    /// <summary>RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].</summary>
    private static void Restore(CommandContext ctx)
    {
        long lfuFreq = -1, lruIdle = -1;
        bool replace = false, absttl = false;
        int argc = ctx.ArgCount;
        for (int j = 4; j < argc; j++)
        {
            int additional = argc - j - 1;
            if (ctx.ArgIs(j, "REPLACE"u8)) replace = true;
            else if (ctx.ArgIs(j, "ABSTTL"u8)) absttl = true;
            // IDLETIME and FREQ exclude each other: the second one is a syntax error.
            else if (ctx.ArgIs(j, "IDLETIME"u8) && additional >= 1 && lfuFreq == -1)
            {
                if (!ctx.TryGetLong(j + 1, out lruIdle)) return;
                if (lruIdle < 0)
                {
                    ctx.Error("ERR Invalid IDLETIME value, must be >= 0");
                    return;
                }
                j++;
            }
            else if (ctx.ArgIs(j, "FREQ"u8) && additional >= 1 && lruIdle == -1)
            {
                if (!ctx.TryGetLong(j + 1, out lfuFreq)) return;
                if (lfuFreq < 0 || lfuFreq > 255)
                {
                    ctx.Error("ERR Invalid FREQ value, must be >= 0 and <= 255");
                    return;
                }
                j++;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        var db = ctx.Db;
        var key = ctx.Args[1];
        if (!replace && db.Lookup(key, LookupFlags.Write) >= 0)
        {
            ctx.Error("BUSYKEY Target key name already exists.");
            return;
        }
        if (!ctx.TryGetLong(2, out long ttl)) return;
        if (ttl < 0)
        {
            ctx.Error("ERR Invalid TTL value, must be >= 0");
            return;
        }
        var server = ctx.Server;
        byte[] payload = ctx.Args.ToArray(3);
        if (!DumpPayload.Verify(payload, server.Debug.SkipChecksumValidation))
        {
            ctx.Error("ERR DUMP payload version or checksum are wrong");
            return;
        }
        long threshold = server.Debug.QuicklistPackedThreshold;
        var value = DumpPayload.Load(payload, new ServerValueFactory(server.Config, threshold == 1L << 30 ? 0 : threshold), key, out string? why);
        if (value is null)
        {
            // Like Valkey, which reports RESTORE corruption at verbose level (the client gets the error).
            server.Log.Verbose("RESTORE payload refused: " + why);
            ctx.Error("ERR Bad data format");
            return;
        }

        var ks = server.Keyspace;
        long dirty = ks.Dirty;
        bool deleted = false;
        if (replace)
        {
            int old = db.Lookup(key, LookupFlags.Write);
            if (old >= 0)
            {
                db.DeleteAt(old);
                deleted = true;
            }
        }
        if (ttl != 0 && !absttl) ttl += ctx.NowMs;
        // A replica applies what its primary sends even when the time has passed (checkAlreadyExpired).
        if (ttl != 0 && ttl <= ctx.NowMs && !ctx.Client.Has(ClientFlags.Master))
        {
            if (deleted)
            {
                // The REPLACE removed the old value: that removal is what replicas must see.
                ks.Dirty = dirty + 1;
                if (ctx.Propagating)
                    ctx.PropagateAs(server.Config.LazyfreeLazyServerDel ? Effects.Unlink : Effects.Del, ctx.Args.ToArray(1));
                ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, key);
            }
            else ks.Dirty = dirty;
            ctx.Reply.WriteOk();
            return;
        }

        int idx = value is byte[] s ? db.SetString(key, s) : db.AddObject(key, (IDataValue)value);
        ks.VolatileHashes.TrackIfVolatile(value);
        if (ttl != 0)
        {
            db.SetExpireAt(idx, ttl);
            if (!absttl && ctx.Propagating)
            {
                // Replicas get the expire time as an absolute one, as Valkey rewrites the command.
                var argv = new byte[argc + 1][];
                for (int i = 0; i < argc; i++) argv[i] = ctx.Args.ToArray(i);
                argv[2] = NumberFormat.LongToBytes(ttl);
                argv[argc] = AbsTtl;
                ctx.PropagateAs(argv);
            }
        }
        RdbLoader.SetAccessData(db, idx, lruIdle, (int)lfuFreq);
        ks.Dirty = dirty + 1;
        ctx.Notify(KeyspaceEventFlags.Generic, "restore"u8, key);
        ctx.Reply.WriteOk();
    }
}
