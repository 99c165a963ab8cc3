using System.Runtime.InteropServices;
using Tmds.Linux;

namespace Allocator;

internal static partial class Interop
{
    /// <summary>struct page_region of PAGEMAP_SCAN: one run of pages with the same categories. Outside
    /// <see cref="Sys"/> because callers on every platform hold the (then empty) buffer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PageRegion
    {
        public ulong Start;
        public ulong End;
        public ulong Categories;
    }

    /// <summary>PAGEMAP_SCAN page categories (PAGE_IS_*, include/uapi/linux/fs.h). Outside <see cref="Sys"/> so the
    /// masks built from them are plain constants on every platform.</summary>
    internal static class PageCategory
    {
        public const ulong Written = 1 << 1;
        public const ulong File = 1 << 2;
        public const ulong Present = 1 << 3;
        public const ulong Swapped = 1 << 4;
        public const ulong PfnZero = 1 << 5;
    }

    internal static unsafe partial class Sys
    {
        /// <summary>PAGEMAP_SCAN (Linux 6.7+): _IOWR('f', 16, struct pm_scan_arg).</summary>
        private const uint PageMapScanRequest = 0xC0606610;

        /// <summary>struct pm_scan_arg (include/uapi/linux/fs.h).</summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct PageMapScanArg
        {
            public ulong Size;
            public ulong Flags;
            public ulong Start;
            public ulong End;
            public ulong WalkEnd;
            public ulong Vec;
            public ulong VecLength;
            public ulong MaxPages;
            public ulong CategoryInverted;
            public ulong CategoryMask;
            public ulong CategoryAnyOfMask;
            public ulong ReturnMask;
        }

        /// <summary>The PAGEMAP_SCAN ioctl on an open /proc/self/pagemap: the number of regions written to
        /// <c>arg.Vec</c>, or -1 with errno set.</summary>
        public static int PageMapScan(int pagemapFd, PageMapScanArg* arg) => LibC.ioctl(pagemapFd, unchecked((int)PageMapScanRequest), arg);
    }
}
