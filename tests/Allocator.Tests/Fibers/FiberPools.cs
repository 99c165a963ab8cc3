using System.Globalization;
using Allocator.Fibers;
using Allocator.Memory;
using Allocator.Stores;

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

    /// <summary>The bounds of the stack the next fiber of <paramref name="store"/> will get: a raw checkout notes
    /// them and goes back, to the Store's cache (which the next checkout takes first) or to a pool of one stack.</summary>
    public static (nint Bottom, nint Top) NextStackBounds<T>(Store<T> store)
    {
        PoolingAllocatorOptions options = store.Allocator.Options;
        Assert.True(options.CacheStackInStore || options.Stacks.MaxStacks == 1, "only a cached stack or a pool's only stack is predictable");
        Assert.Equal(0, store.Allocator.Stacks.InUse);
        StackToken probe = store.CheckoutStack("bounds probe");
        (nint Bottom, nint Top) bounds = store.GetStackBounds(probe);
        store.ReturnStack(probe);
        return bounds;
    }

    /// <summary>The pool index of the stack checked out under <paramref name="owner"/>.</summary>
    public static int StackIndexOf(PoolingAllocator allocator, string owner)
    {
        // Lines read "stack {index}: Store {id} ('{owner}')".
        string line = Assert.Single(allocator.Stacks.DescribeCheckouts(), l => l.EndsWith($"('{owner}')", StringComparison.Ordinal));
        return int.Parse(line.AsSpan("stack ".Length, line.IndexOf(':') - "stack ".Length), CultureInfo.InvariantCulture);
    }

    /// <summary>What the Store sees of a fiber: the holder of its stack lease (the Fiber handle, which reaches its
    /// driver only while the driver still serves it).</summary>
    public static IStackHolder Holder(Fiber fiber) => fiber;
}
