using System.Text;
using Kvasir.Keyspace;

namespace Kvasir.Tests.Keyspace;

public sealed class ItemStoreTests
{
    private static byte[] B(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void SizeClassesCoverEveryLengthWithTheSmallestClassThatFits()
    {
        int previous = 0;
        for (int length = 1; length <= ItemStore.MaxSlabBlob; length++)
        {
            int cls = ItemStore.ClassOf(length);
            int size = ItemStore.ClassSize(cls);
            Assert.True(size >= length, $"length {length}: class {cls} holds only {size}");
            Assert.True(cls == 0 || ItemStore.ClassSize(cls - 1) < length, $"length {length} fits class {cls - 1}");
            Assert.True(size >= previous);
            previous = size;
        }
        Assert.Equal(8, ItemStore.SlotBytes(1));
        Assert.Equal(128, ItemStore.SlotBytes(128));
        Assert.Equal(160, ItemStore.SlotBytes(129));
        Assert.Equal(2048, ItemStore.SlotBytes(2048));
        Assert.Equal(31, ItemStore.ClassOf(2048));
    }

    [Fact]
    public void BlobsKeepTheirKeyValueAndHeader()
    {
        var ctx = new KeyspaceContext();
        var store = new ItemStore(ctx);
        long a = store.NewBlob(B("key:1"), B("value"), 123, isVolatile: true);
        long big = store.NewBlob(B("key:2"), new byte[5000], 7, isVolatile: false);
        Assert.False(ItemStore.IsObject(a));
        Assert.True(ItemStore.IsObject(big));
        Assert.Equal("key:1", Encoding.ASCII.GetString(store.KeyOf(a)));
        Assert.True(store.TryGetBlob(a, out var blob));
        Assert.Equal("value", Encoding.ASCII.GetString(KeyBlob.Value(blob)));
        Assert.Equal(123u, KeyBlob.GetLru(blob));
        Assert.True(KeyBlob.IsVolatile(blob));
        Assert.Equal("key:2", Encoding.ASCII.GetString(store.KeyOf(big)));
    }

    [Fact]
    public void AFreedSlotIsReusedOnlyFromTheNextEpoch()
    {
        var ctx = new KeyspaceContext();
        var store = new ItemStore(ctx);
        long a = store.NewBlob(B("a"), B("1234567890"), 0, false);
        store.Free(a);
        // Same command: the freed bytes stay as they were and a new key gets another slot.
        Assert.Equal("1234567890", Encoding.ASCII.GetString(KeyBlob.Value(store.Blob(a))));
        long b = store.NewBlob(B("b"), B("abcdefghij"), 0, false);
        Assert.NotEqual(a >> 16, b >> 16);
        Assert.Equal("1234567890", Encoding.ASCII.GetString(KeyBlob.Value(store.Blob(a))));
        // Next command: the slot comes back.
        ctx.NowMs++;
        long c = store.NewBlob(B("c"), B("ABCDEFGHIJ"), 0, false);
        Assert.Equal(a >> 16, c >> 16);
        Assert.Equal("abcdefghij", Encoding.ASCII.GetString(KeyBlob.Value(store.Blob(b))));
    }

    [Fact]
    public void WithValueWritesInPlaceWithinTheClassAndMovesAcrossClasses()
    {
        var ctx = new KeyspaceContext();
        var store = new ItemStore(ctx);
        long h = store.NewBlob(B("k"), B("abc"), 5, true);   // 4+1+1+3 = 9 bytes: the 16-byte class
        long same = store.WithValue(h, B("abcdef"));           // 12 bytes: same slot
        Assert.Equal(h >> 16, same >> 16);
        Assert.Equal("abcdef", Encoding.ASCII.GetString(KeyBlob.Value(store.Blob(same))));
        long moved = store.WithValue(same, B(new string('x', 100)));
        Assert.NotEqual(same >> 16, moved >> 16);
        Assert.Equal("k", Encoding.ASCII.GetString(store.KeyOf(moved)));
        Assert.Equal(5u, KeyBlob.GetLru(store.Blob(moved)));
        Assert.True(KeyBlob.IsVolatile(store.Blob(moved)));
        long huge = store.WithValue(moved, new byte[3000]);
        Assert.True(ItemStore.IsObject(huge));
        Assert.Equal(3000, KeyBlob.Value(((byte[])store.ObjectOf(huge))).Length);
        long back = store.WithValue(huge, B("12"));
        Assert.False(ItemStore.IsObject(back));
        Assert.Equal(KeyBlob.EncodingFor(B("12")), KeyBlob.Encoding(store.Blob(back)));
    }

    [Fact]
    public void ManyKeysFillSlabsWithoutOverlap()
    {
        var ctx = new KeyspaceContext();
        var store = new ItemStore(ctx);
        var handles = new long[50_000];
        for (int i = 0; i < handles.Length; i++)
            handles[i] = store.NewBlob(B("key:" + i), B(new string((char)('a' + i % 26), i % 300)), 0, false);
        for (int i = 0; i < handles.Length; i += 2) store.Free(handles[i]);
        ctx.NowMs++;
        for (int i = 0; i < handles.Length; i += 2)
            handles[i] = store.NewBlob(B("new:" + i), B(new string('#', i % 300)), 0, false);
        for (int i = 0; i < handles.Length; i++)
        {
            string prefix = i % 2 == 0 ? "new:" : "key:";
            char fill = i % 2 == 0 ? '#' : (char)('a' + i % 26);
            Assert.Equal(prefix + i, Encoding.ASCII.GetString(store.KeyOf(handles[i])));
            Assert.Equal(new string(fill, i % 300), Encoding.ASCII.GetString(KeyBlob.Value(store.Blob(handles[i]))));
        }
    }
}

/// <summary>The expires table refers to keys by their index in the key table (no copy of the key).</summary>
public sealed class DatabaseExpiresTests
{
    private static byte[] B(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void ExpiresFollowTheirKeysThroughGrowthDeletesAndOverwrites()
    {
        var ctx = new KeyspaceContext { NowMs = 1_000_000 };
        var db = new Database(0, ctx);
        for (int i = 0; i < 20_000; i++)
        {
            int idx = db.SetString(B("k" + i), B("v" + i));
            if (i % 2 == 0) db.SetExpireAt(idx, 2_000_000 + i);
        }
        for (int i = 0; i < 20_000; i += 4) Assert.True(db.Delete(B("k" + i)));
        // Overwrites that move keys to other slab slots, and more keys so both tables grow.
        for (int i = 2; i < 20_000; i += 4) db.SetString(B("k" + i), B(new string('x', 200)), keepTtl: true);
        for (int i = 20_000; i < 60_000; i++) db.SetString(B("k" + i), B("w"));
        Assert.Equal(5_000, db.ExpiresCount);
        for (int i = 0; i < 20_000; i++)
        {
            int idx = db.Lookup(B("k" + i), LookupFlags.NoStats);
            if (i % 4 == 0) Assert.Equal(-1, idx);
            else Assert.Equal(i % 2 == 0 ? 2_000_000 + i : -1, db.GetExpireAt(idx));
        }
        // Past every deadline: active expiry removes exactly the volatile keys.
        ctx.NowMs = 3_000_000;
        while (db.ExpiresCount > 0) db.ActiveExpireStep(20);
        Assert.Equal(60_000 - 5_000 - 5_000, db.Count);
        Assert.Equal(-1, db.Lookup(B("k2"), LookupFlags.NoStats));
        Assert.True(db.Lookup(B("k3"), LookupFlags.NoStats) >= 0);
    }
}
