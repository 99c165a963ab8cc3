using System.Reflection;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>Which free slot a checkout gets: affinity hits, cold before oldest-warm, the warm limit and its LRU order,
/// the per-key lists, and forgetting every key. Counts are checked exactly after each step.</summary>
public sealed class IndexAllocatorTests
{
    private static readonly object KeyA = new(), KeyB = new(), KeyC = new();

    [Fact]
    public void Without_warm_slots_every_index_goes_out_once_and_comes_back_cold()
    {
        var indices = new IndexAllocator(3, maxWarm: 0);
        Assert.False(indices.KeepsWarm);
        Assert.Equal(3, indices.Capacity);
        var taken = new HashSet<int>();
        for (int i = 0; i < 3; i++)
        {
            Assert.True(indices.TryAllocate(KeyA, out int index, out bool hit));
            Assert.False(hit);
            Assert.True(taken.Add(index));
            Assert.Equal(2 - i, indices.FreeCount);
        }
        Assert.False(indices.TryAllocate(null, out int none, out _));
        Assert.Equal(-1, none);
        indices.Free(1, KeyA); // a key is ignored without affinity
        Assert.Equal(0, indices.WarmCount);
        Assert.Equal(1, indices.FreeCount);
        Assert.False(indices.TryAllocateWarm(KeyA, out int warm));
        Assert.Equal(-1, warm);
        Assert.True(indices.TryAllocate(KeyA, out int again, out bool againHit));
        Assert.Equal((1, false), (again, againHit));
        Assert.Equal(0, indices.FreeCount);
    }

    [Fact]
    public void A_key_gets_its_own_warm_slot_back_as_an_affinity_hit()
    {
        var indices = new IndexAllocator(4, maxWarm: 2);
        Assert.True(indices.KeepsWarm);
        int a = Take(indices, KeyA);
        int b = Take(indices, KeyB);
        indices.Free(a, KeyA);
        indices.Free(b, KeyB);
        Assert.Equal(2, indices.WarmCount);
        Assert.Equal(4, indices.FreeCount);

        Assert.True(indices.TryAllocate(KeyB, out int again, out bool hit));
        Assert.Equal((b, true), (again, hit));
        Assert.Equal(1, indices.WarmCount);
        Assert.Equal(3, indices.FreeCount);
        // Another key, or no key, takes a cold slot while there is one, leaving A's warm.
        Assert.True(indices.TryAllocate(KeyC, out int cold, out bool coldHit));
        Assert.False(coldHit);
        Assert.NotEqual(a, cold);
        Assert.True(indices.TryAllocate(null, out int cold2, out _));
        Assert.NotEqual(a, cold2);
        Assert.Equal(1, indices.WarmCount);
        // No cold slot left: a stranger takes A's warm slot (not a hit).
        Assert.True(indices.TryAllocate(KeyC, out int stolen, out bool stolenHit));
        Assert.Equal((a, false), (stolen, stolenHit));
        Assert.Equal(0, indices.WarmCount);
        Assert.Equal(0, indices.FreeCount);
        Assert.False(indices.TryAllocate(KeyA, out _, out bool missHit));
        Assert.False(missHit);
    }

    [Fact]
    public void Without_cold_slots_the_oldest_warm_slot_goes_first()
    {
        var indices = new IndexAllocator(3, maxWarm: 3);
        int[] slots = [Take(indices, null), Take(indices, null), Take(indices, null)];
        indices.Free(slots[1], KeyA);
        indices.Free(slots[0], KeyB);
        indices.Free(slots[2], KeyC);
        Assert.Equal(3, indices.WarmCount);
        // LRU order: slots[1] (A), slots[0] (B), slots[2] (C).
        Assert.Equal(slots[1], Take(indices, null));
        Assert.Equal(slots[0], Take(indices, new object()));
        Assert.Equal(slots[2], Take(indices, null));
        Assert.Equal(0, indices.WarmCount);
    }

    [Fact]
    public void Freeing_past_the_warm_limit_forgets_the_oldest_warm_slot()
    {
        var indices = new IndexAllocator(4, maxWarm: 2);
        int[] slots = [Take(indices, null), Take(indices, null), Take(indices, null), Take(indices, null)];
        indices.Free(slots[0], KeyA, out int none);
        Assert.Equal(-1, none);
        indices.Free(slots[1], KeyB, out none);
        Assert.Equal(-1, none);
        indices.Free(slots[2], KeyC, out int forgotten);
        Assert.Equal(slots[0], forgotten);
        Assert.Equal(2, indices.WarmCount);
        // The caller frees the forgotten slot cold.
        Assert.Equal(2, indices.FreeCount);
        indices.FreeCold(forgotten);
        Assert.Equal(3, indices.FreeCount);
        Assert.False(indices.TryAllocateWarm(KeyA, out _));
        // The two-argument Free pushes the forgotten one cold itself.
        indices.Free(slots[3], KeyA);
        Assert.Equal(2, indices.WarmCount);
        Assert.Equal(4, indices.FreeCount);
        Assert.False(indices.TryAllocateWarm(KeyB, out _)); // B was the oldest now
        Assert.True(indices.TryAllocateWarm(KeyC, out int c));
        Assert.Equal(slots[2], c);
        Assert.True(indices.TryAllocateWarm(KeyA, out int a));
        Assert.Equal(slots[3], a);
        Assert.Equal(0, indices.WarmCount);
        Assert.Equal(2, indices.FreeCount);
        // Only cold slots are left: slots[0] and slots[1].
        Assert.Equal([slots[0], slots[1]], new[] { Take(indices, null), Take(indices, null) }.Order());
    }

