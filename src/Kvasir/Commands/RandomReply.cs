using Kvasir.Protocol;

namespace Kvasir.Commands;

/// <summary>The reply shape of HRANDFIELD and ZRANDMEMBER with a count, shared by both.</summary>
internal static class RandomReply
{
    /// <summary>
    /// Valkey's cases: a negative count (or 1) picks with repetition, exactly |count| times; a count
    /// at least the size returns everything; otherwise that many distinct elements. With pairs
    /// (WITHVALUES, WITHSCORES) RESP2 gets a flat array and RESP3 one two-element array per pick,
    /// which the emitters write. <paramref name="size"/> 0 (no key) or a count of 0 is an empty array.
    /// </summary>
    public static void WithCount(ReplyWriter reply, long requested, bool pairs, long size,
        Action<long> withRepetition, Action all, Action<long> distinct)
    {
        if (size == 0 || requested == 0)
        {
            reply.WriteArray(0);
            return;
        }
        bool flat = pairs && !reply.IsResp3;
        long count = requested > 0 ? requested : -requested;
        if (requested < 0 || count == 1)
        {
            reply.WriteArray(flat ? count * 2 : count);
            withRepetition(count);
            return;
        }
        long replySize = Math.Min(count, size);
        reply.WriteArray(flat ? replySize * 2 : replySize);
        if (count >= size) all();
        else distinct(count);
    }
}
