using System.Diagnostics.Metrics;
using Allocator.Pooling;
using Allocator.Stores;

namespace Allocator;

/// <summary>The three pools a sandboxed runtime needs: fiber stacks, instance slots and linear memories.</summary>
/// <remarks>Stores check resources out of it; the pools themselves are internal, so nothing gets around a Store.
/// It is safe to share across threads.</remarks>
public sealed class PoolingAllocator : IDisposable
{
    private readonly PoolingAllocatorMetrics.Registration _metrics;
    private long _abandonedStores;
    private long _deferredReturns;
    private int _disposed;

    /// <summary>Validates <paramref name="options"/> and reserves every pool up front.</summary>
    /// <param name="options">Pool shapes; checked before anything is reserved.</param>
    /// <param name="meterFactory">Where to create the <c>Allocator.Pooling</c> meter (e.g. from dependency
    /// injection); without one a process-wide meter of that name is used.</param>
    /// <exception cref="PoolConfigurationException">An option breaks a rule; nothing was reserved.</exception>
    /// <exception cref="VirtualMemoryException">The OS refused a reservation; nothing stays reserved.</exception>
    public PoolingAllocator(PoolingAllocatorOptions options, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Stacks = new StackPool(options.Stacks, SettingNames.Limit(SlotKind.Stack, options.DeclaredBy));
        try
        {
            Instances = new SlotPool(SlotKind.Instance, options.Instances, SettingNames.Limit(SlotKind.Instance, options.DeclaredBy));
            try
            {
                Memories = new SlotPool(SlotKind.Memory, options.Memories, SettingNames.Limit(SlotKind.Memory, options.DeclaredBy));
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
        Shelves = new StoreShelves(options);
        _metrics = PoolingAllocatorMetrics.Register(this, meterFactory);
    }

    /// <summary>Name of the meter whose instruments report per pool (attribute <c>allocator.pool.kind</c>): in use,
    /// limit, resident bytes, checkouts, exhaustions, refused returns and affinity hits; and abandoned Stores.
    /// <c>docs/observability.md</c> lists them.</summary>
    public const string MeterName = PoolingAllocatorMetrics.MeterName;

    /// <summary>Name of the <see cref="System.Diagnostics.Tracing.EventSource"/> that reports exhaustion, abandoned
    /// Stores with what they held, disposal with items still out, and refused tokens.</summary>
    public const string EventSourceName = AllocatorEventSource.SourceName;

    /// <summary>The options the pools were built with.</summary>
    public PoolingAllocatorOptions Options { get; }

    /// <summary>Stores that were collected without <c>Dispose</c> or <c>IntoData</c>; their finalizer gave their
    /// stacks and slots back. Non-zero means a code path forgets to end its Stores.</summary>
    public long AbandonedStores => Interlocked.Read(ref _abandonedStores);

    /// <summary>Stacks and slots whose return waited for an asynchronous host function's task that was still running
    /// when its fiber was cancelled or its Store ended: they stayed checked out until the task ended, then went back.</summary>
    public long DeferredReturns => Interlocked.Read(ref _deferredReturns);

    /// <summary>What was still checked out when <see cref="Dispose"/> ran, one line per stack or slot with its
    /// owner (Store id and label); empty when everything had come back. Those pools stay mapped until it does.</summary>
    public IReadOnlyList<string> LiveAtDispose { get; private set; } = [];

    internal StackPool Stacks { get; }

    internal SlotPool Instances { get; }

    internal SlotPool Memories { get; }

    /// <summary>Leases and finalizer trackers the Stores of this allocator reuse.</summary>
    internal StoreShelves Shelves { get; }

    /// <summary>A snapshot of the stack pool.</summary>
    public StackPoolStatistics GetStackStatistics() => Stacks.GetStatistics();

    /// <summary>A snapshot of the instance slot pool.</summary>
    public SlotPoolStatistics GetInstanceStatistics() => Instances.GetStatistics();

    /// <summary>A snapshot of the linear memory pool.</summary>
    public SlotPoolStatistics GetMemoryStatistics() => Memories.GetStatistics();

    /// <summary>Every stack and slot checked out now, one line each with its owner.</summary>
    public IReadOnlyList<string> DescribeLiveCheckouts() =>
        [.. Stacks.DescribeCheckouts(), .. Instances.DescribeCheckouts(), .. Memories.DescribeCheckouts()];

    /// <summary>Counts an abandoned Store and reports what it held (<paramref name="held"/>: one entry per stack or
    /// slot, with its owner label).</summary>
    internal void CountAbandonedStore(long storeId, IReadOnlyList<string> held)
    {
        Interlocked.Increment(ref _abandonedStores);
        if (AllocatorEventSource.Log.IsEnabled())
        {
            AllocatorEventSource.Log.StoreAbandoned(storeId, held.Count == 0 ? "nothing" : string.Join("; ", held));
        }
    }

    internal void CountDeferredReturns(int count) => Interlocked.Add(ref _deferredReturns, count);

    /// <summary>Refuses new checkouts and releases the pools. Whatever is still checked out is reported in
    /// <see cref="LiveAtDispose"/>, and its pool stays mapped until the last of it comes back, so live frames and
    /// guest memory are never unmapped.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _metrics.Dispose();
        LiveAtDispose = DescribeLiveCheckouts();
        if (LiveAtDispose.Count > 0 && AllocatorEventSource.Log.IsEnabled())
        {
            AllocatorEventSource.Log.TeardownWithLiveItems(LiveAtDispose.Count, string.Join("; ", LiveAtDispose));
        }
        Memories.Dispose();
        Instances.Dispose();
        Stacks.Dispose();
    }
}
