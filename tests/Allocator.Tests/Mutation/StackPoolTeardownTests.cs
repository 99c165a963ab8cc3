using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>A stack pool's teardown and retry paths, with OS calls failed on purpose through
/// <see cref="VirtualMemoryFaults"/> (process-wide, hence the serial collection).</summary>
[Collection(SerialCollection.Name)]
public sealed class StackPoolTeardownTests : IDisposable
{
    private const int InjectedError = 12; // ENOMEM
    private static readonly nuint Page = VirtualMemory.PageSize;

    // Read as each test's instance is made, before the test may turn markers off.
    private readonly bool _markers = VirtualMemory.GuardMarkers;

    public void Dispose()
    {
        VirtualMemoryFaults.Hook = null;
        VirtualMemory.GuardMarkers = _markers;
    }

    [Fact]
    public void Disposing_a_pool_with_nothing_out_releases_its_memory_at_once_and_only_once()
    {
        StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        pool.ReturnAccepted(pool.Rent());
        Assert.False(pool.IsReleased);
        pool.Dispose();
        Assert.True(pool.IsDisposed);
        Assert.True(pool.IsReleased);
        pool.Dispose();
        Assert.True(pool.IsReleased);
    }

    [Fact]
    public void A_stack_whose_zeroing_failed_stays_out_until_a_flush_succeeds()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page, ZeroOnReturn = true });
        PooledStack stack = pool.Rent();
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Discard ? InjectedError : 0;
        Assert.Throws<VirtualMemoryException>(() => pool.Return(stack));
        Assert.Equal(1, pool.InUse); // claimed (a second return is refused) but not free: it was not reset
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(stack));
        Assert.Throws<VirtualMemoryException>(() => pool.FlushPendingResets()); // still failing: stays queued
        Assert.Equal(1, pool.InUse);

        VirtualMemoryFaults.Hook = null;
        pool.FlushPendingResets();
        Assert.Equal(0, pool.InUse);
        pool.ReturnAccepted(pool.Rent());
    }

    [Fact]
    public void Disposing_drops_stacks_still_waiting_for_their_reset_and_releases_the_memory()
    {
        StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page, ZeroOnReturn = true });
        PooledStack stack = pool.Rent();
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Discard ? InjectedError : 0;
        Assert.Throws<VirtualMemoryException>(() => pool.Return(stack));
        VirtualMemoryFaults.Hook = null;

        pool.Dispose();

        Assert.True(pool.IsReleased); // nothing will hand the unreset stack out again
    }

    [LinuxFact]
    public void A_pool_whose_construction_failed_leaves_no_reservation_mapped()
    {
        // The first stack was made read-write before the second protection failed: a read-write mapping of exactly one
        // stack (an odd 29 pages, between two guards) exists only while the reservation is mapped.
        // PROT_NONE guards (StackGuardMarkerTests covers a marker that fails to install).
        VirtualMemory.GuardMarkers = false;
        var options = new StackPoolOptions { MaxStacks = 3, StackSize = 29 * Page };
        options.Validate();
        int before = CountReadWriteMappings(29 * (long)Page);
        int protects = 0;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Protect && ++protects == 2 ? InjectedError : 0;
        Assert.Throws<VirtualMemoryException>(() => new StackPool(options));
        VirtualMemoryFaults.Hook = null;
        Assert.Equal(2, protects);

        // Released at once, not left to the handle's finalizer.
        Assert.Equal(before, CountReadWriteMappings(29 * (long)Page));
    }

    [Fact]
    public void ResidentBytes_names_the_index_it_refuses()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        Assert.Equal("index", Assert.Throws<ArgumentOutOfRangeException>(() => pool.ResidentBytes(2)).ParamName);
        Assert.Equal("index", Assert.Throws<ArgumentOutOfRangeException>(() => pool.ResidentBytes(-1)).ParamName);
    }

    private static int CountReadWriteMappings(long length) =>
        ProcMaps.Regions().Count(region => region.Permissions == "rw-p" && region.Anonymous && region.Length == length);
}
