using Allocator.PeerBenchmarks.Boost;
using Allocator.PeerBenchmarks.Harness;

namespace Allocator.PeerBenchmarks.Cases;

/// <summary>A 256 KiB stack got and given back. Ours: Store.CheckoutStack + ReturnStack from the shared lock-free
/// pool (a guard page below each stack, no stack kept in the Store). Against Boost's pooled_fixedsize_stack (a
/// boost::pool free list for one thread, no guard page), a fresh mmap + mprotect(guard) + munmap per stack, and our
/// own return with zeroing on (16 KiB kept resident and zeroed, the rest given back), and with zeroing in batches of
/// 64 stacks and nothing kept resident.</summary>
internal sealed unsafe class StackCases : ICaseSet
{
    private const string BoostName = "256 KiB stack get+return, with guard pages, lock-free";
    private const nuint StackBytes = 256 * 1024;
    private readonly PoolingAllocator _plain = PeerAllocators.Stacks();
    private readonly PoolingAllocator _zeroing = PeerAllocators.Stacks(zeroOnReturn: true);
    private readonly PoolingAllocator _batchZeroing = PeerAllocators.BatchZeroedStacks();
    private readonly Store<int> _plainStore;
    private readonly Store<int> _zeroingStore;
    private readonly Store<int> _batchZeroingStore;

    public StackCases()
    {
        _plainStore = new Store<int>(_plain, 0);
        _zeroingStore = new Store<int>(_zeroing, 0);
        _batchZeroingStore = new Store<int>(_batchZeroing, 0);
    }

    public IEnumerable<Comparison> Comparisons()
    {
        var ours = new BenchCase("ours: Store.CheckoutStack + ReturnStack, 256 KiB", n => GetReturn(_plainStore, n));
        if (BoostShim.Missing is null)
        {
            BoostShim.Initialize();
            yield return new Comparison(BoostName, ours,
                new BenchCase("Boost: pooled_fixedsize_stack allocate + deallocate, 256 KiB", BoostShim.PooledStack),
                BoostShim.Version + " pooled_fixedsize_stack", Target: ">= 0.9x",
                Note: "Boost's pool has no guard page and serves one thread; ours has a guard page below each stack and is shared lock-free.");
        }
        yield return new Comparison("256 KiB stack get+return against mmap per stack (reference)", ours,
            new BenchCase("mmap + mprotect(guard) + munmap, 256 KiB", MmapStacks),
            "mmap per stack");
        yield return new Comparison("zeroed stack return, amortized, against an unzeroed return",
            new BenchCase("ours: get+return, zeroed on return (16 KiB kept resident)", n => GetReturn(_zeroingStore, n)),
            ours, "ours, not zeroed", Target: ">= 0.5x (zeroed <= 2x unzeroed)");
        yield return new Comparison("zeroed stack return, nothing kept resident, in batches of 64 (reference)",
            new BenchCase("ours: get+return, zeroed on return in batches of 64", n => GetReturn(_batchZeroingStore, n)),
            ours, "ours, not zeroed",
            Note: "The batch's neighbours are given back in one madvise; its cost depends on the guard pages between them.");
    }

    public IEnumerable<SkippedComparison> Skipped() => BoostShim.Missing is { } reason
        ? [new(BoostName, "Boost.Context pooled_fixedsize_stack", reason, ">= 0.9x")]
        : [];

    private static void GetReturn(Store<int> store, long n)
    {
        for (long i = 0; i < n; i++)
        {
            store.ReturnStack(store.CheckoutStack("stack"));
        }
    }

    private static void MmapStacks(long n)
    {
        if (PeerNative.MmapStack(n, StackBytes) != 0)
        {
            throw new InvalidOperationException("mmap per stack failed");
        }
    }

    public void Dispose()
    {
        _batchZeroingStore.Dispose();
        _zeroingStore.Dispose();
        _plainStore.Dispose();
        _batchZeroing.Dispose();
        _zeroing.Dispose();
        _plain.Dispose();
    }
}
