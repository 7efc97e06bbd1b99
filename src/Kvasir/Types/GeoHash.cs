namespace Kvasir.Types;

/// <summary>A geohash cell: interleaved bits (latitude in the even positions) at a precision of <see cref="Step"/> bits per axis.</summary>
public readonly record struct GeoHashBits(ulong Bits, int Step)
{
    /// <summary>A cell cleared out of a search (Valkey's GZERO / HASHISZERO).</summary>
    public bool IsZero => Bits == 0 && Step == 0;
}

/// <summary>The rectangle of a geohash cell in degrees.</summary>
public readonly record struct GeoArea(GeoHashBits Hash, double LonMin, double LonMax, double LatMin, double LatMax);

/// <summary>What a GEOSEARCH looks for: a circle or an axis-aligned box around a point.</summary>
public struct GeoShape
{
    public bool IsBox;
    public double Longitude, Latitude;
    /// <summary>Meters per unit of the radius / box sides (1, 1000, 0.3048, 1609.34).</summary>
    public double Conversion;
    public double Radius;
    public double Width, Height;
    /// <summary>The search's bounding box: min lon, min lat, max lon, max lat.</summary>
    public double MinLon, MinLat, MaxLon, MaxLat;
}

/// <summary>
/// Valkey's geohash: 26 bits per axis interleaved into the 52-bit integer stored as a sorted set
/// score, over a Mercator-safe latitude range (±85.05112878). The search helpers compute the same
/// cell precision, neighbour cells and pruning as Valkey's geohash_helper.c, and the distances use
/// the same haversine formula and earth radius, so searches return the same members in the same
/// order and distances print the same digits.
/// </summary>
public static class GeoHash
{
    public const int StepMax = 26;
    public const double LatMin = -85.05112878;
    public const double LatMax = 85.05112878;
    public const double LonMin = -180;
    public const double LonMax = 180;

    public const double EarthRadiusMeters = 6372797.560856;
    private const double MercatorMax = 20037726.37;
    private const double DegToRad = Math.PI / 180.0;

    private static double ToRad(double deg) => deg * DegToRad;

    private static double ToDeg(double rad) => rad / DegToRad;

    // ----- bit interleaving -----

    /// <summary>Spreads the low 32 bits of x into the even bit positions and y into the odd ones.</summary>
    public static ulong Interleave(uint xlo, uint ylo)
    {
        ulong x = Spread(xlo), y = Spread(ylo);
        return x | (y << 1);
    }

    private static ulong Spread(ulong v)
    {
        v = (v | (v << 16)) & 0x0000FFFF0000FFFFUL;
        v = (v | (v << 8)) & 0x00FF00FF00FF00FFUL;
        v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0FUL;
        v = (v | (v << 2)) & 0x3333333333333333UL;
        v = (v | (v << 1)) & 0x5555555555555555UL;
        return v;
    }

    private static ulong Compact(ulong v)
    {
        v &= 0x5555555555555555UL;
        v = (v | (v >> 1)) & 0x3333333333333333UL;
        v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0FUL;
        v = (v | (v >> 4)) & 0x00FF00FF00FF00FFUL;
        v = (v | (v >> 8)) & 0x0000FFFF0000FFFFUL;
        v = (v | (v >> 16)) & 0x00000000FFFFFFFFUL;
        return v;
    }

    /// <summary>Inverse of <see cref="Interleave"/>: the even bits in the low half, the odd bits in the high half.</summary>
    public static ulong Deinterleave(ulong interleaved) => Compact(interleaved) | (Compact(interleaved >> 1) << 32);

    // ----- encode / decode -----

    /// <summary>Encodes a point at <paramref name="step"/> bits per axis over the given ranges; false outside them.</summary>
    public static bool Encode(double lonMin, double lonMax, double latMin, double latMax, double longitude, double latitude, int step, out GeoHashBits hash)
    {
        hash = default;
        if (step > 32 || step == 0 || (latMin == 0 && latMax == 0) || (lonMin == 0 && lonMax == 0)) return false;
        if (longitude > LonMax || longitude < LonMin || latitude > LatMax || latitude < LatMin) return false;
        if (latitude < latMin || latitude > latMax || longitude < lonMin || longitude > lonMax) return false;
        double latOffset = (latitude - latMin) / (latMax - latMin);
        double lonOffset = (longitude - lonMin) / (lonMax - lonMin);
        latOffset *= 1UL << step;
        lonOffset *= 1UL << step;
        hash = new GeoHashBits(Interleave((uint)latOffset, (uint)lonOffset), step);
        return true;
    }

