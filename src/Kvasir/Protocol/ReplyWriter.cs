using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Kvasir.Types;

namespace Kvasir.Protocol;

/// <summary>
/// Writes replies in RESP2 or RESP3 into a growable buffer. Handlers call the same methods whatever
/// the protocol (WriteMap writes %n in RESP3 and *2n in RESP2, WriteNull writes _ or $-1, ...), so no
/// handler branches on the protocol version.
/// </summary>
public sealed class ReplyWriter
{
    private const int InitialSize = 16 * 1024;
    private byte[] _buf;
    private int _len;

    public ReplyWriter() => _buf = ArrayPool<byte>.Shared.Rent(InitialSize);

    /// <summary>A writer that takes its buffer from the pool only when first written to (or swapped with).</summary>
    public static ReplyWriter CreateEmpty() => new(Array.Empty<byte>());

    private ReplyWriter(byte[] buffer) => _buf = buffer;

    /// <summary>2 or 3, set by HELLO.</summary>
    public int Protocol { get; set; } = 2;

    public bool IsResp3 => Protocol == 3;

    /// <summary>When false, replies are dropped (CLIENT REPLY OFF/SKIP, or a fake client).</summary>
    public bool Enabled { get; set; } = true;

    public int Length => _len;

    public ReadOnlyMemory<byte> WrittenMemory => _buf.AsMemory(0, _len);

    public ReadOnlySpan<byte> WrittenSpan => _buf.AsSpan(0, _len);

    /// <summary>Total bytes the buffer holds (for output-buffer accounting in CLIENT LIST / INFO).</summary>
    public int Capacity => _buf.Length;

    /// <summary>
    /// The size a buffer is first taken from the pool with (and never grown below): the client's
    /// reply buffer size, which the cron resizes as Valkey does (CLIENT LIST rbs).
    /// </summary>
    public int BaseSize = InitialSize;

    public void Clear() => _len = 0;

    /// <summary>Empties the buffer and gives oversized memory back to the pool.</summary>
    public void ResetAfterFlush()
    {
        _len = 0;
        if (_buf.Length > 4 * InitialSize)
        {
            ArrayPool<byte>.Shared.Return(_buf);
            _buf = ArrayPool<byte>.Shared.Rent(InitialSize);
        }
    }

    public void Release()
    {
        if (_buf.Length > 0) ArrayPool<byte>.Shared.Return(_buf);
        _buf = Array.Empty<byte>();
        _len = 0;
    }

    /// <summary>Swaps the written content with another writer's buffer (used to hand a filled buffer to the sender).</summary>
    public void SwapBuffers(ReplyWriter other)
    {
        (_buf, other._buf) = (other._buf, _buf);
        (_len, other._len) = (other._len, _len);
    }

    private Span<byte> Reserve(int n)
    {
        if (_len + n > _buf.Length) Grow(n);
        return _buf.AsSpan(_len);
    }

