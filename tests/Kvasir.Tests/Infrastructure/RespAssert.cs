using Xunit;

namespace Kvasir.Tests.Infrastructure;

/// <summary>Assertions on replies, shared by the command tests (<c>using static</c>).</summary>
internal static class RespAssert
{
    /// <summary>Sends the command and asserts the exact error text it answers.</summary>
    public static async Task AssertError(RespClient c, string expected, params object[] args)
    {
        var r = await c.CallAsync(args);
        Assert.True(r.IsError, $"expected error '{expected}', got {r}");
        Assert.Equal(expected, r.Text);
    }

    /// <summary>Asserts that a reply is the error <paramref name="expected"/>.</summary>
    public static void Error(string expected, RespValue r)
    {
        Assert.True(r.IsError, $"expected error '{expected}', got {r}");
        Assert.Equal(expected, r.Text);
    }
}
