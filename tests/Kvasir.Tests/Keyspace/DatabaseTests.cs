using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Tests.Keyspace;

/// <summary>Invariants of the database layer that commands rely on.</summary>
public sealed class DatabaseTests
{
    private readonly KeyspaceContext _ctx = new() { NowMs = 1_700_000_000_000 };

    private Database NewDb(int index = 0) => new(index, _ctx);

    private sealed class Blob : IDataValue
    {
        public DataType Type => DataType.List;
        public ValueEncoding Encoding => ValueEncoding.Quicklist;
        public long MemoryUsage => 100;
    }

    [Fact]
    public void MemoryAccountingReturnsToZero()
    {
        var db = NewDb();
        for (int i = 0; i < 500; i++)
        {
            int idx = db.SetString(System.Text.Encoding.ASCII.GetBytes("k" + i), new byte[i]);
            if (i % 3 == 0) db.SetExpireAt(idx, _ctx.NowMs + 1000);
        }
        for (int i = 0; i < 100; i++) db.AddObject(System.Text.Encoding.ASCII.GetBytes("o" + i), new Blob());
        Assert.True(db.DataBytes > 0);
        // Overwrites of every kind, then removal of everything by each path.
        db.SetString("k1"u8, new byte[1000]);
        db.SetObject("k2"u8, new Blob());
        db.SetString("o1"u8, "x"u8);
        db.Attach("renamed"u8, db.Detach(db.Lookup("k3"u8)));
        _ctx.NowMs += 2000; // every volatile key is now expired
        for (int i = 0; i < 500; i++) db.Lookup(System.Text.Encoding.ASCII.GetBytes("k" + i));
        db.Lookup("renamed"u8);
        for (int i = 0; i < 100; i++) db.Delete(System.Text.Encoding.ASCII.GetBytes("o" + i));
        for (int i = 0; i < 500; i++) db.Delete(System.Text.Encoding.ASCII.GetBytes("k" + i));
        Assert.Equal(0, db.Count);
        Assert.Equal(0, db.ExpiresCount);
        Assert.Equal(0, db.DataBytes);
    }

    [Fact]
    public void DetachAttachKeepsTtlAndLru()
    {
        var db = NewDb();
        int idx = db.SetString("a"u8, "v"u8);
        db.SetExpireAt(idx, _ctx.NowMs + 5000);
        db.SetLruAt(idx, 1234);
        var other = NewDb(1);
        int moved = other.Attach("a"u8, db.Detach(idx));
        Assert.Equal(0, db.Count);
        Assert.Equal(0, db.ExpiresCount);
        Assert.Equal(_ctx.NowMs + 5000, other.GetExpireAt(moved));
        Assert.Equal(1234u, other.LruAt(moved));
        Assert.Equal("v"u8.ToArray(), other.StringAt(moved).ToArray());

        var obj = new Blob();
        int o = db.AddObject("obj"u8, obj);
        db.SetLruAt(o, 77);
        int back = db.Attach("obj2"u8, db.Detach(o));
        Assert.Same(obj, db.ObjectAt(back));
        Assert.Equal(77u, db.LruAt(back));
        Assert.Equal(-1, db.GetExpireAt(back));
    }

    [Fact]
    public void OverwritingSetDropsTheTtlEvenInPlace()
    {
        var db = NewDb();
        int idx = db.SetString("k"u8, "one"u8);
        db.SetExpireAt(idx, _ctx.NowMs + 5000);
        idx = db.SetString("k"u8, "two"u8); // same length: the blob is reused
        Assert.Equal(-1, db.GetExpireAt(idx));
        Assert.False(db.RemoveExpireAt(idx));
        Assert.Equal(0, db.ExpiresCount);
    }

