using Allocator.Memory;

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

    /// <summary>The type whose <c>[PoolingConfiguration]</c> declared these options (the generated
    /// <c>CreateOptions()</c> sets it), or null for options built in code. Errors then name each setting the way
    /// its author wrote it: <c>TotalStacks</c> of the attribute rather than <c>StackPoolOptions.MaxStacks</c>.</summary>
    public string? DeclaredBy { get; init; }

    /// <summary>Throws <see cref="PoolConfigurationException"/> naming the first field that is wrong: each pool's
    /// own rules, then the pools together: their combined reservation and, on Linux, the memory map regions they
    /// can need against what this process may still create (<c>vm.max_map_count</c>).</summary>
    public void Validate()
    {
        RequireSet(Stacks, nameof(Stacks));
        RequireSet(Instances, nameof(Instances));
        RequireSet(Memories, nameof(Memories));
        ulong total = Stacks.ValidatedBytes() + Instances.ValidatedBytes("instances") + Memories.ValidatedBytes("memories");
        if (total > OptionRules.MaxReservationBytes)
        {
            throw new PoolConfigurationException(nameof(PoolingAllocatorOptions),
                $"the pools would reserve {total} bytes together, more than the {OptionRules.MaxReservationBytes} an allocator may", total);
        }
        MapRegionBudget.Check(
            (nameof(StackPoolOptions) + "." + nameof(StackPoolOptions.MaxStacks), OptionRules.StackPoolRegions(Stacks.MaxStacks, VirtualMemory.GuardMarkers)),
            ($"{nameof(SlotPoolOptions)}(instances).{nameof(SlotPoolOptions.MaxSlots)}", OptionRules.SlotPoolRegions(Instances.MaxSlots, Instances.GuardRanges.Count)),
            ($"{nameof(SlotPoolOptions)}(memories).{nameof(SlotPoolOptions.MaxSlots)}", OptionRules.SlotPoolRegions(Memories.MaxSlots, Memories.GuardRanges.Count)));
    }

    private static void RequireSet(object? value, string name)
    {
        if (value is null)
        {
            throw new PoolConfigurationException($"{nameof(PoolingAllocatorOptions)}.{name}", "must be set", null);
        }
    }
}
