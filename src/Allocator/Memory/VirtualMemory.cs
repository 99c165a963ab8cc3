using System.Diagnostics;

namespace Allocator.Memory;

/// <summary>Reserve, protect, discard, query and release virtual memory on Linux and Windows.</summary>
/// <remarks>Every reservation is owned by a <see cref="MemoryReservation"/>; this class only dispatches to the
/// <see cref="Interop"/> partials and turns their failures into <see cref="VirtualMemoryException"/>.</remarks>
internal static unsafe class VirtualMemory
{
    /// <summary>Pages asked about per mincore / QueryWorkingSetEx call: the answer goes to a fixed stack buffer,
    /// so a huge range never needs a huge (or truncated) array.</summary>
    internal const int ResidencyChunkPages = 1024;

    private static readonly nuint s_pageSize = QueryPageSize();

    /// <summary>The OS page size in bytes.</summary>
    public static nuint PageSize => s_pageSize;

    /// <summary>True when <paramref name="bytes"/> is a whole number of pages.</summary>
    public static bool IsPageMultiple(nuint bytes) => (bytes & (s_pageSize - 1)) == 0;

    /// <summary>Reserves <paramref name="size"/> bytes of inaccessible address space (no physical memory).</summary>
    public static MemoryReservation Reserve(nuint size)
    {
        Debug.Assert(size > 0 && IsPageMultiple(size), "Pools reserve whole pages, validated before they get here.");
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Reserve, size);
        nint address = injected != 0 ? 0
            : OperatingSystem.IsWindows() ? Interop.Kernel32.Reserve(size)
            : OperatingSystem.IsLinux() ? Interop.Sys.Reserve(size)
            : throw Unsupported();
        if (address == 0)
        {
            string call = OperatingSystem.IsWindows() ? "VirtualAlloc(MEM_RESERVE)" : "mmap";
            throw new VirtualMemoryException(call, injected != 0 ? injected : LastError(), size);
        }
        return new MemoryReservation(address, size);
    }

    internal static bool Release(nint address, nuint size) =>
        OperatingSystem.IsWindows() ? Interop.Kernel32.Release(address)
        : OperatingSystem.IsLinux() && Interop.Sys.Release(address, size);

    internal static void Protect(nint address, nuint size, MemoryProtection protection)
    {
        // The call's name is built only for the error: a slot changes protection on many checkouts, and the string
        // was the only thing a successful call allocated.
        string? call = null;
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Protect, size);
        bool ok = injected == 0 && (OperatingSystem.IsWindows() ? Interop.Kernel32.Protect(address, size, protection, out call)
            : OperatingSystem.IsLinux() ? Interop.Sys.Protect(address, size, protection)
            : throw Unsupported());
        if (!ok)
        {
            int error = injected != 0 ? injected : LastError();
            throw new VirtualMemoryException(call ?? $"mprotect({protection})", error, size);
        }
    }

    /// <summary>True where one <see cref="Discard"/> may span pages that are never accessible (guard pages) and
    /// leaves them so: madvise(MADV_DONTNEED) drops pages but keeps every protection, so a pool may give back
    /// neighbouring slots in one call, guards included. False on Windows, where a discard decommits and commits the
    /// whole range read-write again: across a guard it would make the guard usable. Settable for tests only.</summary>
    internal static bool DiscardSpansGuards { get; set; } = !OperatingSystem.IsWindows();

    /// <summary>True where a guard page can be a marker inside an accessible mapping (<see cref="InstallGuard"/>,
    /// Linux 6.13+, checked to refuse access): a stack pool's stacks and guards then stay one memory map region
    /// instead of two per stack, and a discard across neighbours no longer pays for every guard it crosses. Probed
    /// once per process; settable for tests only.</summary>
    // Stryker disable once Logical : on Linux, where mutants are tested, both forms probe; on Windows || would call libc through Tmds.LibC, which the win-x64 run under Wine would fail at once
    internal static bool GuardMarkers { get; set; } = OperatingSystem.IsLinux() && Interop.Sys.ProbeGuardMarkers();

    /// <summary>Makes a range of accessible memory a guard that faults on any access (Linux, where
    /// <see cref="GuardMarkers"/> holds); discards keep it.</summary>
    internal static void InstallGuard(nint address, nuint size)
    {
        Debug.Assert(GuardMarkers, "Only where the kernel keeps such guards.");
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Guard, size);
        bool ok = injected == 0 && (OperatingSystem.IsLinux() ? Interop.Sys.InstallGuard(address, size) : throw Unsupported());
        if (!ok)
        {
            throw new VirtualMemoryException("madvise(MADV_GUARD_INSTALL)", injected != 0 ? injected : LastError(), size);
        }
    }

    internal static void Discard(nint address, nuint size)
    {
        string call = "madvise(MADV_DONTNEED)";
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Discard, size);
        bool ok = injected == 0 && (OperatingSystem.IsWindows() ? Interop.Kernel32.Discard(address, size, out call)
            : OperatingSystem.IsLinux() ? Interop.Sys.Discard(address, size)
            : throw Unsupported());
        if (!ok)
        {
            throw new VirtualMemoryException(call, injected != 0 ? injected : LastError(), size);
        }
    }

    /// <summary>Replaces a range with fresh memory of <paramref name="protection"/> that reads as zeros, whatever
    /// was there (an image's copy-on-write pages included).</summary>
    internal static void Replace(nint address, nuint size, MemoryProtection protection)
    {
        if (OperatingSystem.IsWindows())
        {
            // Decommitting drops the pages; committing again gives zero pages.
            Protect(address, size, MemoryProtection.NoAccess);
            if (protection != MemoryProtection.NoAccess)
            {
                Protect(address, size, protection);
            }
            return;
        }
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Map, size);
        bool ok = injected == 0 && (OperatingSystem.IsLinux() ? Interop.Sys.MapAnonymousFixed(address, size, protection) : throw Unsupported());
        if (!ok)
        {
            throw new VirtualMemoryException("mmap(MAP_FIXED|MAP_ANONYMOUS)", injected != 0 ? injected : LastError(), size);
        }
    }

    /// <summary>Maps the first <paramref name="size"/> bytes of an image file copy-on-write over a range (Linux).</summary>
    internal static void MapImage(nint address, nuint size, int fd)
    {
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Map, size);
        bool ok = injected == 0 && (OperatingSystem.IsLinux() ? Interop.Sys.MapFileFixed(address, size, fd, MemoryProtection.ReadWrite) : throw Unsupported());
        if (!ok)
        {
            throw new VirtualMemoryException("mmap(MAP_PRIVATE|MAP_FIXED, memfd)", injected != 0 ? injected : LastError(), size);
        }
    }

    /// <summary>Bytes of [address, address + size) resident in physical memory, asked in chunks of
    /// <see cref="ResidencyChunkPages"/> pages through a fixed buffer.</summary>
    internal static nuint ResidentBytes(nint address, nuint size)
    {
        nuint pages = (size + s_pageSize - 1) / s_pageSize;
        nuint resident = 0;
        for (nuint done = 0; done < pages; done += ResidencyChunkPages)
        {
            int chunk = (int)Math.Min(pages - done, ResidencyChunkPages);
            resident += ResidentPages(address + (nint)(done * s_pageSize), chunk) * s_pageSize;
        }
        return resident;
    }

    private static nuint ResidentPages(nint address, int pages)
    {
        Debug.Assert(pages is > 0 and <= ResidencyChunkPages);
        nuint bytes = (nuint)pages * s_pageSize;
        int injected = VirtualMemoryFaults.Check(VirtualMemoryOperation.Residency, bytes);
        nuint resident = 0;
        if (OperatingSystem.IsWindows())
        {
            Interop.Kernel32.WorkingSetExInformation* info = stackalloc Interop.Kernel32.WorkingSetExInformation[pages];
            for (int i = 0; i < pages; i++)
            {
                info[i] = new() { VirtualAddress = address + (nint)((nuint)i * s_pageSize) };
            }
            if (injected != 0 || !Interop.Kernel32.Residency(info, pages))
            {
                throw new VirtualMemoryException("QueryWorkingSetEx", injected != 0 ? injected : LastError(), bytes);
            }
            for (int i = 0; i < pages; i++)
            {
                resident += info[i].Attributes & 1;
            }
            return resident;
        }
        if (!OperatingSystem.IsLinux())
        {
            throw Unsupported();
        }
        byte* vector = stackalloc byte[pages];
        if (injected != 0 || !Interop.Sys.Residency(address, bytes, vector))
        {
            throw new VirtualMemoryException("mincore", injected != 0 ? injected : LastError(), bytes);
        }
        for (int i = 0; i < pages; i++)
        {
            resident += (nuint)(vector[i] & 1);
        }
        return resident;
    }

    internal static int LastError() =>
        OperatingSystem.IsWindows() ? Interop.Kernel32.LastError
        : OperatingSystem.IsLinux() ? Interop.Sys.Errno
        : 0;

    private static nuint QueryPageSize() =>
        OperatingSystem.IsWindows() ? Interop.Kernel32.PageSize
        : OperatingSystem.IsLinux() ? Interop.Sys.PageSize
        : (nuint)Environment.SystemPageSize;

    private static PlatformNotSupportedException Unsupported() =>
        new("Allocator's virtual memory layer supports Linux and Windows.");
}
