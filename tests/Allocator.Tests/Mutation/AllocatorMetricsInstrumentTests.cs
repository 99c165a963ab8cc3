using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Allocator.Pooling;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Mutation;

/// <summary>Every instrument of the <c>Allocator.Pooling</c> meter by name, unit and description, the affinity hits it
/// reports, and the registry that holds allocators weakly: when a registration sweeps the collected ones (once the
/// table reaches its sweep mark, which is twice what survived the last sweep and at least 16) and that a collection by
/// a listener prunes them too. Each test has its own meter, so the counts are exact.</summary>
public sealed class AllocatorMetricsInstrumentTests
{
    [Fact]
    public void Every_instrument_has_its_name_unit_and_description()
    {
        using var factory = new OneMeterFactory();
        using PoolingAllocator allocator = new(TestAllocators.SmallOptions(), factory);
        var published = new Dictionary<string, (string? Unit, string? Description, Type Kind)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter == factory.Meter)
                {
                    published[instrument.Name] = (instrument.Unit, instrument.Description, instrument.GetType().GetGenericTypeDefinition());
                }
            },
        };
        listener.Start();

        Type upDown = typeof(ObservableUpDownCounter<>);
        Type counter = typeof(ObservableCounter<>);
        Assert.Equal(new Dictionary<string, (string?, string?, Type)>
        {
            ["allocator.pool.in_use"] = ("{slot}", "Stacks or slots checked out now.", upDown),
            ["allocator.pool.limit"] = ("{slot}", "Stacks or slots the pool has; in_use / limit is its utilisation.", upDown),
            ["allocator.pool.resident"] = ("By", "Bytes of the pool resident in physical memory (measured with mincore or QueryWorkingSetEx when read).", upDown),
            ["allocator.pool.checkouts"] = ("{checkout}", "Successful checkouts.", counter),
            ["allocator.pool.exhaustions"] = ("{checkout}", "Checkouts refused because every stack or slot was out.", counter),
            ["allocator.pool.refused_returns"] = ("{return}", "Returns refused as foreign, stale or double.", counter),
            ["allocator.pool.affinity_hits"] = ("{checkout}", "Checkouts that got the slot their affinity key used last.", counter),
            ["allocator.store.abandoned"] = ("{store}", "Stores collected without Dispose or IntoData; their finalizer returned their stacks and slots.", counter),
        }, published);
    }

    [Fact]
    public void Affinity_hits_are_reported_for_the_slot_pools()
    {
        using var factory = new OneMeterFactory();
        using PoolingAllocator allocator = new(TestAllocators.SmallOptions(), factory);
        var hits = new Dictionary<string, long>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == factory.Meter && instrument.Name == "allocator.pool.affinity_hits")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            hits[tags.ToArray().Single(t => t.Key == PoolingAllocatorMetrics.PoolKind).Value!.ToString()!] = value);
        listener.Start();

        object key = new();
        for (int i = 0; i < 3; i++)
        {
            allocator.Memories.ReturnAccepted(allocator.Memories.Rent(key));
        }
        listener.RecordObservableInstruments();

        Assert.Equal(allocator.Memories.AffinityHits, hits["memories"]);
        Assert.Equal(2, hits["memories"]);
        Assert.Equal(0, hits["instances"]);
        Assert.Equal(2, hits.Count);
    }

    [Fact]
    public void A_registration_sweeps_collected_allocators_once_the_table_reaches_its_mark()
    {
        using var factory = new OneMeterFactory();
        Meter meter = factory.Meter;

        CreateAndForget(factory, 16);
        Collect();
        // The table holds 16 entries, its first mark: this registration sweeps them before adding itself.
        using var first = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
        Assert.Equal(1, PoolingAllocatorMetrics.RegisteredCount(meter));

        // After a sweep the mark is back at 16 (twice the 0 survivors, but never below 16): 4 entries sweep nothing.
        CreateAndForget(factory, 3);
        Collect();
        using var second = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
        Assert.Equal(5, PoolingAllocatorMetrics.RegisteredCount(meter));
    }

    [Fact]
    public void The_sweep_mark_is_twice_the_survivors_when_that_is_more_than_16()
    {
        using var factory = new OneMeterFactory();
        Meter meter = factory.Meter;
        var kept = new List<PoolingAllocator>();
        try
        {
            for (int i = 0; i < 10; i++)
            {
                kept.Add(new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory));
            }
            CreateAndForget(factory, 6);
            Collect();
            // 16 entries: sweeping leaves the 10 kept, and the mark becomes 20.
            kept.Add(new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory));
            Assert.Equal(11, PoolingAllocatorMetrics.RegisteredCount(meter));

            // 11 + 8 = 19 entries stay below the mark of 20: the next registration does not sweep.
            CreateAndForget(factory, 8);
            Collect();
            kept.Add(new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory));
            Assert.Equal(20, PoolingAllocatorMetrics.RegisteredCount(meter));

            // At 20 it does: 12 survive.
            kept.Add(new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory));
            Assert.Equal(13, PoolingAllocatorMetrics.RegisteredCount(meter));
        }
        finally
        {
            kept.ForEach(a => a.Dispose());
        }
        Assert.Equal(0, PoolingAllocatorMetrics.RegisteredCount(meter));
    }

    [Fact]
    public void A_listeners_collection_prunes_collected_allocators()
    {
        using var factory = new OneMeterFactory();
        using var kept = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
        CreateAndForget(factory, 3);
        Collect();
        Assert.Equal(4, PoolingAllocatorMetrics.RegisteredCount(factory.Meter));

        long limits = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter == factory.Meter && instrument.Name == "allocator.pool.limit")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => limits++);
        listener.Start();
        listener.RecordObservableInstruments();

        Assert.Equal(3, limits); // the kept allocator's three pools
        Assert.Equal(1, PoolingAllocatorMetrics.RegisteredCount(factory.Meter));
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CreateAndForget(IMeterFactory factory, int count)
    {
        for (int i = 0; i < count; i++)
        {
            _ = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
        }
    }

    /// <summary>Hands out one meter of its own, as a DI meter factory caches one per name.</summary>
    private sealed class OneMeterFactory : IMeterFactory
    {
        public Meter Meter { get; } = new(PoolingAllocator.MeterName);

        public Meter Create(MeterOptions options) => Meter;

        public void Dispose() => Meter.Dispose();
    }
}
