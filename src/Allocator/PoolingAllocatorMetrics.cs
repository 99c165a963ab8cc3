using System.Diagnostics.Metrics;

namespace Allocator;

/// <summary>Publishes the pools' counters as <see cref="System.Diagnostics.Metrics"/> instruments.</summary>
/// <remarks>Every instrument is observable: values are read from the pools' own counters when a listener asks,
/// so checkout and return pay nothing for telemetry. EventPipe is off under NativeAOT, but MeterListener and
/// OpenTelemetry exporters work there.</remarks>
internal sealed class PoolingAllocatorMetrics : IDisposable
{
    /// <summary>The meter name to listen for.</summary>
    public const string MeterName = "Allocator.Pooling";

    private readonly Meter _meter;

    public PoolingAllocatorMetrics(PoolingAllocator allocator, IMeterFactory? meterFactory)
    {
        _meter = meterFactory?.Create(new MeterOptions(MeterName)) ?? new Meter(MeterName);
        var stacks = new KeyValuePair<string, object?>("pool", "stacks");
        var instances = new KeyValuePair<string, object?>("pool", "instances");
        var memories = new KeyValuePair<string, object?>("pool", "memories");

        _meter.CreateObservableUpDownCounter("allocator.pool.in_use", () => new[]
        {
            new Measurement<int>(allocator.Stacks.InUse, stacks),
            new Measurement<int>(allocator.Instances.InUse, instances),
            new Measurement<int>(allocator.Memories.InUse, memories),
        }, unit: "{slot}", description: "Slots or stacks checked out now.");
        _meter.CreateObservableCounter("allocator.pool.checkouts", () => new[]
        {
            new Measurement<long>(allocator.Stacks.TotalCheckouts, stacks),
            new Measurement<long>(allocator.Instances.TotalCheckouts, instances),
            new Measurement<long>(allocator.Memories.TotalCheckouts, memories),
        }, unit: "{checkout}", description: "Successful checkouts.");
        _meter.CreateObservableCounter("allocator.pool.exhaustions", () => new[]
        {
            new Measurement<long>(allocator.Stacks.Exhaustions, stacks),
            new Measurement<long>(allocator.Instances.Exhaustions, instances),
            new Measurement<long>(allocator.Memories.Exhaustions, memories),
        }, unit: "{checkout}", description: "Checkouts that found the pool empty.");
        _meter.CreateObservableCounter("allocator.pool.refused_returns", () => new[]
        {
            new Measurement<long>(allocator.Stacks.RefusedReturns, stacks),
            new Measurement<long>(allocator.Instances.RefusedReturns, instances),
            new Measurement<long>(allocator.Memories.RefusedReturns, memories),
        }, unit: "{return}", description: "Returns refused as foreign, stale or double.");
        _meter.CreateObservableCounter("allocator.store.abandoned", () => allocator.AbandonedStores, unit: "{store}",
            description: "Stores collected without Dispose or IntoData; their finalizer returned their stacks and slots.");
        _meter.CreateObservableCounter("allocator.pool.affinity_hits", () => new[]
        {
            new Measurement<long>(allocator.Instances.AffinityHits, instances),
            new Measurement<long>(allocator.Memories.AffinityHits, memories),
        }, unit: "{checkout}", description: "Checkouts that got the slot their key used last.");
    }

    public void Dispose() => _meter.Dispose();
}