    [Fact]
    public void One_key_with_several_warm_slots_hands_out_the_most_recent_first()
    {
        var indices = new IndexAllocator(5, maxWarm: 5);
        int[] slots = [Take(indices, null), Take(indices, null), Take(indices, null), Take(indices, null), Take(indices, null)];
        indices.Free(slots[0], KeyA);
        indices.Free(slots[1], KeyB);
        indices.Free(slots[2], KeyA);
        indices.Free(slots[3], KeyA);
        indices.Free(slots[4], KeyB);
        // A's list: slots[3], slots[2], slots[0]. Taking the middle one (the oldest overall goes first without a key)
        // must leave the list linked around it.
        Assert.Equal(slots[0], Take(indices, KeyC, expectHit: false)); // no cold left: oldest warm (A's tail)
        Assert.True(indices.TryAllocate(KeyA, out int first, out bool hit));
        Assert.Equal((slots[3], true), (first, hit));
        Assert.Equal(slots[2], Take(indices, KeyA, expectHit: true));
        Assert.False(indices.TryAllocateWarm(KeyA, out _));
        Assert.Equal(slots[4], Take(indices, KeyB, expectHit: true));
        Assert.Equal(slots[1], Take(indices, KeyB, expectHit: true));
        Assert.Equal(0, indices.WarmCount);
        Assert.Equal(0, indices.FreeCount);
    }

    [Fact]
    public void Taking_a_warm_slot_from_the_middle_of_the_LRU_order_keeps_both_lists_linked()
    {
        var indices = new IndexAllocator(4, maxWarm: 4);
        int[] slots = [Take(indices, null), Take(indices, null), Take(indices, null), Take(indices, null)];
        indices.Free(slots[0], KeyA);
        indices.Free(slots[1], KeyB);
        indices.Free(slots[2], KeyA);
        indices.Free(slots[3], KeyC);
        // Take B (middle of the LRU order) and A's newest (head of A's list, middle of the LRU order).
        Assert.Equal(slots[1], Take(indices, KeyB, expectHit: true));
        Assert.Equal(slots[2], Take(indices, KeyA, expectHit: true));
        // LRU order now: slots[0] (A), slots[3] (C).
        Assert.Equal(slots[0], Take(indices, null));
        Assert.Equal(slots[3], Take(indices, null));
        Assert.Equal(0, indices.WarmCount);
        // Freeing again after the lists emptied starts them afresh.
        indices.Free(slots[3], KeyC);
        indices.Free(slots[0], KeyC);
        Assert.Equal(slots[0], Take(indices, KeyC, expectHit: true));
        Assert.Equal(slots[3], Take(indices, KeyC, expectHit: true));
    }

    [Fact]
    public void Taking_the_newest_warm_slot_keeps_the_LRU_tail_right()
    {
        var indices = new IndexAllocator(3, maxWarm: 3);
        int[] slots = [Take(indices, null), Take(indices, null), Take(indices, null)];
        indices.Free(slots[0], KeyA);
        indices.Free(slots[1], KeyB);
        Assert.Equal(slots[1], Take(indices, KeyB, expectHit: true)); // the newest
        indices.Free(slots[1], KeyC); // appended after slots[0]
        indices.Free(slots[2], KeyB);
        Assert.Equal(slots[0], Take(indices, null));
        Assert.Equal(slots[1], Take(indices, null));
        Assert.Equal(slots[2], Take(indices, null));
    }

    [Fact]
    public void ForgetAllKeys_turns_every_warm_slot_cold()
    {
        var indices = new IndexAllocator(3, maxWarm: 3);
        int[] slots = [Take(indices, null), Take(indices, null), Take(indices, null)];
        indices.Free(slots[0], KeyA);
        indices.Free(slots[1], KeyB);
        indices.ForgetAllKeys();
        Assert.Equal(0, indices.WarmCount);
        Assert.Equal(2, indices.FreeCount);
        Assert.True(indices.TryAllocate(KeyA, out int index, out bool hit));
        Assert.False(hit);
        Assert.Contains(index, slots[..2]);
        Assert.False(indices.TryAllocateWarm(KeyB, out _));
        // A key freed after forgetting is warm again.
        indices.Free(index, KeyB);
        Assert.Equal(1, indices.WarmCount);
        Assert.True(indices.TryAllocateWarm(KeyB, out int warm));
        Assert.Equal(index, warm);
    }

