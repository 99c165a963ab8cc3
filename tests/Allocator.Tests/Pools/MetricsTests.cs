using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using Allocator.Memory;
using Allocator.Pooling;
using Allocator.Tests.Stores;
using Allocator.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace Allocator.Tests.Pools;

public sealed class MetricsTests
{
    [Fact]
    public void Instruments_report_use_limit_resident_bytes_checkouts_exhaustions_and_refused_returns_per_pool_kind()
    {
        using var factory = new RecordingMeterFactory();
        using PoolingAllocator allocator = new(TestAllocators.SmallOptions(stacks: 1, slots: 3), factory);
        var seen = new Dictionary<(string, string), long>();
        var units = new Dictionary<string, string?>();
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
            // Per-pool instruments carry allocator.pool.kind; allocator-wide ones (abandoned stores) carry none.
            KeyValuePair<string, object?>[] all = tags.ToArray();
            string pool = all.SingleOrDefault(t => t.Key == "allocator.pool.kind").Value?.ToString() ?? "";
            seen[(instrument.Name, pool)] = value;
            units[instrument.Name] = instrument.Unit;
            // Every measurement names the allocator it belongs to.
            allocatorIds.Add(Assert.Single(all, t => t.Key == "allocator.id").Value);
        }
        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        PooledStack stack = allocator.Stacks.Rent();
        Assert.Throws<PoolExhaustedException>(() => allocator.Stacks.Rent());
        PooledSlot slot = allocator.Memories.Rent("m");
        TouchFirstPage(slot); // one page of the memory slot is now resident
        allocator.Stacks.ReturnAccepted(stack);
        Assert.Equal(InvalidTokenReason.AlreadyReturned, allocator.Stacks.Return(stack));
        listener.RecordObservableInstruments();

        Assert.Equal(0, seen[("allocator.pool.in_use", "stacks")]);
        Assert.Equal(1, seen[("allocator.pool.in_use", "memories")]);
        Assert.Equal(1, seen[("allocator.pool.limit", "stacks")]);
        Assert.Equal(3, seen[("allocator.pool.limit", "instances")]);
        Assert.Equal(3, seen[("allocator.pool.limit", "memories")]);
        Assert.Equal((long)allocator.GetMemoryStatistics().ResidentBytes, seen[("allocator.pool.resident", "memories")]);
        Assert.InRange(seen[("allocator.pool.resident", "memories")], (long)VirtualMemory.PageSize, long.MaxValue);
        Assert.Equal(1, seen[("allocator.pool.checkouts", "stacks")]);
        Assert.Equal(1, seen[("allocator.pool.exhaustions", "stacks")]);
        Assert.Equal(1, seen[("allocator.pool.refused_returns", "stacks")]);
        Assert.Equal(0, seen[("allocator.pool.exhaustions", "memories")]);
        Assert.Equal(0, seen[("allocator.store.abandoned", "")]);
        Assert.Equal("By", units["allocator.pool.resident"]);
        Assert.Equal("{slot}", units["allocator.pool.limit"]);
        Assert.NotNull(Assert.Single(allocatorIds));
        allocator.Memories.ReturnAccepted(slot);
    }

    [Fact]
    public void Allocators_from_the_apps_IMeterFactory_leave_its_meter_when_disposed_or_collected()
    {
        using ServiceProvider services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        // The factory caches meters by name, so every allocator shares one meter and one set of instruments.
        Meter meter = factory.Create(new MeterOptions(PoolingAllocator.MeterName));

        for (int i = 0; i < 50; i++)
        {
            using var allocator = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
            Assert.Equal(1, PoolingAllocatorMetrics.RegisteredCount(meter));
        }
        Assert.Equal(0, PoolingAllocatorMetrics.RegisteredCount(meter));

        // Dropped without Dispose and with no listener to observe (and prune) them: registering more must sweep them.
        for (int round = 0; round < 10; round++)
        {
            CreateAndForget(factory, count: 20);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        using var last = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
        Assert.InRange(PoolingAllocatorMetrics.RegisteredCount(meter), 1, 2 * 20 + 16);
    }

    private static unsafe void TouchFirstPage(PooledSlot slot) => new Span<byte>((void*)slot.BaseAddress, (int)VirtualMemory.PageSize).Fill(1);

    [Fact]
    public async Task Collecting_while_allocators_come_and_go_never_fails()
    {
        using var factory = new RecordingMeterFactory();
        long measurements = 0;
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                lock (factory.Created)
                {
                    if (factory.Created.Contains(instrument.Meter))
                    {
                        l.EnableMeasurementEvents(instrument);
                    }
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, _, _) => Interlocked.Increment(ref measurements));
        using var kept = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
        listener.Start();
        bool stop = false;
        int passes = 0;
        Task collector = Task.Run(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                listener.RecordObservableInstruments();
                Interlocked.Increment(ref passes);
            }
        });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; (i < 200 || Volatile.Read(ref passes) < 20) && clock.Elapsed < TimeSpan.FromSeconds(20); i++)
        {
            using var allocator = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
            using var store = new Store<int>(allocator, 0);
            store.CheckoutMemory();
        }
        Volatile.Write(ref stop, true);
        await collector; // a measurement of a pool disposed meanwhile reads 0 rather than failing
        Assert.True(Volatile.Read(ref passes) >= 20, $"only {passes} collections ran");
        Assert.True(Interlocked.Read(ref measurements) > 0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CreateAndForget(IMeterFactory factory, int count)
    {
        for (int i = 0; i < count; i++)
        {
            _ = new PoolingAllocator(TestAllocators.SmallOptions(stacks: 1, slots: 2), factory);
        }
    }

    private sealed class RecordingMeterFactory : IMeterFactory
    {
        public List<Meter> Created { get; } = new();

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options);
            lock (Created)
            {
                Created.Add(meter);
            }
            return meter;
        }

        public void Dispose()
        {
            lock (Created)
            {
                foreach (Meter meter in Created)
                {
                    meter.Dispose();
                }
            }
        }
    }
}
