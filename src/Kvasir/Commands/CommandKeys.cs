using Kvasir.Protocol;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>A key found in a command: its argument position and how the command accesses it (key spec flags).</summary>
public readonly record struct KeyReference(int Position, string[] Flags);

/// <summary>
/// Finds the keys of a complete command the way Valkey's getKeysFromCommandWithSpecs does:
/// from the key specs when they describe the command fully, otherwise from the command's own
/// key-finding routine (SORT's STORE, MIGRATE's KEYS, EVAL's numkeys, ...). COMMAND GETKEYS,
/// ACL key checks and cluster routing share it.
/// </summary>
public static class CommandKeys
{
    private static readonly string[] NoFlags = Array.Empty<string>();
    private static readonly string[] RoAccess = { "RO", "access" };
    private static readonly string[] OwUpdate = { "OW", "update" };
    private static readonly string[] RwAccessUpdate = { "RW", "access", "update" };
    private static readonly string[] RwAccessDelete = { "RW", "access", "delete" };

    internal delegate int KeysProc(CommandArgs args, int offset, List<KeyReference> result);

    /// <summary>The command's key routine, looked up once per command definition.</summary>
    private static KeysProc? ProcOf(CommandDefinition cmd)
    {
        if (!cmd.KeysRoutineResolved)
        {
            cmd.KeysRoutine = Procs.GetValueOrDefault(cmd.Name);
            cmd.KeysRoutineResolved = true;
        }
        return cmd.KeysRoutine;
    }

