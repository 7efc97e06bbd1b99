using System.Buffers.Binary;
using System.Text;
using Kvasir.Persistence.Encodings;

namespace Kvasir.Tests.Persistence;

/// <summary>The listpack, ziplist, zipmap and intset blobs found inside RDB files.</summary>
public sealed class CompactEncodingTests
{
    private static List<string> ReadListpack(ReadOnlySpan<byte> blob, out bool valid)
    {
        var items = new List<string>();
        valid = ListpackReader.TryOpen(blob, out var r);
        if (!valid) return items;
        Span<byte> scratch = stackalloc byte[24];
        while (r.Next(out var e)) items.Add(Encoding.ASCII.GetString(e.AsSpan(scratch)));
        valid = r.IsValid;
        return items;
    }

    [Fact]
    public void ListpackRoundTripsEveryEntryEncoding()
    {
        var values = new List<string>
        {
            "0", "127", "128", "-1", "4095", "-4096", "4096", "-4097", "32767", "-32768", "32768",
            "8388607", "-8388608", "8388608", "2147483647", "-2147483648", "2147483648",
            long.MaxValue.ToString(), long.MinValue.ToString(), "9223372036854775808",
            "", "a", new string('s', 63), new string('m', 64), new string('m', 4095), new string('L', 4096), new string('X', 20000),
            "007", "-0", "+1", "1.5",
        };
        var b = new ListpackBuilder();
        foreach (var v in values) b.Append(Encoding.ASCII.GetBytes(v));
        var blob = b.Finish().ToArray();
        Assert.Equal(values.Count, BinaryPrimitives.ReadUInt16LittleEndian(blob.AsSpan(4)));
        Assert.Equal(values, ReadListpack(blob, out bool valid));
        Assert.True(valid);
        // Entry sizes agree with what the builder produced.
        long sum = 7;
        foreach (var v in values) sum += ListpackBuilder.EntrySize(Encoding.ASCII.GetBytes(v));
        Assert.Equal(blob.Length, sum);
    }

    [Fact]
    public void ListpackIntegersUseTheSmallestEncoding()
    {
        // As lpAppend: 7-bit immediate, 13-bit, then 16/24/32/64-bit.
        (long v, int size)[] cases = { (5, 2), (-5, 3), (1000, 3), (20000, 4), (-20000, 4), (5_000_000, 5), (1L << 40, 10) };
        foreach (var (v, size) in cases)
        {
            var b = new ListpackBuilder();
            b.AppendInteger(v);
            Assert.Equal(7 + size, b.Finish().Length);
            Assert.Equal(size, ListpackBuilder.EntrySize(v));
        }
    }

    [Fact]
    public void ListpackFromValkey()
    {
        // "hash" in a HASH_LISTPACK written by Valkey 8 (f1 v1 f2 v2 with an integer field 7).
        var blob = new byte[]
        {
            0x1b, 0, 0, 0, 5, 0, 0x82, (byte)'f', (byte)'1', 3, 0x82, (byte)'v', (byte)'1', 3, 0x82, (byte)'f', (byte)'2', 3,
            0x82, (byte)'v', (byte)'2', 3, 0x07, 1, 0xff,
        };
        BinaryPrimitives.WriteUInt32LittleEndian(blob, (uint)blob.Length);
        Assert.Equal(new[] { "f1", "v1", "f2", "v2", "7" }, ReadListpack(blob, out bool valid));
        Assert.True(valid);
    }

    [Fact]
    public void ListpackDamageIsDetected()
    {
        var b = new ListpackBuilder();
        b.Append("hello"u8);
        b.Append("12345"u8);
        b.Append(Encoding.ASCII.GetBytes(new string('x', 100)));
        var good = b.Finish().ToArray();

        ReadListpack(good, out bool valid);
        Assert.True(valid);

        var badTotal = (byte[])good.Clone();
        badTotal[0]++;
        Assert.False(ListpackReader.TryOpen(badTotal, out _));

        var badCount = (byte[])good.Clone();
        badCount[4] = 2;
        ReadListpack(badCount, out valid);
        Assert.False(valid);

        var unknownCount = (byte[])good.Clone();
        unknownCount[4] = 0xFF;
        unknownCount[5] = 0xFF;
        Assert.Equal(3, ReadListpack(unknownCount, out valid).Count);
        Assert.True(valid);

        var badBacklen = (byte[])good.Clone();
        badBacklen[6 + 6] = 9; // back-length of "hello" (6 bytes) made wrong
        ReadListpack(badBacklen, out valid);
        Assert.False(valid);

        var badEncoding = (byte[])good.Clone();
        badEncoding[6] = 0xF7;
        ReadListpack(badEncoding, out valid);
        Assert.False(valid);

        var longString = (byte[])good.Clone();
        longString[6] = 0x80 | 60; // "hello" claims 60 bytes
        ReadListpack(longString, out valid);
        Assert.False(valid);

        var early = (byte[])good.Clone();
        early[6] = 0xFF; // terminator before the end
        ReadListpack(early, out valid);
        Assert.False(valid);
    }

