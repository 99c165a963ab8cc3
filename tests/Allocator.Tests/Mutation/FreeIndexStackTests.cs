using Allocator.Pooling;

namespace Allocator.Tests.Mutation;

/// <summary>The lock-free free list on its own: order, counts, and the ABA schedule its version tag exists for, driven
/// deterministically through the seam at the compare-and-swap.</summary>
public sealed class FreeIndexStackTests
{
    [Fact]
    public void A_fresh_stack_hands_out_every_index_in_address_order_then_reports_empty()
    {
        var stack = new FreeIndexStack(3);
        Assert.Equal(3, stack.Count);
        for (int expected = 0; expected < 3; expected++)
        {
            Assert.True(stack.TryPop(out int index, out int remaining));
            Assert.Equal(expected, index);
            Assert.Equal(2 - expected, remaining);
            Assert.Equal(2 - expected, stack.Count);
        }
        Assert.False(stack.TryPop(out int none, out int left));
        Assert.Equal(-1, none);
        Assert.Equal(0, left);
        Assert.Equal(0, stack.Count);
    }

    [Fact]
    public void An_empty_stack_of_capacity_zero_pops_nothing_and_takes_pushes()
    {
        var stack = new FreeIndexStack(0);
        Assert.Equal(0, stack.Count);
        Assert.False(stack.TryPop(out int none, out _));
        Assert.Equal(-1, none);
    }

    [Fact]
    public void Pushes_come_back_last_in_first_out_with_exact_counts()
    {
        var stack = new FreeIndexStack(4);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(stack.TryPop(out _, out _));
        }
        Assert.Equal(1, stack.Push(2));
        Assert.Equal(2, stack.Push(0));
        Assert.Equal(3, stack.Push(3));
        Assert.Equal(3, stack.Count);
        int[] popped = new int[3];
        for (int i = 0; i < 3; i++)
        {
            Assert.True(stack.TryPop(out popped[i], out int remaining));
            Assert.Equal(2 - i, remaining);
        }
        Assert.Equal([3, 0, 2], popped);
        Assert.False(stack.TryPop(out _, out _));
    }

    [Fact]
    public void A_pop_that_raced_a_pop_pop_push_fails_its_compare_and_swap_and_never_hands_out_a_taken_index()
    {
        // Stack: 0 -> 1 -> 2. The outer pop reads top 0 and its next, 1; before its CAS another thread pops 0 and 1
        // and pushes 0 back. The top is 0 again (ABA) but its next is now 2, and 1 is out. Without the version the
        // CAS would succeed and make the taken 1 the new top.
        var stack = new FreeIndexStack(3);
        int calls = 0;
        stack.BeforeCompareExchangeForTest = () =>
        {
            if (calls++ != 0)
            {
                return;
            }
            Assert.True(stack.TryPop(out int first, out _));
            Assert.True(stack.TryPop(out int second, out _));
            Assert.Equal((0, 1), (first, second));
            Assert.Equal(2, stack.Push(0));
        };

        Assert.True(stack.TryPop(out int index, out int remaining));
        stack.BeforeCompareExchangeForTest = null;

        Assert.Equal(0, index);
        Assert.Equal(1, remaining);
        // Hook runs: the outer pop's failed attempt, the two inner pops, the inner push, the outer retry.
        Assert.Equal(5, calls);
        Assert.True(stack.TryPop(out int last, out int none));
        Assert.Equal(2, last);
        Assert.Equal(0, none);
        Assert.False(stack.TryPop(out _, out _));
    }

    [Fact]
    public void The_ABA_schedule_is_refused_again_after_many_versions()
    {
        // The version keeps counting: the same schedule after a thousand operations is still caught.
        var stack = new FreeIndexStack(3);
        for (int i = 0; i < 500; i++)
        {
            Assert.True(stack.TryPop(out int taken, out _));
            stack.Push(taken);
        }
        bool interleaved = false;
        stack.BeforeCompareExchangeForTest = () =>
        {
            if (interleaved)
            {
                return;
            }
            interleaved = true;
            stack.TryPop(out _, out _);
            stack.TryPop(out _, out _);
            stack.Push(0);
        };
        Assert.True(stack.TryPop(out int index, out _));
        stack.BeforeCompareExchangeForTest = null;
        Assert.Equal(0, index);
        Assert.True(stack.TryPop(out int last, out _));
        Assert.Equal(2, last);
        Assert.False(stack.TryPop(out _, out _));
    }

    [Fact]
    public void A_push_that_raced_a_pop_links_its_index_to_the_new_top()
    {
        // Stack: 2. Push(0) reads top 2 and links 0 -> 2; before its CAS another thread pops 2. The push must retry and
        // link 0 -> empty, or the taken 2 would come out a second time.
        var stack = new FreeIndexStack(3);
        stack.TryPop(out _, out _);
        stack.TryPop(out _, out _);
        bool interleaved = false;
        stack.BeforeCompareExchangeForTest = () =>
        {
            if (interleaved)
            {
                return;
            }
            interleaved = true;
            Assert.True(stack.TryPop(out int taken, out int left));
            Assert.Equal((2, 0), (taken, left));
        };

        Assert.Equal(1, stack.Push(0));
        stack.BeforeCompareExchangeForTest = null;

        Assert.True(stack.TryPop(out int index, out int remaining));
        Assert.Equal((0, 0), (index, remaining));
        Assert.False(stack.TryPop(out _, out _));
    }

    [Fact]
    public void Two_threads_popping_and_pushing_never_duplicate_or_lose_an_index()
    {
        const int capacity = 8;
        var stack = new FreeIndexStack(capacity);
        var owned = new int[capacity];
        int duplicates = 0;
        void Work()
        {
            for (int i = 0; i < 20_000; i++)
            {
                if (stack.TryPop(out int index, out _))
                {
                    if (Interlocked.Exchange(ref owned[index], 1) != 0)
                    {
                        Interlocked.Increment(ref duplicates);
                    }
                    Volatile.Write(ref owned[index], 0);
                    stack.Push(index);
                }
            }
        }
        var other = new Thread(Work);
        other.Start();
        Work();
        other.Join();

        Assert.Equal(0, duplicates);
        Assert.Equal(capacity, stack.Count);
        var seen = new HashSet<int>();
        while (stack.TryPop(out int index, out _))
        {
            Assert.True(seen.Add(index));
        }
        Assert.Equal(capacity, seen.Count);
    }
}
