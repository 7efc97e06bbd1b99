using System.Globalization;
using System.Text;

namespace Kvasir.Observability.Metrics;

/// <summary>
/// The Prometheus text exposition format (version 0.0.4): one HELP and TYPE line per metric family,
/// then its samples. Families must not repeat, so each is opened once and its samples follow.
/// </summary>
public sealed class PrometheusText
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _sb = new(16 * 1024);
    private readonly HashSet<string> _families = new(StringComparer.Ordinal);

    /// <summary>Opens a family (HELP and TYPE); false if it was already opened (samples may still follow).</summary>
    public bool Family(string name, string type, string help)
    {
        if (!_families.Add(name)) return false;
        _sb.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(help)).Append('\n');
        _sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        return true;
    }

    public void Sample(string name, double value) => Sample(name, value, ReadOnlySpan<(string, string)>.Empty);

    public void Sample(string name, double value, params ReadOnlySpan<(string Name, string Value)> labels)
    {
        _sb.Append(name);
        if (labels.Length > 0)
        {
            _sb.Append('{');
            for (int i = 0; i < labels.Length; i++)
            {
                if (i > 0) _sb.Append(',');
                _sb.Append(labels[i].Name).Append("=\"");
                AppendLabelValue(labels[i].Value);
                _sb.Append('"');
            }
            _sb.Append('}');
        }
        _sb.Append(' ').Append(Format(value)).Append('\n');
    }

    /// <summary>A family with a single unlabelled sample.</summary>
    public void Single(string name, string type, string help, double value)
    {
        Family(name, type, help);
        Sample(name, value);
    }

    public static string Format(double v)
    {
        if (double.IsPositiveInfinity(v)) return "+Inf";
        if (double.IsNegativeInfinity(v)) return "-Inf";
        if (double.IsNaN(v)) return "NaN";
        return v.ToString("R", CultureInfo.InvariantCulture);
    }

    private void AppendLabelValue(string v)
    {
        foreach (char c in v)
        {
            switch (c)
            {
                case '\\': _sb.Append("\\\\"); break;
                case '"': _sb.Append("\\\""); break;
                case '\n': _sb.Append("\\n"); break;
                default: _sb.Append(c); break;
            }
        }
    }

    private static string EscapeHelp(string help) => help.Replace("\\", "\\\\").Replace("\n", "\\n");

    public override string ToString() => _sb.ToString();
}
