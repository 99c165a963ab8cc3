using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A host call started by the driver (not inside the resume) is built in place from the guest's words
/// (FiberDriver.StartHost): the function it names is the one called, it sees exactly the guest's arguments, and its
/// copy outlives the guest's frame and the wait.</summary>
public sealed class FiberDriverHostCallArgumentTests
{
    [FiberTheory]
    [MemberData(nameof(HostCallArgumentChecks.EveryCount), MemberType = typeof(HostCallArgumentChecks))]
    public async Task A_pending_call_started_by_the_driver_sees_exactly_the_guests_arguments_while_it_runs(int count)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostCall kept = default;
        HostCallArgumentChecks.Seen? seen = null;
        FiberState seenState = FiberState.Created;
        // A synchronous entry first: the table gets the synchronous path, which leaves the asynchronous function 1 to
        // the driver.
        Fiber fiber = Fiber.Create(store, "driver-arguments", TestGuest.CallFunction, TestGuest.CallFunctionArgument(function: 1, argumentCount: count),
            FiberHostFunctions.From(
                FiberHostEntry.Sync(_ => throw new InvalidOperationException("function 0 must not be called")),
                FiberHostEntry.Async(async call =>
                {
                    seenState = call.Fiber.State;
                    await Task.Yield(); // pending: the driver waits for it
                    kept = call;
                    seen = HostCallArgumentChecks.Read(call);
                    long sum = 0;
                    for (int i = 0; i < call.ArgumentCount; i++)
                    {
                        sum += call[i];
                    }
                    return sum;
                })));

        Assert.Equal(count * (count + 1) / 2, await fiber.RunAsync());
        Assert.Equal(FiberState.Suspended, seenState);
        HostCallArgumentChecks.AssertSeenThenEnded(seen, kept, fiber, function: 1, count);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }
}
