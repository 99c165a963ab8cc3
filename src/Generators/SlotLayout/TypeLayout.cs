namespace Allocator.Generators.SlotLayout;

/// <summary>The outcome of computing a type's size at compile time.</summary>
internal enum TypeLayoutKind
{
    Known,
    NotUnmanaged,
    Unknown,
}

/// <summary>Size and alignment of a type as the runtime will lay it out, or why they cannot be known.</summary>
/// <param name="Reason">For <see cref="TypeLayoutKind.Unknown"/>, a short explanation for the diagnostic.</param>
internal readonly record struct TypeLayout(TypeLayoutKind Kind, long Size, int Alignment, string? Reason)
{
    public static TypeLayout Of(long size, int alignment) => new(TypeLayoutKind.Known, size, alignment, null);

    public static TypeLayout NotUnmanaged => new(TypeLayoutKind.NotUnmanaged, 0, 0, null);

    public static TypeLayout Unknown(string reason) => new(TypeLayoutKind.Unknown, 0, 0, reason);
}
