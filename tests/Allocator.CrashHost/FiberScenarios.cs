using System.Runtime.InteropServices;
using Allocator.Fibers;

namespace Allocator.CrashHost;

/// <summary>A native guest recursing on a pooled fiber stack, into the guard page or not.</summary>
internal static class FiberScenarios
{
    /// <summary>Unbounded recursion on a 64 KiB stack: the guest runs into the guard page below it.</summary>
    public static void OverflowFiberStack() => Descend(int.MaxValue);

    /// <summary>Control: 100 frames of ~300 bytes fit in 64 KiB, so the process survives.</summary>
    public static void RecurseWithinFiberStack() => Descend(100);

    /// <summary>An unchecked host function that throws: the exception escapes an [UnmanagedCallersOnly] function,
    /// which the runtime answers by ending the process (FiberHostEntry.Unchecked documents it).</summary>
    public static unsafe void ThrowFromUncheckedHost()
    {
        using var allocator = new PoolingAllocator(new PoolingAllocatorOptions
        {
            Stacks = new StackPoolOptions { MaxStacks = 1, StackSize = 64 * 1024 },
            Instances = new SlotPoolOptions { MaxSlots = 1 },
            Memories = new SlotPoolOptions { MaxSlots = 1 },
        });
        using var store = new Store<int>(allocator, 0);
        nint guest = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "libAllocatorTestGuest.so"));
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Unchecked(&Throw));
        using Fiber fiber = Fiber.Create(store, "unchecked-throws", NativeLibrary.GetExport(guest, "guest_call_function"), 0, hosts);
        Console.WriteLine("armed");
        Console.Out.Flush();
        try
        {
            fiber.RunAsync().AsTask().GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Console.WriteLine($"caught {ex.GetType().Name}"); // must not happen: nothing can catch it
        }
    }

    [UnmanagedCallersOnly]
    private static unsafe long Throw(FiberUncheckedCall* call) => throw new InvalidOperationException("unchecked host function threw");

    private static void Descend(int levels)
    {
        using var allocator = new PoolingAllocator(new PoolingAllocatorOptions
        {
            Stacks = new StackPoolOptions { MaxStacks = 1, StackSize = 64 * 1024 },
            Instances = new SlotPoolOptions { MaxSlots = 1 },
            Memories = new SlotPoolOptions { MaxSlots = 1 },
        });
        using var store = new Store<int>(allocator, 0);
        nint guest = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "libAllocatorTestGuest.so"));
        using Fiber fiber = Fiber.Create(store, "descend", NativeLibrary.GetExport(guest, "guest_descend"), levels, FiberHostFunctions.Empty);
        Console.WriteLine("armed");
        Console.Out.Flush();
        fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }
}
