using Allocator.Memory;

namespace Allocator.Tests.Ownership;

/// <summary>Small pool shapes for the ownership regression tests.</summary>
internal static class OwnershipPools
{
    public static nuint Page => VirtualMemory.PageSize;

    public static PoolingAllocatorOptions Options(int stacks = 2, int instances = 2, int memories = 2, int batch = 1, bool zeroStacks = true) => new()
    {
        Stacks = new StackPoolOptions { MaxStacks = stacks, StackSize = 64 * 1024, ZeroOnReturn = zeroStacks, KeepResident = Page },
        Instances = new SlotPoolOptions { MaxSlots = instances, SlotSize = 4 * Page, DecommitBatchSize = Math.Min(batch, instances) },
        Memories = new SlotPoolOptions { MaxSlots = memories, SlotSize = 16 * Page, GuardSize = 4 * Page, DecommitBatchSize = Math.Min(batch, memories) },
        CacheStackInStore = false,
    };

    public static PoolingAllocator Allocator(int stacks = 2, int instances = 2, int memories = 2, int batch = 1, bool zeroStacks = true) =>
        new(Options(stacks, instances, memories, batch, zeroStacks));
}
