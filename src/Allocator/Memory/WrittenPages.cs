using System.Diagnostics;
using Microsoft.Win32.SafeHandles;

namespace Allocator.Memory;

/// <summary>Finds the pages of a range that a tenant wrote, with Linux's PAGEMAP_SCAN (6.7+), so a reset can restore
/// just those in place and skip the <c>madvise</c> (and its TLB shootdown) when the tenant's writes fit the
/// kept-resident bytes. Wasmtime's pooling allocator resets the same way (<c>pagemap.rs</c>).</summary>
/// <remarks>
/// Written pages are present, private and anonymous: not the shared zero page (only read) and not a page of an
/// image's file (only read; a write would have copied it). Elsewhere (Windows, older kernels, a sandbox that hides
/// /proc) <see cref="IsSupported"/> is false and resets discard as before.
/// </remarks>
internal static unsafe class WrittenPages
{
    /// <summary>The smallest kept-resident size for which a reset scans: the ioctl costs about 1.1-1.5 us (measured
    /// here: a 64 KiB scan), which is what zeroing about 150 KiB in place costs (16 KiB: 130 ns) and twice a
    /// <c>madvise</c> of untouched pages (600 ns). Below this, zeroing the kept bytes and discarding the rest is
    /// cheaper, so only large keep-resident settings scan.</summary>
    public const nuint WorthScanningBytes = 256 * 1024;

    /// <summary>Regions asked for per scan; a reset with more disjoint written runs discards the rest.</summary>
    public const int MaxRegions = 32;

    // Written, present or swapped out, and neither the zero page nor a file page (inverted categories). A written
    // page that was swapped out is not present, yet holds the tenant's bytes: asking for present pages only would
    // leave it neither restored nor discarded, and the next tenant would read it back.
    internal const ulong CategoryInverted = Interop.PageCategory.PfnZero | Interop.PageCategory.File;
    internal const ulong CategoryMask = Interop.PageCategory.Written | Interop.PageCategory.PfnZero | Interop.PageCategory.File;
    internal const ulong CategoryAnyOf = Interop.PageCategory.Present | Interop.PageCategory.Swapped;

    private static readonly SafeFileHandle? s_pagemap = OpenIfSupported();

    /// <summary>Whether a scan reports a page of these categories, by the kernel's rule for PAGEMAP_SCAN
    /// (fs/proc/task_mmu.c, pagemap_scan_is_interesting_page): for tests of the masks above.</summary>
    internal static bool Reports(ulong categories)
    {
        categories ^= CategoryInverted;
        return (categories & CategoryMask) == CategoryMask && (categories & CategoryAnyOf) != 0;
    }

    public static bool IsSupported => s_pagemap is not null;

    /// <summary>Scans [address, address + length) for written pages, stopping after <paramref name="maxPages"/> of
    /// them or <see cref="MaxRegions"/> runs. <paramref name="scannedUpTo"/> is where the scan stopped: every written
    /// page below it is in <paramref name="regions"/>[..count]. False when the scan failed (nothing is known).</summary>
    public static bool TryScan(nint address, nuint length, nuint maxPages, Span<Interop.PageRegion> regions, out int count, out nint scannedUpTo)
    {
        Debug.Assert(regions.Length >= MaxRegions && maxPages > 0);
        count = 0;
        scannedUpTo = address;
        if (s_pagemap is null || !OperatingSystem.IsLinux() || VirtualMemoryFaults.Check(VirtualMemoryOperation.Scan, length) != 0)
        {
            return false;
        }
        fixed (Interop.PageRegion* vec = regions)
        {
            var arg = new Interop.Sys.PageMapScanArg
            {
                Size = (ulong)sizeof(Interop.Sys.PageMapScanArg),
                Start = (ulong)address,
                End = (ulong)(address + (nint)length),
                Vec = (ulong)vec,
                VecLength = MaxRegions,
                MaxPages = maxPages,
                CategoryInverted = CategoryInverted,
                CategoryMask = CategoryMask,
                CategoryAnyOfMask = CategoryAnyOf,
                ReturnMask = 0,
            };
            // No add-ref: s_pagemap lives as long as the process (a static that is never disposed).
            int found = Interop.Sys.PageMapScan((int)s_pagemap.DangerousGetHandle(), &arg);
            if (found < 0)
            {
                return false;
            }
            count = found;
            scannedUpTo = (nint)arg.WalkEnd;
            return true;
        }
    }

    /// <summary>Opens /proc/self/pagemap and checks the ioctl with an empty scan; null when either fails. (Internal
    /// with a path so tests can run it: the static field runs it once, before any test.)</summary>
    internal static SafeFileHandle? OpenIfSupported(string path = "/proc/self/pagemap")
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        SafeFileHandle pagemap;
        try
        {
            pagemap = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        Interop.PageRegion* vec = stackalloc Interop.PageRegion[1];
        var probe = new Interop.Sys.PageMapScanArg
        {
            Size = (ulong)sizeof(Interop.Sys.PageMapScanArg),
            Vec = (ulong)vec,
            VecLength = 1,
            MaxPages = 1,
            CategoryMask = Interop.PageCategory.Present,
        };
        if (Interop.Sys.PageMapScan((int)pagemap.DangerousGetHandle(), &probe) < 0)
        {
            pagemap.Dispose();
            return null;
        }
        return pagemap;
    }
}
