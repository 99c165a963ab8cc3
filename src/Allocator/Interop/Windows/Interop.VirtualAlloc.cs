using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Allocator.Memory;

namespace Allocator;

internal static partial class Interop
{
    /// <summary>VirtualAlloc, VirtualProtect, VirtualFree and QueryWorkingSetEx, imported by hand (no CsWin32 here).</summary>
    [SupportedOSPlatform("windows")]
    internal static unsafe partial class Kernel32
    {
        private const uint MemCommit = 0x1000;
        private const uint MemReserve = 0x2000;
        private const uint MemDecommit = 0x4000;
        private const uint MemRelease = 0x8000;
        private const uint PageNoAccess = 0x01;
        private const uint PageReadOnly = 0x02;
        private const uint PageReadWrite = 0x04;

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
        public struct WorkingSetExInformation
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

        public static int LastError => Marshal.GetLastPInvokeError();

        /// <summary>Returns 0 on failure.</summary>
        public static nint Reserve(nuint size) => VirtualAlloc(0, size, MemReserve, PageNoAccess);

        public static bool Release(nint address) => VirtualFree(address, 0, MemRelease);

        /// <summary>NoAccess decommits (the pages go back as well); anything else commits, then sets the protection.
        /// <paramref name="failedCall"/> names the call that failed.</summary>
        public static bool Protect(nint address, nuint size, MemoryProtection protection, out string failedCall)
        {
            if (protection == MemoryProtection.NoAccess)
            {
                failedCall = "VirtualFree(MEM_DECOMMIT)";
                return VirtualFree(address, size, MemDecommit);
            }
            uint prot = protection == MemoryProtection.ReadOnly ? PageReadOnly : PageReadWrite;
            failedCall = "VirtualAlloc(MEM_COMMIT)";
            if (VirtualAlloc(address, size, MemCommit, prot) == 0)
            {
                return false;
            }
            failedCall = "VirtualProtect";
            return VirtualProtect(address, size, prot, out _);
        }

        /// <summary>Decommit then commit again: the pages leave the working set and read as zeros next time.</summary>
        public static bool Discard(nint address, nuint size, out string failedCall)
        {
            failedCall = "VirtualFree(MEM_DECOMMIT)";
            if (!VirtualFree(address, size, MemDecommit))
            {
                return false;
            }
            failedCall = "VirtualAlloc(MEM_COMMIT)";
            return VirtualAlloc(address, size, MemCommit, PageReadWrite) != 0;
        }

        public static bool Residency(WorkingSetExInformation* entries, int count) =>
            QueryWorkingSetEx(GetCurrentProcess(), entries, (uint)(count * sizeof(WorkingSetExInformation)));
    }
}
