using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Ownership;

/// <summary>Regression tests for the pool defects of the airtight-ownership work; each failed before its fix.</summary>
[Collection(SerialCollection.Name)]
public sealed class PoolDefectTests
{
    private static nuint Page => VirtualMemory.PageSize;

    [Fact]
    public async Task A_checkout_waiting_on_a_slow_batched_reset_never_gets_memory_of_a_pool_disposed_meanwhile()
    {
        var options = new SlotPoolOptions { MaxSlots = 2, SlotSize = 4 * Page, DecommitBatchSize = 2 };
        options.Validate();
        var pool = new SlotPool(SlotKind.Memory, options);
        PooledSlot a = pool.Rent(1, null, 4 * Page);
        PooledSlot b = pool.Rent(1, null, 4 * Page);
        using var resetStarted = new ManualResetEventSlim();
        using var releaseReset = new ManualResetEventSlim();
        VirtualMemoryFaults.Hook = (operation, _) =>
        {
            if (operation == VirtualMemoryOperation.Discard)
            {
                resetStarted.Set();
                releaseReset.Wait(TimeSpan.FromSeconds(10));
            }
            return 0;
        };
        try
        {
            Assert.Null(pool.Return(a));
            Task returning = Task.Run(() => pool.Return(b)); // fills the batch: resets both, slowly
            Assert.True(resetStarted.Wait(TimeSpan.FromSeconds(10)));
            Task<PooledSlot> waiting = Task.Run(() => pool.Rent(2, null, 4 * Page)); // waits for the reset in flight
            Thread.Sleep(100);
            pool.Dispose();
            releaseReset.Set();
            await returning.WaitAsync(TimeSpan.FromSeconds(10));
            await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            VirtualMemoryFaults.Hook = null;
            releaseReset.Set();
        }
        Assert.Equal(0, pool.InUse);
        Assert.True(pool.IsReleased);
    }

    [Fact]
    public void Resident_bytes_of_the_largest_accepted_slot_are_counted_in_chunks_without_touching_the_heap()
    {
        var options = new SlotPoolOptions { MaxSlots = 1, SlotSize = nuint.CreateChecked(OptionRules.MaxRegionBytes) };
        options.Validate();
        using var pool = new SlotPool(SlotKind.Memory, options);
        PooledSlot slot = pool.Rent(1, null, Page * 4);
        unsafe
        {
            *(byte*)slot.BaseAddress = 1;
        }
        SlotPoolStatistics statistics = pool.GetStatistics();
        Assert.InRange(statistics.ResidentBytes, (ulong)Page, (ulong)(4 * Page));
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        Assert.Null(pool.Return(slot));
    }

    [Fact]
    public void A_size_above_the_bound_is_refused_at_validation()
    {
        var stacks = new StackPoolOptions { StackSize = nuint.CreateChecked(OptionRules.MaxRegionBytes) + Page };
        Assert.Equal("StackPoolOptions.StackSize", Assert.Throws<PoolConfigurationException>(stacks.Validate).Field);
        var slots = new SlotPoolOptions { SlotSize = nuint.CreateChecked(OptionRules.MaxRegionBytes) + Page };
        Assert.Equal("SlotPoolOptions(slots).SlotSize", Assert.Throws<PoolConfigurationException>(() => slots.Validate()).Field);
    }

