using System.Diagnostics.Metrics;

namespace Allocator.Sample.Aot;

/// <summary>Reads the allocator's metrics once through a <see cref="MeterListener"/> and prints one line per
/// instrument, the way an exporter would see them (docs/observability.md shows OpenTelemetry and dotnet-counters).</summary>
internal static class MetricsReport
{
    public static void Print(TextWriter output)
    {
        var lines = new SortedDictionary<string, SortedDictionary<string, long>>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == PoolingAllocator.MeterName)
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string pool = "all";
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                if (tag.Key == "allocator.pool.kind")
                {
                    pool = tag.Value?.ToString() ?? pool;
                }
            }
            string key = $"{instrument.Name} {instrument.Unit}";
            if (!lines.TryGetValue(key, out SortedDictionary<string, long>? byPool))
            {
                lines[key] = byPool = new SortedDictionary<string, long>(StringComparer.Ordinal);
            }
            byPool[pool] = byPool.GetValueOrDefault(pool) + value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        output.WriteLine("metrics:");
        foreach ((string instrument, SortedDictionary<string, long> byPool) in lines)
        {
            output.WriteLine($"  {instrument}: {string.Join(", ", byPool.Select(p => $"{p.Key}={p.Value}"))}");
        }
    }
}
