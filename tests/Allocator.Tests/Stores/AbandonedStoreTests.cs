using System.Runtime.CompilerServices;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Stores;

/// <summary>A Store nobody ends (no Dispose, no IntoData) must not drain the pools for good: once it is collected, its
/// finalizer returns what it held and the allocator counts it.</summary>
public sealed class AbandonedStoreTests
{
    [Fact]
    public void A_collected_store_gives_back_its_stacks_and_slots_and_is_counted()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        CheckOutAndForget(allocator);
        Assert.Equal(2, allocator.Stacks.InUse); // both held (the first one came back out of the Store's cache)
        Assert.Equal(1, allocator.Memories.InUse);

        for (int i = 0; i < 10 && allocator.Stacks.InUse > 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Equal(0, allocator.Instances.InUse);
        Assert.Equal(1, allocator.AbandonedStores);
        // The pool is whole again: both stacks can be checked out.
        PooledStack a = allocator.Stacks.Rent();
        PooledStack b = allocator.Stacks.Rent();
        allocator.Stacks.ReturnAccepted(a);
        allocator.Stacks.ReturnAccepted(b);
    }

    [Fact]
    public void Ended_stores_are_not_counted_as_abandoned()
    {
        using PoolingAllocator allocator = TestAllocators.Small();
        EndBothWays(allocator);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(0, allocator.AbandonedStores);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CheckOutAndForget(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 1);
        store.ReturnStack(store.CheckoutStack("cached"));
        store.CheckoutStack("held");
        store.CheckoutStack("held too");
        store.CheckoutMemory("m");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void EndBothWays(PoolingAllocator allocator)
    {
        var consumed = new Store<int>(allocator, 1);
        consumed.ReturnStack(consumed.CheckoutStack("a"));
        consumed.IntoData();
        var disposed = new Store<int>(allocator, 2);
        disposed.CheckoutStack("b");
        disposed.Dispose();
    }
}
