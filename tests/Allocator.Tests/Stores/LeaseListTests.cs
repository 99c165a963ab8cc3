using Allocator.Pooling;
using Allocator.Stores;

namespace Allocator.Tests.Stores;

/// <summary>The intrusive lease list skips the link writes it can (an add into an empty list writes the head only; the
/// last removal writes a constant null): every order of adds and removals must still leave exactly the listed leases
/// linked, and a removed lease unlinked.</summary>
public sealed class LeaseListTests
{
    [Theory]
    [InlineData(new[] { 0 })]
    [InlineData(new[] { 0, 1 })]
    [InlineData(new[] { 1, 0 })]
    [InlineData(new[] { 0, 1, 2 })]
    [InlineData(new[] { 1, 0, 2 })]
    [InlineData(new[] { 2, 1, 0 })]
    [InlineData(new[] { 1, 2, 0 })]
    public void Removing_in_any_order_keeps_the_rest_listed_and_unlinks_the_removed(int[] removalOrder)
    {
        var list = default(LeaseList<SlotLease>);
        SlotLease[] leases = [.. Enumerable.Range(0, removalOrder.Length).Select(i => Held(i))];
        foreach (SlotLease lease in leases)
        {
            list.Add(lease);
        }
        Assert.Equal(leases.Length, list.Count);
        var listed = new HashSet<SlotLease>(leases);
        foreach (int index in removalOrder)
        {
            list.Remove(leases[index]);
            listed.Remove(leases[index]);
            Assert.Null(leases[index].Previous);
            Assert.Null(leases[index].Next);
            Assert.Equal(listed.Count, list.Count);
            Assert.Equal(listed.Count == 0, list.IsEmpty);
            Assert.Equal(listed.OrderBy(l => l.Slot.Index), list.ToArray().OrderBy(l => l.Slot.Index));
        }
        Assert.Null(list.First);

        // The emptied list takes leases again, and a re-added lease starts unlinked.
        list.Add(leases[0]);
        Assert.Same(leases[0], list.First);
        Assert.Null(leases[0].Next);
        list.Remove(leases[0]);
        Assert.True(list.IsEmpty);
    }

    private static SlotLease Held(int index)
    {
        var lease = new SlotLease(null!);
        lease.Begin(storeId: 1, new PooledSlot(index, Generation: 1, BaseAddress: 0));
        return lease;
    }
}
