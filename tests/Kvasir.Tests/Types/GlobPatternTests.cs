using System.Text;
using Kvasir.Types;

namespace Kvasir.Tests.Types;

/// <summary>
/// Expected results come from Valkey's own stringmatchlen compiled from its source (and a differential
/// run of 1M random patterns against it, including bytes above 0x7F and NUL).
/// </summary>
public sealed class GlobPatternTests
{
    [Theory]
    [InlineData("*", "anything", false, true)]
    [InlineData("*", "", false, false)] // a star needs at least the loop to run: Valkey too (KEYS * special-cases it)
    [InlineData("", "", false, true)]
    [InlineData("", "a", false, false)]
    [InlineData("h?llo", "hello", false, true)]
    [InlineData("h?llo", "hllo", false, false)]
    [InlineData("h*llo", "heeeello", false, true)]
    [InlineData("h[ae]llo", "hello", false, true)]
    [InlineData("h[ae]llo", "hillo", false, false)]
    [InlineData("h[^e]llo", "hallo", false, true)]
    [InlineData("h[^e]llo", "hello", false, false)]
    [InlineData("h[a-b]llo", "hbllo", false, true)]
    [InlineData("h[b-a]llo", "hallo", false, true)]
    [InlineData("h\\*llo", "h*llo", false, true)]
    [InlineData("h\\*llo", "hello", false, false)]
    [InlineData("HELLO", "hello", true, true)]
    [InlineData("HELLO", "hello", false, false)]
    [InlineData("h[A-Z]llo", "hello", true, true)]
    [InlineData("h[A-Z]llo", "hello", false, false)]
    [InlineData("[abc", "abc", false, false)]
    [InlineData("[abc", "a", false, true)]
    [InlineData("[abc", "c", false, true)]
    [InlineData("[^", "x", false, true)]
    [InlineData("[^]", "]", false, true)]
    [InlineData("a\\", "a\\", false, true)]
    [InlineData("a\\", "a", false, false)]
    [InlineData("[\\]]", "]", false, true)]
    [InlineData("[a\\-z]", "-", false, true)]
    [InlineData("[a\\-z]", "b", false, false)]
    [InlineData("[a-]", "-", false, false)]
    [InlineData("[a-]", "]", false, true)]
    [InlineData("*a*b*c", "xxaxxbxxc", false, true)]
    [InlineData("a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false)]
    [InlineData("***", "abc", false, true)]
    [InlineData("a**", "a", false, true)]
    [InlineData("a**b", "ab", false, true)]
    [InlineData("foo*", "foo", false, true)]
    [InlineData("?*", "-", false, true)]
    [InlineData("?*", "", false, false)]
    public void MatchesLikeValkey(string pattern, string text, bool noCase, bool expected) =>
        Assert.Equal(expected, GlobPattern.Match(Encoding.UTF8.GetBytes(pattern), Encoding.UTF8.GetBytes(text), noCase));

    [Fact]
    public void RangesCompareBytesAsSignedChars()
    {
        // [\xBF-^] spans -65..94 as signed chars, so ']' (93) is inside and 0xC0 (-64) too, 0x7F not...
        byte[] pattern = { (byte)'[', 0xBF, (byte)'-', (byte)'^', (byte)']' };
        Assert.True(GlobPattern.Match(pattern, "]"u8));
        Assert.True(GlobPattern.Match(pattern, new byte[] { 0xC0 }));
        Assert.False(GlobPattern.Match(pattern, new byte[] { 0x7F }));
        // ...but with nocase glibc's tolower turns the bound into 191, and the range becomes empty.
        Assert.False(GlobPattern.Match(pattern, "]"u8, noCase: true));
    }

    [Fact]
    public void BinaryBytesMatchThemselves()
    {
        Assert.True(GlobPattern.Match(new byte[] { 0, (byte)'*', 0xFF }, new byte[] { 0, 1, 2, 0xFF }));
        Assert.False(GlobPattern.Match(new byte[] { 0, (byte)'*', 0xFF }, new byte[] { 1, 0xFF }));
    }

    [Fact]
    public void HostilePatternsGiveUpQuickly()
    {
        var text = Encoding.ASCII.GetBytes(new string('a', 50000));
        var pattern = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("*?", 50000)));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(GlobPattern.Match(pattern, text)); // nesting limit, as Valkey
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void StarOnlyPatternIsRecognised()
    {
        Assert.True(GlobPattern.MatchesEverything("*"u8));
        Assert.False(GlobPattern.MatchesEverything("**"u8));
        Assert.False(GlobPattern.MatchesEverything("a*"u8));
    }
}
