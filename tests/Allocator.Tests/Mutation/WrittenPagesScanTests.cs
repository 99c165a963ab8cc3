using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary><see cref="WrittenPages.TryScan"/> on its own: a clean range scans as success with nothing found, a
/// written page is found, and an injected or real (misaligned) failure reports that nothing is known.</summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class WrittenPagesScanTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;
    private readonly MemoryReservation _memory = VirtualMemory.Reserve(8 * Page);
    private readonly Interop.PageRegion[] _regions = new Interop.PageRegion[WrittenPages.MaxRegions];

    public WrittenPagesScanTests() => _memory.Protect(0, 8 * Page, MemoryProtection.ReadWrite);

    public void Dispose()
    {
        VirtualMemoryFaults.Hook = null;
        _memory.Dispose();
    }

    [LinuxFact]
    public void A_clean_range_scans_with_nothing_found_and_a_written_page_is_found()
    {
        Assert.True(WrittenPages.IsSupported, "PAGEMAP_SCAN exists from Linux 6.7");
        nint start = _memory.BaseAddress;
        Assert.True(WrittenPages.TryScan(start, 8 * Page, 8, _regions, out int count, out nint end));
        Assert.Equal((0, start + (nint)(8 * Page)), (count, end));

        *(byte*)(start + (nint)(3 * Page)) = 1;
        Assert.True(WrittenPages.TryScan(start, 8 * Page, 8, _regions, out count, out _));
        Assert.Equal(1, count);
        Assert.Equal(((ulong)start + 3 * Page, (ulong)start + 4 * Page), (_regions[0].Start, _regions[0].End));
    }

    [LinuxFact]
    public void The_probe_keeps_pagemap_and_closes_anything_else()
    {
        using (Microsoft.Win32.SafeHandles.SafeFileHandle? pagemap = WrittenPages.OpenIfSupported())
        {
            Assert.NotNull(pagemap);
            Assert.False(pagemap.IsClosed);
        }
        Assert.Null(WrittenPages.OpenIfSupported($"/nonexistent/{Guid.NewGuid():N}"));

        // A file that is not pagemap opens, fails the ioctl and is closed again.
        string other = Path.Combine(Path.GetTempPath(), $"not-pagemap-{Guid.NewGuid():N}");
        File.WriteAllText(other, "x");
        try
        {
            Assert.Null(WrittenPages.OpenIfSupported(other));
            Assert.DoesNotContain(other, Directory.EnumerateFileSystemEntries("/proc/self/fd").Select(Target));
        }
        finally
        {
            File.Delete(other);
        }
    }

    private static string? Target(string fd)
    {
        try
        {
            return new FileInfo(fd).LinkTarget;
        }
        catch (IOException)
        {
            return null; // closed while we looked
        }
    }

    [LinuxFact]
    public void A_failed_scan_reports_nothing_known()
    {
        nint start = _memory.BaseAddress;
        *(byte*)start = 1;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Scan ? 12 : 0;
        Assert.False(WrittenPages.TryScan(start, 8 * Page, 8, _regions, out int count, out nint end));
        Assert.Equal((0, start), (count, end));
        VirtualMemoryFaults.Hook = null;
        Assert.False(WrittenPages.TryScan(start + 1, Page, 8, _regions, out count, out end)); // the ioctl wants page alignment
        Assert.Equal((0, start + 1), (count, end));
    }
}
