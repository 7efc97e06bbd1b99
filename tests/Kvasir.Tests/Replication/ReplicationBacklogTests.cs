using System.Text;
using Kvasir.Replication;

namespace Kvasir.Tests.Replication;

/// <summary>
/// The shared replication buffer: offsets, the backlog's trimming to its configured size, cursors
/// holding older blocks (the history then grows past the size and shrinks back when they go), and
/// a sender reading while the stream is appended.
/// </summary>
public sealed class ReplicationBacklogTests
{
    private static byte[] Bytes(int n, byte fill) => Enumerable.Repeat(fill, n).ToArray();

    private static byte[] ReadAll(StreamCursor cursor, long end)
    {
        var ms = new MemoryStream();
        while (cursor.TryGetPending(end, out var seg))
        {
            ms.Write(seg.Span);
            cursor.Advance(seg.Length);
        }
        return ms.ToArray();
    }

    [Fact]
    public void OffsetsFollowTheStream()
    {
        var b = new ReplicationBacklog(1 << 20, 100);
        Assert.Equal(0, b.HistoryLength);
        Assert.Equal(101, b.FirstByteOffset);
        Assert.True(b.Covers(101));
        Assert.False(b.Covers(100));
        b.Append("hello"u8);
        Assert.Equal(105, b.EndOffset);
        Assert.Equal(5, b.HistoryLength);
        Assert.Equal(101, b.FirstByteOffset);
        var copy = new StringBuilder();
        Assert.Equal(3, b.CopyFrom(103, m => copy.Append(Encoding.ASCII.GetString(m.Span))));
        Assert.Equal("llo", copy.ToString());
    }

    [Fact]
    public void WithoutReadersTheHistoryStaysNearItsSize()
    {
        var b = new ReplicationBacklog(64 * 1024, 0);
        for (int i = 0; i < 100; i++) b.Append(Bytes(10_000, (byte)i));
        Assert.Equal(1_000_000, b.EndOffset);
        Assert.InRange(b.HistoryLength, 64 * 1024, 64 * 1024 + ReplicationBacklog.BlockSize);
        Assert.InRange(b.AllocatedBytes, 64 * 1024, 64 * 1024 + 3 * ReplicationBacklog.BlockSize);
        // The newest bytes are the ones kept.
        var tail = new MemoryStream();
        b.CopyFrom(b.EndOffset - 9_999, m => tail.Write(m.Span));
        Assert.Equal(Bytes(10_000, 99), tail.ToArray());
    }

    [Fact]
    public void ACursorHoldsItsBlocksUntilItMovesOnOrCloses()
    {
        var b = new ReplicationBacklog(16 * 1024, 0);
        var slow = b.OpenCursor(1);
        for (int i = 0; i < 100; i++) b.Append(Bytes(10_000, (byte)i));
        // Everything since the slow reader's position is still there: a reconnecting replica could use it.
        Assert.Equal(1_000_000, b.HistoryLength);
        Assert.True(b.Covers(1));
        Assert.Equal(1_000_000, slow.Pending);

        var read = ReadAll(slow, 500_000);
        Assert.Equal(500_000, read.Length);
        Assert.Equal(500_001, slow.Offset);
        b.Trim();
        Assert.InRange(b.FirstByteOffset, 500_001 - ReplicationBacklog.BlockSize, 500_001);

        slow.Close();
        Assert.InRange(b.HistoryLength, 16 * 1024, 16 * 1024 + ReplicationBacklog.BlockSize);
    }

    [Fact]
    public void ACursorReadsExactlyTheStreamFromItsOffset()
    {
        var b = new ReplicationBacklog(1 << 20, 0);
        var all = new MemoryStream();
        var rnd = new Random(7);
        for (int i = 0; i < 300; i++)
        {
            var chunk = new byte[rnd.Next(1, 40_000)];
            rnd.NextBytes(chunk);
            b.Append(chunk);
            all.Write(chunk);
        }
        long from = b.FirstByteOffset + 12_345;
        var cursor = b.OpenCursor(from);
        var read = ReadAll(cursor, b.EndOffset);
        Assert.Equal(all.ToArray().AsSpan((int)(from - 1)).ToArray(), read);
        Assert.Equal(0, cursor.Pending);
    }

    [Fact]
    public void ASenderReadsWhileTheStreamGrows()
    {
        var b = new ReplicationBacklog(16 * 1024, 0);
        var cursor = b.OpenCursor(1);
        var gate = new object();
        const int Chunks = 2_000;
        var expected = new MemoryStream();
        var received = new MemoryStream();
        long end = 0;
        var writer = Task.Run(() =>
        {
            var rnd = new Random(11);
            for (int i = 0; i < Chunks; i++)
            {
                var chunk = new byte[rnd.Next(1, 3_000)];
                rnd.NextBytes(chunk);
                lock (gate)
                {
                    b.Append(chunk);
                    expected.Write(chunk);
                    Volatile.Write(ref end, b.EndOffset);
                }
            }
        });
        var reader = Task.Run(() =>
        {
            while (!writer.IsCompleted || cursor.Offset <= Volatile.Read(ref end))
            {
                long upTo = Volatile.Read(ref end);
                while (cursor.TryGetPending(upTo, out var seg))
                {
                    received.Write(seg.Span);
                    cursor.Advance(seg.Length);
                }
            }
        });
        Assert.True(Task.WaitAll([writer, reader], TimeSpan.FromSeconds(30)));
        Assert.Equal(expected.ToArray(), received.ToArray());
    }

    [Fact]
    public void ABigWriteSpansBlocksTheBacklogCanLetGoOf()
    {
        // A 1 MB value into a 16 KB backlog: only about the backlog's size of it stays, so a replica
        // that fell behind by the whole value cannot continue (it would fall behind again).
        var b = new ReplicationBacklog(16 * 1024, 0);
        b.Append(Bytes(1 << 20, 1));
        Assert.InRange(b.HistoryLength, 16 * 1024, 16 * 1024 + ReplicationBacklog.BlockSize);
        Assert.False(b.Covers(1));
        // With a big backlog a big write stays whole.
        var big = new ReplicationBacklog(64 << 20, 0);
        big.Append(Bytes(1 << 20, 1));
        Assert.Equal(1 << 20, big.HistoryLength);
    }

    [Fact]
    public void ResizeAndRebase()
    {
        var b = new ReplicationBacklog(1 << 20, 0);
        for (int i = 0; i < 64; i++) b.Append(Bytes(10_000, 3));
        Assert.Equal(640_000, b.HistoryLength);
        b.Resize(32 * 1024);
        Assert.InRange(b.HistoryLength, 32 * 1024, 32 * 1024 + ReplicationBacklog.BlockSize);
        long first = b.FirstByteOffset;
        var cursor = b.OpenCursor(first + 10);
        b.Rebase(1000);
        Assert.Equal(641_000, b.EndOffset);
        Assert.Equal(first + 1000, b.FirstByteOffset);
        Assert.Equal(first + 1010, cursor.Offset);
        Assert.Equal(b.EndOffset - cursor.Offset + 1, cursor.Pending);
    }
}
