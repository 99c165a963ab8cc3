using Allocator.Fibers;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>What the driver checks of a guest's host call before any host function runs: the function exists, the
/// argument count is within 0..<see cref="FiberHostCall.MaxArguments"/>, and arguments come with a pointer; a bad
/// request faults the fiber with a message saying which rule it broke.</summary>
public sealed class FiberHostCallCheckTests
{
    [FiberTheory]
    [InlineData(1, 0, "the host table has 1 function(s)")]
    [InlineData(0, FiberHostCall.MaxArguments + 1, "a host call takes 0 to 8 arguments")]
    [InlineData(0, -1, "a host call takes 0 to 8 arguments")]
    public async Task An_invalid_host_call_faults_the_fiber_and_says_what_was_wrong(int function, int argumentCount, string problem)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        int served = 0;
        var hosts = new FiberHostFunctions(_ => ValueTask.FromResult((long)++served));
        nint argument = (nint)(((long)argumentCount << 8) | (uint)function); // guest_call_function's encoding, negative counts too
        Fiber fiber = Fiber.Create(store, "bad-call", TestGuest.CallFunction, argument, hosts);

        FiberHostCallException bad = await Assert.ThrowsAsync<FiberHostCallException>(() => fiber.RunAsync().AsTask());

        Assert.Equal($"Fiber 'bad-call' made an invalid host call to function {function} with {argumentCount} argument(s): {problem}.", bad.Message);
        Assert.Equal((function, argumentCount, "bad-call"), (bad.Function, bad.ArgumentCount, bad.FiberName));
        Assert.Equal(0, served);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Faulted);
    }

    [FiberFact]
    public async Task Arguments_without_a_pointer_fault_the_fiber_and_none_without_one_are_fine()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        var hosts = new FiberHostFunctions(call => ValueTask.FromResult(40L + call.ArgumentCount));
        Fiber bad = Fiber.Create(store, "null-args", TestGuest.CallWithoutArguments, 2, hosts);
        Fiber none = Fiber.Create(store, "no-args", TestGuest.CallWithoutArguments, 0, hosts);

        FiberHostCallException refused = await Assert.ThrowsAsync<FiberHostCallException>(() => bad.RunAsync().AsTask());
        long result = await none.RunAsync();

        Assert.Equal("Fiber 'null-args' made an invalid host call to function 0 with 2 argument(s): the argument pointer is null.", refused.Message);
        Assert.Equal(FiberState.Faulted, bad.State);
        Assert.Equal(40, result);
        FiberEndingTests.AssertReturnedOnce(allocator, store, none, FiberState.Completed);
    }

    [FiberFact]
    public async Task The_most_arguments_a_call_may_pass_all_reach_the_host_function()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        long[]? seen = null;
        var hosts = new FiberHostFunctions(call =>
        {
            seen = Enumerable.Range(0, call.ArgumentCount).Select(i => call[i]).ToArray();
            return ValueTask.FromResult(1L);
        });
        using Fiber fiber = Fiber.Create(store, "most-args", TestGuest.CallFunction, TestGuest.CallFunctionArgument(0, FiberHostCall.MaxArguments), hosts);

        Assert.Equal(1, await fiber.RunAsync());

        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6, 7, 8 }, seen);
    }
}
