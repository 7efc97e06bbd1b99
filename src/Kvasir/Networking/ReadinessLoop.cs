using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Kvasir.Networking;

/// <summary>
/// Tells client connections when their socket has input, from an epoll instance of Kvasir's own
/// (Linux). .NET's socket engine tries every receive first and registers for readiness only after
/// the kernel answered EAGAIN: at -P 1, where the next request never arrives before the reply has
/// left, that is one wasted recvfrom per request (two per request where Valkey does one read). Here a
/// connection with nothing to read waits for an edge of this loop, then reads once, without a buffer
/// held while it waits (as Valkey's clients read into the shared query buffer).
///
/// Edge-triggered EPOLLIN (plus hang-ups): a connection reads again at once after a read that filled
/// its buffer, and waits for the next edge after a short one (the socket was empty when it returned;
/// whatever arrives later raises a new edge). Once the peer has hung up it reads until the end. An edge that comes while the connection is busy is
/// remembered (<see cref="Connection.OnReadable"/>). A stale edge costs one EAGAIN read, never a hang.
///
/// The waiting connection's code runs on this loop's thread, as with .NET's inline socket
/// completions (kvasir-server's setting): commands are short, sends and blocked clients wait
/// asynchronously, and a batch that runs a script moves to the thread pool first.
/// </summary>
internal sealed unsafe partial class ReadinessLoop
{
    private const uint EPOLLIN = 0x001, EPOLLERR = 0x008, EPOLLHUP = 0x010, EPOLLRDHUP = 0x2000, EPOLLET = 1u << 31;
    private const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CLOEXEC = 0x80000, EINTR = 4;
    private const int EFD_CLOEXEC = 0x80000, EFD_NONBLOCK = 0x800;
    // The token of the eventfd that tells the loop to stop.
    private const ulong StopToken = ulong.MaxValue;
    private const int MaxEvents = 256;

