namespace Kvasir.Protocol;

public enum ParseStatus { Complete, Incomplete, Error }

/// <summary>
/// Incremental parser for client requests: RESP multibulk (<c>*N\r\n$len\r\n...</c>) and inline
/// commands (space separated, with quoting). It works in place on the connection's receive buffer
/// and keeps enough state to resume an incomplete command when more bytes arrive, so a large
/// pipelined MSET is scanned once, not once per read.
/// </summary>
public sealed class RespParser
{
    public const int InlineMaxSize = 64 * 1024;
    /// <summary>Valkey accepts any count that fits in a C int; arguments are only stored as they arrive.</summary>
    public const int MaxMultibulkLength = int.MaxValue;
    private const int UnauthenticatedMaxMultibulk = 10;
    private const int UnauthenticatedMaxBulk = 16384;

    // State of the command being parsed; _cmdStart is absolute in the buffer, the rest too.
    private bool _inCommand;
    private int _cmdStart;
    private int _scan;
    private long _multibulkRemaining;
    private long _bulkLength = -1;

    public string? Error { get; private set; }

    /// <summary>Bytes the buffer must hold from the command start to complete the element being read (0 = unknown).</summary>
    public long BytesNeeded { get; private set; }

    /// <summary>Start of the command being parsed (valid while a command is incomplete).</summary>
    public int CommandStart => _cmdStart;

    public bool InCommand => _inCommand;

    /// <summary>While a command is incomplete: where its unparsed part starts (after its complete arguments).</summary>
    public int ScanPosition => _scan;

    /// <summary>Length of the bulk argument being received (its data starts at <see cref="ScanPosition"/>), -1 when none.</summary>
    public long PendingBulkLength => _inCommand ? _bulkLength : -1;

    /// <summary>The buffer's content moved left by <paramref name="delta"/> bytes.</summary>
    public void Shift(int delta)
    {
        if (!_inCommand) return;
        _cmdStart -= delta;
        _scan -= delta;
    }

    /// <summary>
    /// Parses one command starting at <paramref name="pos"/>. On Complete, <paramref name="pos"/> moves past it and
    /// <paramref name="args"/> holds its arguments (possibly zero for an empty inline line, which callers skip).
    /// On Incomplete, <paramref name="pos"/> stays at the command start and the parser remembers its progress.
    /// </summary>
    public ParseStatus Parse(byte[] buf, ref int pos, int end, CommandArgs args, bool authenticated, long maxBulkLength)
    {
        if (!_inCommand)
        {
            if (pos >= end) return ParseStatus.Incomplete;
            args.Reset(buf);
            _cmdStart = pos;
            _scan = pos;
            _bulkLength = -1;
            BytesNeeded = 0;
            if (buf[pos] != (byte)'*')
                return ParseInline(buf, ref pos, end, args);
            // Multibulk header.
            int nl = IndexOfNewline(buf, pos, end);
            if (nl < 0)
            {
                if (end - pos > InlineMaxSize) return Fail("Protocol error: too big mbulk count string");
                return ParseStatus.Incomplete;
            }
            // Valkey reads at most 16 KB at a time, so a longer header line never arrives whole there:
            // judge by length alone so the outcome does not depend on how the bytes were split.
            if (nl - pos > InlineMaxSize) return Fail("Protocol error: too big mbulk count string");
            if (!TryParseLong(buf.AsSpan(pos + 1, nl - 1 - (pos + 1)), out long count) || count > MaxMultibulkLength)
                return Fail("Protocol error: invalid multibulk length");
            if (!authenticated && count > UnauthenticatedMaxMultibulk)
                return Fail("Protocol error: unauthenticated multibulk length");
            _scan = nl + 1;
            if (count <= 0)
            {
                // "*0" and "*-1" are accepted and ignored, as Valkey does.
                pos = _scan;
                return ParseStatus.Complete;
            }
            _multibulkRemaining = count;
            _inCommand = true;
        }

        while (_multibulkRemaining > 0)
        {
            if (_bulkLength < 0)
            {
                if (_scan >= end) return ParseStatus.Incomplete;
                int nl = IndexOfNewline(buf, _scan, end);
                if (nl < 0)
                {
                    if (end - _scan > InlineMaxSize) return Fail("Protocol error: too big bulk count string");
                    return ParseStatus.Incomplete;
                }
                if (nl - _scan > InlineMaxSize) return Fail("Protocol error: too big bulk count string");
                if (buf[_scan] != (byte)'$')
                    return Fail($"Protocol error: expected '$', got '{(char)buf[_scan]}'");
                if (!TryParseLong(buf.AsSpan(_scan + 1, nl - 1 - (_scan + 1)), out long len) || len < 0 || len > maxBulkLength)
                    return Fail("Protocol error: invalid bulk length");
                if (!authenticated && len > UnauthenticatedMaxBulk)
                    return Fail("Protocol error: unauthenticated bulk length");
                _bulkLength = len;
                _scan = nl + 1;
            }
            long need = _scan + _bulkLength + 2;
            if (need > end)
            {
                BytesNeeded = need - _cmdStart;
                return ParseStatus.Incomplete;
            }
            args.AddAbsolute(_scan, (int)_bulkLength);
            _scan = (int)need;
            _bulkLength = -1;
            _multibulkRemaining--;
        }
        _inCommand = false;
        BytesNeeded = 0;
        pos = _scan;
        return ParseStatus.Complete;
    }

