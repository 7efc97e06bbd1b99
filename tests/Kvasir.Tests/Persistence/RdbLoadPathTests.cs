using System.Text;
using Kvasir.Keyspace;
using Kvasir.Persistence;

namespace Kvasir.Tests.Persistence;

/// <summary>
/// The loader's fast paths: strings read through reused buffers straight into their key blob,
/// RESIZEDB sizing the tables, one hash per key for the duplicate check and the insert.
/// </summary>
public class RdbLoadPathTests
{
    /// <summary>REDIS0011, then <paramref name="body"/>, EOF and a zero checksum ("saved with checksum disabled").</summary>
    private static byte[] File(params byte[][] body)
    {
        var ms = new MemoryStream();
        ms.Write("REDIS0011"u8);
        foreach (var b in body) ms.Write(b);
        ms.WriteByte(RdbFormat.OpEof);
        ms.Write(new byte[8]);
        return ms.ToArray();
    }

    private static byte[] StringKey(string key, string value)
    {
        var k = Encoding.ASCII.GetBytes(key);
        var v = Encoding.ASCII.GetBytes(value);
        return [0, (byte)k.Length, .. k, (byte)v.Length, .. v];
    }

    private static string Value(Database db, string key)
    {
        int idx = db.FindRaw(Encoding.ASCII.GetBytes(key));
        Assert.True(idx >= 0, $"{key} missing");
        return Encoding.ASCII.GetString(db.StringAt(idx));
    }

    [Fact]
    public void AnAbsurdResizeDbHintIsIgnored()
    {
        // 0xFFFFFFFF keys announced by a 3-key file: no table of that size, the keys load.
        byte[] resize = [RdbFormat.OpResizeDb, RdbFormat.Len32Bit, 0xFF, 0xFF, 0xFF, 0xFF, 1];
        var kit = new RdbTestKit();
        var result = kit.Load(File(resize, StringKey("a", "1"), StringKey("b", "2"), StringKey("c", "3")));
        Assert.Equal(3, result.KeysLoaded);
        Assert.Equal("2", Value(kit.Databases[0], "b"));
    }

    [Fact]
    public void APlausibleResizeDbHintStillRefusesDuplicates()
    {
        var kit = new RdbTestKit();
        var e = Assert.Throws<RdbException>(() => kit.Load(File([RdbFormat.OpResizeDb, 2, 0], StringKey("a", "1"), StringKey("a", "2"))));
        Assert.Equal("Duplicated key found in RDB file", e.Message);
        Assert.True(kit.Logged("RDB has duplicated key 'a' in DB 0"));
    }

    [Fact]
    public void DuplicatesReplaceWhenAllowedKeepingTheLastValue()
    {
        var kit = new RdbTestKit();
        var options = new RdbLoadOptions { Values = new ServerValueFactory(kit.Config), AllowDuplicateKeys = true, NowMs = kit.Keyspace.NowMs };
        var result = new RdbLoader(kit.Databases, options).Load(new MemoryStream(File(StringKey("a", "1"), StringKey("a", "2"))));
        Assert.Equal(2, result.KeysLoaded);
        Assert.Equal(1, kit.Databases[0].Count);
        Assert.Equal("2", Value(kit.Databases[0], "a"));
    }

    [Fact]
    public void StringsOfEverySizeAndEncodingSurviveTheReusedBuffers()
    {
        // Sizes around the loader's buffers (256 for keys, 4096 for values) and past the 1 MB
        // direct-allocation limit, compressed and not, plus integer encodings: each key must keep its
        // own bytes although they all went through the same buffers.
        var kit = new RdbTestKit();
        var db = kit.Databases[0];
        var rnd = new Random(7);
        var expected = new Dictionary<string, byte[]>();
        int[] sizes = [0, 1, 20, 255, 256, 257, 4095, 4096, 4097, 70_000, (1 << 20) + 3];
        foreach (int size in sizes)
        {
            foreach (bool repetitive in new[] { false, true })
            {
                var value = new byte[size];
                if (repetitive) Array.Fill(value, (byte)'x');
                else rnd.NextBytes(value);
                string key = new string('k', Math.Min(size, 300)) + $":{size}:{repetitive}";
                db.SetString(Encoding.ASCII.GetBytes(key), value);
                expected[key] = value;
            }
        }
        foreach (var n in new[] { "-5", "127", "-32768", "40000", "2147483647", "-2147483648", "12345678901" })
        {
            db.SetString(Encoding.ASCII.GetBytes("int:" + n), Encoding.ASCII.GetBytes(n));
            expected["int:" + n] = Encoding.ASCII.GetBytes(n);
        }
        foreach (bool compress in new[] { true, false })
        {
            var file = kit.Save(new RdbWriteOptions { Compress = compress });
            var copy = new RdbTestKit();
            copy.Load(file);
            Assert.Equal(expected.Count, copy.Databases[0].Count);
            foreach (var (key, value) in expected)
            {
                int idx = copy.Databases[0].FindRaw(Encoding.ASCII.GetBytes(key));
                Assert.True(idx >= 0, key);
                Assert.True(value.AsSpan().SequenceEqual(copy.Databases[0].StringAt(idx)), key);
            }
        }
    }
}