    /// <summary>Encodes with Valkey's coordinate ranges.</summary>
    public static bool Encode(double longitude, double latitude, int step, out GeoHashBits hash) =>
        Encode(LonMin, LonMax, LatMin, LatMax, longitude, latitude, step, out hash);

    /// <summary>The cell of a hash over the given ranges; false for a zero hash.</summary>
    public static bool Decode(double lonMin, double lonMax, double latMin, double latMax, GeoHashBits hash, out GeoArea area)
    {
        area = default;
        if (hash.IsZero) return false;
        int step = hash.Step;
        ulong sep = Deinterleave(hash.Bits);
        double latScale = latMax - latMin;
        double lonScale = lonMax - lonMin;
        uint ilat = (uint)sep;
        uint ilon = (uint)(sep >> 32);
        double div = 1UL << step;
        area = new GeoArea(hash,
            lonMin + (ilon * 1.0 / div) * lonScale,
            lonMin + ((ilon + 1UL) * 1.0 / div) * lonScale,
            latMin + (ilat * 1.0 / div) * latScale,
            latMin + ((ilat + 1UL) * 1.0 / div) * latScale);
        return true;
    }

    public static bool Decode(GeoHashBits hash, out GeoArea area) => Decode(LonMin, LonMax, LatMin, LatMax, hash, out area);

    /// <summary>
    /// The point a sorted set score stands for: the centre of its 52-bit cell, clamped to the valid
    /// ranges. The score goes through C's double to uint64_t conversion, as Valkey's decodeGeohash does.
    /// </summary>
    public static bool DecodeScore(double score, out double longitude, out double latitude)
    {
        longitude = latitude = 0;
        if (!Decode(new GeoHashBits(DoubleToUInt64(score), StepMax), out var area)) return false;
        longitude = (area.LonMin + area.LonMax) / 2;
        if (longitude > LonMax) longitude = LonMax;
        if (longitude < LonMin) longitude = LonMin;
        latitude = (area.LatMin + area.LatMax) / 2;
        if (latitude > LatMax) latitude = LatMax;
        if (latitude < LatMin) latitude = LatMin;
        return true;
    }

    /// <summary>What gcc's x86-64 code for (uint64_t)d yields, including for negative and out-of-range values.</summary>
    private static ulong DoubleToUInt64(double d)
    {
        const double TwoTo63 = 9223372036854775808.0;
        if (d < TwoTo63) return d > -TwoTo63 ? (ulong)(long)d : 0x8000000000000000UL;
        double shifted = d - TwoTo63;
        return shifted < TwoTo63 ? (ulong)(long)shifted ^ 0x8000000000000000UL : 0;
    }

    /// <summary>The 52-bit sorted set score of a point (the caller validated the coordinates).</summary>
    public static ulong Score(double longitude, double latitude)
    {
        Encode(longitude, latitude, StepMax, out var hash);
        return Align52(hash);
    }

    public static ulong Align52(GeoHashBits hash) => hash.Bits << (52 - hash.Step * 2);

    /// <summary>The standard 11-character base32 geohash of a score (GEOHASH): re-encoded over ±90° latitude.</summary>
    public static void ToBase32(double score, Span<byte> dest)
    {
        ReadOnlySpan<byte> alphabet = "0123456789bcdefghjkmnpqrstuvwxyz"u8;
        DecodeScore(score, out double lon, out double lat);
        Encode(-180, 180, -90, 90, lon, lat, StepMax, out var hash);
        for (int i = 0; i < 11; i++)
        {
            // 52 bits give ten full characters; the eleventh is padded with zero bits.
            int idx = i == 10 ? 0 : (int)((hash.Bits >> (52 - (i + 1) * 5)) & 0x1f);
            dest[i] = alphabet[idx];
        }
    }

    // ----- neighbours -----

