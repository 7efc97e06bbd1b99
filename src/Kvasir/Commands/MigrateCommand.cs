using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Kvasir.Keyspace;
using Kvasir.Persistence;
using Kvasir.Protocol;
using Kvasir.Replication;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS k ...]
/// as Valkey's migrateCommand: the values are sent as RESTORE commands (DUMP payloads) over a
/// connection kept in a small per-server cache for ten seconds, and the keys the target
/// acknowledged are deleted here (unless COPY) and propagated as DEL. Like Valkey, it is
/// synchronous: the command holds the server for the network round trip, each step bounded by
/// the timeout.
/// </summary>
public static class MigrateCommand
{
    private const int CacheItems = 64;
    private const int CacheTtlSeconds = 10;
    private const int WriteChunk = 64 * 1024;

    private static readonly ConditionalWeakTable<KvasirServer, SocketCache> Caches = new();

    public static void Register(CommandTable t) => t.Bind("migrate", Migrate);

    private sealed class CachedSocket(Socket socket)
    {
        public Socket Socket { get; } = socket;
        public long LastDb { get; set; } = -1;
        public long LastUseUnix { get; set; } = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        public byte[] Buffer { get; } = new byte[16 * 1024];
        public int Start, End;
        /// <summary>The reply line being read (Valkey reads at most 1 KB of one).</summary>
        public byte[] Line { get; } = new byte[1024];
    }

    /// <summary>host:port → open connection (migrate_cached_sockets), closed after 10 idle seconds.</summary>
    private sealed class SocketCache
    {
        public readonly Dictionary<string, CachedSocket> Sockets = new(StringComparer.Ordinal);

        public SocketCache(KvasirServer server)
        {
            server.Stats.Gauges["migrate_cached_sockets"] = () => Sockets.Count;
            server.Tick += () =>
            {
                lock (server.DataLock) CloseIdle();
            };
        }

        private void CloseIdle()
        {
            if (Sockets.Count == 0) return;
            long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            List<string>? stale = null;
            foreach (var (name, cs) in Sockets)
                if (now - cs.LastUseUnix > CacheTtlSeconds) (stale ??= new()).Add(name);
            if (stale is null) return;
            foreach (var name in stale) Close(name);
        }

        public void Close(string name)
        {
            if (!Sockets.Remove(name, out var cs)) return;
            cs.Socket.Dispose();
        }
    }

    private static SocketCache CacheOf(KvasirServer server) => Caches.GetValue(server, s => new SocketCache(s));

