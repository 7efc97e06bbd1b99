using System.Buffers.Binary;
using System.Numerics;

namespace Kvasir.Types;

/// <summary>
/// A HyperLogLog in a growable buffer: the exact bytes of Valkey's "HYLL" string value (16-byte header,
/// then sparse opcodes or 12288 bytes of dense 6-bit registers). The byte after <see cref="Length"/>
/// is kept zero, as the terminator of Valkey's sds strings is, because Valkey's code reads it when
/// it walks a truncated (corrupted) value.
/// </summary>
public sealed class HllBuffer
{
    public byte[] Data;
    public int Length;

    public HllBuffer(ReadOnlySpan<byte> content)
    {
        Data = new byte[content.Length + 16];
        content.CopyTo(Data);
        Length = content.Length;
    }

    public ReadOnlySpan<byte> Span => Data.AsSpan(0, Length);

    public byte Encoding => Data[4];

    /// <summary>Room for <paramref name="length"/> bytes plus what an in-place opcode rewrite may write past it.</summary>
    public void EnsureCapacity(int length)
    {
        if (Data.Length >= length + 16) return;
        Array.Resize(ref Data, Math.Max(length + 16, Data.Length * 2));
    }

    /// <summary>sdsIncrLen: moves the end and writes the terminator there.</summary>
    public void AddLength(int delta)
    {
        Length += delta;
        Data[Length] = 0;
    }

    public void Replace(byte[] data, int length)
    {
        Data = data;
        Length = length;
    }
}

/// <summary>
/// Valkey's HyperLogLog (hyperloglog.c), bit for bit: P=14 (16384 registers of 6 bits),
/// MurmurHash64A with seed 0xadc83b19, the sparse opcodes ZERO / XZERO / VAL with the same in-place
/// rewriting and merging, promotion to dense past hll-sparse-max-bytes, the cached cardinality in
/// the header (its top bit flags it stale) and Ertl's improved estimator. Values written here are
/// byte-identical to Valkey's for the same sequence of commands, and values copied from Valkey
/// count the same here.
/// </summary>
public static class HyperLogLog
{
    public const int P = 14;
    public const int Q = 64 - P;
    public const int Registers = 1 << P;
    public const int PMask = Registers - 1;
    public const int Bits = 6;
    public const int RegisterMax = (1 << Bits) - 1;
    public const int HeaderSize = 16;
    public const int DenseSize = HeaderSize + (Registers * Bits + 7) / 8;
    public const byte Dense = 0;
    public const byte Sparse = 1;
    private const int MaxEncoding = 1;

    private const int SparseValMaxValue = 32;
    private const int SparseValMaxLen = 4;
    private const int SparseZeroMaxLen = 64;
    private const int SparseXZeroMaxLen = 16384;
    private const double AlphaInf = 0.721347520444481703680; // 0.5 / ln(2)

    public const string InvalidObjectError = "INVALIDOBJ Corrupted HLL object detected";
    public const string NotHllError = "WRONGTYPE Key is not a valid HyperLogLog string value.";

    // ----- header -----

    /// <summary>Valkey's isHLLObjectOrReply test for a string value: magic, known encoding, exact dense size.</summary>
    public static bool IsValid(ReadOnlySpan<byte> s)
    {
        if (s.Length < HeaderSize) return false;
        if (s[0] != 'H' || s[1] != 'Y' || s[2] != 'L' || s[3] != 'L') return false;
        if (s[4] > MaxEncoding) return false;
        if (s[4] == Dense && s.Length != DenseSize) return false;
        return true;
    }

    public static bool IsCacheValid(ReadOnlySpan<byte> s) => (s[15] & 0x80) == 0;

    public static void InvalidateCache(Span<byte> s) => s[15] |= 0x80;

    public static ulong CachedCardinality(ReadOnlySpan<byte> s) => BinaryPrimitives.ReadUInt64LittleEndian(s.Slice(8, 8));

