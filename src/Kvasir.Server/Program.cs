using System.Runtime.InteropServices;
using Kvasir;
using Kvasir.Config;
using Kvasir.Observability;
using Kvasir.Server;

return await ServerMain.RunAsync(args);

namespace Kvasir.Server
{
    /// <summary>
    /// kvasir-server: the same command line, startup sequence, log lines and exit codes as
    /// valkey-server, so scripts, service units and test harnesses written for it work unchanged.
    /// </summary>
    internal static class ServerMain
    {
        /// <summary>
        /// Socket completions run on the epoll thread instead of hopping to the thread pool. Measured
        /// on 2 cores against redis-server (bench/RESULTS.md): server CPU per request drops by a third
        /// and throughput at -P 1 goes from 0.74-0.87 to 0.96-1.05 of redis-server's. Safe here because
        /// no code path blocks an I/O thread on I/O: the data lock is held only while commands execute,
        /// sends happen after it is released, and blocked or paused clients wait asynchronously.
        /// An explicit setting in the environment wins. Must run before the first socket is created.
        /// </summary>
        private static void PreferInlineSocketCompletions() => SetUnlessGiven("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");

        /// <summary>
        /// As many socket event threads as <c>io-threads</c> says (Valkey's default 1: one thread reads,
        /// executes and writes, as Valkey's main thread does). With inline completions .NET would
        /// otherwise start one per core, and those threads then take turns on the data lock: on 2 cores
        /// under 50 clients SET at -P 16 spent 2.2 us of CPU per request with a 24 ms p99, one thread
        /// 1.5-2.0 us with a 5 ms p99 (Valkey's: 1.4 us, 5 ms). An explicit setting in the environment
        /// wins. Must run before the first socket is created.
        /// </summary>
        private static void UseIoThreadsForSocketEvents(int ioThreads) =>
            SetUnlessGiven("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT", Math.Max(1, ioThreads).ToString());

        /// <summary>A runtime setting read from the environment: ours unless the user's environment has one.</summary>
        private static void SetUnlessGiven(string name, string value)
        {
            if (Environment.GetEnvironmentVariable(name) is null) Environment.SetEnvironmentVariable(name, value);
        }

