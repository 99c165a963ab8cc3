using System.Runtime.InteropServices;

namespace Allocator.CrashHost;

/// <summary>Writes through libc so a fault happens in native code, as it would in guest code: the runtime then
/// leaves the signal alone and the process dies of SIGSEGV instead of a managed AccessViolationException.</summary>
internal static partial class NativeWrite
{
    [LibraryImport("libc", EntryPoint = "memset")]
    private static partial nint Memset(nint destination, int value, nuint count);

    public static void Byte(nint address) => Memset(address, 1, 1);
}
