using Kvasir.Keyspace;

namespace Kvasir.Persistence;

/// <summary>
/// How a point-in-time snapshot (<see cref="BackgroundSave"/>) is serialized: an RDB file (BGSAVE,
/// the RDB-preamble base of an AOF) or a list of commands (the base of an AOF with
/// <c>aof-use-rdb-preamble no</c>). Pieces are produced under the data lock and may come in any
/// database order, so every segment names its database itself.
/// </summary>
internal abstract class SnapshotFormat
{
    /// <summary>What precedes the keys (caller holds the data lock).</summary>
    public abstract byte[] Header();

    /// <summary>The given keys of one database as they are now (caller holds the data lock).</summary>
    public abstract byte[] Segment(Database db, ReadOnlySpan<int> keys, bool firstOfDb, long keysAtStart, long expiresAtStart);

    /// <summary>Where the pieces go, in order, and what closes the file.</summary>
    public abstract ISnapshotSink Open(Stream file);
}

internal interface ISnapshotSink
{
    void Write(byte[] piece);

    /// <summary>Closing bytes (RDB: EOF and checksum), flushed to the stream.</summary>
    void End();
}

/// <summary>The RDB layout: header with aux fields, SELECTDB (+ RESIZEDB once per database) per piece, EOF and CRC.</summary>
internal sealed class RdbSnapshotFormat(RdbWriteOptions options) : SnapshotFormat
{
    public override byte[] Header()
    {
        var ms = new MemoryStream();
        var w = new RdbWriter(new RdbOutput(ms, options.Compress, checksum: false), options);
        w.WriteHeader();
        w.Output.Flush();
        return ms.ToArray();
    }

    // One writer for all of a snapshot's segments (they are made one at a time, under the data
    // lock): a writer per 32-key segment would allocate its 64 KB buffer tens of thousands of times.
    private readonly MemoryStream _segment = new();
    private RdbWriter? _segmentWriter;

    public override byte[] Segment(Database db, ReadOnlySpan<int> keys, bool firstOfDb, long keysAtStart, long expiresAtStart)
    {
        var w = _segmentWriter ??= new RdbWriter(new RdbOutput(_segment, options.Compress, checksum: false), options);
        _segment.SetLength(0);
        if (firstOfDb) w.WriteSelectDb(db.Index, keysAtStart, expiresAtStart);
        else w.WriteSelectDb(db.Index);
        foreach (int idx in keys) w.WriteKey(db, idx);
        w.Output.Flush();
        return _segment.ToArray();
    }

    public override ISnapshotSink Open(Stream file) => new Sink(new RdbOutput(file, options.Compress, options.Checksum));

    private sealed class Sink(RdbOutput output) : ISnapshotSink
    {
        public void Write(byte[] piece) => output.WriteRaw(piece);
        public void End() => output.WriteEnd();
    }
}
