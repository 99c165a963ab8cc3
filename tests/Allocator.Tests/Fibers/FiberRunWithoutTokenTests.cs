using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A run without a token starts on the caller's stack and hands over to the async method only when it must
/// wait (FiberDriver.RunUntilWait). It must look exactly like an async method to its caller.</summary>
public sealed class FiberRunWithoutTokenTests
{
    private static readonly AsyncLocal<string?> s_ambient = new();

    [FiberFact]
    public void A_failure_comes_back_in_the_returned_task_not_thrown_by_RunAsync()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        Fiber fiber = Fiber.Create(store, "throws", TestGuest.CallLoop, 3,
            new FiberHostFunctions(_ => throw new InvalidDataException("host")));

        ValueTask<long> run = fiber.RunAsync(); // must not throw here

        Assert.True(run.IsFaulted);
        Assert.Equal("host", Assert.Throws<InvalidDataException>(() => run.GetAwaiter().GetResult()).Message);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberFact]
    public void What_a_host_function_does_to_the_execution_context_stays_inside_the_run()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        s_ambient.Value = "caller";
        var seen = new List<string?>();
        Fiber fiber = Fiber.Create(store, "ambient", TestGuest.CallLoop, 2, new FiberHostFunctions(_ =>
        {
            seen.Add(s_ambient.Value);
            s_ambient.Value = "host"; // not an async method: nothing but the run's start restores this
            return ValueTask.FromResult(1L);
        }));

        ValueTask<long> run = fiber.RunAsync();

        Assert.True(run.IsCompletedSuccessfully);
        Assert.Equal(2, run.Result);
        Assert.Equal("caller", s_ambient.Value);
        Assert.Equal(new[] { "caller", "host" }, seen);
    }

    [FiberFact]
    public async Task A_run_that_must_wait_hands_over_and_ends_with_every_answer()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        int calls = 0;
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Ready, then pending on the third call: the hand-over happens mid-run, with ownership held.
        Fiber fiber = Fiber.Create(store, "hand-over", TestGuest.CallLoop, 5, new FiberHostFunctions(_ =>
        {
            int n = ++calls;
            return n == 3 ? new ValueTask<long>(gate.Task) : ValueTask.FromResult((long)n);
        }));

        ValueTask<long> run = fiber.RunAsync();

        Assert.False(run.IsCompleted);
        Assert.Equal(3, calls);
        gate.SetResult(3);
        Assert.Equal(15, await run);
        Assert.Equal(5, calls);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }
}
