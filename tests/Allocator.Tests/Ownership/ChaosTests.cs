using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Allocator.Fibers;
using Allocator.Memory;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;
using Xunit.Abstractions;

namespace Allocator.Tests.Ownership;

/// <summary>Eight threads on two cores doing everything at once: fibers with synchronous, asynchronous, failing and
/// slow host functions; cancellation by token and by Cancel; Store Dispose racing running fibers; IntoData attempts;
/// abandoned Stores left to their finalizer; fibers resurrected from user finalizers; allocators disposed under
/// live Stores; and injected OS failures. At the end every pool is back at zero in use.</summary>
/// <remarks>Runs for ALLOCATOR_CHAOS_SECONDS (default 8) seconds.</remarks>
[Collection(SerialCollection.Name)]
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Threads = 8;
    private static readonly ConcurrentBag<Fiber> s_resurrected = new();

    [FiberFact]
    public async Task Everything_at_once_ends_with_every_pool_at_zero()
    {
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("ALLOCATOR_CHAOS_SECONDS"), out int s) && s > 0 ? s : 8;
        using PoolingAllocator allocator = new(new PoolingAllocatorOptions
        {
            Stacks = new StackPoolOptions { MaxStacks = 16, StackSize = 64 * 1024, ZeroOnReturn = true, KeepResident = 8 * 1024 },
            Instances = new SlotPoolOptions { MaxSlots = 8, SlotSize = 4 * VirtualMemory.PageSize, DecommitBatchSize = 2 },
            Memories = new SlotPoolOptions { MaxSlots = 8, SlotSize = 16 * VirtualMemory.PageSize, GuardSize = VirtualMemory.PageSize, MaxUnusedWarmSlots = 4, DecommitBatchSize = 3 },
        });
        var counts = new ConcurrentDictionary<string, int>();
        var unexpected = new ConcurrentQueue<Exception>();
        int faultRate = 0; // per 1000 memory calls, switched on and off while the test runs
        VirtualMemoryFaults.Hook = (operation, _) =>
            operation is VirtualMemoryOperation.Protect or VirtualMemoryOperation.Discard && Random.Shared.Next(1000) < Volatile.Read(ref faultRate) ? 12 : 0;
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        try
        {
            Task[] workers = Enumerable.Range(0, Threads).Select(id => Task.Run(async () =>
            {
                var random = new Random(id * 7919);
                while (DateTime.UtcNow < deadline)
                {
                    Volatile.Write(ref faultRate, random.Next(4) == 0 ? 20 : 0);
                    string step = await OneRoundAsync(allocator, random, id);
                    counts.AddOrUpdate(step, 1, (_, n) => n + 1);
                }
            }).ContinueWith(t =>
            {
                if (t.Exception is { } e)
                {
                    unexpected.Enqueue(e.GetBaseException());
                }
            })).ToArray();
            await Task.WhenAll(workers);
        }
        finally
        {
            VirtualMemoryFaults.Hook = null;
        }
        Assert.Empty(unexpected);

        // Abandoned Stores come back through their finalizers. A resurrected fiber makes its Store reachable again,
        // so its finalizer may run only once the resurrected references are dropped: use them, drop them, collect.
        Collect();
        int resurrected = s_resurrected.Count;
        while (s_resurrected.TryTake(out Fiber? fiber))
        {
            fiber.Dispose();
            await Assert.ThrowsAnyAsync<Exception>(async () => await fiber.RunAsync());
        }
        Collect();
        allocator.Stacks.FlushPendingResets();
        allocator.Instances.FlushPendingResets();
        allocator.Memories.FlushPendingResets();
        output.WriteLine(string.Join(", ", counts.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}")));
        output.WriteLine($"abandoned Stores: {allocator.AbandonedStores}, resurrected fibers: {resurrected}");
        output.WriteLine("live: " + string.Join("; ", allocator.DescribeLiveCheckouts()));
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Instances.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Empty(allocator.DescribeLiveCheckouts());
    }

    private static void Collect()
    {
        for (int i = 0; i < 20; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(10);
        }
    }

    /// <summary>One randomly chosen scenario; returns its name. Only the exceptions each scenario can legitimately
    /// meet are caught; anything else fails the test.</summary>
    private static async Task<string> OneRoundAsync(PoolingAllocator allocator, Random random, int id)
    {
        int choice = random.Next(7);
        try
        {
            switch (choice)
            {
                case 0:
                    await RunToEndAsync(allocator, random);
                    return "run";
                case 1:
                    await CancelledByTokenAsync(allocator, random);
                    return "token";
                case 2:
                    await DisposeWhileRunningAsync(allocator, random);
                    return "dispose-race";
                case 3:
                    Abandon(allocator, random, resurrect: random.Next(2) == 0);
                    return "abandon";
                case 4:
                    await SharedAllocatorDisposedAsync(random);
                    return "allocator-dispose";
                case 5:
                    IntoDataWhileHeld(allocator);
                    return "into-data";
                default:
                    await HostFailureAsync(allocator, random);
                    return "host-failure";
            }
        }
        catch (Exception ex) when (ex is PoolExhaustedException or VirtualMemoryException or OperationCanceledException
            or ObjectDisposedException or ChaosHostException or StacksCheckedOutException)
        {
            return $"{choice}:{ex.GetType().Name}";
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is VirtualMemoryException or ObjectDisposedException))
        {
            return $"{choice}:aggregate";
        }
    }

    private static FiberHostFunctions Hosts(Random random, bool failing = false)
    {
        int mode = random.Next(3);
        FiberHostFunction async = async call =>
        {
            if (failing && call[1] == 2)
            {
                throw new ChaosHostException();
            }
            if ((call[1] & 1) == 0)
            {
                await Task.Yield();
            }
            return call[1];
        };
        return mode switch
        {
            0 => new FiberHostFunctions(async),
            1 => FiberHostFunctions.From(FiberHostEntry.Sync(call => failing && call[1] == 2 ? throw new ChaosHostException() : call[1])),
            _ => new FiberHostFunctions(call => ValueTask.FromResult(call[1])),
        };
    }

    private static async Task RunToEndAsync(PoolingAllocator allocator, Random random)
    {
        var store = new Store<int>(allocator, 0);
        try
        {
            SlotToken memory = store.CheckoutMemory(affinityKey: random.Next(4));
            store.GetSlotMemory(memory).Fill(0x5A);
            int count = random.Next(1, 12);
            using Fiber fiber = Fiber.Create(store, "run", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(3, count), Hosts(random));
            Assert.Equal(count * (count - 1) / 2, await fiber.RunAsync());
            store.IntoData();
        }
        finally
        {
            store.Dispose();
        }
    }

    private static async Task CancelledByTokenAsync(PoolingAllocator allocator, Random random)
    {
        using var store = new Store<int>(allocator, 0);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(0, 3)));
        using Fiber fiber = Fiber.Create(store, "token", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(5, 200),
            new FiberHostFunctions(async call =>
            {
                await Task.Delay(1, call.CancellationToken);
                return 1;
            }));
        await fiber.RunAsync(cts.Token);
    }

    private static async Task DisposeWhileRunningAsync(PoolingAllocator allocator, Random random)
    {
        var store = new Store<int>(allocator, 0);
        store.CheckoutInstance();
        Fiber fiber = Fiber.Create(store, "raced", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(7, 50), Hosts(random));
        Task<long> running = fiber.RunAsync().AsTask();
        await Task.Delay(random.Next(0, 2));
        if (random.Next(2) == 0)
        {
            fiber.Cancel();
        }
        store.Dispose();
        try
        {
            await running;
        }
        catch (OperationCanceledException)
        {
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Abandon(PoolingAllocator allocator, Random random, bool resurrect)
    {
        var store = new Store<int>(allocator, 0);
        store.CheckoutMemory();
        // A host call that waits until the fiber is cancelled: a cancel keeps the stack out until the host task ends.
        Fiber fiber = Fiber.Create(store, "abandoned", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(1, 3),
            new FiberHostFunctions(async call =>
            {
                await Task.Delay(Timeout.Infinite, call.CancellationToken);
                return 0;
            }));
        if (random.Next(2) == 0)
        {
            _ = fiber.RunAsync().AsTask();
        }
        if (resurrect)
        {
            _ = new Resurrector(fiber);
        }
    }

    private static async Task SharedAllocatorDisposedAsync(Random random)
    {
        var local = new PoolingAllocator(new PoolingAllocatorOptions
        {
            Stacks = new StackPoolOptions { MaxStacks = 2, StackSize = 64 * 1024 },
            Instances = new SlotPoolOptions { MaxSlots = 2, SlotSize = VirtualMemory.PageSize },
            Memories = new SlotPoolOptions { MaxSlots = 2, SlotSize = 4 * VirtualMemory.PageSize },
        });
        var store = new Store<int>(local, 0);
        store.CheckoutMemory();
        Fiber fiber = Fiber.Create(store, "outlives", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(2, 10), Hosts(random));
        Task<long> running = fiber.RunAsync().AsTask();
        local.Dispose();
        Assert.Equal(45, await running);
        store.Dispose();
        Assert.True(local.Stacks.IsReleased && local.Memories.IsReleased);
    }

    private static void IntoDataWhileHeld(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 42);
        try
        {
            using Fiber fiber = Fiber.Create(store, "held", TestGuest.CallLoop, 1, FiberHostFunctions.Empty);
            Assert.Throws<StacksCheckedOutException>(() => store.IntoData());
        }
        finally
        {
            store.Dispose();
        }
    }

    private static async Task HostFailureAsync(PoolingAllocator allocator, Random random)
    {
        using var store = new Store<int>(allocator, 0);
        using Fiber fiber = Fiber.Create(store, "failing", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(8, 5), Hosts(random, failing: true));
        await fiber.RunAsync();
    }

    private sealed class ChaosHostException : Exception;

    private sealed class Resurrector(Fiber fiber)
    {
        ~Resurrector() => s_resurrected.Add(fiber);
    }
}
