using Allocator.Native;

namespace Allocator;

/// <summary>Shared checks for pool options, each throwing <see cref="PoolConfigurationException"/> naming the field.</summary>
internal static class OptionRules
{
    /// <summary>Largest reservation we accept: 2^47 bytes, the user half of a 48-bit x64/arm64 address space.</summary>
    public const ulong MaxReservationBytes = 1UL << 47;

    /// <summary>Upper bound on slot counts; larger pools are almost certainly a typo.</summary>
    public const int MaxSlotCount = 1 << 20;

    public static void Count(string field, int value)
    {
        if (value <= 0)
        {
            throw new PoolConfigurationException(field, "must be greater than zero", value);
        }
        if (value > MaxSlotCount)
        {
            throw new PoolConfigurationException(field, $"must be at most {MaxSlotCount}", value);
        }
    }

    public static void PageMultiple(string field, nuint value, bool allowZero)
    {
        if (value == 0 && !allowZero)
        {
            throw new PoolConfigurationException(field, "must be greater than zero", value);
        }
        if (!VirtualMemory.IsPageMultiple(value))
        {
            throw new PoolConfigurationException(field, $"must be a multiple of the page size ({VirtualMemory.PageSize} bytes)", value);
        }
    }

    public static void AtMost(string field, nuint value, string limitField, nuint limit)
    {
        if (value > limit)
        {
            throw new PoolConfigurationException(field, $"must not exceed {limitField} ({limit})", value);
        }
    }

    public static ulong Reservation(string field, int count, nuint bytesPerSlot)
    {
        ulong total;
        try
        {
            total = checked((ulong)count * bytesPerSlot);
        }
        catch (OverflowException)
        {
            total = ulong.MaxValue;
        }
        if (total > MaxReservationBytes)
        {
            throw new PoolConfigurationException(field, $"the pool would reserve {total} bytes, more than the {MaxReservationBytes}-byte address space", count);
        }
        return total;
    }
}
