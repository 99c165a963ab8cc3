namespace Allocator.Fibers;

/// <summary>A stack rented straight from a <see cref="StackPool"/>, for fibers used without a Store.</summary>
internal sealed class PoolFiberStackLease(StackPool pool, PooledStack stack) : FiberStackLease
{
    public override PooledStack Stack => stack;

    public override void Return() => pool.Return(stack);
}