    /// <summary>Builds a ziplist the way Redis wrote them (for the decoder tests).</summary>
    private static byte[] Ziplist(params object[] entries)
    {
        var body = new List<byte>();
        int prev = 0, lastStart = 10;
        foreach (var e in entries)
        {
            var entry = new List<byte>();
            if (prev < 254) entry.Add((byte)prev);
            else
            {
                entry.Add(254);
                entry.AddRange(BitConverter.GetBytes(prev));
            }
            switch (e)
            {
                case string s:
                    var bytes = Encoding.ASCII.GetBytes(s);
                    if (bytes.Length < 64) entry.Add((byte)bytes.Length);
                    else if (bytes.Length < 16384) { entry.Add((byte)(0x40 | (bytes.Length >> 8))); entry.Add((byte)bytes.Length); }
                    else { entry.Add(0x80); entry.AddRange(new[] { (byte)(bytes.Length >> 24), (byte)(bytes.Length >> 16), (byte)(bytes.Length >> 8), (byte)bytes.Length }); }
                    entry.AddRange(bytes);
                    break;
                case long v when v >= 0 && v <= 12:
                    entry.Add((byte)(0xF1 + v));
                    break;
                case long v when v >= sbyte.MinValue && v <= sbyte.MaxValue:
                    entry.Add(0xFE);
                    entry.Add((byte)v);
                    break;
                case long v when v >= short.MinValue && v <= short.MaxValue:
                    entry.Add(0xC0);
                    entry.AddRange(BitConverter.GetBytes((short)v));
                    break;
                case long v when v >= -8388608 && v <= 8388607:
                    entry.Add(0xF0);
                    entry.AddRange(BitConverter.GetBytes((int)v).AsSpan(0, 3).ToArray());
                    break;
                case long v when v >= int.MinValue && v <= int.MaxValue:
                    entry.Add(0xD0);
                    entry.AddRange(BitConverter.GetBytes((int)v));
                    break;
                case long v:
                    entry.Add(0xE0);
                    entry.AddRange(BitConverter.GetBytes(v));
                    break;
            }
            lastStart = 10 + body.Count;
            body.AddRange(entry);
            prev = entry.Count;
        }
        var zl = new byte[10 + body.Count + 1];
        BinaryPrimitives.WriteUInt32LittleEndian(zl, (uint)zl.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(zl.AsSpan(4), (uint)(entries.Length == 0 ? 10 : lastStart));
        BinaryPrimitives.WriteUInt16LittleEndian(zl.AsSpan(8), (ushort)entries.Length);
        body.CopyTo(zl, 10);
        zl[^1] = 0xFF;
        return zl;
    }

    private static List<string> ReadZiplist(ReadOnlySpan<byte> blob, out bool valid)
    {
        var items = new List<string>();
        valid = ZiplistReader.TryOpen(blob, out var r);
        if (!valid) return items;
        Span<byte> scratch = stackalloc byte[24];
        while (r.Next(out var e)) items.Add(Encoding.ASCII.GetString(e.AsSpan(scratch)));
        valid = r.IsValid;
        return items;
    }

    [Fact]
    public void ZiplistDecodesEveryEntryEncoding()
    {
        var entries = new object[]
        {
            0L, 12L, 13L, -1L, -128L, 1000L, -32768L, 100000L, -8388608L, 2147483647L, -2147483648L, 1L << 40, long.MinValue,
            "a", new string('b', 63), new string('c', 300), new string('d', 20000), "",
        };
        var zl = Ziplist(entries);
        var expected = entries.Select(e => e is long l ? l.ToString() : (string)e).ToList();
        Assert.Equal(expected, ReadZiplist(zl, out bool valid));
        Assert.True(valid);
    }

    [Fact]
    public void ZiplistFromRedis()
    {
        // "hash" of tests/assets/hash-ziplist.rdb: f1 v1 f2 v2.
        var blob = new byte[]
        {
            0x1b, 0, 0, 0, 0x16, 0, 0, 0, 4, 0, 0, 2, (byte)'f', (byte)'1', 4, 2, (byte)'v', (byte)'1', 4, 2, (byte)'f', (byte)'2',
            4, 2, (byte)'v', (byte)'2', 0xff,
        };
        Assert.Equal(new[] { "f1", "v1", "f2", "v2" }, ReadZiplist(blob, out bool valid));
        Assert.True(valid);
    }

    [Fact]
    public void ZiplistDamageIsDetected()
    {
        var good = Ziplist("one", 2L, "three");
        ReadZiplist(good, out bool valid);
        Assert.True(valid);

        var badPrev = (byte[])good.Clone();
        badPrev[10 + 5] = 3; // prevlen of the second entry (first is 5 bytes)
        ReadZiplist(badPrev, out valid);
        Assert.False(valid);

        var badTail = (byte[])good.Clone();
        badTail[4] = 10;
        ReadZiplist(badTail, out valid);
        Assert.False(valid);

        var badCount = (byte[])good.Clone();
        badCount[8] = 4;
        ReadZiplist(badCount, out valid);
        Assert.False(valid);

        var badEncoding = (byte[])good.Clone();
        badEncoding[10 + 5 + 1] = 0xC5; // not an integer encoding
        ReadZiplist(badEncoding, out valid);
        Assert.False(valid);

        var tooLong = (byte[])good.Clone();
        tooLong[11] = 50; // "one" claims 50 bytes
        ReadZiplist(tooLong, out valid);
        Assert.False(valid);
    }

    [Fact]
    public void ZipmapDecodes()
    {
        // "hash" of tests/assets/hash-zipmap.rdb.
        var zm = new byte[] { 2, 2, (byte)'f', (byte)'1', 2, 0, (byte)'v', (byte)'1', 2, (byte)'f', (byte)'2', 2, 0, (byte)'v', (byte)'2', 0xff };
        Assert.True(ZipmapReader.TryOpen(zm, out var r));
        var pairs = new List<string>();
        while (r.Next(out var f, out var v)) pairs.Add(Encoding.ASCII.GetString(f) + "=" + Encoding.ASCII.GetString(v));
        Assert.True(r.IsValid);
        Assert.Equal(new[] { "f1=v1", "f2=v2" }, pairs);

        // Free bytes after a value are skipped; a 5-byte length works.
        var withFree = new List<byte> { 254, 1, (byte)'k', 254 };
        withFree.AddRange(BitConverter.GetBytes(3));
        withFree.AddRange(new byte[] { 2, (byte)'a', (byte)'b', (byte)'c', 0, 0, 0xff });
        Assert.True(ZipmapReader.TryOpen(withFree.ToArray(), out r));
        Assert.True(r.Next(out var field, out var value));
        Assert.Equal("k", Encoding.ASCII.GetString(field));
        Assert.Equal("abc", Encoding.ASCII.GetString(value));
        Assert.False(r.Next(out _, out _));
        Assert.True(r.IsValid);

        // Wrong count, empty map, overrun.
        var wrongCount = (byte[])zm.Clone();
        wrongCount[0] = 3;
        Assert.True(ZipmapReader.TryOpen(wrongCount, out r));
        while (r.Next(out _, out _)) { }
        Assert.False(r.IsValid);
        Assert.True(ZipmapReader.TryOpen(new byte[] { 0, 0xff }, out r));
        Assert.False(r.Next(out _, out _));
        Assert.False(r.IsValid);
        var overrun = (byte[])zm.Clone();
        overrun[1] = 40;
        Assert.True(ZipmapReader.TryOpen(overrun, out r));
        while (r.Next(out _, out _)) { }
        Assert.False(r.IsValid);
    }

    [Fact]
    public void IntsetRoundTripsAndValidates()
    {
        foreach (var values in new[] { new long[] { 1, 2, 3 }, new long[] { -40000, 5, 100000 }, new long[] { long.MinValue, 0, long.MaxValue } })
        {
            var blob = IntsetBlob.Build(values);
            Assert.Equal(values.Length, IntsetBlob.Validate(blob));
            for (int i = 0; i < values.Length; i++) Assert.Equal(values[i], IntsetBlob.Get(blob, i));
        }
        Assert.Equal(2u, BinaryPrimitives.ReadUInt32LittleEndian(IntsetBlob.Build(new long[] { 1, 2 })));
        Assert.Equal(4u, BinaryPrimitives.ReadUInt32LittleEndian(IntsetBlob.Build(new long[] { 1, 70000 })));
        Assert.Equal(8u, BinaryPrimitives.ReadUInt32LittleEndian(IntsetBlob.Build(new long[] { 1L << 33 })));

        var unordered = IntsetBlob.Build(new long[] { 1, 2, 3 });
        BinaryPrimitives.WriteInt16LittleEndian(unordered.AsSpan(8), 5);
        Assert.Equal(-1, IntsetBlob.Validate(unordered));
        Assert.Equal(3, IntsetBlob.Validate(unordered, deep: false));
        var empty = new byte[8];
        empty[0] = 2;
        Assert.Equal(-1, IntsetBlob.Validate(empty));
        var badWidth = IntsetBlob.Build(new long[] { 1 });
        badWidth[0] = 3;
        Assert.Equal(-1, IntsetBlob.Validate(badWidth));
        Assert.Equal(-1, IntsetBlob.Validate(IntsetBlob.Build(new long[] { 1, 2 }).AsSpan(0, 10)));
    }
}
