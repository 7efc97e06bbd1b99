using System.Globalization;
using System.Text;
using Kvasir.Clients;
using Kvasir.Commands;
using Kvasir.Protocol;

namespace Kvasir.Persistence.Aof;

/// <summary>What loading one AOF file gave (Valkey's AOF_OK, AOF_NOT_EXIST, AOF_EMPTY, AOF_OPEN_ERR, AOF_FAILED, AOF_TRUNCATED).</summary>
internal enum AofLoadStatus { Ok, NotExist, Empty, OpenError, Failed, Truncated }

/// <summary>
/// Replays one AOF file (Valkey's loadSingleAppendOnlyFile): an RDB image first when the file
/// starts with "REDIS" or "VALKEY" (an RDB base, or the preamble of an old single-file AOF), then RESP arrays
/// command by command, executed by a client without a connection whose replies are dropped and
/// whose effects are not propagated again. A file that ends in the middle of a command (or of a
/// MULTI block) is truncated to its last complete command when aof-load-truncated allows it.
/// </summary>
internal sealed class AofLoader
{
    /// <summary>Valkey reads lines with fgets into a buffer of AOF_ANNOTATION_LINE_MAX_LEN bytes.</summary>
    private const int LineMax = 1024;

    private readonly KvasirServer _server;

    public AofLoader(KvasirServer server) => _server = server;

    /// <summary>Where a truncation left the file, for the writer that may have it open.</summary>
    public long TruncatedLength { get; private set; } = -1;

    public string? TruncatedFile { get; private set; }

    public AofLoadStatus LoadFile(string directory, string fileName, bool oldStyle)
    {
        var log = _server.Log;
        string path = Path.Combine(directory, fileName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            log.Warning($"The append log file {fileName} doesn't exist: No such file or directory");
            return AofLoadStatus.NotExist;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.Warning($"Fatal error: can't open the append log file {fileName} for reading: {(e is UnauthorizedAccessException ? "Permission denied" : e.Message)}");
            return AofLoadStatus.OpenError;
        }
        using (file)
        {
            if (file.Length == 0) return AofLoadStatus.Empty;
            return Replay(file, path, fileName, oldStyle);
        }
    }

    private AofLoadStatus Replay(FileStream file, string path, string fileName, bool oldStyle)
    {
        var log = _server.Log;
        long start = 0;
        Span<byte> sig = stackalloc byte[6];
        int got = file.ReadAtLeast(sig, 6, throwOnEndOfStream: false);
        // "VALKEY": an RDB of version 80 (hash field TTLs), as Valkey 9 writes them.
        if ((got >= 5 && sig[..5].SequenceEqual("REDIS"u8)) || (got == 6 && sig.SequenceEqual("VALKEY"u8)))
        {
            log.Notice(oldStyle ? "Reading RDB preamble from AOF file..." : "Reading RDB base file on AOF loading...");
            file.Position = 0;
            var outcome = _server.Persistence.LoadStream(file, allowDuplicates: false, dropExpiredKeys: false, out start);
            if (outcome != PersistenceManager.LoadOutcome.Loaded)
            {
                log.Warning(oldStyle
                    ? $"Error reading the RDB preamble of the AOF file {fileName}, AOF loading aborted"
                    : $"Error reading the RDB base file {fileName}, AOF loading aborted");
                return AofLoadStatus.Failed;
            }
            if (oldStyle) log.Notice("Reading the remaining AOF tail...");
        }
        file.Position = start;

        var client = new Client(Client.AofClientId, null) { Authenticated = true };
        client.Flags |= ClientFlags.Fake;
        client.Reply.Enabled = false;
        var ctx = new CommandContext(_server, client);
        var args = new CommandArgs();
        var reader = new Reader(file, start);
        var keyspace = _server.Keyspace;
        bool wasLoading = keyspace.Loading;
        keyspace.Loading = true;
        long validUpTo = start, validBeforeMulti = start;
        long loops = 0;
        try
        {
            while (true)
            {
                if ((loops++ & 1023) == 0) _server.UpdateClock();
                long commandStart = reader.Position;
                int lineLength = reader.ReadLine();
                if (lineLength < 0) break;
                var line = reader.Line;
                if (line[0] == '#') continue;
                if (line[0] != '*') return FormatError(fileName, commandStart);
                if (lineLength == 1) return UnexpectedEnd(path, fileName, validUpTo, reader.Position);
                long argc = AtoI(line, 1, lineLength);
                if (argc < 1) return FormatError(fileName, commandStart);
                var argv = new byte[argc][];
                for (long j = 0; j < argc; j++)
                {
                    long argStart = reader.Position;
                    int headerLength = reader.ReadLine();
                    if (headerLength < 0) return UnexpectedEnd(path, fileName, validUpTo, reader.Position);
                    if (reader.Line[0] != '$') return FormatError(fileName, argStart);
                    long len = AtoI(reader.Line, 1, headerLength);
                    if (len < 0 || len > Array.MaxLength) return FormatError(fileName, argStart);
                    var value = new byte[len];
                    if (!reader.ReadExactly(value)) return UnexpectedEnd(path, fileName, validUpTo, reader.Position);
                    if (!reader.Skip(2)) return UnexpectedEnd(path, fileName, validUpTo, reader.Position);
                    argv[j] = value;
                }

                args.SetOwned(argv);
                var cmd = Resolve(args);
                if (cmd is null)
                {
                    log.Warning($"Unknown command '{Encoding.UTF8.GetString(argv[0])}' reading the append only file {fileName}");
                    return AofLoadStatus.Failed;
                }
                if (cmd.Name == "multi") validBeforeMulti = validUpTo;
                if (client.Has(ClientFlags.Multi) && cmd.Name != "exec")
                {
                    client.MultiQueue ??= new List<byte[][]>();
                    client.MultiQueue.Add(argv);
                    client.MultiCommandFlags |= cmd.Flags;
                }
                else
                {
                    if ((cmd.Arity > 0 && argc != cmd.Arity) || argc < -cmd.Arity)
                    {
                        log.Warning($"Wrong number of arguments for '{cmd.Name}' at offset {commandStart} reading the append only file {fileName}");
                        return AofLoadStatus.Failed;
                    }
                    ctx.ResetForCommand(args, cmd);
                    cmd.Handler!(ctx);
                }
                validUpTo = reader.Position;
            }
            // A complete file that stops inside MULTI is handled like a short read: the block is dropped.
            if (client.Has(ClientFlags.Multi))
            {
                log.Warning($"Revert incomplete MULTI/EXEC transaction in AOF file {fileName}");
                return UnexpectedEnd(path, fileName, validBeforeMulti, reader.Position);
            }
            return AofLoadStatus.Ok;
        }
        catch (IOException e)
        {
            log.Warning($"Unrecoverable error reading the append only file {fileName}: {e.Message}");
            return AofLoadStatus.Failed;
        }
        finally
        {
            keyspace.Loading = wasLoading;
            if (client.Has(ClientFlags.Multi))
            {
                client.ClearMultiQueue();
                client.Flags &= ~(ClientFlags.Multi | ClientFlags.DirtyCas | ClientFlags.DirtyExec);
            }
        }
    }

