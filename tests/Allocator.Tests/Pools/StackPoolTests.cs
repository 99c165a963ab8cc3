using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

public sealed unsafe class StackPoolTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    [Fact]
    public void Rented_stacks_are_distinct_writable_and_separated_by_a_guard_page()
    {
        using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 4, StackSize = 16 * Page });
        var stacks = Enumerable.Range(0, 4).Select(_ => pool.Rent()).ToArray();
        Assert.Equal(4, stacks.Select(s => s.Bottom).Distinct().Count());
        foreach (PooledStack s in stacks)
        {
            Assert.Equal(16 * Page, s.Size);
            Assert.Equal(s.Bottom + (nint)s.Size, s.Top);
            new Span<byte>((void*)s.Bottom, (int)s.Size).Fill(0xAB);
        }
        var ordered = stacks.OrderBy(s => s.Bottom).ToArray();
        for (int i = 1; i < ordered.Length; i++)
        {
            // Exactly one guard page between the top of one stack and the bottom of the next.
            Assert.Equal((nint)Page, ordered[i].Bottom - ordered[i - 1].Top);
        }
        Assert.Equal(4, pool.InUse);
        foreach (PooledStack s in stacks)
        {
            pool.ReturnAccepted(s);
        }
        Assert.Equal(0, pool.InUse);
    }

    [Fact]
    public void Exhaustion_names_the_limit_and_leaves_the_pool_usable()
    {
        using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        PooledStack a = pool.Rent();
        PooledStack b = pool.Rent();
        var ex = Assert.Throws<PoolExhaustedException>(() => pool.Rent());
        Assert.Equal("stacks", ex.Pool);
        Assert.Equal("StackPoolOptions.MaxStacks", ex.Limit);
        Assert.Equal(2, ex.ConfiguredValue);
        Assert.Contains("raise StackPoolOptions.MaxStacks (now 2)", ex.Message);
        Assert.Null(pool.TryRent());
        Assert.Equal(2, pool.Exhaustions);
        Assert.Equal(2, pool.InUse);
        pool.ReturnAccepted(a);
        PooledStack c = pool.Rent();
        Assert.Equal(a.Bottom, c.Bottom);
        pool.ReturnAccepted(b);
        pool.ReturnAccepted(c);
        Assert.Equal(0, pool.InUse);
        Assert.Equal(2, pool.GetStatistics().Peak);
    }

    [Fact]
    public void Double_stale_forged_and_default_returns_are_refused_without_changing_the_pool()
    {
        // Foreign tokens (another Store's) are refused by the Store before any pool sees them, as WrongOwner: pools
        // carry no owner id any more (see StoreTests.Tokens_of_another_store_and_default_tokens_are_refused).
        using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        // Keep the second slot busy so the next checkout must reuse first's slot (whichever core the thread is on).
        PooledStack blocker = pool.Rent();
        PooledStack first = pool.Rent();
        pool.ReturnAccepted(first);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(first));

        PooledStack again = pool.Rent(); // the only free slot: first's, at the next generation
        Assert.Equal(first.Index, again.Index);
        Assert.NotEqual(first.Generation, again.Generation);
        Assert.Equal(InvalidTokenReason.Stale, pool.Return(first));
        Assert.True(pool.IsCheckedOut(again));
        Assert.False(pool.IsCheckedOut(first));

        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(default));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(again with { Index = 2 }));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(again with { Generation = again.Generation + 1 }));
        Assert.Equal(InvalidTokenReason.Unknown, pool.Return(again with { Generation = again.Generation + 2 }));
        Assert.NotNull(pool.Return(first));
        Assert.Equal(2, pool.InUse);
        Assert.True(pool.IsCheckedOut(again));
        Assert.True(pool.IsCheckedOut(blocker));
        Assert.Equal(7, pool.RefusedReturns);

        pool.ReturnAccepted(again);
        pool.ReturnAccepted(blocker);
        Assert.Equal(0, pool.InUse);
        // Both slots are still handed out exactly once each: nothing was pushed twice onto the free list.
        PooledStack x = pool.Rent();
        PooledStack y = pool.Rent();
        Assert.NotEqual(x.Index, y.Index);
        Assert.Null(pool.TryRent());
    }

    [Fact]
    public void Zeroing_on_return_clears_what_the_last_user_wrote()
    {
        using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 8 * Page, ZeroOnReturn = true, KeepResident = 2 * Page });
        PooledStack s = pool.Rent();
        new Span<byte>((void*)s.Bottom, (int)s.Size).Fill(0x5A);
        pool.ReturnAccepted(s);
        PooledStack reused = pool.Rent();
        Assert.Equal(s.Bottom, reused.Bottom);
        Assert.True(new Span<byte>((void*)reused.Bottom, (int)reused.Size).IndexOfAnyExcept((byte)0) < 0, "a reused stack must read as zeros");
        pool.ReturnAccepted(reused);
    }

    [Fact]
    public void Without_zeroing_the_contents_survive_a_return()
    {
        // The control for the test above: it shows that reading a reused stack really sees old contents.
        using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page, ZeroOnReturn = false });
        PooledStack s = pool.Rent();
        new Span<byte>((void*)s.Bottom, (int)s.Size).Fill(0x5A);
        pool.ReturnAccepted(s);
        PooledStack reused = pool.Rent();
        Assert.Equal(0x5A, ((byte*)reused.Top)[-1]);
        pool.ReturnAccepted(reused);
    }

    [LinuxFact]
    public void Returning_a_stack_decommits_all_but_the_keep_resident_top()
    {
        nuint size = 64 * Page;
        using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = size, ZeroOnReturn = true, KeepResident = 4 * Page });
        PooledStack s = pool.Rent();
        Assert.Equal(0UL, pool.GetStatistics().ResidentBytes);
        new Span<byte>((void*)s.Bottom, (int)s.Size).Fill(1);
        Assert.Equal((ulong)size, pool.GetStatistics().ResidentBytes);
        pool.ReturnAccepted(s);
        StackPoolStatistics after = pool.GetStatistics();
        Assert.Equal((ulong)(4 * Page), after.ResidentBytes);
        // The kept pages are the top of the stack, where the next user's frames go first.
        Assert.Equal(4 * Page, VirtualMemory.ResidentBytes(s.Top - (nint)(4 * Page), 4 * Page));
        Assert.Equal(0u, VirtualMemory.ResidentBytes(s.Bottom, size - 4 * Page));
    }

    [Fact]
    public void Dispose_with_a_stack_still_out_keeps_the_memory_until_it_is_returned()
    {
        var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page });
        PooledStack s = pool.Rent();
        pool.Dispose();
        // A fiber could still be suspended on it: the memory must stay mapped and writable.
        ((byte*)s.Top)[-1] = 7;
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        pool.ReturnAccepted(s);
        Assert.Equal(0, pool.InUse);
    }

    [LinuxFact]
    public void Dispose_unmaps_everything_once_no_stack_is_out_including_stacks_parked_for_reuse()
    {
        var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        PooledStack parked = pool.Rent();
        PooledStack late = pool.Rent();
        pool.ReturnAccepted(parked); // parked in this core's cell for the next checkout
        pool.Dispose();
        Assert.True(MemoryProbe.IsReadable(late.Bottom), "a checked-out stack must stay mapped after Dispose");
        pool.ReturnAccepted(late);
        Assert.False(MemoryProbe.IsReadable(late.Bottom), "the last return after Dispose must unmap the reservation");
        Assert.False(MemoryProbe.IsReadable(parked.Bottom));
    }
}
