using Kvasir.Config;
using System.Globalization;
using System.Text;
using Kvasir.Types;

namespace Kvasir.Commands;

/// <summary>
/// Geo commands (Valkey's geo.c): points are sorted set members whose score is their 52-bit
/// geohash, so every sorted set command works on them too.
/// </summary>
public static class GeoCommands
{
    public static void Register(CommandTable t)
    {
        t.Bind("geoadd", GeoAdd);
        t.Bind("geopos", GeoPos);
        t.Bind("geodist", GeoDist);
        t.Bind("geohash", GeoHashCommand);
        t.Bind("georadius", c => Search(c, 1, SearchFlags.FromCoords));
        t.Bind("georadius_ro", c => Search(c, 1, SearchFlags.FromCoords | SearchFlags.NoStore));
        t.Bind("georadiusbymember", c => Search(c, 1, SearchFlags.FromMember));
        t.Bind("georadiusbymember_ro", c => Search(c, 1, SearchFlags.FromMember | SearchFlags.NoStore));
        t.Bind("geosearch", c => Search(c, 1, SearchFlags.GeoSearch));
        t.Bind("geosearchstore", c => Search(c, 2, SearchFlags.GeoSearch | SearchFlags.GeoSearchStore));
    }

    // ----- argument helpers -----

    /// <summary>Reads "longitude latitude" at <paramref name="index"/>; replies the error itself on failure.</summary>
    private static bool TryGetLonLat(CommandContext ctx, int index, out double lon, out double lat)
    {
        lat = 0;
        if (!CFloat.TryParseStrict(ctx.Args[index], out lon) || !CFloat.TryParseStrict(ctx.Args[index + 1], out lat))
        {
            ctx.NotFloat();
            return false;
        }
        if (lon < GeoHash.LonMin || lon > GeoHash.LonMax || lat < GeoHash.LatMin || lat > GeoHash.LatMax)
        {
            ctx.Error($"ERR invalid longitude,latitude pair {FormatF6(lon)},{FormatF6(lat)}");
            return false;
        }
        return true;
    }

    /// <summary>printf("%f") of a double (glibc spelling of infinities).</summary>
    private static string FormatF6(double v)
    {
        if (double.IsPositiveInfinity(v)) return "inf";
        if (double.IsNegativeInfinity(v)) return "-inf";
        if (double.IsNaN(v)) return double.IsNegative(v) ? "-nan" : "nan";
        return v.ToString("F6", CultureInfo.InvariantCulture);
    }

    /// <summary>Meters per unit, or -1 after replying the error.</summary>
    private static double UnitToMeters(CommandContext ctx, int index)
    {
        var u = ctx.Args[index];
        if (Protocol.Ascii.EqualsIgnoreCase(u, "M"u8)) return 1;
        if (Protocol.Ascii.EqualsIgnoreCase(u, "KM"u8)) return 1000;
        if (Protocol.Ascii.EqualsIgnoreCase(u, "FT"u8)) return 0.3048;
        if (Protocol.Ascii.EqualsIgnoreCase(u, "MI"u8)) return 1609.34;
        ctx.Error("ERR unsupported unit provided. please use M, KM, FT, MI");
        return -1;
    }

    /// <summary>"radius unit" at <paramref name="index"/>.</summary>
    private static bool TryGetRadius(CommandContext ctx, int index, ref GeoShape shape)
    {
        if (!CFloat.TryParseStrict(ctx.Args[index], out double radius))
        {
            ctx.Error("ERR need numeric radius");
            return false;
        }
        if (radius < 0)
        {
            ctx.Error("ERR radius cannot be negative");
            return false;
        }
        shape.Radius = radius;
        double conversion = UnitToMeters(ctx, index + 1);
        if (conversion < 0) return false;
        shape.Conversion = conversion;
        return true;
    }

    /// <summary>"width height unit" at <paramref name="index"/>.</summary>
    private static bool TryGetBox(CommandContext ctx, int index, ref GeoShape shape)
    {
        if (!CFloat.TryParseStrict(ctx.Args[index], out double w))
        {
            ctx.Error("ERR need numeric width");
            return false;
        }
        if (!CFloat.TryParseStrict(ctx.Args[index + 1], out double h))
        {
            ctx.Error("ERR need numeric height");
            return false;
        }
        if (h < 0 || w < 0)
        {
            ctx.Error("ERR height or width cannot be negative");
            return false;
        }
        shape.Width = w;
        shape.Height = h;
        double conversion = UnitToMeters(ctx, index + 2);
        if (conversion < 0) return false;
        shape.Conversion = conversion;
        return true;
    }

