using System.Buffers.Binary;
using System.Globalization;
using Kvasir.Types;

namespace Kvasir.Persistence;

/// <summary>
/// Reads the primitives of the RDB format from a stream: lengths, strings (with their integer and
/// LZF encodings), times and doubles, keeping a running CRC-64 of every byte consumed so the
/// trailing checksum can be verified. Never trusts a length to allocate: large strings are read in
/// chunks, so a corrupt length fails with a short read instead of exhausting memory.
/// </summary>
public sealed class RdbInput
{
    public const int BufferSize = 64 * 1024;
    private const int DirectAllocationLimit = 1 << 20;

    private readonly Stream _stream;
    private readonly byte[] _buf;
    private int _pos, _len;
    private int _crcFrom;          // bytes of _buf[_crcFrom.._pos) are consumed but not yet in _crc
    private ulong _crc;
    private long _consumedBeforeBuffer;

    /// <param name="bufferSize">The read buffer: a file gets the default, a small payload (RESTORE
    /// runs once per key of a MIGRATE) no more than its own length.</param>
    public RdbInput(Stream stream, int bufferSize = BufferSize)
    {
        _stream = stream;
        _buf = new byte[bufferSize];
    }

    /// <summary>Bytes consumed so far.</summary>
    public long Offset => _consumedBeforeBuffer + _pos;

    /// <summary>CRC-64 of every byte consumed so far.</summary>
    public ulong Checksum
    {
        get
        {
            FoldCrc();
            return _crc;
        }
    }

    private void FoldCrc()
    {
        if (_pos > _crcFrom) _crc = Crc64.Update(_crc, _buf.AsSpan(_crcFrom, _pos - _crcFrom));
        _crcFrom = _pos;
    }

    private bool Fill()
    {
        FoldCrc();
        _consumedBeforeBuffer += _pos;
        _pos = _len = _crcFrom = 0;
        int n = _stream.Read(_buf, 0, _buf.Length);
        _len = n;
        return n > 0;
    }

    /// <summary>Reads one byte, or returns -1 at the end of the stream.</summary>
    public int TryReadByte()
    {
        if (_pos == _len && !Fill()) return -1;
        return _buf[_pos++];
    }

    public byte ReadByte()
    {
        if (_pos == _len && !Fill()) throw RdbException.UnexpectedEof();
        return _buf[_pos++];
    }

    public void ReadExactly(Span<byte> dest)
    {
        while (dest.Length > 0)
        {
            if (_pos == _len && !Fill()) throw RdbException.UnexpectedEof();
            int n = Math.Min(dest.Length, _len - _pos);
            _buf.AsSpan(_pos, n).CopyTo(dest);
            _pos += n;
            dest = dest.Slice(n);
        }
    }

    /// <summary>Reads <paramref name="length"/> raw bytes into a new array.</summary>
    public byte[] ReadBytes(ulong length)
    {
        if (length == 0) return Array.Empty<byte>();
        if (length > (ulong)Array.MaxLength) throw RdbException.UnexpectedEof();
        int n = (int)length;
        if (n <= DirectAllocationLimit)
        {
            var small = new byte[n];
            ReadExactly(small);
            return small;
        }
        // Grow as the bytes actually arrive: a corrupt length must not allocate gigabytes up front.
        var result = new byte[DirectAllocationLimit];
        int got = 0;
        while (got < n)
        {
            if (got == result.Length) Array.Resize(ref result, (int)Math.Min((long)result.Length * 2, n));
            int chunk = Math.Min(result.Length - got, n - got);
            ReadExactly(result.AsSpan(got, chunk));
            got += chunk;
        }
        return result;
    }

