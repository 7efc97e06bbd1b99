using System.Security.Cryptography;

namespace Kvasir.Types;

/// <summary>
/// Value types that DEBUG DIGEST does not know (lists, sets, hashes and sorted sets it walks
/// itself) implement this to fold their content into the dataset digest with Valkey's rules
/// (ordered content is mixed, unordered content is xor-ed), which makes digests comparable
/// across servers and reloads.
/// </summary>
public interface IDigestible
{
    void AddTo(ValueDigest digest);
}

/// <summary>
/// Values implement this to give DEBUG OBJECT what only they know: the size the value takes in an
/// RDB file and encoding-specific details (for example the quicklist layout of a list).
/// </summary>
public interface IDebugInspectable
{
    long SerializedLength { get; }

    /// <summary>Extra " name:value" pairs appended to the DEBUG OBJECT line ("" when none).</summary>
    string DebugDetails(bool fast);
}

/// <summary>
/// A 20-byte SHA1-based digest with Valkey's two combining steps: xor (order-independent) and mix
/// (xor then re-hash, so order matters). The element helpers follow xorObjectDigest in debug.c.
/// </summary>
public sealed class ValueDigest
{
    public const int Size = 20;

    private readonly byte[] _state = new byte[Size];

    public ReadOnlySpan<byte> State => _state;

    public void Clear() => Array.Clear(_state);

    /// <summary>state ^= SHA1(data): the order of such additions does not matter.</summary>
    public void Xor(ReadOnlySpan<byte> data) => XorInto(_state, data);

    /// <summary>state = SHA1(state ^ SHA1(data)): each addition depends on everything before it.</summary>
    public void Mix(ReadOnlySpan<byte> data) => MixInto(_state, data);

    public static void XorInto(Span<byte> state, ReadOnlySpan<byte> data)
    {
        Span<byte> hash = stackalloc byte[Size];
        SHA1.HashData(data, hash);
        for (int i = 0; i < Size; i++) state[i] ^= hash[i];
    }

    public static void MixInto(Span<byte> state, ReadOnlySpan<byte> data)
    {
        XorInto(state, data);
        Span<byte> hash = stackalloc byte[Size];
        SHA1.HashData(state, hash);
        hash.CopyTo(state);
    }

    /// <summary>A list element (order matters).</summary>
    public void AddOrdered(ReadOnlySpan<byte> element) => Mix(element);

    /// <summary>A set member (order does not matter).</summary>
    public void AddUnordered(ReadOnlySpan<byte> member) => Xor(member);

    /// <summary>A hash field and its value.</summary>
    public void AddPair(ReadOnlySpan<byte> field, ReadOnlySpan<byte> value)
    {
        Span<byte> element = stackalloc byte[Size];
        element.Clear();
        MixInto(element, field);
        MixInto(element, value);
        Xor(element);
    }

    /// <summary>A sorted set member with its score (in fpconv's shortest form, as Valkey hashes it).</summary>
    public void AddScored(ReadOnlySpan<byte> member, double score)
    {
        Span<byte> text = stackalloc byte[40];
        int n = NumberFormat.FormatDoubleShortest(score, text);
        Span<byte> element = stackalloc byte[Size];
        element.Clear();
        MixInto(element, member);
        MixInto(element, text.Slice(0, n));
        Xor(element);
    }

    /// <summary>A packed element (listpack/intset entry) by its string form.</summary>
    public static ReadOnlySpan<byte> TextOf(in PackedValue v, Span<byte> scratch)
    {
        if (!v.IsInteger) return v.Span;
        return scratch.Slice(0, NumberFormat.FormatLong(v.Integer, scratch));
    }

    public string ToHex() => Convert.ToHexString(_state).ToLowerInvariant();
}
