using System.Diagnostics.Metrics;
using Allocator.Pooling;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;

namespace Allocator.Tests.Pools;

public sealed class MetricsTests
{
    [Fact]
    public void Instruments_report_in_use_checkouts_exhaustions_and_refused_returns_per_pool()
    {
        using var factory = new RecordingMeterFactory();
        using PoolingAllocator allocator = new(TestAllocators.SmallOptions(stacks: 1), factory);
        var seen = new Dictionary<(string, string), long>();
        var allocatorIds = new HashSet<object?>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                // Other tests' allocators publish the same meter name: listen only to the one made by our factory.
                if (instrument.Meter.Name == PoolingAllocator.MeterName && factory.Created.Contains(instrument.Meter))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        void Record(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            // Per-pool instruments carry a "pool" tag; allocator-wide ones (abandoned stores) carry none.
            KeyValuePair<string, object?>[] all = tags.ToArray();
            string pool = all.SingleOrDefault(t => t.Key == "pool").Value?.ToString() ?? "";
            seen[(instrument.Name, pool)] = value;
            // Every measurement names the allocator it belongs to.
            allocatorIds.Add(Assert.Single(all, t => t.Key == "allocator.id").Value);
        }
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        PooledStack stack = allocator.Stacks.Rent();
        Assert.Throws<PoolExhaustedException>(() => allocator.Stacks.Rent());
        PooledSlot slot = allocator.Memories.Rent("m");
        allocator.Stacks.ReturnAccepted(stack);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, allocator.Stacks.Return(stack));
        listener.RecordObservableInstruments();

        Assert.Equal(0, seen[("allocator.pool.in_use", "stacks")]);
        Assert.Equal(1, seen[("allocator.pool.in_use", "memories")]);
        Assert.Equal(1, seen[("allocator.pool.checkouts", "stacks")]);
        Assert.Equal(1, seen[("allocator.pool.exhaustions", "stacks")]);
        Assert.Equal(1, seen[("allocator.pool.refused_returns", "stacks")]);
        Assert.Equal(0, seen[("allocator.pool.exhaustions", "memories")]);
        Assert.Equal(0, seen[("allocator.store.abandoned", "")]);
        Assert.NotNull(Assert.Single(allocatorIds));
        allocator.Memories.ReturnAccepted(slot);
    }

    private sealed class RecordingMeterFactory : IMeterFactory
    {
        public List<Meter> Created { get; } = new();

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            Created.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (Meter meter in Created)
            {
                meter.Dispose();
            }
        }
    }
}
