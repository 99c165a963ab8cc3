using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>The stack pool parks one freed stack per thread, taken and parked by its owner with plain loads and
/// stores; other threads reach it only by stealing, after a process-wide barrier. What must hold: a slot is never
/// handed to two parties and never lost, whoever parks, takes or steals at the same time, a dead thread's slot is
/// still found, and the steady state allocates nothing.</summary>
public sealed class PerThreadSlotCacheTests
{
    [Fact]
    public void A_thread_takes_back_what_it_parked_and_its_cell_holds_one()
    {
        var cache = new PerThreadSlotCache();
        Assert.Equal(-1, cache.Take());
        Assert.True(cache.TryPark(0)); // index 0 is stored as 1, so it is not taken for an empty cell
        Assert.False(cache.TryPark(1)); // occupied: the caller frees to the shared list instead
        Assert.Equal(1, cache.Count);
        Assert.Equal(0, cache.Take());
        Assert.Equal(-1, cache.Take());
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Another_thread_parks_in_its_own_cell_and_only_stealing_reaches_it()
    {
        var cache = new PerThreadSlotCache();
        NewThread.Run(() => Assert.True(cache.TryPark(7)));
        Assert.Equal(-1, cache.Take()); // not this thread's cell
        Assert.True(cache.TryPark(3));
        Assert.Equal(2, cache.Count);
        var stolen = new List<int>();
        while (cache.TrySteal(out int index))
        {
            stolen.Add(index);
        }
        Assert.Equal([3, 7], stolen.Order()); // the dead thread's slot too
        Assert.Equal(0, cache.Count);
        Assert.False(cache.TrySteal(out int none));
        Assert.Equal(-1, none);
    }

    [Fact]
    public void Each_thread_has_one_cell_and_keeps_it_across_uses()
    {
        var cache = new PerThreadSlotCache();
        Assert.True(cache.TryPark(4));
        NewThread.Run(() =>
        {
            Assert.Equal(-1, cache.Take());
            Assert.True(cache.TryPark(5));
            Assert.Equal(5, cache.Take());
            Assert.True(cache.TryPark(5));
        });
        Assert.Equal(2, cache.CellCount);
        Assert.False(cache.TryPark(6)); // this thread's cell still holds 4
        Assert.Equal(4, cache.Take());
        Assert.True(cache.TrySteal(out int stolen)); // the other thread's, left behind when it ended
        Assert.Equal(5, stolen);
        Assert.Equal(2, cache.CellCount);
    }

    [Fact]
    public void Taking_and_parking_in_the_steady_state_allocates_nothing()
    {
        var cache = new PerThreadSlotCache();
        Assert.True(cache.TryPark(1));
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            int index = cache.Take();
            Assert.True(cache.TryPark(index));
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Owners_and_thieves_racing_never_share_or_lose_a_slot()
    {
        // Each owner cycles its own slots through its cell (the plain path while no thief runs); thieves steal
        // meanwhile (owners then switch to atomics). Every slot must always be held by exactly one party.
        const int Owners = 3;
        const int SlotsPerOwner = 2;
        var cache = new PerThreadSlotCache();
        int[] holders = new int[Owners * SlotsPerOwner]; // 1 while some party holds the slot
        var stolenBack = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var heldAtEnd = new System.Collections.Concurrent.ConcurrentQueue<int>();
        long end = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency / 4;
        bool Running() => System.Diagnostics.Stopwatch.GetTimestamp() < end;
        int steals = 0;
        Exception? failure = null;

        void Hold(int index)
        {
            if (Interlocked.Exchange(ref holders[index], 1) != 0)
            {
                throw new InvalidOperationException($"slot {index} handed out twice");
            }
        }

        void Release(int index) => Volatile.Write(ref holders[index], 0);

        var threads = new List<Thread>();
        for (int owner = 0; owner < Owners; owner++)
        {
            int first = owner * SlotsPerOwner;
            threads.Add(new Thread(() =>
            {
                try
                {
                    var mine = new Queue<int>(Enumerable.Range(first, SlotsPerOwner));
                    foreach (int index in mine)
                    {
                        Hold(index);
                    }
                    while (Running())
                    {
                        if (mine.TryDequeue(out int giving))
                        {
                            Release(giving);
                            if (!cache.TryPark(giving))
                            {
                                Hold(giving); // the cell was full: keep it
                                mine.Enqueue(giving);
                            }
                        }
                        Thread.SpinWait(100); // leave the slot parked a while: the thief's window
                        int taken = cache.Take();
                        if (taken >= 0)
                        {
                            Hold(taken);
                            mine.Enqueue(taken);
                        }
                        while (stolenBack.TryDequeue(out int returned))
                        {
                            Hold(returned);
                            mine.Enqueue(returned);
                        }
                    }
                    foreach (int index in mine)
                    {
                        Release(index);
                        heldAtEnd.Enqueue(index);
                    }
                }
                catch (Exception ex)
                {
                    failure ??= ex;
                }
            }));
        }
        var thief = new Thread(() =>
        {
            try
            {
                while (Running())
                {
                    if (cache.TrySteal(out int index))
                    {
                        Hold(index);
                        Release(index);
                        stolenBack.Enqueue(index);
                        steals++;
                    }
                    Thread.Yield();
                }
            }
            catch (Exception ex)
            {
                failure ??= ex;
            }
        });
        threads.ForEach(t => t.Start());
        thief.Start();
        threads.ForEach(t => t.Join());
        thief.Join();
        Assert.Null(failure);
        Assert.True(steals > 0, "The thief never stole: the race was not exercised.");

        // Nothing lost: every slot is now parked in a cell, queued for its owner or was held at the end, once each.
        var left = new List<int>(stolenBack);
        left.AddRange(heldAtEnd);
        while (cache.TrySteal(out int index))
        {
            left.Add(index);
        }
        Assert.Equal(Enumerable.Range(0, Owners * SlotsPerOwner), left.Order());
        Assert.All(holders, h => Assert.Equal(0, h));
    }

    [Fact]
    public void A_pool_of_one_stack_serves_threads_that_return_it_in_turn()
    {
        // The stack each thread returns stays in that thread's cell; the next thread's checkout must steal it.
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 1, StackSize = 4 * VirtualMemory.PageSize });
        for (int round = 0; round < 4; round++)
        {
            NewThread.Run(() =>
            {
                PooledStack stack = pool.Rent();
                Assert.Throws<PoolExhaustedException>(() => pool.Rent());
                Assert.Null(pool.ReturnHeld(stack));
                Assert.Equal(0, pool.InUse);
            });
            Assert.Equal(0, pool.InUse);
            PooledStack mine = pool.Rent();
            Assert.Equal(1, pool.InUse);
            Assert.Null(pool.ReturnHeld(mine));
        }
        Assert.Equal(4, pool.Exhaustions);
    }

