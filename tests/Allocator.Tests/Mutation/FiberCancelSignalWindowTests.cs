using Allocator.Fibers;
using Allocator.Tests.Cancellation;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The window between a driver's last look for a cancel and the creation of the signal a cancel sets: a cancel
/// or revoke landing there (from another thread, in production) finds no signal, so the driver must notice it when it
/// creates one, or it would wait for a host task that may never end. Driven deterministically through
/// <see cref="FiberDriver.BeforeCancelSignalForTest"/>.</summary>
/// <remarks>The seam is static: only this class sets it (its tests run one at a time), and the hook acts for its own
/// fiber only.</remarks>
public sealed class FiberCancelSignalWindowTests
{
    [FiberFact]
    public async Task A_cancel_in_the_window_still_ends_the_wait_for_the_host_task()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber fiber = Fiber.Create(store, "cancel-in-window", TestGuest.HonoursCancel, counters.Address, new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));

        (bool hooked, Task<long> run) = RunWithHook(fiber, () => fiber.Cancel());

        try
        {
            Assert.True(hooked);
            bool gaveUp = await Task.WhenAny(run, Task.Delay(CancellationAssert.Timeout)) == run;
            Assert.True(gaveUp, "the run kept waiting for the host task after the cancel");
            OperationCanceledException cancelled = await Assert.ThrowsAsync<OperationCanceledException>(() => run);
            Assert.Equal("Fiber 'cancel-in-window' " + FiberCancelPathTests.CancelledByCall, cancelled.Message);
            Assert.Equal(FiberState.Cancelling, fiber.State); // the host task still holds the fiber
        }
        finally
        {
            gate.TrySetResult(0);
        }
        await CancellationAssert.EventuallyAsync(() => fiber.State == FiberState.Cancelled);
        Assert.Equal(1, counters.CancelsSeen);
        FiberEndingTests.AssertReturnedOnce(allocator, store, fiber, FiberState.Cancelled);
    }

    [FiberFact]
    public async Task A_revoke_in_the_window_still_ends_the_wait_for_the_host_task()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        var store = new Store<int>(allocator, 0);
        using var counters = new GuestCounters();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        Fiber fiber = Fiber.Create(store, "revoke-in-window", TestGuest.HonoursCancel, counters.Address, new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));

        (bool hooked, Task<long> run) = RunWithHook(fiber, store.ReleaseAbandoned);

        try
        {
            Assert.True(hooked);
            bool gaveUp = await Task.WhenAny(run, Task.Delay(CancellationAssert.Timeout)) == run;
            Assert.True(gaveUp, "the run kept waiting for the host task after the revoke");
            ObjectDisposedException revoked = await Assert.ThrowsAsync<ObjectDisposedException>(() => run);
            Assert.StartsWith("Fiber 'revoke-in-window' was revoked", revoked.Message);
        }
        finally
        {
            gate.TrySetResult(0);
        }
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal(0, counters.CancelsSeen);
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    /// <summary>Starts the run with <paramref name="inWindow"/> hooked into the window of this fiber's driver (only;
    /// other tests' fibers pass through), once.</summary>
    private static (bool Hooked, Task<long> Run) RunWithHook(Fiber fiber, Action inWindow)
    {
        bool hooked = false;
        FiberDriver driver = fiber.Driver!;
        FiberDriver.BeforeCancelSignalForTest = d =>
        {
            if (ReferenceEquals(d, driver) && !hooked)
            {
                hooked = true;
                inWindow();
            }
        };
        try
        {
            Task<long> run = fiber.RunAsync().AsTask(); // the window comes before the run's first real await
            return (hooked, run);
        }
        finally
        {
            FiberDriver.BeforeCancelSignalForTest = null;
        }
    }
}
