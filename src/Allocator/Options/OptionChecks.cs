using Allocator.Memory;

namespace Allocator;

/// <summary>Applies <see cref="OptionRules"/> at run time against the real page size, throwing
/// <see cref="PoolConfigurationException"/> that names the field.</summary>
internal static class OptionChecks
{
    public static void Count(string field, int value, int min, int max = OptionRules.MaxSlotCount)
    {
        if (!OptionRules.IsCountInRange(value, min, max))
        {
            throw new PoolConfigurationException(field, $"must be between {min} and {max}", value);
        }
    }

    public static void Size(string field, nuint value, bool allowZero)
    {
        if (!OptionRules.IsSizeInRange(value, allowZero))
        {
            throw new PoolConfigurationException(field, $"must be between {(allowZero ? 0 : VirtualMemory.PageSize)} and {OptionRules.MaxRegionBytes} bytes", value);
        }
        if (!OptionRules.IsPageMultiple(value, VirtualMemory.PageSize))
        {
            throw new PoolConfigurationException(field, $"must be a multiple of the page size ({VirtualMemory.PageSize} bytes)", value);
        }
    }

    /// <summary>One pool alone may not reserve more than all pools together may.</summary>
    public static void Reservation(string countField, int count, ulong bytes)
    {
        if (bytes > OptionRules.MaxReservationBytes)
        {
            throw new PoolConfigurationException(countField, $"the pool would reserve {bytes} bytes, more than the {OptionRules.MaxReservationBytes} an allocator may", count);
        }
    }

    public static void AtMost(string field, nuint value, string limitField, nuint limit)
    {
        if (value > limit)
        {
            throw new PoolConfigurationException(field, $"must not exceed {limitField} ({limit})", value);
        }
    }
}
