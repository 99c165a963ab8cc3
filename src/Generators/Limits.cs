namespace Allocator.Generators;

/// <summary>Compile-time mirrors of the library's runtime limits.</summary>
/// <remarks>Layouts assume 4096-byte pages. A target with larger pages (16 KiB on some arm64 systems) is still caught at
/// run time, where the options' Validate() checks against the real page size.</remarks>
internal static class Limits
{
    public const int PageSize = 4096;

    /// <summary>The user half of a 48-bit address space, as the library's OptionRules.</summary>
    public const long MaxReservationBytes = 1L << 47;

    /// <summary>Largest pool the library accepts (OptionRules.MaxSlotCount).</summary>
    public const int MaxSlotCount = 1 << 20;

    /// <summary>Accessors hand out spans, so a layout must fit an int.</summary>
    public const int MaxLayoutBytes = int.MaxValue / PageSize * PageSize;

    public static bool IsPageMultiple(long value) => value % PageSize == 0;

    public static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;
}
