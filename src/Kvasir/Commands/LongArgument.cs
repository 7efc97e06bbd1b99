using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>Valkey's getRangeLongFromObjectOrReply / getPositiveLongFromObjectOrReply for handlers.</summary>
public static class LongArgument
{
    /// <summary>
    /// Parses argument <paramref name="index"/> as an integer in [<paramref name="min"/>, <paramref name="max"/>].
    /// On failure replies <c>ERR message</c> when a message is given (for a non-number too, as Valkey does),
    /// else Valkey's generic errors.
    /// </summary>
    public static bool TryGetInRange(this CommandContext ctx, int index, long min, long max, string? message, out long value)
    {
        if (!NumberParser.TryParseLong(ctx.Args[index], out value))
        {
            ctx.Error(message is null ? "ERR value is not an integer or out of range" : "ERR " + message);
            return false;
        }
        if (value < min || value > max)
        {
            ctx.Error(message is null ? $"ERR value is out of range, value must between {min} and {max}" : "ERR " + message);
            return false;
        }
        return true;
    }

    /// <summary>A non-negative integer; the error is "value is out of range, must be positive" unless a message is given.</summary>
    public static bool TryGetNonNegative(this CommandContext ctx, int index, string? message, out long value) =>
        TryGetInRange(ctx, index, 0, long.MaxValue, message ?? "value is out of range, must be positive", out value);

    /// <summary>
    /// The "count [WITHSCORES|WITHVALUES]" arguments of ZRANDMEMBER and HRANDFIELD (argument 2 on),
    /// with Valkey's checks: the count within ±LONG_MAX, and within half that range when pairs are
    /// returned (the reply then holds twice as many elements).
    /// </summary>
    public static bool TryGetRandomCount(this CommandContext ctx, ReadOnlySpan<byte> withKeyword, out long count, out bool withPairs)
    {
        withPairs = false;
        if (!TryGetInRange(ctx, 2, -long.MaxValue, long.MaxValue, null, out count)) return false;
        var args = ctx.Args;
        if (args.Count > 4 || (args.Count == 4 && !args.Is(3, withKeyword)))
        {
            ctx.SyntaxError();
            return false;
        }
        if (args.Count == 4)
        {
            withPairs = true;
            if (count < -long.MaxValue / 2 || count > long.MaxValue / 2)
            {
                ctx.Error("ERR value is out of range");
                return false;
            }
        }
        return true;
    }
}
