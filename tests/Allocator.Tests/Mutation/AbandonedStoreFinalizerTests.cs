using System.Runtime.CompilerServices;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The finalizer path of a Store nobody ended, forced with <c>GC.Collect</c> and
/// <c>WaitForPendingFinalizers</c> while the test controls what is reachable: every stack and slot comes back exactly
/// once (no refusal counted), the Store is counted once, and a reachable Store is never finalized.</summary>
[Collection(SerialCollection.Name)]
public sealed class AbandonedStoreFinalizerTests
{
    [Fact]
    public void An_abandoned_store_returns_its_cached_stack_raw_stacks_and_both_kinds_of_slot_exactly_once()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 3, cache: true, slots: 2);
        WeakReference store = Abandon(allocator, s =>
        {
            s.ReturnStack(s.CheckoutStack("cached"));
            s.CheckoutStack("raw 1");
            s.CheckoutStack("raw 2");
            s.CheckoutInstance();
            s.CheckoutMemory("key");
        });
        Assert.Equal(2, allocator.GetStackStatistics().InUse); // "raw 1" took the cached stack back out
        Assert.Equal(1, allocator.GetInstanceStatistics().InUse);
        Assert.Equal(1, allocator.GetMemoryStatistics().InUse);

        CollectUntil(() => !store.IsAlive && allocator.AbandonedStores > 0);

        Assert.Equal(1, allocator.AbandonedStores);
        Assert.Equal(new StackPoolStatistics(Capacity: 3, InUse: 0, Peak: 2, TotalCheckouts: 2, Exhaustions: 0, RefusedReturns: 0, ResidentBytes: allocator.GetStackStatistics().ResidentBytes),
            allocator.GetStackStatistics());
        SlotPoolStatistics instances = allocator.GetInstanceStatistics();
        Assert.Equal((0, 1L, 0L), (instances.InUse, instances.TotalCheckouts, instances.RefusedReturns));
        SlotPoolStatistics memories = allocator.GetMemoryStatistics();
        Assert.Equal((0, 1L, 0L), (memories.InUse, memories.TotalCheckouts, memories.RefusedReturns));
        Assert.Empty(allocator.DescribeLiveCheckouts());
    }

    [Fact]
    public void An_abandoned_store_holding_only_its_cached_stack_returns_it()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: true);
        WeakReference store = Abandon(allocator, s => s.ReturnStack(s.CheckoutStack("cached")));
        Assert.Equal(1, allocator.GetStackStatistics().InUse); // the Store's cache keeps it out of the pool

        CollectUntil(() => !store.IsAlive && allocator.AbandonedStores > 0);

        Assert.Equal(1, allocator.AbandonedStores);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
    }

    [Fact]
    public void An_abandoned_store_holding_only_a_slot_is_finalized_too()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        WeakReference store = Abandon(allocator, s => s.CheckoutInstance());

        CollectUntil(() => !store.IsAlive && allocator.AbandonedStores > 0);

        Assert.Equal(1, allocator.AbandonedStores);
        Assert.Equal(0, allocator.GetInstanceStatistics().InUse);
    }

    [Fact]
    public void A_store_that_never_checked_anything_out_is_collected_without_being_counted()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        WeakReference store = Abandon(allocator, _ => { });
        CollectUntil(() => !store.IsAlive);
        GC.WaitForPendingFinalizers();
        Assert.Equal(0, allocator.AbandonedStores);
    }

    [Fact]
    public void Ended_stores_are_collected_without_being_counted_and_without_a_second_return()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        WeakReference disposed = Abandon(allocator, s =>
        {
            s.CheckoutStack("raw");
            s.CheckoutMemory();
            s.Dispose();
        });
        WeakReference consumed = Abandon(allocator, s =>
        {
            s.ReturnStack(s.CheckoutStack("cached"));
            s.CheckoutInstance();
            s.IntoData();
        });
        CollectUntil(() => !disposed.IsAlive && !consumed.IsAlive);
        GC.WaitForPendingFinalizers();

        Assert.Equal(0, allocator.AbandonedStores);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
        Assert.Equal(0, allocator.GetMemoryStatistics().RefusedReturns);
        Assert.Equal(0, allocator.GetInstanceStatistics().RefusedReturns);
    }

    [Fact]
    public void A_reachable_store_is_never_finalized_however_many_checkouts_it_made()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 4, cache: true);
        var store = new Store<int>(allocator, 7);
        for (int i = 0; i < 8; i++)
        {
            store.ReturnStack(store.CheckoutStack($"s{i}"));
            store.ReturnSlot(store.CheckoutInstance());
        }
        StackToken held = store.CheckoutStack("held");
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(0, allocator.AbandonedStores);
        Assert.Equal(7, store.Data);
        Assert.Equal(1, store.StacksCheckedOut);
        store.ReturnStack(held);
        store.Dispose();
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
        GC.KeepAlive(store);
    }

    [Fact]
    public void Stores_abandoned_after_their_allocator_was_disposed_give_back_the_memory_it_kept_mapped()
    {
        var allocator = TestAllocators.Small(stacks: 2, cache: false);
        WeakReference store = Abandon(allocator, s =>
        {
            s.CheckoutStack("raw");
            s.CheckoutMemory();
        });
        allocator.Dispose();
        Assert.Equal(2, allocator.LiveAtDispose.Count);
        Assert.False(allocator.Stacks.IsReleased);
        Assert.False(allocator.Memories.IsReleased);
        Assert.True(allocator.Instances.IsReleased);

        CollectUntil(() => !store.IsAlive && allocator.AbandonedStores > 0);

        Assert.Equal(1, allocator.AbandonedStores);
        Assert.True(allocator.Stacks.IsReleased);
        Assert.True(allocator.Memories.IsReleased);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
    }

    /// <summary>Creates a Store, lets <paramref name="use"/> work with it, and drops every strong reference to it.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference Abandon(PoolingAllocator allocator, Action<Store<int>> use)
    {
        var store = new Store<int>(allocator, 1);
        use(store);
        return new WeakReference(store);
    }

    private static void CollectUntil(Func<bool> done)
    {
        for (int i = 0; i < 20 && !done(); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        Assert.True(done(), "The abandoned Store was not collected and finalized.");
    }
}
