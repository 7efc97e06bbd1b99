using Kvasir;
using Kvasir.Config;

var config = new ServerConfig();
for (int i = 0; i < args.Length; i++)
{
    if (args[i].StartsWith("--") && i + 1 < args.Length)
    {
        var err = config.Set(args[i][2..], args[i + 1], atStartup: true);
        if (err is not null) { Console.Error.WriteLine(err); return 1; }
        i++;
    }
}
var server = new KvasirServer(config);
await server.StartAsync();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; server.RequestStop(); };
await server.Stopped;
return 0;
