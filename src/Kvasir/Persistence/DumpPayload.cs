using System.Buffers.Binary;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Persistence;

/// <summary>
/// The DUMP / RESTORE / MIGRATE serialization of one value, as Valkey's createDumpPayload and
/// verifyDumpPayload lay it out: the value exactly as an RDB file stores it (type byte, then the
/// body), then the RDB version as two little-endian bytes, then the CRC-64 (Jones) of everything
/// before it, little endian. A payload from any Valkey or Redis with an RDB version up to 11, or
/// Valkey 9's 80, is accepted (the versions of Redis 7.4 on are not).
/// </summary>
public static class DumpPayload
{
    private const int FooterLength = 10;

    /// <summary>Serializes the value of the key at <paramref name="idx"/>.</summary>
    public static byte[] Create(Database db, int idx, RdbWriteOptions options)
    {
        var ms = new MemoryStream();
        bool isString = db.TypeAt(idx) == DataType.String;
        // A string's encoding is at most a few bytes longer than the string itself.
        int bufferSize = isString ? (int)Math.Clamp(db.StringAt(idx).Length + 16L, 64, RdbOutput.BufferSize) : 4096;
        var output = new RdbOutput(ms, options.Compress, checksum: false, bufferSize);
        int version = RdbFormat.Version;
        if (isString)
        {
            output.WriteByte((byte)RdbType.String);
            output.WriteString(db.StringAt(idx));
        }
        else
        {
            var value = db.ObjectAt(idx)!;
            var writer = new RdbWriter(output, options);
            var type = writer.TypeOf(value);
            // Field TTLs need Valkey 9's type, which only a reader of version 80 knows.
            if (type == RdbType.Hash2) version = RdbFormat.FieldTtlVersion;
            output.WriteByte((byte)type);
            writer.WriteValue(value);
        }
        output.Flush();
        int body = (int)ms.Length;
        var payload = new byte[body + FooterLength];
        ms.GetBuffer().AsSpan(0, body).CopyTo(payload);
        // The footer names the format the body is in: 11 unless the value needs 80.
        BinaryPrimitives.WriteUInt16LittleEndian(payload.AsSpan(body), (ushort)version);
        ulong crc = Crc64.Update(0, payload.AsSpan(0, body + 2));
        BinaryPrimitives.WriteUInt64LittleEndian(payload.AsSpan(body + 2), crc);
        return payload;
    }

    /// <summary>
    /// verifyDumpPayload: long enough for the footer, an RDB version this server reads, and (unless
    /// <paramref name="skipChecksum"/>, DEBUG SET-SKIP-CHECKSUM-VALIDATION) a matching CRC.
    /// </summary>
    public static bool Verify(ReadOnlySpan<byte> payload, bool skipChecksum)
    {
        if (payload.Length < FooterLength) return false;
        var footer = payload.Slice(payload.Length - FooterLength);
        int version = BinaryPrimitives.ReadUInt16LittleEndian(footer);
        if (version > RdbFormat.Version && version != RdbFormat.FieldTtlVersion) return false;
        if (skipChecksum) return true;
        ulong crc = Crc64.Update(0, payload.Slice(0, payload.Length - 8));
        return crc == BinaryPrimitives.ReadUInt64LittleEndian(footer.Slice(2));
    }

    /// <summary>
    /// The value a verified payload holds: byte[] for a string or an <see cref="IDataValue"/>; null when
    /// the payload is damaged or holds an empty collection ("Bad data format").
    /// </summary>
    public static object? Load(byte[] payload, IValueFactory values, ReadOnlySpan<byte> key) => Load(payload, values, key, out _);

    /// <summary><see cref="Load(byte[], IValueFactory, ReadOnlySpan{byte})"/>, with what was wrong (Valkey's rdbReportCorruptRDB text) when refused.</summary>
    public static object? Load(byte[] payload, IValueFactory values, ReadOnlySpan<byte> key, out string? error)
    {
        error = null;
        using var body = new MemoryStream(payload, 0, payload.Length - FooterLength, writable: false);
        try
        {
            var value = new RdbLoader(Array.Empty<Database>(), new RdbLoadOptions { Values = values }).LoadValue(body, key);
            if (value is null) error = "empty collection";
            return value;
        }
        catch (RdbException e)
        {
            error = $"{e.Message} (payload offset {body.Position})";
            return null;
        }
    }
}
