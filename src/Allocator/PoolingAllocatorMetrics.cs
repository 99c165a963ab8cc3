using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Allocator;

/// <summary>Publishes the pools' counters as <see cref="System.Diagnostics.Metrics"/> instruments, named in the
/// OpenTelemetry style: <c>allocator.pool.*</c> with attribute <c>allocator.pool.kind</c>, units in UCUM
/// (<c>By</c>, <c>{slot}</c>); <c>docs/observability.md</c> lists them.</summary>
/// <remarks>
/// <para>Every instrument is observable: values are read from the pools' own counters when a listener asks, so
/// checkout and return pay nothing for telemetry. EventPipe is off under NativeAOT, but MeterListener and
/// OpenTelemetry exporters work there.</para>
/// <para>A meter's instruments cannot be removed, and an <see cref="IMeterFactory"/> hands every allocator the same
/// cached meter. So instruments are created once per meter and report every allocator registered with it, each
/// tagged with its <c>allocator.id</c>; an allocator is held weakly and leaves on Dispose, so disposed or forgotten
/// allocators are neither reported nor kept alive.</para>
/// </remarks>
internal static class PoolingAllocatorMetrics
{
    /// <summary>The meter name to listen for.</summary>
    public const string MeterName = "Allocator.Pooling";

    /// <summary>The attribute naming the pool of a measurement: <c>stacks</c>, <c>instances</c> or <c>memories</c>.</summary>
    public const string PoolKind = "allocator.pool.kind";

    /// <summary>The attribute naming the allocator a measurement belongs to (a process-unique number).</summary>
    public const string AllocatorId = "allocator.id";

    private static readonly Lazy<Meter> s_sharedMeter = new(() => new Meter(MeterName));
    private static readonly ConditionalWeakTable<Meter, Instruments> s_instruments = new();
    private static long s_nextId;

    public static Registration Register(PoolingAllocator allocator, IMeterFactory? meterFactory)
    {
        Meter meter = meterFactory?.Create(new MeterOptions(MeterName)) ?? s_sharedMeter.Value;
        Instruments instruments = s_instruments.GetValue(meter, static m => new Instruments(m));
        return instruments.Add(allocator, Interlocked.Increment(ref s_nextId));
    }

    /// <summary>An allocator's place in its meter's report; Dispose takes it out.</summary>
    internal sealed class Registration(Instruments instruments, long id) : IDisposable
    {
        public void Dispose() => instruments.Remove(id);
    }

    internal sealed class Instruments
    {
        private readonly object _lock = new();
        private const int MinimumSweep = 16;
        private readonly Dictionary<long, WeakReference<PoolingAllocator>> _allocators = new();
        private int _sweepAt = MinimumSweep;

        public Instruments(Meter meter)
        {
            meter.CreateObservableUpDownCounter("allocator.pool.in_use", () => Observe(static (a, tags) =>
            [
                new Measurement<long>(a.Stacks.InUse, tags.Stacks),
                new Measurement<long>(a.Instances.InUse, tags.Instances),
                new Measurement<long>(a.Memories.InUse, tags.Memories),
            ]), unit: "{slot}", description: "Stacks or slots checked out now.");
            meter.CreateObservableUpDownCounter("allocator.pool.limit", () => Observe(static (a, tags) =>
            [
                new Measurement<long>(a.Options.Stacks.MaxStacks, tags.Stacks),
                new Measurement<long>(a.Options.Instances.MaxSlots, tags.Instances),
                new Measurement<long>(a.Options.Memories.MaxSlots, tags.Memories),
            ]), unit: "{slot}", description: "Stacks or slots the pool has; in_use / limit is its utilisation.");
            meter.CreateObservableUpDownCounter("allocator.pool.resident", () => Observe(static (a, tags) =>
            [
                new Measurement<long>((long)a.Stacks.GetStatistics().ResidentBytes, tags.Stacks),
                new Measurement<long>((long)a.Instances.GetStatistics().ResidentBytes, tags.Instances),
                new Measurement<long>((long)a.Memories.GetStatistics().ResidentBytes, tags.Memories),
            ]), unit: "By", description: "Bytes of the pool resident in physical memory (measured with mincore or QueryWorkingSetEx when read).");
            meter.CreateObservableCounter("allocator.pool.checkouts", () => Observe(static (a, tags) =>
            [
                new Measurement<long>(a.Stacks.TotalCheckouts, tags.Stacks),
                new Measurement<long>(a.Instances.TotalCheckouts, tags.Instances),
                new Measurement<long>(a.Memories.TotalCheckouts, tags.Memories),
            ]), unit: "{checkout}", description: "Successful checkouts.");
            meter.CreateObservableCounter("allocator.pool.exhaustions", () => Observe(static (a, tags) =>
            [
                new Measurement<long>(a.Stacks.Exhaustions, tags.Stacks),
                new Measurement<long>(a.Instances.Exhaustions, tags.Instances),
                new Measurement<long>(a.Memories.Exhaustions, tags.Memories),
            ]), unit: "{checkout}", description: "Checkouts refused because every stack or slot was out.");
            meter.CreateObservableCounter("allocator.pool.refused_returns", () => Observe(static (a, tags) =>
            [
                new Measurement<long>(a.Stacks.RefusedReturns, tags.Stacks),
                new Measurement<long>(a.Instances.RefusedReturns, tags.Instances),
                new Measurement<long>(a.Memories.RefusedReturns, tags.Memories),
            ]), unit: "{return}", description: "Returns refused as foreign, stale or double.");
            meter.CreateObservableCounter("allocator.pool.affinity_hits", () => Observe(static (a, tags) =>
            [
                new Measurement<long>(a.Instances.AffinityHits, tags.Instances),
                new Measurement<long>(a.Memories.AffinityHits, tags.Memories),
            ]), unit: "{checkout}", description: "Checkouts that got the slot their affinity key used last.");
            meter.CreateObservableCounter("allocator.store.abandoned", () => Observe(static (a, tags) =>
            [
                new Measurement<long>(a.AbandonedStores, tags.Allocator),
            ]), unit: "{store}", description: "Stores collected without Dispose or IntoData; their finalizer returned their stacks and slots.");
        }

