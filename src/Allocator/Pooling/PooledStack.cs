namespace Allocator.Pooling;

/// <summary>One checkout of a stack slot: where it is and which checkout it is. Internal: only a Store's lease
/// carries one, so nothing outside the library can hand a pool a stack.</summary>
/// <remarks>Stacks grow down: execution starts at <see cref="Top"/>; the guard page lies just below <see cref="Bottom"/>.</remarks>
internal readonly record struct PooledStack(int Index, ulong Generation, nint Bottom, nuint Size)
{
    /// <summary>One past the highest usable address: the initial stack pointer.</summary>
    public nint Top => Bottom + (nint)Size;

    /// <summary>False for <c>default</c>, which names no checkout.</summary>
    public bool IsValid => Generation != 0;
}