    public static void SetCachedCardinality(Span<byte> s, ulong card) => BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(8, 8), card);

    /// <summary>A new, empty HLL: sparse, all registers covered by XZERO opcodes.</summary>
    public static byte[] CreateEmpty()
    {
        int opcodes = (Registers + SparseXZeroMaxLen - 1) / SparseXZeroMaxLen;
        var s = new byte[HeaderSize + opcodes * 2];
        "HYLL"u8.CopyTo(s);
        s[4] = Sparse;
        int p = HeaderSize, left = Registers;
        while (left > 0)
        {
            int run = Math.Min(SparseXZeroMaxLen, left);
            SetXZero(s, p, run);
            p += 2;
            left -= run;
        }
        return s;
    }

    // ----- hashing -----

    /// <summary>MurmurHash2, 64-bit version (MurmurHash64A), little-endian reads.</summary>
    public static ulong MurmurHash64A(ReadOnlySpan<byte> key, uint seed)
    {
        const ulong m = 0xc6a4a7935bd1e995UL;
        const int r = 47;
        int len = key.Length;
        ulong h = seed ^ ((ulong)(long)len * m);
        int blocks = len - (len & 7);
        for (int i = 0; i < blocks; i += 8)
        {
            ulong k = BinaryPrimitives.ReadUInt64LittleEndian(key.Slice(i, 8));
            k *= m;
            k ^= k >> r;
            k *= m;
            h ^= k;
            h *= m;
        }
        var tail = key.Slice(blocks);
        switch (len & 7)
        {
            case 7: h ^= (ulong)tail[6] << 48; goto case 6;
            case 6: h ^= (ulong)tail[5] << 40; goto case 5;
            case 5: h ^= (ulong)tail[4] << 32; goto case 4;
            case 4: h ^= (ulong)tail[3] << 24; goto case 3;
            case 3: h ^= (ulong)tail[2] << 16; goto case 2;
            case 2: h ^= (ulong)tail[1] << 8; goto case 1;
            case 1:
                h ^= tail[0];
                h *= m;
                break;
        }
        h ^= h >> r;
        h *= m;
        h ^= h >> r;
        return h;
    }

    /// <summary>The register an element maps to and the length of its "000..1" pattern (1..Q+1).</summary>
    public static int PatternLength(ReadOnlySpan<byte> element, out int index)
    {
        ulong hash = MurmurHash64A(element, 0xadc83b19U);
        index = (int)(hash & PMask);
        hash >>= P;
        hash |= 1UL << Q; // bounds the count to Q+1
        return 1 + BitOperations.TrailingZeroCount(hash);
    }

    // ----- dense registers -----

    /// <summary>Register <paramref name="i"/> of a dense register area. The last register also reads the byte after
    /// the area, which is the string's terminator (zero) in Valkey.</summary>
    public static int GetRegister(ReadOnlySpan<byte> regs, int i)
    {
        int bit = i * Bits;
        int b = bit >> 3, fb = bit & 7;
        uint b0 = regs[b];
        uint b1 = b + 1 < regs.Length ? regs[b + 1] : 0u;
        return (int)(((b0 >> fb) | (b1 << (8 - fb))) & RegisterMax);
    }

    public static void SetRegister(Span<byte> regs, int i, int value)
    {
        int bit = i * Bits;
        int b = bit >> 3, fb = bit & 7, fb8 = 8 - fb;
        uint v = (uint)value;
        regs[b] = (byte)((regs[b] & ~(RegisterMax << fb)) | (int)(v << fb));
        if (b + 1 < regs.Length) regs[b + 1] = (byte)((regs[b + 1] & ~(RegisterMax >> fb8)) | (int)(v >> fb8));
    }

    private static bool DenseSet(Span<byte> regs, int index, int count)
    {
        if (count <= GetRegister(regs, index)) return false;
        SetRegister(regs, index, count);
        return true;
    }

    /// <summary>Adds an element to dense registers; true when a register grew.</summary>
    public static bool DenseAdd(Span<byte> regs, ReadOnlySpan<byte> element)
    {
        int count = PatternLength(element, out int index);
        return DenseSet(regs, index, count);
    }

    private static void DenseHistogram(ReadOnlySpan<byte> regs, Span<int> histo)
    {
        for (int j = 0; j < Registers / 4; j++)
        {
            // Four registers in every three bytes.
            int o = j * 3;
            int r0 = regs[o], r1 = regs[o + 1], r2 = regs[o + 2];
            histo[r0 & 63]++;
            histo[((r0 >> 6) | (r1 << 2)) & 63]++;
            histo[((r1 >> 4) | (r2 << 4)) & 63]++;
            histo[(r2 >> 2) & 63]++;
        }
    }

    // ----- sparse opcodes -----

    private static bool IsZero(byte b) => (b & 0xc0) == 0;

    private static bool IsXZero(byte b) => (b & 0xc0) == 0x40;

    private static bool IsVal(byte b) => (b & 0x80) != 0;

    private static int ZeroLen(byte b) => (b & 0x3f) + 1;

    private static int XZeroLen(byte[] d, int p) => (((d[p] & 0x3f) << 8) | d[p + 1]) + 1;

    private static int XZeroLen(ReadOnlySpan<byte> d, int p) => (((d[p] & 0x3f) << 8) | (p + 1 < d.Length ? d[p + 1] : 0)) + 1;

    private static int ValValue(byte b) => ((b >> 2) & 0x1f) + 1;

    private static int ValLen(byte b) => (b & 0x3) + 1;

    private static void SetVal(byte[] d, int p, int value, int len) => d[p] = (byte)((((value - 1) << 2) | (len - 1)) | 0x80);

    private static void SetZero(byte[] d, int p, int len) => d[p] = (byte)(len - 1);

    private static void SetXZero(byte[] d, int p, int len)
    {
        int l = len - 1;
        d[p] = (byte)((l >> 8) | 0x40);
        d[p + 1] = (byte)(l & 0xff);
    }

    /// <summary>
    /// Valkey's hllSparseToDense: rewrites a sparse HLL as dense (header kept, encoding changed). False,
    /// leaving the buffer as it was, when the opcodes do not cover exactly 16384 registers.
    /// </summary>
    public static bool SparseToDense(HllBuffer hll)
    {
        if (hll.Encoding == Dense) return true;
        var dense = new byte[DenseSize + 16];
        Array.Copy(hll.Data, dense, HeaderSize);
        dense[4] = Dense;
        var regs = dense.AsSpan(HeaderSize, DenseSize - HeaderSize);
        var d = hll.Data;
        int p = HeaderSize, end = hll.Length, idx = 0;
        while (p < end)
        {
            if (IsZero(d[p]))
            {
                idx += ZeroLen(d[p]);
                p++;
            }
            else if (IsXZero(d[p]))
            {
                idx += XZeroLen(d, p);
                p += 2;
            }
            else
            {
                int run = ValLen(d[p]), value = ValValue(d[p]);
                if (run + idx > Registers) break;
                while (run-- > 0) SetRegister(regs, idx++, value);
                p++;
            }
        }
        if (idx != Registers) return false;
        hll.Replace(dense, DenseSize);
        return true;
    }

    /// <summary>
    /// Valkey's hllSparseSet: raises register <paramref name="index"/> to <paramref name="count"/> in a sparse
    /// HLL, splitting and merging opcodes in place, or promoting to dense when the value does not fit
    /// a VAL opcode or the string would grow past <paramref name="maxBytes"/>.
    /// Returns 1 when changed, 0 when not, -1 when the representation is invalid.
    /// </summary>
    public static int SparseSet(HllBuffer hll, int index, int count, long maxBytes)
    {
        if (count > SparseValMaxValue) return Promote(hll, index, count);
        hll.EnsureCapacity(hll.Length + 3);
        var d = hll.Data;

        // Step 1: the opcode covering the register.
        int p = HeaderSize, end = hll.Length;
        long first = 0, span = 0;
        int prev = -1;
        while (p < end)
        {
            int oplen = 1;
            if (IsZero(d[p])) span = ZeroLen(d[p]);
            else if (IsVal(d[p])) span = ValLen(d[p]);
            else
            {
                span = XZeroLen(d, p);
                oplen = 2;
            }
            if (index <= first + span - 1) break;
            prev = p;
            p += oplen;
            first += span;
        }
        if (span == 0 || p >= end) return -1;

        int next = IsXZero(d[p]) ? p + 2 : p + 1;
        if (next >= end) next = -1;

        bool isZero = false, isXZero = false, isVal = false;
        long runlen;
        if (IsZero(d[p]))
        {
            isZero = true;
            runlen = ZeroLen(d[p]);
        }
        else if (IsXZero(d[p]))
        {
            isXZero = true;
            runlen = XZeroLen(d, p);
        }
        else
        {
            isVal = true;
            runlen = ValLen(d[p]);
        }

        // Step 2: trivial updates in place.
        if (isVal)
        {
            if (ValValue(d[p]) >= count) return 0;
            if (runlen == 1)
            {
                SetVal(d, p, count, 1);
                return Updated(hll, prev, end);
            }
        }
        if (isZero && runlen == 1)
        {
            SetVal(d, p, count, 1);
            return Updated(hll, prev, end);
        }

        // General case: split the opcode into up to three (at most 5 bytes).
        var tmp = new byte[5];
        int n = 0;
        int last = (int)(first + span - 1);
        int len;
        if (isZero || isXZero)
        {
            if (index != first)
            {
                len = index - (int)first;
                if (len > SparseZeroMaxLen)
                {
                    SetXZero(tmp, n, len);
                    n += 2;
                }
                else
                {
                    SetZero(tmp, n, len);
                    n++;
                }
            }
            SetVal(tmp, n, count, 1);
            n++;
            if (index != last)
            {
                len = last - index;
                if (len > SparseZeroMaxLen)
                {
                    SetXZero(tmp, n, len);
                    n += 2;
                }
                else
                {
                    SetZero(tmp, n, len);
                    n++;
                }
            }
        }
        else
        {
            int curval = ValValue(d[p]);
            if (index != first)
            {
                len = index - (int)first;
                SetVal(tmp, n, curval, len);
                n++;
            }
            SetVal(tmp, n, count, 1);
            n++;
            if (index != last)
            {
                len = last - index;
                SetVal(tmp, n, curval, len);
                n++;
            }
        }

        // Step 3: put the new sequence where the old opcode was.
        int seqlen = n;
        int oldlen = isXZero ? 2 : 1;
        int delta = seqlen - oldlen;
        if (delta > 0 && hll.Length + delta > maxBytes) return Promote(hll, index, count);
        if (delta != 0 && next >= 0) Array.Copy(d, next, d, next + delta, end - next);
        hll.AddLength(delta);
        Array.Copy(tmp, 0, d, p, seqlen);
        end += delta;
        return Updated(hll, prev, end);
    }

    /// <summary>Step 4 of hllSparseSet: merges adjacent VAL opcodes of equal value around the change, then marks the cache stale.</summary>
    private static int Updated(HllBuffer hll, int prev, int end)
    {
        var d = hll.Data;
        int p = prev >= 0 ? prev : HeaderSize;
        int scanlen = 5;
        while (p < end && scanlen-- > 0)
        {
            if (IsXZero(d[p]))
            {
                p += 2;
                continue;
            }
            if (IsZero(d[p]))
            {
                p++;
                continue;
            }
            if (p + 1 < end && IsVal(d[p + 1]))
            {
                int v1 = ValValue(d[p]), v2 = ValValue(d[p + 1]);
                if (v1 == v2)
                {
                    int len = ValLen(d[p]) + ValLen(d[p + 1]);
                    if (len <= SparseValMaxLen)
                    {
                        SetVal(d, p + 1, v1, len);
                        Array.Copy(d, p + 1, d, p, end - p);
                        hll.AddLength(-1);
                        end--;
                        // Try again at the same place: the merged opcode may merge with the next one.
                        continue;
                    }
                }
            }
            p++;
        }
        InvalidateCache(hll.Data);
        return 1;
    }

    private static int Promote(HllBuffer hll, int index, int count)
    {
        if (!SparseToDense(hll)) return -1;
        return DenseSet(hll.Data.AsSpan(HeaderSize, DenseSize - HeaderSize), index, count) ? 1 : 0;
    }

    /// <summary>Valkey's hllAdd: 1 when a register changed, 0 when not, -1 for an invalid representation.</summary>
    public static int Add(HllBuffer hll, ReadOnlySpan<byte> element, long maxBytes)
    {
        switch (hll.Encoding)
        {
            case Dense:
                return DenseAdd(hll.Data.AsSpan(HeaderSize, DenseSize - HeaderSize), element) ? 1 : 0;
            case Sparse:
                int count = PatternLength(element, out int index);
                return SparseSet(hll, index, count, maxBytes);
            default:
                return -1;
        }
    }

    /// <summary>Sets a register in either encoding (PFMERGE into its destination).</summary>
    public static int Set(HllBuffer hll, int index, int count, long maxBytes)
    {
        if (hll.Encoding == Dense) return DenseSet(hll.Data.AsSpan(HeaderSize, DenseSize - HeaderSize), index, count) ? 1 : 0;
        return SparseSet(hll, index, count, maxBytes);
    }

    // ----- counting and merging -----

    private static void SparseHistogram(ReadOnlySpan<byte> ops, Span<int> histo, out bool invalid)
    {
        int idx = 0, p = 0;
        while (p < ops.Length)
        {
            byte b = ops[p];
            if (IsZero(b))
            {
                int run = ZeroLen(b);
                idx += run;
                histo[0] += run;
                p++;
            }
            else if (IsXZero(b))
            {
                int run = XZeroLen(ops, p);
                idx += run;
                histo[0] += run;
                p += 2;
            }
            else
            {
                int run = ValLen(b);
                idx += run;
                histo[ValValue(b)] += run;
                p++;
            }
        }
        invalid = idx != Registers;
    }

    private static double Sigma(double x)
    {
        if (x == 1.0) return double.PositiveInfinity;
        double zPrime;
        double y = 1;
        double z = x;
        do
        {
            x *= x;
            zPrime = z;
            z += x * y;
            y += y;
        } while (zPrime != z);
        return z;
    }

    private static double Tau(double x)
    {
        if (x == 0.0 || x == 1.0) return 0.0;
        double zPrime;
        double y = 1.0;
        double z = 1 - x;
        do
        {
            x = Math.Sqrt(x);
            zPrime = z;
            y *= 0.5;
            z -= Math.Pow(1 - x, 2) * y;
        } while (zPrime != z);
        return z / 3;
    }

    /// <summary>Ertl's improved raw estimator over a register histogram.</summary>
    private static ulong Estimate(ReadOnlySpan<int> histo)
    {
        double m = Registers;
        double z = m * Tau((m - histo[Q + 1]) / m);
        for (int j = Q; j >= 1; --j)
        {
            z += histo[j];
            z *= 0.5;
        }
        z += m * Sigma(histo[0] / m);
        double e = AlphaInf * m * m / z;
        return (ulong)(long)Math.Round(e, MidpointRounding.AwayFromZero);
    }

    /// <summary>Cardinality of a valid HLL value; <paramref name="invalid"/> when sparse opcodes do not cover every register.</summary>
    public static ulong Count(ReadOnlySpan<byte> hll, out bool invalid)
    {
        Span<int> histo = stackalloc int[64];
        invalid = false;
        if (hll[4] == Dense) DenseHistogram(hll.Slice(HeaderSize, DenseSize - HeaderSize), histo);
        else SparseHistogram(hll.Slice(HeaderSize), histo, out invalid);
        return Estimate(histo);
    }

    /// <summary>Cardinality of one byte per register (the union PFCOUNT of several keys builds).</summary>
    public static ulong CountRaw(ReadOnlySpan<byte> registers)
    {
        Span<int> histo = stackalloc int[64];
        for (int i = 0; i < Registers; i++) histo[registers[i] & 63]++;
        return Estimate(histo);
    }

    /// <summary>max[i] = MAX(max[i], register i of <paramref name="hll"/>). False for an invalid sparse value.</summary>
    public static bool Merge(Span<byte> max, ReadOnlySpan<byte> hll)
    {
        if (hll[4] == Dense)
        {
            var regs = hll.Slice(HeaderSize, DenseSize - HeaderSize);
            for (int i = 0; i < Registers; i++)
            {
                int v = GetRegister(regs, i);
                if (v > max[i]) max[i] = (byte)v;
            }
            return true;
        }
        int p = HeaderSize, idx = 0;
        while (p < hll.Length)
        {
            byte b = hll[p];
            if (IsZero(b))
            {
                idx += ZeroLen(b);
                p++;
            }
            else if (IsXZero(b))
            {
                idx += XZeroLen(hll, p);
                p += 2;
            }
            else
            {
                int run = ValLen(b), value = ValValue(b);
                if (run + idx > Registers) break;
                while (run-- > 0)
                {
                    if (value > max[idx]) max[idx] = (byte)value;
                    idx++;
                }
                p++;
            }
        }
        return idx == Registers;
    }

    /// <summary>PFDEBUG DECODE: the sparse opcodes as "z:len", "Z:len" and "v:value,len", space separated.</summary>
    public static string DecodeSparse(ReadOnlySpan<byte> hll)
    {
        var sb = new System.Text.StringBuilder();
        int p = HeaderSize;
        while (p < hll.Length)
        {
            byte b = hll[p];
            if (IsZero(b))
            {
                sb.Append("z:").Append(ZeroLen(b)).Append(' ');
                p++;
            }
            else if (IsXZero(b))
            {
                sb.Append("Z:").Append(XZeroLen(hll, p)).Append(' ');
                p += 2;
            }
            else
            {
                sb.Append("v:").Append(ValValue(b)).Append(',').Append(ValLen(b)).Append(' ');
                p++;
            }
        }
        return sb.ToString().Trim(' ');
    }

    // ----- self test -----

    /// <summary>
    /// PFSELFTEST: register access round trips, then 10 million insertions into a dense and a sparse
    /// HLL checking that they agree and that the error stays within bounds. Null on success, else
    /// the error message.
    /// </summary>
    public static string? SelfTest(Random random, long maxSparseBytes)
    {
        var bitcounters = new byte[DenseSize + 1];
        var regs = bitcounters.AsSpan(HeaderSize, DenseSize - HeaderSize);
        var bytecounters = new byte[Registers];
        for (int j = 0; j < 1000; j++)
        {
            for (int i = 0; i < Registers; i++)
            {
                int r = random.Next() & RegisterMax;
                bytecounters[i] = (byte)r;
                SetRegister(regs, i, r);
            }
            for (int i = 0; i < Registers; i++)
            {
                int val = GetRegister(regs, i);
                if (val != bytecounters[i]) return $"ERR TESTFAILED Register {i} should be {bytecounters[i]} but is {val}";
            }
        }

        regs.Clear();
        bitcounters[4] = Dense;
        var sparse = new HllBuffer(CreateEmpty());
        double relerr = 1.04 / Math.Sqrt(Registers);
        long checkpoint = 1;
        ulong seed = (uint)random.Next() | ((ulong)(uint)random.Next() << 32);
        Span<byte> ele = stackalloc byte[8];
        for (long j = 1; j <= 10_000_000; j++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(ele, (ulong)j ^ seed);
            DenseAdd(regs, ele);
            Add(sparse, ele, maxSparseBytes);
            if (j != checkpoint) continue;
            if (j < maxSparseBytes / 2 && sparse.Encoding != Sparse) return "ERR TESTFAILED sparse encoding not used";
            ulong denseCount = Count(bitcounters, out _);
            if (denseCount != Count(sparse.Span, out _)) return "ERR TESTFAILED dense/sparse disagree";
            long abserr = checkpoint - (long)denseCount;
            ulong maxerr = (ulong)Math.Ceiling(relerr * 6 * checkpoint);
            // At 10 elements a collision is statistically likely enough to allow one off.
            if (j == 10) maxerr = 1;
            if (abserr < 0) abserr = -abserr;
            if (abserr > (long)maxerr) return $"ERR TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}";
            checkpoint *= 10;
        }
        return null;
    }
}
