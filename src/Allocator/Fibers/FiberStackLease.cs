namespace Allocator.Fibers;

/// <summary>Where a fiber's stack came from and how it goes back: a Store's token or a bare pool checkout.</summary>
internal abstract class FiberStackLease
{
    /// <summary>The stack's location.</summary>
    public abstract PooledStack Stack { get; }

    /// <summary>Hands the stack back. Called exactly once, after nothing runs on the stack any more.</summary>
    public abstract void Return();
}