    private void Grow(int n)
    {
        int size = Math.Max(Math.Max(_buf.Length * 2, _len + n), BaseSize);
        var next = ArrayPool<byte>.Shared.Rent(size);
        _buf.AsSpan(0, _len).CopyTo(next);
        if (_buf.Length > 0) ArrayPool<byte>.Shared.Return(_buf);
        _buf = next;
    }

    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        if (!Enabled) return;
        bytes.CopyTo(Reserve(bytes.Length));
        _len += bytes.Length;
    }

    private void WriteRawUnchecked(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(Reserve(bytes.Length));
        _len += bytes.Length;
    }

    private void WritePrefixedNumber(byte prefix, long value)
    {
        var span = Reserve(24);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span.Slice(1), out int written);
        span[1 + written] = (byte)'\r';
        span[2 + written] = (byte)'\n';
        _len += written + 3;
    }

    public void WriteOk() => WriteRaw("+OK\r\n"u8);

    public void WriteSimpleString(ReadOnlySpan<byte> text)
    {
        if (!Enabled) return;
        var span = Reserve(text.Length + 3);
        span[0] = (byte)'+';
        text.CopyTo(span.Slice(1));
        span[text.Length + 1] = (byte)'\r';
        span[text.Length + 2] = (byte)'\n';
        _len += text.Length + 3;
    }

    public void WriteSimpleString(string text) => WriteSimpleString(Encoding.UTF8.GetBytes(text));

    /// <summary>Writes an error. <paramref name="message"/> includes its code ("ERR ...", "WRONGTYPE ...").
    /// Newlines would break the protocol, so they become spaces, as Valkey does.</summary>
    public void WriteError(string message)
    {
        if (!Enabled) return;
        int max = Encoding.UTF8.GetMaxByteCount(message.Length);
        var span = Reserve(max + 3);
        span[0] = (byte)'-';
        int n = Encoding.UTF8.GetBytes(message, span.Slice(1));
        for (int i = 1; i <= n; i++)
            if (span[i] == '\r' || span[i] == '\n') span[i] = (byte)' ';
        span[n + 1] = (byte)'\r';
        span[n + 2] = (byte)'\n';
        _len += n + 3;
    }

    public void WriteInteger(long value)
    {
        if (!Enabled) return;
        WritePrefixedNumber((byte)':', value);
    }

    public void WriteBulk(ReadOnlySpan<byte> value)
    {
        if (!Enabled) return;
        WritePrefixedNumber((byte)'$', value.Length);
        var span = Reserve(value.Length + 2);
        value.CopyTo(span);
        span[value.Length] = (byte)'\r';
        span[value.Length + 1] = (byte)'\n';
        _len += value.Length + 2;
    }

    public void WriteBulk(string value) => WriteBulk(Encoding.UTF8.GetBytes(value));

    /// <summary>An integer as a bulk string (e.g. CONFIG GET values, INCRBYFLOAT style replies).</summary>
    public void WriteBulk(long value)
    {
        Span<byte> tmp = stackalloc byte[24];
        Utf8Formatter.TryFormat(value, tmp, out int n);
        WriteBulk(tmp.Slice(0, n));
    }

    /// <summary>Verbatim string (RESP3 '='), a plain bulk string in RESP2. Format is 3 chars, e.g. "txt".</summary>
    public void WriteVerbatim(string text, string format = "txt")
    {
        if (!Enabled) return;
        var bytes = Encoding.UTF8.GetBytes(text);
        if (!IsResp3)
        {
            WriteBulk(bytes);
            return;
        }
        WritePrefixedNumber((byte)'=', bytes.Length + 4);
        WriteRawUnchecked(Encoding.ASCII.GetBytes(format + ":"));
        WriteRawUnchecked(bytes);
        WriteRawUnchecked("\r\n"u8);
    }

    /// <summary>Null bulk string ($-1) in RESP2, null (_) in RESP3.</summary>
    public void WriteNull() => WriteRaw(IsResp3 ? "_\r\n"u8 : "$-1\r\n"u8);

    /// <summary>Null array (*-1) in RESP2, null (_) in RESP3.</summary>
    public void WriteNullArray() => WriteRaw(IsResp3 ? "_\r\n"u8 : "*-1\r\n"u8);

    public void WriteArray(long count)
    {
        if (!Enabled) return;
        WritePrefixedNumber((byte)'*', count);
    }

    /// <summary>A map of <paramref name="pairs"/> entries: %n in RESP3, a flat array of 2n in RESP2.</summary>
    public void WriteMap(long pairs)
    {
        if (!Enabled) return;
        if (IsResp3) WritePrefixedNumber((byte)'%', pairs);
        else WritePrefixedNumber((byte)'*', pairs * 2);
    }

    /// <summary>A set: ~n in RESP3, an array in RESP2.</summary>
    public void WriteSet(long count)
    {
        if (!Enabled) return;
        WritePrefixedNumber(IsResp3 ? (byte)'~' : (byte)'*', count);
    }

    /// <summary>A push message: >n in RESP3, an array in RESP2 (pub/sub messages).</summary>
    public void WritePush(long count)
    {
        if (!Enabled) return;
        WritePrefixedNumber(IsResp3 ? (byte)'>' : (byte)'*', count);
    }

    public void WriteBoolean(bool value)
    {
        if (IsResp3) WriteRaw(value ? "#t\r\n"u8 : "#f\r\n"u8);
        else WriteInteger(value ? 1 : 0);
    }

    /// <summary>A double: ',' in RESP3, a bulk string in RESP2, formatted as Valkey formats replies.</summary>
    public void WriteDouble(double value)
    {
        if (!Enabled) return;
        Span<byte> tmp = stackalloc byte[40];
        int n = NumberFormat.FormatDouble(value, tmp);
        if (IsResp3)
        {
            var span = Reserve(n + 3);
            span[0] = (byte)',';
            tmp.Slice(0, n).CopyTo(span.Slice(1));
            span[n + 1] = (byte)'\r';
            span[n + 2] = (byte)'\n';
            _len += n + 3;
        }
        else
        {
            WriteBulk(tmp.Slice(0, n));
        }
    }

    /// <summary>A double already formatted by the caller (Valkey's addReplyHumanLongDouble): ',' in RESP3, a bulk string in RESP2.</summary>
    public void WriteDoubleText(ReadOnlySpan<byte> text)
    {
        if (!Enabled) return;
        if (!IsResp3)
        {
            WriteBulk(text);
            return;
        }
        var span = Reserve(text.Length + 3);
        span[0] = (byte)',';
        text.CopyTo(span.Slice(1));
        span[text.Length + 1] = (byte)'\r';
        span[text.Length + 2] = (byte)'\n';
        _len += text.Length + 3;
    }

    public void WriteBigNumber(string digits)
    {
        if (IsResp3)
        {
            WriteRaw("("u8);
            WriteRaw(Encoding.ASCII.GetBytes(digits));
            WriteRaw("\r\n"u8);
        }
        else WriteBulk(digits);
    }

    public void WriteEmptyArray() => WriteRaw("*0\r\n"u8);

    /// <summary>
    /// Starts an aggregate whose length is not known yet (Valkey's deferred length). Returns a token for
    /// <see cref="EndDeferred"/>. A few bytes are reserved and the header is written in place later.
    /// </summary>
    public int BeginDeferred()
    {
        if (!Enabled) return -1;
        int token = _len;
        Reserve(DeferredReserve);
        _len += DeferredReserve;
        return token;
    }

    private const int DeferredReserve = 16;

    /// <summary>Finishes a deferred aggregate. <paramref name="kind"/> is '*', '%' (map, count = pairs) or '~'.</summary>
    public void EndDeferred(int token, long count, char kind = '*')
    {
        if (token < 0 || !Enabled) return;
        byte prefix = (byte)kind;
        if (kind == '%' && !IsResp3) { prefix = (byte)'*'; count *= 2; }
        if (kind == '~' && !IsResp3) prefix = (byte)'*';
        Span<byte> header = stackalloc byte[24];
        header[0] = prefix;
        Utf8Formatter.TryFormat(count, header.Slice(1), out int w);
        header[w + 1] = (byte)'\r';
        header[w + 2] = (byte)'\n';
        int hlen = w + 3;
        // Move the body left over the unused part of the reservation.
        int bodyStart = token + DeferredReserve;
        int bodyLen = _len - bodyStart;
        _buf.AsSpan(bodyStart, bodyLen).CopyTo(_buf.AsSpan(token + hlen));
        header.Slice(0, hlen).CopyTo(_buf.AsSpan(token));
        _len = token + hlen + bodyLen;
    }

    /// <summary>Drops everything written after <paramref name="mark"/> (e.g. a reply replaced by an error).</summary>
    public void Truncate(int mark)
    {
        if (mark >= 0 && mark <= _len) _len = mark;
    }
}
