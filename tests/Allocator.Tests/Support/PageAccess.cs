using System.Runtime.InteropServices;

namespace Allocator.Tests.Support;

/// <summary>Whether a page can be read, on Linux and on Windows, without touching it from user code (a touch of an
/// inaccessible page would kill the test process).</summary>
internal static partial class PageAccess
{
    private const uint MemCommit = 0x1000;
    private const uint PageNoAccess = 0x01;
    private const uint PageGuard = 0x100;

    public static bool IsReadable(nint address)
    {
        if (!OperatingSystem.IsWindows())
        {
            return MemoryProbe.IsReadable(address);
        }
        Assert.NotEqual((nuint)0, VirtualQuery(address, out MemoryBasicInformation info, (nuint)Marshal.SizeOf<MemoryBasicInformation>()));
        return info.State == MemCommit && (info.Protect & (PageNoAccess | PageGuard)) == 0 && info.Protect != 0;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MemoryBasicInformation
    {
        public nint BaseAddress;
        public nint AllocationBase;
        public uint AllocationProtect;
        public ushort PartitionId;
        public nuint RegionSize;
        public uint State;
        public uint Protect;
        public uint Type;
    }

    [LibraryImport("kernel32.dll", SetLastError = true)]
    private static partial nuint VirtualQuery(nint address, out MemoryBasicInformation info, nuint length);
}
