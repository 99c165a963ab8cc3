namespace Allocator;

/// <summary>The three pools a sandboxed runtime needs: fiber stacks, instance slots and linear memories.</summary>
/// <remarks>Stores check resources out of it; it is safe to share across threads.</remarks>
public sealed class PoolingAllocator : IDisposable
{
    /// <summary>Validates <paramref name="options"/> and reserves every pool up front.</summary>
    public PoolingAllocator(PoolingAllocatorOptions options)
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
    }

    /// <summary>The options the pools were built with.</summary>
    public PoolingAllocatorOptions Options { get; }

    /// <summary>Fiber stacks.</summary>
    public StackPool Stacks { get; }

    /// <summary>Instance state slots.</summary>
    public SlotPool Instances { get; }

    /// <summary>Linear memory slots.</summary>
    public SlotPool Memories { get; }

    /// <summary>Releases the pools (each waits for its last checkout before unmapping).</summary>
    public void Dispose()
    {
        Memories.Dispose();
        Instances.Dispose();
        Stacks.Dispose();
    }
}
