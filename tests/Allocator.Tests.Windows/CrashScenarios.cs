using System.Runtime.InteropServices;
using Allocator.Fibers;

namespace Allocator.Tests.Windows;

/// <summary>Windows twins of Allocator.CrashHost's scenarios: each prints "armed" right before the access that must
/// fault, and "survived" if the process is still alive afterwards.</summary>
internal static partial class CrashScenarios
{
    public static int Run(string scenario)
    {
        switch (scenario)
        {
            case "fiber-stack-overflow":
                Descend(int.MaxValue);
                break;
            case "fiber-recursion-within-stack":
                Descend(100);
                break;
            case "stack-guard-write":
                WriteAroundStack(belowBottom: true);
                break;
            case "stack-top-write":
                WriteAroundStack(belowBottom: false);
                break;
            default:
                Console.Error.WriteLine($"unknown scenario {scenario}");
                return 2;
        }
        Console.WriteLine("survived");
        return 0;
    }

    private static PoolingAllocator Allocator() => new(new PoolingAllocatorOptions
    {
        Stacks = new StackPoolOptions { MaxStacks = 1, StackSize = 64 * 1024 },
        Instances = new SlotPoolOptions { MaxSlots = 1 },
        Memories = new SlotPoolOptions { MaxSlots = 1 },
    });

    /// <summary>guest_descend on a 64 KiB pooled stack: 100 levels fit, unbounded recursion hits the guard page.</summary>
    private static void Descend(int levels)
    {
        using PoolingAllocator allocator = Allocator();
        using var store = new Store<int>(allocator, 0);
        nint guest = NativeLibrary.Load(Path.Combine(AppContext.BaseDirectory, "AllocatorTestGuest.dll"));
        using Fiber fiber = Fiber.Create(store, "descend", NativeLibrary.GetExport(guest, "guest_descend"), levels, FiberHostFunctions.Empty);
        Armed();
        fiber.RunAsync().AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Writes through native code (msvcrt's memset), as a guest would, below a pooled stack or at its ends.</summary>
    private static void WriteAroundStack(bool belowBottom)
    {
        using PoolingAllocator allocator = Allocator();
        using var store = new Store<int>(allocator, 0);
        StackToken stack = store.CheckoutStack("guard-write");
        (nint bottom, nint top) = store.GetStackBounds(stack);
        Armed();
        if (belowBottom)
        {
            Memset(bottom - 1, 1, 1);
        }
        else
        {
            Memset(bottom, 1, 1);
            Memset(top - 1, 1, 1);
        }
        store.ReturnStack(stack);
    }

    private static void Armed()
    {
        Console.WriteLine("armed");
        Console.Out.Flush();
    }

    [LibraryImport("msvcrt.dll", EntryPoint = "memset")]
    private static partial nint Memset(nint destination, int value, nuint count);
}
