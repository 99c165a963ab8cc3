namespace Allocator.Fibers;

/// <summary>One entry of a <see cref="FiberHostFunctions"/> table: a synchronous or an asynchronous host function.</summary>
public readonly struct FiberHostEntry
{
    private FiberHostEntry(FiberHostFunction? asynchronous, FiberSyncHostFunction? synchronous)
    {
        Asynchronous = asynchronous;
        Synchronous = synchronous;
    }

    internal FiberHostFunction? Asynchronous { get; }

    internal FiberSyncHostFunction? Synchronous { get; }

    /// <summary>A function that answers at once, served on the thread's stack without a trip through the driver.</summary>
    public static FiberHostEntry Sync(FiberSyncHostFunction function) => new(null, function ?? throw new ArgumentNullException(nameof(function)));

    /// <summary>A function that may await; the fiber waits suspended until it completes.</summary>
    public static FiberHostEntry Async(FiberHostFunction function) => new(function ?? throw new ArgumentNullException(nameof(function)), null);

    /// <summary>Wraps a synchronous function.</summary>
    public static implicit operator FiberHostEntry(FiberSyncHostFunction function) => Sync(function);

    /// <summary>Wraps an asynchronous function.</summary>
    public static implicit operator FiberHostEntry(FiberHostFunction function) => Async(function);
}
