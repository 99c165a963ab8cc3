namespace Allocator.Native;

/// <summary>Reserve, protect, discard and release virtual memory on Linux and Windows.</summary>
/// <remarks>Every reservation is owned by a <see cref="MemoryReservation"/> handle; this class only dispatches.</remarks>
public static class VirtualMemory
{
    private static readonly nuint s_pageSize = QueryPageSize();

    /// <summary>The OS page size in bytes.</summary>
    public static nuint PageSize => s_pageSize;

    /// <summary>True when <paramref name="bytes"/> is a whole number of pages.</summary>
    public static bool IsPageMultiple(nuint bytes) => (bytes & (s_pageSize - 1)) == 0;

    /// <summary>Reserves <paramref name="size"/> bytes of inaccessible address space (no physical memory).</summary>
    /// <exception cref="ArgumentOutOfRangeException">Size is zero or not a page multiple.</exception>
    /// <exception cref="VirtualMemoryException">The OS refused; carries the error code and size.</exception>
    public static MemoryReservation Reserve(nuint size)
    {
        if (size == 0 || !IsPageMultiple(size))
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, $"A reservation must be a non-zero multiple of the page size ({s_pageSize}).");
        }
        nint address = OperatingSystem.IsWindows() ? WindowsVirtualMemory.Reserve(size)
            : OperatingSystem.IsLinux() ? LinuxVirtualMemory.Reserve(size)
            : throw Unsupported();
        return new MemoryReservation(address, size);
    }

    internal static bool Release(nint address, nuint size) =>
        OperatingSystem.IsWindows() ? WindowsVirtualMemory.Release(address, size)
        : OperatingSystem.IsLinux() && LinuxVirtualMemory.Release(address, size);

    internal static void Protect(nint address, nuint size, MemoryProtection protection)
    {
        if (OperatingSystem.IsWindows())
        {
            WindowsVirtualMemory.Protect(address, size, protection);
        }
        else if (OperatingSystem.IsLinux())
        {
            LinuxVirtualMemory.Protect(address, size, protection);
        }
        else
        {
            throw Unsupported();
        }
    }

    internal static void Discard(nint address, nuint size)
    {
        if (OperatingSystem.IsWindows())
        {
            WindowsVirtualMemory.Discard(address, size);
        }
        else if (OperatingSystem.IsLinux())
        {
            LinuxVirtualMemory.Discard(address, size);
        }
        else
        {
            throw Unsupported();
        }
    }

    internal static nuint ResidentBytes(nint address, nuint size) =>
        OperatingSystem.IsWindows() ? WindowsVirtualMemory.ResidentBytes(address, size)
        : OperatingSystem.IsLinux() ? LinuxVirtualMemory.ResidentBytes(address, size)
        : throw Unsupported();

    private static nuint QueryPageSize() =>
        OperatingSystem.IsWindows() ? WindowsVirtualMemory.PageSize
        : OperatingSystem.IsLinux() ? LinuxVirtualMemory.PageSize
        : (nuint)Environment.SystemPageSize;

    private static PlatformNotSupportedException Unsupported() =>
        new("Allocator's virtual memory layer supports Linux and Windows.");
}
