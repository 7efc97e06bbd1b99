using System.Globalization;
using System.Text;

namespace Kvasir.Observability;

/// <summary>Text sparklines, drawn with the same character set and scaling as Valkey's LATENCY GRAPH.</summary>
public static class Sparkline
{
    private const string Charset = "_-`";
    private const string CharsetFill = "_o#";
    private const int LabelMarginTop = 1;
    private const int GraphColumns = 80;
    private const int GraphRows = 4;

    private readonly record struct Sample(double Value, string? Label);

    public static string LatencyGraph(string eventName, LatencyMonitor.EventSeries series)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var samples = new List<Sample>();
        long min = 0, max = 0;
        foreach (var (time, ms) in series.Samples)
        {
            if (samples.Count == 0) min = max = ms;
            else
            {
                max = Math.Max(max, ms);
                min = Math.Min(min, ms);
            }
            long elapsed = now - time;
            string label = elapsed < 60 ? $"{elapsed}s" : elapsed < 3600 ? $"{elapsed / 60}m" : elapsed < 86400 ? $"{elapsed / 3600}h" : $"{elapsed / 86400}d";
            samples.Add(new Sample(ms, label));
        }
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"{eventName} - high {max} ms, low {min} ms (all time high {series.MaxMs} ms)\n");
        sb.Append('-', GraphColumns).Append('\n');
        Render(sb, samples, GraphColumns, GraphRows, fill: true);
        return sb.ToString();
    }

    private static void Render(StringBuilder output, List<Sample> samples, int columns, int rows, bool fill)
    {
        if (samples.Count == 0) return;
        double seqMin = samples[0].Value, seqMax = samples[0].Value;
        int labels = 0;
        foreach (var s in samples)
        {
            if (s.Value < seqMin) seqMin = s.Value;
            else if (s.Value > seqMax) seqMax = s.Value;
            if (s.Label is not null) labels++;
        }
        for (int j = 0; j < samples.Count; j += columns)
        {
            int len = Math.Min(columns, samples.Count - j);
            if (j != 0) output.Append('\n');
            RenderRange(output, samples, seqMin, seqMax, labels, rows, j, len, fill);
        }
    }

    private static void RenderRange(StringBuilder output, List<Sample> samples, double seqMin, double seqMax, int labels, int rows, int offset, int len, bool fill)
    {
        double relmax = seqMax - seqMin;
        if (relmax == 0) relmax = 1;
        int steps = Charset.Length * rows;
        var chars = new char[len];
        int row = 0;
        bool loop = true;
        while (loop)
        {
            loop = false;
            Array.Fill(chars, ' ');
            for (int j = 0; j < len; j++)
            {
                var s = samples[j + offset];
                double relval = s.Value - seqMin;
                int step = (int)((int)(relval * steps) / relmax);
                if (step < 0) step = 0;
                if (step >= steps) step = steps - 1;
                if (row < rows)
                {
                    int charIndex = step - (rows - row - 1) * Charset.Length;
                    loop = true;
                    if (charIndex >= 0 && charIndex < Charset.Length) chars[j] = fill ? CharsetFill[charIndex] : Charset[charIndex];
                    else if (fill && charIndex >= Charset.Length) chars[j] = '|';
                }
                else
                {
                    if (labels > 0 && row - rows < LabelMarginTop)
                    {
                        loop = true;
                        break;
                    }
                    if (s.Label is not null)
                    {
                        int labelChar = row - rows - LabelMarginTop;
                        if (s.Label.Length > labelChar)
                        {
                            loop = true;
                            chars[j] = s.Label[labelChar];
                        }
                    }
                }
            }
            if (loop)
            {
                row++;
                output.Append(chars).Append('\n');
            }
        }
    }
}
