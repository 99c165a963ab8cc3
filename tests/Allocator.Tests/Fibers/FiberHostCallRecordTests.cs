using System.Runtime.CompilerServices;
using Allocator.Fibers;
using Allocator.Tests.Cancellation;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>The record every host call of a driver writes its request into, driven directly (a fiber created and not
/// run, so its driver is attached and idle): a call reads its own request while it runs and nothing once it has
/// ended, through each member on its own, and a synchronous binding ends its call as it returns.</summary>
public sealed unsafe class FiberHostCallRecordTests
{
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_generation")]
    private static extern ref long GenerationOf(ref FiberHostCall call);

    [FiberFact]
    public void A_call_reads_its_request_until_it_ends_and_each_member_refuses_on_its_own_after()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "record", TestGuest.CallLoop, 1, FiberHostFunctions.Empty);
        FiberHostCallRecord record = fiber.Driver!.HostCall;
        nint* words = stackalloc nint[] { 11, 22, 33 };

        FiberHostCall call = record.Begin(fiber, function: 5, count: 3, words);
        long generation = GenerationOf(ref call);
        Assert.Equal((5, 3, 11L, 22L, 33L), (call.Function, call.ArgumentCount, call[0], call[1], call[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => call[3]);
        words[0] = 99; // the guest's frame changes after the copy: the call keeps what it was passed
        Assert.Equal(11, call[0]);

        record.End();
        Assert.Throws<InvalidOperationException>(() => call.Function);
        Assert.Throws<InvalidOperationException>(() => call.ArgumentCount);
        Assert.Throws<InvalidOperationException>(() => call[0]);
        // Each read checks on its own: a count read before the end does not let a word through after it.
        Assert.Throws<InvalidOperationException>(() => record.Read(generation, 0));
        Assert.Throws<InvalidOperationException>(() => record.CountOf(generation));
        Assert.Throws<InvalidOperationException>(() => record.FunctionOf(generation));
        Assert.Same(fiber, call.Fiber); // the handle names its fiber for good
    }

    [FiberFact]
    public void A_later_call_on_the_same_record_is_never_shown_through_an_earlier_one()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "record", TestGuest.CallLoop, 1, FiberHostFunctions.Empty);
        FiberHostCallRecord record = fiber.Driver!.HostCall;
        nint* first = stackalloc nint[] { 1, 2 };
        nint* second = stackalloc nint[] { 7, 8, 9, 10 };

        FiberHostCall earlier = record.Begin(fiber, function: 0, count: 2, first);
        long generation = GenerationOf(ref earlier);
        // No End in between: the next call's Begin alone ends the earlier one.
        FiberHostCall later = record.Begin(fiber, function: 1, count: 4, second);

        Assert.Throws<InvalidOperationException>(() => earlier[0]);
        Assert.Throws<InvalidOperationException>(() => earlier.ArgumentCount);
        Assert.Throws<InvalidOperationException>(() => earlier.Function);
        Assert.Throws<InvalidOperationException>(() => record.Read(generation, 1));
        Assert.Equal((1, 4, 7L, 10L), (later.Function, later.ArgumentCount, later[0], later[3]));
    }

    [FiberFact]
    public void A_default_call_names_nothing_and_has_no_arguments()
    {
        FiberHostCall none = default;
        Assert.Null(none.Fiber);
        Assert.Equal((0, 0), (none.Function, none.ArgumentCount));
        Assert.Equal(CancellationToken.None, none.CancellationToken);
        ArgumentOutOfRangeException refused = Assert.Throws<ArgumentOutOfRangeException>(() => none[0]);
        Assert.Contains("no arguments", refused.Message, StringComparison.Ordinal);
    }

    [FiberFact]
    public void A_synchronous_binding_ends_its_call_as_it_returns_before_the_guest_goes_on()
    {
        // Served directly, as the native callback does: between the function's return and the guest's next call
        // nothing else would end it, so only the binding's own end can refuse it there.
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostCall kept = default;
        FiberHostFunctions hosts = FiberHostFunctions.From(FiberHostEntry.Sync(call =>
        {
            kept = call;
            return call[0] + call[1];
        }));
        using Fiber fiber = Fiber.Create(store, "binding", TestGuest.CallLoop, 1, hosts);
        var binding = new SyncHostBinding(fiber.Driver!);
        try
        {
            nint* words = stackalloc nint[] { 40, 2 };
            int status = -1;
            Assert.Equal(42, binding.Serve(0, words, 2, &status));
            Assert.Equal((int)SyncHostBinding.Status.Handled, status);
            Assert.Throws<InvalidOperationException>(() => kept.ArgumentCount);
            Assert.Throws<InvalidOperationException>(() => kept[0]);
            Assert.Same(fiber, kept.Fiber);
        }
        finally
        {
            binding.Dispose();
        }
        Assert.Equal(0, binding.Handle);
        binding.Dispose(); // a second Dispose finds no handle and frees nothing
        Assert.Equal(0, binding.Handle);
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_asynchronous_call_has_ended_once_the_guest_goes_on_before_its_next_call_or_end(bool pending)
    {
        // The guest calls once, then polls and yields (guest_call_then_poll), so after the call the fiber is alive, its
        // driver attached, and no later call has begun: only the end of this call can refuse it here. Answered at
        // once, the call ends inside the resume (ServeInline); pending, when the driver takes its result (HostResult).
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new PollCounters(stopAfterYields: 1);
        var source = new FiberPendingHostCallAllocationTests.ReusablePendingSource();
        var epoch = new FiberEpoch();
        FiberHostCall kept = default;
        Fiber fiber = Fiber.Create(store, "call-then-yield", TestGuest.CallThenPoll, counters.Address,
            new FiberHostFunctions(call =>
            {
                kept = call;
                Assert.Equal(0, call.ArgumentCount); // readable while it runs
                call.Fiber.SetEpochDeadline(epoch, 0); // the guest's first poll after the call yields
                return pending ? source.Answer(call) : new ValueTask<long>(0);
            }));
        fiber.SetEpochDeadlineCallback(_ => FiberDeadlineUpdate.Yield(0));
        var context = new QueueingContext();

        ValueTask<long> run = context.Run(() => fiber.RunAsync());
        if (pending)
        {
            Assert.False(run.IsCompleted);
            Assert.Equal(0, context.Pending);
            Assert.True(context.Run(source.TryComplete)); // the run goes on inline, polls and yields
        }

        Assert.False(run.IsCompleted);
        Assert.Equal(1, context.Pending); // parked at its yield: alive, no later call
        Assert.NotNull(fiber.Driver);
        Assert.Throws<InvalidOperationException>(() => kept.ArgumentCount);
        Assert.Throws<InvalidOperationException>(() => kept.Function);
        Assert.Same(fiber, kept.Fiber);

        context.RunUntil(() => run.IsCompleted);
        Assert.Equal(1, run.Result);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }

    [FiberTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_call_whose_wait_was_given_up_ends_when_its_host_task_ends(bool revoked)
    {
        // A cancel (or a finalizer's revoke) ends the run's wait while the host task keeps the fiber: the call still
        // runs, so its request stays readable, until the task ends; then it has ended, though the fiber's handle
        // still reaches its driver.
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1);
        var store = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>();
        using var counters = new GuestCounters();
        FiberHostCall kept = default;
        Fiber fiber = Fiber.Create(store, "given-up", TestGuest.HonoursCancel, counters.Address, new FiberHostFunctions(call =>
        {
            kept = call;
            return new ValueTask<long>(gate.Task);
        }));
        ValueTask<long> run = fiber.RunAsync();
        Assert.False(run.IsCompleted);
        if (revoked)
        {
            store.ReleaseAbandoned(); // what the finalizer does while the host task is pending
        }
        else
        {
            fiber.Cancel();
        }
        Assert.True(run.IsCompleted);
        Assert.NotNull(fiber.Driver);
        Assert.Equal(0, kept.ArgumentCount); // the host task still runs: so does its call

        gate.SetResult(1); // the task has ended

        Assert.True(SpinWait.SpinUntil(() => CallEnded(kept), CancellationAssert.Timeout), "the call never ended");
        Assert.NotNull(fiber.Driver);
        Assert.Throws<InvalidOperationException>(() => kept.ArgumentCount);
        Assert.Throws<InvalidOperationException>(() => kept.Function);
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, allocator.Stacks.InUse);
        fiber.Dispose();
        store.Dispose();
    }

    private static bool CallEnded(FiberHostCall call)
    {
        try
        {
            _ = call.ArgumentCount;
            return false;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }
}
