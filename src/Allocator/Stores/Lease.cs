using Allocator.Pooling;

namespace Allocator.Stores;

/// <summary>The single record of one checkout: the Store that owns it and the pool resource. Tokens and fibers hold
/// a reference to it and nothing else, so there is no second record to disagree with.</summary>
/// <remarks>Leases of one Store form an intrusive list (no dictionary, no per-checkout node). A lease is never
/// reused: once <see cref="IsHeld"/> is false it stays false, which is what makes an old token copy fail.</remarks>
internal abstract class Lease(long storeId)
{
    public long StoreId { get; } = storeId;

    /// <summary>True from checkout until the resource goes back; changed only under the owning Store's lock.</summary>
    public bool IsHeld { get; set; } = true;

    public Lease? Previous { get; set; }

    public Lease? Next { get; set; }
}

/// <summary>A stack lease; <see cref="Holder"/> is the fiber running on it, or null for a raw checkout.</summary>
internal sealed class StackLease(IStackLeaseOwner store, long storeId, PooledStack stack, string owner, IStackHolder? holder) : Lease(storeId)
{
    public PooledStack Stack { get; } = stack;

    public string Owner { get; } = owner;

    public IStackHolder? Holder { get; } = holder;

    /// <summary>Gives the stack back through its Store: called once, when nothing can run on the stack any more.
    /// <paramref name="deferred"/>: the return waited for a host task that outlived the fiber's cancel.</summary>
    public void Return(bool deferred = false) => store.ReturnStackLease(this, deferred);
}

/// <summary>An instance or memory slot lease.</summary>
internal sealed class SlotLease(long storeId, SlotPool pool, PooledSlot slot) : Lease(storeId)
{
    public SlotPool Pool { get; } = pool;

    public PooledSlot Slot { get; } = slot;
}

/// <summary>What a stack lease needs of its Store (a non-generic view of <c>Store&lt;T&gt;</c>).</summary>
internal interface IStackLeaseOwner
{
    /// <summary>Returns the lease's stack: to the Store's cache or the pool while the Store lives, straight to the
    /// pool once it has ended. The last fiber stack of an ended Store completes its release (slots, cached stack).</summary>
    void ReturnStackLease(StackLease lease, bool deferred);
}
