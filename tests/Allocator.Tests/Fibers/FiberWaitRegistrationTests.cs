using System.Threading.Tasks.Sources;
using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A host function may return a pending value task that refuses the driver's continuation (a value task
/// source already awaited elsewhere throws from OnCompleted). Nothing would ever end that wait, so the host call fails
/// as if the function had thrown: the run faults with that exception, the fiber unwinds and its stack goes back, and
/// the thread that ended an earlier wait of the same run sees nothing of it.</summary>
public sealed class FiberWaitRegistrationTests
{
    [FiberFact]
    public async Task A_first_wait_whose_value_task_refuses_the_continuation_faults_the_run_and_returns_the_stack()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var refusing = new RefusingSource();
        using Fiber fiber = Fiber.Create(store, "refused", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => refusing.Pending()));

        InvalidOperationException thrown = await Assert.ThrowsAsync<InvalidOperationException>(async () => await fiber.RunAsync());

        Assert.Same(RefusingSource.Refusal, thrown);
        Assert.Equal(FiberState.Faulted, fiber.State);
        Assert.Equal(0, store.StacksCheckedOut);
    }

    [FiberFact]
    public void A_later_wait_whose_value_task_refuses_the_continuation_faults_the_run_not_the_completer()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var first = new TaskCompletionSource<long>(TaskCreationOptions.None);
        var refusing = new RefusingSource();
        int calls = 0;
        FiberHostCall refused = default;
        using Fiber fiber = Fiber.Create(store, "refused later", TestGuest.CallLoop, 2, new FiberHostFunctions(call =>
        {
            if (++calls == 1)
            {
                return new ValueTask<long>(first.Task);
            }
            refused = call;
            return refusing.Pending();
        }));

        ValueTask<long> run = fiber.RunAsync();
        Assert.False(run.IsCompleted);

        // The run goes on inline in the completer's SetResult (a thread with no synchronization context, where a task
        // runs its continuations inline); its second wait is refused, which must not come out there.
        Exception? escaped = null;
        var completer = new Thread(() =>
        {
            try
            {
                first.SetResult(1);
            }
            catch (Exception ex)
            {
                escaped = ex;
            }
        });
        completer.Start();
        completer.Join();

        Assert.Null(escaped);
        Assert.True(run.IsCompleted);
        // The refused call has failed (as if its function had thrown): it has ended, while the run's result is still
        // unread and the handle still reaches its driver.
        Assert.NotNull(fiber.Driver);
        Assert.Throws<InvalidOperationException>(() => refused.ArgumentCount);
        InvalidOperationException thrown = Assert.Throws<InvalidOperationException>(() => run.GetAwaiter().GetResult());
        Assert.Same(RefusingSource.Refusal, thrown);
        Assert.Equal(2, calls);
        Assert.Equal(FiberState.Faulted, fiber.State);
        Assert.Equal(0, store.StacksCheckedOut);
    }

    [FiberFact]
    public void A_cancel_that_lands_while_the_continuation_is_refused_ends_the_run_once_as_cancelled()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber? fiber = null;
        // The cancel lands after the wait is published and before the refusal: it ends the run's wait itself, and the
        // refusal must then neither end the run a second time nor leave the fiber waiting.
        var refusing = new RefusingSource(() => fiber!.Cancel());
        fiber = Fiber.Create(store, "cancelled while refused", TestGuest.CallLoop, 1, new FiberHostFunctions(_ => refusing.Pending()));

        ValueTask<long> run = fiber.RunAsync();

        Assert.True(run.IsCompleted);
        Assert.Throws<OperationCanceledException>(() => run.GetAwaiter().GetResult());
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(0, allocator.Stacks.GetStatistics().RefusedReturns);
        fiber.Dispose();
    }

    /// <summary>Pending for ever, and refuses every continuation, as a source awaited by someone else does (after
    /// running <paramref name="beforeRefusing"/>, if any).</summary>
    private sealed class RefusingSource(Action? beforeRefusing = null) : IValueTaskSource<long>
    {
        public static readonly InvalidOperationException Refusal = new("This value task is awaited elsewhere already.");

        public ValueTask<long> Pending() => new(this, 0);

        long IValueTaskSource<long>.GetResult(short token) => throw new InvalidOperationException("Never completed.");

        ValueTaskSourceStatus IValueTaskSource<long>.GetStatus(short token) => ValueTaskSourceStatus.Pending;

        void IValueTaskSource<long>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        {
            beforeRefusing?.Invoke();
            throw Refusal;
        }
    }
}
