using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Images;

/// <summary>Memory images (Wasmtime's MemoryImageSlot behaviours): contents, copy-on-write isolation, revert on
/// reset, switching images, lifetime of a disposed image, and soft growth. The content cases run on both paths: the
/// memfd mapped copy-on-write (Linux) and the copying path that Windows takes; cases about the memfd's lifetime, the
/// system calls made, or page protection (read through a Linux pipe probe) are Linux-only.</summary>
[Collection(SerialCollection.Name)]
public sealed class MemoryImageTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    private static PoolingAllocator Allocator(int memories = 1, int warm = 1, nuint keepResident = 0) => new(new PoolingAllocatorOptions
    {
        Stacks = new StackPoolOptions { MaxStacks = 1, StackSize = 8 * Page },
        Instances = new SlotPoolOptions { MaxSlots = 1, SlotSize = Page },
        Memories = new SlotPoolOptions { MaxSlots = memories, SlotSize = 16 * Page, GuardSize = 4 * Page, MaxUnusedWarmSlots = warm, KeepResident = keepResident },
    });

    /// <summary>Two pages and a bit of recognisable data, not page-aligned at either end.</summary>
    private static MemoryImage Image(byte seed, bool copyOnWrite)
    {
        byte[] data = new byte[(int)Page + 300];
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = (byte)(seed + i * 7);
        }
        return MemoryImage.Create([new MemoryImageSegment(Page / 2, data)], copyOnWrite);
    }

    private static void AssertHoldsImage(Span<byte> memory, byte seed)
    {
        int start = (int)Page / 2, length = (int)Page + 300;
        Assert.True(memory[..start].IndexOfAnyExcept((byte)0) < 0, "bytes before the image read as zeros");
        for (int i = 0; i < length; i++)
        {
            Assert.Equal((byte)(seed + i * 7), memory[start + i]);
        }
        Assert.True(memory[(start + length)..].IndexOfAnyExcept((byte)0) < 0, "bytes after the image read as zeros");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Image_contents_are_visible_and_writes_reach_neither_the_image_nor_another_slot(bool copyOnWrite)
    {
        using PoolingAllocator allocator = Allocator(memories: 2);
        using MemoryImage image = Image(3, copyOnWrite);
        Assert.Equal(copyOnWrite && OperatingSystem.IsLinux(), image.IsCopyOnWrite); // Windows always copies
        Assert.Equal(2 * Page, image.Size);
        using var store = new Store<int>(allocator, 0);
        SlotToken a = store.CheckoutMemoryFromImage(image, 4 * Page);
        SlotToken b = store.CheckoutMemoryFromImage(image, 4 * Page);
        AssertHoldsImage(store.GetSlotMemory(a), 3);
        store.GetSlotMemory(a).Fill(0xFE);
        AssertHoldsImage(store.GetSlotMemory(b), 3);
        store.ReturnSlot(b);
        SlotToken c = store.CheckoutMemoryFromImage(image, 4 * Page);
        AssertHoldsImage(store.GetSlotMemory(c), 3);
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(true, 1)]
    [InlineData(true, 8)]
    [InlineData(false, 0)]
    [InlineData(false, 8)]
    public void A_reset_reverts_the_slot_to_the_image(bool copyOnWrite, int keepResidentPages)
    {
        using PoolingAllocator allocator = Allocator(keepResident: (nuint)keepResidentPages * Page);
        using MemoryImage image = Image(9, copyOnWrite);
        using var store = new Store<int>(allocator, 0);
        SlotToken first = store.CheckoutMemoryFromImage(image, 8 * Page);
        store.GetSlotMemory(first).Fill(0xFE);
        store.ReturnSlot(first);
        SlotToken again = store.CheckoutMemoryFromImage(image, 8 * Page);
        AssertHoldsImage(store.GetSlotMemory(again), 9);
        Assert.Equal(1, allocator.GetMemoryStatistics().AffinityHits);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Switching_image_to_none_to_another_image_leaks_nothing(bool copyOnWrite)
    {
        using PoolingAllocator allocator = Allocator(memories: 1);
        using MemoryImage first = Image(1, copyOnWrite);
        using MemoryImage second = Image(101, copyOnWrite);
        using var store = new Store<int>(allocator, 0);

        SlotToken slot = store.CheckoutMemoryFromImage(first, 16 * Page);
        AssertHoldsImage(store.GetSlotMemory(slot), 1);
        store.GetSlotMemory(slot).Fill(0xFE);
        store.ReturnSlot(slot);

        slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        Assert.True(store.GetSlotMemory(slot).IndexOfAnyExcept((byte)0) < 0, "no byte of the image or its tenant shows");
        store.GetSlotMemory(slot).Fill(0xFE);
        store.ReturnSlot(slot);

        slot = store.CheckoutMemoryFromImage(second, 16 * Page);
        AssertHoldsImage(store.GetSlotMemory(slot), 101);
        store.GetSlotMemory(slot).Fill(0xFE);
        store.ReturnSlot(slot);

        slot = store.CheckoutMemoryFromImage(first, 16 * Page);
        AssertHoldsImage(store.GetSlotMemory(slot), 1);
    }

    [LinuxFact]
    public void A_disposed_image_lives_on_while_a_slot_uses_it_and_is_released_with_the_last_one()
    {
        using PoolingAllocator allocator = Allocator(memories: 2);
        MemoryImage image = Image(5, copyOnWrite: true);
        using var store = new Store<int>(allocator, 0);
        SlotToken a = store.CheckoutMemoryFromImage(image, 4 * Page);
        SlotToken b = store.CheckoutMemoryFromImage(image, 4 * Page);
        image.Dispose();
        Assert.Throws<ObjectDisposedException>(() => store.CheckoutMemoryFromImage(image, 4 * Page));
        AssertHoldsImage(store.GetSlotMemory(a), 5);
        store.ReturnSlot(a);
        Assert.False(image.IsReleased, "slot b still maps it");
        AssertHoldsImage(store.GetSlotMemory(b), 5);
        store.ReturnSlot(b);
        Assert.True(image.IsReleased, "the memfd is closed once no slot maps it");
        Assert.Equal(0, allocator.GetMemoryStatistics().WarmFree);
        SlotToken fresh = store.CheckoutMemory(accessibleBytes: 4 * Page);
        Assert.True(store.GetSlotMemory(fresh).IndexOfAnyExcept((byte)0) < 0);
    }

    [LinuxFact]
    public void Disposing_an_image_purges_the_free_slots_that_kept_it()
    {
        using PoolingAllocator allocator = Allocator(memories: 2, warm: 2);
        MemoryImage image = Image(7, copyOnWrite: true);
        using var store = new Store<int>(allocator, 0);
        SlotToken a = store.CheckoutMemoryFromImage(image, 4 * Page);
        SlotToken b = store.CheckoutMemoryFromImage(image, 4 * Page);
        store.ReturnSlot(a);
        store.ReturnSlot(b);
        Assert.Equal(2, allocator.GetMemoryStatistics().WarmFree);
        Assert.False(image.IsReleased);
        image.Dispose();
        Assert.True(image.IsReleased);
        Assert.Equal(0, allocator.GetMemoryStatistics().WarmFree);
        SlotToken c = store.CheckoutMemory(accessibleBytes: 4 * Page);
        SlotToken d = store.CheckoutMemory(accessibleBytes: 4 * Page);
        Assert.True(store.GetSlotMemory(c).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(store.GetSlotMemory(d).IndexOfAnyExcept((byte)0) < 0);
    }

    [LinuxFact]
    public void A_slot_pushed_out_of_the_warm_list_drops_its_image()
    {
        using PoolingAllocator allocator = Allocator(memories: 2, warm: 1);
        MemoryImage image = Image(11, copyOnWrite: true);
        using MemoryImage other = Image(12, copyOnWrite: true);
        using var store = new Store<int>(allocator, 0);
        SlotToken a = store.CheckoutMemoryFromImage(image, 4 * Page);
        SlotToken b = store.CheckoutMemoryFromImage(other, 4 * Page);
        store.ReturnSlot(a);
        store.ReturnSlot(b); // one warm slot at most: a's slot goes cold and drops the image
        image.Dispose();
        Assert.True(image.IsReleased, "no free slot maps it any more");
    }

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void Growth_past_the_image_reads_zeros_even_where_an_earlier_tenant_wrote(bool copyOnWrite)
    {
        using PoolingAllocator allocator = Allocator(memories: 1);
        using MemoryImage image = Image(21, copyOnWrite);
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        store.GetSlotMemory(slot).Fill(0xFE);
        store.ReturnSlot(slot);
        slot = store.CheckoutMemoryFromImage(image, 2 * Page);
        Assert.False(MemoryProbe.IsReadable(store.GetSlotAddress(slot) + (nint)(2 * Page)), "beyond the tenant's size is inaccessible");
        Assert.Equal(2L * (long)Page, store.TryGrowMemory(slot, 8 * Page));
        Span<byte> memory = store.GetSlotMemory(slot);
        Assert.Equal(8 * (int)Page, memory.Length);
        AssertHoldsImage(memory, 21);
    }

    [LinuxFact]
    public void Soft_growth_returns_minus_one_at_the_limit_and_changes_nothing()
    {
        using PoolingAllocator allocator = Allocator(memories: 1);
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemory(accessibleBytes: Page);
        Assert.Equal((long)Page, store.TryGrowMemory(slot, 16 * Page));
        Assert.Equal(16 * Page, store.GetAccessibleBytes(slot));
        Assert.Equal((long)(16 * Page), store.TryGrowMemory(slot, 16 * Page));
        Assert.Equal(-1, store.TryGrowMemory(slot, 17 * Page));
        Assert.Equal(-1, store.TryGrowMemory(slot, nuint.MaxValue & ~(Page - 1)));
        Assert.Equal(16 * Page, store.GetAccessibleBytes(slot));
        Assert.False(MemoryProbe.IsReadable(store.GetSlotAddress(slot) + (nint)(16 * Page)), "the guard after the slot stays");
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GrowMemory(slot, 17 * Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.TryGrowMemory(slot, Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.TryGrowMemory(slot, 16 * Page + 1));
    }

    [LinuxFact]
    public void Reusing_a_slot_with_the_same_image_costs_one_madvise_and_no_other_call()
    {
        using PoolingAllocator allocator = Allocator(memories: 1);
        using MemoryImage image = Image(31, copyOnWrite: true);
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemoryFromImage(image, 4 * Page);
        var calls = new List<VirtualMemoryOperation>();
        VirtualMemoryFaults.Hook = (operation, _) =>
        {
            lock (calls)
            {
                calls.Add(operation);
            }
            return 0;
        };
        store.ReturnSlot(slot);
        Assert.Equal([VirtualMemoryOperation.Discard], calls);
        calls.Clear();
        slot = store.CheckoutMemoryFromImage(image, 4 * Page);
        Assert.Empty(calls);
        VirtualMemoryFaults.Hook = null;
        AssertHoldsImage(store.GetSlotMemory(slot), 31);
    }

    [LinuxFact]
    public void Reusing_a_slot_at_another_size_changes_protection_only_for_the_difference()
    {
        using PoolingAllocator allocator = Allocator(memories: 1);
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        store.GetSlotMemory(slot).Fill(0xFE);
        store.ReturnSlot(slot);
        slot = store.CheckoutMemory(accessibleBytes: 4 * Page);
        nint address = store.GetSlotAddress(slot);
        Assert.True(store.GetSlotMemory(slot).IndexOfAnyExcept((byte)0) < 0);
        Assert.False(MemoryProbe.IsReadable(address + (nint)(4 * Page)), "beyond the new tenant's size is inaccessible");
        Assert.False(MemoryProbe.IsReadable(address + (nint)(15 * Page)));
        store.ReturnSlot(slot);
        slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        Assert.True(store.GetSlotMemory(slot).IndexOfAnyExcept((byte)0) < 0, "bytes a former tenant wrote read as zeros");
    }

    [Fact]
    public void A_sparse_image_keeps_each_segment_and_zeros_between_them()
    {
        using PoolingAllocator allocator = Allocator(memories: 1);
        using MemoryImage image = MemoryImage.Create([
            new MemoryImageSegment(10 * Page + 5, new byte[] { 1, 2, 3 }),
            new MemoryImageSegment(100, new byte[] { 9, 9 }),
            new MemoryImageSegment(101, new byte[] { 8 }), // overlaps: the later segment wins
        ]);
        Assert.Equal(11 * Page, image.Size);
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemoryFromImage(image, 12 * Page);
        Span<byte> memory = store.GetSlotMemory(slot);
        byte[] expected = new byte[memory.Length];
        expected[100] = 9;
        expected[101] = 8;
        expected[10 * (int)Page + 5] = 1;
        expected[10 * (int)Page + 6] = 2;
        expected[10 * (int)Page + 7] = 3;
        Assert.True(memory.SequenceEqual(expected));
    }

    [Fact]
    public void Bad_image_checkouts_are_refused_with_typed_errors_and_take_no_slot()
    {
        using PoolingAllocator allocator = new(new PoolingAllocatorOptions
        {
            Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = 16 * Page, GuardRanges = [new SlotGuardRange(4 * Page, Page)] },
        });
        using MemoryImage image = Image(1, copyOnWrite: true);
        using MemoryImage overGuard = MemoryImage.Create([new MemoryImageSegment(4 * Page, new byte[] { 1 })]);
        using var store = new Store<int>(allocator, 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => store.CheckoutMemoryFromImage(image, Page));
        Assert.Throws<ArgumentException>(() => store.CheckoutMemoryFromImage(overGuard, 8 * Page));
        Assert.Throws<ArgumentNullException>(() => store.CheckoutMemoryFromImage(null!, 8 * Page));
        Assert.Throws<ArgumentOutOfRangeException>(() => MemoryImage.Create([new MemoryImageSegment(nuint.MaxValue - 1, new byte[] { 1, 2, 3 })]));
        Assert.Equal(0, allocator.GetMemoryStatistics().InUse);
        Assert.Equal(0, allocator.GetMemoryStatistics().TotalCheckouts);
    }

    [LinuxFact]
    public void A_failed_image_mapping_is_typed_and_gives_the_slot_back_clean()
    {
        using PoolingAllocator allocator = Allocator(memories: 1);
        using MemoryImage image = Image(41, copyOnWrite: true);
        using var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        store.GetSlotMemory(slot).Fill(0xFE);
        store.ReturnSlot(slot);
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Map ? 12 : 0;
        VirtualMemoryException failure = Assert.Throws<VirtualMemoryException>(() => store.CheckoutMemoryFromImage(image, 4 * Page));
        Assert.Equal(12, failure.ErrorCode);
        Assert.Equal(0, allocator.GetMemoryStatistics().InUse);
        Assert.Equal(0, store.SlotsCheckedOut);
        VirtualMemoryFaults.Hook = null;
        slot = store.CheckoutMemoryFromImage(image, 4 * Page);
        AssertHoldsImage(store.GetSlotMemory(slot), 41);
        store.ReturnSlot(slot);
        slot = store.CheckoutMemory(accessibleBytes: 16 * Page);
        Assert.True(store.GetSlotMemory(slot).IndexOfAnyExcept((byte)0) < 0);
    }

    [Fact]
    public async Task Two_threads_with_mixed_images_never_see_another_tenants_bytes()
    {
        using PoolingAllocator allocator = Allocator(memories: 3, warm: 2);
        using MemoryImage first = Image(50, copyOnWrite: true);
        using MemoryImage second = Image(150, copyOnWrite: true);
        using MemoryImage copied = Image(200, copyOnWrite: false);
        MemoryImage?[] choices = [first, second, copied, null];
        byte[] seeds = [50, 150, 200, 0];
        var deadline = DateTime.UtcNow.AddSeconds(2);
        int rounds = 0;
        void Worker(int seed)
        {
            var random = new Random(seed);
            using var store = new Store<int>(allocator, seed);
            while (DateTime.UtcNow < deadline)
            {
                int pick = random.Next(choices.Length);
                nuint size = (nuint)random.Next(2, 17) * Page;
                SlotToken slot = choices[pick] is { } image ? store.CheckoutMemoryFromImage(image, size) : store.CheckoutMemory(accessibleBytes: size);
                Span<byte> memory = store.GetSlotMemory(slot);
                if (choices[pick] is null)
                {
                    Assert.True(memory.IndexOfAnyExcept((byte)0) < 0);
                }
                else
                {
                    AssertHoldsImage(memory, seeds[pick]);
                }
                memory.Fill(0xFE);
                store.ReturnSlot(slot);
                Interlocked.Increment(ref rounds);
            }
        }
        Task[] workers = [Task.Factory.StartNew(() => Worker(1), TaskCreationOptions.LongRunning), Task.Factory.StartNew(() => Worker(2), TaskCreationOptions.LongRunning)];
        await Task.WhenAll(workers);
        Assert.True(rounds > 100, $"only {rounds} rounds ran");
        Assert.Equal(0, allocator.GetMemoryStatistics().InUse);
    }

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_image_and_its_allocator_may_be_disposed_in_either_order(bool allocatorFirst)
    {
        // Found by the peer benchmark: disposing the allocator first left warm entries for the image, and the
        // image's purge then dropped a mapping that the released reservation had already taken.
        PoolingAllocator allocator = Allocator(memories: 2, warm: 2);
        MemoryImage image = Image(61, copyOnWrite: true);
        var store = new Store<int>(allocator, 0);
        store.ReturnSlot(store.CheckoutMemoryFromImage(image, 4 * Page));
        store.Dispose();
        if (allocatorFirst)
        {
            allocator.Dispose();
            Assert.False(image.IsReleased, "not disposed yet");
            image.Dispose();
        }
        else
        {
            image.Dispose();
            allocator.Dispose();
        }
        Assert.True(image.IsReleased);
        Assert.True(allocator.Memories.IsReleased);
    }
}