    /// <summary>The position of a member, false when it is not in the set.</summary>
    private static bool TryMemberPosition(SortedSetValue zset, ReadOnlySpan<byte> member, out double lon, out double lat)
    {
        lon = lat = 0;
        return zset.TryGetScore(member, out double score) && GeoHash.DecodeScore(score, out lon, out lat);
    }

    /// <summary>A coordinate as Valkey's addReplyHumanLongDouble writes it ("%.17Lf", trailing zeros trimmed).</summary>
    private static void WriteCoordinate(CommandContext ctx, double value)
    {
        Span<byte> text = stackalloc byte[64];
        int n = LongDouble.FromDouble(value).FormatHuman(text);
        ctx.Reply.WriteDoubleText(text.Slice(0, n));
    }

    private static void WriteDistance(CommandContext ctx, double meters)
    {
        Span<byte> text = stackalloc byte[40];
        int n = GeoHash.FormatDistance(meters, text);
        ctx.Reply.WriteBulk(text.Slice(0, n));
    }

    // ----- GEOADD -----

    /// <summary>GEOADD key [NX|XX] [CH] lon lat member ...: a ZADD of geohash scores.</summary>
    private static void GeoAdd(CommandContext ctx)
    {
        var args = ctx.Args;
        bool nx = false, xx = false, ch = false;
        int first = 2;
        for (; first < args.Count; first++)
        {
            if (args.Is(first, "NX"u8)) nx = true;
            else if (args.Is(first, "XX"u8)) xx = true;
            else if (args.Is(first, "CH"u8)) ch = true;
            else break;
        }
        int remaining = args.Count - first;
        if (remaining % 3 != 0 || (xx && nx))
        {
            ctx.SyntaxError();
            return;
        }
        int elements = remaining / 3;
        if (elements == 0)
        {
            // ZADD's own check: options but no score-member pair.
            ctx.SyntaxError();
            return;
        }
        var scores = new double[elements];
        long longest = 0;
        for (int i = 0; i < elements; i++)
        {
            if (!TryGetLonLat(ctx, first + i * 3, out double lon, out double lat)) return;
            scores[i] = GeoHash.Score(lon, lat);
            longest = Math.Max(longest, args[first + i * 3 + 2].Length);
        }

        var flags = (nx ? ZAddFlags.NX : 0) | (xx ? ZAddFlags.XX : 0);
        var db = ctx.Db;
        var cfg = ctx.Server.Config;
        if (!SortedSetCommands.TryWrite(ctx, args[1], out int idx, out var zset)) return;
        bool created = false;
        long before = 0;
        if (zset is null)
        {
            if (xx)
            {
                ctx.Reply.WriteInteger(0);
                return;
            }
            zset = SortedSetValue.Create(elements, longest, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue);
            created = true;
        }
        else
        {
            before = db.MemoryAt(idx);
            zset.MaybeConvert(elements, longest, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue);
        }
        long added = 0, updated = 0;
        for (int i = 0; i < elements; i++)
        {
            var result = zset.Add(scores[i], args[first + i * 3 + 2], flags, cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue, out _);
            if (result == ZAddResult.Added) added++;
            else if (result == ZAddResult.Updated) updated++;
        }
        if (created)
        {
            if (zset.Count > 0) db.AddObject(args[1], zset);
        }
        else if (added + updated > 0) db.ValueEdited(idx, before);
        else db.ValueResized(idx, before);
        if (added + updated > 0) ctx.Notify(KeyspaceEventFlags.Zset, "zadd"u8, args[1]);
        if (ctx.Propagating) ctx.PropagateAs(ZAddEffect(ctx, first, scores));
        ctx.Reply.WriteInteger(ch ? added + updated : added);
    }

    /// <summary>GEOADD replays as the ZADD it amounts to (Valkey rewrites the command vector the same way).</summary>
    private static byte[][] ZAddEffect(CommandContext ctx, int first, double[] scores)
    {
        var args = ctx.Args;
        var argv = new byte[first + scores.Length * 2][];
        argv[0] = "zadd"u8.ToArray();
        for (int i = 1; i < first; i++) argv[i] = args.ToArray(i);
        for (int i = 0; i < scores.Length; i++)
        {
            argv[first + i * 2] = NumberFormat.LongToBytes((long)scores[i]);
            argv[first + i * 2 + 1] = args.ToArray(first + i * 3 + 2);
        }
        return argv;
    }

