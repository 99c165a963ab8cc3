using Allocator.Fibers;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>What <see cref="Fiber"/>'s public members refuse before anything runs, with nothing checked out
/// afterwards, and the exact errors of a second run and a run cancelled before it starts.</summary>
public sealed class FiberArgumentTests
{
    [LinuxFact]
    public void Create_refuses_bad_arguments_before_checking_out_a_stack()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        FiberHostFunctions hosts = FiberHostFunctions.Empty;
        Assert.Equal("store", Assert.Throws<ArgumentNullException>(() => Fiber.Create<int>(null!, "f", TestGuest.CallLoop, 0, hosts)).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentNullException>(() => Fiber.Create(store, null!, TestGuest.CallLoop, 0, hosts)).ParamName);
        Assert.Equal("name", Assert.Throws<ArgumentException>(() => Fiber.Create(store, "", TestGuest.CallLoop, 0, hosts)).ParamName);
        Assert.Equal("hostFunctions", Assert.Throws<ArgumentNullException>(() => Fiber.Create(store, "f", TestGuest.CallLoop, 0, null!)).ParamName);
        ArgumentException entry = Assert.Throws<ArgumentException>(() => Fiber.Create(store, "f", 0, 0, hosts));
        Assert.Equal("entryPoint", entry.ParamName);
        Assert.StartsWith("The entry point must be the address of a native function.", entry.Message);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal((0, 0L), (allocator.GetStackStatistics().InUse, allocator.GetStackStatistics().TotalCheckouts));
    }

    [LinuxFact]
    public async Task A_fiber_runs_once_and_a_second_run_is_refused_by_name()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "once", TestGuest.CallLoop, 3, new FiberHostFunctions(_ => ValueTask.FromResult(2L)));
        Assert.Equal(FiberState.Created, fiber.State);
        Assert.Equal("once", fiber.Name);
        Assert.Equal(6, await fiber.RunAsync());
        InvalidOperationException again = Assert.Throws<InvalidOperationException>(() => fiber.RunAsync());
        Assert.Equal("Fiber 'once' is already being run; RunAsync drives a fiber once, to its end.", again.Message);
        Assert.Equal(FiberState.Completed, fiber.State);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    [LinuxFact]
    public async Task A_run_cancelled_before_it_starts_unwinds_and_returns_the_stack()
    {
        using PoolingAllocator allocator = FiberPools.Allocator();
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "early", TestGuest.CallLoop, 3, new FiberHostFunctions(_ => ValueTask.FromResult(2L)));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        OperationCanceledException refused = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await fiber.RunAsync(cancelled.Token));
        Assert.Equal("Fiber 'early' was cancelled by its run's token.", refused.Message);
        Assert.Equal(cancelled.Token, refused.CancellationToken);
        Assert.Equal(FiberState.Cancelled, fiber.State);
        Assert.Equal((0, 0L), (allocator.GetStackStatistics().InUse, allocator.GetStackStatistics().RefusedReturns));
    }
}
