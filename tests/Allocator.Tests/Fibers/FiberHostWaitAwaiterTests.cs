using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>The run's wait for a pending host task once went through an await (first of a ValueTask with
/// ConfigureAwait(false), then of an awaiter of its own, FiberHostWait, because a struct awaiter was boxed per await on
/// win-x64); now the host task's end goes on with the run itself, with no await at all (FiberDriver.ContinueRun).
/// These pin what the await gave and the chain must keep: no synchronization context is captured, and the run goes on
/// in its own execution context.</summary>
public sealed class FiberHostWaitAwaiterTests
{
    private static readonly AsyncLocal<string?> s_ambient = new();

    [FiberFact]
    public void A_completed_pending_call_resumes_the_run_inline_and_posts_nothing_to_the_callers_context()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        // A value task source, not a Task: a Task never runs a continuation inline under a foreign context.
        var source = new FiberPendingHostCallAllocationTests.ReusablePendingSource();
        using Fiber fiber = Fiber.Create(store, "no-context", TestGuest.CallLoop, 3, new FiberHostFunctions(source.Answer));
        var context = new QueueingContext();

        // Started and completed with the queueing context current: an awaiter that captured it would post the rest of
        // the run there, and the run would stop at the first completed call.
        ValueTask<long> run = context.Run(() => fiber.RunAsync());
        while (!run.IsCompleted)
        {
            Assert.True(context.Run(source.TryComplete), "the run is waiting with no host call outstanding");
        }

        Assert.Equal(0, context.Pending);
        Assert.Equal(3, source.Completed);
        Assert.Equal(1 + 2 + 3, run.Result);
    }

    [FiberFact]
    public void After_a_pending_call_the_run_goes_on_in_its_own_execution_context_not_the_completers()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var seen = new List<string?>();
        TaskCompletionSource<long>? gate = null;
        using Fiber fiber = Fiber.Create(store, "ambient", TestGuest.CallLoop, 2, new FiberHostFunctions(_ =>
        {
            seen.Add(s_ambient.Value);
            gate = new TaskCompletionSource<long>();
            return new ValueTask<long>(gate.Task);
        }));
        s_ambient.Value = "run";

        ValueTask<long> run = fiber.RunAsync();
        for (int i = 1; i <= 2; i++)
        {
            TaskCompletionSource<long> waiting = gate!;
            // Completed on a thread with an ambient value of its own: the rest of the run runs on that thread, inline,
            // but in the context the run captured.
            var completer = new Thread(() =>
            {
                s_ambient.Value = "completer";
                waiting.SetResult(i);
            });
            completer.Start();
            completer.Join();
        }

        Assert.True(run.IsCompletedSuccessfully);
        Assert.Equal(1 + 2, run.Result);
        Assert.Equal(new[] { "run", "run" }, seen);
    }
}
