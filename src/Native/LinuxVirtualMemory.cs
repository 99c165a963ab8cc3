using System.Runtime.Versioning;
using Tmds.Linux;

namespace Allocator.Native;

/// <summary>mmap/mprotect/madvise/mincore through Tmds.LibC.</summary>
/// <remarks>Tmds.LibC ships its implementation only for Linux RIDs, so every call stays inside this class.</remarks>
[SupportedOSPlatform("linux")]
internal static unsafe class LinuxVirtualMemory
{
    public static nuint PageSize => (nuint)LibC.getpagesize();

    public static nint Reserve(nuint size)
    {
        // PROT_NONE + MAP_NORESERVE: address space only, no commit charge until pages are made accessible.
        void* address = LibC.mmap(null, (size_t)(ulong)size, LibC.PROT_NONE,
            LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        if (address == LibC.MAP_FAILED)
        {
            throw new VirtualMemoryException("mmap", LibC.errno, size);
        }
        return (nint)address;
    }

    public static bool Release(nint address, nuint size) => LibC.munmap((void*)address, (size_t)(ulong)size) == 0;

    public static void Protect(nint address, nuint size, MemoryProtection protection)
    {
        if (LibC.mprotect((void*)address, (size_t)(ulong)size, ToProt(protection)) != 0)
        {
            throw new VirtualMemoryException($"mprotect({protection})", LibC.errno, size);
        }
    }

    public static void Discard(nint address, nuint size)
    {
        // For private anonymous memory MADV_DONTNEED frees the pages now and the next touch reads zeros.
        if (LibC.madvise((void*)address, (size_t)(ulong)size, LibC.MADV_DONTNEED) != 0)
        {
            throw new VirtualMemoryException("madvise(MADV_DONTNEED)", LibC.errno, size);
        }
    }

    public static nuint ResidentBytes(nint address, nuint size)
    {
        nuint page = PageSize;
        nuint pages = (size + page - 1) / page;
        byte[] vector = new byte[(int)pages];
        fixed (byte* v = vector)
        {
            if (LibC.mincore((void*)address, (size_t)(ulong)size, v) != 0)
            {
                throw new VirtualMemoryException("mincore", LibC.errno, size);
            }
        }
        nuint resident = 0;
        foreach (byte b in vector)
        {
            if ((b & 1) != 0)
            {
                resident += page;
            }
        }
        return resident;
    }

    private static int ToProt(MemoryProtection protection) => protection switch
    {
        MemoryProtection.NoAccess => LibC.PROT_NONE,
        MemoryProtection.ReadOnly => LibC.PROT_READ,
        MemoryProtection.ReadWrite => LibC.PROT_READ | LibC.PROT_WRITE,
        MemoryProtection.ReadExecute => LibC.PROT_READ | LibC.PROT_EXEC,
        _ => throw new ArgumentOutOfRangeException(nameof(protection), protection, "Unknown protection."),
    };
}