    private static ulong MoveX(ulong bits, int step, int d)
    {
        if (d == 0) return bits;
        ulong x = bits & 0xaaaaaaaaaaaaaaaaUL;
        ulong y = bits & 0x5555555555555555UL;
        ulong zz = 0x5555555555555555UL >> (64 - step * 2);
        if (d > 0) x += zz + 1;
        else
        {
            x |= zz;
            x -= zz + 1;
        }
        x &= 0xaaaaaaaaaaaaaaaaUL >> (64 - step * 2);
        return x | y;
    }

    private static ulong MoveY(ulong bits, int step, int d)
    {
        if (d == 0) return bits;
        ulong x = bits & 0xaaaaaaaaaaaaaaaaUL;
        ulong y = bits & 0x5555555555555555UL;
        ulong zz = 0xaaaaaaaaaaaaaaaaUL >> (64 - step * 2);
        if (d > 0) y += zz + 1;
        else
        {
            y |= zz;
            y -= zz + 1;
        }
        y &= 0x5555555555555555UL >> (64 - step * 2);
        return x | y;
    }

    private static GeoHashBits Move(GeoHashBits h, int dx, int dy) => new(MoveY(MoveX(h.Bits, h.Step, dx), h.Step, dy), h.Step);

    // ----- search areas -----

    /// <summary>Cell precision whose cells are about as large as the radius (coarser near the poles).</summary>
    public static int EstimateStepsByRadius(double rangeMeters, double latitude)
    {
        if (rangeMeters == 0) return 26;
        int step = 1;
        while (rangeMeters < MercatorMax)
        {
            rangeMeters *= 2;
            step++;
        }
        step -= 2;
        if (latitude > 66 || latitude < -66)
        {
            step--;
            if (latitude > 80 || latitude < -80) step--;
        }
        if (step < 1) step = 1;
        if (step > 26) step = 26;
        return step;
    }

    /// <summary>Fills the shape's bounding box (min/max longitude and latitude).</summary>
    public static void BoundingBox(ref GeoShape shape)
    {
        double lon = shape.Longitude, lat = shape.Latitude;
        double height = shape.Conversion * (shape.IsBox ? shape.Height / 2 : shape.Radius);
        double width = shape.Conversion * (shape.IsBox ? shape.Width / 2 : shape.Radius);
        double latDelta = ToDeg(height / EarthRadiusMeters);
        double lonDeltaTop = ToDeg(width / EarthRadiusMeters / Math.Cos(ToRad(lat + latDelta)));
        double lonDeltaBottom = ToDeg(width / EarthRadiusMeters / Math.Cos(ToRad(lat - latDelta)));
        // Meridians converge towards the pole: the wider edge is the one nearer the equator.
        bool southern = lat < 0;
        shape.MinLon = southern ? lon - lonDeltaBottom : lon - lonDeltaTop;
        shape.MaxLon = southern ? lon + lonDeltaBottom : lon + lonDeltaTop;
        shape.MinLat = lat - latDelta;
        shape.MaxLat = lat + latDelta;
    }

    /// <summary>
    /// The nine cells (centre, N, S, E, W, NE, NW, SE, SW — zero when pruned) whose union covers the
    /// search area, in the order Valkey scans them.
    /// </summary>
    public static GeoHashBits[] AreasForShape(ref GeoShape shape)
    {
        BoundingBox(ref shape);
        double radiusMeters = shape.IsBox
            ? Math.Sqrt((shape.Width / 2) * (shape.Width / 2) + (shape.Height / 2) * (shape.Height / 2))
            : shape.Radius;
        radiusMeters *= shape.Conversion;

        int steps = EstimateStepsByRadius(radiusMeters, shape.Latitude);
        Encode(shape.Longitude, shape.Latitude, steps, out var hash);
        var n = Neighbours(hash);
        Decode(hash, out var area);

        // Near a cell border the estimated precision can leave part of the area outside the 3x3 block.
        bool decrease = false;
        Decode(n[1], out var north);
        Decode(n[2], out var south);
        Decode(n[3], out var east);
        Decode(n[4], out var west);
        if (north.LatMax < shape.MaxLat) decrease = true;
        if (south.LatMin > shape.MinLat) decrease = true;
        if (east.LonMax < shape.MaxLon) decrease = true;
        if (west.LonMin > shape.MinLon) decrease = true;

        if (steps > 1 && decrease)
        {
            steps--;
            Encode(shape.Longitude, shape.Latitude, steps, out hash);
            n = Neighbours(hash);
            Decode(hash, out area);
        }

        if (steps >= 2)
        {
            if (area.LatMin < shape.MinLat)
            {
                n[2] = default;
                n[8] = default;
                n[7] = default;
            }
            if (area.LatMax > shape.MaxLat)
            {
                n[1] = default;
                n[5] = default;
                n[6] = default;
            }
            if (area.LonMin < shape.MinLon)
            {
                n[4] = default;
                n[8] = default;
                n[6] = default;
            }
            if (area.LonMax > shape.MaxLon)
            {
                n[3] = default;
                n[7] = default;
                n[5] = default;
            }
        }
        return n;
    }

