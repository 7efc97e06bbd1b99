namespace Kvasir.Scripting;

/// <summary>
/// EVAL's script cache: SHA1 -> compiled function, with Valkey's bound on scripts that arrived
/// through EVAL (the 500 least recently used are kept; SCRIPT LOAD ones are never evicted).
/// Lookups by the 40 hex digits of a request are case-insensitive and allocation-free.
/// </summary>
internal sealed class ScriptCache
{
    public const int EvalScriptsKept = 500;

    public sealed class Script
    {
        public required string Sha;
        public required byte[] Body;
        public ScriptFlags Flags;
        public int FunctionRef;
        /// <summary>Position in the EVAL LRU list; null for scripts added by SCRIPT LOAD.</summary>
        public LinkedListNode<Script>? Lru;
    }

    private readonly Dictionary<string, Script> _bySha = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Script>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly LinkedList<Script> _lru = new();

    public ScriptCache() => _lookup = _bySha.GetAlternateLookup<ReadOnlySpan<char>>();

    public int Count => _bySha.Count;

    /// <summary>Script bodies and their keys (INFO used_memory_scripts_eval).</summary>
    public long Memory { get; private set; }

    public long Evicted { get; set; }

    public IEnumerable<Script> All => _bySha.Values;

    public Script? Find(ReadOnlySpan<byte> sha)
    {
        if (sha.Length != 40) return null;
        Span<char> key = stackalloc char[40];
        for (int i = 0; i < 40; i++)
        {
            byte c = sha[i];
            key[i] = (char)(c is >= (byte)'A' and <= (byte)'Z' ? c + 32 : c);
        }
        return _lookup.TryGetValue(key, out var s) ? s : null;
    }

    public void Add(Script script, bool fromEval)
    {
        _bySha[script.Sha] = script;
        Memory += script.Body.Length + 40 + 64;
        if (fromEval) script.Lru = _lru.AddLast(script);
    }

    /// <summary>The oldest EVAL script when the LRU is full (the caller releases its function), or null.</summary>
    public Script? EvictionCandidate() => _lru.Count >= EvalScriptsKept ? _lru.First!.Value : null;

    public void Remove(Script script)
    {
        _bySha.Remove(script.Sha);
        Memory -= script.Body.Length + 40 + 64;
        if (script.Lru is not null) _lru.Remove(script.Lru);
        script.Lru = null;
    }

    /// <summary>SCRIPT LOAD of a script EVAL already cached: it is kept for good from now on.</summary>
    public void Promote(Script script)
    {
        if (script.Lru is null) return;
        _lru.Remove(script.Lru);
        script.Lru = null;
    }

    public void Touch(Script script)
    {
        if (script.Lru is null || script.Lru == _lru.Last) return;
        _lru.Remove(script.Lru);
        _lru.AddLast(script.Lru);
    }

    public void Clear()
    {
        _bySha.Clear();
        _lru.Clear();
        Memory = 0;
    }

    public static void ToHex(ReadOnlySpan<byte> hash, Span<byte> hex)
    {
        const string digits = "0123456789abcdef";
        for (int i = 0; i < hash.Length; i++)
        {
            hex[i * 2] = (byte)digits[hash[i] >> 4];
            hex[i * 2 + 1] = (byte)digits[hash[i] & 15];
        }
    }
}
