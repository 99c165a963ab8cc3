using System.Runtime.InteropServices;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>A stack pool's statistics checked field by field after known sequences, and the keep/discard split of
/// zeroing on return measured in bytes and residency.</summary>
public sealed class StackPoolAccountingTests
{
    private static readonly nuint Page = VirtualMemory.PageSize;

    [Fact]
    public void Statistics_count_checkouts_peak_exhaustions_and_refusals_exactly()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 3, StackSize = 4 * Page });
        Assert.Equal(new StackPoolStatistics(3, 0, 0, 0, 0, 0, 0), pool.GetStatistics());

        PooledStack a = pool.Rent(), b = pool.Rent(), c = pool.Rent();
        Assert.Null(pool.TryRent());
        Assert.Null(pool.TryRent());
        pool.ReturnAccepted(b);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(b));
        pool.ReturnAccepted(c);
        PooledStack d = pool.Rent();

        Assert.Equal(new StackPoolStatistics(Capacity: 3, InUse: 2, Peak: 3, TotalCheckouts: 4, Exhaustions: 2, RefusedReturns: 1, ResidentBytes: 0),
            pool.GetStatistics());
        Assert.Equal(2, pool.InUse);
        Assert.Equal(4, pool.TotalCheckouts);
        Assert.Equal(2, pool.Exhaustions);

        pool.ReturnAccepted(a);
        pool.ReturnAccepted(d);
        StackPoolStatistics end = pool.GetStatistics();
        Assert.Equal((0, 3, 4L), (end.InUse, end.Peak, end.TotalCheckouts));
    }

    [Fact]
    public void The_peak_only_rises()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 4, StackSize = 4 * Page });
        PooledStack a = pool.Rent();
        Assert.Equal(1, pool.GetStatistics().Peak);
        PooledStack b = pool.Rent();
        Assert.Equal(2, pool.GetStatistics().Peak);
        pool.ReturnAccepted(a);
        pool.ReturnAccepted(b);
        PooledStack c = pool.Rent();
        Assert.Equal(2, pool.GetStatistics().Peak);
        PooledStack d = pool.Rent(), e = pool.Rent();
        Assert.Equal(3, pool.GetStatistics().Peak);
        pool.ReturnAccepted(c);
        pool.ReturnAccepted(d);
        pool.ReturnAccepted(e);
        Assert.Equal(3, pool.GetStatistics().Peak);
    }

    [Fact]
    public void TotalCheckouts_is_derived_from_every_slots_generation()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        pool.SetStateForTest(0, 10); // five checkouts of slot 0 before
        pool.SetStateForTest(1, 4);  // two of slot 1
        Assert.Equal(7, pool.TotalCheckouts);
        PooledStack x = pool.Rent();
        Assert.Equal(8, pool.TotalCheckouts); // an odd word counts its checkout
        pool.ReturnAccepted(x);
        Assert.Equal(8, pool.TotalCheckouts);
        Assert.Equal(8, pool.GetStatistics().TotalCheckouts);
    }

    [Fact]
    public void Zeroing_on_return_clears_the_kept_top_in_place_and_discards_the_rest()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page, ZeroOnReturn = true, KeepResident = Page });
        PooledStack stack = pool.Rent();
        Fill(stack, 0xAB);
        Assert.Equal(4 * Page, pool.ResidentBytes(0));
        Assert.Equal(4 * Page, (nuint)pool.GetStatistics().ResidentBytes);

        pool.ReturnAccepted(stack);

        // The top page (where a stack's hot frames are) stays resident, zeroed; the three below went back to the OS.
        Assert.Equal(Page, pool.ResidentBytes(0));
        PooledStack again = pool.Rent();
        Assert.Equal(stack.Bottom, again.Bottom);
        Assert.Equal(Page, pool.ResidentBytes(0)); // reading the kept page does not fault anything in
        AssertAllZero(again);
        pool.ReturnAccepted(again);
    }

    [Fact]
    public void Zeroing_with_nothing_kept_resident_discards_the_whole_stack()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page, ZeroOnReturn = true, KeepResident = 0 });
        PooledStack stack = pool.Rent();
        Fill(stack, 0x5A);
        pool.ReturnAccepted(stack);
        Assert.Equal(0u, pool.ResidentBytes(0));
        PooledStack again = pool.Rent();
        AssertAllZero(again);
        pool.ReturnAccepted(again);
    }

    [Fact]
    public void Zeroing_with_everything_kept_resident_discards_nothing()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page, ZeroOnReturn = true, KeepResident = 4 * Page });
        PooledStack stack = pool.Rent();
        Fill(stack, 0x11);
        pool.ReturnAccepted(stack);
        Assert.Equal(4 * Page, pool.ResidentBytes(0));
        PooledStack again = pool.Rent();
        AssertAllZero(again);
        pool.ReturnAccepted(again);
    }

    [Fact]
    public void Without_zeroing_a_stack_goes_back_as_it_was()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page, ZeroOnReturn = false });
        PooledStack stack = pool.Rent();
        Fill(stack, 0x77);
        pool.ReturnAccepted(stack);
        Assert.Equal(4 * Page, pool.ResidentBytes(0));
        PooledStack again = pool.Rent();
        Assert.Equal(0x77, Marshal.ReadByte(again.Bottom));
        Assert.Equal(0x77, Marshal.ReadByte(again.Top - 1));
        pool.ReturnAccepted(again);
    }

    [Fact]
    public void ResidentBytes_refuses_an_index_outside_the_pool()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        Assert.Equal(0u, pool.ResidentBytes(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.ResidentBytes(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.ResidentBytes(-1));
    }

    [Fact]
    public void A_stack_returned_after_dispose_skips_the_reset_and_releases_the_memory()
    {
        StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page, ZeroOnReturn = true });
        PooledStack a = pool.Rent(), b = pool.Rent();
        pool.Dispose();
        Assert.True(pool.IsDisposed);
        Assert.False(pool.IsReleased);
        Assert.Throws<ObjectDisposedException>(() => pool.Rent());
        Assert.Equal(["stack 0: Store 0", "stack 1: Store 0"], pool.DescribeCheckouts().Order());
        pool.ReturnAccepted(a);
        Assert.False(pool.IsReleased); // b is still out: its frames stay mapped
        Assert.Equal([$"stack {b.Index}: Store 0"], pool.DescribeCheckouts());
        pool.ReturnAccepted(b);
        Assert.True(pool.IsReleased);
        Assert.Equal(0u, pool.GetStatistics().ResidentBytes);
        pool.Dispose();
    }

    [Fact]
    public void Checkouts_are_described_with_their_store_and_label()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 2, StackSize = 4 * Page });
        PooledStack a = pool.Rent(storeId: 41, owner: "fiber 'x'");
        PooledStack b = pool.Rent(storeId: 42, owner: null);
        Assert.Equal(new[] { $"stack {a.Index}: Store 41 ('fiber 'x'')", $"stack {b.Index}: Store 42" }.Order(), pool.DescribeCheckouts().Order());
        pool.ReturnAccepted(a);
        Assert.Equal([$"stack {b.Index}: Store 42"], pool.DescribeCheckouts());
        pool.ReturnAccepted(b);
        Assert.Empty(pool.DescribeCheckouts());
    }

    private static unsafe void Fill(PooledStack stack, byte value) => new Span<byte>((void*)stack.Bottom, checked((int)stack.Size)).Fill(value);

    private static unsafe void AssertAllZero(PooledStack stack)
    {
        var bytes = new ReadOnlySpan<byte>((void*)stack.Bottom, checked((int)stack.Size));
        Assert.Equal(-1, bytes.IndexOfAnyExcept((byte)0));
    }
}
