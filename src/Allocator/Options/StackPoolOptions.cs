using Allocator.Memory;

namespace Allocator;

/// <summary>Configuration of the fiber stack pool.</summary>
public sealed record StackPoolOptions
{
    /// <summary>How many stacks the pool reserves up front; checkouts beyond this fail.</summary>
    public int MaxStacks { get; init; } = 64;

    /// <summary>Usable bytes per stack, a page multiple from 16 KiB to 64 GiB. One guard page sits below each
    /// stack in addition.</summary>
    public nuint StackSize { get; init; } = 256 * 1024;

    /// <summary>With <see cref="ZeroOnReturn"/>, how many bytes at the top of a stack are zeroed in place and kept
    /// resident; the rest is given back to the OS. A page multiple no larger than <see cref="StackSize"/>.</summary>
    public nuint KeepResident { get; init; }

    /// <summary>Zero a stack when it is returned, so no data leaks from one user to the next.</summary>
    public bool ZeroOnReturn { get; init; }

    /// <summary>With <see cref="ZeroOnReturn"/>, returned stacks are zeroed in batches of this many (Wasmtime's
    /// <c>decommit_batch_size</c>); a checkout that finds no free stack zeroes the pending ones at once. With
    /// <see cref="KeepResident"/> 0, neighbouring stacks of a batch are given back to the OS in one call (on Linux;
    /// on Windows one per stack); with bytes kept resident each stack still needs a call of its own. One (the
    /// default) zeroes on every return. At most <see cref="MaxStacks"/>.</summary>
    public int DecommitBatchSize { get; init; } = 1;

    /// <summary>Throws <see cref="PoolConfigurationException"/> naming the first field that is wrong.</summary>
    public void Validate() => _ = ValidatedBytes();

    /// <summary>Validates and returns the bytes the pool reserves.</summary>
    internal ulong ValidatedBytes()
    {
        const string Prefix = nameof(StackPoolOptions) + ".";
        OptionChecks.Count(Prefix + nameof(MaxStacks), MaxStacks, 1);
        OptionChecks.Size(Prefix + nameof(StackSize), StackSize, allowZero: false);
        if (StackSize < OptionRules.MinimumStackBytes)
        {
            throw new PoolConfigurationException(Prefix + nameof(StackSize), $"must be at least {OptionRules.MinimumStackBytes} bytes, the least a fiber runs on", StackSize);
        }
        OptionChecks.Size(Prefix + nameof(KeepResident), KeepResident, allowZero: true);
        OptionChecks.AtMost(Prefix + nameof(KeepResident), KeepResident, nameof(StackSize), StackSize);
        OptionChecks.Count(Prefix + nameof(DecommitBatchSize), DecommitBatchSize, 1, MaxStacks);
        ulong bytes = OptionRules.PoolBytes(MaxStacks, StackSize, VirtualMemory.PageSize);
        OptionChecks.Reservation(Prefix + nameof(MaxStacks), MaxStacks, bytes);
        return bytes;
    }
}