    [Fact]
    public void KeepTtlDoesNotResurrectAnExpiredKey()
    {
        var db = NewDb();
        int idx = db.SetString("k"u8, "v"u8);
        db.SetExpireAt(idx, _ctx.NowMs + 10);
        _ctx.NowMs += 20;
        long expired = _ctx.ExpiredKeys;
        idx = db.SetString("k"u8, "new"u8, keepTtl: true);
        Assert.Equal(-1, db.GetExpireAt(idx));
        Assert.Equal(expired + 1, _ctx.ExpiredKeys);
        Assert.True(db.Lookup("k"u8) >= 0);
    }

    [Fact]
    public void SwapContentsExchangesKeysExpiresAndFiresHook()
    {
        var a = NewDb(0);
        var b = NewDb(1);
        int idx = a.SetString("k"u8, "v"u8);
        a.SetExpireAt(idx, _ctx.NowMs + 1000);
        long bytes = a.DataBytes;
        (int, int) seen = (-1, -1);
        _ctx.DatabasesSwapping = (x, y) => seen = (x.Index, y.Index);
        try
        {
            a.SwapContents(b);
        }
        finally
        {
            _ctx.DatabasesSwapping = null;
        }
        Assert.Equal((0, 1), seen);
        Assert.Equal(0, a.Count);
        Assert.Equal(1, b.Count);
        Assert.Equal(1, b.ExpiresCount);
        Assert.Equal(bytes, b.DataBytes);
        Assert.Equal(0, a.DataBytes);
        Assert.Equal(_ctx.NowMs + 1000, b.GetExpireAt(b.Lookup("k"u8)));
    }

    [Fact]
    public void ClearReportsRemovedKeysAndFiresHookFirst()
    {
        var db = NewDb();
        db.SetString("a"u8, "1"u8);
        db.SetString("b"u8, "2"u8);
        int countInHook = -1;
        _ctx.DatabaseFlushing = d => countInHook = d.Count;
        try
        {
            Assert.Equal(2, db.Clear());
            Assert.Equal(0, db.Clear());
        }
        finally
        {
            _ctx.DatabaseFlushing = null;
        }
        Assert.Equal(2, countInHook);
        Assert.Equal(0, db.DataBytes);
    }

    [Fact]
    public void ActiveExpireSweepsEveryVolatileKey()
    {
        var db = NewDb();
        for (int i = 0; i < 5000; i++)
        {
            int idx = db.SetString(System.Text.Encoding.ASCII.GetBytes("k" + i), "v"u8);
            // Only a few keys expire: random sampling would rarely find them, a sweep always does.
            db.SetExpireAt(idx, _ctx.NowMs + (i % 1000 == 0 ? 10 : 1_000_000));
        }
        _ctx.NowMs += 100;
        long before = _ctx.ExpiredKeys;
        int expired = 0;
        for (int step = 0; step < 300; step++) expired += db.ActiveExpireStep(20).Expired;
        Assert.Equal(5, expired);
        Assert.Equal(before + 5, _ctx.ExpiredKeys);
        Assert.Equal(4995, db.Count);
        Assert.True(db.AvgTtl > 0);
    }

    [Fact]
    public void NoDeletionWhileExpiryIsSuspended()
    {
        var db = NewDb();
        int idx = db.SetString("k"u8, "v"u8);
        db.SetExpireAt(idx, _ctx.NowMs + 10);
        _ctx.NowMs += 20;
        _ctx.ExpireDeletes = false;
        try
        {
            Assert.Equal(-1, db.Lookup("k"u8));
            Assert.Equal((0, 0), db.ActiveExpireStep(20));
            Assert.Equal(1, db.Count);
            // Every key is volatile and stale: RANDOMKEY gives up and returns a stale one, as Valkey does on a replica.
            int r = db.RandomLiveIndex();
            Assert.True(r >= 0 && db.IsExpiredAt(r));
            // Creating the key anew does not duplicate the stale entry.
            db.AddObject("k"u8, new Blob());
            Assert.Equal(1, db.Count);
        }
        finally
        {
            _ctx.ExpireDeletes = true;
        }
    }
}
