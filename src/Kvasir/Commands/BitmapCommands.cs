using Kvasir.Config;
using System.Numerics;
using System.Runtime.InteropServices;
using Kvasir.Keyspace;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// Bitmap commands over string values (Valkey's bitops.c): SETBIT GETBIT BITCOUNT BITPOS BITOP
/// BITFIELD BITFIELD_RO. Bit 0 is the most significant bit of the first byte. Writes turn the key
/// into an editable raw string and zero-pad it up to the highest bit touched.
/// </summary>
public static class BitmapCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("setbit", SetBit);
        t.Bind("getbit", GetBit);
        t.Bind("bitcount", BitCount);
        t.Bind("bitpos", BitPos);
        t.Bind("bitop", BitOp);
        t.Bind("bitfield", BitField);
        t.Bind("bitfield_ro", BitFieldRo);
    }

    private const string BitOffsetError = "ERR bit offset is not an integer or out of range";

    /// <summary>
    /// Valkey's getBitOffsetFromArgument. With <paramref name="bits"/> &gt; 0 the "#n" form means
    /// n * bits (BITFIELD). Offsets whose byte lies at or past proto-max-bulk-len are refused.
    /// </summary>
    private static bool TryGetBitOffset(CommandContext ctx, int arg, int bits, out ulong offset)
    {
        offset = 0;
        var s = ctx.Args[arg];
        bool useHash = bits > 0 && s.Length > 0 && s[0] == '#';
        if (!NumberParser.TryParseLong(useHash ? s.Slice(1) : s, out long value))
        {
            ctx.Error(BitOffsetError);
            return false;
        }
        if (useHash) value = unchecked(value * bits);
        long limit = ctx.Client.MustObey ? long.MaxValue : ctx.Server.Config.ProtoMaxBulkLen;
        // A managed array bounds the string whatever the configuration says.
        limit = Math.Min(limit, Array.MaxLength);
        if (value < 0 || (value >> 3) >= limit)
        {
            ctx.Error(BitOffsetError);
            return false;
        }
        offset = (ulong)value;
        return true;
    }

    /// <summary>A string opened for a bit write: an existing key made raw and zero-padded, or a new one not yet added.</summary>
    private struct BitTarget
    {
        public int Index;        // -1 while the key is new
        public RawString Raw;
        public bool Grew;        // new, or padded with zeros
        public long MemoryBefore;
    }

    /// <summary>Valkey's lookupStringForBitCommand: the string holding bit <paramref name="maxBit"/>, created or grown as needed.</summary>
    private static bool OpenForWrite(CommandContext ctx, ulong maxBit, out BitTarget target)
    {
        target = default;
        long needed = (long)(maxBit >> 3) + 1;
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1], LookupFlags.Write);
        if (idx >= 0 && db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return false;
        }
        if (needed > Array.MaxLength)
        {
            ctx.Error("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            return false;
        }
        if (idx < 0)
        {
            var fresh = new RawString(ReadOnlySpan<byte>.Empty, (int)needed);
            fresh.EnsureLength(needed);
            target = new BitTarget { Index = -1, Raw = fresh, Grew = true };
            return true;
        }
        var raw = db.MakeRawString(idx);
        long before = db.MemoryAt(idx);
        int oldLength = raw.Length;
        raw.EnsureLength(needed);
        target = new BitTarget { Index = idx, Raw = raw, Grew = raw.Length != oldLength, MemoryBefore = before };
        return true;
    }

    /// <summary>Stores a new key, or accounts and signals an edited one when something changed.</summary>
    private static void Commit(CommandContext ctx, in BitTarget target, bool changed)
    {
        var db = ctx.Db;
        if (target.Index < 0) db.AddObject(ctx.Args[1], target.Raw);
        else if (changed || target.Grew) db.ValueEdited(target.Index, target.MemoryBefore);
        if (changed) ctx.Notify(KeyspaceEventFlags.String, "setbit"u8, ctx.Args[1]);
    }

    // ----- SETBIT / GETBIT -----

    private static void SetBit(CommandContext ctx)
    {
        const string bitError = "ERR bit is not an integer or out of range";
        if (!TryGetBitOffset(ctx, 2, 0, out ulong offset)) return;
        if (!NumberParser.TryParseLong(ctx.Args[3], out long on) || (on & ~1L) != 0)
        {
            ctx.Error(bitError);
            return;
        }
        if (!OpenForWrite(ctx, offset, out var target)) return;
        var bytes = target.Raw.WritableSpan;
        int byteIndex = (int)(offset >> 3);
        int shift = 7 - (int)(offset & 7);
        int old = (bytes[byteIndex] >> shift) & 1;
        bool changed = target.Grew || old != on;
        if (changed) bytes[byteIndex] = (byte)((bytes[byteIndex] & ~(1 << shift)) | ((int)on << shift));
        Commit(ctx, target, changed);
        ctx.Reply.WriteInteger(old);
    }

    private static void GetBit(CommandContext ctx)
    {
        if (!TryGetBitOffset(ctx, 2, 0, out ulong offset)) return;
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        if (idx < 0)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return;
        }
        var s = db.StringAt(idx);
        ulong byteIndex = offset >> 3;
        int bit = 0;
        if (byteIndex < (ulong)s.Length) bit = (s[(int)byteIndex] >> (7 - (int)(offset & 7))) & 1;
        ctx.Reply.WriteInteger(bit);
    }

    // ----- BITCOUNT / BITPOS -----

    /// <summary>Parses the BYTE|BIT unit word; false after a syntax error reply.</summary>
    private static bool TryGetUnit(CommandContext ctx, int arg, out bool isBit)
    {
        isBit = false;
        if (ctx.ArgIs(arg, "BIT"u8)) isBit = true;
        else if (!ctx.ArgIs(arg, "BYTE"u8))
        {
            ctx.SyntaxError();
            return false;
        }
        return true;
    }

    /// <summary>Looks up a string for reading: false after WRONGTYPE, otherwise its bytes (empty and found=false when missing).</summary>
    private static bool TryReadString(CommandContext ctx, out bool found, out ReadOnlySpan<byte> value)
    {
        var db = ctx.Db;
        int idx = db.Lookup(ctx.Args[1]);
        value = default;
        found = idx >= 0;
        if (!found) return true;
        if (db.TypeAt(idx) != DataType.String)
        {
            ctx.WrongType();
            return false;
        }
        value = db.StringAt(idx);
        return true;
    }

    private static void BitCount(CommandContext ctx)
    {
        int argc = ctx.ArgCount;
        long start, end = 0;
        bool isBit = false;
        byte firstMask = 0, lastMask = 0;
        bool found;
        ReadOnlySpan<byte> s;
        if (argc >= 3 && argc <= 5)
        {
            if (!ctx.TryGetLong(2, out start)) return;
            if (argc == 5 && !TryGetUnit(ctx, 4, out isBit)) return;
            if (argc >= 4 && !ctx.TryGetLong(3, out end)) return;
            if (!TryReadString(ctx, out found, out s)) return;
            long total = s.Length;
            if (argc < 4) end = total - 1;
            if (start < 0 && end < 0 && start > end)
            {
                ctx.Reply.WriteInteger(0);
                return;
            }
            ClampRange(ref start, ref end, total, isBit, out firstMask, out lastMask);
        }
        else if (argc == 2)
        {
            if (!TryReadString(ctx, out found, out s)) return;
            start = 0;
            end = s.Length - 1;
        }
        else
        {
            ctx.SyntaxError();
            return;
        }

        if (!found || start > end)
        {
            ctx.Reply.WriteInteger(0);
            return;
        }
        long count = PopCount(s.Slice((int)start, (int)(end - start + 1)));
        if (firstMask != 0) count -= BitOperations.PopCount((uint)(s[(int)start] & firstMask));
        if (lastMask != 0) count -= BitOperations.PopCount((uint)(s[(int)end] & lastMask));
        ctx.Reply.WriteInteger(count);
    }

    private static long PopCount(ReadOnlySpan<byte> data)
    {
        long count = 0;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong w in words) count += BitOperations.PopCount(w);
        for (int i = words.Length * 8; i < data.Length; i++) count += BitOperations.PopCount(data[i]);
        return count;
    }

    /// <summary>
    /// Valkey's serverBitpos: the position of the first bit equal to <paramref name="bit"/>. Looking
    /// for a 0 in all-ones data answers the bit just past the end (the string is taken as
    /// zero-padded); looking for a 1 in all-zeros data answers -1.
    /// </summary>
    private static long FindBit(ReadOnlySpan<byte> data, int bit)
    {
        byte skip = bit == 1 ? (byte)0 : (byte)0xFF;
        int i = data.IndexOfAnyExcept(skip);
        if (i < 0) return bit == 1 ? -1 : (long)data.Length * 8;
        int b = bit == 1 ? data[i] : (byte)~data[i];
        return (long)i * 8 + BitOperations.LeadingZeroCount((uint)b) - 24;
    }

    private static void BitPos(CommandContext ctx)
    {
        if (!ctx.TryGetLong(2, out long bit)) return;
        if (bit != 0 && bit != 1)
        {
            ctx.Error("ERR The bit argument must be 1 or 0.");
            return;
        }
        int argc = ctx.ArgCount;
        long start, end = 0;
        bool isBit = false, endGiven = false;
        byte firstMask = 0, lastMask = 0;
        bool found;
        ReadOnlySpan<byte> s;
        if (argc >= 4 && argc <= 6)
        {
            if (!ctx.TryGetLong(3, out start)) return;
            if (argc == 6 && !TryGetUnit(ctx, 5, out isBit)) return;
            if (argc >= 5)
            {
                if (!ctx.TryGetLong(4, out end)) return;
                endGiven = true;
            }
            if (!TryReadString(ctx, out found, out s)) return;
            long total = s.Length;
            if (argc < 5) end = total - 1;
            ClampRange(ref start, ref end, total, isBit, out firstMask, out lastMask);
        }
        else if (argc == 3)
        {
            if (!TryReadString(ctx, out found, out s)) return;
            start = 0;
            end = s.Length - 1;
        }
        else
        {
            ctx.SyntaxError();
            return;
        }

        if (!found)
        {
            // A missing key is an infinite run of zeros.
            ctx.Reply.WriteInteger(bit == 1 ? -1 : 0);
            return;
        }
        if (start > end)
        {
            ctx.Reply.WriteInteger(-1);
            return;
        }

        int b = (int)bit;
        long bytes = end - start + 1;
        long pos;
        Span<byte> one = stackalloc byte[1];
        // The range is scanned in up to three parts: a partial first byte, whole bytes, a partial
        // last byte; bits outside the range are forced to the value not searched for.
        if (firstMask != 0)
        {
            byte c = b == 1 ? (byte)(s[(int)start] & ~firstMask) : (byte)(s[(int)start] | firstMask);
            if (lastMask != 0 && bytes == 1) c = b == 1 ? (byte)(c & ~lastMask) : (byte)(c | lastMask);
            one[0] = c;
            pos = FindBit(one, b);
            if (bytes == 1 || (pos != -1 && pos != 8)) goto Result;
            start++;
            bytes--;
        }
        long wholeBytes = bytes - (lastMask != 0 ? 1 : 0);
        if (wholeBytes > 0)
        {
            pos = FindBit(s.Slice((int)start, (int)wholeBytes), b);
            if (bytes == wholeBytes || (pos != -1 && pos != wholeBytes << 3)) goto Result;
            start += wholeBytes;
            bytes -= wholeBytes;
        }
        one[0] = b == 1 ? (byte)(s[(int)end] & ~lastMask) : (byte)(s[(int)end] | lastMask);
        pos = FindBit(one, b);

    Result:
        // Looking for a 0 inside an explicit range that holds none: not found.
        if (endGiven && b == 0 && pos == bytes << 3)
        {
            ctx.Reply.WriteInteger(-1);
            return;
        }
        if (pos != -1) pos += start << 3;
        ctx.Reply.WriteInteger(pos);
    }

    // ----- BITOP -----

    private enum BitOperation { And, Or, Xor, Not }

    private static void BitOp(CommandContext ctx)
    {
        BitOperation op;
        if (ctx.ArgIs(1, "AND"u8)) op = BitOperation.And;
        else if (ctx.ArgIs(1, "OR"u8)) op = BitOperation.Or;
        else if (ctx.ArgIs(1, "XOR"u8)) op = BitOperation.Xor;
        else if (ctx.ArgIs(1, "NOT"u8)) op = BitOperation.Not;
        else
        {
            ctx.SyntaxError();
            return;
        }
        int argc = ctx.ArgCount;
        if (op == BitOperation.Not && argc != 4)
        {
            ctx.Error("ERR BITOP NOT must be called with a single source key.");
            return;
        }

        var db = ctx.Db;
        int numKeys = argc - 3;
        Span<int> sources = numKeys <= 64 ? stackalloc int[numKeys] : new int[numKeys];
        long maxLen = 0;
        for (int j = 0; j < numKeys; j++)
        {
            int idx = db.Lookup(ctx.Args[j + 3]);
            sources[j] = idx;
            if (idx < 0) continue;
            if (db.TypeAt(idx) != DataType.String)
            {
                ctx.WrongType();
                return;
            }
            maxLen = Math.Max(maxLen, db.StringAt(idx).Length);
        }

        var target = ctx.Args[2];
        if (maxLen == 0)
        {
            // Every source is empty or missing: the result is the empty string, i.e. no key.
            if (db.Delete(target)) ctx.Notify(KeyspaceEventFlags.Generic, "del"u8, target);
            ctx.Reply.WriteInteger(0);
            return;
        }

        var result = new RawString(ReadOnlySpan<byte>.Empty, (int)maxLen);
        result.EnsureLength(maxLen);
        var res = result.WritableSpan;
        var first = sources[0] >= 0 ? db.StringAt(sources[0]) : ReadOnlySpan<byte>.Empty;
        first.CopyTo(res);
        if (op == BitOperation.Not)
        {
            Combine(res, ReadOnlySpan<byte>.Empty, BitOperation.Not);
        }
        else
        {
            for (int j = 1; j < numKeys; j++)
            {
                var src = sources[j] >= 0 ? db.StringAt(sources[j]) : ReadOnlySpan<byte>.Empty;
                Combine(res, src, op);
            }
        }
        db.SetObject(target, result);
        ctx.Notify(KeyspaceEventFlags.String, "set"u8, target);
        ctx.Reply.WriteInteger(maxLen);
    }

    /// <summary>Folds <paramref name="src"/> (zero-padded to the result's length) into <paramref name="res"/>.</summary>
    private static void Combine(Span<byte> res, ReadOnlySpan<byte> src, BitOperation op)
    {
        int n = Math.Min(res.Length, src.Length);
        var rw = MemoryMarshal.Cast<byte, ulong>(res.Slice(0, n));
        var sw = MemoryMarshal.Cast<byte, ulong>(src.Slice(0, n));
        int done = rw.Length * 8;
        switch (op)
        {
            case BitOperation.And:
                for (int i = 0; i < rw.Length; i++) rw[i] &= sw[i];
                for (int i = done; i < n; i++) res[i] &= src[i];
                res.Slice(n).Clear();
                break;
            case BitOperation.Or:
                for (int i = 0; i < rw.Length; i++) rw[i] |= sw[i];
                for (int i = done; i < n; i++) res[i] |= src[i];
                break;
            case BitOperation.Xor:
                for (int i = 0; i < rw.Length; i++) rw[i] ^= sw[i];
                for (int i = done; i < n; i++) res[i] ^= src[i];
                break;
            case BitOperation.Not:
                var all = MemoryMarshal.Cast<byte, ulong>(res);
                for (int i = 0; i < all.Length; i++) all[i] = ~all[i];
                for (int i = all.Length * 8; i < res.Length; i++) res[i] = (byte)~res[i];
                break;
        }
    }

    // ----- BITFIELD -----

    private enum FieldOp : byte { Get, Set, IncrBy }

    private enum Overflow : byte { Wrap, Sat, Fail }

    private struct FieldOperation
    {
        public ulong Offset;
        public long Value;    // SET value or INCRBY increment
        public FieldOp Op;
        public Overflow Overflow;
        public byte Bits;
        public bool Signed;
    }

    private static void BitField(CommandContext ctx) => BitFieldGeneric(ctx, readOnly: false);

    private static void BitFieldRo(CommandContext ctx) => BitFieldGeneric(ctx, readOnly: true);

    private static void BitFieldGeneric(CommandContext ctx, bool readOnly)
    {
        int argc = ctx.ArgCount;
        int maxOps = (argc - 2) / 3 + 1;
        Span<FieldOperation> ops = maxOps <= 32 ? stackalloc FieldOperation[maxOps] : new FieldOperation[maxOps];
        int numOps = 0;
        var overflow = Overflow.Wrap;
        bool onlyGets = true;
        ulong highestWrite = 0;

        for (int j = 2; j < argc; j++)
        {
            int remaining = argc - j - 1;
            FieldOp op;
            if (ctx.ArgIs(j, "GET"u8) && remaining >= 2) op = FieldOp.Get;
            else if (ctx.ArgIs(j, "SET"u8) && remaining >= 3) op = FieldOp.Set;
            else if (ctx.ArgIs(j, "INCRBY"u8) && remaining >= 3) op = FieldOp.IncrBy;
            else if (ctx.ArgIs(j, "OVERFLOW"u8) && remaining >= 1)
            {
                j++;
                if (ctx.ArgIs(j, "WRAP"u8)) overflow = Overflow.Wrap;
                else if (ctx.ArgIs(j, "SAT"u8)) overflow = Overflow.Sat;
                else if (ctx.ArgIs(j, "FAIL"u8)) overflow = Overflow.Fail;
                else
                {
                    ctx.Error("ERR Invalid OVERFLOW type specified");
                    return;
                }
                continue;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }

            if (!TryGetFieldType(ctx, j + 1, out bool signed, out int bits)) return;
            if (!TryGetBitOffset(ctx, j + 2, bits, out ulong offset)) return;
            long value = 0;
            if (op != FieldOp.Get)
            {
                onlyGets = false;
                ulong last = offset + (ulong)bits - 1;
                if (highestWrite < last) highestWrite = last;
                if (!ctx.TryGetLong(j + 3, out value)) return;
            }
            ops[numOps++] = new FieldOperation
            {
                Offset = offset, Value = value, Op = op, Overflow = overflow, Bits = (byte)bits, Signed = signed,
            };
            j += op == FieldOp.Get ? 2 : 3;
        }

        if (onlyGets)
        {
            if (!TryReadString(ctx, out _, out var s)) return;
            ctx.Reply.WriteArray(numOps);
            for (int i = 0; i < numOps; i++) ReplyFieldGet(ctx, s, ops[i]);
            return;
        }
        if (readOnly)
        {
            ctx.Error("ERR BITFIELD_RO only supports the GET subcommand");
            return;
        }
        // Valkey counts one change per write that altered the value (or hit a new or grown string).
        long dirtyBefore = ctx.Server.Keyspace.Dirty;
        if (!OpenForWrite(ctx, highestWrite, out var target)) return;

        int changes = 0;
        ctx.Reply.WriteArray(numOps);
        var p = target.Raw.WritableSpan;
        for (int i = 0; i < numOps; i++)
        {
            ref var o = ref ops[i];
            if (o.Op == FieldOp.Get)
            {
                ReplyFieldGet(ctx, p, o);
                continue;
            }
            bool written;
            bool differs;
            if (o.Signed)
            {
                long oldValue = GetSigned(p, o.Offset, o.Bits);
                long newValue, reply;
                int ovf;
                if (o.Op == FieldOp.IncrBy)
                {
                    ovf = CheckSignedOverflow(oldValue, o.Value, o.Bits, o.Overflow, out long limited);
                    newValue = ovf != 0 ? limited : oldValue + o.Value;
                    reply = newValue;
                }
                else
                {
                    newValue = o.Value;
                    ovf = CheckSignedOverflow(newValue, 0, o.Bits, o.Overflow, out long limited);
                    if (ovf != 0) newValue = limited;
                    reply = oldValue;
                }
                written = !(ovf != 0 && o.Overflow == Overflow.Fail);
                differs = oldValue != newValue;
                if (written)
                {
                    ctx.Reply.WriteInteger(reply);
                    SetUnsigned(p, o.Offset, o.Bits, (ulong)newValue);
                }
            }
            else
            {
                ulong oldValue = GetUnsigned(p, o.Offset, o.Bits);
                ulong newValue, reply;
                int ovf;
                if (o.Op == FieldOp.IncrBy)
                {
                    newValue = unchecked(oldValue + (ulong)o.Value);
                    ovf = CheckUnsignedOverflow(oldValue, o.Value, o.Bits, o.Overflow, out ulong limited);
                    if (ovf != 0) newValue = limited;
                    reply = newValue;
                }
                else
                {
                    newValue = (ulong)o.Value;
                    ovf = CheckUnsignedOverflow(newValue, 0, o.Bits, o.Overflow, out ulong limited);
                    if (ovf != 0) newValue = limited;
                    reply = oldValue;
                }
                written = !(ovf != 0 && o.Overflow == Overflow.Fail);
                differs = oldValue != newValue;
                if (written)
                {
                    ctx.Reply.WriteInteger((long)reply);
                    SetUnsigned(p, o.Offset, o.Bits, newValue);
                }
            }
            if (!written) ctx.Reply.WriteNull();
            else if (target.Grew || differs) changes++;
        }
        Commit(ctx, target, changes > 0);
        ctx.Server.Keyspace.Dirty = dirtyBefore + changes;
    }

    /// <summary>Valkey's getBitfieldTypeFromArgument: i1..i64 or u1..u63 (lower-case prefix only).</summary>
    private static bool TryGetFieldType(CommandContext ctx, int arg, out bool signed, out int bits)
    {
        var s = ctx.Args[arg];
        signed = false;
        bits = 0;
        if (s.Length > 0 && (s[0] == 'i' || s[0] == 'u'))
        {
            signed = s[0] == 'i';
            if (NumberParser.TryParseLong(s.Slice(1), out long n) && n >= 1 && n <= (signed ? 64 : 63))
            {
                bits = (int)n;
                return true;
            }
        }
        ctx.Error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.");
        return false;
    }

    /// <summary>A GET reads past the end of the string as zeros: the field is copied into a 9-byte window first.</summary>
    private static void ReplyFieldGet(CommandContext ctx, ReadOnlySpan<byte> s, in FieldOperation o)
    {
        Span<byte> window = stackalloc byte[9];
        window.Clear();
        ulong firstByte = o.Offset >> 3;
        if (firstByte < (ulong)s.Length)
        {
            int n = (int)Math.Min(9, (ulong)s.Length - firstByte);
            s.Slice((int)firstByte, n).CopyTo(window);
        }
        ulong local = o.Offset - firstByte * 8;
        if (o.Signed) ctx.Reply.WriteInteger(GetSigned(window, local, o.Bits));
        else ctx.Reply.WriteInteger((long)GetUnsigned(window, local, o.Bits));
    }

    private static ulong GetUnsigned(ReadOnlySpan<byte> p, ulong offset, int bits)
    {
        ulong value = 0;
        for (int j = 0; j < bits; j++, offset++)
        {
            int bit = (p[(int)(offset >> 3)] >> (7 - (int)(offset & 7))) & 1;
            value = (value << 1) | (uint)bit;
        }
        return value;
    }

    private static long GetSigned(ReadOnlySpan<byte> p, ulong offset, int bits)
    {
        ulong u = GetUnsigned(p, offset, bits);
        // Sign-extend from the field's top bit.
        if (bits < 64 && (u & (1UL << (bits - 1))) != 0) u |= ulong.MaxValue << bits;
        return (long)u;
    }

    private static void SetUnsigned(Span<byte> p, ulong offset, int bits, ulong value)
    {
        for (int j = 0; j < bits; j++, offset++)
        {
            int bit = (int)((value >> (bits - 1 - j)) & 1);
            int i = (int)(offset >> 3);
            int shift = 7 - (int)(offset & 7);
            p[i] = (byte)((p[i] & ~(1 << shift)) | (bit << shift));
        }
    }

    /// <summary>
    /// Valkey's checkUnsignedBitfieldOverflow: 0 when value+incr fits in <paramref name="bits"/>,
    /// 1 on overflow, -1 on underflow; <paramref name="limit"/> is what WRAP or SAT store instead.
    /// </summary>
    private static int CheckUnsignedOverflow(ulong value, long incr, int bits, Overflow mode, out ulong limit)
    {
        limit = 0;
        ulong max = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        long maxIncr = unchecked((long)(max - value));
        long minIncr = unchecked(-(long)value);
        if (value > max || (incr > 0 && incr > maxIncr))
        {
            if (mode == Overflow.Wrap) limit = WrapUnsigned(value, incr, bits);
            else if (mode == Overflow.Sat) limit = max;
            return 1;
        }
        if (incr < 0 && incr < minIncr)
        {
            if (mode == Overflow.Wrap) limit = WrapUnsigned(value, incr, bits);
            else if (mode == Overflow.Sat) limit = 0;
            return -1;
        }
        return 0;
    }

    private static ulong WrapUnsigned(ulong value, long incr, int bits)
    {
        ulong res = unchecked(value + (ulong)incr);
        return bits == 64 ? res : res & ~(ulong.MaxValue << bits);
    }

    /// <summary>Valkey's checkSignedBitfieldOverflow, same contract as the unsigned one.</summary>
    private static int CheckSignedOverflow(long value, long incr, int bits, Overflow mode, out long limit)
    {
        limit = 0;
        long max = bits == 64 ? long.MaxValue : (1L << (bits - 1)) - 1;
        long min = -max - 1;
        long maxIncr = unchecked((long)((ulong)max - (ulong)value));
        long minIncr = unchecked(min - value);
        if (value > max || (bits != 64 && incr > maxIncr) || (value >= 0 && incr > 0 && incr > maxIncr))
        {
            if (mode == Overflow.Wrap) limit = WrapSigned(value, incr, bits);
            else if (mode == Overflow.Sat) limit = max;
            return 1;
        }
        if (value < min || (bits != 64 && incr < minIncr) || (value < 0 && incr < 0 && incr < minIncr))
        {
            if (mode == Overflow.Wrap) limit = WrapSigned(value, incr, bits);
            else if (mode == Overflow.Sat) limit = min;
            return -1;
        }
        return 0;
    }

    private static long WrapSigned(long value, long incr, int bits)
    {
        ulong c = unchecked((ulong)value + (ulong)incr);
        if (bits < 64)
        {
            ulong mask = ulong.MaxValue << bits;
            if ((c & (1UL << (bits - 1))) != 0) c |= mask;
            else c &= ~mask;
        }
        return (long)c;
    }

    /// <summary>
    /// BITCOUNT/BITPOS range: negative indexes count from the end, the range is clamped to the
    /// string, and a BIT range becomes a byte range plus masks of the bits of its first and last
    /// byte that lie outside it. <paramref name="total"/> is the string length in bytes.
    /// </summary>
    private static void ClampRange(ref long start, ref long end, long total, bool isBit, out byte firstMask, out byte lastMask)
    {
        firstMask = lastMask = 0;
        if (isBit) total <<= 3;
        if (start < 0) start = total + start;
        if (end < 0) end = total + end;
        if (start < 0) start = 0;
        if (end < 0) end = 0;
        if (end >= total) end = total - 1;
        if (isBit && start <= end)
        {
            firstMask = (byte)(~((1 << (8 - (int)(start & 7))) - 1) & 0xFF);
            lastMask = (byte)((1 << (7 - (int)(end & 7))) - 1);
            start >>= 3;
            end >>= 3;
        }
    }
}