    // ----- GEOPOS / GEODIST / GEOHASH -----

    private static void GeoPos(CommandContext ctx)
    {
        if (!SortedSetCommands.TryRead(ctx, 1, out var zset)) return;
        var reply = ctx.Reply;
        reply.WriteArray(ctx.Args.Count - 2);
        for (int j = 2; j < ctx.Args.Count; j++)
        {
            if (zset is null || !TryMemberPosition(zset, ctx.Args[j], out double lon, out double lat))
            {
                reply.WriteNullArray();
                continue;
            }
            reply.WriteArray(2);
            WriteCoordinate(ctx, lon);
            WriteCoordinate(ctx, lat);
        }
    }

    private static void GeoDist(CommandContext ctx)
    {
        double toMeters = 1;
        if (ctx.Args.Count == 5)
        {
            toMeters = UnitToMeters(ctx, 4);
            if (toMeters < 0) return;
        }
        else if (ctx.Args.Count > 5)
        {
            ctx.SyntaxError();
            return;
        }
        if (!SortedSetCommands.TryRead(ctx, 1, out var zset)) return;
        if (zset is null
            || !TryMemberPosition(zset, ctx.Args[2], out double lon1, out double lat1)
            || !TryMemberPosition(zset, ctx.Args[3], out double lon2, out double lat2))
        {
            ctx.Reply.WriteNull();
            return;
        }
        WriteDistance(ctx, GeoHash.Distance(lon1, lat1, lon2, lat2) / toMeters);
    }

    private static void GeoHashCommand(CommandContext ctx)
    {
        if (!SortedSetCommands.TryRead(ctx, 1, out var zset)) return;
        var reply = ctx.Reply;
        reply.WriteArray(ctx.Args.Count - 2);
        Span<byte> buf = stackalloc byte[11];
        for (int j = 2; j < ctx.Args.Count; j++)
        {
            if (zset is null || !zset.TryGetScore(ctx.Args[j], out double score))
            {
                reply.WriteNull();
                continue;
            }
            GeoHash.ToBase32(score, buf);
            reply.WriteBulk(buf);
        }
    }

    // ----- GEORADIUS / GEORADIUSBYMEMBER / GEOSEARCH / GEOSEARCHSTORE -----

    [Flags]
    private enum SearchFlags
    {
        FromCoords = 1,
        FromMember = 2,
        NoStore = 4,
        GeoSearch = 8,
        GeoSearchStore = 16,
    }

    private enum SortOrder { None, Asc, Desc }

    /// <summary>One match: the member, its score (geohash), position and distance from the centre.</summary>
    private struct GeoPoint
    {
        public byte[] Member;
        public double Score, Longitude, Latitude, Distance;
    }

