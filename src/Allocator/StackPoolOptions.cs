using Allocator.Native;

namespace Allocator;

/// <summary>Configuration of a <see cref="StackPool"/>.</summary>
public sealed record StackPoolOptions
{
    /// <summary>How many stacks the pool reserves up front; checkouts beyond this fail.</summary>
    public int MaxStacks { get; init; } = 64;

    /// <summary>Usable bytes per stack, a page multiple. One guard page sits below each stack in addition.</summary>
    public nuint StackSize { get; init; } = 256 * 1024;

    /// <summary>With <see cref="ZeroOnReturn"/>, how many bytes at the top of a stack are zeroed in place and kept
    /// resident; the rest is given back to the OS. A page multiple no larger than <see cref="StackSize"/>.</summary>
    public nuint KeepResident { get; init; }

    /// <summary>Zero a stack when it is returned, so no data leaks from one user to the next.</summary>
    public bool ZeroOnReturn { get; init; }

    /// <summary>Throws <see cref="PoolConfigurationException"/> naming the first field that is wrong.</summary>
    public void Validate()
    {
        OptionRules.Count($"{nameof(StackPoolOptions)}.{nameof(MaxStacks)}", MaxStacks);
        OptionRules.PageMultiple($"{nameof(StackPoolOptions)}.{nameof(StackSize)}", StackSize, allowZero: false);
        OptionRules.PageMultiple($"{nameof(StackPoolOptions)}.{nameof(KeepResident)}", KeepResident, allowZero: true);
        OptionRules.AtMost($"{nameof(StackPoolOptions)}.{nameof(KeepResident)}", KeepResident, nameof(StackSize), StackSize);
        OptionRules.Reservation($"{nameof(StackPoolOptions)}.{nameof(MaxStacks)}", MaxStacks, StackSize + VirtualMemory.PageSize);
    }
}
