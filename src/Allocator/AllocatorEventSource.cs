using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Tracing;

namespace Allocator;

/// <summary>Events for what goes wrong around the pools, as it happens: exhaustion, abandoned Stores with what they
/// held, an allocator torn down with items still out, and refused tokens. Metrics count these; the events say who.</summary>
/// <remarks>Listen with an in-process <see cref="EventListener"/>, <c>dotnet-trace --providers Allocator</c> or
/// <c>dotnet-monitor</c>. Every event is Warning level; nothing is built or written while no one listens. NativeAOT
/// apps get events only when published with <c>EventSourceSupport=true</c>; metrics need no such switch.</remarks>
[EventSource(Name = SourceName)]
internal sealed class AllocatorEventSource : EventSource
{
    /// <summary>The provider name, <see cref="PoolingAllocator.EventSourceName"/>.</summary>
    public const string SourceName = "Allocator";

    public const int PoolExhaustedId = 1;
    public const int StoreAbandonedId = 2;
    public const int TeardownWithLiveItemsId = 3;
    public const int TokenRefusedId = 4;

    public static readonly AllocatorEventSource Log = new();

    private AllocatorEventSource()
    {
    }

    /// <summary>A checkout found every stack or slot of <paramref name="pool"/> out.</summary>
    [Event(PoolExhaustedId, Level = EventLevel.Warning, Message = "The {0} pool is exhausted: all {2} are checked out (limit: {1})")]
    [UnconditionalSuppressMessage("ReflectionAnalysis", "IL2026", Justification = "Only strings and a long are written; nothing is serialized by reflection.")]
    public unsafe void PoolExhausted(string pool, string limit, long configuredValue)
    {
        // Stryker disable once Block,Statement : WriteEventCore writes nothing while the source is disabled; this return only skips building the payload
        if (!IsEnabled())
        {
            return;
        }
        fixed (char* poolChars = pool)
        fixed (char* limitChars = limit)
        {
            EventData* data = stackalloc EventData[3];
            data[0] = new EventData { DataPointer = (nint)poolChars, Size = (pool.Length + 1) * sizeof(char) };
            data[1] = new EventData { DataPointer = (nint)limitChars, Size = (limit.Length + 1) * sizeof(char) };
            data[2] = new EventData { DataPointer = (nint)(&configuredValue), Size = sizeof(long) };
            WriteEventCore(PoolExhaustedId, 3, data);
        }
    }

    /// <summary>A Store was collected without Dispose or IntoData; its finalizer gave back what it held.</summary>
    [Event(StoreAbandonedId, Level = EventLevel.Warning, Message = "Store {0} was abandoned (never disposed or consumed) holding: {1}")]
    public void StoreAbandoned(long storeId, string held)
    {
        if (IsEnabled())
        {
            WriteEvent(StoreAbandonedId, storeId, held);
        }
    }

    /// <summary>An allocator was disposed while stacks or slots were still out; their pools stay mapped until they
    /// come back.</summary>
    [Event(TeardownWithLiveItemsId, Level = EventLevel.Warning, Message = "Allocator disposed with {0} item(s) still checked out: {1}")]
    public void TeardownWithLiveItems(int count, string items)
    {
        if (IsEnabled())
        {
            WriteEvent(TeardownWithLiveItemsId, count, items);
        }
    }

    /// <summary>A token was refused (foreign, stale, double or unknown); nothing changed.</summary>
    [Event(TokenRefusedId, Level = EventLevel.Warning, Message = "Token refused ({0}): {1}")]
    public void TokenRefused(string reason, string detail)
    {
        if (IsEnabled())
        {
            WriteEvent(TokenRefusedId, reason, detail);
        }
    }
}
