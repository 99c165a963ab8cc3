using System.Globalization;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

/// <summary>Guard pages as page-table markers (MADV_GUARD_INSTALL, Linux 6.13+): where the kernel has them a stack
/// pool is one memory map region however many stacks it holds, and every guard still refuses access, before and after
/// any reset; where it has not (or a test turns them off) each stack is its own region between PROT_NONE guards.</summary>
[Collection(SerialCollection.Name)]
public sealed class StackGuardMarkerTests : IDisposable
{
    private static readonly nuint Page = VirtualMemory.PageSize;
    // Read as each test's instance is made, before the test may turn markers off.
    private readonly bool _markers = VirtualMemory.GuardMarkers;
    private const int InjectedError = 12; // ENOMEM

    public void Dispose()
    {
        VirtualMemoryFaults.Hook = null;
        VirtualMemory.GuardMarkers = _markers;
    }

    [LinuxFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void The_probe_finds_guard_markers_exactly_on_kernels_that_have_them()
    {
        // Linux 6.13 added MADV_GUARD_INSTALL; before it the advice is refused (EINVAL). The probe must say which.
        Version kernel = Environment.OSVersion.Version;
        Assert.Equal(kernel >= new Version(6, 13), Interop.Sys.ProbeGuardMarkers());
        Assert.Equal(Interop.Sys.ProbeGuardMarkers(), _markers);
    }

    [LinuxFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Advice_that_installs_nothing_or_is_refused_is_not_taken_for_a_guard()
    {
        const int MadvNormal = 0; // accepted, and the page stays readable: what qemu-user does with any advice
        const int Unknown = 999; // refused with EINVAL: what kernels before 6.13 do with MADV_GUARD_INSTALL
        Assert.False(Interop.Sys.AdviceGuardsPage(MadvNormal));
        Assert.False(Interop.Sys.AdviceGuardsPage(Unknown));
    }

    [LinuxFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void The_probe_leaves_no_descriptor_and_no_page_behind()
    {
        const int Probes = 1000;
        int descriptors = Directory.GetFiles("/proc/self/fd").Length;
        long mapped = VmSizeKiB();
        for (int i = 0; i < Probes; i++)
        {
            Interop.Sys.ProbeGuardMarkers();
        }
        // Each probe opens two descriptors and maps a page (1000 probes: 2000 and 4,000 KiB if kept); a margin for
        // whatever else the process opens or maps meanwhile.
        Assert.InRange(Directory.GetFiles("/proc/self/fd").Length - descriptors, int.MinValue, Probes / 10);
        Assert.InRange(VmSizeKiB() - mapped, long.MinValue, 1024);
    }

    [LinuxTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void Every_guard_refuses_access_and_every_stack_byte_is_usable(bool markers)
    {
        if (markers && !_markers)
        {
            return; // this kernel has no guard markers: only the PROT_NONE layout can be built here
        }
        VirtualMemory.GuardMarkers = markers;
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 4, StackSize = 4 * Page });
        PooledStack[] stacks = Enumerable.Range(0, 4).Select(_ => pool.Rent()).ToArray();
        foreach (PooledStack stack in stacks)
        {
            Assert.False(MemoryProbe.IsReadable(stack.Bottom - 1), $"the guard below stack {stack.Index} is readable");
            Assert.False(MemoryProbe.IsReadable(stack.Bottom - (nint)Page), $"the guard below stack {stack.Index} is readable at its first byte");
            Assert.True(MemoryProbe.IsReadable(stack.Bottom));
            Assert.True(MemoryProbe.IsReadable(stack.Top - 1));
            Fill(stack, 0x5A);
        }
    }

    [LinuxFact]
    public void With_guard_markers_a_pool_is_one_memory_map_region()
    {
        if (!_markers)
        {
            return; // nothing to count where the kernel has no guard markers
        }
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 16, StackSize = 4 * Page });
        Assert.Equal(1, RegionsOf(pool));
    }