    /// <summary>The cell and its eight neighbours: centre, N, S, E, W, NE, NW, SE, SW.</summary>
    private static GeoHashBits[] Neighbours(GeoHashBits h) => new[]
    {
        h,
        Move(h, 0, 1),
        Move(h, 0, -1),
        Move(h, 1, 0),
        Move(h, -1, 0),
        Move(h, 1, 1),
        Move(h, -1, 1),
        Move(h, 1, -1),
        Move(h, -1, -1),
    };

    // ----- distances -----

    public static double LatDistance(double lat1, double lat2) => EarthRadiusMeters * Math.Abs(ToRad(lat2) - ToRad(lat1));

    /// <summary>Haversine great-circle distance in meters.</summary>
    public static double Distance(double lon1, double lat1, double lon2, double lat2)
    {
        double lon1r = ToRad(lon1), lon2r = ToRad(lon2);
        double v = Math.Sin((lon2r - lon1r) / 2);
        // Same meridian: the distance is along it alone (and cheaper).
        if (v == 0.0) return LatDistance(lat1, lat2);
        double lat1r = ToRad(lat1), lat2r = ToRad(lat2);
        double u = Math.Sin((lat2r - lat1r) / 2);
        double a = u * u + Math.Cos(lat1r) * Math.Cos(lat2r) * v * v;
        return 2.0 * EarthRadiusMeters * Math.Asin(Math.Sqrt(a));
    }

    /// <summary>True when the point (lon, lat) is inside the shape; <paramref name="distance"/> is from the shape's centre in meters.</summary>
    public static bool WithinShape(in GeoShape shape, double lon, double lat, out double distance)
    {
        if (!shape.IsBox)
        {
            distance = Distance(shape.Longitude, shape.Latitude, lon, lat);
            return distance <= shape.Radius * shape.Conversion;
        }
        distance = 0;
        double height = shape.Height * shape.Conversion, width = shape.Width * shape.Conversion;
        if (LatDistance(lat, shape.Latitude) > height / 2) return false;
        // Along the point's own parallel: a box edge follows the parallels, not great circles.
        if (Distance(lon, lat, shape.Longitude, lat) > width / 2) return false;
        distance = Distance(shape.Longitude, shape.Latitude, lon, lat);
        return true;
    }

    // ----- formatting -----

    /// <summary>Valkey's fixedpoint_d2string(value, 4): rounded half to even at 4 decimals, always 4 digits after the point.</summary>
    public static int FormatDistance(double value, Span<byte> dest)
    {
        if (value == 0)
        {
            "0.0000"u8.CopyTo(dest);
            return 6;
        }
        double scaled = Math.Round(value * 10000.0, MidpointRounding.ToEven);
        long s = scaled >= 9.2233720368547758E18 || scaled < -9.2233720368547758E18 || double.IsNaN(scaled) ? long.MinValue : (long)scaled;
        int p = 0;
        ulong mag;
        if (s < 0)
        {
            dest[p++] = (byte)'-';
            mag = s == long.MinValue ? 1UL << 63 : (ulong)(-s);
        }
        else mag = (ulong)s;
        Span<byte> digits = stackalloc byte[24];
        int n = 0;
        do
        {
            digits[n++] = (byte)('0' + (int)(mag % 10));
            mag /= 10;
        } while (mag != 0);
        while (n < 5) digits[n++] = (byte)'0'; // at least "0.dddd"
        for (int i = n - 1; i >= 4; i--) dest[p++] = digits[i];
        dest[p++] = (byte)'.';
        for (int i = 3; i >= 0; i--) dest[p++] = digits[i];
        return p;
    }
}
