using System.Diagnostics.Metrics;

namespace Allocator;

/// <summary>The three pools a sandboxed runtime needs: fiber stacks, instance slots and linear memories.</summary>
/// <remarks>Stores check resources out of it; it is safe to share across threads.</remarks>
public sealed class PoolingAllocator : IDisposable
{
    private readonly PoolingAllocatorMetrics _metrics;
    private long _abandonedStores;

    /// <summary>Validates <paramref name="options"/> and reserves every pool up front.</summary>
    /// <param name="options">Pool shapes; checked before anything is reserved.</param>
    /// <param name="meterFactory">Where to create the <c>Allocator.Pooling</c> meter (e.g. from dependency
    /// injection); without one a plain <see cref="Meter"/> is used.</param>
    public PoolingAllocator(PoolingAllocatorOptions options, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Stacks = new StackPool(options.Stacks);
        try
        {
            Instances = new SlotPool("instances", options.Instances);
            try
            {
                Memories = new SlotPool("memories", options.Memories);
            }
            catch
            {
                Instances.Dispose();
                throw;
            }
        }
        catch
        {
            Stacks.Dispose();
            throw;
        }
        _metrics = new PoolingAllocatorMetrics(this, meterFactory);
    }

    /// <summary>Name of the meter whose instruments report in-use, checkouts, exhaustions, refused returns and
    /// affinity hits per pool (tag <c>pool</c>).</summary>
    public const string MeterName = PoolingAllocatorMetrics.MeterName;

    /// <summary>The options the pools were built with.</summary>
    public PoolingAllocatorOptions Options { get; }

    /// <summary>Fiber stacks.</summary>
    public StackPool Stacks { get; }

    /// <summary>Instance state slots.</summary>
    public SlotPool Instances { get; }

    /// <summary>Linear memory slots.</summary>
    public SlotPool Memories { get; }

    /// <summary>Stores that were collected without <c>Dispose</c> or <c>IntoData</c>; their finalizer gave their
    /// stacks and slots back. Non-zero means a code path forgets to end its Stores.</summary>
    public long AbandonedStores => Interlocked.Read(ref _abandonedStores);

    internal void CountAbandonedStore() => Interlocked.Increment(ref _abandonedStores);

    /// <summary>Releases the pools (each waits for its last checkout before unmapping).</summary>
    public void Dispose()
    {
        _metrics.Dispose();
        Memories.Dispose();
        Instances.Dispose();
        Stacks.Dispose();
    }
}
