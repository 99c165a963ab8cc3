namespace Allocator.PeerBenchmarks.Cases;

/// <summary>Our allocator configurations, shared by the case sets.</summary>
internal static class PeerAllocators
{
    /// <summary>For requests: 64 of each, like the Wasmtime pooling engines (64 core instances, memories, tables,
    /// stacks); memories keep <paramref name="memoryKeepResident"/> bytes resident across reuse, as Wasmtime's
    /// <c>linear_memory_keep_resident</c> (0 by default on both sides).</summary>
    /// <param name="decommitBatchSize">Returned memories reset together, as Wasmtime's <c>decommit_batch_size</c>.</param>
    public static PoolingAllocator Requests(nuint memoryKeepResident = 0, int decommitBatchSize = 1) => new(new PoolingAllocatorOptions
    {
        Stacks = new StackPoolOptions { MaxStacks = 64, StackSize = 64 * 1024 },
        // Instance state is small and always touched: zeroing it in place is cheaper than giving it back and
        // faulting it in again (Wasmtime's instance allocations make no system call either).
        Instances = new SlotPoolOptions { MaxSlots = 64, SlotSize = 16 * 1024, MaxUnusedWarmSlots = 64, KeepResident = 16 * 1024 },
        Memories = new SlotPoolOptions { MaxSlots = 64, SlotSize = 1024 * 1024, GuardSize = 64 * 1024, MaxUnusedWarmSlots = 64, KeepResident = memoryKeepResident, DecommitBatchSize = decommitBatchSize },
    });

    /// <summary>For stack and fiber cases against Boost: 256 KiB stacks (a guard page below each), and no stack kept
    /// in the Store, so every checkout goes to the shared lock-free pool, as every Boost fiber goes to its
    /// pooled_fixedsize_stack.</summary>
    public static PoolingAllocator Stacks(bool zeroOnReturn = false) => new(new PoolingAllocatorOptions
    {
        Stacks = new StackPoolOptions
        {
            MaxStacks = 8,
            StackSize = 256 * 1024,
            ZeroOnReturn = zeroOnReturn,
            KeepResident = zeroOnReturn ? (nuint)(16 * 1024) : 0,
        },
        Instances = new SlotPoolOptions { MaxSlots = 1 },
        Memories = new SlotPoolOptions { MaxSlots = 1 },
        CacheStackInStore = false,
    });

    /// <summary>64 stacks of 256 KiB zeroed on return with nothing kept resident, reset in batches of 64: a batch of
    /// neighbours is given back in one discard.</summary>
    public static PoolingAllocator BatchZeroedStacks() => new(new PoolingAllocatorOptions
    {
        Stacks = new StackPoolOptions
        {
            MaxStacks = 64,
            StackSize = 256 * 1024,
            ZeroOnReturn = true,
            KeepResident = 0,
            DecommitBatchSize = 64,
        },
        Instances = new SlotPoolOptions { MaxSlots = 1 },
        Memories = new SlotPoolOptions { MaxSlots = 1 },
        CacheStackInStore = false,
    });
}
