using Allocator.Fibers;
using Allocator.Tests.Cancellation;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Asynchronous host functions are started inside the resume (FiberReadyHostCallback): a completed task answers
/// the guest there, a pending one goes to the driver, which waits for it exactly as if it had started it. What a host
/// function and the guest can observe must not depend on which way a call went.</summary>
public sealed class FiberReadyHostCallTests
{
    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_asynchronous_call_kept_past_its_end_refuses_its_request_instead_of_showing_a_later_calls(bool pending)
    {
        // Every call of a fiber (and of the later fibers of its reused driver) writes its request into the same
        // record: a call kept past its end must throw, never read the next call's words.
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var kept = new List<FiberHostCall>();
        var refusedWhileLaterRan = 0;
        Fiber fiber = Fiber.Create(store, "kept-async", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed: 3, count: 4),
            FiberHostFunctions.From(FiberHostEntry.Async(async call =>
            {
                if (kept.Count > 0)
                {
                    Assert.Throws<InvalidOperationException>(() => kept[^1][1]);
                    refusedWhileLaterRan++;
                }
                kept.Add(call);
                if (pending)
                {
                    await Task.Yield();
                }
                return call[0] * 7 + call[1];
            })));

        Assert.Equal(Enumerable.Range(0, 4).Sum(n => 3L * 7 + n), await fiber.RunAsync());
        Assert.Equal(3, refusedWhileLaterRan);
        Assert.All(kept, call => HostCallArgumentChecks.AssertEnded(call, fiber));
    }

    [FiberFact]
    public async Task Ready_and_pending_answers_in_any_order_each_reach_the_guest()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        int calls = 0;
        // Ready, ready, pending, ready, pending, ...: the first pending call moves the fiber to the driver's path.
        Fiber fiber = Fiber.Create(store, "mixed", TestGuest.CallLoop, 12, new FiberHostFunctions(async call =>
        {
            int n = ++calls;
            Assert.Equal(FiberState.Suspended, call.Fiber.State);
            if (n % 3 == 0)
            {
                await Task.Yield();
            }
            return n;
        }));

        Assert.Equal(12 * 13 / 2, await fiber.RunAsync());
        Assert.Equal(12, calls);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberTheory]
    [MemberData(nameof(HostCallArgumentChecks.EveryCount), MemberType = typeof(HostCallArgumentChecks))]
    public async Task A_call_answered_inside_the_resume_sees_exactly_the_guests_arguments_while_it_runs(int count)
    {
        // The callback builds the call straight from the guest's words (no intermediate copy): every argument the
        // guest passed must arrive, none beyond its count, and once the call has ended it must show nothing.
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostCall kept = default;
        HostCallArgumentChecks.Seen? seen = null;
        Fiber fiber = Fiber.Create(store, "arguments", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 0, argumentCount: count),
            FiberHostFunctions.From(FiberHostEntry.Async(call =>
            {
                kept = call;
                seen = HostCallArgumentChecks.Read(call);
                long sum = 0;
                for (int i = 0; i < call.ArgumentCount; i++)
                {
                    sum += call[i];
                }
                return new ValueTask<long>(sum);
            })));

        Assert.Equal(count * (count + 1) / 2, await fiber.RunAsync());
        HostCallArgumentChecks.AssertSeenThenEnded(seen, kept, fiber, function: 0, count);
    }

    [FiberFact]
    public async Task A_host_task_started_inline_that_is_pending_after_its_own_cancel_keeps_the_stack_until_it_ends()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber fiber = Fiber.Create(store, "cancel-then-pending", TestGuest.HonoursCancel, counters.Address, new FiberHostFunctions(call =>
        {
            call.Fiber.Cancel(); // from its own host function: returns at once
            return new ValueTask<long>(gate.Task);
        }));

        OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => fiber.RunAsync().AsTask());

        // The task started and may write to guest memory: the stack stays out, the guest waits in its call.
        Assert.Equal("Fiber 'cancel-then-pending' was cancelled (Cancel, Dispose or its Store's Dispose).", cancelled.Message);
        Assert.Equal(FiberState.Cancelling, fiber.State);
        Assert.Equal(1, allocator.Stacks.InUse);
        Assert.Equal(0, counters.CancelsSeen);

        gate.SetResult(0);
        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled);
        Assert.Equal((1L, 1L), (counters.HostCalls, counters.CancelsSeen));
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public void A_host_function_that_runs_another_fiber_leaves_its_own_calls_served_for_its_own_fiber()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var seenByOuter = new List<Fiber>();
        var seenByInner = new List<Fiber>();
        FiberHostFunctions inner = new(call =>
        {
            seenByInner.Add(call.Fiber);
            return ValueTask.FromResult(1L);
        });
        Fiber? innerFiber = null;
        Fiber outer = Fiber.Create(store, "outer", TestGuest.CallLoop, 3, new FiberHostFunctions(call =>
        {
            seenByOuter.Add(call.Fiber);
            if (innerFiber is null)
            {
                // Runs inside the outer fiber's resume: the inner resume must hand the callback back afterwards.
                innerFiber = Fiber.Create(store, "inner", TestGuest.CallLoop, 2, inner);
                Assert.Equal(2, OurRun(innerFiber));
            }
            return ValueTask.FromResult(10L);
        }));

        Assert.Equal(30, OurRun(outer));
        Assert.All(seenByOuter, f => Assert.Same(outer, f));
        Assert.Equal(3, seenByOuter.Count);
        Assert.Equal(new[] { innerFiber!, innerFiber! }, seenByInner);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberFact]
    public void A_ready_call_made_after_the_run_moved_to_another_thread_is_served_inside_that_threads_resume()
    {
        // The callback finds its driver through the thread the resume runs on. The run starts on a thread of its own,
        // which has ended (and its per-thread state been collected) when the test thread goes on with the run after
        // the guest's yield and the guest makes its call: anything kept from the first resume would name the dead
        // thread, and the call would miss its driver.
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var queue = new QueueingContext();
        Fiber? seen = null;
        bool servedInline = false;
        int servingThread = 0;
        FiberHostFunctions host = FiberHostFunctions.From(FiberHostEntry.Async(call =>
        {
            seen = call.Fiber;
            servingThread = Environment.CurrentManagedThreadId;
            servedInline = new System.Diagnostics.StackTrace().ToString().Contains(nameof(FiberReadyHostCallback), StringComparison.Ordinal);
            return new ValueTask<long>(call[0] + 1);
        }));
        Fiber? fiber = null;
        Task<long>? run = null;
        int firstThread = 0;
        var starter = new Thread(() =>
        {
            firstThread = Environment.CurrentManagedThreadId;
            fiber = Fiber.Create(store, "moves", TestGuest.YieldThenCall, 41, host);
            run = queue.Run(() => fiber.RunAsync().AsTask()); // the yield is posted to the queue
        });
        starter.Start();
        starter.Join();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(run!.IsCompleted);

        queue.RunUntil(() => run.IsCompleted);

        Assert.Equal(42, run.GetAwaiter().GetResult());
        Assert.Same(fiber, seen);
        Assert.NotEqual(firstThread, servingThread);
        Assert.True(servedInline, "the call after the move went to the driver instead of the resume's callback");
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber!, FiberState.Completed);
    }

    /// <summary>Runs a fiber whose host calls all answer at once: it must end synchronously.</summary>
    private static long OurRun(Fiber fiber)
    {
        ValueTask<long> run = fiber.RunAsync();
        Assert.True(run.IsCompleted);
        return run.GetAwaiter().GetResult();
    }
}
