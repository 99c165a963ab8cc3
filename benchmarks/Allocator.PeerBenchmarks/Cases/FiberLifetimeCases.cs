using Allocator.Fibers;
using Allocator.PeerBenchmarks.Boost;
using Allocator.PeerBenchmarks.Harness;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>A fiber's whole life with one call out: ours is Fiber.Create on a 256 KiB stack from the shared pool,
/// RunAsync through one async host call answered at once (the fiber switches back to the driver and is resumed with
/// the answer), to its end, Dispose. Boost's is a boost::context::fiber on a pooled_fixedsize_stack (256 KiB),
/// resumed to its "host call" (a switch back to its creator), resumed with the answer, run to its end.</summary>
internal sealed class FiberLifetimeCases : ICaseSet
{
    private const string Name = "fiber create + 1 host call + end";
    private readonly PoolingAllocator _allocator = PeerAllocators.Stacks();
    private readonly Store<int> _store;

    public FiberLifetimeCases() => _store = new Store<int>(_allocator, 0);

    public IEnumerable<Comparison> Comparisons()
    {
        if (BoostShim.Missing is not null)
        {
            yield break;
        }
        BoostShim.Initialize();
        yield return new Comparison(Name,
            new BenchCase("ours: Fiber.Create + 1 async host call + end", OurLifetimes),
            new BenchCase("Boost: fiber on a pooled stack, 1 call out + end", n =>
            {
                if (BoostShim.Fiber(n) != n * (n + 1) / 2)
                {
                    throw new InvalidOperationException("the Boost fibers computed a wrong sum");
                }
            }),
            BoostShim.Version + " fiber", Target: ">= 0.5x");
    }

    public IEnumerable<SkippedComparison> Skipped() => BoostShim.Missing is { } reason
        ? [new(Name, "Boost.Context fiber", reason, ">= 0.5x")]
        : [];

    private void OurLifetimes(long n)
    {
        for (long i = 0; i < n; i++)
        {
            using Fiber fiber = Fiber.Create(_store, "fiber", PeerNative.HostLoop, 1, OurFibers.AsyncReady);
            OurFibers.Expect(OurFibers.RunReady(fiber), 1);
        }
    }

    public void Dispose()
    {
        _store.Dispose();
        _allocator.Dispose();
    }
}
