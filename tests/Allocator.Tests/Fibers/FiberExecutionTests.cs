using System.Collections.Concurrent;
using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Guests run on their pooled stacks, call the host, and come back with every frame intact.</summary>
public sealed class FiberExecutionTests
{
    private const int Depth = 1000;

    [FiberFact]
    public async Task Deep_recursion_resumes_after_awaited_host_calls_with_every_frame_intact()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2, stackKiB: 512);
        using var store = new Store<int>(allocator, 0);
        var suspendedWhileHostRan = new ConcurrentBag<bool>();
        var calls = new ConcurrentQueue<(long Level, long Below)>();
        var hosts = new FiberHostFunctions(async call =>
        {
            suspendedWhileHostRan.Add(call.Fiber.State == FiberState.Suspended);
            calls.Enqueue((call[0], call[1]));
            await Task.Delay(1);
            return HostAnswer(call[0], call[1]);
        });
        using Fiber fiber = Fiber.Create(store, "recursion", TestGuest.Recurse, Depth, hosts);
        int stack = FiberPools.StackIndexOf(allocator, "recursion");

        long result = await fiber.RunAsync();

        (long expected, int expectedCalls) = ExpectedRecursion(Depth);
        Assert.Equal(expected, result);
        Assert.Equal(expectedCalls, calls.Count);
        // The deepest level asks first, so the first request proves the guest went all the way down before suspending.
        Assert.Equal(((long)Depth, 0L), calls.First());
        Assert.All(suspendedWhileHostRan, Assert.True);
        Assert.Equal(FiberState.Completed, fiber.State);
        Assert.Equal(0, store.StacksCheckedOut);
        // 1000 frames of at least 16 words each were live on the pooled stack, not on the thread's.
        Assert.True(allocator.Stacks.ResidentBytes(stack) >= Depth * 16 * sizeof(long),
            $"only {allocator.Stacks.ResidentBytes(stack)} bytes of the fiber stack were touched");
    }

    [FiberFact]
    public async Task Host_functions_run_on_the_threads_stack_not_the_fibers()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        using var store = new Store<int>(allocator, 0);
        nint hostLocal = 0;
        var hosts = new FiberHostFunctions(call =>
        {
            hostLocal = AddressOfALocal();
            return new ValueTask<long>(0);
        });
        (nint Bottom, nint Top) stack = FiberPools.NextStackBounds(store);
        using Fiber fiber = Fiber.Create(store, "where-hosts-run", TestGuest.CallLoop, 1, hosts);

        await fiber.RunAsync();

        Assert.NotEqual(0, hostLocal);
        Assert.False(hostLocal >= stack.Bottom && hostLocal < stack.Top, "the host function ran on the fiber stack");
    }

    [FiberFact]
    public void Synchronous_host_calls_complete_the_run_without_an_await()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(7));
        using Fiber fiber = Fiber.Create(store, "sync", TestGuest.CallLoop, 10_000, hosts);

        ValueTask<long> run = fiber.RunAsync();

        Assert.True(run.IsCompletedSuccessfully);
        Assert.Equal(70_000, run.Result);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberTheory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(FiberHostCall.MaxArguments)]
    public async Task Host_calls_see_the_guests_arguments_and_function_index(int argumentCount)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        HostCallArgumentChecks.Seen? seen = null;
        var hosts = new FiberHostFunctions(
            _ => throw new InvalidOperationException("wrong function"),
            call =>
            {
                seen = HostCallArgumentChecks.Read(call);
                return new ValueTask<long>(Enumerable.Range(0, call.ArgumentCount).Sum(i => call[i] * (i + 1)));
            });
        using Fiber fiber = Fiber.Create(store, "arguments", TestGuest.CallFunction, TestGuest.CallFunctionArgument(1, argumentCount), hosts);

        long result = await fiber.RunAsync();

        Assert.NotNull(seen);
        Assert.Equal(1, seen.Function);
        Assert.Same(fiber, seen.Fiber);
        Assert.Equal(argumentCount, seen.ArgumentCount);
        // The guest passes 1, 2, 3, ...
        Assert.Equal(Enumerable.Range(1, argumentCount).Sum(i => (long)i * i), result);
        Assert.True(seen.RefusedPastCount);
    }

    [FiberFact]
    public async Task Guest_sees_its_own_stack_bounds()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stackKiB: 64);
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "bounds", TestGuest.StackRemaining, 0, FiberHostFunctions.Empty);

        long remaining = await fiber.RunAsync();

        // Below the full size by the context, the first frame and the guest's own frame; not by much more.
        Assert.InRange(remaining, 64 * 1024 - 1024, 64 * 1024 - 128);
    }

    [FiberFact]
    public void A_fiber_runs_once()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>();
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task));
        using Fiber fiber = Fiber.Create(store, "once", TestGuest.CallLoop, 1, hosts);

        ValueTask<long> first = fiber.RunAsync();
        Assert.Throws<InvalidOperationException>(() => fiber.RunAsync());
        gate.SetResult(3);

        Assert.Equal(3, first.AsTask().GetAwaiter().GetResult());
    }

    [FiberFact]
    public async Task Stacks_smaller_than_a_fiber_needs_are_refused_and_the_smallest_allowed_one_runs_a_fiber()
    {
        // Fiber.Create can no longer meet a stack too small for a fiber: the options refuse one up front.
        var refused = Assert.Throws<PoolConfigurationException>(() => FiberPools.Allocator(stackKiB: 8));
        Assert.Equal("StackPoolOptions.StackSize", refused.Field);
        Assert.Equal((ulong)Interop.AllocatorNative.MinimumStackSize, OptionRules.MinimumStackBytes);

        // The native side agrees on the limit: it refuses less and accepts exactly that much.
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1, stackKiB: Interop.AllocatorNative.MinimumStackSize / 1024);
        using var store = new Store<int>(allocator, 0);
        StackToken raw = store.CheckoutStack("raw");
        (nint bottom, nint top) = store.GetStackBounds(raw);
        Assert.Equal(Interop.AllocatorNative.MinimumStackSize, (int)(top - bottom));
        unsafe
        {
            Assert.True(Interop.AllocatorNative.Init(bottom, (nuint)(top - bottom) - 4096, TestGuest.CallLoop, 1) == null);
        }
        store.ReturnStack(raw);

        using Fiber fiber = Fiber.Create(store, "smallest", TestGuest.CallLoop, 3, new FiberHostFunctions(_ => new ValueTask<long>(2)));
        Assert.Equal(6, await fiber.RunAsync());
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    internal static long HostAnswer(long level, long below) => (below % 1000) + (2 * level);

    /// <summary>What guest_recurse computes, mirrored in C#.</summary>
    private static (long Result, int Calls) ExpectedRecursion(long depth)
    {
        int calls = 0;
        long Level(long level)
        {
            long below = level < depth ? Level(level + 1) : 0;
            long host = 0;
            if (level % 64 == 0 || level == depth)
            {
                calls++;
                host = HostAnswer(level, below);
            }
            return below + level + host;
        }
        return (Level(0), calls);
    }

    private static unsafe nint AddressOfALocal()
    {
        int local = 0;
        return (nint)(&local);
    }
}
