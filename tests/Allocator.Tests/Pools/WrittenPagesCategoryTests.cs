using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>Which pages a reset's PAGEMAP_SCAN reports as the tenant's: every page that may hold its bytes, a
/// swapped-out one included (it is not present, yet the next tenant would fault the old bytes back in).</summary>
public sealed class WrittenPagesCategoryTests
{
    private const ulong Written = Interop.PageCategory.Written;
    private const ulong Present = Interop.PageCategory.Present;
    private const ulong Swapped = Interop.PageCategory.Swapped;

    [Fact]
    public void A_written_page_is_reported_whether_present_or_swapped_out()
    {
        Assert.True(WrittenPages.Reports(Written | Present));
        Assert.True(WrittenPages.Reports(Written | Swapped));
    }

    [Fact]
    public void Pages_that_hold_nothing_of_the_tenant_are_not_reported()
    {
        Assert.False(WrittenPages.Reports(0)); // never touched (or discarded)
        Assert.False(WrittenPages.Reports(Written | Present | Interop.PageCategory.PfnZero)); // only read: the zero page
        Assert.False(WrittenPages.Reports(Written | Present | Interop.PageCategory.File)); // an image page, only read
    }

    [LinuxFact]
    public unsafe void A_real_scan_reports_the_written_pages_and_not_the_read_ones()
    {
        if (!WrittenPages.IsSupported)
        {
            return; // kernel before 6.7 or /proc hidden: resets discard instead, nothing to check here
        }
        nuint page = VirtualMemory.PageSize;
        using MemoryReservation reservation = VirtualMemory.Reserve(16 * page);
        reservation.Protect(0, 16 * page, MemoryProtection.ReadWrite);
        byte* bytes = (byte*)reservation.BaseAddress;
        _ = Volatile.Read(ref bytes[0]);
        bytes[3 * (int)page] = 1;
        _ = Volatile.Read(ref bytes[5 * (int)page]);
        bytes[9 * (int)page] = 1;
        Span<Interop.PageRegion> regions = stackalloc Interop.PageRegion[WrittenPages.MaxRegions];
        Assert.True(WrittenPages.TryScan(reservation.BaseAddress, 16 * page, 16, regions, out int count, out _));
        Assert.Equal([(3UL, 4UL), (9UL, 10UL)], regions[..count].ToArray()
            .Select(r => ((r.Start - (ulong)reservation.BaseAddress) / page, (r.End - (ulong)reservation.BaseAddress) / page)));
    }
}