    [Fact]
    public async Task Concurrent_grows_of_one_slot_record_exactly_what_became_read_write()
    {
        using PoolingAllocator allocator = new(new PoolingAllocatorOptions
        {
            Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = 4 * 1024 * 1024, GuardSize = Page },
        });
        for (int round = 0; round < 200; round++)
        {
            var store = new Store<int>(allocator, 0);
            SlotToken memory = store.CheckoutMemory(accessibleBytes: 16 * Page);
            using var start = new Barrier(2);
            void Grow(nuint size)
            {
                start.SignalAndWait();
                try
                {
                    store.GrowMemory(memory, size);
                }
                catch (ArgumentOutOfRangeException)
                {
                    // The smaller grow lost the race: the slot cannot shrink.
                }
            }
            Task large = Task.Run(() => Grow(4 * 1024 * 1024));
            Task small = Task.Run(() => Grow(32 * Page));
            await Task.WhenAll(large, small);
            Assert.Equal((nuint)(4 * 1024 * 1024), store.GetAccessibleBytes(memory));
            store.GetSlotMemory(memory).Fill(0xAB);
            store.Dispose();
            // The next tenant sees only zeros, wherever the last one wrote.
            var next = new Store<int>(allocator, 0);
            SlotToken again = next.CheckoutMemory();
            Assert.Equal(-1, next.GetSlotMemory(again).IndexOfAnyExcept((byte)0));
            next.Dispose();
        }
    }

    [Fact]
    public void A_stale_checkout_stays_refused_after_the_generation_passes_two_to_the_thirty_two()
    {
        var options = new StackPoolOptions { MaxStacks = 1, StackSize = 64 * 1024 };
        options.Validate();
        using var pool = new StackPool(options);
        PooledStack first = pool.Rent(1, "first");
        Assert.Equal(1UL, first.Generation);
        Assert.Null(pool.Return(first));
        long before = pool.TotalCheckouts;
        pool.SetStateForTest(0, uint.MaxValue - 1UL);
        PooledStack below = pool.Rent(1, "below");
        Assert.Null(pool.Return(below));
        PooledStack above = pool.Rent(1, "above");
        Assert.Equal((ulong)uint.MaxValue + 2, above.Generation);
        Assert.Equal(InvalidTokenReason.Stale, pool.Return(first));
        Assert.True(pool.IsCheckedOut(above));
        Assert.True(pool.TotalCheckouts > before);
        Assert.Null(pool.Return(above));
    }

    [Fact]
    public void A_disposed_pool_with_resets_still_batched_unmaps_its_memory()
    {
        var options = new SlotPoolOptions { MaxSlots = 4, SlotSize = 4 * Page, DecommitBatchSize = 4 };
        options.Validate();
        var pool = new SlotPool(SlotKind.Instance, options);
        Assert.Null(pool.Return(pool.Rent(1, null, 4 * Page)));
        Assert.Equal(1, pool.GetStatistics().PendingReset);
        pool.Dispose();
        Assert.True(pool.IsReleased);
    }

    [Fact]
    public void Slot_memory_covers_only_read_write_bytes_and_stops_at_interior_guards()
    {
        using PoolingAllocator allocator = new(new PoolingAllocatorOptions
        {
            Instances = new SlotPoolOptions { MaxSlots = 1, SlotSize = 4 * Page, GuardRanges = [new SlotGuardRange(Page, Page)] },
        });
        var store = new Store<int>(allocator, 0);
        SlotToken slot = store.CheckoutInstance();
        Span<byte> head = store.GetSlotMemory(slot);
        Assert.Equal((int)Page, head.Length);
        head.Fill(1); // would fault if it reached the guard
        Span<byte> tail = store.GetSlotMemory(slot, 2 * Page, (int)(2 * Page));
        tail.Fill(2);
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GetSlotMemory(slot, 0, (int)(2 * Page)));
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GetSlotMemory(slot, 3 * Page, (int)(2 * Page)));
        store.Dispose();
    }

    [Fact]
    public void A_four_gibibyte_memory_is_reachable_through_the_api()
    {
        const ulong FourGiB = 4UL << 30;
        using PoolingAllocator allocator = new(new PoolingAllocatorOptions
        {
            Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = nuint.CreateChecked(FourGiB), GuardSize = Page },
        });
        var store = new Store<int>(allocator, 0);
        SlotToken memory = store.CheckoutMemory();
        Assert.Equal(nuint.CreateChecked(FourGiB), store.GetAccessibleBytes(memory));
        Span<byte> high = store.GetSlotMemory(memory, nuint.CreateChecked(FourGiB) - Page, (int)Page);
        high[^1] = 42;
        Assert.Equal(42, store.GetSlotMemory(memory, nuint.CreateChecked(FourGiB) - 1, 1)[0]);
        Assert.Throws<InvalidOperationException>(() => store.GetSlotMemory(memory));
        store.Dispose();
    }

    [Fact]
    public async Task Statistics_racing_dispose_and_the_last_return_never_throw()
    {
        for (int round = 0; round < 300; round++)
        {
            PoolingAllocator allocator = OwnershipPools.Allocator();
            var store = new Store<int>(allocator, 0);
            StackToken stack = store.CheckoutStack("raced");
            SlotToken slot = store.CheckoutMemory();
            using var start = new Barrier(3);
            Task reading = Task.Run(() =>
            {
                start.SignalAndWait();
                for (int i = 0; i < 20; i++)
                {
                    _ = allocator.GetStackStatistics();
                    _ = allocator.GetMemoryStatistics();
                }
            });
            Task disposing = Task.Run(() =>
            {
                start.SignalAndWait();
                allocator.Dispose();
            });
            start.SignalAndWait();
            store.ReturnStack(stack);
            store.ReturnSlot(slot);
            await Task.WhenAll(reading, disposing);
            Assert.True(allocator.Stacks.IsReleased);
            Assert.True(allocator.Memories.IsReleased);
        }
    }

    [Fact]
    public void A_forged_negative_slot_index_is_refused_not_thrown()
    {
        var stackOptions = new StackPoolOptions { MaxStacks = 2, StackSize = 64 * 1024 };
        stackOptions.Validate();
        using var stacks = new StackPool(stackOptions);
        PooledStack stack = stacks.Rent(1, null);
        Assert.Equal(InvalidTokenReason.Unknown, stacks.Return(stack with { Index = -1 }));
        Assert.Null(stacks.Return(stack));
        var slotOptions = new SlotPoolOptions { MaxSlots = 2, SlotSize = Page };
        slotOptions.Validate();
        using var slots = new SlotPool(SlotKind.Instance, slotOptions);
        PooledSlot slot = slots.Rent(1, null, Page);
        Assert.Equal(InvalidTokenReason.Unknown, slots.Return(slot with { Index = -1 }));
        Assert.Null(slots.Return(slot));
    }

    [Fact]
    public void One_pool_alone_larger_than_an_allocator_may_reserve_is_refused_by_its_own_validation()
    {
        var stacks = new StackPoolOptions { MaxStacks = 1 << 20, StackSize = 1 << 30 };
        Assert.Equal("StackPoolOptions.MaxStacks", Assert.Throws<PoolConfigurationException>(stacks.Validate).Field);
        var slots = new SlotPoolOptions { MaxSlots = 1 << 20, SlotSize = 1 << 30 };
        Assert.Equal("SlotPoolOptions(slots).MaxSlots", Assert.Throws<PoolConfigurationException>(() => slots.Validate()).Field);
    }
}
