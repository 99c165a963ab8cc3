using Allocator.Pooling;

namespace Allocator.CrashHost;

/// <summary>Touches memory the pools promise is inaccessible.</summary>
internal static class GuardPageScenarios
{
    public static void WriteBelowStack()
    {
        using StackPool pool = Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 64 * 1024 });
        PooledStack stack = pool.Rent(storeId: 0, owner: "guard-write");
        Armed();
        // The byte just below the usable stack is the guard page.
        NativeWrite.Byte(stack.Bottom - 1);
    }

    /// <summary>Control: the lowest and highest usable bytes are writable, so the process survives.</summary>
    public static void WriteStackTop()
    {
        using StackPool pool = Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 64 * 1024 });
        PooledStack stack = pool.Rent(storeId: 0, owner: "top-write");
        Armed();
        NativeWrite.Byte(stack.Bottom);
        NativeWrite.Byte(stack.Top - 1);
        if (pool.Return(stack) is { } refused)
        {
            throw new InvalidOperationException($"the pool refused the return: {refused}");
        }
    }

    public static void WritePastSlot()
    {
        var options = new SlotPoolOptions { MaxSlots = 2, SlotSize = 64 * 1024, GuardSize = 64 * 1024 };
        using SlotPool pool = Slots(SlotKind.Instance, options);
        PooledSlot slot = pool.Rent(storeId: 0, affinityKey: null, accessible: options.SlotSize);
        Armed();
        NativeWrite.Byte(slot.BaseAddress + (nint)options.SlotSize);
    }

    public static void WritePastAccessibleMemory()
    {
        using SlotPool pool = Slots(SlotKind.Memory, new SlotPoolOptions { MaxSlots = 1, SlotSize = 1024 * 1024 });
        PooledSlot slot = pool.Rent(storeId: 0, affinityKey: null, accessible: 64 * 1024);
        Armed();
        NativeWrite.Byte(slot.BaseAddress + 64 * 1024);
    }

    /// <summary>Pools take validated options, as PoolingAllocator hands them.</summary>
    private static StackPool Stacks(StackPoolOptions options)
    {
        options.Validate();
        return new StackPool(options);
    }

    private static SlotPool Slots(SlotKind kind, SlotPoolOptions options)
    {
        options.Validate(kind == SlotKind.Instance ? "instances" : "memories");
        return new SlotPool(kind, options);
    }

    private static void Armed()
    {
        Console.WriteLine("armed");
        Console.Out.Flush();
    }
}
