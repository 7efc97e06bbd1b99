using System.Text;
using Kvasir.Persistence;
using Kvasir.Persistence.Encodings;

namespace Kvasir.Tests.Persistence;

/// <summary>CRC-64, LZF and the RDB length/string/number encodings.</summary>
public sealed class FormatPrimitiveTests
{
    [Fact]
    public void Crc64MatchesValkeysTestVector()
    {
        // Valkey's crc64 self-test: "123456789" -> e9c6d914c4b8d9ca.
        Assert.Equal(0xe9c6d914c4b8d9caUL, Crc64.Compute("123456789"u8));
        Assert.Equal(0UL, Crc64.Compute(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Crc64IsTheSameWhateverTheChunking()
    {
        var data = new byte[10_000];
        new Random(7).NextBytes(data);
        ulong whole = Crc64.Compute(data);
        var rnd = new Random(11);
        for (int round = 0; round < 20; round++)
        {
            ulong crc = 0;
            int pos = 0;
            while (pos < data.Length)
            {
                int n = Math.Min(rnd.Next(0, 40), data.Length - pos);
                crc = Crc64.Update(crc, data.AsSpan(pos, n));
                pos += n;
            }
            Assert.Equal(whole, crc);
        }
    }

    [Fact]
    public void Crc64OfValkeysLongerVector()
    {
        // Valkey's crc64 unit test also checks this sentence, with its C string terminator.
        var li = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna " +
                 "aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. " +
                 "Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur " +
                 "sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.\0";
        Assert.Equal(0xc7794709e69683b3UL, Crc64.Compute(Encoding.ASCII.GetBytes(li)));
    }

    public static TheoryData<int, int> LzfCases => new()
    {
        { 21, 0 }, { 100, 0 }, { 1000, 1 }, { 5000, 2 }, { 70_000, 3 }, { 300_000, 1 }, { 96, 4 }, { 64, 4 },
    };

    [Theory]
    [MemberData(nameof(LzfCases))]
    public void LzfRoundTrips(int size, int kind)
    {
        var rnd = new Random(size * 31 + kind);
        var data = new byte[size];
        switch (kind)
        {
            case 0: Array.Fill(data, (byte)'a'); break;
            case 1:
                for (int i = 0; i < size; i++) data[i] = (byte)"abcabdabeabf"[i % 12];
                break;
            case 2:
                for (int i = 0; i < size; i++) data[i] = (byte)(rnd.Next(4) + 'a');
                break;
            case 3:
                // Text-like: words from a small vocabulary, so matches come at all distances.
                var words = new[] { "alpha ", "beta ", "gamma ", "delta ", "epsilon " };
                var sb = new StringBuilder();
                while (sb.Length < size) sb.Append(words[rnd.Next(words.Length)]);
                Encoding.ASCII.GetBytes(sb.ToString(0, size), data);
                break;
            default:
                // Runs that end exactly on literal-run boundaries.
                for (int i = 0; i < size; i++) data[i] = (byte)(i < 32 ? i : 'z');
                break;
        }
        var compressed = new byte[size];
        int clen = Lzf.Compress(data, compressed);
        Assert.True(clen > 0 && clen < size, $"compressed {size} to {clen}");
        var back = new byte[size];
        Assert.Equal(size, Lzf.Decompress(compressed.AsSpan(0, clen), back));
        Assert.Equal(data, back);
    }

    [Fact]
    public void LzfRefusesWhenTheOutputDoesNotFit()
    {
        var data = new byte[1000];
        new Random(3).NextBytes(data);
        Assert.Equal(0, Lzf.Compress(data, new byte[996]));
    }

    [Fact]
    public void LzfRandomDataRoundTripsWhenThereIsRoom()
    {
        var rnd = new Random(5);
        for (int size = 1; size < 600; size += 7)
        {
            var data = new byte[size];
            rnd.NextBytes(data);
            for (int i = 0; i < size; i++) if (rnd.Next(3) == 0) data[i] = 0;
            var compressed = new byte[size * 2 + 16];
            int clen = Lzf.Compress(data, compressed);
            Assert.True(clen > 0);
            var back = new byte[size];
            Assert.Equal(size, Lzf.Decompress(compressed.AsSpan(0, clen), back));
            Assert.Equal(data, back);
        }
    }

    [Fact]
    public void LzfDecompressRejectsBadInput()
    {
        var output = new byte[100];
        // A back reference before the start of the output.
        Assert.Equal(-1, Lzf.Decompress(new byte[] { 0x20, 0x05 }, output));
        // A literal run longer than the input.
        Assert.Equal(-1, Lzf.Decompress(new byte[] { 0x05, (byte)'a' }, output));
        // Output too small.
        Assert.Equal(-1, Lzf.Decompress(new byte[] { 0x03, 1, 2, 3, 4 }, new byte[3]));
        // A reference missing its offset byte.
        Assert.Equal(-1, Lzf.Decompress(new byte[] { 0x00, (byte)'a', 0x20 }, output));
    }

    [Fact]
    public void LzfDecodesValkeysOutput()
    {
        // The "compressible" string of tests/assets/encodings.rdb: 130 'a' compressed by Redis.
        var compressed = new byte[] { 0x01, 0x61, 0x61, 0xe0, 0x7c, 0x00, 0x01, 0x61, 0x61 };
        var output = new byte[0x89];
        Assert.Equal(0x89, Lzf.Decompress(compressed, output));
        Assert.All(output, b => Assert.Equal((byte)'a', b));
    }

    [Theory]
    [InlineData(0UL, 1)]
    [InlineData(63UL, 1)]
    [InlineData(64UL, 2)]
    [InlineData(16383UL, 2)]
    [InlineData(16384UL, 5)]
    [InlineData(4294967295UL, 5)]
    [InlineData(4294967296UL, 9)]
    [InlineData(ulong.MaxValue, 9)]
    public void LengthsRoundTripInTheirSmallestForm(ulong value, int size)
    {
        var ms = new MemoryStream();
        var output = new RdbOutput(ms);
        output.WriteLength(value);
        output.Flush();
        Assert.Equal(size, ms.Length);
        ms.Position = 0;
        var input = new RdbInput(ms);
        Assert.Equal(value, input.ReadLength(out bool encoded));
        Assert.False(encoded);
    }

    [Theory]
    [InlineData("0", 2)]
    [InlineData("-128", 2)]
    [InlineData("127", 2)]
    [InlineData("128", 3)]
    [InlineData("-32768", 3)]
    [InlineData("32768", 5)]
    [InlineData("-2147483648", 5)]
    [InlineData("2147483648", 11)]      // does not fit 32 bits: stored as text
    [InlineData("007", 4)]              // not canonical: stored as text
    [InlineData("-0", 3)]
    [InlineData("hello", 6)]
    [InlineData("", 1)]
    public void StringsUseTheIntegerEncodingOnlyForCanonicalSmallIntegers(string text, int size)
    {
        var ms = new MemoryStream();
        var output = new RdbOutput(ms);
        output.WriteString(Encoding.ASCII.GetBytes(text));
        output.Flush();
        Assert.Equal(size, ms.Length);
        ms.Position = 0;
        Assert.Equal(text, Encoding.ASCII.GetString(new RdbInput(ms).ReadString()));
    }

    [Fact]
    public void LongStringsAreCompressedWhenThatSavesSpace()
    {
        var text = new string('x', 200) + "tail";
        var ms = new MemoryStream();
        var output = new RdbOutput(ms, compress: true);
        output.WriteString(Encoding.ASCII.GetBytes(text));
        output.Flush();
        Assert.True(ms.Length < 30);
        Assert.Equal(0xC3, ms.ToArray()[0]);
        ms.Position = 0;
        Assert.Equal(text, Encoding.ASCII.GetString(new RdbInput(ms).ReadString()));

        var plain = new MemoryStream();
        var noCompress = new RdbOutput(plain, compress: false);
        noCompress.WriteString(Encoding.ASCII.GetBytes(text));
        noCompress.Flush();
        Assert.Equal(2 + text.Length, plain.Length);
    }

    [Fact]
    public void NumbersAndTimesRoundTrip()
    {
        var ms = new MemoryStream();
        var output = new RdbOutput(ms);
        output.WriteBinaryDouble(3.25);
        output.WriteBinaryFloat(-1.5f);
        output.WriteTextDouble(1.5);
        output.WriteTextDouble(double.PositiveInfinity);
        output.WriteTextDouble(double.NegativeInfinity);
        output.WriteTextDouble(double.NaN);
        output.WriteTextDouble(-12);
        output.WriteMillisecondTime(1_700_000_000_123);
        output.WriteSecondTime(1_700_000_000);
        output.WriteString(long.MinValue);
        output.Flush();
        ms.Position = 0;
        var input = new RdbInput(ms);
        Assert.Equal(3.25, input.ReadBinaryDouble());
        Assert.Equal(-1.5f, input.ReadBinaryFloat());
        Assert.Equal(1.5, input.ReadTextDouble());
        Assert.Equal(double.PositiveInfinity, input.ReadTextDouble());
        Assert.Equal(double.NegativeInfinity, input.ReadTextDouble());
        Assert.True(double.IsNaN(input.ReadTextDouble()));
        Assert.Equal(-12, input.ReadTextDouble());
        Assert.Equal(1_700_000_000_123, input.ReadMillisecondTime());
        Assert.Equal(1_700_000_000, input.ReadSecondTime());
        Assert.Equal(long.MinValue.ToString(), Encoding.ASCII.GetString(input.ReadString()));
        Assert.Equal(-1, input.TryReadByte());
    }

    [Fact]
    public void ChecksumCoversEverythingConsumed()
    {
        var ms = new MemoryStream();
        var output = new RdbOutput(ms);
        var big = new byte[200_000];
        new Random(1).NextBytes(big);
        output.WriteString("abc"u8);
        output.WriteRaw(big);
        output.WriteLength(12345);
        ulong written = output.Checksum;
        output.Flush();
        Assert.Equal(Crc64.Compute(ms.ToArray()), written);
        ms.Position = 0;
        var input = new RdbInput(ms);
        input.ReadString();
        var back = new byte[big.Length];
        input.ReadExactly(back);
        input.ReadLength();
        Assert.Equal(written, input.Checksum);
        Assert.Equal(ms.Length, input.Offset);
    }

    [Fact]
    public void ShortReadsAndBadEncodingsAreReported()
    {
        var e = Assert.Throws<RdbException>(() => new RdbInput(new MemoryStream(new byte[] { 0x05, 1, 2 })).ReadString());
        Assert.Equal("Unexpected EOF reading RDB file", e.Message);
        Assert.False(e.IsCorruption);
        e = Assert.Throws<RdbException>(() => new RdbInput(new MemoryStream(new byte[] { 0xC7 })).ReadString());
        Assert.Equal("Unknown RDB string encoding type 7", e.Message);
        e = Assert.Throws<RdbException>(() => new RdbInput(new MemoryStream(new byte[] { 0x82 })).ReadLength());
        Assert.Equal("Unknown length encoding 2 in rdbLoadLen()", e.Message);
        // A claimed length of 4 GB must fail as a short read, not allocate it.
        e = Assert.Throws<RdbException>(() => new RdbInput(new MemoryStream(new byte[] { 0x80, 0x7F, 0xFF, 0xFF, 0xFF, 1 })).ReadString());
        Assert.False(e.IsCorruption);
        // LZF whose decompressed size is a lie.
        e = Assert.Throws<RdbException>(() => new RdbInput(new MemoryStream(new byte[] { 0xC3, 0x02, 0x05, 0x01, (byte)'a', (byte)'b' })).ReadString());
        Assert.Equal("Invalid LZF compressed string", e.Message);
    }

    [Fact]
    public void ModuleTypeNamesDecodeLikeValkey()
    {
        // A module type id is nine 6-bit characters over a 10-bit encoding version.
        const string charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        ulong id = 0;
        foreach (char c in "ReJSON-RL") id = (id << 6) | (uint)charset.IndexOf(c);
        id = (id << 10) | 3;
        Assert.Equal("ReJSON-RL", RdbFormat.ModuleTypeName(id));
    }
}
