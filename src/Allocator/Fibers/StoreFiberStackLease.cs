namespace Allocator.Fibers;

/// <summary>A stack checked out of a <see cref="Store{T}"/>; returned through its token.</summary>
internal sealed class StoreFiberStackLease<T>(Store<T> store, StackToken token) : FiberStackLease
{
    public override PooledStack Stack => token.Stack;

    public override void Return() => store.ReturnStack(token);
}