        public static async Task<int> RunAsync(string[] args)
        {
            PreferInlineSocketCompletions();
            string startDirectory = Directory.GetCurrentDirectory();
            var cl = CommandLine.Parse(args, startDirectory);
            switch (cl.Action)
            {
                case CommandLineAction.Version:
                    Console.WriteLine($"Kvasir server v={KvasirServer.KvasirVersion} valkey-compatible={KvasirServer.ValkeyVersion} " +
                                      $"redis-compatible={KvasirServer.RedisVersion} bits={IntPtr.Size * 8} runtime=.NET {Environment.Version}");
                    return 0;
                case CommandLineAction.Help:
                    Console.Error.Write(CommandLine.Usage());
                    return 1;
                case CommandLineAction.TestMemory:
                    Console.Error.WriteLine("--test-memory is not available in Kvasir (it is a test of the C allocator's memory).");
                    return 1;
                case CommandLineAction.CheckSystem:
                    // Valkey's checks are about fork() and the kernel's memory overcommit, which Kvasir does not rely on.
                    return 0;
            }
            bool daemonChild = Daemon.IsChild;
            if (daemonChild) Daemon.DetachSession();

            // Messages before the configured log exists go to stdout, as Valkey's do.
            var bootLog = new ServerLog { Role = cl.SentinelMode ? 'X' : 'M' };
            var config = new ServerConfig { ConfigFile = cl.ConfigFile ?? "" };
            if (cl.SentinelMode) config.UseSentinelDefaults();
            var warnings = new List<string>();
            string? stdinText = null;
            try
            {
                if (cl.ConfigFromStdin)
                {
                    bootLog.Notice("Reading config from stdin");
                    stdinText = Console.In.ReadToEnd();
                }
                ConfigFileParser.Load(config, cl.ConfigFile, stdinText, cl.Options, warnings);
            }
            catch (ConfigLoadException e)
            {
                if (e.IsLogLine) bootLog.Warning(e.Report);
                else Console.Error.Write(e.Report);
                return 1;
            }
            UseIoThreadsForSocketEvents(config.IoThreads);

            // A Sentinel keeps its state in its config file: it must have one it can write.
            if (config.SentinelMode && Sentinel.SentinelState.CheckConfigFile(cl.ConfigFile) is { } sentinelError)
            {
                if (config.LogFile.Length > 0) bootLog.UseFile(config.LogFile);
                bootLog.Warning(sentinelError);
                return 1;
            }

            // Valkey always has Lua; a server whose EVAL could never work does not start (a Sentinel runs no scripts).
            if (!config.SentinelMode && !KvasirServer.ScriptingAvailable(out string? luaError))
            {
                bootLog.Warning("Fatal: " + luaError);
                return 1;
            }

            bool background = config.Daemonize && !IsSupervised(config.Supervised);
            if (background && !daemonChild) return Daemon.RunParent(args, stdinText, startDirectory);

            KvasirServer server;
            try
            {
                server = new KvasirServer(config);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException)
            {
                bootLog.Warning(e.Message);
                return 1;
            }
            catch (ConfigLoadException e)
            {
                // A bad "sentinel" directive, found once the whole config was read.
                Console.Error.Write(e.Report);
                return 1;
            }
            var log = server.Log;
            if (config.LogFile.Length > 0) log.UseFile(config.LogFile);

            log.Notice("oO0OoO0OoO0Oo Kvasir is starting oO0OoO0OoO0Oo");
            log.Notice($"Kvasir version={KvasirServer.KvasirVersion}, valkey-compatible={KvasirServer.ValkeyVersion}, " +
                       $"bits={IntPtr.Size * 8}, pid={Environment.ProcessId}, just started");
            if (args.Length == 0)
                log.Warning("Warning: no config file specified, using the default config. In order to specify a config file use " +
                            $"{Environment.GetCommandLineArgs()[0]} /path/to/valkey.conf");
            else
                log.Notice("Configuration loaded");
            foreach (var w in warnings) log.Warning(w);

            string? pidFile = null;
            if (background || config.PidFile.Length > 0)
            {
                if (config.PidFile.Length == 0) config.PidFile = "/var/run/valkey.pid";
                pidFile = Path.GetFullPath(config.PidFile);
                try
                {
                    File.WriteAllText(pidFile, Environment.ProcessId + "\n");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    log.Warning("Failed to write PID file: " + ConfigFileParser.ErrnoText(e));
                    pidFile = null;
                }
            }

            ShowBanner(log, config);
            using var signals = new ShutdownSignals(server);
            using var systemd = SuperviseBySystemd(server, config.Supervised);

            try
            {
                server.Cluster?.BindBus();
            }
            catch (InvalidOperationException e)
            {
                log.Warning(e.Message);
                RemovePidFile(pidFile);
                return 1;
            }
            if (!config.SentinelMode) log.Notice("Server initialized");
            try
            {
                await server.StartAsync();
            }
            catch (InvalidOperationException e)
            {
                log.Warning(e.Message);
                if (e.Message.Contains("TCP listening socket", StringComparison.Ordinal))
                    log.Warning($"Failed listening on port {config.Port} (tcp), aborting.");
                RemovePidFile(pidFile);
                return 1;
            }
            if (config.MaxMemory > 0 && config.MaxMemory < 1024 * 1024)
                log.Warning($"WARNING: You specified a maxmemory value that is less than 1MB (current value is {config.MaxMemory} bytes). " +
                            "Are you sure this is what you really want?");
            if (daemonChild) Daemon.SignalReady();
            if (systemd is not null)
            {
                systemd.Notify(config.ReplicaOfHost.Length == 0
                    ? "STATUS=Ready to accept connections\n"
                    : "STATUS=Ready to accept connections in read-only mode. Waiting for MASTER <-> REPLICA sync\n");
                systemd.Notify("READY=1\n");
            }

            // SHUTDOWN and the signal handler both run the whole exit sequence (final save, pid
            // file, last log line) before stopping the server.
            await server.Stopped;
            return 0;
        }