    /// <summary>
    /// Valkey's rdbLoadLenByRef: a plain length, or (with <paramref name="encoded"/> set) the kind of
    /// a specially encoded string that follows.
    /// </summary>
    public ulong ReadLength(out bool encoded)
    {
        encoded = false;
        byte b = ReadByte();
        int type = (b & 0xC0) >> 6;
        if (type == RdbFormat.EncodedValue)
        {
            encoded = true;
            return (ulong)(b & 0x3F);
        }
        if (type == RdbFormat.Len6Bit) return (ulong)(b & 0x3F);
        if (type == RdbFormat.Len14Bit) return ((ulong)(b & 0x3F) << 8) | ReadByte();
        if (b == RdbFormat.Len32Bit)
        {
            Span<byte> four = stackalloc byte[4];
            ReadExactly(four);
            return BinaryPrimitives.ReadUInt32BigEndian(four);
        }
        if (b == RdbFormat.Len64Bit)
        {
            Span<byte> eight = stackalloc byte[8];
            ReadExactly(eight);
            return BinaryPrimitives.ReadUInt64BigEndian(eight);
        }
        throw new RdbException($"Unknown length encoding {type} in rdbLoadLen()");
    }

    /// <summary>
    /// A count or size. As in Valkey, a string-encoding marker in this position is not an error by
    /// itself: its low six bits are taken as the value (the checks on what follows catch the damage).
    /// </summary>
    public ulong ReadLength() => ReadLength(out _);

    /// <summary>Reads a string in any of its encodings (plain, 8/16/32-bit integer, LZF) as its bytes.</summary>
    public byte[] ReadString()
    {
        ulong len = ReadLength(out bool encoded);
        if (!encoded) return ReadBytes(len);
        switch ((int)len)
        {
            case RdbFormat.EncInt8:
            case RdbFormat.EncInt16:
            case RdbFormat.EncInt32:
                return NumberFormat.LongToBytes(ReadEncodedInteger((int)len));
            case RdbFormat.EncLzf:
                return ReadLzfString();
            default:
                throw new RdbException($"Unknown RDB string encoding type {len}");
        }
    }

    private byte[] _lzfInput = Array.Empty<byte>();

    /// <summary>
    /// Reads a string in any encoding into <paramref name="scratch"/> (replaced by a larger array when
    /// too small) and returns its bytes there. Loading uses it for keys and string values, which are
    /// copied into their key blob anyway: no array per string.
    /// </summary>
    public ReadOnlySpan<byte> ReadStringInto(ref byte[] scratch)
    {
        ulong len = ReadLength(out bool encoded);
        if (!encoded)
        {
            int n = ReadInto(ref scratch, len); // may replace scratch: read it after
            return scratch.AsSpan(0, n);
        }
        switch ((int)len)
        {
            case RdbFormat.EncInt8:
            case RdbFormat.EncInt16:
            case RdbFormat.EncInt32:
                if (scratch.Length < 24) scratch = new byte[64];
                int digits = NumberFormat.FormatLong(ReadEncodedInteger((int)len), scratch);
                return scratch.AsSpan(0, digits);
            case RdbFormat.EncLzf:
                ulong clen = ReadLength();
                ulong ulen = ReadLength();
                int c = ReadInto(ref _lzfInput, clen);
                // Same bound as ReadLzfString: the claimed length cannot exceed what the input can expand to.
                if (ulen > (ulong)c * 132 + 32 || ulen > (ulong)Array.MaxLength)
                    throw new RdbException("Invalid LZF compressed string");
                int u = (int)ulen;
                if (scratch.Length < u) scratch = new byte[Math.Max(u, scratch.Length * 2)];
                if (Lzf.Decompress(_lzfInput.AsSpan(0, c), scratch.AsSpan(0, u)) != u) throw new RdbException("Invalid LZF compressed string");
                return scratch.AsSpan(0, u);
            default:
                throw new RdbException($"Unknown RDB string encoding type {len}");
        }
    }