    [Fact]
    public void Forgetting_keys_when_none_is_warm_changes_nothing()
    {
        var indices = new IndexAllocator(3, maxWarm: 2);
        indices.ForgetAllKeys();
        Assert.Equal((3, 0), (indices.FreeCount, indices.WarmCount));
        Assert.Equal(0, Take(indices, KeyA));
    }

    [Fact]
    public void Slot_zero_pushed_out_of_the_warm_list_goes_cold_and_is_not_lost()
    {
        var indices = new IndexAllocator(2, maxWarm: 1);
        int[] slots = [Take(indices, null), Take(indices, null)];
        Assert.Equal([0, 1], slots);
        indices.Free(0, KeyA);
        indices.Free(1, KeyB); // pushes slot 0 (A) out: it must go cold, not vanish
        Assert.Equal((2, 1), (indices.FreeCount, indices.WarmCount));
        Assert.Equal(0, Take(indices, KeyC));
        Assert.Equal(1, Take(indices, KeyB, expectHit: true));
        Assert.False(indices.TryAllocate(null, out _, out _));
    }

    [Fact]
    public void Taking_the_oldest_slot_of_a_key_keeps_its_newer_slot_zero_warm()
    {
        var indices = new IndexAllocator(2, maxWarm: 2);
        Take(indices, null);
        Take(indices, null);
        indices.Free(1, KeyA);
        indices.Free(0, KeyA); // A's list: 0 -> 1; LRU: 1, 0
        Assert.Equal(1, Take(indices, KeyB)); // no cold slot: the oldest warm one, A's tail, whose previous is slot 0
        Assert.True(indices.TryAllocateWarm(KeyA, out int index));
        Assert.Equal(0, index);
    }

    [Fact]
    public void Taking_a_keys_newest_slot_makes_slot_zero_behind_it_the_new_head()
    {
        var indices = new IndexAllocator(3, maxWarm: 3);
        Take(indices, null);
        Take(indices, null);
        Take(indices, null);
        indices.Free(0, KeyA);
        indices.Free(1, KeyA); // A's list: 1 -> 0
        indices.Free(2, KeyB); // keeps a warm slot around, so the lookups below are not skipped
        Assert.Equal(1, Take(indices, KeyA, expectHit: true));
        Assert.Equal(0, Take(indices, KeyA, expectHit: true));
        Assert.False(indices.TryAllocateWarm(KeyA, out _));
        Assert.Equal((1, 1), (indices.FreeCount, indices.WarmCount));
        Assert.Equal(2, Take(indices, KeyB, expectHit: true));
    }

    private static int Take(IndexAllocator indices, object? key, bool expectHit = false)
    {
        Assert.True(indices.TryAllocate(key, out int index, out bool hit));
        Assert.Equal(expectHit, hit);
        return index;
    }

    [Fact]
    public void Without_a_lent_lock_warm_calls_take_their_own_and_give_it_back()
    {
        // A standalone allocator guards its warm slots with a lock of its own: a warm call from another thread waits
        // while that lock is held elsewhere, and leaves it free once done.
        var indices = new IndexAllocator(4, maxWarm: 2);
        object warmLock = typeof(IndexAllocator).GetField("_warmLock", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(indices)!;
        Assert.True(indices.TryAllocate(KeyA, out int index, out _));
        NewThread.Run(() => indices.Free(index, KeyA));
        Assert.True(Monitor.TryEnter(warmLock, TimeSpan.FromSeconds(10)), "the free left the warm lock held");
        (bool Taken, int Index, bool Hit) result = default;
        var taker = new Thread(() => result = (indices.TryAllocate(KeyA, out int taken, out bool hit), taken, hit));
        try
        {
            taker.Start();
            Assert.False(taker.Join(100), "a warm checkout went ahead while another thread held the warm lock");
        }
        finally
        {
            Monitor.Exit(warmLock);
        }
        Assert.True(taker.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal((true, index, true), result);
    }

    [Fact]
    public void With_a_lent_lock_warm_calls_enter_nothing_of_their_own()
    {
        // A slot pool lends its lock and holds it around every warm call; the allocator then enters no monitor.
        object poolLock = new();
        var indices = new IndexAllocator(4, maxWarm: 2, callersLock: poolLock);
        lock (poolLock)
        {
            Assert.True(indices.TryAllocate(KeyA, out int index, out _));
            indices.Free(index, KeyA, out int forgotten);
            Assert.Equal(-1, forgotten);
            Assert.True(indices.TryAllocate(KeyA, out int again, out bool hit));
            Assert.Equal((index, true), (again, hit));
        }
        Assert.False(Monitor.IsEntered(poolLock));
    }
}
