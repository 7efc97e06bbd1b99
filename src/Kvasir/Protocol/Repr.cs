using System.Globalization;
using System.Text;

namespace Kvasir.Protocol;

/// <summary>
/// Valkey's sdscatrepr: bytes as a readable, quotable text (MONITOR lines, config rewrites, log
/// lines). Printable ASCII as-is; backslash, quote, \n \r \t \a \b escaped; every other byte as \xHH.
/// </summary>
public static class Repr
{
    public static void Append(StringBuilder sb, ReadOnlySpan<byte> s)
    {
        foreach (byte b in s)
        {
            switch (b)
            {
                case (byte)'\\': sb.Append("\\\\"); break;
                case (byte)'"': sb.Append("\\\""); break;
                case (byte)'\n': sb.Append("\\n"); break;
                case (byte)'\r': sb.Append("\\r"); break;
                case (byte)'\t': sb.Append("\\t"); break;
                case 7: sb.Append("\\a"); break;
                case 8: sb.Append("\\b"); break;
                default:
                    if (b >= 32 && b < 127) sb.Append((char)b);
                    else sb.Append("\\x").Append(b.ToString("x2", CultureInfo.InvariantCulture));
                    break;
            }
        }
    }

    /// <summary>The UTF-8 bytes of <paramref name="value"/>, escaped and in double quotes.</summary>
    public static string Quote(string value)
    {
        var sb = new StringBuilder(value.Length + 2);
        sb.Append('"');
        Append(sb, Encoding.UTF8.GetBytes(value));
        sb.Append('"');
        return sb.ToString();
    }
}
