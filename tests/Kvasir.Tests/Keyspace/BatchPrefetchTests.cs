using System.Text;
using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Keyspace;

/// <summary>
/// A pipelined batch starts loading its keys, and the members its commands look up in big sets,
/// hashes and sorted sets, before running them (Connection.PrefetchKeys): only hints, so every
/// reply must be exactly what the commands one by one would answer, whatever the batch mixes.
/// </summary>
public sealed class BatchPrefetchTests
{
    [Fact]
    public async Task PipelinedMemberCommandsOnBigCollectionsAnswerAsOneByOne()
    {
        await using var server = await TestServer.StartAsync(("save", ""));
        await using var c = await server.ConnectAsync();
        // Big enough for the hashtable / skiplist encodings, whose lookups are prefetched.
        for (int i = 0; i < 300; i++)
        {
            await c.CallAsync("SADD", "s", "m" + i);
            await c.CallAsync("HSET", "h", "f" + i, "v" + i);
            await c.CallAsync("ZADD", "z", i, "m" + i);
        }
        var batch = new MemoryStream();
        var expected = new List<string>();
        void Add(string reply, params object[] args)
        {
            batch.Write(RespClient.Encode(args));
            expected.Add(reply);
        }
        for (int i = 250; i < 350; i++)
        {
            Add(i < 300 ? "0" : "1", "SADD", "s", "m" + i);
            Add(i < 300 ? "0" : "1", "HSET", "h", "f" + i, "w" + i);
            Add(i < 300 ? i.ToString() : "", "ZSCORE", "z", "m" + i);
            Add(i % 2 == 0 ? "1" : "0", "SISMEMBER", "s", "m" + (i % 2 == 0 ? i : i + 1000));
            Add("", "HGET", "x-missing-key-" + i, "f" + i); // a key that is not there: nil
            Add("1", "HDEL", "h", "f" + i);
            Add(i < 300 ? "1" : "0", "ZREM", "z", "m" + i);
            Add("OK", "SET", "str" + i, "v");
            Add("ERR", "HGET", "str" + i, "f"); // wrong type: the prefetch must not mind
        }
        await c.SendRawAsync(batch.ToArray());
        for (int k = 0; k < expected.Count; k++)
        {
            var reply = await c.ReadAsync();
            string text = reply.IsNull ? "" : reply.ToString()!;
            string want = expected[k];
            if (want == "ERR") Assert.StartsWith("WRONGTYPE", text);
            else Assert.Equal(want, text);
        }
        Assert.Equal("250", (await c.CallAsync("HLEN", "h")).ToString());
        Assert.Equal("250", (await c.CallAsync("ZCARD", "z")).ToString());
        Assert.Equal("350", (await c.CallAsync("SCARD", "s")).ToString());
    }
}
