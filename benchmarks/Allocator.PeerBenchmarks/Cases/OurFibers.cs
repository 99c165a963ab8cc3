using System.Runtime.InteropServices;
using Allocator.Fibers;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>Our side of the fiber cases, through the public API only: host tables and running a fiber to its end.</summary>
internal static class OurFibers
{
    /// <summary>Host calls per fiber in the per-call cases (both sides run the same loop of this many calls).</summary>
    public const int CallsPerFiber = 1000;

    /// <summary>An async host function that answers i + 1 at once (a completed ValueTask).</summary>
    public static FiberHostFunctions AsyncReady { get; } = FiberHostFunctions.From(FiberHostEntry.Async(static call => new ValueTask<long>(call[0] + 1)));

    /// <summary>A synchronous host function that answers i + 1, served on the thread's stack.</summary>
    public static FiberHostFunctions Sync { get; } = FiberHostFunctions.From(FiberHostEntry.Sync(static call => call[0] + 1));

    /// <summary>An unchecked host function that answers i + 1: a C# [UnmanagedCallersOnly] function the guest's host
    /// call calls directly, like the Wasmtime side's wasmtime_linker_define_func_unchecked callback.</summary>
    public static unsafe FiberHostFunctions Unchecked { get; } = FiberHostFunctions.From(FiberHostEntry.Unchecked(&AnswerUnchecked));

    /// <summary>An async host function that is pending once per call (see <see cref="PendingOnceSource"/>).</summary>
    public static FiberHostFunctions PendingOnce(PendingOnceSource source) => FiberHostFunctions.From(FiberHostEntry.Async(source.Answer));

    [UnmanagedCallersOnly]
    private static unsafe long AnswerUnchecked(FiberUncheckedCall* call) => call->Arguments[0] + 1;

    /// <summary>Runs a fiber whose host calls all answer at once: RunAsync must complete synchronously.</summary>
    public static long RunReady(Fiber fiber)
    {
        ValueTask<long> run = fiber.RunAsync();
        if (!run.IsCompleted)
        {
            throw new InvalidOperationException("A fiber whose host calls all complete at once did not finish synchronously.");
        }
        return run.GetAwaiter().GetResult();
    }

    /// <summary>Runs <paramref name="calls"/> host calls on fibers of <see cref="CallsPerFiber"/> calls each.</summary>
    public static void HostCalls(Store<int> store, long calls, FiberHostFunctions host, PendingOnceSource? pending)
    {
        for (long done = 0; done < calls; done += CallsPerFiber)
        {
            long chunk = Math.Min(CallsPerFiber, calls - done);
            using Fiber fiber = Fiber.Create(store, "calls", PeerNative.HostLoop, (nint)chunk, host);
            Expect(pending is null ? RunReady(fiber) : pending.Drive(fiber, chunk), chunk);
        }
    }

    /// <summary>Every case checks the guest's sum, so no side can skip the work.</summary>
    public static void Expect(long sum, long calls)
    {
        if (sum != PeerNative.ExpectedSum(calls))
        {
            throw new InvalidOperationException($"{calls} host calls summed to {sum}, expected {PeerNative.ExpectedSum(calls)}.");
        }
    }
}