        /// <summary>Allocators this meter reports now (for tests).</summary>
        public int Count
        {
            get
            {
                lock (_lock)
                {
                    return _allocators.Count;
                }
            }
        }

        public Registration Add(PoolingAllocator allocator, long id)
        {
            lock (_lock)
            {
                // Allocators dropped without Dispose leave an entry; without a listener nothing observes (and prunes)
                // them, so sweep whenever the table has doubled since the last sweep: amortised O(1), never unbounded.
                if (_allocators.Count >= _sweepAt)
                {
                    RemoveCollected();
                    _sweepAt = Math.Max(MinimumSweep, _allocators.Count * 2);
                }
                _allocators.Add(id, new WeakReference<PoolingAllocator>(allocator));
            }
            return new Registration(this, id);
        }

        public void Remove(long id)
        {
            lock (_lock)
            {
                _allocators.Remove(id);
            }
        }

        private List<Measurement<long>> Observe(Func<PoolingAllocator, Tags, Measurement<long>[]> measure)
        {
            var live = new List<(long Id, PoolingAllocator Allocator)>();
            lock (_lock)
            {
                RemoveCollected();
                foreach ((long id, WeakReference<PoolingAllocator> reference) in _allocators)
                {
                    if (reference.TryGetTarget(out PoolingAllocator? allocator))
                    {
                        live.Add((id, allocator));
                    }
                }
            }
            // Measured outside the lock: resident bytes ask the OS about every slot, and creating or disposing an
            // allocator must not wait for that. A pool disposed meanwhile reads as empty, never as unmapped memory.
            var all = new List<Measurement<long>>(live.Count * 3);
            foreach ((long id, PoolingAllocator allocator) in live)
            {
                all.AddRange(measure(allocator, new Tags(id)));
            }
            return all;
        }

        private void RemoveCollected()
        {
            Debug.Assert(Monitor.IsEntered(_lock));
            List<long>? gone = null;
            foreach ((long id, WeakReference<PoolingAllocator> reference) in _allocators)
            {
                if (!reference.TryGetTarget(out _))
                {
                    (gone ??= new()).Add(id);
                }
            }
            gone?.ForEach(id => _allocators.Remove(id));
        }
    }

    /// <summary>The tags of one allocator's measurements.</summary>
    internal readonly struct Tags(long id)
    {
        private readonly KeyValuePair<string, object?> _allocator = new(AllocatorId, id);

        public KeyValuePair<string, object?>[] Allocator => [_allocator];

        public KeyValuePair<string, object?>[] Stacks => [_allocator, new(PoolKind, "stacks")];

        public KeyValuePair<string, object?>[] Instances => [_allocator, new(PoolKind, "instances")];

        public KeyValuePair<string, object?>[] Memories => [_allocator, new(PoolKind, "memories")];
    }

    /// <summary>How many allocators <paramref name="meter"/> reports now (for tests).</summary>
    internal static int RegisteredCount(Meter meter) => s_instruments.TryGetValue(meter, out Instruments? instruments) ? instruments.Count : 0;
}
