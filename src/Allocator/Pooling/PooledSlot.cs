namespace Allocator.Pooling;

/// <summary>One checkout of an instance or memory slot. Internal, like <see cref="PooledStack"/>.</summary>
internal readonly record struct PooledSlot(int Index, ulong Generation, nint BaseAddress)
{
    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Generation != 0;
}