    private AofLoadStatus FormatError(string fileName, long offset)
    {
        var log = _server.Log;
        log.Warning($"Bad file format at offset {offset} of the append only file {fileName}");
        log.Warning($"Bad file format reading the append only file {fileName}: make a backup of your AOF file, then use ./valkey-check-aof --fix <filename.manifest>");
        return AofLoadStatus.Failed;
    }

    /// <summary>The file ends in the middle of a command (or of a MULTI block): truncate it when allowed.</summary>
    private AofLoadStatus UnexpectedEnd(string path, string fileName, long validUpTo, long endOffset)
    {
        var log = _server.Log;
        if (_server.Config.AofLoadTruncated)
        {
            log.Warning($"!!! Warning: short read while loading the AOF file {fileName}!!!");
            log.Warning($"!!! Truncating the AOF {fileName} at offset {validUpTo} !!!");
            try
            {
                using (var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
                    f.SetLength(validUpTo);
                TruncatedLength = validUpTo;
                TruncatedFile = fileName;
                log.Warning($"AOF {fileName} loaded anyway because aof-load-truncated is enabled");
                return AofLoadStatus.Truncated;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.Warning($"Error truncating the AOF file {fileName}: {e.Message}");
            }
        }
        log.Warning($"Unexpected end of file at offset {endOffset} of the append only file {fileName} (last complete command ends at offset {validUpTo})");
        log.Warning($"Unexpected end of file reading the append only file {fileName}. You can: " +
                    "1) Make a backup of your AOF file, then use ./valkey-check-aof --fix <filename.manifest>. " +
                    "2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server.");
        return AofLoadStatus.Failed;
    }

    private CommandDefinition? Resolve(CommandArgs args)
    {
        var cmd = _server.Commands.Find(args[0]);
        if (cmd is null) return null;
        if (!cmd.IsContainer) return cmd.Handler is null ? null : cmd;
        if (args.Count < 2) return null;
        var sub = cmd.Subcommands!.GetValueOrDefault(Protocol.Ascii.ToLowerString(args[1]));
        return sub?.Handler is null ? null : sub;
    }

    /// <summary>atoi / strtol from <paramref name="start"/>: optional sign and digits, anything else ends the number.</summary>
    private static long AtoI(byte[] line, int start, int length)
    {
        int i = start;
        bool neg = false;
        if (i < length && (line[i] == '-' || line[i] == '+')) neg = line[i++] == '-';
        long v = 0;
        while (i < length && line[i] >= '0' && line[i] <= '9')
        {
            v = v * 10 + (line[i++] - '0');
            if (v > int.MaxValue * 4L) return -1;
        }
        return neg ? -v : v;
    }

    /// <summary>Buffered reading with the position of every byte (for truncation and error offsets).</summary>
    private sealed class Reader(Stream stream, long position)
    {
        private readonly byte[] _buf = new byte[64 * 1024];
        private int _pos, _len;

        public long Position { get; private set; } = position;

        private bool Fill()
        {
            if (_pos < _len) return true;
            _len = stream.Read(_buf, 0, _buf.Length);
            _pos = 0;
            return _len > 0;
        }

        public byte[] Line { get; } = new byte[LineMax];

        /// <summary>fgets into <see cref="Line"/>: up to and including '\n', at most LineMax - 1 bytes; -1 at end of file.</summary>
        public int ReadLine()
        {
            int n = 0;
            while (n < LineMax - 1)
            {
                if (!Fill()) break;
                byte b = _buf[_pos++];
                Position++;
                Line[n++] = b;
                if (b == '\n') break;
            }
            return n == 0 ? -1 : n;
        }

        public bool ReadExactly(byte[] dest)
        {
            int done = 0;
            while (done < dest.Length)
            {
                if (!Fill()) return false;
                int n = Math.Min(_len - _pos, dest.Length - done);
                Buffer.BlockCopy(_buf, _pos, dest, done, n);
                _pos += n;
                done += n;
                Position += n;
            }
            return true;
        }

        public bool Skip(int count)
        {
            for (int i = 0; i < count; i++)
            {
                if (!Fill()) return false;
                _pos++;
                Position++;
            }
            return true;
        }
    }
}
