using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Unchecked host functions (<see cref="FiberHostEntry.Unchecked"/>): native function pointers the guest's
/// host call calls directly on the thread's stack, with no managed dispatch; the host call's checks still come first.</summary>
/// <remarks>The functions are static [UnmanagedCallersOnly] methods recording into static fields: the tests of one
/// class run one at a time, and no other class calls them.</remarks>
public sealed class FiberUncheckedHostCallTests
{
    private static long s_calls;
    private static int s_function = -1;
    private static int s_argumentCount = -1;
    private static long s_argumentSum;
    private static nint s_argumentAddress;
    private static nint s_localAddress;

    private static unsafe FiberHostEntry RecordEntry => FiberHostEntry.Unchecked(&Record);

    private static unsafe FiberHostEntry CountEntry => FiberHostEntry.Unchecked(&Count);

    [UnmanagedCallersOnly]
    private static unsafe long Record(FiberUncheckedCall* call)
    {
        long local = 0;
        Interlocked.Increment(ref s_calls);
        s_function = call->Function;
        s_argumentCount = call->ArgumentCount;
        s_argumentAddress = (nint)call->Arguments;
        s_localAddress = (nint)Unsafe.AsPointer(ref local);
        long sum = 0;
        for (int i = 0; i < call->ArgumentCount; i++)
        {
            sum += call->Arguments[i];
        }
        s_argumentSum = sum;
        return call->Function * 1000 + sum * 10 + call->ArgumentCount;
    }

    [UnmanagedCallersOnly]
    private static unsafe long Count(FiberUncheckedCall* call) => Interlocked.Increment(ref s_calls) > 0 ? 300 : 0;

    private static void Reset()
    {
        s_calls = 0;
        s_function = -1;
        s_argumentCount = -1;
        s_argumentSum = 0;
        s_argumentAddress = 0;
        s_localAddress = 0;
    }