    [Fact]
    public void Stacks_parked_by_threads_that_have_ended_all_come_back_to_a_thread_that_needs_them()
    {
        // Each thread leaves the stack it returned in its own cell and ends; nobody will take those back but a thief.
        // A pool whose every stack sits in a dead thread's cell is full, not exhausted: one thread gets them all.
        const int Count = 4;
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = Count, StackSize = 4 * VirtualMemory.PageSize });
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var threads = Enumerable.Range(0, Count).Select(_ => new Thread(() =>
        {
            // Nothing thrown from here: an exception escaping a thread ends the test process.
            try
            {
                PooledStack stack = pool.Rent();
                Thread.Sleep(20); // all out at once, so each thread parks a different stack
                if (pool.ReturnHeld(stack) is { } reason)
                {
                    failures.Add($"return refused: {reason}");
                }
            }
            catch (Exception ex)
            {
                failures.Add(ex.ToString());
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Empty(failures);
        Assert.Equal(0, pool.InUse);

        PooledStack[] all = [.. Enumerable.Range(0, Count).Select(_ => pool.Rent())];

        Assert.Equal(Count, all.Select(s => s.Index).Distinct().Count());
        Assert.Throws<PoolExhaustedException>(() => pool.Rent());
        Assert.All(all, s => Assert.Null(pool.ReturnHeld(s)));
        Assert.Equal(0, pool.InUse);
    }
}
