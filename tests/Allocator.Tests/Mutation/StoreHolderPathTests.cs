using Allocator.Stores;
using Allocator.Tests.Stores;

namespace Allocator.Tests.Mutation;

/// <summary>The Store's paths for stacks something runs on, with scripted holders standing in for fibers: the
/// abandoned-Store release (revoked holders give their stack back, a busy one keeps it and returns it itself, exactly
/// once), the end of a Store that already ended, and what Dispose reports when a holder cannot unwind.</summary>
public sealed class StoreHolderPathTests
{
    [Fact]
    public void Releasing_an_abandoned_store_returns_raw_and_revoked_stacks_and_leaves_a_busy_holders_stack_to_it()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 4, cache: true);
        var store = new Store<int>(allocator, 1);
        var idle = new ScriptedHolder("idle fiber", revocable: true);
        var busy = new ScriptedHolder("busy fiber", revocable: false);
        store.CheckoutStack("raw");
        idle.Lease = store.CheckoutStackLease(idle.Name, idle);
        busy.Lease = store.CheckoutStackLease(busy.Name, busy);
        Assert.Equal(3, allocator.GetStackStatistics().InUse);

        store.ReleaseAbandoned();

        Assert.Equal((1, 1), (idle.Revocations, busy.Revocations));
        Assert.Equal(1, allocator.AbandonedStores);
        Assert.Equal(1, allocator.GetStackStatistics().InUse); // the busy holder's
        Assert.Single(allocator.DescribeLiveCheckouts());
        Assert.Contains("'busy fiber'", allocator.DescribeLiveCheckouts()[0]);

        // The busy run ends: it returns its stack straight to the pool (the Store has ended; nothing is cached).
        busy.Lease.Return(busy.Generation);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
        // A second return of the same lease (the revoked one too) changes nothing and is not a refusal.
        busy.Lease.Return(busy.Generation);
        idle.Lease.Return(idle.Generation);
        StackPoolStatistics stats = allocator.GetStackStatistics();
        Assert.Equal((0, 0L, 3L), (stats.InUse, stats.RefusedReturns, stats.TotalCheckouts));

        store.ReleaseAbandoned(); // once ended, never again
        Assert.Equal(1, allocator.AbandonedStores);
        Assert.Throws<ObjectDisposedException>(() => store.CheckoutStack("late"));
    }

    [Fact]
    public void An_ended_store_is_not_released_again_or_counted_as_abandoned()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: true);
        var disposed = new Store<int>(allocator, 1);
        disposed.CheckoutInstance();
        disposed.Dispose();
        var consumed = new Store<int>(allocator, 2);
        consumed.ReturnStack(consumed.CheckoutStack("cached"));
        consumed.IntoData();

        disposed.ReleaseAbandoned();
        consumed.ReleaseAbandoned();

        Assert.Equal(0, allocator.AbandonedStores);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
        Assert.Equal(0, allocator.GetInstanceStatistics().RefusedReturns);
    }

    [Fact]
    public void A_holders_stack_cannot_be_returned_through_a_token()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 2, cache: false);
        using var store = new Store<int>(allocator, 1);
        var holder = new ScriptedHolder("fiber", revocable: true);
        holder.Lease = store.CheckoutStackLease(holder.Name, holder);
        var token = new StackToken(holder.Lease);
        Assert.False(store.TryReturnStack(token));
        Assert.Equal(InvalidTokenReason.Unknown, Assert.Throws<InvalidTokenException>(() => store.ReturnStack(token)).Reason);
        Assert.Equal(1, store.StacksCheckedOut);
        holder.Lease.Return(holder.Generation);
        Assert.Equal(0, store.StacksCheckedOut);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    [Fact]
    public void Dispose_asks_each_holder_once_returns_the_rest_and_reports_a_holder_that_could_not_unwind()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 4, cache: false);
        var store = new Store<int>(allocator, 1);
        var unwinds = new ScriptedHolder("unwinds", revocable: true) { UnwindsOnRelease = true };
        var stuck = new ScriptedHolder("stuck", revocable: false) { FailsOnRelease = true };
        unwinds.Lease = store.CheckoutStackLease(unwinds.Name, unwinds);
        stuck.Lease = store.CheckoutStackLease(stuck.Name, stuck);
        store.CheckoutStack("raw");
        store.CheckoutMemory();

        AggregateException failed = Assert.Throws<AggregateException>(() => store.Dispose());

        Assert.StartsWith("Some resources could not be released; those stay checked out rather than being reused under live frames.", failed.Message);
        Assert.Equal("stuck cannot unwind", Assert.Single(failed.InnerExceptions).Message);
        Assert.Equal((1, 1), (unwinds.Releases, stuck.Releases));
        Assert.Equal(1, allocator.GetStackStatistics().InUse); // only the stuck one's
        // A holder still has a stack: the Store's slots stay with it (it may be a host task that can still write
        // guest memory), and the last stack to come back completes the release.
        Assert.Equal(1, allocator.GetMemoryStatistics().InUse);
        Assert.Equal(0, allocator.GetStackStatistics().RefusedReturns);
        store.Dispose();
        Assert.Equal(1, stuck.Releases);
        stuck.Lease.Return(stuck.Generation);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
        Assert.Equal(0, allocator.GetMemoryStatistics().InUse);
    }

    [Fact]
    public void Dispose_reports_every_holder_that_could_not_unwind_not_just_the_last()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 3, cache: false);
        var store = new Store<int>(allocator, 1);
        var first = new ScriptedHolder("first", revocable: false) { FailsOnRelease = true };
        var second = new ScriptedHolder("second", revocable: false) { FailsOnRelease = true };
        first.Lease = store.CheckoutStackLease(first.Name, first);
        second.Lease = store.CheckoutStackLease(second.Name, second);

        AggregateException failed = Assert.Throws<AggregateException>(() => store.Dispose());

        Assert.Equal(["first cannot unwind", "second cannot unwind"], failed.InnerExceptions.Select(e => e.Message).Order());
        first.Lease.Return(first.Generation);
        second.Lease.Return(second.Generation);
        Assert.Equal(0, allocator.GetStackStatistics().InUse);
    }

    private sealed class ScriptedHolder(string name, bool revocable) : IStackHolder
    {
        private StackLease _lease = null!;

        /// <summary>The checkout, named as a fiber driver names it: the lease and its generation then.</summary>
        public StackLease Lease
        {
            get => _lease;
            set
            {
                _lease = value;
                Generation = value.Generation;
            }
        }

        public ulong Generation { get; private set; }

        public string Name => name;

        public bool HostCallOutlivesCancel => false;

        public bool UnwindsOnRelease { get; init; }

        public bool FailsOnRelease { get; init; }

        public int Releases { get; private set; }

        public int Revocations { get; private set; }

        public void ReleaseStack()
        {
            Releases++;
            if (FailsOnRelease)
            {
                throw new InvalidOperationException($"{name} cannot unwind");
            }
            if (UnwindsOnRelease)
            {
                Lease.Return(Generation);
            }
        }

        public bool TryRevoke()
        {
            Revocations++;
            return revocable;
        }
    }
}