        /// <summary>
        /// supervised: a service manager keeps the process in the foreground. As in Valkey it only
        /// counts when the manager is really there (NOTIFY_SOCKET for systemd, UPSTART_JOB for upstart).
        /// </summary>
        private static bool IsSupervised(string mode) => mode switch
        {
            "systemd" => Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 },
            "upstart" => Environment.GetEnvironmentVariable("UPSTART_JOB") is { Length: > 0 },
            "auto" => Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 } ||
                      Environment.GetEnvironmentVariable("UPSTART_JOB") is { Length: > 0 },
            _ => false,
        };

        /// <summary>
        /// supervised systemd (or auto under systemd): readiness and shutdown go to NOTIFY_SOCKET, as
        /// Valkey built with libsystemd does; upstart is only recorded (Valkey raises SIGSTOP for it).
        /// </summary>
        private static ServiceNotifier? SuperviseBySystemd(KvasirServer server, string mode)
        {
            bool systemd = mode is "systemd" or "auto" && Environment.GetEnvironmentVariable("NOTIFY_SOCKET") is { Length: > 0 };
            if (!systemd)
            {
                if (mode is "upstart" or "auto" && Environment.GetEnvironmentVariable("UPSTART_JOB") is { Length: > 0 }) server.SupervisedBy = "upstart";
                else if (mode == "systemd") server.Log.Warning("systemd supervision requested or auto-detected, but no socket found");
                return null;
            }
            var notifier = ServiceNotifier.FromEnvironment(server.Log)!;
            server.Log.Notice("Supervised by systemd. Please make sure you set appropriate values for TimeoutStartSec and TimeoutStopSec in your service unit.");
            if (!notifier.Notify("STATUS=Kvasir is loading...\n"))
            {
                notifier.Dispose();
                return null;
            }
            server.Systemd = notifier;
            server.SupervisedBy = "systemd";
            return notifier;
        }

        private static void RemovePidFile(string? pidFile)
        {
            if (pidFile is null) return;
            try { File.Delete(pidFile); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }

        /// <summary>
        /// The startup banner when logging to a terminal (or always-show-logo yes), else a one-line
        /// summary. Test harnesses look for " PID: n" in it.
        /// </summary>
        private static void ShowBanner(ServerLog log, ServerConfig config)
        {
            string mode = config.SentinelMode ? "sentinel" : config.ClusterEnabled ? "cluster" : "standalone";
            int port = config.Port != 0 ? config.Port : config.TlsPort;
            bool show = (!config.SyslogEnabled && config.LogFile.Length == 0 && !Console.IsOutputRedirected) || config.AlwaysShowLogo;
            if (!show)
            {
                log.Notice($"Running mode={mode}, port={port}.");
                return;
            }
            string banner =
                "\n" +
                "       _  __                 _\n" +
                $"      | |/ /_   ____ _ ___(_)_ __      Kvasir {KvasirServer.KvasirVersion} (Valkey {KvasirServer.ValkeyVersion} compatible) {IntPtr.Size * 8} bit\n" +
                "      | ' /\\ \\ / / _` / __| | '__|\n" +
                $"      | . \\ \\ V / (_| \\__ \\ | |         Running in {mode} mode\n" +
                $"      |_|\\_\\ \\_/ \\__,_|___/_|_|         Port: {port}\n" +
                $"                                        PID: {Environment.ProcessId}\n" +
                "\n";
            log.WriteRaw(Observability.LogLevel.Notice, banner);
        }
    }

    /// <summary>
    /// SIGTERM and SIGINT shut the server down the way Valkey's prepareForShutdown does: the final
    /// save as shutdown-on-sigterm / shutdown-on-sigint say (by default only when save points are
    /// configured), the pid file removed, exit status 0. When the save fails and the flags do not
    /// include "force" the server keeps running. A second SIGINT during shutdown exits at once
    /// with status 1.
    /// </summary>
    internal sealed class ShutdownSignals : IDisposable
    {
        private readonly KvasirServer _server;
        private readonly PosixSignalRegistration[] _registrations;
        private int _inProgress;

        public ShutdownSignals(KvasirServer server)
        {
            _server = server;
            _registrations = new[]
            {
                PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
                PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            };
        }

        private void OnSignal(PosixSignalContext context)
        {
            context.Cancel = true;
            var log = _server.Log;
            bool sigint = context.Signal == PosixSignal.SIGINT;
            if (Interlocked.Exchange(ref _inProgress, 1) == 1)
            {
                if (sigint)
                {
                    log.Warning("You insist... exiting now.");
                    Environment.Exit(1);
                }
                return;
            }
            log.Warning(sigint ? "Received SIGINT scheduling shutdown..." : "Received SIGTERM scheduling shutdown...");
            var flags = sigint ? _server.Config.ShutdownOnSigint : _server.Config.ShutdownOnSigterm;
            // Off the signal thread: saving may take a while and needs the data lock.
            _ = Task.Run(() => Shutdown(flags));
        }

        private void Shutdown(ShutdownFlags flags)
        {
            var server = _server;
            lock (server.DataLock)
            {
                if (server.IsShuttingDown) return;
                // The same sequence as SHUTDOWN (waits for lagging replicas per shutdown-timeout);
                // a failed final save keeps the server running and a later signal may try again.
                if (server.Shutdown.Begin(flags, null, null) == ShutdownSequence.Outcome.Failed)
                    Interlocked.Exchange(ref _inProgress, 0);
            }
        }

        public void Dispose()
        {
            foreach (var r in _registrations) r.Dispose();
        }
    }
}
