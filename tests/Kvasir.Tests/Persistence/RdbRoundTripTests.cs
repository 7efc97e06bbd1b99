using System.Text;
using Kvasir.Config;
using Kvasir.Keyspace;
using Kvasir.Persistence;
using Kvasir.Types;

namespace Kvasir.Tests.Persistence;

/// <summary>Snapshots written by <see cref="RdbWriter"/> read back by <see cref="RdbLoader"/> unchanged.</summary>
public sealed class RdbRoundTripTests
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    /// <summary>A data set with every type in every encoding, expires, binary keys and values, several databases.</summary>
    private static void Populate(RdbTestKit kit, int seed)
    {
        var rnd = new Random(seed);
        var cfg = kit.Config;
        var listLimits = new ListLimits(cfg.ListMaxListpackSize);
        string Word(int max) => new string((char)('a' + rnd.Next(26)), rnd.Next(1, max));
        byte[] Member(int i) => rnd.Next(4) switch
        {
            0 => B(i.ToString()),
            1 => B((-i * 1000003L).ToString()),
            2 => B("m" + i + Word(10)),
            _ => B(i + ".5"),
        };

        var db0 = kit.Databases[0];
        db0.SetString(B("plain"), B("hello"));
        db0.SetString(B("int"), B("12345"));
        db0.SetString(B("negative"), B("-9223372036854775808"));
        db0.SetString(B("empty"), Array.Empty<byte>());
        db0.SetString(B("long"), Encoding.ASCII.GetBytes(new string('z', 100_000)));
        var binary = new byte[300];
        rnd.NextBytes(binary);
        db0.SetString(binary.AsSpan(0, 20), binary);
        int idx = db0.SetString(B("volatile"), B("soon"));
        db0.SetExpireAt(idx, kit.Keyspace.NowMs + 3_600_000);

        // Lists: small (listpack), large (quicklist), with integers and a big element.
        foreach (var (name, n, big) in new[] { ("list:small", 5, false), ("list:large", 3000, false), ("list:big", 10, true) })
        {
            var list = new ListValue();
            for (int i = 0; i < n; i++)
            {
                var item = i % 3 == 0 ? B(i.ToString()) : B(Word(30));
                list.ConvertForGrowth(listLimits, item.Length, 1);
                list.Push(item, head: false, listLimits);
            }
            if (big)
            {
                list.ConvertForGrowth(listLimits, 20000, 1);
                list.Push(Encoding.ASCII.GetBytes(new string('L', 20000)), head: false, listLimits);
            }
            db0.AddObject(B(name), list);
        }

        // Sets: intset, listpack, hashtable, and an intset too big for listpack.
        var limits = cfg.SetLimits;
        void AddSet(string name, IEnumerable<byte[]> members, SetValue s)
        {
            foreach (var m in members) s.Add(m, limits);
            kit.Databases[1].AddObject(B(name), s);
        }
        AddSet("set:ints", Enumerable.Range(0, 50).Select(i => B((i * 7 - 100).ToString())), SetValue.NewIntset());
        AddSet("set:wide-ints", new[] { B("1"), B("70000"), B("-5000000000") }, SetValue.NewIntset());
        AddSet("set:small", Enumerable.Range(0, 20).Select(i => B("s" + i)), SetValue.NewListpack());
        AddSet("set:large", Enumerable.Range(0, 500).Select(Member), SetValue.NewListpack());

        // Hashes: listpack and hashtable (by count and by value length).
        var h1 = new HashValue();
        for (int i = 0; i < 10; i++) h1.Set(B("f" + i), i % 2 == 0 ? B(i.ToString()) : B(Word(20)), cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue);
        kit.Databases[2].AddObject(B("hash:small"), h1);
        var h2 = new HashValue();
        for (int i = 0; i < 1000; i++) h2.Set(B("field:" + i), B(Word(50)), cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue);
        kit.Databases[2].AddObject(B("hash:large"), h2);
        var h3 = new HashValue();
        h3.Set(B("a"), Encoding.ASCII.GetBytes(new string('v', 100)), cfg.HashMaxListpackEntries, cfg.HashMaxListpackValue);
        kit.Databases[2].AddObject(B("hash:longvalue"), h3);

        // Sorted sets: listpack and skiplist, with odd scores.
        var z1 = new SortedSetValue();
        double[] odd = { 0, -0.0, 1.5, -2.25, 1e20, 3.0000000000000004, double.PositiveInfinity, double.NegativeInfinity, 12345678901234, 0.1 };
        for (int i = 0; i < odd.Length; i++) z1.Add(odd[i], B("z" + i), ZAddFlags.None, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue, out _);
        kit.Databases[3].AddObject(B("zset:small"), z1);
        var z2 = SortedSetValue.Create(1000, 10, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue);
        for (int i = 0; i < 1000; i++) z2.Add(rnd.NextDouble() * 1000 - 500, B("member:" + i), ZAddFlags.None, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue, out _);
        int zi = kit.Databases[3].AddObject(B("zset:large"), z2);
        kit.Databases[3].SetExpireAt(zi, kit.Keyspace.NowMs + 86_400_000);

        kit.Databases[15].SetString(B("last-db"), B("x"));
    }

    public static TheoryData<int, bool, bool> Variants => new()
    {
        { 11, true, true }, { 11, false, true }, { 11, true, false }, { 10, true, true },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void EverythingRoundTrips(int version, bool compress, bool checksum)
    {
        var kit = new RdbTestKit();
        Populate(kit, 42);
        var file = kit.Save(new RdbWriteOptions { Version = version, Compress = compress, Checksum = checksum });
        Assert.Equal($"REDIS{version:D4}", Encoding.ASCII.GetString(file, 0, 9));

        var copy = new RdbTestKit();
        var result = copy.Load(file);
        Assert.Equal(version, result.Version);
        // RDB 10 has no listpack sets: they are written as plain sets and come back as listpacks anyway.
        var expected = kit.Dump();
        Assert.Equal(expected, copy.Dump());
        Assert.Equal(kit.Databases.Sum(d => d.Count), result.KeysLoaded);
        if (!checksum) Assert.True(copy.Logged("RDB file was saved with checksum disabled: no check performed."));
    }

    /// <summary>A list that only enumerates its elements (no chunks): the writer groups them itself.</summary>
    private sealed class FlatList(params string[] items) : IDataValue, IElementSource
    {
        public DataType Type => DataType.List;
        public ValueEncoding Encoding => ValueEncoding.Quicklist;
        public long MemoryUsage => 100;
        public long ElementCount => items.Length;

        public void VisitElements(IElementVisitor visitor)
        {
            foreach (var i in items) visitor.Element(B(i));
        }
    }

    [Fact]
    public void ListsKeepTheirChunksAndPlainNodes()
    {
        var big = new string('P', 150);
        var limits = new ListLimits(-2, PackedThreshold: 100);
        var kit = new RdbTestKit();
        var list = new ListValue();
        list.ConvertForGrowth(limits, long.MaxValue / 4, 1); // a quicklist from the start
        foreach (var item in new[] { "a", "b", big, "c" }) list.Push(B(item), head: false, limits);
        Assert.Equal(ValueEncoding.Quicklist, list.Encoding);
        Assert.Equal(3, list.NodeCount);
        kit.Databases[0].AddObject(B("chunked"), list);
        kit.Databases[0].AddObject(B("flat"), new FlatList("x", big, "y", "z"));
        var file = kit.Save(new RdbWriteOptions { ListPackedThreshold = 100, Compress = false });

        // chunked: 3 nodes (packed, plain, packed); flat: grouped by the writer the same way.
        int at = IndexOf(file, B("chunked")) + 7;
        Assert.Equal(new byte[] { 3, RdbFormat.QuicklistNodePacked }, file[at..(at + 2)]);
        at = IndexOf(file, B("flat")) + 4;
        Assert.Equal(new byte[] { 3, RdbFormat.QuicklistNodePacked }, file[at..(at + 2)]);
        Assert.Equal(2, CountOf(file, new byte[] { RdbFormat.QuicklistNodePlain, 0x40, 150 }));

        var copy = new RdbTestKit();
        copy.Load(file);
        Assert.Equal(new[]
        {
            $"db0 chunked list quicklist: a b {big} c",
            $"db0 flat list quicklist: x {big} y z",
        }, copy.Dump());
    }

    private static int IndexOf(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle);

    private static int CountOf(byte[] haystack, byte[] needle)
    {
        int n = 0;
        for (int i = haystack.AsSpan().IndexOf(needle); i >= 0; i = haystack.AsSpan(i + 1).IndexOf(needle) is var j && j >= 0 ? i + 1 + j : -1) n++;
        return n;
    }

    [Fact]
    public void CompressionMakesRepetitiveDataSmaller()
    {
        var kit = new RdbTestKit();
        Populate(kit, 1);
        int compressed = kit.Save(new RdbWriteOptions { Compress = true }).Length;
        int plain = kit.Save(new RdbWriteOptions { Compress = false }).Length;
        Assert.True(compressed < plain - 90_000, $"{compressed} vs {plain}");
    }

    [Fact]
    public void LayoutFollowsValkey()
    {
        var kit = new RdbTestKit();
        kit.Databases[0].SetString(B("k"), B("v"));
        var file = kit.Save();
        var text = Encoding.ASCII.GetString(file);
        Assert.StartsWith("REDIS0011", text);
        int ver = text.IndexOf("valkey-ver", StringComparison.Ordinal);
        Assert.True(ver > 0 && text.IndexOf("redis-bits", StringComparison.Ordinal) > ver);
        Assert.Contains("ctime", text);
        Assert.Contains("used-mem", text);
        Assert.Contains("aof-base", text);
        // ... SELECTDB 0, RESIZEDB 1 0, string "k" = "v", EOF, 8-byte CRC.
        Assert.Equal(new byte[] { 0xFE, 0, 0xFB, 1, 0, 0, 1, (byte)'k', 1, (byte)'v', 0xFF }, file[^19..^8]);
        Assert.Equal(Crc64.Compute(file.AsSpan(0, file.Length - 8)), BitConverter.ToUInt64(file, file.Length - 8));
    }

    [Fact]
    public void ExpiredKeysAreDroppedOnlyWhenAskedTo()
    {
        var kit = new RdbTestKit();
        int a = kit.Databases[0].SetString(B("gone"), B("1"));
        kit.Databases[0].SetExpireAt(a, kit.Keyspace.NowMs - 1000);
        int b = kit.Databases[0].SetString(B("alive"), B("2"));
        kit.Databases[0].SetExpireAt(b, kit.Keyspace.NowMs + 100_000);
        var file = kit.Save();

        var primary = new RdbTestKit();
        var r = primary.Load(file);
        Assert.Equal(1, r.KeysLoaded);
        Assert.Equal(1, r.KeysExpired);
        Assert.True(primary.Logged("Done loading RDB, keys loaded: 1, keys expired: 1."));
        Assert.Equal(new[] { $"db0 alive string int expire={kit.Keyspace.NowMs + 100_000}: 2" }, primary.Dump());

        var replica = new RdbTestKit();
        r = replica.Load(file, replica.Options(dropExpired: false));
        Assert.Equal(2, r.KeysLoaded);
        Assert.Equal(0, r.KeysExpired);
    }

    [Fact]
    public void SecondPrecisionExpiresOfOldFilesAreRead()
    {
        // RDB 1/2 stored expires as 32-bit seconds (opcode 253).
        var ms = new MemoryStream();
        var o = new RdbOutput(ms, compress: false, checksum: false);
        o.WriteRaw("REDIS0002"u8);
        o.WriteByte(RdbFormat.OpSelectDb);
        o.WriteLength(0);
        o.WriteByte(RdbFormat.OpExpireTime);
        o.WriteSecondTime(2_000_000_000);
        o.WriteByte(0);
        o.WriteString("k"u8);
        o.WriteString("v"u8);
        o.WriteByte(RdbFormat.OpEof);   // no checksum before RDB 5
        o.Flush();
        var kit = new RdbTestKit();
        kit.Load(ms.ToArray());
        Assert.Equal(new[] { "db0 k string embstr expire=2000000000000: v" }, kit.Dump());
    }

    [Fact]
    public void IdleTimeAndFrequencyFollowThePolicy()
    {
        var lruConfig = new ServerConfig();
        var kit = new RdbTestKit(lruConfig);
        int idx = kit.Databases[0].SetString(B("k"), B("v"));
        kit.Databases[0].SetLruAt(idx, kit.Keyspace.LruClock - 1000);
        var withIdle = kit.Save(new RdbWriteOptions { SaveLruIdle = true });
        Assert.Contains(RdbFormat.OpIdle, withIdle);

        var copy = new RdbTestKit();
        copy.Load(withIdle);
        int back = copy.Databases[0].FindRaw(B("k"));
        long idle = Kvasir.Commands.KeyCommands.IdleSeconds(copy.Databases[0].LruAt(back), copy.Keyspace);
        Assert.InRange(idle, 999, 1002);

        // Under an LFU policy the counter comes back.
        var lfu = new RdbTestKit();
        lfu.Keyspace.UseLfu = true;
        int l = lfu.Databases[0].SetString(B("k"), B("v"));
        lfu.Databases[0].SetLruAt(l, (Lfu.MinutesNow(lfu.Keyspace) << 8) | 77);
        var withFreq = lfu.Save(new RdbWriteOptions { SaveLfuFrequency = true });
        var lfuCopy = new RdbTestKit();
        lfuCopy.Keyspace.UseLfu = true;
        lfuCopy.Load(withFreq);
        Assert.Equal(77u, lfuCopy.Databases[0].LruAt(lfuCopy.Databases[0].FindRaw(B("k"))) & 0xFF);
    }

    [Fact]
    public void FunctionLibrariesAreKeptAsGiven()
    {
        var kit = new RdbTestKit();
        var code = B("#!lua name=mylib\nserver.register_function('f', function() return 1 end)");
        var file = kit.Save(new RdbWriteOptions { FunctionLibraries = new[] { code } });
        var copy = new RdbTestKit();
        var r = copy.Load(file);
        Assert.Single(r.FunctionLibraries);
        Assert.Equal(code, r.FunctionLibraries[0]);
    }

    [Fact]
    public void ChecksumMismatchIsRefused()
    {
        var kit = new RdbTestKit();
        kit.Databases[0].SetString(B("key"), B("value"));
        var file = kit.Save();
        file[^1] ^= 0x40;
        var copy = new RdbTestKit();
        var e = Assert.Throws<RdbException>(() => copy.Load(file));
        Assert.Equal("RDB CRC error", e.Message);
        Assert.True(copy.Logged("Wrong RDB checksum expected: ("));
        // With checking off the same file loads.
        var lenient = new RdbTestKit();
        lenient.Load(file, lenient.Options(verifyChecksum: false));
        Assert.Single(lenient.Dump());
    }

    [Fact]
    public void HeaderErrorsUseValkeysWords()
    {
        var kit = new RdbTestKit();
        Assert.Equal("Wrong signature trying to load DB from file", Assert.Throws<RdbException>(() => kit.Load(B("RUBBISH0011\xff"))).Message);
        Assert.Equal("Can't handle RDB format version 12", Assert.Throws<RdbException>(() => kit.Load(B("REDIS0012"))).Message);
        Assert.Equal("Can't handle RDB format version 0", Assert.Throws<RdbException>(() => kit.Load(B("REDISxxxx"))).Message);
        Assert.False(Assert.Throws<RdbException>(() => kit.Load(B("REDIS0011"))).IsCorruption);
    }

    [Fact]
    public void DatabaseNumbersBeyondTheConfiguredCountAreFatal()
    {
        var big = new RdbTestKit(databases: 32);
        big.Databases[20].SetString(B("k"), B("v"));
        var file = big.Save();
        var small = new RdbTestKit(databases: 16);
        var e = Assert.Throws<RdbException>(() => small.Load(file));
        Assert.Equal("FATAL: Data file was created with a Valkey server configured to handle more than 16 databases. Exiting\n", e.Message);
    }

    [Fact]
    public void DuplicateKeysAreRefusedUnlessAllowed()
    {
        var ms = new MemoryStream();
        var o = new RdbOutput(ms);
        o.WriteRaw("REDIS0011"u8);
        for (int i = 0; i < 2; i++)
        {
            o.WriteByte(0);
            o.WriteString("dup"u8);
            o.WriteString(i == 0 ? "first"u8 : "second"u8);
        }
        o.WriteEnd();
        var kit = new RdbTestKit();
        Assert.Equal("Duplicated key found in RDB file", Assert.Throws<RdbException>(() => kit.Load(ms.ToArray())).Message);
        Assert.True(kit.Logged("RDB has duplicated key 'dup' in DB 0"));
        var allow = new RdbTestKit();
        allow.Load(ms.ToArray(), new RdbLoadOptions { Values = new ServerValueFactory(allow.Config), AllowDuplicateKeys = true });
        Assert.Equal(new[] { "db0 dup string embstr: second" }, allow.Dump());
    }

    [Fact]
    public void ModulesDamagedStreamsAndDuplicatesInCollectionsAreRefused()
    {
        byte[] File(Action<RdbOutput> body)
        {
            var ms = new MemoryStream();
            var o = new RdbOutput(ms);
            o.WriteRaw("REDIS0011"u8);
            body(o);
            o.WriteEnd();
            return ms.ToArray();
        }
        var kit = new RdbTestKit();
        var module = File(o =>
        {
            o.WriteByte((byte)RdbType.Module2);
            o.WriteString("k"u8);
            o.WriteLength((1UL << 10) * 12345);
        });
        Assert.StartsWith("The RDB file contains module data I can't load: no matching module type '", Assert.Throws<RdbException>(() => kit.Load(module)).Message);
        var moduleAux = File(o =>
        {
            o.WriteByte(RdbFormat.OpModuleAux);
            o.WriteLength(1UL << 10);
            o.WriteLength(2);
            o.WriteLength(1);
        });
        Assert.StartsWith("The RDB file contains AUX module data I can't load: no matching module '", Assert.Throws<RdbException>(() => kit.Load(moduleAux)).Message);
        var stream = File(o =>
        {
            o.WriteByte((byte)RdbType.StreamListpacks3);
            o.WriteString("s"u8);
            o.WriteLength(1);
            o.WriteString("short-key"u8);
        });
        Assert.Contains("Stream node key entry is not the size of a stream ID", Assert.Throws<RdbException>(() => kit.Load(stream)).Message);
        var badNode = File(o =>
        {
            o.WriteByte((byte)RdbType.StreamListpacks3);
            o.WriteString("s"u8);
            o.WriteLength(1);
            o.WriteString(new byte[16]);
            o.WriteString(new byte[] { 7, 0, 0, 0, 0, 0, 0xFF });
        });
        Assert.Contains("Stream listpack integrity check failed.", Assert.Throws<RdbException>(() => kit.Load(badNode)).Message);
        var dupSet = File(o =>
        {
            o.WriteByte((byte)RdbType.Set);
            o.WriteString("s"u8);
            o.WriteLength(2);
            o.WriteString("a"u8);
            o.WriteString("a"u8);
        });
        Assert.Equal("Duplicate set members detected", Assert.Throws<RdbException>(() => kit.Load(dupSet)).Message);
        var nanScore = File(o =>
        {
            o.WriteByte((byte)RdbType.ZSet2);
            o.WriteString("z"u8);
            o.WriteLength(1);
            o.WriteString("a"u8);
            o.WriteBinaryDouble(double.NaN);
        });
        Assert.Equal("Zset with NAN score detected", Assert.Throws<RdbException>(() => kit.Load(nanScore)).Message);
        var badContainer = File(o =>
        {
            o.WriteByte((byte)RdbType.ListQuicklist2);
            o.WriteString("l"u8);
            o.WriteLength(1);
            o.WriteLength(3);
        });
        Assert.Equal("Quicklist integrity check failed.", Assert.Throws<RdbException>(() => kit.Load(badContainer)).Message);
        Assert.Equal("Pre-release function format not supported.", Assert.Throws<RdbException>(() => kit.Load(File(o => o.WriteByte(RdbFormat.OpFunctionPreGa)))).Message);
    }

    [Fact]
    public void DamagedFilesFailCleanly()
    {
        // Seeded random damage: every outcome must be a clean load or an RdbException, never
        // another exception, a hang or a huge allocation.
        var kit = new RdbTestKit();
        Populate(kit, 7);
        // Keep the keys of every kind but drop the big ones, so many rounds stay cheap.
        foreach (var name in new[] { "long", "list:large", "set:large", "hash:large", "zset:large" })
            foreach (var db in kit.Databases) db.Delete(B(name));
        var good = kit.Save(new RdbWriteOptions { Checksum = false });
        var rnd = new Random(12345);
        for (int round = 0; round < 500; round++)
        {
            var bad = (byte[])good.Clone();
            int edits = rnd.Next(1, 6);
            for (int i = 0; i < edits; i++) bad[rnd.Next(9, bad.Length)] = (byte)rnd.Next(256);
            if (rnd.Next(4) == 0) Array.Resize(ref bad, rnd.Next(9, bad.Length));
            var target = new RdbTestKit();
            try
            {
                target.Load(bad);
            }
            catch (RdbException)
            {
            }
        }
    }
}