    [FiberFact]
    public async Task The_function_gets_the_guests_index_and_argument_words_in_place_and_its_return_reaches_the_guest()
    {
        Reset();
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        using var store = new Store<int>(allocator, 0);
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => -1), RecordEntry);
        (nint Bottom, nint Top) stack = FiberPools.NextStackBounds(store);
        using Fiber fiber = Fiber.Create(store, "unchecked", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 1, argumentCount: 3), hosts);

        long result = await fiber.RunAsync();

        Assert.Equal(1 * 1000 + (1 + 2 + 3) * 10 + 3, result);
        Assert.Equal(1, s_calls);
        Assert.Equal(1, s_function);
        Assert.Equal(3, s_argumentCount);
        Assert.Equal(6, s_argumentSum);
        // The guest's own argument array, on the fiber stack: called straight from the native host call, not through
        // the driver (which would have copied the words onto the thread's stack).
        Assert.True(s_argumentAddress >= stack.Bottom && s_argumentAddress < stack.Top, "the arguments were copied: the call went through the driver");
        Assert.False(s_localAddress >= stack.Bottom && s_localAddress < stack.Top, "the unchecked function ran on the fiber stack");
        Assert.Equal(FiberState.Completed, fiber.State);
    }

    [FiberFact]
    public async Task Synchronous_asynchronous_and_unchecked_functions_mix_in_one_table()
    {
        Reset();
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        int syncCalls = 0, asyncCalls = 0;
        FiberHostFunctions hosts = FiberHostFunctions.From(
            FiberHostEntry.Sync(_ => ++syncCalls),
            FiberHostEntry.Async(async _ =>
            {
                await Task.Yield();
                asyncCalls++;
                return 20;
            }),
            RecordEntry,
            CountEntry);

        using (Fiber each = Fiber.Create(store, "each", TestGuest.CallEach, 4, hosts))
        {
            // 1 + 20 + (2 * 1000 + 0 + 0) + 300: each entry answered its own index.
            Assert.Equal(1 + 20 + 2000 + 300, await each.RunAsync());
        }
        Assert.Equal(1, syncCalls);
        Assert.Equal(1, asyncCalls);
        Assert.Equal(2, s_calls);
        Assert.Equal(2, s_function);
        Assert.Equal(0, s_argumentCount);

        using (Fiber viaUnchecked = Fiber.Create(store, "unchecked", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 2, argumentCount: 2), hosts))
        {
            Assert.Equal(2000 + 30 + 2, await viaUnchecked.RunAsync());
        }
        using (Fiber viaSync = Fiber.Create(store, "sync", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 0, argumentCount: 2), hosts))
        {
            Assert.Equal(2, await viaSync.RunAsync());
        }
        Assert.Equal(3, s_calls);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberFact]
    public async Task A_cancelled_fiber_does_not_call_it()
    {
        Reset();
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostFunctions hosts = FiberHostFunctions.From(
            FiberHostEntry.Sync(call =>
            {
                call.Fiber.Cancel();
                return 1;
            }),
            CountEntry);
        Fiber fiber = Fiber.Create(store, "cancelled", TestGuest.CallEach, 2, hosts);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());

        Assert.Equal(0, s_calls);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task An_unchecked_call_loop_cancelled_from_another_thread_stops_at_its_next_call()
    {
        Reset();
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        // This guest calls through fiber.h's inline host call, which hands unchecked functions to the exported one.
        Fiber fiber = Fiber.Create(store, "unchecked-loop", TestGuest.HonoursCancel, counters.Address, FiberHostFunctions.From(CountEntry));
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref s_calls) > 10_000, CancellationAssert.Timeout), "the loop never got going");

        fiber.Cancel();
        long callsWhenCancelReturned = Volatile.Read(ref s_calls);

        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(CancellationAssert.Timeout));
        Assert.Equal(1, counters.CancelsSeen);
        Assert.Equal(callsWhenCancelReturned, Volatile.Read(ref s_calls));
        Assert.Equal(callsWhenCancelReturned + 1, counters.HostCalls); // the last call was refused before the function
    }

    [FiberFact]
    public async Task A_fiber_past_its_deadline_does_not_call_it()
    {
        Reset();
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var epoch = new FiberEpoch();
        Fiber fiber = Fiber.Create(store, "unchecked-deadline", TestGuest.HonoursCancel, counters.Address, FiberHostFunctions.From(CountEntry));
        fiber.SetEpochDeadline(epoch, 1);
        Task<long> run = Task.Run(() => fiber.RunAsync().AsTask());
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref s_calls) > 10_000, CancellationAssert.Timeout), "the loop never got going");

        epoch.Increment();

        await Assert.ThrowsAsync<FiberInterruptedException>(() => run.WaitAsync(CancellationAssert.Timeout));
        Assert.Equal(1, counters.CancelsSeen);
        Assert.Equal(counters.HostCalls - 1, Volatile.Read(ref s_calls));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Interrupted);
    }

    [FiberFact]
    public void A_deadline_the_callback_extends_lets_the_call_go_on_to_the_function()
    {
        Reset();
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var epoch = new FiberEpoch();
        int callbacks = 0;
        using Fiber fiber = Fiber.Create(store, "unchecked-extended", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 0, argumentCount: 2), FiberHostFunctions.From(RecordEntry));
        fiber.SetEpochDeadline(epoch, 0); // already due: the host call yields first
        fiber.SetEpochDeadlineCallback(_ =>
        {
            callbacks++;
            return FiberDeadlineUpdate.Continue(10);
        });

        ValueTask<long> run = fiber.RunAsync();

        Assert.True(run.IsCompletedSuccessfully);
        Assert.Equal(0 * 1000 + 30 + 2, run.Result);
        Assert.Equal(1, callbacks);
        Assert.Equal(1, s_calls);
    }

    [FiberFact]
    public async Task The_tables_managed_entry_for_an_unchecked_function_calls_it_too()
    {
        // What the driver would run if a call ever reached it instead of the native host call: the same function.
        Reset();
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(_ => -1), RecordEntry);

        long answer = await hosts[1](default);

        Assert.Equal(0, answer); // function 0 of a default call, no arguments
        Assert.Equal(1, s_calls);
        Assert.Equal(0, s_argumentCount);
        Assert.NotEqual(0, s_argumentAddress); // a buffer of its own, never a null pointer
    }

    [Fact]
    public unsafe void A_null_function_pointer_is_refused()
    {
        ArgumentNullException refused = Assert.Throws<ArgumentNullException>(() => FiberHostEntry.Unchecked(null));
        Assert.Equal("function", refused.ParamName);
    }

    [FiberFact]
    public void Unchecked_calls_allocate_nothing_per_call()
    {
        Reset();
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostFunctions hosts = FiberHostFunctions.From(CountEntry);
        RunCalls(store, hosts, 1000); // JIT, tiering and the Store's first fiber out of the way

        // The least of three windows each: a one-off allocation by the runtime in one window (seen under Wine: 112 B
        // more in the 10-call window once) says nothing about what a call costs.
        long few = long.MaxValue, many = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            RunCalls(store, hosts, 10);
            few = Math.Min(few, GC.GetAllocatedBytesForCurrentThread() - before);
            before = GC.GetAllocatedBytesForCurrentThread();
            RunCalls(store, hosts, 10_010);
            many = Math.Min(many, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        Assert.Equal(few, many);
        Assert.Equal(1000 + 3 * (10 + 10_010), s_calls);
    }

    private static void RunCalls(Store<int> store, FiberHostFunctions hosts, int calls)
    {
        using Fiber fiber = Fiber.Create(store, "calls", TestGuest.CallLoop, calls, hosts);
        ValueTask<long> run = fiber.RunAsync();
        Assert.True(run.IsCompletedSuccessfully, "a fiber whose host calls are all unchecked finishes in RunAsync");
        Assert.Equal(300L * calls, run.Result);
    }
}
