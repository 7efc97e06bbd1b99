namespace Kvasir.Persistence;

/// <summary>
/// An RDB payload that cannot be loaded. <see cref="IsCorruption"/> separates damaged content
/// (Valkey's rdbReportCorruptRDB) from a stream that simply ended early (rdbReportReadError), which
/// matters to a replica loading from a socket. The message is the reason as Valkey words it, e.g.
/// "Hash ziplist integrity check failed.".
/// </summary>
public sealed class RdbException : Exception
{
    public RdbException(string message, bool isCorruption = true, bool reported = true) : base(message)
    {
        IsCorruption = isCorruption;
        Reported = reported;
    }

    public bool IsCorruption { get; }

    /// <summary>
    /// True for the failures Valkey reports as "Internal error in RDB reading offset ..." (damaged
    /// or truncated content); false for those it logs as they are (wrong signature, unsupported
    /// version, too many databases, duplicated key).
    /// </summary>
    public bool Reported { get; }

    /// <summary>Byte offset in the payload where the problem was detected, when known.</summary>
    public long Offset { get; internal set; } = -1;

    /// <summary>Key being read when the error happened, when known.</summary>
    public string? Key { get; internal set; }

    /// <summary>Object type id being read when the error happened, or -1.</summary>
    public int TypeId { get; internal set; } = -1;

    internal static RdbException UnexpectedEof() => new("Unexpected EOF reading RDB file", isCorruption: false);
}
