using Allocator.Native;

namespace Allocator.Tests.Fibers;

/// <summary>Allocators sized for fiber tests: stacks big enough for deep guest recursion.</summary>
internal static class FiberPools
{
    public static PoolingAllocator Allocator(int stacks = 4, int stackKiB = 256, bool cache = false, bool zero = false) => new(new PoolingAllocatorOptions
    {
        Stacks = new StackPoolOptions { MaxStacks = stacks, StackSize = (nuint)stackKiB * 1024, ZeroOnReturn = zero },
        Instances = new SlotPoolOptions { MaxSlots = 1, SlotSize = VirtualMemory.PageSize },
        Memories = new SlotPoolOptions { MaxSlots = 1, SlotSize = 16 * VirtualMemory.PageSize, GuardSize = VirtualMemory.PageSize },
        CacheStackInStore = cache,
    });

    public static StackPool Stacks(int stacks = 4, int stackKiB = 256) =>
        new(new StackPoolOptions { MaxStacks = stacks, StackSize = (nuint)stackKiB * 1024 });
}
