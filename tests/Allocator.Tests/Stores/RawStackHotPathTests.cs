using System.Reflection;
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
}
