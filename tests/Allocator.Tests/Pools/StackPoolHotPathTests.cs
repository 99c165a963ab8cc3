using System.Runtime.CompilerServices;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>What the stack pool's hot path must keep while it stays cheap: what one checkout writes lies on a line
/// no other slot uses, the owner it records is the current one, and the peak (looked at only when a stack leaves the
/// shared list) never reads lower than the stacks out at once, whichever core parked them.</summary>
public sealed class StackPoolHotPathTests
{
    private const int CacheLine = 64;
    private static readonly nuint Page = VirtualMemory.PageSize;

    [Fact]
    public void What_a_checkout_writes_for_one_slot_shares_no_cache_line_with_another_slot_or_the_array_length()
    {
        // Two threads on stacks 0 and 1 once wrote one line on every checkout (owner ids and labels in plain arrays):
        // 2 threads took 2-4x the 1-thread time per operation. Whatever the array's alignment, the written fields of
        // neighbours must be a full line apart, and slot 0's a full line past the length every bounds check reads.
        var words = new SlotStateWord[3];
        ref byte element0 = ref Unsafe.As<SlotStateWord, byte>(ref words[0]);
        ref byte element1 = ref Unsafe.As<SlotStateWord, byte>(ref words[1]);
        long first = Unsafe.ByteOffset(ref element0, ref Unsafe.As<ulong, byte>(ref words[0].Value));
        long[] starts =
        [
            first,
            Unsafe.ByteOffset(ref element0, ref Unsafe.As<long, byte>(ref words[0].StoreId)),
            Unsafe.ByteOffset(ref element0, ref Unsafe.As<string?, byte>(ref words[0].Owner)),
        ];
        long end = starts.Max() + 8;
        long stride = Unsafe.ByteOffset(ref element0, ref element1);

        Assert.Equal(first, starts.Min());
        Assert.True(stride - (end - first) >= CacheLine, $"neighbours' fields are {stride - (end - first)} bytes apart");
        // The length is the 4 bytes just before the elements' 8-byte-aligned start (then 4 bytes of padding).
        Assert.True(first + 4 >= CacheLine, $"slot 0's fields start {first + 4} bytes after the array length");
    }

    [Fact]
    public void The_owner_described_is_the_current_checkouts_even_when_the_same_slot_comes_back()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page });
        PooledStack first = pool.Rent(storeId: 7, owner: "guest a");
        Assert.Equal(["stack 0: Store 7 ('guest a')"], pool.DescribeCheckouts());
        pool.ReturnAccepted(first);
        Assert.Empty(pool.DescribeCheckouts());

        PooledStack same = pool.Rent(storeId: 7, owner: "guest a");
        Assert.Equal(["stack 0: Store 7 ('guest a')"], pool.DescribeCheckouts());
        pool.ReturnAccepted(same);

        PooledStack other = pool.Rent(storeId: 8, owner: "guest a");
        Assert.Equal(["stack 0: Store 8 ('guest a')"], pool.DescribeCheckouts());
        pool.ReturnAccepted(other);

        PooledStack unlabelled = pool.Rent(storeId: 8, owner: null);
        Assert.Equal(["stack 0: Store 8"], pool.DescribeCheckouts());
        pool.ReturnAccepted(unlabelled);

        PooledStack relabelled = pool.Rent(storeId: 8, owner: "guest b");
        Assert.Equal(["stack 0: Store 8 ('guest b')"], pool.DescribeCheckouts());
        pool.ReturnAccepted(relabelled);
    }

    [Fact]
    public void The_peak_is_never_lower_than_the_stacks_held_at_once_on_two_threads()
    {
        // Each thread first parks a stack on its core (rent, return), then holds two: one of them is likely the parked
        // one, taken back without touching the shared list. The peak must still count all four.
        const int Rounds = 200;
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 6, StackSize = 4 * Page });
        using var holding = new Barrier(3);
        using var released = new Barrier(3);
        Thread[] threads = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            for (int round = 0; round < Rounds; round++)
            {
                pool.ReturnAccepted(pool.Rent());
                PooledStack a = pool.Rent(), b = pool.Rent();
                holding.SignalAndWait();
                released.SignalAndWait();
                pool.ReturnAccepted(a);
                pool.ReturnAccepted(b);
            }
        })).ToArray();
        foreach (Thread thread in threads)
        {
            thread.Start();
        }
        for (int round = 0; round < Rounds; round++)
        {
            holding.SignalAndWait();
            Assert.Equal(4, pool.InUse);
            Assert.True(pool.GetStatistics().Peak >= 4, $"round {round}: peak {pool.GetStatistics().Peak} with 4 out");
            released.SignalAndWait();
        }
        foreach (Thread thread in threads)
        {
            thread.Join();
        }
        Assert.Equal(0, pool.InUse);
        Assert.InRange(pool.GetStatistics().Peak, 4, 6);
    }

    [Fact]
    public void Checkouts_move_each_generation_by_one_and_a_stale_token_stays_refused_across_many_reuses()
    {
        // The checkout raises the state word with a plain store (only the taker owns a free slot): a return presents
        // an issued generation, so no old token can ever match a later state.
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page });
        PooledStack first = pool.Rent();
        pool.ReturnAccepted(first);
        PooledStack last = first;
        for (int i = 0; i < 1000; i++)
        {
            PooledStack next = pool.Rent();
            Assert.Equal(last.Generation + 2, next.Generation);
            Assert.Equal(InvalidTokenReason.Stale, pool.Return(first));
            pool.ReturnAccepted(next);
            Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(next));
            last = next;
        }
        Assert.Equal(1001, pool.TotalCheckouts);
        Assert.Equal(2000, pool.RefusedReturns);
    }

    [Fact]
    public void A_held_return_frees_the_stack_once_and_refuses_what_a_claimed_return_refuses()
    {
        // ReturnHeld (the Store's path) claims the slot with a plain store instead of a compare-and-swap: it must still
        // leave the word exactly where Return would, so the next checkout, stale copies and a second return all see
        // the same state as after a claimed return.
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page });
        PooledStack first = pool.Rent();
        Assert.Null(pool.ReturnHeld(first));
        Assert.Equal(0, pool.InUse);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.ReturnHeld(first));
        Assert.Equal(InvalidTokenReason.AlreadyReturned, pool.Return(first));

        PooledStack next = pool.Rent();
        Assert.Equal(first.Generation + 2, next.Generation);
        Assert.Equal(InvalidTokenReason.Stale, pool.ReturnHeld(first));
        Assert.Equal(1, pool.InUse);
        Assert.Null(pool.ReturnHeld(next));
        Assert.Equal(0, pool.InUse);
        Assert.Equal(3, pool.RefusedReturns);
        Assert.Equal(2, pool.TotalCheckouts);
    }

    [Fact]
    public void A_held_return_with_zeroing_queues_the_reset_before_the_stack_is_free()
    {
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * Page, ZeroOnReturn = true, KeepResident = Page });
        PooledStack stack = pool.Rent();
        unsafe
        {
            *(long*)(stack.Bottom + (nint)(stack.Size - 8)) = 0x5EC12E7;
        }
        Assert.Null(pool.ReturnHeld(stack));
        PooledStack again = pool.Rent();
        unsafe
        {
            Assert.Equal(0, *(long*)(again.Bottom + (nint)(again.Size - 8)));
        }
        Assert.Null(pool.ReturnHeld(again));
    }
}
