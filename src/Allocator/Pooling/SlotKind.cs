namespace Allocator.Pooling;

/// <summary>Which pool a slot comes from; names the pool in errors and metrics.</summary>
internal enum SlotKind
{
    /// <summary>Fiber stacks.</summary>
    Stack,
    /// <summary>Instance state slots.</summary>
    Instance,
    /// <summary>Linear memory slots.</summary>
    Memory,
}
