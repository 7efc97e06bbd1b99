using System.Text;

namespace Kvasir.Commands;

/// <summary>
/// LOLWUT [VERSION v] [...]: Valkey's computer art. Valkey 8 (no VERSION, or any version but 5 and
/// 6) answers only its version line; VERSION 5 draws Georg Nees' "Schotter" in Braille characters,
/// VERSION 6 a skyline in four terminal grays, each with Valkey's size arguments and limits. Both
/// are random drawings, so no two answers (Valkey's included) are the same.
/// </summary>
public static class LolwutCommand
{
    public static void Register(CommandTable t) => t.Bind("lolwut", Lolwut);

    private static void Lolwut(CommandContext ctx)
    {
        string version = KvasirServer.ValkeyVersion;
        int first = 1;
        if (ctx.ArgCount >= 3 && ctx.ArgIs(1, "VERSION"u8))
        {
            if (!ctx.TryGetLong(2, out long v)) return;
            version = (uint)v + ".0.0";
            first = 3;
        }
        bool five = (version.StartsWith("5.") && !version.StartsWith("5.9")) || version.StartsWith("4.9");
        bool six = (version.StartsWith("6.") && !version.StartsWith("6.9")) || version.StartsWith("5.9");
        if (five) Schotter(ctx, first);
        else if (six) Skyline(ctx, first);
        else ctx.Reply.WriteVerbatim("Redis ver. " + KvasirServer.ValkeyVersion + "\n");
    }

    /// <summary>Reads the optional numeric arguments from <paramref name="first"/> on; false when one is not an integer (already answered).</summary>
    private static bool Options(CommandContext ctx, int first, long[] values)
    {
        for (int i = 0; i < values.Length && first + i < ctx.ArgCount; i++)
            if (!ctx.TryGetLong(first + i, out values[i])) return false;
        return true;
    }

    // ----- a canvas of pixels -----

    private sealed class Canvas(int width, int height, byte background)
    {
        public readonly int Width = width, Height = height;
        private readonly byte[] _pixels = Fill(width * height, background);

        private static byte[] Fill(int n, byte b)
        {
            var a = new byte[n];
            Array.Fill(a, b);
            return a;
        }

        public void Set(int x, int y, int color)
        {
            if (x >= 0 && x < Width && y >= 0 && y < Height) _pixels[x + y * Width] = (byte)color;
        }

        public int Get(int x, int y) => x >= 0 && x < Width && y >= 0 && y < Height ? _pixels[x + y * Width] : 0;

        /// <summary>Bresenham's line.</summary>
        public void Line(int x1, int y1, int x2, int y2, int color)
        {
            int dx = Math.Abs(x2 - x1), dy = Math.Abs(y2 - y1);
            int sx = x1 < x2 ? 1 : -1, sy = y1 < y2 ? 1 : -1;
            int err = dx - dy;
            while (true)
            {
                Set(x1, y1, color);
                if (x1 == x2 && y1 == y2) break;
                int e2 = err * 2;
                if (e2 > -dy) { err -= dy; x1 += sx; }
                if (e2 < dx) { err += dx; y1 += sy; }
            }
        }

        /// <summary>A square of side <paramref name="size"/> centred on x,y and turned by <paramref name="angle"/>: its corners lie on a circle.</summary>
        public void Square(int x, int y, float size, float angle, int color)
        {
            size = MathF.Round(size / 1.4142135623f);
            Span<int> px = stackalloc int[4], py = stackalloc int[4];
            float k = MathF.PI / 4 + angle;
            for (int j = 0; j < 4; j++)
            {
                px[j] = (int)Math.Round(Math.Sin(k) * size + x);
                py[j] = (int)Math.Round(Math.Cos(k) * size + y);
                k += MathF.PI / 2;
            }
            for (int j = 0; j < 4; j++) Line(px[j], py[j], px[(j + 1) % 4], py[(j + 1) % 4], color);
        }
    }

    // ----- version 5: Schotter -----

