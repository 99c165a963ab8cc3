using Allocator.Tests.Stores;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Allocator.Tests.Diagnostics;

/// <summary>The wiring docs/observability.md shows: an OpenTelemetry MeterProvider that adds the allocator's meter
/// exports its instruments with their units and the allocator.pool.kind attribute.</summary>
public sealed class OpenTelemetryWiringTests
{
    [Fact]
    public void A_MeterProvider_with_the_allocator_meter_exports_pool_metrics_by_kind()
    {
        var exported = new List<Metric>();
        using MeterProvider meters = Sdk.CreateMeterProviderBuilder()
            .AddMeter(PoolingAllocator.MeterName)
            .AddInMemoryExporter(exported)
            .Build();
        using PoolingAllocator allocator = TestAllocators.Small(stacks: 3);
        using var store = new Store<int>(allocator, 0);
        StackToken token = store.CheckoutStack("otel");

        meters.ForceFlush();

        // Other tests' allocators report through the same process-wide meter, and tests that hand allocators their own
        // IMeterFactory make further meters of the same name while this runs (each its own metric stream): every stream
        // of a name must carry its unit, and ours is found by its stack limit of 3 together with one stack in use.
        List<Metric> limits = Named(exported, "allocator.pool.limit");
        Assert.All(limits, m => Assert.Equal("{slot}", m.Unit));
        Assert.All(Named(exported, "allocator.pool.resident"), m => Assert.Equal("By", m.Unit));
        Assert.Contains(limits.SelectMany(Points), p => p.Kind == "stacks" && p.Value == 3);
        Assert.Contains(Named(exported, "allocator.pool.in_use").SelectMany(Points), p => p.Kind == "stacks" && p.Value >= 1);
        store.ReturnStack(token);
    }

    private static List<Metric> Named(List<Metric> exported, string name)
    {
        List<Metric> named = exported.FindAll(m => m.Name == name);
        Assert.NotEmpty(named);
        return named;
    }

    private static List<(string? Kind, long Value)> Points(Metric metric)
    {
        var points = new List<(string?, long)>();
        foreach (ref readonly MetricPoint point in metric.GetMetricPoints())
        {
            string? kind = null;
            foreach (KeyValuePair<string, object?> tag in point.Tags)
            {
                if (tag.Key == "allocator.pool.kind")
                {
                    kind = tag.Value as string;
                }
            }
            points.Add((kind, metric.MetricType == MetricType.LongSumNonMonotonic ? point.GetSumLong() : point.GetGaugeLastValueLong()));
        }
        return points;
    }
}
