using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>The seed scenario, Wasmtime 28's <c>into_data</c> leak, end to end with real fibers.</summary>
public sealed class FiberStoreTests
{
    [FiberFact]
    public async Task Async_host_calls_on_pooled_stacks_then_IntoData_leaves_no_stack_in_use()
    {
        // Caching on, as in Wasmtime: the Store keeps the fiber's stack after the run, and IntoData must flush it.
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 1, cache: true);
        var store = new Store<string>(allocator, "instance data");
        var hosts = new FiberHostFunctions(async call =>
        {
            await Task.Delay(1);
            return call[0] + call[1];
        });
        Fiber fiber = Fiber.Create(store, "seed-fiber", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(3, 4), hosts);

        long result = await fiber.RunAsync();

        Assert.Equal(3 + 3 + 3 + 3 + 0 + 1 + 2 + 3, result);
        Assert.Equal(1, allocator.Stacks.InUse); // cached in the Store, not yet back in the pool
        string data = store.IntoData();
        Assert.Equal("instance data", data);
        Assert.Equal(0, allocator.Stacks.InUse);
        // The one stack can be checked out again: the pool did not run out.
        using var next = new Store<int>(allocator, 0);
        next.CheckoutStack("next");
    }

    [FiberFact]
    public async Task IntoData_while_a_fiber_is_suspended_names_it_and_leaves_the_store_usable()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: 2, cache: true);
        var store = new Store<string>(allocator, "instance data");
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var hosts = new FiberHostFunctions(_ => new ValueTask<long>(gate.Task));
        Fiber fiber = Fiber.Create(store, "suspended-fiber", TestGuest.CallLoop, 1, hosts);
        ValueTask<long> run = fiber.RunAsync();
        Assert.Equal(FiberState.Suspended, fiber.State);

        StacksCheckedOutException refused = Assert.Throws<StacksCheckedOutException>(() => store.IntoData());

        Assert.Equal(1, refused.Count);
        Assert.Equal(["suspended-fiber"], refused.Owners);
        Assert.Contains("suspended-fiber", refused.Message);
        Assert.Equal(FiberState.Suspended, fiber.State);
        Assert.Equal("instance data", store.Data); // still usable
        gate.SetResult(11);
        Assert.Equal(11, await run);
        Assert.Equal("instance data", store.IntoData());
        Assert.Equal(0, allocator.Stacks.InUse);
    }
}
