using System.Diagnostics;
using System.Reflection;
using System.Threading.Tasks.Sources;
using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A pending host call allocates nothing in steady state: the driver is the value task source its run awaits
/// and its continuation on the host's value task is one cached delegate (no AsTask, no async method, no WhenAny).
/// Measured as the difference between a fiber with many pending calls and one with few, so the per-fiber costs
/// (driver, handle, lease, the cached delegate) cancel out.</summary>
public sealed class FiberPendingHostCallAllocationTests
{
    [FiberFact]
    public void A_pending_host_call_allocates_nothing_in_steady_state()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var source = new ReusablePendingSource();
        FiberHostFunctions host = new(source.Answer);
        RunPending(store, host, source, 50); // warm up: JIT, tiering, the pooled state machine

        // The least of three windows each: a one-off allocation by the runtime in one window (seen under Wine: 112 B
        // once) says nothing about what a call costs. A per-call cost shows in every window, 1000 times over.
        long few = long.MaxValue, many = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            few = Math.Min(few, AllocatedBy(() => RunPending(store, host, source, 10)));
            many = Math.Min(many, AllocatedBy(() => RunPending(store, host, source, 1010)));
        }

        Assert.Equal(0, many - few);
    }

    [FiberFact]
    public void A_completed_pending_call_resumes_the_run_inline_with_its_own_answer()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var source = new ReusablePendingSource();
        // guest_call_loop sums the answers; the source answers 1, 2, 3, ...
        Assert.Equal(100 * 101 / 2, RunPending(store, new FiberHostFunctions(source.Answer), source, 100));
        Assert.Equal(100, source.Completed);
    }

    [FiberFact]
    public void A_scoped_run_that_waits_allocates_no_more_than_a_fiber_created_and_run_by_hand()
    {
        // Store.RunFiberAsync is an async method: once its run waits, its state machine is boxed. The pooling builder
        // reuses the box, so the scoped way costs what Fiber.Create + RunAsync cost (the Fiber handle), nothing more.
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var source = new ReusablePendingSource();
        FiberHostFunctions host = new(source.Answer);
        for (int i = 0; i < 50; i++)
        {
            RunPendingByHand(store, host, source);
            RunPendingScoped(store, host, source);
        }

        long byHand = long.MaxValue, scoped = long.MaxValue;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            byHand = Math.Min(byHand, AllocatedBy(() =>
            {
                for (int i = 0; i < 100; i++)
                {
                    RunPendingByHand(store, host, source);
                }
            }));
            scoped = Math.Min(scoped, AllocatedBy(() =>
            {
                for (int i = 0; i < 100; i++)
                {
                    RunPendingScoped(store, host, source);
                }
            }));
        }

        // win-x64: the runtime boxes the await of a value task in an async method (dotnet/runtime#130185), 40 B a run
        // measured under Wine; without the driver's reuse a run cost about 400 B more, on both systems.
        long perRunAllowed = OperatingSystem.IsWindows() ? 40 : 0;
        // A Debug build of the library (`dotnet test` without -c Release): the compiler makes an async method's state
        // machine a class, allocated on every call, which no builder can pool (128 B a run measured on Linux). The
        // missing driver reuse (about 400 B a run) still fails the check there.
        if (typeof(Store<>).Assembly.GetCustomAttribute<DebuggableAttribute>() is { IsJITOptimizerDisabled: true })
        {
            perRunAllowed += 192;
        }
        Assert.InRange(scoped - byHand, 0, perRunAllowed * 100);
    }

    private static long AllocatedBy(Action action)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        action();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>Runs a fiber making <paramref name="calls"/> host calls, each pending until this loop completes it;
    /// the run goes on inline, on this thread.</summary>
    private static long RunPending(Store<int> store, FiberHostFunctions host, ReusablePendingSource source, int calls)
    {
        source.Restart();
        using Fiber fiber = Fiber.Create(store, "pending", TestGuest.CallLoop, calls, host);
        ValueTask<long> run = fiber.RunAsync();
        while (!run.IsCompleted)
        {
            Assert.True(source.TryComplete(), "the run is waiting with no host call outstanding");
        }
        Assert.Equal(calls, source.Completed);
        return run.GetAwaiter().GetResult();
    }

    /// <summary>The same run by hand: Fiber.Create, RunAsync, Dispose.</summary>
    private static void RunPendingByHand(Store<int> store, FiberHostFunctions host, ReusablePendingSource source)
    {
        source.Restart();
        using Fiber fiber = Fiber.Create(store, "pending", TestGuest.CallLoop, 1, host);
        ValueTask<long> run = fiber.RunAsync();
        if (run.IsCompleted || !source.TryComplete() || !run.IsCompleted || run.GetAwaiter().GetResult() != 1)
        {
            throw new InvalidOperationException("the run did not wait once and end with its one answer");
        }
    }

    /// <summary>One scoped run (<see cref="Store{T}.RunFiberAsync"/>) making one host call, pending until this loop
    /// completes it. Checked without Assert, whose generic comparisons allocate inside the measured window.</summary>
    private static void RunPendingScoped(Store<int> store, FiberHostFunctions host, ReusablePendingSource source)
    {
        source.Restart();
        ValueTask<long> run = store.RunFiberAsync("pending", TestGuest.CallLoop, 1, host);
        if (run.IsCompleted || !source.TryComplete() || !run.IsCompleted || run.GetAwaiter().GetResult() != 1)
        {
            throw new InvalidOperationException("the scoped run did not wait once and end with its one answer");
        }
    }

    /// <summary>One host call at a time, pending until <see cref="TryComplete"/>; answers 1, 2, 3, ... Reused for every
    /// call, so it allocates nothing itself.</summary>
    internal sealed class ReusablePendingSource : IValueTaskSource<long>
    {
        private ManualResetValueTaskSourceCore<long> _core;
        private bool _outstanding;

        public int Completed { get; private set; }

        public void Restart() => Completed = 0;

        public ValueTask<long> Answer(FiberHostCall call)
        {
            _core.Reset();
            _outstanding = true;
            return new ValueTask<long>(this, _core.Version);
        }

        public bool TryComplete()
        {
            if (!_outstanding)
            {
                return false;
            }
            _outstanding = false;
            Completed++;
            _core.SetResult(Completed);
            return true;
        }

        long IValueTaskSource<long>.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<long>.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<long>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
