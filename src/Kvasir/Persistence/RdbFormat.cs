namespace Kvasir.Persistence;

/// <summary>Object type ids of the RDB format (the byte before each key).</summary>
public enum RdbType : byte
{
    String = 0,
    List = 1,
    Set = 2,
    ZSet = 3,
    Hash = 4,
    ZSet2 = 5,                 // scores as binary doubles (RDB 8+)
    ModulePreGa = 6,
    Module2 = 7,
    HashZipmap = 9,
    ListZiplist = 10,
    SetIntset = 11,
    ZSetZiplist = 12,
    HashZiplist = 13,
    ListQuicklist = 14,        // nodes are ziplists
    StreamListpacks = 15,
    HashListpack = 16,         // RDB 10
    ZSetListpack = 17,         // RDB 10
    ListQuicklist2 = 18,       // RDB 10: nodes are listpacks or plain elements
    StreamListpacks2 = 19,
    SetListpack = 20,          // RDB 11
    StreamListpacks3 = 21,
    Hash2 = 22,                // RDB 80 (Valkey 9): a hashtable hash whose fields carry expire times
}

/// <summary>Opcodes that are not object types, and the other constants of the format.</summary>
public static class RdbFormat
{
    /// <summary>The newest version this code reads and the one it writes by default (Redis 7.2, Valkey 8).</summary>
    public const int Version = 11;

    /// <summary>The oldest version a writer may be asked for: Redis 7.0 reads up to 10.</summary>
    public const int MinWriteVersion = 10;

    /// <summary>
    /// Valkey 9's version (magic "VALKEY080"), the first with <see cref="RdbType.Hash2"/>. Valkey 9
    /// writes it always; we write it only when some hash has fields with a TTL, so other files stay
    /// readable by Valkey 8 and Redis 7.
    /// </summary>
    public const int FieldTtlVersion = 80;

    /// <summary>
    /// Versions a file or DUMP payload may carry: up to 11, and 80. 12 to 79 are Redis's own later
    /// formats (Valkey calls them foreign and refuses them by default, as we do).
    /// </summary>
    public static bool CanRead(int version) => (version >= 1 && version <= Version) || version == FieldTtlVersion;

    public const byte OpFunction2 = 245;
    public const byte OpFunctionPreGa = 246;
    public const byte OpModuleAux = 247;
    public const byte OpIdle = 248;
    public const byte OpFreq = 249;
    public const byte OpAux = 250;
    public const byte OpResizeDb = 251;
    public const byte OpExpireTimeMs = 252;
    public const byte OpExpireTime = 253;
    public const byte OpSelectDb = 254;
    public const byte OpEof = 255;

    // Length prefixes: the top two bits of the first byte.
    public const int Len6Bit = 0;
    public const int Len14Bit = 1;
    public const byte Len32Bit = 0x80;
    public const byte Len64Bit = 0x81;
    public const int EncodedValue = 3;

    // Special string encodings (low 6 bits after the 11 prefix).
    public const int EncInt8 = 0;
    public const int EncInt16 = 1;
    public const int EncInt32 = 2;
    public const int EncLzf = 3;

    /// <summary>Module value opcodes (a module value or aux payload ends with EOF = 0).</summary>
    public const int ModuleOpcodeEof = 0;
    public const int ModuleOpcodeUInt = 2;

    // Quicklist 2 node containers.
    public const int QuicklistNodePlain = 1;
    public const int QuicklistNodePacked = 2;

    /// <summary>Valkey's rdbIsObjectType: the bytes that introduce a key rather than an opcode.</summary>
    public static bool IsObjectType(int t) => (t >= 0 && t <= 7) || (t >= 9 && t <= 22);

    /// <summary>The name valkey-check-rdb prints for a type id.</summary>
    public static string TypeName(int t) => t switch
    {
        0 => "string",
        1 => "list-linked",
        2 => "set-hashtable",
        3 => "zset-v1",
        4 => "hash-hashtable",
        5 => "zset-v2",
        6 => "module-pre-release",
        7 => "module-value",
        9 => "hash-zipmap",
        10 => "list-ziplist",
        11 => "set-intset",
        12 => "zset-ziplist",
        13 => "hash-ziplist",
        14 => "quicklist",
        15 => "stream",
        16 => "hash-listpack",
        17 => "zset-listpack",
        18 => "quicklist-v2",
        19 => "stream-v2",
        20 => "set-listpack",
        21 => "stream-v3",
        22 => "hash-v2",
        _ => "unknown",
    };

    /// <summary>
    /// A module type id holds a 9-character name (6 bits per character) above a 10-bit encoding
    /// version; Valkey names the module in its errors this way.
    /// </summary>
    public static string ModuleTypeName(ulong moduleId)
    {
        const string charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        Span<char> name = stackalloc char[9];
        ulong id = moduleId >> 10;
        for (int j = 8; j >= 0; j--)
        {
            name[j] = charset[(int)(id & 63)];
            id >>= 6;
        }
        return new string(name);
    }
}
