using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>A lease object is reused by its slot's next checkout, of any Store: a fiber's late or repeated return
/// must name its own checkout (the generation it got) and change nothing once that checkout is over.</summary>
public sealed class LateLeaseReturnTests
{
    [Fact]
    public void A_late_return_of_a_reused_lease_leaves_the_next_stores_checkout_alone()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 1, cache: false);
        using var first = new Store<int>(allocator, 1);
        using var second = new Store<int>(allocator, 2);
        var holder = new Holder();
        StackLease lease = first.CheckoutStackLease("first", holder);
        ulong firstCheckout = lease.Generation;
        lease.Return(firstCheckout);

        StackLease next = second.CheckoutStackLease("second", holder);
        Assert.Same(lease, next); // the slot's lease object, reused for another Store
        lease.Return(firstCheckout); // the first holder returns again, late

        Assert.Equal(1, second.StacksCheckedOut);
        Assert.Equal(1, allocator.GetStackStatistics().InUse);
        Assert.Contains("'second'", Assert.Single(allocator.DescribeLiveCheckouts()));

        next.Return(next.Generation);
        Assert.Equal((0, 0), (second.StacksCheckedOut, allocator.GetStackStatistics().InUse));
    }

    private sealed class Holder : IStackHolder
    {
        public string Name => "holder";

        public bool HostCallOutlivesCancel => false;

        public void ReleaseStack()
        {
        }

        public bool TryRevoke() => false;
    }
}
