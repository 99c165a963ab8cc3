using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Images;

/// <summary>Resets that restore only the pages a tenant wrote (PAGEMAP_SCAN) within the kept-resident bytes, and
/// discard the rest: contents are exact on every path, and the <c>madvise</c> is skipped when the writes fit. Only
/// kept-resident sizes of <see cref="WrittenPages.WorthScanningBytes"/> and more scan; smaller ones zero in place.</summary>
[Collection(SerialCollection.Name)]
public sealed class WrittenPageResetTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    /// <summary>Kept-resident pages at which resets start to scan.</summary>
    private static readonly int ScanPages = (int)(WrittenPages.WorthScanningBytes / VirtualMemory.PageSize);
    private readonly List<VirtualMemoryOperation> _calls = new();

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    private static PoolingAllocator Allocator(nuint keepResident, int pages) => new(new PoolingAllocatorOptions
    {
        Stacks = new StackPoolOptions { MaxStacks = 1, StackSize = 8 * Page },
        Instances = new SlotPoolOptions { MaxSlots = 1, SlotSize = Page },
        Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = (nuint)pages * Page, MaxUnusedWarmSlots = 1, KeepResident = keepResident },
    });

    private void CountCalls(VirtualMemoryOperation? fail = null) => VirtualMemoryFaults.Hook = (operation, _) =>
    {
        lock (_calls)
        {
            _calls.Add(operation);
        }
        return operation == fail ? 12 : 0;
    };

    private static MemoryImage Image() => MemoryImage.Create([
        new MemoryImageSegment(100, Enumerable.Range(0, (int)Page * 2).Select(i => (byte)(i * 3 + 1)).ToArray()),
    ]);

    /// <summary>A memory of <paramref name="pages"/> pages, from <paramref name="image"/> or plain.</summary>
    private static SlotToken Checkout(Store<int> store, MemoryImage? image, int pages) => image is null
        ? store.CheckoutMemory(accessibleBytes: (nuint)pages * Page)
        : store.CheckoutMemoryFromImage(image, (nuint)pages * Page);

    private static byte[] Expected(MemoryImage? image, int length)
    {
        byte[] expected = new byte[length];
        if (image is not null)
        {
            for (int i = 0; i < (int)Page * 2; i++)
            {
                expected[100 + i] = (byte)(i * 3 + 1);
            }
        }
        return expected;
    }

    [LinuxFact]
    public void The_scan_is_available_on_kernels_that_have_it()
    {
        if (Environment.OSVersion.Version >= new Version(6, 7))
        {
            Assert.True(WrittenPages.IsSupported, "PAGEMAP_SCAN exists from Linux 6.7: the probe must find it");
        }
    }

    [LinuxTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Writes_within_the_kept_bytes_are_restored_without_a_discard(bool withImage)
    {
        int pages = 2 * ScanPages;
        using PoolingAllocator allocator = Allocator(keepResident: (nuint)ScanPages * Page, pages);
        using MemoryImage image = Image();
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = Checkout(store, withImage ? image : null, pages);
        Span<byte> memory = store.GetSlotMemory(slot);
        memory[5] = 0xFE;                              // inside the image's first page (or plain memory)
        memory[(int)Page + 7] = 0xFE;                  // the image's second page
        memory[(pages - 1) * (int)Page] = 0xFE;        // the last page, far past the kept bytes' offset
        _ = memory[10 * (int)Page];                    // a page only read
        CountCalls();
        store.ReturnSlot(slot);
        if (WrittenPages.IsSupported)
        {
            Assert.DoesNotContain(VirtualMemoryOperation.Discard, _calls);
        }
        VirtualMemoryFaults.Hook = null;
        slot = Checkout(store, withImage ? image : null, pages);
        Assert.True(store.GetSlotMemory(slot).SequenceEqual(Expected(withImage ? image : null, pages * (int)Page)));
    }

    [LinuxTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Writes_beyond_the_kept_bytes_are_discarded_and_the_contents_are_exact(bool withImage)
    {
        int pages = 2 * ScanPages;
        using PoolingAllocator allocator = Allocator(keepResident: (nuint)ScanPages * Page, pages);
        using MemoryImage image = Image();
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = Checkout(store, withImage ? image : null, pages);
        store.GetSlotMemory(slot).Fill(0xFE);
        CountCalls();
        store.ReturnSlot(slot);
        Assert.Contains(VirtualMemoryOperation.Discard, _calls);
        VirtualMemoryFaults.Hook = null;
        slot = Checkout(store, withImage ? image : null, pages);
        Assert.True(store.GetSlotMemory(slot).SequenceEqual(Expected(withImage ? image : null, pages * (int)Page)));
    }

    [LinuxTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void More_disjoint_written_runs_than_one_scan_reports_are_still_all_reset(bool withImage)
    {
        int pages = 2 * ScanPages;
        using PoolingAllocator allocator = Allocator(keepResident: (nuint)pages * Page, pages);
        using MemoryImage image = Image();
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = Checkout(store, withImage ? image : null, pages);
        Span<byte> memory = store.GetSlotMemory(slot);
        for (int page = 0; page < pages; page += 2)
        {
            memory[page * (int)Page + 1] = 0xFE; // many more runs than one scan returns
        }
        store.ReturnSlot(slot);
        slot = Checkout(store, withImage ? image : null, pages);
        Assert.True(store.GetSlotMemory(slot).SequenceEqual(Expected(withImage ? image : null, pages * (int)Page)));
    }

    [LinuxFact]
    public void A_failed_scan_falls_back_to_the_discard_and_loses_nothing()
    {
        int pages = 2 * ScanPages;
        using PoolingAllocator allocator = Allocator(keepResident: (nuint)ScanPages * Page, pages);
        using MemoryImage image = Image();
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemoryFromImage(image, (nuint)pages * Page);
        store.GetSlotMemory(slot)[..(4 * (int)Page)].Fill(0xFE);
        CountCalls(fail: VirtualMemoryOperation.Scan);
        store.ReturnSlot(slot);
        Assert.Contains(VirtualMemoryOperation.Scan, _calls);
        Assert.Contains(VirtualMemoryOperation.Discard, _calls);
        VirtualMemoryFaults.Hook = null;
        slot = store.CheckoutMemoryFromImage(image, (nuint)pages * Page);
        Assert.True(store.GetSlotMemory(slot).SequenceEqual(Expected(image, pages * (int)Page)));
    }

    [LinuxFact]
    public void Small_kept_sizes_zero_in_place_without_scanning()
    {
        using PoolingAllocator allocator = Allocator(keepResident: 4 * Page, pages: 16);
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        store.GetSlotMemory(slot).Fill(0xFE);
        CountCalls();
        store.ReturnSlot(slot);
        Assert.DoesNotContain(VirtualMemoryOperation.Scan, _calls);
        VirtualMemoryFaults.Hook = null;
        slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        Assert.True(store.GetSlotMemory(slot).IndexOfAnyExcept((byte)0) < 0);
    }
}
