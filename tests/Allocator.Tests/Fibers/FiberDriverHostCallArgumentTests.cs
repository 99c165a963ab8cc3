using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>A host call started by the driver (not inside the resume) is built in place from the guest's words
/// (FiberDriver.StartHost): the function it names is the one called, it sees exactly the guest's arguments, and its
/// copy outlives the guest's frame and the wait.</summary>
public sealed class FiberDriverHostCallArgumentTests
{
    [FiberTheory]
    // Every count: the call's words are copied by a switch that falls through from the count down (FiberHostArgumentWords).
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(FiberHostCall.MaxArguments)]
    public async Task A_pending_call_started_by_the_driver_sees_exactly_the_guests_arguments_and_keeps_them(int count)
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostCall kept = default;
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
                    long sum = 0;
                    for (int i = 0; i < call.ArgumentCount; i++)
                    {
                        sum += call[i];
                    }
                    return sum;
                })));

        Assert.Equal(count * (count + 1) / 2, await fiber.RunAsync());
        Assert.Equal(FiberState.Suspended, seenState);
        Assert.Equal(count, kept.ArgumentCount);
        Assert.Equal(1, kept.Function);
        Assert.Same(fiber, kept.Fiber);
        for (int i = 0; i < count; i++)
        {
            Assert.Equal(i + 1, kept[i]); // read after the guest's frame is gone: the call holds its own copy
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => kept[count]);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Completed);
    }
}
