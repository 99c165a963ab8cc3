using System.Runtime.CompilerServices;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>Images and pools disposed while a slot is between its reset and its free: the memory call of the reset
/// (seen through the fault hook, on the same thread) is where the image or the pool is disposed, a deterministic stand-in
/// for another thread doing it at that moment. Also the image's file references across failed checkouts.</summary>
[Collection(SerialCollection.Name)]
public sealed unsafe class SlotPoolImageLifetimeTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    private static SlotPool Pool(int slots, int warm) => TestPools.Slots(SlotKind.Memory, new SlotPoolOptions
    {
        MaxSlots = slots,
        SlotSize = 16 * Page,
        GuardSize = 4 * Page,
        MaxUnusedWarmSlots = warm,
    });

    private static MemoryImage Image() => MemoryImage.Create([new MemoryImageSegment(Page + 10, new byte[] { 7, 8, 9 })]);

    /// <summary>Runs <paramref name="action"/> once, at the first call of <paramref name="operation"/> made by this
    /// thread, and records every operation of this thread.</summary>
    private static List<VirtualMemoryOperation> AtFirst(VirtualMemoryOperation operation, Action action)
    {
        var calls = new List<VirtualMemoryOperation>();
        int thread = Environment.CurrentManagedThreadId;
        bool done = false;
        VirtualMemoryFaults.Hook = (op, _) =>
        {
            if (Environment.CurrentManagedThreadId == thread && op != VirtualMemoryOperation.Residency)
            {
                calls.Add(op);
                if (op == operation && !done)
                {
                    done = true;
                    action();
                }
            }
            return 0;
        };
        return calls;
    }

    [LinuxFact]
    public void An_image_disposed_during_the_reset_is_dropped_before_the_slot_is_free()
    {
        using SlotPool pool = Pool(slots: 2, warm: 2);
        MemoryImage image = Image();
        PooledSlot mapped = pool.Rent(TestPools.StoreId, null, 4 * Page, image);
        PooledSlot other = pool.Rent(TestPools.StoreId, null, 4 * Page);
        Memory(mapped).Fill(0xFE);
        List<VirtualMemoryOperation> calls = AtFirst(VirtualMemoryOperation.Discard, image.Dispose);
        pool.ReturnAccepted(mapped);
        VirtualMemoryFaults.Hook = null;
        Assert.Equal([VirtualMemoryOperation.Discard, VirtualMemoryOperation.Map], calls);
        Assert.True(image.IsReleased, "no slot maps the disposed image");
        SlotPoolStatistics stats = pool.GetStatistics();
        Assert.Equal((1, 0), (stats.InUse, stats.WarmFree));

        PooledSlot next = pool.Rent(TestPools.StoreId, null, 4 * Page);
        Assert.Equal(mapped.Index, next.Index);
        Assert.True(Memory(next).IndexOfAnyExcept((byte)0) < 0, "no byte of the image or its tenant shows");
        Assert.Throws<PoolExhaustedException>(() => pool.Rent(TestPools.StoreId, null, 4 * Page)); // freed once, not twice
        pool.ReturnAccepted(next);
        pool.ReturnAccepted(other);
    }

    [Fact]
    public void A_pool_disposed_during_a_reset_keeps_no_warm_slot()
    {
        SlotPool pool = Pool(slots: 2, warm: 2);
        PooledSlot keyed = pool.Rent(TestPools.StoreId, "a", 4 * Page);
        PooledSlot other = pool.Rent(TestPools.StoreId, null, 4 * Page);
        AtFirst(VirtualMemoryOperation.Discard, pool.Dispose);
        pool.ReturnAccepted(keyed);
        VirtualMemoryFaults.Hook = null;
        Assert.Equal((1, 0), (pool.GetStatistics().InUse, pool.GetStatistics().WarmFree));
        Assert.False(pool.IsReleased);
        pool.ReturnAccepted(other);
        Assert.True(pool.IsReleased);
    }

    [LinuxFact]
    public void A_pool_disposed_while_a_forgotten_slot_drops_its_image_is_released_once_that_slot_is_free()
    {
        SlotPool pool = Pool(slots: 2, warm: 1);
        using MemoryImage image = Image();
        PooledSlot mapped = pool.Rent(TestPools.StoreId, null, 4 * Page, image);
        pool.ReturnAccepted(mapped); // warm for the image
        PooledSlot keyed = pool.Rent(TestPools.StoreId, "b", 4 * Page);
        Assert.NotEqual(mapped.Index, keyed.Index);
        List<VirtualMemoryOperation> calls = AtFirst(VirtualMemoryOperation.Map, pool.Dispose);
        pool.ReturnAccepted(keyed); // "b" pushes the image's slot out of the warm list: it drops the image
        VirtualMemoryFaults.Hook = null;
        Assert.Equal([VirtualMemoryOperation.Discard, VirtualMemoryOperation.Map], calls);
        Assert.True(pool.IsReleased, "every slot is free in a disposed pool");
    }

    [LinuxFact]
    public void A_pool_disposed_while_an_image_purges_it_is_released_once_the_purged_slot_is_free()
    {
        SlotPool pool = Pool(slots: 1, warm: 1);
        MemoryImage image = Image();
        PooledSlot mapped = pool.Rent(TestPools.StoreId, null, 4 * Page, image);
        pool.ReturnAccepted(mapped); // warm for the image
        List<VirtualMemoryOperation> calls = AtFirst(VirtualMemoryOperation.Map, pool.Dispose);
        image.Dispose(); // purges the warm slot: drops the mapping, and the pool is disposed meanwhile
        VirtualMemoryFaults.Hook = null;
        Assert.Equal([VirtualMemoryOperation.Map], calls);
        Assert.True(pool.IsReleased, "the purged slot was the last one out of the free lists");
        Assert.True(image.IsReleased);
    }

    [LinuxFact]
    public void A_failed_mapping_gives_back_the_reference_it_took_on_the_image()
    {
        using SlotPool pool = Pool(slots: 1, warm: 1);
        MemoryImage image = Image();
        bool failed = false;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Map && !failed && (failed = true) ? 12 : 0;
        Assert.Throws<VirtualMemoryException>(() => pool.Rent(TestPools.StoreId, null, 4 * Page, image));
        VirtualMemoryFaults.Hook = null;
        Assert.Equal(0, pool.InUse);
        image.Dispose();
        Assert.True(image.IsReleased, "nothing maps the image and no reference is left over");
    }

    [Fact]
    public void A_disposed_pool_refuses_a_checkout_without_taking_a_slot()
    {
        // The check and the checkout are one entry of the pool's lock, which Dispose takes to set its flag.
        SlotPool pool = Pool(slots: 2, warm: 1);
        PooledSlot first = pool.Rent(TestPools.StoreId, null, 4 * Page);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent(TestPools.StoreId, "a", 4 * Page));
        SlotPoolStatistics stats = pool.GetStatistics();
        Assert.Equal((1, 1L, 0), (stats.InUse, stats.TotalCheckouts, stats.WarmFree));
        Assert.False(pool.IsReleased);
        pool.ReturnAccepted(first);
        Assert.True(pool.IsReleased, "every slot is free once the one checkout is back");
    }

    /// <summary>A disposed image that another pool's slot still maps can still take a file reference, but a pool
    /// that never registered with it may not register any more: the checkout is refused, gives the reference back
    /// and leaves the slot to be reset.</summary>
    [LinuxFact]
    public void A_pool_that_never_used_an_image_cannot_start_mapping_it_once_it_is_disposed()
    {
        using SlotPool first = Pool(slots: 1, warm: 1);
        using SlotPool second = Pool(slots: 1, warm: 1);
        MemoryImage image = Image();
        PooledSlot mapped = first.Rent(TestPools.StoreId, null, 4 * Page, image);
        image.Dispose();
        Assert.Throws<ObjectDisposedException>(() => second.Rent(TestPools.StoreId, null, 4 * Page, image));
        Assert.Equal(0, second.InUse);
        Assert.False(image.IsReleased, "the first pool's slot still maps it");
        first.ReturnAccepted(mapped);
        Assert.True(image.IsReleased, "the refused checkout kept no reference");
        PooledSlot plain = second.Rent(TestPools.StoreId, null, 4 * Page);
        Assert.True(Memory(plain).IndexOfAnyExcept((byte)0) < 0);
    }

    /// <summary>A released pool lets go of the images it registered with, and they of it: a long-lived image does not
    /// keep a disposed pool alive, nor a pool that is kept around an image nobody uses any more.</summary>
    [LinuxFact]
    public void A_released_pool_and_the_images_it_mapped_do_not_keep_each_other_alive()
    {
        using MemoryImage image = Image();
        WeakReference pool = UseAndReleasePool(image);
        Collect();
        Assert.False(pool.IsAlive, "the image keeps no released pool alive");

        SlotPool kept = Pool(slots: 1, warm: 1);
        WeakReference disposedImage = UseDisposeImageAndReleasePool(kept);
        Collect();
        Assert.False(disposedImage.IsAlive, "the released pool keeps no image alive");
        GC.KeepAlive(kept);
    }

    private static void Collect()
    {
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference UseAndReleasePool(MemoryImage image)
    {
        SlotPool pool = Pool(slots: 1, warm: 1);
        pool.ReturnAccepted(pool.Rent(TestPools.StoreId, null, 4 * Page, image)); // warm for the image
        pool.Dispose();
        Assert.True(pool.IsReleased);
        return new WeakReference(pool);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference UseDisposeImageAndReleasePool(SlotPool pool)
    {
        MemoryImage image = Image();
        pool.ReturnAccepted(pool.Rent(TestPools.StoreId, null, 4 * Page, image));
        image.Dispose(); // purges the warm slot
        pool.Dispose();
        Assert.True(pool.IsReleased);
        return new WeakReference(image);
    }

    private static Span<byte> Memory(PooledSlot slot) => new((void*)slot.BaseAddress, 4 * (int)Page);
}
