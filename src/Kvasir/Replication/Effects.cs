using Kvasir.Commands;
using Kvasir.Types;

namespace Kvasir.Replication;

/// <summary>Building blocks of replayable effects (DESIGN §6): absolute times, explicit deletions.</summary>
public static class Effects
{
    public static readonly byte[] Set = "SET"u8.ToArray();
    public static readonly byte[] PxAt = "PXAT"u8.ToArray();
    public static readonly byte[] KeepTtl = "KEEPTTL"u8.ToArray();
    public static readonly byte[] PExpireAt = "PEXPIREAT"u8.ToArray();
    public static readonly byte[] Persist = "PERSIST"u8.ToArray();
    public static readonly byte[] Del = "DEL"u8.ToArray();
    public static readonly byte[] Unlink = "UNLINK"u8.ToArray();

    /// <summary>A key removed because its new expire time was already past: UNLINK, or DEL without lazy expire (as Valkey).</summary>
    public static byte[][] ExpiredOverwrite(CommandContext ctx, ReadOnlySpan<byte> key) =>
        new[] { ctx.Server.Config.LazyfreeLazyExpire ? Unlink : Del, key.ToArray() };

    /// <summary>SET key value PXAT ms: how a SET with a relative or second-based expire is replayed.</summary>
    public static byte[][] SetWithAbsoluteExpire(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long whenMs) =>
        new[] { Set, key.ToArray(), value.ToArray(), PxAt, NumberFormat.LongToBytes(whenMs) };

    public static byte[][] ExpireAt(ReadOnlySpan<byte> key, long whenMs) =>
        new[] { PExpireAt, key.ToArray(), NumberFormat.LongToBytes(whenMs) };
}
