using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Stores;

/// <summary>Two threads of Stores doing async work with random faults, cancellations, double returns and both
/// kinds of ending (IntoData, Dispose). Whatever happens, every stack and slot must be back at the end.</summary>
public sealed class ConcurrencyStressTests
{
    [Fact]
    public async Task Random_faults_and_cancellations_on_two_threads_leak_nothing()
    {
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 6, slots: 6);
        int faults = 0, cancellations = 0, refusedDoubleReturns = 0, exhaustions = 0, completed = 0;

        async Task Worker(int seed)
        {
            var random = new Random(seed);
            for (int round = 0; round < 300; round++)
            {
                var store = new Store<int>(allocator, round);
                using var cts = new CancellationTokenSource();
                if (random.Next(4) == 0)
                {
                    cts.CancelAfter(random.Next(0, 2));
                }
                try
                {
                    int calls = random.Next(1, 4);
                    for (int i = 0; i < calls; i++)
                    {
                        StackToken token = store.CheckoutStack($"worker {seed} round {round} call {i}");
                        try
                        {
                            if (random.Next(3) == 0)
                            {
                                store.CheckoutMemory(random.Next(3));
                            }
                            await Task.Yield();
                            cts.Token.ThrowIfCancellationRequested();
                            if (random.Next(10) == 0)
                            {
                                throw new InvalidDataException("guest fault");
                            }
                        }
                        finally
                        {
                            store.ReturnStack(token);
                        }
                        if (random.Next(8) == 0 && !store.TryReturnStack(token))
                        {
                            Interlocked.Increment(ref refusedDoubleReturns);
                        }
                    }
                    if (random.Next(2) == 0)
                    {
                        Assert.Equal(round, store.IntoData());
                    }
                    Interlocked.Increment(ref completed);
                }
                catch (InvalidDataException)
                {
                    Interlocked.Increment(ref faults);
                }
                catch (OperationCanceledException)
                {
                    Interlocked.Increment(ref cancellations);
                }
                catch (PoolExhaustedException)
                {
                    Interlocked.Increment(ref exhaustions);
                }
                finally
                {
                    store.Dispose();
                }
            }
        }

        await Task.WhenAll(Task.Run(() => Worker(1)), Task.Run(() => Worker(2)));

        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Instances.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Equal(600, faults + cancellations + exhaustions + completed);
        Assert.True(faults > 0 && completed > 0 && refusedDoubleReturns > 0, $"faults {faults}, completed {completed}, refused {refusedDoubleReturns}");
        Assert.True(allocator.Stacks.GetStatistics().Peak <= 6);
        // Every stack can still be checked out exactly once: the free list was not corrupted.
        var all = Enumerable.Range(0, 6).Select(_ => allocator.Stacks.Rent()).ToArray();
        Assert.Equal(6, all.Select(s => s.Index).Distinct().Count());
        Assert.Null(allocator.Stacks.TryRent());
        foreach (PooledStack s in all)
        {
            allocator.Stacks.ReturnAccepted(s);
        }
    }

    [Fact]
    public void Raw_pool_checkout_and_return_race_on_two_threads_without_losing_or_duplicating_slots()
    {
        using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 3, StackSize = 4 * VirtualMemory.PageSize });
        var owners = new int[3];
        int doubleOwnership = 0;
        void Hammer()
        {
            for (int i = 0; i < 200_000; i++)
            {
                if (pool.TryRent() is not { } s)
                {
                    continue;
                }
                if (Interlocked.Increment(ref owners[s.Index]) != 1)
                {
                    Interlocked.Increment(ref doubleOwnership);
                }
                Interlocked.Decrement(ref owners[s.Index]);
                Assert.Null(pool.Return(s));
                // A second return of the same token must be refused even while the other thread re-rents the slot.
                Assert.NotNull(pool.Return(s));
            }
        }
        Parallel.Invoke(Hammer, Hammer);
        Assert.Equal(0, doubleOwnership);
        Assert.Equal(0, pool.InUse);
        Assert.Equal(3, Enumerable.Range(0, 3).Select(_ => pool.Rent().Index).Distinct().Count());
    }

    [Fact]
    public void Threads_racing_to_return_one_raw_token_through_the_Store_free_its_stack_once()
    {
        // The Store's return reaches the pool through ReturnHeld, a plain store where Return has a compare-and-swap:
        // that is sound only because the Store lets one return of a checkout through (its lock, the lease's
        // generation). If two got through, the stack would be freed twice and two later checkouts would share it.
        using PoolingAllocator allocator = new(new PoolingAllocatorOptions
        {
            Stacks = new StackPoolOptions { MaxStacks = 2, StackSize = 4 * VirtualMemory.PageSize },
            Instances = new SlotPoolOptions { MaxSlots = 1 },
            Memories = new SlotPoolOptions { MaxSlots = 1 },
            CacheStackInStore = false,
        });
        using var store = new Store<int>(allocator, 0);
        int accepted = 0;
        using var start = new Barrier(2);
        for (int i = 0; i < 2_000; i++)
        {
            StackToken token = store.CheckoutStack("raced");
            void Return()
            {
                start.SignalAndWait();
                if (store.TryReturnStack(token))
                {
                    Interlocked.Increment(ref accepted);
                }
            }
            Parallel.Invoke(Return, Return);
            Assert.Equal(i + 1, accepted);
            Assert.Equal(0, allocator.Stacks.InUse);
        }
        Assert.Equal(0, allocator.Stacks.RefusedReturns); // every second return was refused by the Store, before the pool
        StackToken a = store.CheckoutStack("a");
        StackToken b = store.CheckoutStack("b");
        Assert.NotEqual(store.GetStackBounds(a), store.GetStackBounds(b));
        Assert.Throws<PoolExhaustedException>(() => store.CheckoutStack("c"));
        store.ReturnStack(a);
        store.ReturnStack(b);
    }
}
