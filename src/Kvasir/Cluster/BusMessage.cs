using System.Buffers.Binary;
using System.Text;

namespace Kvasir.Cluster;

/// <summary>Message types of the cluster bus (Valkey's CLUSTERMSG_TYPE_*).</summary>
public enum BusMessageType : ushort
{
    Ping = 0,
    Pong = 1,
    Meet = 2,
    Fail = 3,
    Publish = 4,
    FailoverAuthRequest = 5,
    FailoverAuthAck = 6,
    Update = 7,
    MfStart = 8,
    Module = 9,
    PublishShard = 10,
}

/// <summary>Ping extension types (Valkey's CLUSTERMSG_EXT_TYPE_*).</summary>
public enum PingExtensionType : ushort
{
    Hostname = 0,
    HumanNodename = 1,
    ForgottenNode = 2,
    ShardId = 3,
    ClientIpv4 = 4,
    ClientIpv6 = 5,
}

/// <summary>
/// The binary layout of cluster bus messages, byte for byte Valkey's clusterMsg (all integers big
/// endian): a 2256-byte header describing the sender (name, epochs, replication offset, slots,
/// primary, address, flags, cluster state), then a type-specific body: gossip entries and ping
/// extensions for PING/PONG/MEET, a node name for FAIL, channel and message for PUBLISH, a node's
/// slots for UPDATE. PUBLISH may use the 16-byte light header between nodes that support it.
/// </summary>
public static class BusMessage
{
    public const int TypeCount = 11;
    public const ushort LightFlag = 0x8000;
    public const ushort ProtocolVersion = 1;
    public const int NameLength = 40;
    public const int IpLength = 46;
    public const int SlotBytes = KeySlot.Count / 8;

    // Header field offsets.
    public const int OffTotalLength = 4;
    public const int OffVersion = 8;
    public const int OffPort = 10;
    public const int OffType = 12;
    public const int OffCount = 14;
    public const int OffCurrentEpoch = 16;
    public const int OffConfigEpoch = 24;
    public const int OffOffset = 32;
    public const int OffSender = 40;
    public const int OffSlots = 80;
    public const int OffReplicaOf = 2128;
    public const int OffIp = 2168;
    public const int OffExtensions = 2214;
    public const int OffPPort = 2246;
    public const int OffBusPort = 2248;
    public const int OffFlags = 2250;
    public const int OffState = 2252;
    public const int OffMFlags = 2253;
    public const int HeaderLength = 2256;

    /// <summary>The light header: signature, length, version, type; the body starts at 16.</summary>
    public const int LightHeaderLength = 16;

    /// <summary>Bytes read first: enough to know the length and type of the message.</summary>
    public const int MinReadLength = 14;

    public const int GossipLength = 104;
    public const int UpdateBodyLength = 8 + NameLength + SlotBytes;

    // mflags[0]
    public const byte FlagPaused = 1 << 0;
    public const byte FlagForceAck = 1 << 1;
    public const byte FlagExtData = 1 << 2;

    public static string TypeName(int type) => type switch
    {
        0 => "ping",
        1 => "pong",
        2 => "meet",
        3 => "fail",
        4 => "publish",
        10 => "publishshard",
        5 => "auth-req",
        6 => "auth-ack",
        7 => "update",
        8 => "mfstart",
        9 => "module",
        _ => "unknown",
    };

    public static bool IsLight(ushort rawType) => (rawType & LightFlag) != 0;

    // ----- reading -----

    public static ushort U16(ReadOnlySpan<byte> m, int at) => BinaryPrimitives.ReadUInt16BigEndian(m[at..]);
    public static uint U32(ReadOnlySpan<byte> m, int at) => BinaryPrimitives.ReadUInt32BigEndian(m[at..]);
    public static ulong U64(ReadOnlySpan<byte> m, int at) => BinaryPrimitives.ReadUInt64BigEndian(m[at..]);

    /// <summary>A fixed-size NUL-padded text field.</summary>
    public static string Text(ReadOnlySpan<byte> m, int at, int length)
    {
        var field = m.Slice(at, length);
        int nul = field.IndexOf((byte)0);
        if (nul >= 0) field = field[..nul];
        return Encoding.ASCII.GetString(field);
    }

    /// <summary>A 40-byte node name, as text (may be invalid; check with <see cref="ClusterState.IsValidName"/>).</summary>
    public static string Name(ReadOnlySpan<byte> m, int at) => Encoding.ASCII.GetString(m.Slice(at, NameLength));

    public static bool IsNullName(ReadOnlySpan<byte> m, int at) => m.Slice(at, NameLength).IndexOfAnyExcept((byte)0) < 0;

    // ----- writing -----

    public static void Put16(Span<byte> m, int at, int v) => BinaryPrimitives.WriteUInt16BigEndian(m[at..], (ushort)v);
    public static void Put32(Span<byte> m, int at, uint v) => BinaryPrimitives.WriteUInt32BigEndian(m[at..], v);
    public static void Put64(Span<byte> m, int at, ulong v) => BinaryPrimitives.WriteUInt64BigEndian(m[at..], v);

    /// <summary>Writes text into a fixed-size field, NUL padded (truncated to leave a NUL).</summary>
    public static void PutText(Span<byte> m, int at, int length, string text)
    {
        var field = m.Slice(at, length);
        field.Clear();
        int n = Encoding.ASCII.GetBytes(text.AsSpan(0, Math.Min(text.Length, length - 1)), field);
        _ = n;
    }

    public static void PutName(Span<byte> m, int at, string name) => Encoding.ASCII.GetBytes(name.AsSpan(0, NameLength), m.Slice(at, NameLength));

    public static int Align8(int n) => (n + 7) / 8 * 8;

    /// <summary>Size of a ping extension carrying <paramref name="dataLength"/> bytes.</summary>
    public static int ExtensionSize(int dataLength) => 8 + Align8(dataLength);
}
