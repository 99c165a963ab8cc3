using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>Rent takes this core's parked stack inline and everything else (the shared list, another core's parked
/// stack, exhaustion) out of line, and the stack's place is computed from copies of the options: what each route
/// hands out must stay the same.</summary>
public sealed class StackPoolRentPathTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    [Fact]
    public void Every_route_hands_out_each_stack_once_at_its_own_place_then_reports_exhaustion()
    {
        const int Count = 3;
        nuint size = 4 * Page;
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = Count, StackSize = size });
        // First round: every stack comes off the shared list; the bottoms are one guard page plus a stack apart.
        PooledStack[] first = [.. Enumerable.Range(0, Count).Select(_ => pool.Rent())];
        Assert.Equal(Count, first.Select(s => s.Index).Distinct().Count());
        foreach (PooledStack stack in first)
        {
            Assert.Equal(size, stack.Size);
            Assert.Equal(first[0].Bottom + (nint)((nuint)(stack.Index - first[0].Index) * (size + Page)), stack.Bottom);
        }
        Assert.Equal(Count, pool.GetStatistics().Peak);
        Assert.Throws<PoolExhaustedException>(() => pool.Rent());
        Assert.Equal(1, pool.Exhaustions);

        // Back, so that some are parked (one per core) and the rest on the shared list: a second round of takes,
        // whichever route each takes, gets every stack again, at the same place, and the peak does not move.
        foreach (PooledStack stack in first)
        {
            Assert.Null(pool.ReturnHeld(stack));
        }
        PooledStack[] second = [.. Enumerable.Range(0, Count).Select(_ => pool.Rent())];
        Assert.Equal(first.Select(s => (s.Index, s.Bottom)).Order(), second.Select(s => (s.Index, s.Bottom)).Order());
        Assert.All(second, s => Assert.Equal(first.Single(f => f.Index == s.Index).Generation + 2, s.Generation));
        Assert.Equal(Count, pool.GetStatistics().Peak);
        Assert.Throws<PoolExhaustedException>(() => pool.Rent());
        foreach (PooledStack stack in second)
        {
            Assert.Null(pool.ReturnHeld(stack));
        }
        Assert.Equal(0, pool.InUse);
    }

    [Fact]
    public void A_rent_after_dispose_is_refused_and_takes_nothing()
    {
        var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        PooledStack held = pool.Rent();
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        Assert.Equal(1, pool.InUse);
        Assert.False(pool.IsReleased);
        Assert.Null(pool.ReturnHeld(held));
        Assert.True(pool.IsReleased);
    }

    [Fact]
    public void A_checkout_that_finds_the_pool_disposed_after_taking_a_stack_puts_it_back_on_the_shared_list()
    {
        // A release check after Dispose counts free stacks, the shared list first, then the parking cells. A stack
        // taken off the shared list and parked in a cell meanwhile was counted twice, and the memory could be
        // released with another stack still out. So the checkout that lost the race gives its stack to the shared
        // list, where a count that has read the list already cannot see it again.
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        PooledStack stillOut = pool.Rent();
        pool.AfterTakeForTest = pool.Dispose; // Dispose lands between the take and the checkout's second look

        Assert.Throws<ObjectDisposedException>(() => pool.Rent());

        Assert.Equal(0, pool.ParkedForTest);
        Assert.False(pool.IsReleased); // a stack is still out
        pool.AfterTakeForTest = null;
        Assert.Null(pool.ReturnHeld(stillOut));
        Assert.True(pool.IsReleased);
    }

    [Fact]
    public void A_checkout_that_loses_the_race_with_Dispose_holding_the_last_stack_releases_the_memory()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page });
        Assert.Null(pool.ReturnHeld(pool.Rent()));
        Assert.Equal(1, pool.ParkedForTest); // this thread's cell: the next checkout takes it from there
        pool.AfterTakeForTest = pool.Dispose; // Dispose finds the stack out, so it leaves the memory to the checkout

        Assert.Throws<ObjectDisposedException>(() => pool.Rent());

        Assert.Equal(0, pool.ParkedForTest);
        Assert.True(pool.IsReleased); // nothing else will come back to release it
    }
}
