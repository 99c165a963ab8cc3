using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Allocator.Native;

/// <summary>VirtualAlloc/VirtualProtect/VirtualFree/QueryWorkingSetEx, imported by hand.</summary>
[SupportedOSPlatform("windows")]
internal static unsafe partial class WindowsVirtualMemory
{
    private const uint MemCommit = 0x1000;
    private const uint MemReserve = 0x2000;
    private const uint MemDecommit = 0x4000;
    private const uint MemRelease = 0x8000;
    private const uint PageNoAccess = 0x01;
    private const uint PageReadOnly = 0x02;
    private const uint PageReadWrite = 0x04;
    private const uint PageExecuteRead = 0x20;

    [StructLayout(LayoutKind.Sequential)]
    private struct SystemInfo
    {
        public ushort ProcessorArchitecture;
        public ushort Reserved;
        public uint PageSize;
        public nint MinimumApplicationAddress;
        public nint MaximumApplicationAddress;
        public nint ActiveProcessorMask;
        public uint NumberOfProcessors;
        public uint ProcessorType;
        public uint AllocationGranularity;
        public ushort ProcessorLevel;
        public ushort ProcessorRevision;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct WorkingSetExInformation
    {
        public nint VirtualAddress;
        public nuint Attributes; // bit 0: Valid (resident in the working set)
    }

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial nint VirtualAlloc(nint address, nuint size, uint allocationType, uint protect);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool VirtualProtect(nint address, nuint size, uint newProtect, out uint oldProtect);

    [LibraryImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool VirtualFree(nint address, nuint size, uint freeType);

    [LibraryImport("kernel32.dll")]
    private static partial void GetSystemInfo(out SystemInfo info);

    [LibraryImport("kernel32.dll")]
    private static partial nint GetCurrentProcess();

    [LibraryImport("kernel32.dll", EntryPoint = "K32QueryWorkingSetEx", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool QueryWorkingSetEx(nint process, WorkingSetExInformation* info, uint size);

    public static nuint PageSize
    {
        get
        {
            GetSystemInfo(out SystemInfo info);
            return info.PageSize;
        }
    }

    public static nint Reserve(nuint size)
    {
        nint address = VirtualAlloc(0, size, MemReserve, PageNoAccess);
        if (address == 0)
        {
            throw new VirtualMemoryException("VirtualAlloc(MEM_RESERVE)", Marshal.GetLastPInvokeError(), size);
        }
        return address;
    }

    public static bool Release(nint address, nuint size) => VirtualFree(address, 0, MemRelease);

    public static void Protect(nint address, nuint size, MemoryProtection protection)
    {
        if (protection == MemoryProtection.NoAccess)
        {
            // Decommitting gives the pages back as well as making them inaccessible.
            if (!VirtualFree(address, size, MemDecommit))
            {
                throw new VirtualMemoryException("VirtualFree(MEM_DECOMMIT)", Marshal.GetLastPInvokeError(), size);
            }
            return;
        }
        uint prot = ToProtect(protection);
        if (VirtualAlloc(address, size, MemCommit, prot) == 0)
        {
            throw new VirtualMemoryException("VirtualAlloc(MEM_COMMIT)", Marshal.GetLastPInvokeError(), size);
        }
        if (!VirtualProtect(address, size, prot, out _))
        {
            throw new VirtualMemoryException("VirtualProtect", Marshal.GetLastPInvokeError(), size);
        }
    }

    public static void Discard(nint address, nuint size)
    {
        // Decommit then commit again: the pages leave the working set and read as zeros next time.
        if (!VirtualFree(address, size, MemDecommit))
        {
            throw new VirtualMemoryException("VirtualFree(MEM_DECOMMIT)", Marshal.GetLastPInvokeError(), size);
        }
        if (VirtualAlloc(address, size, MemCommit, PageReadWrite) == 0)
        {
            throw new VirtualMemoryException("VirtualAlloc(MEM_COMMIT)", Marshal.GetLastPInvokeError(), size);
        }
    }

    public static nuint ResidentBytes(nint address, nuint size)
    {
        nuint page = PageSize;
        int pages = (int)((size + page - 1) / page);
        var info = new WorkingSetExInformation[pages];
        for (int i = 0; i < pages; i++)
        {
            info[i].VirtualAddress = address + (nint)((nuint)i * page);
        }
        fixed (WorkingSetExInformation* p = info)
        {
            if (!QueryWorkingSetEx(GetCurrentProcess(), p, (uint)(pages * sizeof(WorkingSetExInformation))))
            {
                throw new VirtualMemoryException("QueryWorkingSetEx", Marshal.GetLastPInvokeError(), size);
            }
        }
        nuint resident = 0;
        foreach (WorkingSetExInformation entry in info)
        {
            if ((entry.Attributes & 1) != 0)
            {
                resident += page;
            }
        }
        return resident;
    }

    private static uint ToProtect(MemoryProtection protection) => protection switch
    {
        MemoryProtection.ReadOnly => PageReadOnly,
        MemoryProtection.ReadWrite => PageReadWrite,
        MemoryProtection.ReadExecute => PageExecuteRead,
        _ => throw new ArgumentOutOfRangeException(nameof(protection), protection, "Unknown protection."),
    };
}
