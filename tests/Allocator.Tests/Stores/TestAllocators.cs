using Allocator.Memory;

namespace Allocator.Tests.Stores;

internal static class TestAllocators
{
    public static PoolingAllocator Small(int stacks = 4, bool cache = true, int slots = 4) => new(SmallOptions(stacks, cache, slots));

    public static PoolingAllocatorOptions SmallOptions(int stacks = 4, bool cache = true, int slots = 4) => new()
    {
        Stacks = new StackPoolOptions { MaxStacks = stacks, StackSize = 8 * VirtualMemory.PageSize, ZeroOnReturn = true, KeepResident = VirtualMemory.PageSize },
        Instances = new SlotPoolOptions { MaxSlots = slots, SlotSize = 4 * VirtualMemory.PageSize },
        Memories = new SlotPoolOptions { MaxSlots = slots, SlotSize = 16 * VirtualMemory.PageSize, GuardSize = 4 * VirtualMemory.PageSize, MaxUnusedWarmSlots = 2 },
        CacheStackInStore = cache,
    };

    /// <summary>Collects until <paramref name="allocator"/> has counted an abandoned Store (its finalizer ran), at most
    /// <paramref name="rounds"/> times; the caller asserts the count.</summary>
    public static void CollectUntilAbandoned(PoolingAllocator allocator, int rounds = 10)
    {
        for (int i = 0; i < rounds && allocator.AbandonedStores == 0; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
