using System.Diagnostics.Metrics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Allocator.Fibers;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Stores;
using Allocator.Tests.Fibers;
using Allocator.Tests.Support;

namespace Allocator.Tests.Ownership;

/// <summary>Regression tests for the Store, fiber and allocator defects of the airtight-ownership work.</summary>
[Collection(SerialCollection.Name)]
public sealed class StoreDefectTests
{
    private static Fiber? s_resurrected;
    private static Task<long>? s_resurrectedRun;

    [FiberFact]
    public async Task A_fiber_resurrected_after_its_Store_was_finalized_fails_with_ObjectDisposed_and_never_touches_the_stack()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(stacks: 1, zeroStacks: false);
        s_resurrected = null;
        s_resurrectedRun = null;
        AbandonSuspendedFiberWithResurrector(allocator);
        CollectUntil(() => allocator.AbandonedStores == 1 && s_resurrected is not null);
        Assert.Equal(0, allocator.Stacks.InUse);

        // The next tenant gets the very same stack and suspends on it with its own frames.
        var next = new Store<int>(allocator, 0);
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        int calls = 0;
        using Fiber tenant = Fiber.Create(next, "tenant", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed: 9, count: 3),
            new FiberHostFunctions(call => Interlocked.Increment(ref calls) == 2 ? new ValueTask<long>(gate.Task) : ValueTask.FromResult(call[1])));
        Task<long> running = tenant.RunAsync().AsTask();
        SpinWait.SpinUntil(() => Volatile.Read(ref calls) == 2, TimeSpan.FromSeconds(10));

        await Assert.ThrowsAsync<ObjectDisposedException>(() => s_resurrectedRun!);
        s_resurrected!.Dispose(); // a revoked fiber: nothing to do, nothing touched
        gate.SetResult(1);
        Assert.Equal(0 + 1 + 2, await running); // the tenant's locals were checked after every resume
        next.Dispose();
        Assert.Equal(0, allocator.Stacks.InUse);
    }

    [FiberFact]
    public void A_fiber_disposed_from_a_user_finalizer_while_its_Store_is_finalized_returns_its_stack_once()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(stacks: 1, zeroStacks: false);
        for (int round = 0; round < 20; round++)
        {
            AbandonSuspendedFiberWithDisposer(allocator);
            CollectUntil(() => allocator.AbandonedStores == round + 1);
            Assert.Equal(0, allocator.Stacks.InUse);
            Assert.Equal(0, allocator.Stacks.RefusedReturns);
        }
    }

    [FiberFact]
    public void An_abandoned_Store_whose_fiber_has_synchronous_host_functions_is_finalized()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(stacks: 1);
        AbandonFiberWithSynchronousHost(allocator);
        CollectUntil(() => allocator.AbandonedStores == 1);
        Assert.Equal(0, allocator.Stacks.InUse);
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [Fact]
    public void No_public_member_reaches_a_pool_a_reservation_or_a_raw_checkout()
    {
        Type[] internalOnly = [typeof(StackPool), typeof(SlotPool), typeof(PooledStack), typeof(PooledSlot), typeof(MemoryReservation),
            typeof(VirtualMemory), typeof(StackLease), typeof(SlotLease), typeof(IStackHolder)];
        Assembly library = typeof(PoolingAllocator).Assembly;
        var leaks = new List<string>();
        foreach (Type type in library.GetExportedTypes())
        {
            Assert.DoesNotContain(type, internalOnly);
            foreach (MemberInfo member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static))
            {
                IEnumerable<Type> mentioned = member switch
                {
                    PropertyInfo p => [p.PropertyType],
                    FieldInfo f => [f.FieldType],
                    MethodInfo m => m.GetParameters().Select(x => x.ParameterType).Append(m.ReturnType),
                    ConstructorInfo c => c.GetParameters().Select(x => x.ParameterType),
                    _ => [],
                };
                leaks.AddRange(mentioned.Where(t => internalOnly.Contains(t.IsByRef ? t.GetElementType()! : t)).Select(t => $"{type.Name}.{member.Name}: {t.Name}"));
            }
        }
        Assert.Empty(leaks);
        Assert.DoesNotContain(typeof(StackToken).GetProperties(), p => p.GetMethod!.IsPublic && p.PropertyType != typeof(long) && p.PropertyType != typeof(bool));
    }

    [Fact]
    public void One_slot_whose_reset_fails_strands_none_of_the_others()
    {
        using PoolingAllocator allocator = OwnershipPools.Allocator(instances: 3, memories: 3);
        var store = new Store<string>(allocator, "data");
        for (int i = 0; i < 3; i++)
        {
            store.GetSlotMemory(store.CheckoutMemory()).Fill(0xCD);
        }
        int discards = 0;
        VirtualMemoryFaults.Hook = (operation, _) => operation == VirtualMemoryOperation.Discard && Interlocked.Increment(ref discards) == 1 ? 12 : 0;
        try
        {
            Assert.Equal("data", store.IntoData());
        }
        finally
        {
            VirtualMemoryFaults.Hook = null;
        }
        Assert.Equal(0, allocator.Memories.InUse);
        Assert.Equal(1, allocator.GetMemoryStatistics().PendingReset);
        // The failed one is reset before anyone gets it: every slot reads zero again.
        var next = new Store<int>(allocator, 0);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(-1, next.GetSlotMemory(next.CheckoutMemory()).IndexOfAnyExcept((byte)0));
        }
        next.Dispose();
        Assert.Equal(0, allocator.GetMemoryStatistics().PendingReset);
    }

    [Fact]
    public void Disposed_allocators_leave_a_shared_meter_and_are_collected()
    {
        using var factory = new CachingMeterFactory();
        WeakReference[] allocators = CreateAndDisposeAllocators(factory, 200);
        Meter meter = factory.Meter!;
        Assert.Equal(0, PoolingAllocatorMetrics.RegisteredCount(meter));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.All(allocators, a => Assert.False(a.IsAlive));
        using PoolingAllocator live = new(OwnershipPools.Options(), factory);
        Assert.Equal(1, PoolingAllocatorMetrics.RegisteredCount(meter));
    }

    [Fact]
    public void Sizes_that_would_wrap_or_cannot_be_reserved_are_refused_at_validation()
    {
        var wrapping = OwnershipPools.Options() with { Stacks = new StackPoolOptions { StackSize = nuint.MaxValue - VirtualMemory.PageSize + 1 } };
        Assert.Equal("StackPoolOptions.StackSize", Assert.Throws<PoolConfigurationException>(wrapping.Validate).Field);

        // Each pool alone is fine; together they pass the limit, which only the generator used to check.
        var together = OwnershipPools.Options() with
        {
            Instances = new SlotPoolOptions { MaxSlots = 600, SlotSize = nuint.CreateChecked(OptionRules.MaxRegionBytes) },
            Memories = new SlotPoolOptions { MaxSlots = 600, SlotSize = nuint.CreateChecked(OptionRules.MaxRegionBytes) },
        };
        Assert.Equal(nameof(PoolingAllocatorOptions), Assert.Throws<PoolConfigurationException>(together.Validate).Field);

        // The largest accepted total can really be reserved.
        var largest = OwnershipPools.Options() with
        {
            Memories = new SlotPoolOptions { MaxSlots = 1000, SlotSize = nuint.CreateChecked(OptionRules.MaxRegionBytes) },
        };
        using PoolingAllocator allocator = new(largest);
        Assert.Equal(0, allocator.Memories.InUse);
    }

    [LinuxFact]
    public void Pools_that_would_exceed_the_map_region_budget_are_refused_with_the_setting_named()
    {
        // Stacks between PROT_NONE guards: with guard markers a stack pool is one region whatever its size.
        bool markers = VirtualMemory.GuardMarkers;
        VirtualMemory.GuardMarkers = false;
        try
        {
            var stacks = OwnershipPools.Options() with { Stacks = new StackPoolOptions { MaxStacks = 100_000, StackSize = 64 * 1024 } };
            PoolConfigurationException tooManyStacks = Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(stacks));
            Assert.Equal("StackPoolOptions.MaxStacks", tooManyStacks.Field);
            Assert.Contains("vm.max_map_count", tooManyStacks.Message);
        }
        finally
        {
            VirtualMemory.GuardMarkers = markers;
        }

        var slots = OwnershipPools.Options() with
        {
            Memories = new SlotPoolOptions { MaxSlots = 40_000, SlotSize = 4 * VirtualMemory.PageSize, GuardSize = VirtualMemory.PageSize, GuardRanges = [new SlotGuardRange(VirtualMemory.PageSize, VirtualMemory.PageSize)] },
        };
        Assert.Equal("SlotPoolOptions(memories).MaxSlots", Assert.Throws<PoolConfigurationException>(() => new PoolingAllocator(slots)).Field);
    }

    [FiberFact]
    public async Task Dispose_reports_what_is_still_out_with_its_owner_and_keeps_it_mapped_until_it_returns()
    {
        PoolingAllocator allocator = OwnershipPools.Allocator();
        var store = new Store<int>(allocator, 0);
        SlotToken memory = store.CheckoutMemory();
        var gate = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        using Fiber fiber = Fiber.Create(store, "still-running", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed: 4, count: 1),
            new FiberHostFunctions(_ => new ValueTask<long>(gate.Task)));
        Task<long> running = fiber.RunAsync().AsTask();

        allocator.Dispose();

        Assert.Equal(2, allocator.LiveAtDispose.Count);
        Assert.Contains(allocator.LiveAtDispose, l => l.StartsWith("stack", StringComparison.Ordinal) && l.Contains($"Store {store.Id}") && l.Contains("'still-running'"));
        Assert.Contains(allocator.LiveAtDispose, l => l.StartsWith("memories", StringComparison.Ordinal) && l.Contains($"Store {store.Id}"));
        Assert.False(allocator.Stacks.IsReleased);
        store.GetSlotMemory(memory).Fill(1); // still mapped
        gate.SetResult(5);
        Assert.Equal(5, await running);
        store.Dispose();
        Assert.True(allocator.Stacks.IsReleased);
        Assert.True(allocator.Memories.IsReleased);
    }

    private static void CollectUntil(Func<bool> done)
    {
        for (int i = 0; i < 50 && !done(); i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            Thread.Sleep(10);
        }
        Assert.True(done(), "the finalizers did not run");
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AbandonSuspendedFiberWithResurrector(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 0);
        var never = new TaskCompletionSource<long>();
        Fiber fiber = Fiber.Create(store, "abandoned", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed: 1, count: 2),
            new FiberHostFunctions(_ => new ValueTask<long>(never.Task)));
        Task<long> run = fiber.RunAsync().AsTask();
        Assert.Equal(FiberState.Suspended, fiber.State);
        _ = new Resurrector(fiber, run, dispose: false);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AbandonSuspendedFiberWithDisposer(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 0);
        var never = new TaskCompletionSource<long>();
        Fiber fiber = Fiber.Create(store, "disposed-late", TestGuest.CheckedCalls, TestGuest.CheckedCallsArgument(seed: 1, count: 2),
            new FiberHostFunctions(_ => new ValueTask<long>(never.Task)));
        _ = fiber.RunAsync().AsTask();
        _ = new Resurrector(fiber, null, dispose: true);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AbandonFiberWithSynchronousHost(PoolingAllocator allocator)
    {
        var store = new Store<int>(allocator, 0);
        store.CheckoutMemory();
        _ = Fiber.Create(store, "sync-table", TestGuest.CallLoop, 3, FiberHostFunctions.From(FiberHostEntry.Sync(_ => 1)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference[] CreateAndDisposeAllocators(IMeterFactory factory, int count)
    {
        var references = new WeakReference[count];
        for (int i = 0; i < count; i++)
        {
            var allocator = new PoolingAllocator(OwnershipPools.Options(), factory);
            references[i] = new WeakReference(allocator);
            allocator.Dispose();
        }
        return references;
    }

    /// <summary>A user object whose finalizer disposes or resurrects a fiber, racing its Store's finalizer.</summary>
    private sealed class Resurrector(Fiber fiber, Task<long>? run, bool dispose)
    {
        ~Resurrector()
        {
            if (dispose)
            {
                fiber.Dispose();
                return;
            }
            s_resurrectedRun = run;
            s_resurrected = fiber;
        }
    }

    /// <summary>Like the runtime's default meter factory: one cached meter per name.</summary>
    private sealed class CachingMeterFactory : IMeterFactory
    {
        public Meter? Meter { get; private set; }

        public Meter Create(MeterOptions options) => Meter ??= new Meter(options);

        public void Dispose() => Meter?.Dispose();
    }
}
