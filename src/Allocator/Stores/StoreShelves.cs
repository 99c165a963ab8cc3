namespace Allocator.Stores;

/// <summary>What Stores of one allocator recycle instead of allocating per checkout: one lease per pool slot.</summary>
internal sealed class StoreShelves(PoolingAllocatorOptions options)
{
    /// <summary>Leases of raw stack checkouts, which tokens point at (kept in place for good: see RawStackLeases).</summary>
    public RawStackLeases RawStacks { get; } = new(options.Stacks.MaxStacks);

    /// <summary>Leases of fiber stacks, which reference their Store while out (see the remarks on Lease).</summary>
    public LeaseShelf<StackLease> FiberStacks { get; } = new(options.Stacks.MaxStacks);

    public LeaseShelf<SlotLease> Instances { get; } = new(options.Instances.MaxSlots);

    public LeaseShelf<SlotLease> Memories { get; } = new(options.Memories.MaxSlots);
}
