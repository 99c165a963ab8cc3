using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Allocator.Memory;
using Tmds.Linux;

namespace Allocator;

internal static partial class Interop
{
    /// <summary>mmap, mprotect, madvise (guards included) and mincore through Tmds.LibC.</summary>
    /// <remarks>Tmds.LibC ships its implementation only for Linux RIDs, so every call stays inside this class and
    /// errors come back as errno values for <see cref="VirtualMemory"/> to turn into exceptions.</remarks>
    [SupportedOSPlatform("linux")]
    internal static unsafe partial class Sys
    {
        public static nuint PageSize => (nuint)LibC.getpagesize();

        public static int Errno => LibC.errno;

        /// <summary>PROT_NONE + MAP_NORESERVE: address space only, no commit charge until pages are made
        /// accessible. Returns 0 on failure.</summary>
        public static nint Reserve(nuint size)
        {
            // Stryker disable once Unary : Linux ignores the descriptor of a MAP_ANONYMOUS mapping (-1 is for portability)
            void* address = LibC.mmap(null, (size_t)(ulong)size, LibC.PROT_NONE,
                LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
            return address == LibC.MAP_FAILED ? 0 : (nint)address;
        }

        public static bool Release(nint address, nuint size) => LibC.munmap((void*)address, (size_t)(ulong)size) == 0;

        public static bool Protect(nint address, nuint size, MemoryProtection protection) =>
            LibC.mprotect((void*)address, (size_t)(ulong)size, ToProt(protection)) == 0;

        /// <summary>For private anonymous memory MADV_DONTNEED frees the pages now; the next touch reads zeros.</summary>
        public static bool Discard(nint address, nuint size) => MAdvise(address, size, LibC.MADV_DONTNEED) == 0;

        /// <summary>Makes a range a guard (MADV_GUARD_INSTALL, Linux 6.13+): page-table markers that fault on any
        /// access, inside an accessible mapping, so a guard no longer splits it in two. A discard keeps them.</summary>
        public static bool InstallGuard(nint address, nuint size) => MAdvise(address, size, MadvGuardInstall) == 0;

        /// <summary>True when guards installed by <see cref="InstallGuard"/> really refuse access here: the kernel
        /// accepts the advice (Linux 6.13+) and a copy out of a guarded page fails. The copy is checked because an
        /// emulator may answer 0 and install nothing (qemu-user 7.2 does), and a guard that is not there must never
        /// be trusted.</summary>
        public static bool ProbeGuardMarkers() => AdviceGuardsPage(MadvGuardInstall);

        /// <summary>Maps a fresh read-write page, checks that the kernel can copy out of it, gives it
        /// <paramref name="advice"/> and answers whether the same copy now fails with EFAULT (which a kernel copy
        /// gets where user code would get SIGSEGV). False when the advice is refused, or when anything the check
        /// needs (the page, a pipe) cannot be had.</summary>
        internal static bool AdviceGuardsPage(int advice)
        {
            nuint page = PageSize;
            // Stryker disable once Unary : Linux ignores the descriptor of a MAP_ANONYMOUS mapping (-1 is for portability)
            nint probe = (nint)LibC.mmap(null, (size_t)(ulong)page, LibC.PROT_READ | LibC.PROT_WRITE,
                LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS, -1, 0);
            if (probe == (nint)LibC.MAP_FAILED)
            {
                return false;
            }
            int* pipe = stackalloc int[2];
            if (Pipe(pipe) != 0)
            {
                Release(probe, page);
                return false;
            }
            try
            {
                // Readable before, so that a failure after says the advice did it. (A one-byte copy returns 1 or -1,
                // never 0, and after one that succeeded the last error is 0, not EFAULT: the last two tests could be
                // written <= 0 or joined by || with the same answers.)
                // Stryker disable once Equality,Logical : see above
                return Write(pipe[1], probe, 1) == 1
                    && MAdvise(probe, page, advice) == 0
                    && Write(pipe[1], probe, 1) < 0 && Marshal.GetLastPInvokeError() == LibC.EFAULT;
            }
            finally
            {
                Close(pipe[0]);
                Close(pipe[1]);
                Release(probe, page);
            }
        }

        /// <summary>mincore over whole pages; <paramref name="vector"/> gets one byte per page.</summary>
        public static bool Residency(nint address, nuint size, byte* vector) =>
            LibC.mincore((void*)address, (size_t)(ulong)size, vector) == 0;

        // Our own import for the call every slot reset makes, rather than Tmds.LibC's: it is bound like any
        // LibraryImport (no IL stub between the caller and libc), which measured 450 -> 433 ns per madvise of 64 KiB
        // here, and errno is captured right after the call (Errno reads it). libc.so.6, as Tmds.LibC binds.
        [LibraryImport("libc.so.6", EntryPoint = "madvise", SetLastError = true)]
        private static partial int MAdvise(nint address, nuint length, int advice);

        // Not in Tmds.LibC 0.5.0 (include/uapi/asm-generic/mman-common.h).
        private const int MadvGuardInstall = 102;

        [LibraryImport("libc.so.6", EntryPoint = "pipe", SetLastError = true)]
        private static partial int Pipe(int* descriptors);

        [LibraryImport("libc.so.6", EntryPoint = "write", SetLastError = true)]
        private static partial nint Write(int descriptor, nint buffer, nuint count);

        [LibraryImport("libc.so.6", EntryPoint = "close")]
        private static partial int Close(int descriptor);

        private static int ToProt(MemoryProtection protection) => protection switch
        {
            MemoryProtection.NoAccess => LibC.PROT_NONE,
            MemoryProtection.ReadOnly => LibC.PROT_READ,
            MemoryProtection.ReadWrite => LibC.PROT_READ | LibC.PROT_WRITE,
            _ => throw new ArgumentOutOfRangeException(nameof(protection), protection, "Unknown protection."),
        };
    }
}