    /// <summary>Commands whose keys the specs cannot fully describe (Valkey's getkeys_proc).</summary>
    private static readonly Dictionary<string, KeysProc> Procs = new(StringComparer.Ordinal)
    {
        ["bitfield"] = BitfieldKeys,
        ["migrate"] = MigrateKeys,
        ["sort"] = SortKeys,
        ["sort_ro"] = SortRoKeys,
        ["georadius"] = GeoradiusKeys,
        ["georadiusbymember"] = GeoradiusKeys,
        ["blmpop"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["bzmpop"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["lmpop"] = (a, o, r) => Generic(0, 1, 2, a, o, r),
        ["zmpop"] = (a, o, r) => Generic(0, 1, 2, a, o, r),
        ["eval"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["evalsha"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["eval_ro"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["evalsha_ro"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["fcall"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["fcall_ro"] = (a, o, r) => Generic(0, 2, 3, a, o, r),
        ["sintercard"] = (a, o, r) => Generic(0, 1, 2, a, o, r),
        ["zdiff"] = (a, o, r) => Generic(0, 1, 2, a, o, r),
        ["zinter"] = (a, o, r) => Generic(0, 1, 2, a, o, r),
        ["zintercard"] = (a, o, r) => Generic(0, 1, 2, a, o, r),
        ["zunion"] = (a, o, r) => Generic(0, 1, 2, a, o, r),
        ["zdiffstore"] = (a, o, r) => Generic(1, 2, 3, a, o, r),
        ["zinterstore"] = (a, o, r) => Generic(1, 2, 3, a, o, r),
        ["zunionstore"] = (a, o, r) => Generic(1, 2, 3, a, o, r),
        ["xread"] = XreadKeys,
        ["xreadgroup"] = XreadKeys,
        ["set"] = SetKeys,
    };

    /// <summary>True when the command can have keys at all (a key spec that is not "not_key", or a key routine).</summary>
    public static bool HasKeys(CommandDefinition cmd)
    {
        if (ProcOf(cmd) is not null) return true;
        foreach (var spec in cmd.KeySpecs)
            if (Array.IndexOf(spec.Flags, "not_key") < 0) return true;
        return false;
    }

    /// <summary>
    /// Adds the keys of the command whose name is <c>args[offset]</c> to <paramref name="result"/>
    /// and returns how many were found (0 for invalid arguments as well).
    /// </summary>
    public static int GetKeys(CommandDefinition cmd, CommandArgs args, int offset, List<KeyReference> result)
    {
        bool hasKeySpec = false, hasVariableFlags = false;
        foreach (var spec in cmd.KeySpecs)
        {
            if (!spec.IsNotKey) hasKeySpec = true;
            if (spec.HasVariableFlags) hasVariableFlags = true;
        }
        if (hasKeySpec && !hasVariableFlags)
        {
            int n = FromSpecs(cmd, args, offset, result);
            if (n >= 0) return n;
        }
        return ProcOf(cmd) is { } proc ? proc(args, offset, result) : 0;
    }

    /// <summary>
    /// The keys cluster routing looks at (Valkey's getKeysFromCommand): the command's key routine,
    /// else the legacy first/last/step range, which also covers the channels of SSUBSCRIBE and
    /// SPUBLISH (their specs are "not_key", yet they route by slot).
    /// </summary>
    public static int GetKeysForRouting(CommandDefinition cmd, CommandArgs args, List<KeyReference> result)
    {
        if (ProcOf(cmd) is { } proc) return proc(args, 0, result);
        int first = cmd.FirstKey;
        if (first <= 0) return 0;
        int argc = args.Count;
        int last = cmd.LastKey < 0 ? argc + cmd.LastKey : cmd.LastKey;
        int step = Math.Max(1, cmd.KeyStep);
        int start = result.Count;
        for (int j = first; j <= last; j += step)
        {
            if (j >= argc)
            {
                // Wrong arguments for a variadic command: no keys; the command reports the error.
                result.RemoveRange(start, result.Count - start);
                return 0;
            }
            result.Add(new KeyReference(j, NoFlags));
        }
        return result.Count - start;
    }

    /// <summary>
    /// The keys ACL must check: <see cref="GetKeys"/>, or when that finds none because some spec is
    /// contradicted by the arguments, the keys of the specs that do apply. Valkey lets such a call
    /// through unchecked (PFMERGE with only its destination writes a key the user may not touch);
    /// Kvasir checks the keys it can see.
    /// </summary>
    public static int GetKeysForAcl(CommandDefinition cmd, CommandArgs args, List<KeyReference> result)
    {
        int n = GetKeys(cmd, args, 0, result);
        if (n > 0 || cmd.KeySpecs.Length == 0) return n;
        return FromSpecs(cmd, args, 0, result, partial: true);
    }

    /// <summary>Keys from the key specs; -1 when a spec is unknown, incomplete or contradicted by the arguments
    /// (with <paramref name="partial"/>, such specs are skipped and the keys of the others kept).</summary>
    private static int FromSpecs(CommandDefinition cmd, CommandArgs args, int offset, List<KeyReference> result, bool partial = false)
    {
        int argc = args.Count - offset;
        int start = result.Count;
        foreach (var spec in cmd.KeySpecs)
        {
            if (spec.IsNotKey) continue;
            int first = 0;
            if (spec.BeginType == "index")
            {
                first = spec.BeginIndex;
            }
            else if (spec.BeginType == "keyword")
            {
                int startIndex = spec.KeywordStartFrom > 0 ? spec.KeywordStartFrom : argc + spec.KeywordStartFrom;
                int endIndex = spec.KeywordStartFrom > 0 ? argc - 1 : 1;
                var keyword = spec.KeywordBytes!;
                for (int i = startIndex; i != endIndex; i = startIndex <= endIndex ? i + 1 : i - 1)
                {
                    if (i >= argc || i < 1) break;
                    if (args.Is(offset + i, keyword))
                    {
                        first = i + 1;
                        break;
                    }
                }
                if (first == 0) continue;
            }
            else { if (partial) continue; return Invalid(result, start); }

            int last, step;
            if (spec.FindType == "range")
            {
                step = spec.KeyStep;
                if (spec.LastKey >= 0) last = first + spec.LastKey;
                else if (spec.Limit == 0) last = argc + spec.LastKey;
                else last = first + ((argc - first) / spec.Limit + spec.LastKey);
            }
            else if (spec.FindType == "keynum")
            {
                step = spec.KeyStep;
                int numIndex = first + spec.KeyNumIndex;
                if (numIndex >= argc) { if (partial) continue; return Invalid(result, start); }
                if (!NumberParser.TryParseLong(args[offset + numIndex], out long numKeys) || numKeys < 0 || numKeys > int.MaxValue)
                    { if (partial) continue; return Invalid(result, start); }
                first += spec.FirstKey;
                last = first + (int)numKeys - 1;
            }
            else { if (partial) continue; return Invalid(result, start); }

            if (last >= argc || last < first || first >= argc) { if (partial) continue; return Invalid(result, start); }
            for (int i = first; i <= last; i += step)
            {
                // Arity allows it for variadic commands; the command itself will report the bad arguments.
                if (i >= argc || i < first) continue;
                result.Add(new KeyReference(i, spec.Flags));
            }
            if (spec.IsIncomplete) { if (partial) continue; return Invalid(result, start); }
        }
        return result.Count - start;
    }

    private static int Invalid(List<KeyReference> result, int start)
    {
        result.RemoveRange(start, result.Count - start);
        return -1;
    }

    // ----- key routines (Valkey's getkeys_proc) -----

    /// <summary>[destination] numkeys key [key ...]: Valkey's genericGetKeys.</summary>
    private static int Generic(int storeIndex, int countIndex, int firstIndex, CommandArgs args, int offset, List<KeyReference> result)
    {
        int argc = args.Count - offset;
        if (countIndex >= argc) return 0;
        int num = AtoI(args[offset + countIndex]);
        if (num < 1 || num > argc - firstIndex) return 0;
        for (int i = 0; i < num; i++) result.Add(new KeyReference(firstIndex + i, NoFlags));
        if (storeIndex != 0) result.Add(new KeyReference(storeIndex, NoFlags));
        return storeIndex != 0 ? num + 1 : num;
    }

    /// <summary>C atoi: leading whitespace, optional sign, digits up to the first other character.</summary>
    private static int AtoI(ReadOnlySpan<byte> s)
    {
        int i = 0;
        while (i < s.Length && (s[i] == ' ' || (s[i] >= 9 && s[i] <= 13))) i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
        long value = 0;
        while (i < s.Length && s[i] >= '0' && s[i] <= '9')
        {
            value = value * 10 + (s[i++] - '0');
            if (value > int.MaxValue) break;
        }
        return (int)Math.Clamp(negative ? -value : value, int.MinValue, int.MaxValue);
    }

    private static int SortRoKeys(CommandArgs args, int offset, List<KeyReference> result)
    {
        result.Add(new KeyReference(1, RoAccess));
        return 1;
    }

    private static int SortKeys(CommandArgs args, int offset, List<KeyReference> result)
    {
        int argc = args.Count - offset;
        result.Add(new KeyReference(1, RoAccess));
        int store = -1;
        for (int i = 2; i < argc; i++)
        {
            if (args.Is(offset + i, "LIMIT"u8)) i += 2;
            else if (args.Is(offset + i, "GET"u8) || args.Is(offset + i, "BY"u8)) i += 1;
            else if (args.Is(offset + i, "STORE"u8) && i + 1 < argc) store = i + 1; // the last STORE wins, as in SORT
        }
        if (store < 0) return 1;
        result.Add(new KeyReference(store, OwUpdate));
        return 2;
    }

    private static int MigrateKeys(CommandArgs args, int offset, List<KeyReference> result)
    {
        int argc = args.Count - offset;
        int first = 3, num = 1;
        if (argc > 6)
        {
            for (int i = 6; i < argc; i++)
            {
                if (args.Is(offset + i, "KEYS"u8))
                {
                    if (args[offset + 3].Length > 0) num = 0; // a key and KEYS together: MIGRATE reports the syntax error
                    else
                    {
                        first = i + 1;
                        num = argc - first;
                    }
                    break;
                }
                if (args.Is(offset + i, "AUTH"u8)) i += 1;
                else if (args.Is(offset + i, "AUTH2"u8)) i += 2;
            }
        }
        for (int i = 0; i < num; i++) result.Add(new KeyReference(first + i, RwAccessDelete));
        return num;
    }

    private static int GeoradiusKeys(CommandArgs args, int offset, List<KeyReference> result)
    {
        int argc = args.Count - offset;
        int stored = -1;
        for (int i = 5; i < argc; i++)
        {
            if ((args.Is(offset + i, "STORE"u8) || args.Is(offset + i, "STOREDIST"u8)) && i + 1 < argc)
            {
                stored = i + 1;
                i++;
            }
        }
        result.Add(new KeyReference(1, NoFlags));
        if (stored < 0) return 1;
        result.Add(new KeyReference(stored, NoFlags));
        return 2;
    }

    private static int XreadKeys(CommandArgs args, int offset, List<KeyReference> result)
    {
        int argc = args.Count - offset;
        int streamsPos = -1;
        for (int i = 1; i < argc; i++)
        {
            if (args.Is(offset + i, "BLOCK"u8) || args.Is(offset + i, "COUNT"u8)) i++;
            else if (args.Is(offset + i, "GROUP"u8)) i += 2;
            else if (args.Is(offset + i, "NOACK"u8)) { }
            else if (args.Is(offset + i, "STREAMS"u8))
            {
                streamsPos = i;
                break;
            }
            else break;
        }
        if (streamsPos < 0) return 0;
        int num = argc - streamsPos - 1;
        if (num == 0 || num % 2 != 0) return 0;
        num /= 2;
        for (int i = streamsPos + 1; i < argc - num; i++) result.Add(new KeyReference(i, NoFlags));
        return num;
    }

    private static int SetKeys(CommandArgs args, int offset, List<KeyReference> result)
    {
        int argc = args.Count - offset;
        for (int i = 3; i < argc; i++)
        {
            if (args.Is(offset + i, "GET"u8))
            {
                result.Add(new KeyReference(1, RwAccessUpdate));
                return 1;
            }
        }
        result.Add(new KeyReference(1, OwUpdate));
        return 1;
    }

    private static int BitfieldKeys(CommandArgs args, int offset, List<KeyReference> result)
    {
        int argc = args.Count - offset;
        bool readOnly = true;
        for (int i = 2; i < argc; i++)
        {
            int remaining = argc - i - 1;
            if (args.Is(offset + i, "GET"u8) && remaining >= 2) i += 2;
            else if ((args.Is(offset + i, "SET"u8) || args.Is(offset + i, "INCRBY"u8)) && remaining >= 3)
            {
                readOnly = false;
                break;
            }
            else if (args.Is(offset + i, "OVERFLOW"u8) && remaining >= 1) i += 1;
            else
            {
                readOnly = false;
                break;
            }
        }
        result.Add(new KeyReference(1, readOnly ? RoAccess : RwAccessUpdate));
        return 1;
    }
}
