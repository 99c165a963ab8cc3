namespace Allocator.CrashHost;

/// <summary>Touches memory the pools promise is inaccessible.</summary>
internal static class GuardPageScenarios
{
    public static void WriteBelowStack()
    {
        using var pool = new StackPool(new StackPoolOptions { MaxStacks = 2, StackSize = 64 * 1024 });
        PooledStack stack = pool.Rent();
        Armed();
        // The byte just below the usable stack is the guard page.
        NativeWrite.Byte(stack.Bottom - 1);
    }

    /// <summary>Control: the lowest and highest usable bytes are writable, so the process survives.</summary>
    public static void WriteStackTop()
    {
        using var pool = new StackPool(new StackPoolOptions { MaxStacks = 2, StackSize = 64 * 1024 });
        PooledStack stack = pool.Rent();
        Armed();
        NativeWrite.Byte(stack.Bottom);
        NativeWrite.Byte(stack.Top - 1);
        pool.Return(stack);
    }

    public static void WritePastSlot()
    {
        using var pool = new SlotPool("instances", new SlotPoolOptions { MaxSlots = 2, SlotSize = 64 * 1024, GuardSize = 64 * 1024 });
        PooledSlot slot = pool.Rent();
        Armed();
        NativeWrite.Byte(slot.BaseAddress + (nint)slot.Capacity);
    }

    public static void WritePastAccessibleMemory()
    {
        using var pool = new SlotPool("memories", new SlotPoolOptions { MaxSlots = 1, SlotSize = 1024 * 1024 });
        PooledSlot slot = pool.Rent(accessibleBytes: 64 * 1024);
        Armed();
        NativeWrite.Byte(slot.BaseAddress + 64 * 1024);
    }

    private static void Armed()
    {
        Console.WriteLine("armed");
        Console.Out.Flush();
    }
}
