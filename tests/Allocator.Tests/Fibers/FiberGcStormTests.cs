using Allocator.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Fibers;

/// <summary>Compacting GCs while many fibers sit suspended in async host calls corrupt neither the guests' native
/// frames nor the host's managed objects: only native frames are on fiber stacks, so the GC never needs to see them.</summary>
[Collection(SerialCollection.Name)]
public sealed class FiberGcStormTests
{
    private const int Fibers = 24;
    private const int CallsPerFiber = 40;

    [FiberFact]
    public async Task Compacting_collections_while_fibers_are_suspended_corrupt_nothing()
    {
        using PoolingAllocator allocator = FiberPools.Allocator(stacks: Fibers, stackKiB: 64);
        using var store = new Store<int>(allocator, 0);
        int gen2Before = GC.CollectionCount(2);
        long hostCalls = 0;
        var hosts = new FiberHostFunctions(async call =>
        {
            long seed = call[0];
            long n = call[1];
            // Managed state that must survive the awaits and the compactions around them.
            List<string> payload = Enumerable.Range(0, 16).Select(i => $"{seed}:{n}:{i}").ToList();
            byte[] bytes = new byte[1024 + (int)(n % 7) * 512];
            bytes.AsSpan().Fill((byte)(seed + n));
            await Task.Yield();
            if (Interlocked.Increment(ref hostCalls) % 8 == 0)
            {
                // A collection from inside a host call: this fiber and most others are suspended right now.
                GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            }
            await Task.Delay(1);
            for (int i = 0; i < payload.Count; i++)
            {
                Assert.Equal($"{seed}:{n}:{i}", payload[i]);
            }
            Assert.True(bytes.AsSpan().IndexOfAnyExcept((byte)(seed + n)) < 0, "host bytes changed");
            return (seed * 7) + n;
        });
        using var stormDone = new CancellationTokenSource();
        Task storm = Task.Run(() => Storm(stormDone.Token));
        var fibers = Enumerable.Range(1, Fibers)
            .Select(seed => Fiber.Create(store, $"storm-{seed}", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed, CallsPerFiber), hosts))
            .ToArray();

        long[] results;
        try
        {
            results = await Task.WhenAll(fibers.Select(f => f.RunAsync().AsTask()));
        }
        finally
        {
            stormDone.Cancel();
            await storm;
        }

        for (int seed = 1; seed <= Fibers; seed++)
        {
            long expected = Enumerable.Range(0, CallsPerFiber).Sum(n => (seed * 7L) + n);
            Assert.Equal(expected, results[seed - 1]);
        }
        Assert.Equal(Fibers * CallsPerFiber, Interlocked.Read(ref hostCalls));
        Assert.True(GC.CollectionCount(2) - gen2Before >= 20, $"only {GC.CollectionCount(2) - gen2Before} gen2 collections ran");
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    private static void Storm(CancellationToken done)
    {
        var survivors = new List<object>();
        while (!done.IsCancellationRequested)
        {
            for (int i = 0; i < 200; i++)
            {
                survivors.Add(new byte[64 + (i % 13) * 32]);
            }
            if (survivors.Count > 5000)
            {
                survivors.RemoveRange(0, 2500);
            }
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            // Leave the drivers room to run: back-to-back blocking collections would stop every other thread.
            Thread.Sleep(2);
        }
    }
}
