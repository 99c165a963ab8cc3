namespace Allocator.Generators;

/// <summary>Limits that only the generator has. Every pool option limit (counts, sizes, reservations, the smallest
/// stack) comes from <see cref="OptionRules"/>, the library's own rules file linked into this assembly.</summary>
/// <remarks>Layouts assume 4096-byte pages. A target with larger pages (16 KiB on some arm64 systems) is still caught at
/// run time, where the options' Validate() checks against the real page size.</remarks>
internal static class Limits
{
    public const int PageSize = 4096;

    /// <summary>Accessors hand out spans, so a layout must fit an int.</summary>
    public const int MaxLayoutBytes = int.MaxValue / PageSize * PageSize;

    /// <summary>A non-negative multiple of <see cref="PageSize"/>, by the library's rule.</summary>
    public static bool IsPageMultiple(long value) => value >= 0 && OptionRules.IsPageMultiple((ulong)value, PageSize);

    public static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;
}
