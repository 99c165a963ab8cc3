namespace Allocator;

/// <summary>Which slot pool a <see cref="SlotToken"/> came from.</summary>
public enum SlotKind
{
    /// <summary>Instance state slots.</summary>
    Instance,
    /// <summary>Linear memory slots.</summary>
    Memory,
}