    /// <summary>Reads <paramref name="length"/> raw bytes into <paramref name="scratch"/>, growing it as ReadBytes would.</summary>
    private int ReadInto(ref byte[] scratch, ulong length)
    {
        if (length <= (ulong)scratch.Length)
        {
            ReadExactly(scratch.AsSpan(0, (int)length));
            return (int)length;
        }
        if (length <= DirectAllocationLimit)
        {
            scratch = new byte[Math.Max((int)length, Math.Min(scratch.Length * 2, DirectAllocationLimit))];
            ReadExactly(scratch.AsSpan(0, (int)length));
            return (int)length;
        }
        // Large: ReadBytes grows as the bytes arrive (a corrupt length must not allocate up front).
        scratch = ReadBytes(length);
        return scratch.Length;
    }

    /// <summary>The value of an integer-encoded string (the encoding byte was already read).</summary>
    public long ReadEncodedInteger(int encoding)
    {
        Span<byte> b = stackalloc byte[4];
        switch (encoding)
        {
            case RdbFormat.EncInt8:
                return (sbyte)ReadByte();
            case RdbFormat.EncInt16:
                ReadExactly(b.Slice(0, 2));
                return BinaryPrimitives.ReadInt16LittleEndian(b);
            case RdbFormat.EncInt32:
                ReadExactly(b);
                return BinaryPrimitives.ReadInt32LittleEndian(b);
            default:
                throw new RdbException($"Unknown RDB integer encoding type {encoding}");
        }
    }

    private byte[] ReadLzfString()
    {
        ulong clen = ReadLength();
        ulong len = ReadLength();
        byte[] compressed = ReadBytes(clen);
        // A back reference produces at most 264 bytes from 2 or 3 input bytes, so a claimed length
        // beyond that ratio is corrupt; checking first keeps the allocation bounded by the input.
        if (len > (ulong)compressed.Length * 132 + 32 || len > (ulong)Array.MaxLength)
            throw new RdbException("Invalid LZF compressed string");
        var result = new byte[len];
        if (Lzf.Decompress(compressed, result) != (long)len) throw new RdbException("Invalid LZF compressed string");
        return result;
    }

    /// <summary>RDB_OPCODE_EXPIRETIME: a 32-bit count of seconds.</summary>
    public int ReadSecondTime()
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(b);
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    /// <summary>
    /// RDB_OPCODE_EXPIRETIME_MS: 64-bit milliseconds, little endian. Before RDB 9 writers stored it in
    /// host order, which on the little-endian machines we run on is the same thing.
    /// </summary>
    public long ReadMillisecondTime()
    {
        Span<byte> b = stackalloc byte[8];
        ReadExactly(b);
        return BinaryPrimitives.ReadInt64LittleEndian(b);
    }

    public double ReadBinaryDouble()
    {
        Span<byte> b = stackalloc byte[8];
        ReadExactly(b);
        return BinaryPrimitives.ReadDoubleLittleEndian(b);
    }

    public float ReadBinaryFloat()
    {
        Span<byte> b = stackalloc byte[4];
        ReadExactly(b);
        return BinaryPrimitives.ReadSingleLittleEndian(b);
    }

    /// <summary>
    /// The pre-RDB-8 double: a length byte then its decimal text, with 253/254/255 standing for
    /// NaN, +inf and -inf.
    /// </summary>
    public double ReadTextDouble()
    {
        byte len = ReadByte();
        switch (len)
        {
            case 255: return double.NegativeInfinity;
            case 254: return double.PositiveInfinity;
            case 253: return double.NaN;
        }
        Span<byte> text = stackalloc byte[len];
        ReadExactly(text);
        if (NumberParser.TryParseDouble(text, out double v)) return v;
        Span<char> chars = stackalloc char[len];
        for (int i = 0; i < len; i++) chars[i] = (char)text[i];
        if (chars.Trim().Equals("nan", StringComparison.OrdinalIgnoreCase) || chars.Trim().Equals("-nan", StringComparison.OrdinalIgnoreCase))
            return double.NaN;
        if (double.TryParse(chars.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out v)) return v;
        throw RdbException.UnexpectedEof(); // Valkey's loader treats an unparsable double as a read failure
    }
}
