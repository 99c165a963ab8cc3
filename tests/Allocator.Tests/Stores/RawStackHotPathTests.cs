using System.Reflection;
using System.Runtime.CompilerServices;
using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>What the raw stack get+return path (issue 9: Store.CheckoutStack + ReturnStack, no stack kept in the
/// Store) must keep while it is trimmed for speed: the Store's state checks still throw the same typed errors, a raw
/// lease never references its Store, and the path allocates nothing.</summary>
public sealed class RawStackHotPathTests
{
    [Fact]
    public void A_consumed_or_disposed_store_refuses_raw_checkouts_and_returns_with_the_same_errors()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        var consumed = new Store<int>(allocator, 1);
        StackToken early = consumed.CheckoutStack("early");
        consumed.ReturnStack(early);
        consumed.IntoData();
        var notLive = Assert.Throws<InvalidOperationException>(() => consumed.CheckoutStack("late"));
        Assert.Equal($"Store {consumed.Id} has been consumed by IntoData.", notLive.Message);
        Assert.Throws<InvalidOperationException>(() => consumed.ReturnStack(early));

        var disposed = new Store<int>(allocator, 2);
        StackToken held = disposed.CheckoutStack("held");
        disposed.Dispose();
        var gone = Assert.Throws<ObjectDisposedException>(() => disposed.CheckoutStack("late"));
        Assert.Equal(typeof(Store<int>).FullName, gone.ObjectName);
        Assert.Throws<ObjectDisposedException>(() => disposed.ReturnStack(held));
        Assert.Throws<ObjectDisposedException>(() => disposed.TryReturnStack(held));
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [Fact]
    public void A_raw_lease_references_no_store_while_out_or_after()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        using var store = new Store<int>(allocator, 1);
        FieldInfo storeField = typeof(StackLease).GetField("_store", BindingFlags.Instance | BindingFlags.NonPublic)!;
        for (int i = 0; i < 3; i++)
        {
            StackToken token = store.CheckoutStack("raw");
            Assert.Null(storeField.GetValue(token.Lease));
            Assert.Equal(store.Id, token.Lease!.StoreId);
            store.ReturnStack(token);
            Assert.Null(storeField.GetValue(token.Lease));
            Assert.Equal(0, token.Lease.StoreId);
        }
    }

    [Fact]
    public void Raw_stack_get_and_return_allocates_nothing_in_steady_state()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        using var store = new Store<int>(allocator, 1);
        store.ReturnStack(store.CheckoutStack("warm"));
        long least = long.MaxValue;
        for (int batch = 0; batch < 5; batch++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                store.ReturnStack(store.CheckoutStack("steady"));
            }
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, least);
    }

    [Fact]
    public void Ending_a_store_returns_exactly_its_own_raw_stacks_and_leaves_another_stores_alone()
    {
        // Raw stacks are counted, not listed: a Store that ends with some out finds them among every slot's lease.
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 6, cache: false);
        using var other = new Store<int>(allocator, 0);
        var disposed = new Store<int>(allocator, 1);
        var consumedLater = new Store<int>(allocator, 2);
        StackToken otherFirst = other.CheckoutStack("other 1");
        StackToken[] mine = [disposed.CheckoutStack("a"), disposed.CheckoutStack("b")];
        StackToken otherSecond = other.CheckoutStack("other 2");
        StackToken third = disposed.CheckoutStack("c");
        disposed.ReturnStack(mine[1]);
        StackToken late = consumedLater.CheckoutStack("late");
        Assert.Equal(2, disposed.StacksCheckedOut);
        Assert.Equal(5, allocator.Stacks.InUse);

        var refused = Assert.Throws<StacksCheckedOutException>(() => consumedLater.IntoData());
        Assert.Equal(["late"], refused.Owners);
        disposed.Dispose();

        Assert.Equal(3, allocator.Stacks.InUse);
        Assert.Equal(2, other.StacksCheckedOut);
        Assert.Equal(InvalidTokenReason.WrongOwner, Assert.Throws<InvalidTokenException>(() => other.ReturnStack(third)).Reason);
        other.ReturnStack(otherFirst);
        other.ReturnStack(otherSecond);
        consumedLater.ReturnStack(late);
        consumedLater.IntoData();
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
    }

    [Fact]
    public void An_abandoned_store_gives_back_its_raw_stacks_and_no_other_stores()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 4, cache: false);
        using var keeper = new Store<int>(allocator, 0);
        StackToken kept = keeper.CheckoutStack("kept");
        Abandon(allocator);
        TestAllocators.CollectUntilAbandoned(allocator);
        Assert.Equal(1, allocator.AbandonedStores);
        Assert.Equal(1, allocator.Stacks.InUse);
        Assert.Equal(1, keeper.StacksCheckedOut);
        keeper.ReturnStack(kept);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Abandon(PoolingAllocator allocator)
    {
        var dropped = new Store<int>(allocator, 1);
        dropped.CheckoutStack("dropped 1");
        dropped.CheckoutStack("dropped 2");
    }
}
