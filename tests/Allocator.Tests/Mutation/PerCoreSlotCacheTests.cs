using System.Runtime.InteropServices;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>The per-core parking cells. Which cell a call uses depends on the core the thread runs on, so the exact
/// tests pin a dedicated thread to one CPU (Linux <c>sched_setaffinity</c>); the stealing tests need no pinning.</summary>
public sealed partial class PerCoreSlotCacheTests
{
    [Fact]
    public void Stealing_finds_every_parked_slot_once_whatever_core_parked_it()
    {
        var cache = new PerCoreSlotCache();
        Assert.Equal(0, cache.Count);
        Assert.False(cache.TrySteal(out int none));
        Assert.Equal(-1, none);
        Assert.True(cache.TryPark(0)); // index 0 is stored as 1, so it is not taken for an empty cell
        Assert.Equal(1, cache.Count);
        Assert.True(cache.TrySteal(out int stolen));
        Assert.Equal(0, stolen);
        Assert.Equal(0, cache.Count);
        Assert.False(cache.TrySteal(out _));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 4)]
    [InlineData(6, 8)]
    [InlineData(64, 64)]
    [InlineData(200, 256)]
    [InlineData(1000, 256)]
    [InlineData(0, 1)]
    public void Cells_are_a_power_of_two_covering_the_cores_up_to_256(int processors, int cells)
    {
        // A core picks its cell with a mask (cell count - 1), which covers every cell only for a power of two.
        Assert.Equal(cells, PerCoreSlotCache.CellCount(processors));
    }

    [LinuxFact]
    public void A_pinned_thread_takes_back_what_it_parked_and_its_cell_holds_one()
    {
        RunPinned(cpu: 0, () =>
        {
            var cache = new PerCoreSlotCache();
            Assert.False(cache.TryTake(out int none));
            Assert.Equal(-1, none);
            Assert.True(cache.TryPark(7));
            Assert.False(cache.TryPark(8)); // the cell is occupied: the caller frees to the shared list instead
            Assert.Equal(1, cache.Count);
            Assert.True(cache.TryTake(out int taken));
            Assert.Equal(7, taken);
            Assert.Equal(0, cache.Count);
            Assert.False(cache.TryTake(out _));
            Assert.True(cache.TryPark(0));
            Assert.True(cache.TryTake(out int zero));
            Assert.Equal(0, zero);
        });
    }

    [LinuxFact]
    public void Cells_of_different_cores_are_separate_and_stealing_empties_them_all()
    {
        if (Environment.ProcessorCount < 2)
        {
            return;
        }
        var cache = new PerCoreSlotCache();
        RunPinned(cpu: 0, () => Assert.True(cache.TryPark(3)));
        RunPinned(cpu: 1, () =>
        {
            Assert.False(cache.TryTake(out _)); // core 1's cell is empty; core 0's slot is not its to take
            Assert.True(cache.TryPark(5));
        });
        Assert.Equal(2, cache.Count);
        var stolen = new List<int>();
        while (cache.TrySteal(out int index))
        {
            stolen.Add(index);
        }
        Assert.Equal([3, 5], stolen.Order());
        Assert.Equal(0, cache.Count);
    }

    /// <summary>Runs <paramref name="body"/> on a new thread bound to one CPU, so every call sees the same core.</summary>
    private static void RunPinned(int cpu, Action body)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                ulong mask = 1UL << cpu;
                if (SchedSetAffinity(0, sizeof(ulong), ref mask) != 0)
                {
                    throw new InvalidOperationException($"sched_setaffinity failed: {Marshal.GetLastPInvokeError()}");
                }
                Assert.Equal(cpu, Thread.GetCurrentProcessorId());
                body();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new Xunit.Sdk.XunitException($"On CPU {cpu}: {failure}");
        }
    }

    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int pid, nint cpuSetSize, ref ulong mask);
}
