namespace Allocator.Generators.Model;

/// <summary>How an option value is written in generated code.</summary>
internal enum OptionValueKind
{
    Int32,
    Bytes,
    Boolean,
    LayoutSlotSize,
    LayoutGuardRanges,
}

/// <summary>One property of an options record set by the configuration attribute.</summary>
/// <param name="Property">The options record property, e.g. <c>MaxStacks</c>.</param>
/// <param name="Value">The number (booleans as 0/1).</param>
/// <param name="LayoutType">For the layout kinds, the fully qualified layout struct.</param>
internal sealed record OptionSetting(string Property, OptionValueKind Kind, long Value, string? LayoutType = null);
