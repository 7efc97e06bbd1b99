using System.Net.Sockets;
using System.Text;

namespace Kvasir.Tests.Infrastructure;

/// <summary>A parsed reply. Kind is the RESP type byte: + - : $ * % ~ > _ , # ( = ; null bulk/array have IsNull.</summary>
public sealed record RespValue(char Kind, string? Text, long Integer, IReadOnlyList<RespValue>? Items)
{
    /// <summary>Raw bytes of a bulk string.</summary>
    public byte[]? Bytes { get; init; }

    public bool IsNull => Text is null && Items is null && Kind is '$' or '*' or '_';
    public bool IsError => Kind == '-';
    public override string ToString() => Kind switch
    {
        '*' or '%' or '~' or '>' when Items is not null => "[" + string.Join(", ", Items) + "]",
        ':' => Integer.ToString(),
        _ => Text ?? "(nil)",
    };
}

/// <summary>
/// The test project's own RESP client: sends commands as multibulk (or raw bytes) and parses
/// replies of RESP2 and RESP3 exactly, so tests can assert on types and bytes.
/// </summary>
public sealed class RespClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly byte[] _buf = new byte[64 * 1024];
    private int _pos, _len;

    private RespClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RespClient> ConnectAsync(string host, int port)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(host, port);
        return new RespClient(tcp);
    }

    /// <summary>The port this client is connected to.</summary>
    public int RemotePort => ((System.Net.IPEndPoint)_tcp.Client.RemoteEndPoint!).Port;

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    public static byte[] Encode(params object[] args)
    {
        var ms = new MemoryStream();
        void W(string s) => ms.Write(Encoding.UTF8.GetBytes(s));
        W($"*{args.Length}\r\n");
        foreach (var a in args)
        {
            byte[] bytes = a switch
            {
                byte[] b => b,
                string s => Encoding.UTF8.GetBytes(s),
                _ => Encoding.UTF8.GetBytes(Convert.ToString(a, System.Globalization.CultureInfo.InvariantCulture)!),
            };
            W($"${bytes.Length}\r\n");
            ms.Write(bytes);
            W("\r\n");
        }
        return ms.ToArray();
    }

    public async Task SendAsync(params object[] args) => await SendRawAsync(Encode(args));

    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    public async Task SendRawAsync(string text) => await SendRawAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Sends a command and reads its reply.</summary>
    public async Task<RespValue> CallAsync(params object[] args)
    {
        await SendAsync(args);
        return await ReadAsync();
    }

    /// <summary>Sends a command and returns the reply as text (errors included, with their code).</summary>
    public async Task<string?> CallTextAsync(params object[] args)
    {
        var reply = await CallAsync(args);
        return reply.IsNull ? null : reply.ToString();
    }

    public async Task<RespValue> ReadAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        return await ReadValueAsync(cts.Token);
    }

    /// <summary>Reads exactly <paramref name="count"/> raw bytes of reply (for byte-exact assertions).</summary>
    public async Task<string> ReadRawAsync(int count)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var sb = new StringBuilder();
        while (sb.Length < count)
        {
            if (_pos == _len) await FillAsync(cts.Token);
            int take = Math.Min(count - sb.Length, _len - _pos);
            sb.Append(Encoding.Latin1.GetString(_buf, _pos, take));
            _pos += take;
        }
        return sb.ToString();
    }

    /// <summary>True when the server closed the connection (reads 0 bytes) within the timeout.</summary>
    public async Task<bool> IsClosedAsync(TimeSpan? within = null)
    {
        using var cts = new CancellationTokenSource(within ?? Timeout);
        try
        {
            if (_pos < _len) return false;
            int n = await _stream.ReadAsync(_buf, 0, _buf.Length, cts.Token);
            if (n == 0) return true;
            _pos = 0;
            _len = n;
            return false;
        }
        catch (IOException) { return true; }
        catch (OperationCanceledException) { return false; }
    }

    private async Task FillAsync(CancellationToken ct)
    {
        if (_pos == _len) { _pos = 0; _len = 0; }
        int n = await _stream.ReadAsync(_buf.AsMemory(_len), ct);
        if (n == 0) throw new IOException("connection closed by server");
        _len += n;
    }

    private async Task<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            int idx = Array.IndexOf(_buf, (byte)'\n', _pos, _len - _pos);
            if (idx >= 0)
            {
                string line = Encoding.UTF8.GetString(_buf, _pos, idx - _pos).TrimEnd('\r');
                _pos = idx + 1;
                return line;
            }
            if (_pos > 0)
            {
                Buffer.BlockCopy(_buf, _pos, _buf, 0, _len - _pos);
                _len -= _pos;
                _pos = 0;
            }
            await FillAsync(ct);
        }
    }

    private async Task<byte[]> ReadBytesAsync(int count, CancellationToken ct)
    {
        var result = new byte[count];
        int got = 0;
        while (got < count)
        {
            if (_pos == _len) await FillAsync(ct);
            int take = Math.Min(count - got, _len - _pos);
            Buffer.BlockCopy(_buf, _pos, result, got, take);
            _pos += take;
            got += take;
        }
        return result;
    }

    private async Task<RespValue> ReadValueAsync(CancellationToken ct)
    {
        string line = await ReadLineAsync(ct);
        char kind = line[0];
        string rest = line[1..];
        switch (kind)
        {
            case '+': case '-': case ',': case '(':
                return new RespValue(kind, rest, 0, null);
            case ':':
                return new RespValue(kind, rest, long.Parse(rest), null);
            case '#':
                return new RespValue(kind, rest, rest == "t" ? 1 : 0, null);
            case '_':
                return new RespValue(kind, null, 0, null);
            case '$': case '=':
            {
                int len = int.Parse(rest);
                if (len < 0) return new RespValue('$', null, 0, null);
                var bytes = await ReadBytesAsync(len + 2, ct);
                return new RespValue(kind, Encoding.UTF8.GetString(bytes, 0, len), 0, null) { Bytes = bytes[..len] };
            }
            case '*': case '~': case '>': case '%':
            {
                int n = int.Parse(rest);
                if (n < 0) return new RespValue('*', null, 0, null);
                int count = kind == '%' ? n * 2 : n;
                var items = new List<RespValue>(count);
                for (int i = 0; i < count; i++) items.Add(await ReadValueAsync(ct));
                return new RespValue(kind, null, n, items);
            }
            default:
                throw new InvalidDataException($"unexpected reply line: {line}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        await Task.CompletedTask;
    }
}