    /// <summary>Valkey's georadiusGeneric: parses the options of all six search commands and runs the search.</summary>
    private static void Search(CommandContext ctx, int srcKeyIndex, SearchFlags flags)
    {
        var args = ctx.Args;
        byte[]? storeKey = null;
        bool storeDist = false;

        if (!SortedSetCommands.TryRead(ctx, srcKeyIndex, out var zset)) return;

        int baseArgs;
        var shape = new GeoShape();
        if ((flags & SearchFlags.FromCoords) != 0)
        {
            baseArgs = 6;
            if (!TryGetLonLat(ctx, 2, out shape.Longitude, out shape.Latitude)) return;
            if (!TryGetRadius(ctx, baseArgs - 2, ref shape)) return;
        }
        else if ((flags & SearchFlags.FromMember) != 0 && zset is null)
        {
            // No source: the options are still parsed, to know which empty reply to give.
            baseArgs = 5;
        }
        else if ((flags & SearchFlags.FromMember) != 0)
        {
            baseArgs = 5;
            if (!TryMemberPosition(zset!, args[2], out shape.Longitude, out shape.Latitude))
            {
                ctx.Error("ERR could not decode requested zset member");
                return;
            }
            if (!TryGetRadius(ctx, baseArgs - 2, ref shape)) return;
        }
        else
        {
            baseArgs = 2;
            if ((flags & SearchFlags.GeoSearchStore) != 0)
            {
                baseArgs = 3;
                storeKey = args.ToArray(1);
            }
        }

        bool withDist = false, withHash = false, withCoords = false;
        bool fromMember = false, fromLonLat = false, byRadius = false, byBox = false;
        var sort = SortOrder.None;
        bool any = false;
        long count = 0;
        bool geoSearch = (flags & SearchFlags.GeoSearch) != 0;
        bool noStore = (flags & SearchFlags.NoStore) != 0;
        int remaining = args.Count - baseArgs;
        for (int i = 0; i < remaining; i++)
        {
            int a = baseArgs + i;
            if (args.Is(a, "WITHDIST"u8)) withDist = true;
            else if (args.Is(a, "WITHHASH"u8)) withHash = true;
            else if (args.Is(a, "WITHCOORD"u8)) withCoords = true;
            else if (args.Is(a, "ANY"u8)) any = true;
            else if (args.Is(a, "ASC"u8)) sort = SortOrder.Asc;
            else if (args.Is(a, "DESC"u8)) sort = SortOrder.Desc;
            else if (args.Is(a, "COUNT"u8) && i + 1 < remaining)
            {
                if (!ctx.TryGetLong(a + 1, out count)) return;
                if (count <= 0)
                {
                    ctx.Error("ERR COUNT must be > 0");
                    return;
                }
                i++;
            }
            else if (args.Is(a, "STORE"u8) && i + 1 < remaining && !noStore && !geoSearch)
            {
                storeKey = args.ToArray(a + 1);
                storeDist = false;
                i++;
            }
            else if (args.Is(a, "STOREDIST"u8) && i + 1 < remaining && !noStore && !geoSearch)
            {
                storeKey = args.ToArray(a + 1);
                storeDist = true;
                i++;
            }
            else if (args.Is(a, "STOREDIST"u8) && geoSearch && (flags & SearchFlags.GeoSearchStore) != 0)
            {
                storeDist = true;
            }
            else if (args.Is(a, "FROMMEMBER"u8) && i + 1 < remaining && geoSearch && !fromLonLat)
            {
                if (zset is not null && !TryMemberPosition(zset, args[a + 1], out shape.Longitude, out shape.Latitude))
                {
                    ctx.Error("ERR could not decode requested zset member");
                    return;
                }
                fromMember = true;
                i++;
            }
            else if (args.Is(a, "FROMLONLAT"u8) && i + 2 < remaining && geoSearch && !fromMember)
            {
                if (!TryGetLonLat(ctx, a + 1, out shape.Longitude, out shape.Latitude)) return;
                fromLonLat = true;
                i += 2;
            }
            else if (args.Is(a, "BYRADIUS"u8) && i + 2 < remaining && geoSearch && !byBox)
            {
                if (!TryGetRadius(ctx, a + 1, ref shape)) return;
                shape.IsBox = false;
                byRadius = true;
                i += 2;
            }
            else if (args.Is(a, "BYBOX"u8) && i + 3 < remaining && geoSearch && !byRadius)
            {
                if (!TryGetBox(ctx, a + 1, ref shape)) return;
                shape.IsBox = true;
                byBox = true;
                i += 3;
            }
            else
            {
                ctx.SyntaxError();
                return;
            }
        }

        if (storeKey is not null && (withDist || withHash || withCoords))
        {
            string who = (flags & SearchFlags.GeoSearchStore) != 0 ? "GEOSEARCHSTORE" : "STORE option in GEORADIUS";
            ctx.Error($"ERR {who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options");
            return;
        }
        if (geoSearch && !(fromMember || fromLonLat))
        {
            ctx.Error($"ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {Encoding.UTF8.GetString(args[0])}");
            return;
        }
        if (geoSearch && !(byRadius || byBox))
        {
            ctx.Error($"ERR exactly one of BYRADIUS and BYBOX can be specified for {Encoding.UTF8.GetString(args[0])}");
            return;
        }
        if (any && count == 0)
        {
            ctx.Error("ERR the ANY argument requires COUNT argument");
            return;
        }

        if (zset is null)
        {
            if (storeKey is not null) SortedSetCommands.StoreResult(ctx, storeKey, null, default);
            else ctx.Reply.WriteArray(0);
            return;
        }

        // The closest N need an order: COUNT without ANY sorts ascending unless told otherwise.
        if (count != 0 && sort == SortOrder.None && !any) sort = SortOrder.Asc;

        var areas = GeoHash.AreasForShape(ref shape);
        var points = new List<GeoPoint>();
        CollectNeighbours(zset, areas, shape, points, any ? count : 0);

        if (points.Count == 0 && storeKey is null)
        {
            ctx.Reply.WriteArray(0);
            return;
        }

        long returned = count == 0 || points.Count < count ? points.Count : count;
        if (sort != SortOrder.None)
        {
            var sorted = points.ToArray();
            Comparison<GeoPoint> compare = sort == SortOrder.Asc
                ? (x, y) => x.Distance > y.Distance ? 1 : x.Distance == y.Distance ? 0 : -1
                : (x, y) => x.Distance > y.Distance ? -1 : x.Distance == y.Distance ? 0 : 1;
            // Valkey: qsort (stable here) for everything, its partial quicksort when COUNT cuts the result.
            if (returned == sorted.Length) CSort.MergeSort(sorted, compare);
            else CSort.PartialQuickSort(sorted, compare, 0, (int)returned - 1);
            points = new List<GeoPoint>(sorted);
        }

        if (storeKey is null)
        {
            int options = (withDist ? 1 : 0) + (withCoords ? 1 : 0) + (withHash ? 1 : 0);
            var reply = ctx.Reply;
            reply.WriteArray(returned);
            for (int i = 0; i < returned; i++)
            {
                var p = points[i];
                double dist = p.Distance / shape.Conversion;
                if (options > 0) reply.WriteArray(options + 1);
                reply.WriteBulk(p.Member);
                if (withDist) WriteDistance(ctx, dist);
                if (withHash) reply.WriteInteger((long)p.Score);
                if (withCoords)
                {
                    reply.WriteArray(2);
                    WriteCoordinate(ctx, p.Longitude);
                    WriteCoordinate(ctx, p.Latitude);
                }
            }
            return;
        }

        SortedSetValue? result = null;
        if (returned > 0)
        {
            var cfg = ctx.Server.Config;
            result = SortedSetValue.Create(long.MaxValue, 0, 0, 0);
            for (int i = 0; i < returned; i++)
            {
                var p = points[i];
                double score = storeDist ? p.Distance / shape.Conversion : p.Score;
                result.Add(score, p.Member, ZAddFlags.None, 0, 0, out _);
            }
            result.ConvertToPackedIfFits(cfg.ZsetMaxListpackEntries, cfg.ZsetMaxListpackValue);
        }
        SortedSetCommands.StoreResult(ctx, storeKey, result, geoSearch ? "geosearchstore"u8 : "georadiusstore"u8);
    }

