using System.Runtime.InteropServices;

namespace Kvasir.Scripting;

/// <summary>
/// Makes a managed Lua C function able to raise a Lua error, as Valkey's C functions do
/// (server.call): a few bytes of native code call the managed function and, when it returns -1
/// with the error value on top of the stack, jump to lua_error. The managed frame has returned by
/// then, so the longjmp crosses native frames only. x86-64 Linux only; elsewhere
/// <see cref="Create"/> answers 0 and the sandbox keeps its coroutine.wrap stand-in.
/// </summary>
internal static unsafe partial class RaisingThunk
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4, MapPrivate = 2, MapAnonymous = 0x20;

    [LibraryImport("libc")] private static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);
    [LibraryImport("libc")] private static partial int mprotect(nint addr, nuint length, int prot);

    private static readonly Dictionary<nint, nint> s_thunks = new();

    /// <summary>A native function (lua_CFunction) that calls <paramref name="managed"/>, raising its error when it returns -1.</summary>
    public static nint Create(nint managed)
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) return 0;
        lock (s_thunks)
        {
            if (s_thunks.TryGetValue(managed, out var existing)) return existing;
            nint luaError = LuaNative.ErrorFunction;
            byte[] code =
            [
                0x53,                         // push rbx            (keeps the stack 16-byte aligned for the call)
                0x48, 0x89, 0xFB,             // mov rbx, rdi        (L)
                0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, // movabs rax, managed
                0xFF, 0xD0,                   // call rax
                0x85, 0xC0,                   // test eax, eax
                0x78, 0x02,                   // js raise
                0x5B,                         // pop rbx
                0xC3,                         // ret
                0x48, 0x89, 0xDF,             // raise: mov rdi, rbx
                0x5B,                         // pop rbx
                0x48, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0, // movabs rax, lua_error
                0xFF, 0xE0,                   // jmp rax             (lua_error(L) as our caller's callee)
            ];
            BitConverter.TryWriteBytes(code.AsSpan(6), (long)managed);
            BitConverter.TryWriteBytes(code.AsSpan(28), (long)luaError);
            nint page = mmap(0, 4096, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            if (page == -1 || page == 0) return 0;
            Marshal.Copy(code, 0, page, code.Length);
            if (mprotect(page, 4096, ProtRead | ProtExec) != 0) return 0;
            s_thunks[managed] = page;
            return page;
        }
    }
}
