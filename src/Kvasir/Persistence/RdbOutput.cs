using System.Buffers;
using System.Buffers.Binary;
using Kvasir.Types;

namespace Kvasir.Persistence;

/// <summary>
/// Writes the primitives of the RDB format to a stream through a buffer, keeping the CRC-64 of
/// everything written (when enabled) for the trailer. Strings are stored the way Valkey's
/// rdbSaveRawString stores them: as a small integer when they are one, LZF-compressed when that
/// saves at least four bytes, otherwise verbatim.
/// </summary>
public sealed class RdbOutput
{
    public const int BufferSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly byte[] _buf;
    private int _len;
    private ulong _crc;
    private long _flushed;

    /// <param name="bufferSize">The buffer between the writer and the stream: a file gets the default,
    /// one small DUMP payload (MIGRATE makes one per key) no more than it needs.</param>
    public RdbOutput(Stream stream, bool compress = true, bool checksum = true, int bufferSize = BufferSize)
    {
        _stream = stream;
        _buf = new byte[bufferSize];
        Compress = compress;
        ComputeChecksum = checksum;
    }

    /// <summary>rdbcompression: LZF for strings longer than 20 bytes.</summary>
    public bool Compress { get; }

    /// <summary>rdbchecksum: when off the trailer is eight zero bytes, which loaders accept without checking.</summary>
    public bool ComputeChecksum { get; }

    /// <summary>Bytes written so far.</summary>
    public long Length => _flushed + _len;

    public ulong Checksum
    {
        get
        {
            if (ComputeChecksum && _len > 0) return Crc64.Update(_crc, _buf.AsSpan(0, _len));
            return _crc;
        }
    }

    public void Flush()
    {
        if (_len == 0) return;
        if (ComputeChecksum) _crc = Crc64.Update(_crc, _buf.AsSpan(0, _len));
        _stream.Write(_buf, 0, _len);
        _flushed += _len;
        _len = 0;
    }

    public void WriteByte(byte b)
    {
        if (_len == _buf.Length) Flush();
        _buf[_len++] = b;
    }

    public void WriteRaw(ReadOnlySpan<byte> data)
    {
        if (data.Length > _buf.Length - _len)
        {
            Flush();
            if (data.Length >= _buf.Length)
            {
                if (ComputeChecksum) _crc = Crc64.Update(_crc, data);
                _stream.Write(data);
                _flushed += data.Length;
                return;
            }
        }
        data.CopyTo(_buf.AsSpan(_len));
        _len += data.Length;
    }

    /// <summary>Valkey's rdbSaveLen: 6, 14, 32 or 64 bits depending on the value.</summary>
    public void WriteLength(ulong len)
    {
        Span<byte> b = stackalloc byte[9];
        WriteRaw(b.Slice(0, EncodeLength(len, b)));
    }

    public static int EncodeLength(ulong len, Span<byte> dest)
    {
        if (len < 1 << 6)
        {
            dest[0] = (byte)len;
            return 1;
        }
        if (len < 1 << 14)
        {
            dest[0] = (byte)((len >> 8) | (RdbFormat.Len14Bit << 6));
            dest[1] = (byte)len;
            return 2;
        }
        if (len <= uint.MaxValue)
        {
            dest[0] = RdbFormat.Len32Bit;
            BinaryPrimitives.WriteUInt32BigEndian(dest.Slice(1), (uint)len);
            return 5;
        }
        dest[0] = RdbFormat.Len64Bit;
        BinaryPrimitives.WriteUInt64BigEndian(dest.Slice(1), len);
        return 9;
    }