    private static void Migrate(CommandContext ctx)
    {
        bool copy = false, replace = false;
        byte[]? username = null, password = null;
        int firstKey = 3, numKeys = 1;
        int argc = ctx.ArgCount;
        for (int j = 6; j < argc; j++)
        {
            int moreArgs = argc - 1 - j;
            if (ctx.ArgIs(j, "COPY"u8)) copy = true;
            else if (ctx.ArgIs(j, "REPLACE"u8)) replace = true;
            else if (ctx.ArgIs(j, "AUTH"u8))
            {
                if (moreArgs == 0)
                {
                    ctx.SyntaxError();
                    return;
                }
                password = ctx.Args.ToArray(++j);
                ctx.RedactArgument(j);
            }
            else if (ctx.ArgIs(j, "AUTH2"u8))
            {
                if (moreArgs < 2)
                {
                    ctx.SyntaxError();
                    return;
                }
                username = ctx.Args.ToArray(++j);
                ctx.RedactArgument(j);
                password = ctx.Args.ToArray(++j);
                ctx.RedactArgument(j);
            }
            else if (ctx.ArgIs(j, "KEYS"u8))
            {
                if (ctx.Args[3].Length != 0)
                {
                    ctx.Error("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
                    return;
                }
                firstKey = j + 1;
                numKeys = argc - j - 1;
                break;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }
        if (!ctx.TryGetLong(5, out long timeout) || !ctx.TryGetLong(4, out long dbid)) return;
        if (timeout <= 0) timeout = 1000;
        int timeoutMs = (int)Math.Min(timeout, int.MaxValue);

        var db = ctx.Db;
        var keys = new List<byte[]>(numKeys);
        for (int j = 0; j < numKeys; j++)
            if (db.Lookup(ctx.Args[firstKey + j]) >= 0) keys.Add(ctx.Args.ToArray(firstKey + j));
        if (keys.Count == 0)
        {
            ctx.Reply.WriteSimpleString("NOKEY"u8);
            return;
        }

        var cache = CacheOf(ctx.Server);
        string host = ctx.Args.ToString(1), portText = ctx.Args.ToString(2);
        string name = host + ":" + portText;
        bool mayRetry = true;
        while (true)
        {
            var cs = GetSocket(ctx, cache, name, host, portText, timeoutMs);
            if (cs is null) return; // the error was replied

            var command = new ReplyWriter();
            if (password is not null)
            {
                command.WriteArray(username is null ? 2 : 3);
                command.WriteBulk("AUTH"u8);
                if (username is not null) command.WriteBulk(username);
                command.WriteBulk(password);
            }
            bool select = cs.LastDb != dbid;
            if (select)
            {
                command.WriteArray(2);
                command.WriteBulk("SELECT"u8);
                command.WriteBulk(NumberFormat.LongToBytes(dbid));
            }
            // Serialize now; a key that expired since the lookup above is skipped.
            var sent = new List<(byte[] Key, int Idx)>(keys.Count);
            var options = DumpCommands.PayloadOptions(ctx.Server);
            foreach (var key in keys)
            {
                int idx = db.Lookup(key, LookupFlags.NoStats | LookupFlags.NoTouch);
                if (idx < 0) continue;
                long ttl = 0, expireAt = db.GetExpireAt(idx);
                if (expireAt != -1)
                {
                    ttl = expireAt - ctx.NowMs;
                    if (ttl < 0) continue;
                    if (ttl < 1) ttl = 1;
                }
                command.WriteArray(replace ? 5 : 4);
                command.WriteBulk(ctx.Server.Config.ClusterEnabled ? "RESTORE-ASKING"u8 : "RESTORE"u8);
                command.WriteBulk(key);
                command.WriteBulk(NumberFormat.LongToBytes(ttl));
                command.WriteBulk(DumpPayload.Create(db, idx, options));
                if (replace) command.WriteBulk("REPLACE"u8);
                sent.Add((key, idx));
            }

            bool writeError = false, timedOut = false;
            string? authReply = null, selectReply = null;
            try
            {
                var data = command.WrittenMemory;
                cs.Socket.SendTimeout = timeoutMs;
                while (data.Length > 0)
                {
                    int n = cs.Socket.Send(data.Span.Slice(0, Math.Min(WriteChunk, data.Length)));
                    if (n <= 0) throw new SocketException((int)SocketError.ConnectionReset);
                    data = data.Slice(n);
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                writeError = true;
                timedOut = e is SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock };
            }

            if (!writeError)
            {
                cs.Socket.ReceiveTimeout = timeoutMs;
                authReply = password is not null ? ReadLine(cs, ref timedOut) : "";
                selectReply = authReply is not null && select ? ReadLine(cs, ref timedOut) : "";
            }
            if (writeError || authReply is null || selectReply is null)
            {
                cache.Close(name);
                if (!timedOut && mayRetry)
                {
                    mayRetry = false;
                    continue;
                }
                ctx.Error($"IOERR error or timeout {(writeError ? "writing" : "reading")} to target instance");
                return;
            }

            bool errorFromTarget = false, socketError = false;
            List<byte[]>? deletedKeys = copy ? null : new();
            int j2 = 0;
            for (; j2 < sent.Count; j2++)
            {
                string? line = ReadLine(cs, ref timedOut);
                if (line is null)
                {
                    socketError = true;
                    break;
                }
                bool authFailed = password is not null && authReply.StartsWith('-');
                bool selectFailed = select && selectReply.StartsWith('-');
                if (authFailed || selectFailed || line.StartsWith('-'))
                {
                    if (!errorFromTarget)
                    {
                        cs.LastDb = -1;
                        string err = authFailed ? authReply : selectFailed ? selectReply : line;
                        errorFromTarget = true;
                        ctx.Error("ERR Target instance replied with error: " + err.Substring(1));
                    }
                }
                else if (deletedKeys is not null)
                {
                    int idx = db.Lookup(sent[j2].Key, LookupFlags.Write | LookupFlags.NoStats);
                    if (idx >= 0) db.DeleteAt(idx);
                    deletedKeys.Add(sent[j2].Key);
                }
            }

            // Nothing processed and the link failed at once: a stale cached socket, try a fresh one.
            if (!errorFromTarget && socketError && j2 == 0 && mayRetry && !timedOut)
            {
                cache.Close(name);
                mayRetry = false;
                continue;
            }
            if (socketError) cache.Close(name);

            if (deletedKeys is { Count: > 0 } && ctx.Propagating)
            {
                var argv = new byte[deletedKeys.Count + 1][];
                argv[0] = Effects.Del;
                for (int i = 0; i < deletedKeys.Count; i++) argv[i + 1] = deletedKeys[i];
                ctx.PropagateAs(argv);
            }
            else if (deletedKeys is null || deletedKeys.Count == 0) ctx.PreventPropagation();

            if (!errorFromTarget && socketError)
            {
                ctx.Error("IOERR error or timeout reading to target instance");
                return;
            }
            if (!errorFromTarget)
            {
                cs.LastDb = dbid;
                ctx.Reply.WriteOk();
            }
            return;
        }
    }

    private static CachedSocket? GetSocket(CommandContext ctx, SocketCache cache, string name, string host, string portText, int timeoutMs)
    {
        if (cache.Sockets.TryGetValue(name, out var cached))
        {
            cached.LastUseUnix = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            return cached;
        }
        if (cache.Sockets.Count >= CacheItems)
        {
            // Full: drop one at random, as Valkey does.
            int victim = Random.Shared.Next(cache.Sockets.Count);
            foreach (var k in cache.Sockets.Keys)
            {
                if (victim-- > 0) continue;
                cache.Close(k);
                break;
            }
        }
        Socket? socket = null;
        try
        {
            // atoi: a port that is not a number connects to port 0 and fails like any refused connection.
            int port = (int)Math.Clamp(AtoI(portText), 0, 65535);
            IPAddress? address = IPAddress.TryParse(host, out var a) ? a : null;
            if (address is null)
            {
                var resolve = Dns.GetHostAddressesAsync(host);
                if (!resolve.Wait(timeoutMs) || resolve.Result.Length == 0) throw new SocketException((int)SocketError.HostNotFound);
                address = resolve.Result[0];
            }
            socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            // The socket must stay a blocking one: once .NET switches a socket to non-blocking mode, its
            // synchronous calls wait for the epoll thread, and this command may be running on that very
            // thread (inline socket completions): the reply would never be read. So the blocking connect
            // runs on a pool thread while this one waits for it with the timeout.
            var target = new IPEndPoint(address, port);
            var connecting = Task.Run(() => socket.Connect(target));
            bool connected;
            try
            {
                connected = connecting.Wait(timeoutMs);
            }
            catch (AggregateException e) when (e.InnerException is SocketException inner)
            {
                throw inner;
            }
            if (!connected) throw new SocketException((int)SocketError.TimedOut);
        }
        catch (Exception e) when (e is SocketException or AggregateException or ArgumentException or ObjectDisposedException)
        {
            socket?.Dispose();
            ctx.Error("IOERR error or timeout connecting to the client");
            return null;
        }
        var cs = new CachedSocket(socket);
        cache.Sockets[name] = cs;
        return cs;
    }

    private static long AtoI(string s)
    {
        long v = 0;
        int i = 0;
        bool neg = false;
        if (i < s.Length && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
        for (; i < s.Length && s[i] >= '0' && s[i] <= '9' && v < int.MaxValue; i++) v = v * 10 + (s[i] - '0');
        return neg ? -v : v;
    }

    /// <summary>
    /// One reply line without its CRLF (connSyncReadLine); null on error, timeout or a closed link.
    /// The "+OK" of every RESTORE is one shared string: a batch of keys reads a thousand of them.
    /// </summary>
    private static string? ReadLine(CachedSocket cs, ref bool timedOut)
    {
        int length = 0;
        var line = cs.Line;
        while (true)
        {
            if (cs.Start == cs.End)
            {
                int n;
                try
                {
                    n = cs.Socket.Receive(cs.Buffer);
                }
                catch (SocketException e)
                {
                    if (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock) timedOut = true;
                    return null;
                }
                catch (ObjectDisposedException)
                {
                    return null;
                }
                if (n <= 0) return null;
                cs.Start = 0;
                cs.End = n;
            }
            byte b = cs.Buffer[cs.Start++];
            if (b == '\n')
            {
                if (length > 0 && line[length - 1] == '\r') length--;
                var text = line.AsSpan(0, length);
                return text.SequenceEqual("+OK"u8) ? "+OK" : Encoding.Latin1.GetString(text);
            }
            if (length < line.Length) line[length++] = b;
        }
    }
}
