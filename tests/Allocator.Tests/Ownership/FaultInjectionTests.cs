using Allocator.Memory;
using Allocator.Tests.Support;

namespace Allocator.Tests.Ownership;

/// <summary>Every OS memory call can fail (through <see cref="VirtualMemoryFaults"/>): each failure is a typed
/// <see cref="VirtualMemoryException"/>, the pools stay consistent, and nothing is lost.</summary>
[Collection(SerialCollection.Name)]
public sealed class FaultInjectionTests : IDisposable
{
    private const int InjectedError = 12; // ENOMEM

    public void Dispose() => VirtualMemoryFaults.Hook = null;

    [Fact]
    public void A_failed_reservation_is_typed_and_leaves_nothing_reserved()
    {
        int reservations = 0;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Reserve && ++reservations == 2 ? InjectedError : 0;
        VirtualMemoryException failure = Assert.Throws<VirtualMemoryException>(() => new PoolingAllocator(OwnershipPools.Options()));
        Assert.Equal(InjectedError, failure.ErrorCode);
        Assert.Equal(OperatingSystem.IsWindows() ? "VirtualAlloc(MEM_RESERVE)" : "mmap", failure.Operation);
        VirtualMemoryFaults.Hook = null;
        using PoolingAllocator allocator = new(OwnershipPools.Options());
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [Fact]
    public void A_failed_protection_while_building_the_stack_pool_is_typed()
    {
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Protect ? InjectedError : 0;
        Assert.Equal(InjectedError, Assert.Throws<VirtualMemoryException>(() => new PoolingAllocator(OwnershipPools.Options())).ErrorCode);
    }

    [Fact]
    public void A_failed_protection_at_checkout_gives_the_slot_back_clean()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(memories: 1);
        var store = new Store<int>(allocator, 0);
        SlotToken first = store.CheckoutMemory(accessibleBytes: 4 * OwnershipPools.Page);
        store.GetSlotMemory(first).Fill(0xEE);
        store.ReturnSlot(first);
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Protect ? InjectedError : 0;
        Assert.Throws<VirtualMemoryException>(() => store.CheckoutMemory());
        VirtualMemoryFaults.Hook = null;
        Assert.Equal(0, store.SlotsCheckedOut);
        Assert.Equal(0, allocator.Memories.InUse);
        SlotToken again = store.CheckoutMemory();
        Assert.Equal(-1, store.GetSlotMemory(again).IndexOfAnyExcept((byte)0));
        store.Dispose();
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [Fact]
    public void A_failed_grow_keeps_the_slot_held_and_its_next_tenant_clean()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(memories: 1);
        var store = new Store<int>(allocator, 0);
        SlotToken memory = store.CheckoutMemory(accessibleBytes: OwnershipPools.Page);
        store.GetSlotMemory(memory).Fill(0x11);
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Protect ? InjectedError : 0;
        Assert.Throws<VirtualMemoryException>(() => store.GrowMemory(memory, 8 * OwnershipPools.Page));
        VirtualMemoryFaults.Hook = null;
        Assert.Equal(1, store.SlotsCheckedOut);
        store.ReturnSlot(memory);
        SlotToken next = store.CheckoutMemory();
        Assert.Equal(16 * OwnershipPools.Page, store.GetAccessibleBytes(next));
        Assert.Equal(-1, store.GetSlotMemory(next).IndexOfAnyExcept((byte)0));
        store.Dispose();
    }

    [Fact]
    public void A_failed_slot_reset_is_typed_and_the_slot_is_reset_before_reuse()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(memories: 1);
        var store = new Store<int>(allocator, 0);
        SlotToken memory = store.CheckoutMemory();
        store.GetSlotMemory(memory).Fill(0x22);
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Discard ? InjectedError : 0;
        Assert.Throws<VirtualMemoryException>(() => store.ReturnSlot(memory));
        Assert.Equal(0, store.SlotsCheckedOut);
        Assert.Equal(1, allocator.GetMemoryStatistics().PendingReset);
        // While the fault lasts, a checkout retries the reset and reports the failure again rather than hand it out.
        Assert.Throws<VirtualMemoryException>(() => store.CheckoutMemory());
        VirtualMemoryFaults.Hook = null;
        SlotToken again = store.CheckoutMemory();
        Assert.Equal(-1, store.GetSlotMemory(again).IndexOfAnyExcept((byte)0));
        store.Dispose();
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [Fact]
    public unsafe void A_failed_stack_reset_loses_no_stack_and_leaks_no_data()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(stacks: 1);
        var store = new Store<int>(allocator, 0);
        StackToken stack = store.CheckoutStack("raw");
        (nint bottom, nint top) = store.GetStackBounds(stack);
        *(long*)(top - 8) = 0x5EC2E7;
        *(long*)bottom = 0x5EC2E7;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Discard ? InjectedError : 0;
        store.ReturnStack(stack); // the Store's part succeeds; the pool keeps the stack queued for its reset
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Throws<VirtualMemoryException>(() => store.CheckoutStack("while failing"));
        VirtualMemoryFaults.Hook = null;
        StackToken again = store.CheckoutStack("after");
        (nint bottom2, nint top2) = store.GetStackBounds(again);
        Assert.Equal(top, top2);
        Assert.Equal(0, *(long*)(top2 - 8));
        Assert.Equal(0, *(long*)bottom2);
        store.ReturnStack(again);
        store.Dispose();
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [Fact]
    public void A_failed_residency_query_is_typed_and_changes_nothing()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator();
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Residency ? InjectedError : 0;
        Assert.Equal(OperatingSystem.IsWindows() ? "QueryWorkingSetEx" : "mincore", Assert.Throws<VirtualMemoryException>(() => allocator.GetStackStatistics()).Operation);
        Assert.Throws<VirtualMemoryException>(() => allocator.GetMemoryStatistics());
        VirtualMemoryFaults.Hook = null;
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }
}