    /// <summary>
    /// Valkey's rdbEncodeInteger: the 2, 3 or 5 byte form of a value that fits 8, 16 or 32 signed
    /// bits; 0 when it does not.
    /// </summary>
    public static int EncodeInteger(long value, Span<byte> dest)
    {
        if (value >= sbyte.MinValue && value <= sbyte.MaxValue)
        {
            dest[0] = (RdbFormat.EncodedValue << 6) | RdbFormat.EncInt8;
            dest[1] = (byte)value;
            return 2;
        }
        if (value >= short.MinValue && value <= short.MaxValue)
        {
            dest[0] = (RdbFormat.EncodedValue << 6) | RdbFormat.EncInt16;
            BinaryPrimitives.WriteInt16LittleEndian(dest.Slice(1), (short)value);
            return 3;
        }
        if (value >= int.MinValue && value <= int.MaxValue)
        {
            dest[0] = (RdbFormat.EncodedValue << 6) | RdbFormat.EncInt32;
            BinaryPrimitives.WriteInt32LittleEndian(dest.Slice(1), (int)value);
            return 5;
        }
        return 0;
    }

    /// <summary>A string, in the most compact of its encodings.</summary>
    public void WriteString(ReadOnlySpan<byte> s)
    {
        if (s.Length <= 11 && NumberParser.TryParseLong(s, out long v))
        {
            Span<byte> enc = stackalloc byte[5];
            int n = EncodeInteger(v, enc);
            if (n > 0)
            {
                WriteRaw(enc.Slice(0, n));
                return;
            }
        }
        // Under 21 bytes LZF cannot win even on a run of one repeated byte.
        if (Compress && s.Length > 20 && TryWriteCompressed(s)) return;
        WriteLength((ulong)s.Length);
        WriteRaw(s);
    }

    /// <summary>An integer as a string (rdbSaveLongLongAsStringObject).</summary>
    public void WriteString(long value)
    {
        Span<byte> b = stackalloc byte[24];
        int n = EncodeInteger(value, b);
        if (n > 0)
        {
            WriteRaw(b.Slice(0, n));
            return;
        }
        n = NumberFormat.FormatLong(value, b);
        WriteLength((ulong)n);
        WriteRaw(b.Slice(0, n));
    }

    private bool TryWriteCompressed(ReadOnlySpan<byte> s)
    {
        // Worth it only when at least four bytes are saved.
        int room = s.Length - 4;
        byte[] rented = ArrayPool<byte>.Shared.Rent(room);
        try
        {
            int clen = Lzf.Compress(s, rented.AsSpan(0, room));
            if (clen == 0) return false;
            WriteLzfBlob(rented.AsSpan(0, clen), s.Length);
            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>An already compressed string: marker, compressed length, original length, data.</summary>
    public void WriteLzfBlob(ReadOnlySpan<byte> compressed, int originalLength)
    {
        WriteByte((RdbFormat.EncodedValue << 6) | RdbFormat.EncLzf);
        WriteLength((ulong)compressed.Length);
        WriteLength((ulong)originalLength);
        WriteRaw(compressed);
    }

    public void WriteMillisecondTime(long ms)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(b, ms);
        WriteRaw(b);
    }

    public void WriteSecondTime(int seconds)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, seconds);
        WriteRaw(b);
    }

    public void WriteBinaryDouble(double v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(b, v);
        WriteRaw(b);
    }

    public void WriteBinaryFloat(float v)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, v);
        WriteRaw(b);
    }

    /// <summary>The pre-RDB-8 text double (rdbSaveDoubleValue), for old-format sorted sets.</summary>
    public void WriteTextDouble(double v)
    {
        if (double.IsNaN(v))
        {
            WriteByte(253);
            return;
        }
        if (double.IsInfinity(v))
        {
            WriteByte(v < 0 ? (byte)255 : (byte)254);
            return;
        }
        Span<byte> b = stackalloc byte[40];
        int n = NumberFormat.FormatDouble(v, b.Slice(1));
        b[0] = (byte)n;
        WriteRaw(b.Slice(0, n + 1));
    }

    /// <summary>An AUX field (key and value strings).</summary>
    public void WriteAux(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        WriteByte(RdbFormat.OpAux);
        WriteString(key);
        WriteString(value);
    }

    /// <summary>The EOF opcode and the checksum of everything before it, then flushes.</summary>
    public void WriteEnd()
    {
        WriteByte(RdbFormat.OpEof);
        ulong crc = Checksum;
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, ComputeChecksum ? crc : 0);
        WriteRaw(b);
        Flush();
    }
}
