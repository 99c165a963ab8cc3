using System.Runtime.CompilerServices;
using Allocator.Memory;
using Allocator.Tests.Stores;

namespace Allocator.Tests.Mutation;

/// <summary>A Store's own bookkeeping through its public members, checked against the pools' exact statistics: the
/// cached stack, IntoData refused while stacks are out, Dispose returning everything once, and argument checks.</summary>
public sealed class StoreLifecycleTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    [Fact]
    public void A_returned_stack_stays_cached_in_the_store_and_goes_out_again_without_a_pool_checkout()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 3, cache: true);
        using var store = new Store<int>(allocator, 1);
        StackToken a = store.CheckoutStack("a");
        StackToken b = store.CheckoutStack("b");
        (nint, nint) boundsA = store.GetStackBounds(a);
        store.ReturnStack(a); // cached
        store.ReturnStack(b); // the cache holds one: b goes to the pool
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal((1, 2L), (allocator.GetStackStatistics().InUse, allocator.GetStackStatistics().TotalCheckouts));

        StackToken c = store.CheckoutStack("c");
        Assert.Equal(boundsA, store.GetStackBounds(c));
        Assert.Equal((1, 2L), (allocator.GetStackStatistics().InUse, allocator.GetStackStatistics().TotalCheckouts));
        StackToken d = store.CheckoutStack("d"); // cache empty: from the pool
        Assert.Equal((2, 3L), (allocator.GetStackStatistics().InUse, allocator.GetStackStatistics().TotalCheckouts));
        Assert.Equal(2, store.StacksCheckedOut);
        store.ReturnStack(c);
        store.ReturnStack(d);
        Assert.Equal(1, store.IntoData());
        StackPoolStatistics end = allocator.GetStackStatistics();
        Assert.Equal(new StackPoolStatistics(3, 0, end.Peak, 3, 0, 0, end.ResidentBytes), end);
        // Peak counts stacks out of the shared list, parked ones included: b, parked on the core that returned it, is
        // not found by d's checkout if the thread moved to another core in between, and then counts too (seen once).
        Assert.InRange(end.Peak, 2, 3);
    }

    [Fact]
    public void Returning_a_raw_stack_is_not_a_deferred_return()
    {
        // Deferred returns count only stacks that waited for a host task to outlive a cancel.
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        using var store = new Store<int>(allocator, 1);
        store.ReturnStack(store.CheckoutStack("a"));
        Assert.True(store.TryReturnStack(store.CheckoutStack("b")));
        Assert.Equal(0, allocator.DeferredReturns);
    }

    [Fact]
    public void Without_the_cache_every_return_goes_to_the_pool()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        using var store = new Store<int>(allocator, 1);
        store.ReturnStack(store.CheckoutStack("a"));
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
        store.ReturnStack(store.CheckoutStack("b"));
        Assert.Equal((0, 2L), (allocator.GetStackStatistics().InUse, allocator.GetStackStatistics().TotalCheckouts));
    }

    [Fact]
    public void IntoData_is_refused_while_stacks_are_out_and_the_store_stays_usable()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 3, cache: true);
        var store = new Store<string>(allocator, "payload");
        StackToken a = store.CheckoutStack("first");
        StackToken b = store.CheckoutStack("second");
        SlotToken slot = store.CheckoutMemory();

        StacksCheckedOutException refused = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        Assert.Equal(["first", "second"], refused.Owners.Order());
        Assert.Equal(2, refused.Count);
        Assert.Equal("payload", store.Data);
        Assert.Equal(2, store.StacksCheckedOut);
        Assert.Equal(1, store.SlotsCheckedOut);
        Assert.Equal(16 * Page, store.GetAccessibleBytes(slot));

        store.ReturnStack(a);
        Assert.Equal(["second"], Assert.Throws<StacksCheckedOutException>(() => store.IntoData()).Owners);
        store.ReturnStack(b);
        Assert.Equal("payload", store.IntoData());
        Assert.Equal((0, 0), (store.StacksCheckedOut, store.SlotsCheckedOut));
        Assert.Equal(0, allocator.GetStackStatistics().InUse); // the cached stack went back too
        Assert.Equal(0, allocator.GetMemoryStatistics().InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
        Assert.Equal(0, allocator.GetMemoryStatistics().RefusedReturns);
        store.Dispose(); // after IntoData: nothing left to do
        Assert.Throws<InvalidOperationException>(() => store.Data);
    }

    [Fact]
    public void Dispose_returns_raw_stacks_the_cached_stack_and_every_slot_once()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 3, cache: true, slots: 3);
        var store = new Store<int>(allocator, 1);
        StackToken cached = store.CheckoutStack("cached");
        store.CheckoutStack("raw");
        store.ReturnStack(cached);
        store.CheckoutInstance();
        store.CheckoutInstance();
        store.CheckoutMemory();
        Assert.Equal(5, allocator.DescribeLiveCheckouts().Count); // the cached stack counts as out of its pool
        Assert.Equal((1, 3), (store.StacksCheckedOut, store.SlotsCheckedOut));

        store.Dispose();
        store.Dispose();

        Assert.Equal((0, 0), (store.StacksCheckedOut, store.SlotsCheckedOut));
        Assert.Empty(allocator.DescribeLiveCheckouts());
        Assert.Equal((0, 0L), (allocator.GetStackStatistics().InUse, allocator.GetStackStatistics().RefusedReturns));
        Assert.Equal((0, 0L), (allocator.GetInstanceStatistics().InUse, allocator.GetInstanceStatistics().RefusedReturns));
        Assert.Equal((0, 0L), (allocator.GetMemoryStatistics().InUse, allocator.GetMemoryStatistics().RefusedReturns));
        Assert.Equal(0, allocator.AbandonedStores);
        Assert.Throws<ObjectDisposedException>(() => store.Data);
    }

    [Fact]
    public void Live_checkouts_name_their_store_and_owner()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        using var store = new Store<int>(allocator, 1);
        StackToken stack = store.CheckoutStack("worker");
        SlotToken slot = store.CheckoutInstance();
        IReadOnlyList<string> live = allocator.DescribeLiveCheckouts();
        Assert.Equal(2, live.Count);
        Assert.Matches($"^stack \\d: Store {store.Id} \\('worker'\\)$", live[0]);
        Assert.Matches($"^instances slot \\d: Store {store.Id}$", live[1]);
        store.ReturnStack(stack);
        store.ReturnSlot(slot);
        Assert.Empty(allocator.DescribeLiveCheckouts());
    }

    [Fact]
    public void Store_ids_are_unique_and_carried_by_their_tokens()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        using var first = new Store<int>(allocator, 1);
        using var second = new Store<int>(allocator, 2);
        Assert.True(first.Id > 0);
        Assert.True(second.Id > first.Id);
        Assert.Same(allocator, first.Allocator);
        Assert.Equal(second.Id, second.CheckoutStack("x").StoreId);
        Assert.Equal(first.Id, first.CheckoutInstance().StoreId);
    }

    [Fact]
    public void Data_is_returned_by_reference()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        using var store = new Store<int>(allocator, 1);
        store.Data = 41;
        store.Data++;
        Assert.Equal(42, store.Data);
        Assert.Equal(42, store.IntoData());
    }

    [Fact]
    public void Arguments_are_checked_before_anything_is_checked_out()
    {
        Assert.Throws<ArgumentNullException>(() => new Store<int>(null!, 1));
        using PoolingAllocator allocator = TestAllocators.Small(slots: 2);
        using var store = new Store<int>(allocator, 1);
        Assert.Throws<ArgumentNullException>(() => store.CheckoutStack(null!));
        nuint memorySize = 16 * Page, instanceSize = 4 * Page;
        foreach (nuint bad in new[] { memorySize + Page, Page / 2, Page + 1, nuint.MaxValue })
        {
            ArgumentOutOfRangeException refused = Assert.Throws<ArgumentOutOfRangeException>(() => store.CheckoutMemory(accessibleBytes: bad));
            Assert.Equal("accessibleBytes", refused.ParamName);
            Assert.Contains($"Must be a page multiple no larger than the memories slot size ({memorySize})", refused.Message);
        }
        Assert.Equal("accessibleBytes", Assert.Throws<ArgumentOutOfRangeException>(() => store.CheckoutInstance(accessibleBytes: instanceSize + Page)).ParamName);
        Assert.Equal(0, store.SlotsCheckedOut);
        Assert.Equal(0, allocator.GetMemoryStatistics().TotalCheckouts);

        SlotToken whole = store.CheckoutMemory(accessibleBytes: memorySize);
        SlotToken none = store.CheckoutMemory(accessibleBytes: 0);
        Assert.Equal(memorySize, store.GetAccessibleBytes(whole));
        Assert.Equal(0u, store.GetAccessibleBytes(none));
        Assert.Equal(instanceSize, store.GetAccessibleBytes(store.CheckoutInstance()));
        Assert.Equal("accessibleBytes", Assert.Throws<ArgumentOutOfRangeException>(() => store.GrowMemory(none, memorySize + Page)).ParamName);
        Assert.Equal("accessibleBytes", Assert.Throws<ArgumentOutOfRangeException>(() => store.GrowMemory(none, Page + 1)).ParamName);
        Assert.Equal(-1, store.TryGrowMemory(none, memorySize + Page));
        Assert.Contains("Must be a page multiple.", Assert.Throws<ArgumentOutOfRangeException>(() => store.TryGrowMemory(none, Page + 1)).Message);
        Assert.Equal(0, store.TryGrowMemory(none, Page));
        store.GrowMemory(none, 2 * Page);
        Assert.Equal(2 * Page, store.GetAccessibleBytes(none));
        ArgumentOutOfRangeException negative = Assert.Throws<ArgumentOutOfRangeException>(() => store.GetSlotMemory(whole, 0, -1));
        Assert.Equal("length", negative.ParamName);
        Assert.Equal(-1, negative.ActualValue);
    }

    [Fact]
    public unsafe void Slot_memory_spans_cover_the_accessible_prefix_up_to_the_first_guard()
    {
        var options = TestAllocators.SmallOptions() with
        {
            Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = 16 * Page, GuardRanges = [new SlotGuardRange(6 * Page, Page)] },
        };
        using var allocator = new PoolingAllocator(options);
        using var store = new Store<int>(allocator, 1);
        SlotToken small = store.CheckoutMemory(accessibleBytes: 4 * Page);
        Span<byte> memory = store.GetSlotMemory(small);
        Assert.Equal(4 * (int)Page, memory.Length);
        Assert.Equal(store.GetSlotAddress(small), (nint)Unsafe.AsPointer(ref memory[0]));
        store.GrowMemory(small, 10 * Page);
        Assert.Equal(6 * (int)Page, store.GetSlotMemory(small).Length); // stops at the guard
        Span<byte> window = store.GetSlotMemory(small, 7 * Page, 3 * (int)Page);
        Assert.Equal(store.GetSlotAddress(small) + 7 * (nint)Page, (nint)Unsafe.AsPointer(ref window[0]));
        window.Fill(9);
        Assert.Throws<ArgumentOutOfRangeException>(() => store.GetSlotMemory(small, 5 * Page, 2 * (int)Page));
        Assert.Equal(0, store.GetSlotMemory(small, 10 * Page, 0).Length);
    }

    [Fact]
    public void An_image_may_end_exactly_where_an_interior_guard_starts_but_not_reach_into_it()
    {
        var options = TestAllocators.SmallOptions() with
        {
            Memories = new SlotPoolOptions { MaxSlots = 2, SlotSize = 16 * Page, GuardRanges = [new SlotGuardRange(4 * Page, Page)] },
        };
        using var allocator = new PoolingAllocator(options);
        using var store = new Store<int>(allocator, 1);
        byte[] fits = new byte[4 * Page];
        fits[^1] = 7;
        using MemoryImage upToGuard = MemoryImage.Create(fits);
        SlotToken slot = store.CheckoutMemoryFromImage(upToGuard, 8 * Page);
        Assert.Equal(7, store.GetSlotMemory(slot, 4 * Page - 1, 1)[0]);

        using MemoryImage intoGuard = MemoryImage.Create(new byte[4 * Page + 1]);
        ArgumentException overlaps = Assert.Throws<ArgumentException>(() => store.CheckoutMemoryFromImage(intoGuard, 8 * Page));
        Assert.Equal("image", overlaps.ParamName);
        Assert.Contains($"The image spans [0, {5 * Page}), which overlaps an interior guard range of the memories slots at {4 * Page}", overlaps.Message);

        ArgumentOutOfRangeException tooSmall = Assert.Throws<ArgumentOutOfRangeException>(() => store.CheckoutMemoryFromImage(upToGuard, 2 * Page));
        Assert.Equal("accessibleBytes", tooSmall.ParamName);
        Assert.Contains($"The image spans {4 * Page} bytes of memory; at least that many must be accessible.", tooSmall.Message);
        Assert.Equal(1, store.SlotsCheckedOut);
    }

    [Fact]
    public void A_prefix_of_two_gibibytes_or_more_is_refused_as_one_span_but_reachable_in_windows()
    {
        var options = TestAllocators.SmallOptions() with
        {
            Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = (nuint)(1UL << 31) },
        };
        using var allocator = new PoolingAllocator(options);
        using var store = new Store<int>(allocator, 1);
        SlotToken big = store.CheckoutMemory(accessibleBytes: (nuint)(1UL << 31));
        InvalidOperationException refused = Assert.Throws<InvalidOperationException>(() => store.GetSlotMemory(big));
        Assert.Contains($"The slot's first {1UL << 31} accessible bytes do not fit a span", refused.Message);
        Assert.Equal(1, store.GetSlotMemory(big, (nuint)(1UL << 31) - 1, 1).Length);
        store.ReturnSlot(big);
        SlotToken smaller = store.CheckoutMemory(accessibleBytes: (nuint)(1UL << 31) - Page);
        Assert.Equal(int.MaxValue - (int)Page + 1, store.GetSlotMemory(smaller).Length);
    }
}
