using Kvasir.Tests.Infrastructure;

namespace Kvasir.Tests.Server;

/// <summary>MODULE answers as a Valkey 8 without modules does (each reply checked against one).</summary>
public sealed class ModuleCommandsTests : IClassFixture<SharedServerFixture>
{
    private readonly TestServer _server;

    public ModuleCommandsTests(SharedServerFixture fixture) => _server = fixture.Server;

    [Fact]
    public async Task ListIsEmptyAndHelpNamesTheSubcommands()
    {
        await using var c = await _server.ConnectAsync();
        var list = await c.CallAsync("MODULE", "LIST");
        Assert.Equal('*', list.Kind);
        Assert.Empty(list.Items!);
        var help = await c.CallAsync("MODULE", "HELP");
        Assert.Equal("MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", help.Items![0].Text);
        Assert.Contains(help.Items!, i => i.Text == "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]");
        Assert.Equal("ERR wrong number of arguments for 'module|list' command", (await c.CallAsync("MODULE", "LIST", "extra")).Text);
        Assert.Equal("ERR unknown subcommand 'foo'. Try MODULE HELP.", (await c.CallAsync("MODULE", "foo")).Text);
        Assert.Equal("ERR wrong number of arguments for 'module' command", (await c.CallAsync("MODULE")).Text);
        Assert.Equal("# Modules", (await c.CallTextAsync("INFO", "modules"))!.Trim());
    }

    [Fact]
    public async Task CommandListsModule()
    {
        await using var c = await _server.ConnectAsync();
        var info = await c.CallAsync("COMMAND", "INFO", "module");
        Assert.Equal("module", info.Items![0].Items![0].Text);
        Assert.Equal(-2, info.Items![0].Items![1].Integer);
    }

    [Fact]
    public async Task LoadIsRefusedUnlessEnabled()
    {
        await using var c = await _server.ConnectAsync();
        Assert.Equal("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, " +
                     "otherwise you need to set this option in the configuration file, and then restart the server.",
            (await c.CallAsync("MODULE", "LOAD", "/nonexistent.so")).Text);
    }

    [Fact]
    public async Task LoadFailsAsWithoutTheLibraryAndUnloadFindsNothing()
    {
        await using var server = await TestServer.StartAsync(("enable-module-command", "yes"));
        await using var c = await server.ConnectAsync();
        const string loadError = "ERR Error loading the extension. Please check the server logs.";
        Assert.Equal(loadError, (await c.CallAsync("MODULE", "LOAD", "/nonexistent.so")).Text);
        Assert.Equal(loadError, (await c.CallAsync("MODULE", "LOAD", "/nonexistent.so", "a", "b")).Text);
        Assert.Equal(loadError, (await c.CallAsync("MODULE", "LOADEX", "/x.so", "CONFIG", "a", "b", "ARGS", "c")).Text);
        Assert.Equal(loadError, (await c.CallAsync("MODULE", "LOADEX", "/x.so", "foo")).Text);
        Assert.Equal(loadError, (await c.CallAsync("MODULE", "LOADEX", "/x.so", "CONFIG", "a")).Text);
        Assert.Equal("ERR Error unloading module: no such module with that name", (await c.CallAsync("MODULE", "UNLOAD", "foo")).Text);
        Assert.Equal("ERR wrong number of arguments for 'module|load' command", (await c.CallAsync("MODULE", "LOAD")).Text);
        Assert.Empty((await c.CallAsync("MODULE", "LIST")).Items!);
    }
}
