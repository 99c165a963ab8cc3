namespace Allocator;

/// <summary>Configuration of a <see cref="PoolingAllocator"/>: its stack, instance and memory pools.</summary>
public sealed record PoolingAllocatorOptions
{
    /// <summary>Fiber stacks.</summary>
    public StackPoolOptions Stacks { get; init; } = new();

    /// <summary>Fixed-size instance state slots.</summary>
    public SlotPoolOptions Instances { get; init; } = new();

    /// <summary>Linear memories with guard regions.</summary>
    public SlotPoolOptions Memories { get; init; } = new() { SlotSize = 1024 * 1024, GuardSize = 64 * 1024 };

    /// <summary>Let each Store keep one returned stack for its next fiber instead of going back to the pool.
    /// The Store hands it back on every exit path (IntoData, Dispose).</summary>
    public bool CacheStackInStore { get; init; } = true;

    /// <summary>Throws <see cref="PoolConfigurationException"/> naming the first field that is wrong.</summary>
    public void Validate()
    {
        if (Stacks is null)
        {
            throw new PoolConfigurationException($"{nameof(PoolingAllocatorOptions)}.{nameof(Stacks)}", "must be set", null);
        }
        if (Instances is null)
        {
            throw new PoolConfigurationException($"{nameof(PoolingAllocatorOptions)}.{nameof(Instances)}", "must be set", null);
        }
        if (Memories is null)
        {
            throw new PoolConfigurationException($"{nameof(PoolingAllocatorOptions)}.{nameof(Memories)}", "must be set", null);
        }
        Stacks.Validate();
        Instances.Validate("instances");
        Memories.Validate("memories");
    }
}