    private ParseStatus ParseInline(byte[] buf, ref int pos, int end, CommandArgs args)
    {
        // Valkey looks for the line end with strchr, which stops at a NUL byte: a line with a NUL
        // before its '\n' never completes there, and ends as "too big inline request". Same here.
        int nl = buf.AsSpan(pos, end - pos).IndexOfAny((byte)'\n', (byte)0);
        if (nl >= 0 && buf[pos + nl] == 0) nl = -1;
        else if (nl >= 0) nl += pos;
        if (nl < 0)
        {
            if (end - pos > InlineMaxSize) return Fail("Protocol error: too big inline request");
            return ParseStatus.Incomplete;
        }
        if (nl - pos > InlineMaxSize) return Fail("Protocol error: too big inline request");
        int lineEnd = nl;
        if (lineEnd > pos && buf[lineEnd - 1] == (byte)'\r') lineEnd--;
        if (!InlineSplitter.Split(buf, pos, lineEnd, args))
            return Fail("Protocol error: unbalanced quotes in request");
        pos = nl + 1;
        return ParseStatus.Complete;
    }

    private ParseStatus Fail(string message)
    {
        Error = message;
        _inCommand = false;
        return ParseStatus.Error;
    }

    /// <summary>
    /// Finds the first '\r' of a header line and returns the index of the byte after it (the '\n', not
    /// checked, as in Valkey), or -1. Like Valkey's strchr, the search stops at a NUL byte.
    /// </summary>
    private static int IndexOfNewline(byte[] buf, int from, int end)
    {
        int cr = buf.AsSpan(from, end - from).IndexOfAny((byte)'\r', (byte)0);
        if (cr < 0 || buf[from + cr] == 0) return -1;
        cr += from;
        if (cr + 1 >= end) return -1;
        return cr + 1;
    }

    /// <summary>Valkey's string2ll rules: no '+', no leading zeros, no spaces.</summary>
    private static bool TryParseLong(ReadOnlySpan<byte> s, out long value) => Types.NumberParser.TryParseLong(s, out value);
}

/// <summary>
/// Splits an inline command line into arguments the way valkey-cli and Valkey's sdssplitargs do:
/// whitespace separated, "double quotes" with \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes'
/// with \' only. Unescaped text is written back in place (it is never longer than its source).
/// </summary>
public static class InlineSplitter
{
    public static bool Split(byte[] buf, int start, int end, CommandArgs args)
    {
        // The line is a C string for Valkey: a NUL byte ends it.
        int nul = buf.AsSpan(start, end - start).IndexOf((byte)0);
        if (nul >= 0) end = start + nul;
        int p = start;
        while (true)
        {
            while (p < end && IsSpace(buf[p])) p++;
            if (p >= end) return true;
            int write = p;
            int argStart = p;
            bool inDouble = false, inSingle = false, done = false;
            while (!done)
            {
                if (inDouble)
                {
                    if (p >= end) return false;
                    byte c = buf[p];
                    if (c == '\\' && p + 3 < end && buf[p + 1] == 'x' && IsHex(buf[p + 2]) && IsHex(buf[p + 3]))
                    {
                        buf[write++] = (byte)(HexValue(buf[p + 2]) * 16 + HexValue(buf[p + 3]));
                        p += 4;
                    }
                    else if (c == '\\' && p + 1 < end)
                    {
                        p++;
                        buf[write++] = buf[p] switch
                        {
                            (byte)'n' => (byte)'\n',
                            (byte)'r' => (byte)'\r',
                            (byte)'t' => (byte)'\t',
                            (byte)'b' => (byte)'\b',
                            (byte)'a' => (byte)'\a',
                            _ => buf[p],
                        };
                        p++;
                    }
                    else if (c == '"')
                    {
                        // The closing quote must be followed by a space or the end.
                        if (p + 1 < end && !IsSpace(buf[p + 1])) return false;
                        done = true;
                        p++;
                    }
                    else
                    {
                        buf[write++] = c;
                        p++;
                    }
                }
                else if (inSingle)
                {
                    if (p >= end) return false;
                    byte c = buf[p];
                    if (c == '\\' && p + 1 < end && buf[p + 1] == '\'')
                    {
                        buf[write++] = (byte)'\'';
                        p += 2;
                    }
                    else if (c == '\'')
                    {
                        if (p + 1 < end && !IsSpace(buf[p + 1])) return false;
                        done = true;
                        p++;
                    }
                    else
                    {
                        buf[write++] = c;
                        p++;
                    }
                }
                else
                {
                    if (p >= end) { done = true; break; }
                    byte c = buf[p];
                    switch (c)
                    {
                        case (byte)' ': case (byte)'\n': case (byte)'\r': case (byte)'\t': case 0:
                            done = true;
                            break;
                        case (byte)'"':
                            inDouble = true;
                            p++;
                            break;
                        case (byte)'\'':
                            inSingle = true;
                            p++;
                            break;
                        default:
                            buf[write++] = c;
                            p++;
                            break;
                    }
                }
            }
            args.AddAbsolute(argStart, write - argStart);
        }
    }

    private static bool IsSpace(byte c) => c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    private static bool IsHex(byte c) => (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    private static int HexValue(byte c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
