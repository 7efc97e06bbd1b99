using System.Buffers;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
using Kvasir.Config;
using Kvasir.Keyspace;

namespace Kvasir.PubSub;

/// <summary>
/// Keyspace notifications (Valkey's notify.c): with notify-keyspace-events set, changes publish
/// "__keyspace@&lt;db&gt;__:&lt;key&gt; &lt;event&gt;" and "__keyevent@&lt;db&gt;__:&lt;event&gt; &lt;key&gt;" through
/// Pub/Sub. Off by default; then a notification costs one flag test.
/// </summary>
public sealed class KeyspaceEvents
{
    private readonly PubSubRegistry _pubsub;
    private readonly KeyspaceContext _keyspace;

    /// <summary>The classes that publish: the configured ones, or none when neither K nor E is set.</summary>
    public KeyspaceEventFlags Enabled { get; private set; }

    public KeyspaceEvents(PubSubRegistry pubsub, KeyspaceContext keyspace)
    {
        _pubsub = pubsub;
        _keyspace = keyspace;
    }

    /// <summary>Connects to the configuration and to the keyspace's own events (expired, new, keymiss).</summary>
    public void Attach(KvasirServer server)
    {
        Configure(server.Config.NotifyKeyspaceEvents);
        server.Config.Changed += name =>
        {
            if (name == "notify-keyspace-events") Configure(server.Config.NotifyKeyspaceEvents);
        };
        _keyspace.KeyExpired += (db, key) => Notify(KeyspaceEventFlags.Expired, "expired"u8, key, db.Index);
    }

    private void Configure(KeyspaceEventFlags flags)
    {
        Enabled = (flags & (KeyspaceEventFlags.Keyspace | KeyspaceEventFlags.Keyevent)) != 0 ? flags : KeyspaceEventFlags.None;
        // The per-key hooks of the hottest paths exist only while their class is wanted.
        _keyspace.KeyCreated = (Enabled & KeyspaceEventFlags.New) != 0 ? KeyCreated : null;
        _keyspace.KeyMissed = (Enabled & KeyspaceEventFlags.KeyMiss) != 0 ? KeyMissed : null;
    }

    private void KeyCreated(Database db, ReadOnlySpan<byte> key) => Publish("new"u8, key, db.Index);

    private void KeyMissed(Database db, ReadOnlySpan<byte> key) => Publish("keymiss"u8, key, db.Index);

    /// <summary>Publishes <paramref name="evt"/> about <paramref name="key"/> of database <paramref name="db"/> if its class is enabled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Notify(KeyspaceEventFlags type, ReadOnlySpan<byte> evt, ReadOnlySpan<byte> key, int db)
    {
        if ((Enabled & type) != 0) Publish(evt, key, db);
    }

    private void Publish(ReadOnlySpan<byte> evt, ReadOnlySpan<byte> key, int db)
    {
        // Nobody subscribed: nothing to build (Valkey builds the channel names anyway; no one can tell).
        if (!_pubsub.HasSubscribers) return;
        var flags = Enabled;
        int longest = 24 + Math.Max(key.Length, evt.Length);
        byte[]? rented = null;
        Span<byte> channel = longest <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(longest));
        if ((flags & KeyspaceEventFlags.Keyspace) != 0)
            _pubsub.Publish(Channel(channel, "__keyspace@"u8, db, key), evt);
        if ((flags & KeyspaceEventFlags.Keyevent) != 0)
            _pubsub.Publish(Channel(channel, "__keyevent@"u8, db, evt), key);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
    }

    /// <summary>"&lt;prefix&gt;&lt;db&gt;__:&lt;suffix&gt;" written into <paramref name="into"/>.</summary>
    private static ReadOnlySpan<byte> Channel(Span<byte> into, ReadOnlySpan<byte> prefix, int db, ReadOnlySpan<byte> suffix)
    {
        prefix.CopyTo(into);
        int n = prefix.Length;
        Utf8Formatter.TryFormat(db, into[n..], out int digits);
        n += digits;
        "__:"u8.CopyTo(into[n..]);
        n += 3;
        suffix.CopyTo(into[n..]);
        return into[..(n + suffix.Length)];
    }
}