    // struct epoll_event is packed on x86-64 (12 bytes, data at offset 4), naturally aligned elsewhere.
    private static readonly bool Packed = RuntimeInformation.ProcessArchitecture == Architecture.X64;
    private static readonly int EventSize = Packed ? 12 : 16;
    private static readonly int DataOffset = Packed ? 4 : 8;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeout);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initial, int flags);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    private readonly int _epfd, _stopFd;
    private bool _stopped;
    private readonly Lock _gate = new();
    // Registered connections by slot; an event carries slot and registration number, so an edge
    // fetched just before its connection left never reaches the one that took the slot after it.
    private Connection?[] _slots = new Connection?[64];
    private uint[] _registrations = new uint[64];
    private readonly Stack<int> _freeSlots = new();
    private int _slotsUsed;
    private uint _nextRegistration;

    private ReadinessLoop(int epfd, int stopFd, string name)
    {
        _epfd = epfd;
        _stopFd = stopFd;
        new Thread(Run) { IsBackground = true, Name = name }.Start();
    }

    /// <summary>
    /// Linux on a 64-bit processor, unless KVASIR_SOCKET_READINESS=dotnet asks for .NET's own
    /// engine (every read then starts with a speculative receive, as before).
    /// </summary>
    public static bool Supported { get; } =
        OperatingSystem.IsLinux() && IntPtr.Size == 8 &&
        !string.Equals(Environment.GetEnvironmentVariable("KVASIR_SOCKET_READINESS"), "dotnet", StringComparison.OrdinalIgnoreCase);

    /// <summary>A new loop with its thread, or null when epoll is not available.</summary>
    public static ReadinessLoop? TryCreate(string threadName)
    {
        if (!Supported) return null;
        try
        {
            int epfd = EpollCreate1(EPOLL_CLOEXEC);
            if (epfd < 0) return null;
            int stopFd = EventFd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            byte* ev = stackalloc byte[16];
            *(uint*)ev = EPOLLIN;
            Unsafe.WriteUnaligned(ev + DataOffset, StopToken);
            if (stopFd < 0 || EpollCtl(epfd, EPOLL_CTL_ADD, stopFd, ev) != 0)
            {
                if (stopFd >= 0) Close(stopFd);
                Close(epfd);
                return null;
            }
            return new ReadinessLoop(epfd, stopFd, threadName);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Starts watching <paramref name="fd"/> for <paramref name="connection"/>. False when epoll refused it.</summary>
    public bool Register(Connection connection, int fd, out ulong token)
    {
        lock (_gate)
        {
            token = 0;
            if (_stopped) return false;
            int slot;
            if (_freeSlots.Count > 0) slot = _freeSlots.Pop();
            else
            {
                if (_slotsUsed == _slots.Length)
                {
                    Array.Resize(ref _slots, _slots.Length * 2);
                    Array.Resize(ref _registrations, _registrations.Length * 2);
                }
                slot = _slotsUsed++;
            }
            uint registration = ++_nextRegistration;
            _slots[slot] = connection;
            _registrations[slot] = registration;
            token = (ulong)registration << 32 | (uint)slot;
            byte* ev = stackalloc byte[16];
            *(uint*)ev = EPOLLIN | EPOLLRDHUP | EPOLLET;
            Unsafe.WriteUnaligned(ev + DataOffset, token);
            if (EpollCtl(_epfd, EPOLL_CTL_ADD, fd, ev) == 0) return true;
            _slots[slot] = null;
            _freeSlots.Push(slot);
            return false;
        }
    }

    /// <summary>Stops watching (before the socket is closed).</summary>
    public void Unregister(int fd, ulong token)
    {
        lock (_gate)
        {
            int slot = (int)(uint)token;
            if (_stopped || _slots[slot] is null || _registrations[slot] != (uint)(token >> 32)) return;
            byte* ev = stackalloc byte[16];
            EpollCtl(_epfd, EPOLL_CTL_DEL, fd, ev);
            _slots[slot] = null;
            _freeSlots.Push(slot);
        }
    }

    /// <summary>Ends the loop (server stop); connections still open go on with a closed socket and end.</summary>
    public void Stop()
    {
        ulong one = 1;
        Write(_stopFd, (byte*)&one, sizeof(ulong));
    }

    // Connections whose replies are ready, while this thread works through one epoll_wait's events.
    [ThreadStatic] private static List<Connection>? t_deferredSends;

    /// <summary>
    /// True when called on a loop thread that is working through one wake-up's events: the caller's
    /// replies are then sent once every ready connection has run (<see cref="Run"/>), as Valkey writes
    /// replies in beforeSleep, so a burst of replies wakes a waiting client once rather than once each.
    /// </summary>
    public static bool DeferSend(Connection connection)
    {
        if (t_deferredSends is not { } list) return false;
        list.Add(connection);
        return true;
    }

    private void Run()
    {
        var deferred = new List<Connection>();
        byte* events = (byte*)NativeMemory.Alloc((nuint)(EventSize * MaxEvents));
        while (!Volatile.Read(ref _stopped))
        {
            int n = EpollWait(_epfd, events, MaxEvents, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR) continue;
                Thread.Sleep(10); // not expected: do not spin
                continue;
            }
            t_deferredSends = deferred;
            for (int i = 0; i < n; i++)
            {
                uint flags = Unsafe.ReadUnaligned<uint>(events + i * EventSize);
                ulong token = Unsafe.ReadUnaligned<ulong>(events + i * EventSize + DataOffset);
                if (token == StopToken)
                {
                    lock (_gate) _stopped = true;
                    break;
                }
                int slot = (int)(uint)token;
                Connection? connection;
                lock (_gate)
                {
                    connection = slot < _slotsUsed && _registrations[slot] == (uint)(token >> 32) ? _slots[slot] : null;
                }
                if (connection is null) continue;
                // The peer's FIN (or an error) may come with the last data, in the same edge: the short
                // read that takes the data leaves the end unread, and no later edge announces it.
                if ((flags & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) connection.PeerHungUp();
                connection.OnReadable(inline: true);
            }
            t_deferredSends = null;
            // The deferred sends: after every connection of this wake-up ran its commands.
            foreach (var c in deferred) c.SendDeferred();
            deferred.Clear();
        }
        lock (_gate)
        {
            Close(_epfd);
            Close(_stopFd);
        }
        NativeMemory.Free(events);
    }
}