    private static void Schotter(CommandContext ctx, int first)
    {
        long[] o = [66, 8, 12]; // columns, squares per row, squares per column
        if (!Options(ctx, first, o)) return;
        int cols = (int)Math.Clamp(o[0], 1, 1000), perRow = (int)Math.Clamp(o[1], 1, 200), perCol = (int)Math.Clamp(o[2], 1, 200);

        int width = cols * 2;
        int padding = width > 4 ? 2 : 0;
        float side = (float)(width - padding * 2) / perRow;
        var canvas = new Canvas(width, (int)(side * perCol + padding * 2), 0);
        var random = Random.Shared;
        for (int y = 0; y < perCol; y++)
        {
            for (int x = 0; x < perRow; x++)
            {
                int sx = (int)(x * side + side / 2 + padding);
                int sy = (int)(y * side + side / 2 + padding);
                float angle = 0;
                // Lower rows are turned and shifted more and more at random.
                if (y > 1)
                {
                    float r1 = random.NextSingle() / perCol * y, r2 = random.NextSingle() / perCol * y, r3 = random.NextSingle() / perCol * y;
                    if (random.Next(2) == 1) r1 = -r1;
                    if (random.Next(2) == 1) r2 = -r2;
                    if (random.Next(2) == 1) r3 = -r3;
                    angle = r1;
                    sx += (int)(r2 * side / 3);
                    sy += (int)(r3 * side / 3);
                }
                canvas.Square(sx, sy, side, angle, 1);
            }
        }

        // Each character is a 2x4 block of pixels, as a Braille pattern (U+2800 + dot bits).
        var text = new StringBuilder();
        for (int y = 0; y < canvas.Height; y += 4)
        {
            for (int x = 0; x < canvas.Width; x += 2)
            {
                int dots = 0;
                if (canvas.Get(x, y) != 0) dots |= 1;
                if (canvas.Get(x, y + 1) != 0) dots |= 2;
                if (canvas.Get(x, y + 2) != 0) dots |= 4;
                if (canvas.Get(x + 1, y) != 0) dots |= 8;
                if (canvas.Get(x + 1, y + 1) != 0) dots |= 16;
                if (canvas.Get(x + 1, y + 2) != 0) dots |= 32;
                if (canvas.Get(x, y + 3) != 0) dots |= 64;
                if (canvas.Get(x + 1, y + 3) != 0) dots |= 128;
                text.Append((char)(0x2800 + dots));
            }
            if (y != canvas.Height - 1) text.Append('\n');
        }
        text.Append("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ").Append(KvasirServer.ValkeyVersion).Append('\n');
        ctx.Reply.WriteVerbatim(text.ToString());
    }

    // ----- version 6: a skyline -----

    private static void Skyline(CommandContext ctx, int first)
    {
        long[] o = [80, 20]; // columns, rows
        if (!Options(ctx, first, o)) return;
        var canvas = new Canvas((int)Math.Clamp(o[0], 1, 1000), (int)Math.Clamp(o[1], 1, 1000), 3);
        var random = Random.Shared;
        int h = canvas.Height;

        // Two rows of plain buildings behind (the lighter gray further back), then one with windows.
        for (int color = 2; color >= 1; color--)
        {
            for (int offset = -10; offset < canvas.Width;)
            {
                offset += random.Next(8);
                int width = 10 + random.Next(9);
                int height = color == 2 ? h / 2 + random.Next(h) / 2 : h / 2 + random.Next(h) / 3;
                Building(canvas, random, offset, width, height, windows: false, color);
                offset += color == 2 ? width / 2 : width + 1;
            }
        }
        for (int offset = -10; offset < canvas.Width;)
        {
            offset += random.Next(8);
            int width = 5 + random.Next(14);
            if (width % 4 != 0) width += width % 3;
            int height = h / 3 + random.Next(h) / 2;
            Building(canvas, random, offset, width, height, windows: true, color: 0);
            offset += width + 5;
        }

        var text = new StringBuilder();
        for (int y = 0; y < canvas.Height; y++)
        {
            for (int x = 0; x < canvas.Width; x++)
            {
                string code = canvas.Get(x, y) switch { 1 => "0;90;100m", 2 => "0;37;47m", 3 => "0;97;107m", _ => "0;30;40m" };
                text.Append("\u001b[").Append(code).Append(" \u001b[0m");
            }
            if (y != canvas.Height - 1) text.Append('\n');
        }
        text.Append("\nDedicated to the 8 bit game developers of past and present.\nOriginal 8 bit image from Plaguemon by hikikomori. Redis ver. ")
            .Append(KvasirServer.ValkeyVersion).Append('\n');
        ctx.Reply.WriteVerbatim(text.ToString());
    }

    private static void Building(Canvas canvas, Random random, int left, int width, int height, bool windows, int color)
    {
        int bottom = canvas.Height - 1, top = bottom - height + 1;
        for (int y = bottom; y >= top; y--)
        {
            for (int x = left; x < left + width; x++)
            {
                // The roof is two pixels narrower on each side.
                if (y == top && (x <= left + 1 || x >= left + width - 2)) continue;
                int c = color;
                // Windows: two pixels wide, one tall, away from the walls, in one of the two grays.
                if (windows && x > left + 1 && x < left + width - 2 && y > top + 1 && y < bottom - 1)
                {
                    int relx = x - (left + 1), rely = y - (top + 1);
                    if (relx / 2 % 2 != 0 && rely % 2 != 0)
                    {
                        do c = 1 + random.Next(2); while (c == color);
                        if (relx % 2 != 0) c = canvas.Get(x - 1, y);
                    }
                }
                canvas.Set(x, y, c);
            }
        }
    }
}
