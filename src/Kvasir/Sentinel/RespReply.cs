using System.Text;

namespace Kvasir.Sentinel;

public enum RespReplyType { Status, Error, Integer, Bulk, Array, Null }

/// <summary>
/// One reply read from a monitored instance or another Sentinel (what hiredis hands Valkey's
/// callbacks). The Sentinel speaks RESP2 to its peers; RESP3 types that a peer could still send
/// (null, double, boolean, map, push, verbatim) are read as their RESP2 equivalents.
/// </summary>
public sealed class RespReply
{
    public static readonly RespReply NullReply = new() { Type = RespReplyType.Null };

    public RespReplyType Type { get; init; }

    /// <summary>The text of a status, error or bulk reply.</summary>
    public string Text { get; init; } = "";

    public long Integer { get; init; }

    public RespReply[] Items { get; init; } = [];

    public bool IsError => Type == RespReplyType.Error;

    public override string ToString() => Type switch
    {
        RespReplyType.Array => "[" + string.Join(", ", Items.Select(i => i.ToString())) + "]",
        RespReplyType.Integer => Integer.ToString(System.Globalization.CultureInfo.InvariantCulture),
        RespReplyType.Null => "(nil)",
        _ => Text,
    };
}

/// <summary>
/// Incremental RESP reply parser over a receive buffer. Bounded: a peer that announces a bulk or an
/// array larger than the limits, nests too deeply or sends a byte that starts no reply type is a
/// protocol error, and the Sentinel drops the connection (hiredis does the same).
/// </summary>
public static class RespReplyReader
{
    public const int MaxBulk = 64 * 1024 * 1024;
    public const int MaxElements = 1024 * 1024;
    private const int MaxDepth = 16;

    public sealed class ProtocolException(string message) : Exception(message);

    /// <summary>Parses one complete reply starting at <paramref name="offset"/>; null when more bytes are needed.</summary>
    public static RespReply? TryParse(ReadOnlySpan<byte> buffer, ref int offset) => TryParse(buffer, ref offset, 0);

    private static RespReply? TryParse(ReadOnlySpan<byte> buffer, ref int offset, int depth)
    {
        if (depth > MaxDepth) throw new ProtocolException("reply nested too deeply");
        int pos = offset;
        if (pos >= buffer.Length) return null;
        byte kind = buffer[pos];
        int lineEnd = buffer[(pos + 1)..].IndexOf("\r\n"u8);
        if (lineEnd < 0)
        {
            if (buffer.Length - pos > 64 * 1024) throw new ProtocolException("reply line too long");
            return null;
        }
        var line = buffer.Slice(pos + 1, lineEnd);
        int next = pos + 1 + lineEnd + 2;
        RespReply? reply;
        switch (kind)
        {
            case (byte)'+':
                reply = new RespReply { Type = RespReplyType.Status, Text = Encoding.UTF8.GetString(line) };
                break;
            case (byte)'-':
                reply = new RespReply { Type = RespReplyType.Error, Text = Encoding.UTF8.GetString(line) };
                break;
            case (byte)':':
                reply = new RespReply { Type = RespReplyType.Integer, Integer = ParseLong(line) };
                break;
            case (byte)'_':
                reply = RespReply.NullReply;
                break;
            case (byte)',':
            case (byte)'(':
                reply = new RespReply { Type = RespReplyType.Bulk, Text = Encoding.UTF8.GetString(line) };
                break;
            case (byte)'#':
                reply = new RespReply { Type = RespReplyType.Integer, Integer = line.SequenceEqual("t"u8) ? 1 : 0 };
                break;
            case (byte)'$':
            case (byte)'=':
            case (byte)'!':
            {
                long len = ParseLong(line);
                if (len < 0)
                {
                    reply = RespReply.NullReply;
                    break;
                }
                if (len > MaxBulk) throw new ProtocolException("bulk reply too large");
                if (buffer.Length - next < len + 2) return null;
                var body = buffer.Slice(next, (int)len);
                // Verbatim strings start with their 3-letter format and a colon.
                if (kind == '=' && body.Length >= 4) body = body[4..];
                reply = new RespReply { Type = kind == '!' ? RespReplyType.Error : RespReplyType.Bulk, Text = Encoding.UTF8.GetString(body) };
                next += (int)len + 2;
                break;
            }
            case (byte)'*':
            case (byte)'>':
            case (byte)'~':
            case (byte)'%':
            {
                long count = ParseLong(line);
                if (count < 0)
                {
                    reply = RespReply.NullReply;
                    break;
                }
                if (kind == '%') count *= 2;
                if (count > MaxElements) throw new ProtocolException("array reply too large");
                var items = new RespReply[count];
                for (int i = 0; i < count; i++)
                {
                    var item = TryParse(buffer, ref next, depth + 1);
                    if (item is null) return null;
                    items[i] = item;
                }
                reply = new RespReply { Type = RespReplyType.Array, Items = items };
                break;
            }
            default:
                throw new ProtocolException($"unexpected reply type byte {kind}");
        }
        offset = next;
        return reply;
    }

    private static long ParseLong(ReadOnlySpan<byte> s)
    {
        if (!Types.NumberParser.TryParseLong(s, out long v)) throw new ProtocolException("bad number in reply");
        return v;
    }
}