    [LinuxFact]
    public void Without_guard_markers_each_stack_and_each_guard_is_a_region_of_its_own()
    {
        VirtualMemory.GuardMarkers = false;
        using StackPool pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 16, StackSize = 4 * Page });
        Assert.Equal(32, RegionsOf(pool));
    }

    [LinuxTheory]
    [InlineData(0, 1)] // each stack discarded on its own
    [InlineData(0, 4)] // the four neighbours discarded in one call across the guards between them
    [InlineData(2, 4)] // a kept top cleared in place, the rest discarded per stack
    public void Marker_guards_survive_every_kind_of_reset_and_the_pool_stays_one_region(int keepPages, int batch)
    {
        if (!_markers)
        {
            return; // the PROT_NONE guards' resets are covered by StackBatchedResetTests
        }
        using StackPool pool = TestPools.Stacks(new StackPoolOptions
        {
            MaxStacks = 4,
            StackSize = 4 * Page,
            ZeroOnReturn = true,
            KeepResident = (nuint)keepPages * Page,
            DecommitBatchSize = batch,
        });
        for (int round = 0; round < 2; round++)
        {
            PooledStack[] stacks = Enumerable.Range(0, 4).Select(_ => pool.Rent()).ToArray();
            foreach (PooledStack stack in stacks)
            {
                Assert.True(ReadsZero(stack), $"stack {stack.Index} kept a tenant's bytes (round {round})");
                Fill(stack, 0xC3);
                Assert.Null(pool.Return(stack));
            }
            pool.FlushPendingResets();
            foreach (PooledStack stack in stacks)
            {
                Assert.False(MemoryProbe.IsReadable(stack.Bottom - 1), $"the guard below stack {stack.Index} became readable (round {round})");
            }
            Assert.Equal(1, RegionsOf(pool));
        }
    }

    [LinuxFact]
    public void A_guard_that_cannot_be_installed_fails_the_pool_and_leaves_nothing_mapped()
    {
        if (!_markers)
        {
            return; // no marker is installed where the kernel has none
        }
        nuint size = 3 * (29 + 1) * Page;
        int before = MappingsOfSize(size);
        int guards = 0;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Guard && ++guards == 2 ? InjectedError : 0;
        VirtualMemoryException ex = Assert.Throws<VirtualMemoryException>(() => TestPools.Stacks(new StackPoolOptions { MaxStacks = 3, StackSize = 29 * Page }));
        VirtualMemoryFaults.Hook = null;
        Assert.Equal(2, guards);
        Assert.Contains("madvise(MADV_GUARD_INSTALL)", ex.Message);
        // The whole reservation was read-write before the second guard failed; it is unmapped at once, not left
        // to the handle's finalizer.
        Assert.Equal(before, MappingsOfSize(size));
    }

    [LinuxFact]
    public void With_guard_markers_a_pool_far_beyond_the_old_region_budget_is_built_and_works()
    {
        if (!_markers)
        {
            return; // where the kernel has no markers, such a pool is refused (the test below)
        }
        // 100,000 stacks needed 200,001 regions with PROT_NONE guards, three times the default vm.max_map_count.
        var options = new PoolingAllocatorOptions { Stacks = new StackPoolOptions { MaxStacks = 100_000, StackSize = 16 * 1024 } };
        using var allocator = new PoolingAllocator(options);
        using var store = new Store<int>(allocator, 0);
        StackToken token = store.CheckoutStack("deep");
        store.ReturnStack(token);
    }

    [LinuxFact]
    public void Without_guard_markers_pools_that_can_need_more_regions_than_the_process_may_create_are_refused()
    {
        // 2^20 stacks of 16 KiB fit the address space (2^34 bytes) but need 2^21 + 1 regions, far above the
        // default vm.max_map_count of 65530.
        VirtualMemory.GuardMarkers = false;
        long limit = long.Parse(File.ReadAllText("/proc/sys/vm/max_map_count").Trim(), CultureInfo.InvariantCulture);
        if (limit >= 2L << 20)
        {
            return; // a raised limit fits even this pool
        }
        var options = new PoolingAllocatorOptions { Stacks = new StackPoolOptions { MaxStacks = 1 << 20, StackSize = 16 * 1024 } };
        var ex = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(options));
        Assert.Equal("StackPoolOptions.MaxStacks", ex.Field);
        Assert.Equal(2L * (1 << 20) + 1, ex.Value);
        Assert.Contains("vm.max_map_count", ex.Message);
    }

    private static unsafe void Fill(PooledStack stack, byte value) => new Span<byte>((void*)stack.Bottom, (int)stack.Size).Fill(value);

    private static unsafe bool ReadsZero(PooledStack stack) => !new ReadOnlySpan<byte>((void*)stack.Bottom, (int)stack.Size).ContainsAnyExcept((byte)0);

    /// <summary>Lines of /proc/self/maps that overlap the pool's reservation (from the first guard to the last stack's
    /// top), found through a stack at each end.</summary>
    private static int RegionsOf(StackPool pool)
    {
        int count = pool.Options.MaxStacks;
        var stacks = new List<PooledStack>();
        for (int i = 0; i < count; i++)
        {
            stacks.Add(pool.Rent());
        }
        long first = stacks.Min(s => (long)s.Bottom) - (long)Page;
        long end = stacks.Max(s => (long)s.Top);
        foreach (PooledStack stack in stacks)
        {
            Assert.Null(pool.Return(stack));
        }
        pool.FlushPendingResets();
        return ProcMaps.Regions().Count(region => region.Overlaps(first, end));
    }

    private static int MappingsOfSize(nuint size) => ProcMaps.Regions().Count(region => region.Length == (long)size);

    private static long VmSizeKiB()
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmSize:", StringComparison.Ordinal));
        return long.Parse(line["VmSize:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }
}
