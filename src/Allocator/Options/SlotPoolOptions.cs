using Allocator.Memory;

namespace Allocator;

/// <summary>Configuration of a slot pool (instance slots or linear memories).</summary>
public sealed record SlotPoolOptions
{
    /// <summary>How many slots the pool reserves up front.</summary>
    public int MaxSlots { get; init; } = 16;

    /// <summary>Bytes each slot may make accessible, a page multiple up to 64 GiB.</summary>
    public nuint SlotSize { get; init; } = 64 * 1024;

    /// <summary>Inaccessible bytes after each slot, so an out-of-bounds access faults instead of reaching the
    /// next slot. A page multiple up to 64 GiB; may be zero.</summary>
    public nuint GuardSize { get; init; }

    /// <summary>On reset, bytes at the start of a slot that are zeroed in place and kept resident; the rest is
    /// given back to the OS. A page multiple no larger than <see cref="SlotSize"/>.</summary>
    public nuint KeepResident { get; init; }

    /// <summary>How many free slots may remember the affinity key of their last user. Zero disables affinity.</summary>
    public int MaxUnusedWarmSlots { get; init; }

    /// <summary>Returned slots are reset in batches of this many (fewer lock round trips); a checkout that finds no
    /// free slot resets the pending ones at once. One resets on every return.</summary>
    public int DecommitBatchSize { get; init; } = 1;

    /// <summary>Ranges inside each slot that stay inaccessible even when the slot is otherwise read-write, so a
    /// region that overruns into its guard faults. Page aligned, inside <see cref="SlotSize"/>, not overlapping.</summary>
    public IReadOnlyList<SlotGuardRange> GuardRanges { get; init; } = [];

    /// <summary>Throws <see cref="PoolConfigurationException"/> naming the first field that is wrong.</summary>
    public void Validate(string poolName = "slots") => _ = ValidatedBytes(poolName);

    /// <summary>Validates and returns the bytes the pool reserves.</summary>
    internal ulong ValidatedBytes(string poolName)
    {
        string prefix = $"{nameof(SlotPoolOptions)}({poolName}).";
        OptionChecks.Count(prefix + nameof(MaxSlots), MaxSlots, 1);
        OptionChecks.Size(prefix + nameof(SlotSize), SlotSize, allowZero: false);
        OptionChecks.Size(prefix + nameof(GuardSize), GuardSize, allowZero: true);
        OptionChecks.Size(prefix + nameof(KeepResident), KeepResident, allowZero: true);
        OptionChecks.AtMost(prefix + nameof(KeepResident), KeepResident, nameof(SlotSize), SlotSize);
        OptionChecks.Count(prefix + nameof(MaxUnusedWarmSlots), MaxUnusedWarmSlots, 0, MaxSlots);
        OptionChecks.Count(prefix + nameof(DecommitBatchSize), DecommitBatchSize, 1, MaxSlots);
        ValidateGuardRanges(prefix + nameof(GuardRanges));
        ulong bytes = OptionRules.PoolBytes(MaxSlots, SlotSize, GuardSize);
        OptionChecks.Reservation(prefix + nameof(MaxSlots), MaxSlots, bytes);
        return bytes;
    }

    private void ValidateGuardRanges(string field)
    {
        if (GuardRanges is null)
        {
            throw new PoolConfigurationException(field, "must not be null (use an empty list)", null);
        }
        nuint previousEnd = 0;
        foreach (SlotGuardRange range in GuardRanges.OrderBy(r => r.Offset))
        {
            if (range.Length == 0 || !VirtualMemory.IsPageMultiple(range.Offset) || !VirtualMemory.IsPageMultiple(range.Length))
            {
                throw new PoolConfigurationException(field, $"each range must have a page-aligned offset and a non-zero page-multiple length (page size {VirtualMemory.PageSize})", range);
            }
            // The range must fit in what is left of the slot after its offset (nothing is left past the end).
            if (range.Length > SlotSize - Math.Min(range.Offset, SlotSize))
            {
                throw new PoolConfigurationException(field, $"each range must lie inside {nameof(SlotSize)} ({SlotSize})", range);
            }
            if (range.Offset < previousEnd)
            {
                throw new PoolConfigurationException(field, "ranges must not overlap", range);
            }
            previousEnd = range.End;
        }
    }
}
