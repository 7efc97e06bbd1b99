using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Scripting;

internal static class ScriptAssert
{
    /// <summary>Runs a command that must fail and returns its error text.</summary>
    public static async Task<string> ErrorOf(RespClient c, params object[] args)
    {
        var r = await c.CallAsync(args);
        Assert.True(r.IsError, $"expected an error, got {r}");
        return r.Text!;
    }
}