    /// <summary>
    /// Scans the nine cells in order (skipping pruned cells and a cell equal to the one scanned
    /// before it, which happens with huge radii), collecting the members inside the shape. With a
    /// <paramref name="limit"/> (COUNT ANY) the scan stops as soon as enough were found.
    /// </summary>
    private static void CollectNeighbours(SortedSetValue zset, GeoHashBits[] cells, in GeoShape shape, List<GeoPoint> points, long limit)
    {
        int lastProcessed = 0;
        for (int i = 0; i < cells.Length; i++)
        {
            if (cells[i].IsZero) continue;
            if (lastProcessed != 0 && cells[i] == cells[lastProcessed]) continue;
            if (points.Count > 0 && limit != 0 && points.Count >= limit) break;
            CollectCell(zset, cells[i], shape, points, limit);
            lastProcessed = i;
        }
    }

    /// <summary>The members whose scores fall in the cell's range [min, max) and inside the shape.</summary>
    private static void CollectCell(SortedSetValue zset, GeoHashBits cell, in GeoShape shape, List<GeoPoint> points, long limit)
    {
        double min = GeoHash.Align52(cell);
        double max = GeoHash.Align52(new GeoHashBits(cell.Bits + 1, cell.Step));
        var range = new ScoreRange(min, false, max, true);
        if (min > max) return;
        long rank = zset.CountPrefix(new ScoreRange.BelowMin(range));
        var it = zset.IterateFrom(rank, false);
        while (it.MoveNext())
        {
            double score = it.Score;
            if (!range.LteMax(score)) break;
            if (GeoHash.DecodeScore(score, out double lon, out double lat) && GeoHash.WithinShape(shape, lon, lat, out double distance))
            {
                points.Add(new GeoPoint { Member = it.Member.ToArray(), Score = score, Longitude = lon, Latitude = lat, Distance = distance });
            }
            if (points.Count > 0 && limit != 0 && points.Count >= limit) break;
        }
    }
}
